"""Collateral controls on the real network: a schedule's top-up skips an ineligible token and the
tokens at their issuer's cap, a breach is recorded; the borrower disputes the call in part, and a
price correction re-runs it and resolves the dispute.

Dates in September 2001, which no other test uses. The agreement closes at the end (a full
return), so later sweeps never meet it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
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
D0, D1 = date(2001, 9, 3), date(2001, 9, 4)


@pytest.fixture(scope="module")
def session(profile: Profile) -> Iterator[Session]:
    with Session(profile) as s:
        yield s


def call(session: Session, who: str, fn: str, *args: str, evaluate: bool = False) -> Any:
    contract, _, function = fn.partition(":")
    conn = session.as_(who).connection
    if evaluate:
        return json.loads(private.evaluate(conn.contract(contract), function, *args, pair=PAIR))
    result = private.submit(conn.contract(contract), function, *args, pair=PAIR)
    session.settle()
    return json.loads(result.result) if result.result else None


def test_schedule_top_up_breach_dispute_and_correction(session: Session) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    admin = TokenAdministrator(session.as_(OPERATOR).connection)
    oracle = OracleClient(session.as_(OPERATOR).connection)
    cash = f"CT{tag}-JPY"
    names = {"S1": ("A", "Issuer One"), "S2": ("BB", "Issuer Two"), "S3": ("AA", "Issuer One"),
             "S4": ("AAA", "Issuer Three")}
    tok = {n: f"CT{tag}-{n}" for n in names}
    admin.define_token(Token(cash, "CT", "JPY", "per-unit", "cash"))
    for n, (rating, issuer) in names.items():
        admin.define_token(Token(tok[n], "ST", "JPY", "per-unit", "equity", credit_rating=rating,
                                 ticker=tok[n], issuer=issuer))
    session.settle()
    for party, token, qty in ((LENDER, cash, 1_000_000), (BORROWER, tok["S1"], 1_000),
                              (BORROWER, tok["S2"], 10_000), (BORROWER, tok["S3"], 10_000),
                              (BORROWER, tok["S4"], 10_000)):
        request = Party(session.as_(party).connection).request_issuance(token, qty, tag)
        session.settle()
        admin.approve_issuance(request.id)
        session.settle()
    oracle.post_prices(D0, {tok["S1"]: "1000", tok["S2"]: "100", tok["S3"]: "100",
                            tok["S4"]: "100"}, {}, source="test")
    oracle.post_prices(D1, {tok["S1"]: "900", tok["S2"]: "100", tok["S3"]: "100",
                            tok["S4"]: "100"}, {}, source="test")
    session.settle()
    agreement = f"CT-{tag}"
    terms = {
        "id": agreement, "lender": LENDER, "borrower": BORROWER,
        "loan": {"token": cash, "quantity": "1000000"},
        "collateral": [{"token": tok[n], "quantity": "1000" if n == "S1" else "0"}
                       for n in ("S2", "S1", "S3", "S4")],
        "baseCurrency": "JPY", "haircut": "0", "threshold": "0", "mode": "multi",
        "settlementLagDays": 0, "autoIssue": False, "minimumTransferAmount": "0",
        "tradeDate": D0.isoformat(), "startDate": D0.isoformat(), "endDate": "2001-12-28",
        "schedule": {"minRating": "A-", "caps": [{"by": "issuer", "max": "0.7"}]},
    }
    call(session, LENDER, "agreements:Propose", json.dumps(terms))
    call(session, BORROWER, "agreements:Approve", agreement)

    # S1 falls to 900: 100,000 short. S2 (BB) is ineligible; the borrower has no S1 left; S3 is
    # Issuer One's, already 100 % of the collateral against a 70 % cap; S4 (Issuer Three)
    # delivers 1,000 (100,000)
    oracle.call_margin(agreement, D1, PAIR)
    session.settle()
    rec = call(session, LENDER, "margin:GetMarginCall", agreement, D1.isoformat(), evaluate=True)
    assert [(s["token"], s["reason"]) for s in rec["skipped"]] == [
        (tok["S2"], "ineligible"), (tok["S3"], "cap")]
    assert [(t["token"], t["quantity"]) for t in rec["transfers"]] == [(tok["S4"], "1000")]
    assert rec["breaches"] == [
        {"by": "issuer", "key": "Issuer One", "share": "9/10", "max": "7/10"}]

    # the borrower agrees to 40,000 of it: 600 S4 come back, held back
    with pytest.raises(GatewayError) as refused:
        call(session, LENDER, "margin:DisputeCall", agreement, D1.isoformat(), "40000", "")
    assert "only bank-b" in (refused.value.refusal or "")
    call(session, BORROWER, "margin:DisputeCall", agreement, D1.isoformat(), "40000", "our 900?")
    rec = call(session, LENDER, "margin:GetMarginCall", agreement, D1.isoformat(), evaluate=True)
    assert rec["dispute"]["status"] == "OPEN" and rec["dispute"]["heldBack"][0]["quantity"] == "600"
    lender = Party(session.as_(LENDER).connection)
    held = {p.token: p.held for p in lender.collateral_held(agreement)}
    assert held[tok["S4"]] == 400

    # the vendor corrects S1 to 950: the call re-runs on what is held (950,000 + 40,000), the
    # 10,000 short is delivered in S4 (100), and the dispute is resolved by the correction
    oracle.correct_prices(D1, {tok["S1"]: "950"}, {}, "vendor correction")
    session.settle()
    outcome = private.submit(session.as_(OPERATOR).connection.contract("margin"), "AdjustCalls",
                             D1.isoformat(), json.dumps([agreement]), pair=PAIR)
    session.settle()
    assert json.loads(outcome.result) == [{"agreement": agreement, "status": "adjusted"}]
    rec = call(session, LENDER, "margin:GetMarginCall", agreement, D1.isoformat(), evaluate=True)
    (adj,) = rec["adjustments"]
    assert adj["priceVersion"] == 2 and [(t["token"], t["quantity"]) for t in adj["transfers"]] == [
        (tok["S4"], "100")]
    assert rec["dispute"]["status"] == "RESOLVED" and rec["dispute"]["resolution"] == "correction"

    call(session, BORROWER, "agreements:Return", agreement, "1000000", D1.isoformat())
    closed = call(session, LENDER, "agreements:GetAgreement", agreement, evaluate=True)
    assert closed["status"] == "CLOSED"
