"""Fees and rebates on the real network, end to end: accrued with each margin call, invoiced for
the month, paid with a cash-token transfer.

A stock loan against cash with a 40 bp fee (500 minimum) and a fixed 0.1 % rebate, margined on
2001-07-30, 07-31 and 08-01 (dates no other test uses): July's invoice has four days (the first
period, from the 07-28 start, is valued at the first call's values) and the independent
arithmetic below gives its figures to the unit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from tanpo.client import private
from tanpo.client.api import OracleClient, Party, TokenAdministrator
from tanpo.client.errors import GatewayError
from tanpo.client.models import Token
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile
from tanpo.client.session import Session

LENDER, BORROWER, OPERATOR = "bank-a", "bank-b", "operator"
PAIR = pair_collection(LENDER, BORROWER)
START, C1, C2, C3 = date(2001, 7, 28), date(2001, 7, 30), date(2001, 7, 31), date(2001, 8, 1)


@pytest.fixture(scope="module")
def world(profile: Profile) -> Iterator[tuple[Session, str]]:
    with Session(profile) as session:
        yield session, uuid.uuid4().hex[:6].upper()


def call(session: Session, who: str, fn: str, *args: str, evaluate: bool = False) -> Any:
    contract, _, function = fn.partition(":")
    conn = session.as_(who).connection
    if evaluate:
        return json.loads(private.evaluate(conn.contract(contract), function, *args, pair=PAIR))
    result = private.submit(conn.contract(contract), function, *args, pair=PAIR)
    session.settle()
    return json.loads(result.result) if result.result else None


def test_a_month_of_fees_and_rebates_is_invoiced_and_paid(world: tuple[Session, str]) -> None:
    session, tag = world
    admin = TokenAdministrator(session.as_(OPERATOR).connection)
    oracle = OracleClient(session.as_(OPERATOR).connection)
    stock, cash = f"BL{tag}-STK", f"BL{tag}-JPY"
    admin.define_token(Token(stock, "ST", "JPY", "per-unit", "equity", ticker=stock))
    admin.define_token(Token(cash, "CT", "JPY", "per-unit", "cash"))
    session.settle()
    for party, token, qty in ((LENDER, stock, 1_000), (BORROWER, cash, 1_000_000)):
        request = Party(session.as_(party).connection).request_issuance(token, qty, tag)
        session.settle()
        admin.approve_issuance(request.id)
        session.settle()
    for day in (C1, C2, C3):
        oracle.post_prices(day, {stock: "1000"}, {}, source="test")
        session.settle()
    agreement = f"BL-{tag}"
    terms = {
        "id": agreement, "lender": LENDER, "borrower": BORROWER,
        "loan": {"token": stock, "quantity": "800"},
        "collateral": [{"token": cash, "quantity": "900000"}],
        "baseCurrency": "JPY", "haircut": "0.05", "threshold": "0", "mode": "single",
        "settlementLagDays": 0, "autoIssue": False, "minimumTransferAmount": "0",
        "tradeDate": START.isoformat(), "startDate": START.isoformat(), "endDate": "2001-12-28",
        "fee": {"bps": "40", "minimum": "500"}, "rebate": {"fixed": "0.1"},
    }
    call(session, LENDER, "agreements:Propose", json.dumps(terms))
    call(session, BORROWER, "agreements:Approve", agreement)
    calls = []
    for day in (C1, C2, C3):
        oracle.call_margin(agreement, day, PAIR)
        session.settle()
        calls.append(call(session, LENDER, "margin:GetMarginCall", agreement, day.isoformat(),
                          evaluate=True))
    # the first call hands back the excess cash: floor(55,000 / 0.95) = 57,894, 842,106 held
    first = calls[0]["accruals"]
    assert [(a["from"], a["to"], a["days"], a["loanValue"], a["cashValue"]) for a in first] == [
        ("2001-07-28", "2001-07-30", 2, "800000", "842106")]
    # 07-31 -> 08-01 is one day in July
    assert [(a["from"], a["to"]) for a in calls[2]["accruals"]] == [("2001-07-31", "2001-08-01")]

    with pytest.raises(GatewayError) as refused:
        call(session, OPERATOR, "billing:GetInvoice", "2001-07", "JPY", evaluate=True)
    assert "the operator does not see bilateral agreements" in (refused.value.refusal or "")
    receipt = call(session, OPERATOR, "billing:IssueInvoice", "2001-07", "JPY")
    assert receipt["invoice"] == "INV-2001-07-JPY" and receipt["status"] == "ISSUED"
    invoice = call(session, BORROWER, "billing:GetInvoice", "2001-07", "JPY", evaluate=True)
    assert invoice == call(session, LENDER, "billing:GetInvoice", "2001-07", "JPY", evaluate=True)
    (line,) = invoice["lines"]
    fee = Fraction(800_000) * Fraction(4, 1000) * 4 / 365
    rebate = Fraction(842_106) * Fraction(1, 1000) * 4 / 365
    assert line["days"] == 4
    assert Fraction(line["feeAccrued"]) == fee and Fraction(line["feeCharged"]) == 500
    assert Fraction(line["rebate"]) == rebate
    assert Fraction(invoice["net"]) == 500 - rebate
    assert (invoice["payer"], invoice["payee"], invoice["amount"]) == (BORROWER, LENDER, "491")
    assert invoice["dueDate"] == "2001-08-10" and invoice["status"] == "ISSUED"

    lender_cash = Party(session.as_(LENDER).connection).balance(cash)
    with pytest.raises(GatewayError) as refused:
        call(session, LENDER, "billing:PayInvoice", "2001-07", "JPY", cash)
    assert "only the payer bank-b" in (refused.value.refusal or "")
    call(session, BORROWER, "billing:PayInvoice", "2001-07", "JPY", cash)
    assert Party(session.as_(LENDER).connection).balance(cash) == lender_cash + 491
    paid = call(session, LENDER, "billing:GetInvoice", "2001-07", "JPY", evaluate=True)
    assert paid["status"] == "PAID" and paid["paidWith"] == cash

    # the loan goes back; what it accrued in August waits for August's invoice
    call(session, BORROWER, "agreements:Return", agreement, "800", C3.isoformat())
    closed = call(session, LENDER, "agreements:GetAgreement", agreement, evaluate=True)
    assert closed["status"] == "CLOSED"
