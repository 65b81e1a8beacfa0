"""Fees, rebates, fixings and billing in the SDK and its models.

A fake connection records each call as the chaincode receives it (bilateral arguments decoded
from the transient field by `tests.fakes.private_call`), so each test checks the function, the
arguments and the pair; the models' JSON round trips are checked against the chaincode's shapes
(chaincode/contracts/economics.go, billing.go, oracle.go).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

import pytest

from tanpo.client.api import OracleClient, Party, price_batch
from tanpo.client.connect import Connection
from tanpo.client.gateway import BlockWatermark, SubmitResult
from tanpo.client.models import (
    AccrualLine,
    Agreement,
    FeeTerms,
    Invoice,
    InvoiceReceipt,
    MarginCall,
    PriceSet,
    RebateTerms,
    Terms,
)
from tests.fakes import ACTIVE_TERMS, invoice_record, margin_record, private_call

Json = dict[str, Any]
PAIR = "pair-bank-a-bank-b"

ACCRUAL = {"from": "2024-01-30", "to": "2024-02-01", "days": 2, "loanValue": "1000000",
           "cashValue": "1050000", "feeRate": "1/400", "rebateRate": "531/10000",
           "fee": "10/73", "rebate": "11151/3650"}


@dataclass
class FakeContract:
    name: str
    conn: FakeConnection

    def submit(self, function: str, *args: str, transient: Any = None,
               endorsing_organizations: tuple[str, ...] = (), **_: Any) -> SubmitResult:
        args, pair = private_call(args, transient)
        self.conn.sent.append((f"{self.name}:{function}", args, pair))
        self.conn.endorsers.append(tuple(endorsing_organizations))
        return SubmitResult("tx9", json.dumps(self.conn.answers.get(
            f"{self.name}:{function}", {})).encode(), 7)

    def evaluate(self, function: str, *args: str, transient: Any = None, **_: Any) -> bytes:
        args, pair = private_call(args, transient)
        self.conn.read.append((f"{self.name}:{function}", args, pair))
        return json.dumps(self.conn.answers[f"{self.name}:{function}"]).encode()


@dataclass
class FakeConnection:
    answers: dict[str, Any]
    party: str = "bank-a"
    sent: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    read: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    endorsers: list[tuple[str, ...]] = field(default_factory=list)
    gateway: Any = field(default_factory=lambda: type("G", (), {"commits": BlockWatermark()}))

    def contract(self, name: str = "") -> FakeContract:
        return FakeContract(name, self)


RECEIPT = {"invoice": "INV-2024-01-JPY", "status": "ISSUED", "txId": "tx9"}


def connection(party: str = "bank-a") -> FakeConnection:
    terms = replace(ACTIVE_TERMS, id="AGR-2", lender="bank-a", borrower="bank-c")
    return FakeConnection(party=party, answers={
        "billing:IssueInvoice": RECEIPT,
        "billing:PayInvoice": {**RECEIPT, "status": "PAID"},
        "billing:QueryInvoiceLine": RECEIPT,
        "billing:GetInvoice": invoice_record(),
        "agreements:GetAgreement": {"id": "AGR-2", "status": "ACTIVE", "proposer": "bank-a",
                                    "history": [], "terms": terms.to_json()},
        "oracle:PostPrices": {"date": "2024-01-04", "version": 1, "changed": True},
        "oracle:CorrectPrices": {"date": "2024-01-04", "version": 2, "changed": True},
    })


def party(name: str = "bank-a") -> tuple[Party, FakeConnection]:
    conn = connection(name)
    return Party(cast(Connection, conn)), conn


# ---- SDK: billing ----------------------------------------------------------------------------


def test_issue_invoice_names_the_pair_with_the_counterparty() -> None:
    bank, conn = party("bank-b")
    receipt = bank.issue_invoice("2024-01", "JPY", "bank-a")
    assert receipt == InvoiceReceipt("INV-2024-01-JPY", "ISSUED", "tx9")
    assert conn.sent == [("billing:IssueInvoice", ("2024-01", "JPY"), PAIR)]
    assert conn.endorsers == [("BankAMSP", "BankBMSP")]  # the pair's peers only


def test_the_oracle_issues_naming_the_pair() -> None:
    conn = connection("operator")
    oracle = OracleClient(cast(Connection, conn))
    assert oracle.issue_invoice("2024-01", "USD", pair=PAIR).status == "ISSUED"
    assert conn.sent == [("billing:IssueInvoice", ("2024-01", "USD"), PAIR)]


@pytest.mark.parametrize("kwargs, message", [
    ({}, "name the counterparty"),
    ({"pair": "bank-a-bank-b"}, "not a pair collection"),
    ({"counterparty": "bank-c", "pair": PAIR}, "is not the pair of bank-a and bank-c"),
    ({"counterparty": "bank-a"}, "two different parties"),
])
def test_issue_invoice_refuses_an_unnamed_or_inconsistent_pair(kwargs: Json,
                                                                message: str) -> None:
    bank, conn = party()
    with pytest.raises(ValueError, match=message):
        bank.issue_invoice("2024-01", "JPY", **kwargs)
    assert conn.sent == []


@pytest.mark.parametrize("month", ["2024-1", "2024-13", "24-01", "2024-01-01", ""])
def test_a_malformed_month_is_refused_before_sending(month: str) -> None:
    bank, conn = party()
    with pytest.raises(ValueError, match="YYYY-MM"):
        bank.issue_invoice(month, "JPY", "bank-b")
    with pytest.raises(ValueError, match="YYYY-MM"):
        bank.invoice(month, "JPY", "bank-b")
    assert conn.sent == conn.read == []


def test_invoice_reads_on_the_own_peer_and_parses_exactly() -> None:
    bank, conn = party()
    inv = bank.invoice("2024-01", "JPY", "bank-b")
    assert conn.read == [("billing:GetInvoice", ("2024-01", "JPY"), PAIR)]
    assert conn.sent == []
    assert isinstance(inv, Invoice)
    assert (inv.id, inv.pair, inv.payer, inv.payee, inv.status) == (
        "INV-2024-01-JPY", PAIR, "bank-b", "bank-a", "ISSUED")
    assert inv.net == Fraction(28361, 5) and inv.amount == 5672
    assert inv.due_date == date(2024, 2, 10)
    assert (inv.start, inv.end) == (date(2024, 1, 1), date(2024, 1, 31))
    first, second = inv.lines
    assert (first.fee_accrued, first.minimum_top_up) == (Fraction(62000, 73),
                                                       Fraction(11000, 73))
    assert first.fee_charged == first.fee_accrued + first.minimum_top_up == 1000
    assert second.net == second.fee_charged - second.rebate == Fraction(23361, 5)
    assert inv.queries == ()


def test_pay_invoice_sends_the_token() -> None:
    bank, conn = party("bank-b")
    receipt = bank.pay_invoice("2024-01", "JPY", "JPY", "bank-a")
    assert receipt.status == "PAID"
    assert conn.sent == [("billing:PayInvoice", ("2024-01", "JPY", "JPY"), PAIR)]


def test_query_invoice_line_takes_the_pair_from_the_agreement_or_the_counterparty() -> None:
    bank, conn = party()
    bank.query_invoice_line("2024-01", "JPY", "AGR-2", "why the minimum?")
    assert conn.sent[-1] == ("billing:QueryInvoiceLine",
                             ("2024-01", "JPY", "AGR-2", "why the minimum?"),
                             "pair-bank-a-bank-c")
    bank.query_invoice_line("2024-01", "JPY", "AGR-1", "days?", counterparty="bank-b")
    assert conn.sent[-1] == ("billing:QueryInvoiceLine", ("2024-01", "JPY", "AGR-1", "days?"),
                             PAIR)


def test_a_queried_line_and_a_paid_invoice_parse() -> None:
    raw = invoice_record(status="PAID", paidWith="JPY", paidTx="tx-pay")
    raw["lines"][1]["query"] = {"by": "bank-b", "note": "rebate?", "txId": "tx-q"}
    inv = Invoice.from_json(raw)
    assert (inv.paid_with, inv.paid_tx) == ("JPY", "tx-pay")
    (agreement, query), = inv.queries
    assert agreement == "AGR-2" and (query.by, query.note, query.tx_id) == (
        "bank-b", "rebate?", "tx-q")


def test_december_ends_on_the_31st() -> None:
    inv = Invoice.from_json(invoice_record(month="2023-12"))
    assert (inv.start, inv.end) == (date(2023, 12, 1), date(2023, 12, 31))


# ---- SDK: fixings ----------------------------------------------------------------------------


def test_post_prices_sends_fixings_of_any_sign() -> None:
    conn = connection("operator")
    oracle = OracleClient(cast(Connection, conn))
    oracle.post_prices(date(2024, 1, 4), {"JP8306": Decimal("1234.5")}, {"USDJPY": "145.1"},
                       rates={"SOFR": Decimal("5.31"), "ESTR": Fraction(-57, 100), "TONA": 0})
    (name, args, pair), = conn.sent
    assert (name, pair) == ("oracle:PostPrices", "")
    assert args[0] == "2024-01-04"
    assert json.loads(args[1]) == {
        "date": "2024-01-04", "prices": {"JP8306": "1234.5"}, "fx": {"USDJPY": "145.1"},
        "rates": {"SOFR": "5.31", "ESTR": "-0.57", "TONA": "0"}}


def test_a_batch_without_fixings_is_unchanged() -> None:
    batch = price_batch(date(2024, 1, 4), {"JP8306": 1}, {}, source="s")
    assert batch == {"date": "2024-01-04", "prices": {"JP8306": "1"}, "fx": {}, "source": "s"}
    conn = connection("operator")
    OracleClient(cast(Connection, conn)).correct_prices(date(2024, 1, 4), {}, {}, "typo",
                                                        rates={"SOFR": "5.30"})
    (_, args, _), = conn.sent
    assert json.loads(args[1])["rates"] == {"SOFR": "5.30"} and args[2] == "typo"


# ---- models: JSON round trips as the chaincode writes them ------------------------------------


@pytest.mark.parametrize("economics", [
    {"fee": {"bps": "25"}},
    {"fee": {"bps": "37.5", "minimum": "1000"}, "dayCount": "ACT/360"},
    {"rebate": {"fixed": "4.5"}},
    {"rebate": {"fixed": "-0.25"}, "fee": {"bps": "10"}},
    {"rebate": {"benchmark": "SOFR"}},
    {"rebate": {"benchmark": "ESTR", "spreadBps": "-15"}, "dayCount": "ACT/365F"},
])
def test_terms_economics_round_trip_exactly(economics: Json) -> None:
    raw = {**ACTIVE_TERMS.to_json(), **economics}
    terms = Terms.from_json(raw)
    assert terms.to_json() == raw


def test_terms_economics_are_typed_and_omitted_when_absent() -> None:
    terms = Terms.from_json({**ACTIVE_TERMS.to_json(),
                             "fee": {"bps": "37.5", "minimum": "1000"},
                             "rebate": {"benchmark": "SOFR", "spreadBps": "-15"}})
    assert terms.fee == FeeTerms(Fraction(75, 2), Fraction(1000))
    assert terms.rebate == RebateTerms(None, "SOFR", Fraction(-15))
    assert terms.day_count == ""
    plain = ACTIVE_TERMS.to_json()
    assert not {"fee", "rebate", "dayCount"} & set(plain)
    assert Terms.from_json(plain).fee is None


def test_accrual_lines_of_a_margin_call_and_a_history_entry() -> None:
    call = MarginCall.from_json(margin_record("AGR-1", date(2024, 2, 1), accruals=[ACCRUAL]))
    (line,) = call.accruals
    assert line == AccrualLine(date(2024, 1, 30), date(2024, 2, 1), 2, Fraction(1000000),
                               Fraction(1050000), Fraction(1, 400), Fraction(531, 10000),
                               Fraction(10, 73), Fraction(11151, 3650))
    assert line.to_json() == ACCRUAL
    assert MarginCall.from_json(margin_record("AGR-1", date(2024, 2, 1))).accruals == ()
    a = Agreement.from_json({"id": "AGR-1", "status": "CLOSED", "proposer": "bank-a",
                             "terms": ACTIVE_TERMS.to_json(),
                             "history": [{"action": "CLOSED", "status": "CLOSED",
                                          "party": "bank-a", "txId": "t", "timestamp": "x",
                                          "accruals": [ACCRUAL]},
                                         {"action": "APPROVED", "status": "ACTIVE",
                                          "party": "bank-b", "txId": "u", "timestamp": "y"}]})
    assert a.history[0].accruals == (line,) and a.history[1].accruals == ()


def test_price_sets_carry_fixings() -> None:
    ps = PriceSet.from_json({"date": "2024-01-04", "version": 1, "prices": {}, "fx": {},
                             "rates": {"SOFR": "5.31", "ESTR": "-0.57"}})
    assert ps.rates == {"SOFR": Fraction(531, 100), "ESTR": Fraction(-57, 100)}
    assert PriceSet.from_json({"date": "2024-01-04", "version": 1, "prices": {},
                               "fx": {}}).rates == {}
