"""The life-cycle steps in the SDK (recall, return, notice, substitution, buy-in) and their models.

A fake connection stands in for the Gateway: it answers reads with a stored agreement and records
each submit with its arguments decoded from the transient field (`tests.fakes.private_call`), so
each test checks the function, the arguments and the pair exactly as the chaincode receives
them, and that the agreement is read back after the step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import pytest

from tanpo.client.api import Party
from tanpo.client.connect import Connection
from tanpo.client.errors import EndorseError
from tanpo.client.events import EVENT_TYPES, LIFECYCLE_EVENTS
from tanpo.client.gateway import BlockWatermark, SubmitResult
from tanpo.client.models import (
    AGREEMENT_STATUSES,
    SWEEP_STATUSES,
    Agreement,
    CollateralLeg,
    MarginBatch,
    MarginCall,
    Recall,
    SweepOutcome,
    Terms,
    settlement_due,
)
from tests.fakes import ACTIVE_TERMS, chaincode_refusal, margin_record, private_call

Json = dict[str, Any]

AGR = "AGR-1"
PAIR = "pair-bank-a-bank-b"
TODAY = date(2024, 1, 10)  # a Wednesday


@dataclass
class FakeContract:
    name: str
    conn: FakeConnection

    def submit(self, function: str, *args: str, transient: Any = None,
               endorsing_organizations: tuple[str, ...] = (), **_: Any) -> SubmitResult:
        args, pair = private_call(args, transient)
        self.conn.sent.append((f"{self.name}:{function}", args, pair))
        self.conn.endorsers.append(tuple(endorsing_organizations))
        if self.conn.error is not None:
            raise self.conn.error
        receipt = {"agreement": AGR, "status": "ACTIVE", "txId": "tx1"}
        return SubmitResult("tx1", json.dumps(receipt).encode(), 7)

    def evaluate(self, function: str, *args: str, transient: Any = None, **_: Any) -> bytes:
        args, _pair = private_call(args, transient)
        self.conn.read.append((f"{self.name}:{function}", args))
        return json.dumps(self.conn.answers[f"{self.name}:{function}"]).encode()


@dataclass
class FakeConnection:
    answers: dict[str, Any]
    error: Exception | None = None
    sent: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)
    read: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    endorsers: list[tuple[str, ...]] = field(default_factory=list)
    party: str = "bank-a"
    gateway: Any = field(default_factory=lambda: type("G", (), {"commits": BlockWatermark()}))

    def contract(self, name: str = "") -> FakeContract:
        return FakeContract(name, self)


def agreement_json(**over: Any) -> Json:
    raw: Json = {"id": AGR, "status": "ACTIVE", "proposer": "bank-a", "history": [],
                 "terms": replace(ACTIVE_TERMS, id=AGR).to_json()}
    raw.update(over)
    return raw


def party(last_posted: str | None = "2024-01-09", **agreement: Any) -> tuple[Party, FakeConnection]:
    conn = FakeConnection(answers={
        "agreements:GetAgreement": agreement_json(**agreement),
        "roles:GetPlatformSettings": {"timeZone": "Asia/Tokyo", "utcOffset": "+09:00",
                                      "businessDate": TODAY.isoformat()},
        "oracle:LastPostedDate": {"date": last_posted or ""},
    })
    return Party(cast(Connection, conn)), conn


def submitted(conn: FakeConnection) -> tuple[str, tuple[str, ...], str]:
    (call,) = conn.sent
    return call


# ---- settlement_due --------------------------------------------------------------------------


@pytest.mark.parametrize("day, days, due", [
    (date(2024, 1, 10), 2, date(2024, 1, 12)),  # Wednesday -> Friday
    (date(2024, 1, 11), 2, date(2024, 1, 15)),  # Thursday -> Monday
    (date(2024, 1, 12), 2, date(2024, 1, 16)),  # Friday -> Tuesday
    (date(2024, 1, 13), 2, date(2024, 1, 16)),  # Saturday -> Tuesday
    (date(2024, 1, 14), 1, date(2024, 1, 15)),  # Sunday -> Monday
    (date(2024, 1, 10), 0, date(2024, 1, 10)),
    (date(2024, 1, 10), 5, date(2024, 1, 17)),
    (date(2023, 12, 29), 2, date(2024, 1, 2)),  # over the year end (holidays unknown)
])
def test_settlement_due_counts_monday_to_friday(day: date, days: int, due: date) -> None:
    assert settlement_due(day, days) == due


def test_settlement_due_refuses_a_negative_cycle() -> None:
    with pytest.raises(ValueError):
        settlement_due(TODAY, -1)


# ---- the SDK's steps: function, arguments in the transient field, the pair, the read back ----


def test_recall_defaults_to_today_and_the_settlement_cycle() -> None:
    client, conn = party()
    a = client.recall(AGR, 100)
    assert submitted(conn) == ("agreements:Recall",
                               (AGR, "100", "2024-01-10", "2024-01-12", ""), PAIR)
    assert conn.endorsers == [("BankAMSP", "BankBMSP")]
    assert conn.read[-1] == ("agreements:GetAgreement", (AGR,))  # read back after the step
    assert isinstance(a, Agreement) and a.id == AGR


def test_recall_with_its_own_dates_and_note() -> None:
    client, conn = party()
    client.recall(AGR, 5, date=date(2024, 1, 8), due=date(2024, 1, 9), note="dividend")
    assert submitted(conn)[1] == (AGR, "5", "2024-01-08", "2024-01-09", "dividend")
    # the due date follows a given date, not today
    conn.sent.clear()
    client.recall(AGR, 5, date=date(2024, 1, 5))
    assert submitted(conn)[1][2:4] == ("2024-01-05", "2024-01-09")


def test_steps_that_value_collateral_default_to_the_latest_priced_date() -> None:
    client, conn = party(last_posted="2024-01-09")
    client.return_loan(AGR, 10)
    client.buy_in(AGR)
    client.substitute(AGR, {"JP8306": 10}, {"JPY": 20000})
    assert [(f, args[-1]) for f, args, _ in conn.sent] == [
        ("agreements:Return", "2024-01-09"), ("agreements:BuyIn", "2024-01-09"),
        ("agreements:Substitute", "2024-01-09")]
    assert conn.sent[0][1] == (AGR, "10", "2024-01-09")
    assert conn.sent[1][1] == (AGR, "2024-01-09")


def test_the_priced_date_is_never_after_today_and_falls_back_to_it() -> None:
    client, _ = party(last_posted="2024-01-11")  # e.g. the business zone changed since
    assert client.priced_date() == TODAY
    client, _ = party(last_posted=None)
    assert client.priced_date() == TODAY


def test_an_explicit_date_needs_no_ledger_read() -> None:
    client, conn = party()
    client.return_loan(AGR, 10, date=date(2024, 1, 3))
    assert not any(f in ("oracle:LastPostedDate", "roles:GetPlatformSettings")
                   for f, _ in conn.read)
    assert submitted(conn)[1] == (AGR, "10", "2024-01-03")


def test_substitute_sends_the_legs_as_the_chaincode_reads_them() -> None:
    client, conn = party()
    client.substitute(AGR, {"JP8306": 10, "JP8604": 3}, {"JPY": 20000}, date=date(2024, 1, 8))
    function, (agreement_id, legs, day), pair = submitted(conn)
    assert (function, agreement_id, day, pair) == ("agreements:Substitute", AGR, "2024-01-08",
                                                   PAIR)
    assert json.loads(legs) == {"out": [{"token": "JP8306", "quantity": "10"},
                                        {"token": "JP8604", "quantity": "3"}],
                                "in": [{"token": "JPY", "quantity": "20000"}]}


def test_notice_and_the_substitution_decisions() -> None:
    client, conn = party()
    client.give_notice(AGR)
    client.give_notice(AGR, date=date(2024, 1, 8), note="closing the book")
    client.approve_substitution(AGR)
    client.cancel_substitution(AGR)
    client.cancel_substitution(AGR, "prices moved")
    assert [(f, args) for f, args, _ in conn.sent] == [
        ("agreements:GiveNotice", (AGR, "2024-01-10", "")),
        ("agreements:GiveNotice", (AGR, "2024-01-08", "closing the book")),
        ("agreements:ApproveSubstitution", (AGR,)),
        ("agreements:CancelSubstitution", (AGR, "")),
        ("agreements:CancelSubstitution", (AGR, "prices moved")),
    ]
    assert {pair for _, _, pair in conn.sent} == {PAIR}


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5])
def test_a_quantity_is_a_whole_number_above_zero(quantity: Any) -> None:
    client, conn = party()
    with pytest.raises(ValueError):
        client.recall(AGR, quantity)
    with pytest.raises(ValueError):
        client.return_loan(AGR, quantity)
    with pytest.raises(ValueError):
        client.substitute(AGR, {"JP8306": quantity}, {"JPY": 1})
    assert conn.sent == []


def test_a_refusal_is_raised_as_the_gateway_reports_it() -> None:
    client, conn = party()
    conn.error = chaincode_refusal("access denied: only the lender bank-a can recall under "
                                   "agreement AGR-1")
    with pytest.raises(EndorseError) as info:
        client.recall(AGR, 1)
    assert info.value.refusal is not None and "only the lender" in info.value.refusal


def test_the_step_returns_the_agreement_as_read_back() -> None:
    recall = {"id": "R1", "date": "2024-01-08", "due": "2024-01-10", "quantity": "100",
              "returned": "0", "status": "OPEN", "txId": "tx9"}
    client, _ = party(recalls=[recall])
    a = client.recall(AGR, 100)
    assert a.recalls == (Recall("R1", date(2024, 1, 8), date(2024, 1, 10), 100, 0, "OPEN",
                                tx_id="tx9"),)


# ---- models ----------------------------------------------------------------------------------


def test_life_cycle_terms_round_trip_and_are_omitted_when_default() -> None:
    plain = replace(ACTIVE_TERMS, id=AGR)
    raw = plain.to_json()
    assert not {"noticeDays", "substitutionPreAuthorised", "noEarlyReturn"} & set(raw)
    assert Terms.from_json(raw) == plain
    full = replace(plain, end_date=None, notice_days=5, substitution_pre_authorised=True,
                   no_early_return=True)
    raw = full.to_json()
    assert (raw["noticeDays"], raw["substitutionPreAuthorised"], raw["noEarlyReturn"]) == (
        5, True, True)
    assert Terms.from_json(json.loads(json.dumps(raw))) == full


FULL_AGREEMENT = agreement_json(
    status="MATURED",
    recalls=[
        {"id": "R1", "date": "2024-01-04", "due": "2024-01-08", "quantity": "300",
         "returned": "100", "status": "FAILED", "failedOn": "2024-01-08", "txId": "tx1",
         "note": "corporate action"},
        {"id": "R2", "date": "2024-01-09", "due": "2024-01-11", "quantity": "50",
         "returned": "0", "status": "OPEN", "txId": "tx2"},
    ],
    notice={"by": "bank-b", "date": "2024-01-05", "effective": "2024-01-15", "txId": "tx3"},
    substitution={"out": [{"token": "JP8306", "quantity": "10"}],
                  "in": [{"token": "JPY", "quantity": "20000"}], "date": "2024-01-09",
                  "txId": "tx4"},
    buyIns=[{"date": "2024-01-09", "quantity": "200", "owed": "2001/2", "uncovered": "0",
             "kept": [{"token": "JP8306", "quantity": "10", "direction": "borrower->lender",
                       "value": "2001/2", "marketValue": "1053"}], "txId": "tx5"}],
    fails=[{"date": "2024-01-09", "step": "close", "party": "bank-b", "token": "JPY",
            "quantity": "1000000", "missing": "250000"}],
)


def test_an_agreements_life_cycle_records_parse() -> None:
    a = Agreement.from_json(FULL_AGREEMENT)
    assert a.status == "MATURED" and a.open_loan
    failed, open_ = a.recalls
    assert (failed.id, failed.quantity, failed.returned, failed.unreturned, failed.status,
            failed.failed_on, failed.note) == ("R1", 300, 100, 200, "FAILED", date(2024, 1, 8),
                                               "corporate action")
    assert failed.age_days(date(2024, 1, 10)) == 2
    assert open_.age_days(date(2024, 1, 10)) is None and open_.failed_on is None
    assert a.notice is not None and (a.notice.by, a.notice.effective) == ("bank-b",
                                                                         date(2024, 1, 15))
    assert a.substitution is not None
    assert (a.substitution.out, a.substitution.in_, a.substitution.date) == (
        {"JP8306": 10}, {"JPY": 20000}, date(2024, 1, 9))
    (b,) = a.buy_ins
    assert (b.quantity, b.owed, b.uncovered, b.kept[0].token, b.kept[0].market_value) == (
        200, Fraction(2001, 2), 0, "JP8306", 1053)
    (f,) = a.fails
    assert (f.step, f.party, f.token, f.quantity, f.missing) == ("close", "bank-b", "JPY",
                                                                 1_000_000, 250_000)


def test_an_agreement_without_life_cycle_records_has_none() -> None:
    a = Agreement.from_json(agreement_json())
    assert (a.recalls, a.notice, a.substitution, a.buy_ins, a.fails) == ((), None, None, (), ())


def test_statuses_know_matured_and_the_sweep_knows_closed() -> None:
    assert "MATURED" in AGREEMENT_STATUSES and "closed" in SWEEP_STATUSES
    closed = SweepOutcome.from_json({"agreement": AGR, "status": "closed",
                                     "reason": "maturity"}, TODAY)
    assert closed.closed and not closed.has_call and closed.reason == "maturity"
    matured = SweepOutcome.from_json({"agreement": AGR, "status": "called",
                                      "reason": "close_failed"}, TODAY)
    assert matured.close_failed and matured.has_call


def test_a_margin_call_records_its_settlement_fails() -> None:
    rec = margin_record(AGR, TODAY, fails=[
        {"token": "JP8306", "quantity": "131", "direction": "lender->borrower",
         "from": "bank-a", "to": "bank-b", "dueDate": "2024-01-09", "missing": "31"}])
    (f,) = MarginCall.from_json(rec).fails
    assert (f.token, f.quantity, f.sender, f.receiver, f.due_date, f.missing) == (
        "JP8306", 131, "bank-a", "bank-b", date(2024, 1, 9), 31)
    assert MarginCall.from_json(margin_record(AGR, TODAY)).fails == ()


def test_the_margin_batch_event_lists_the_cycles_outcomes() -> None:
    batch = MarginBatch.from_json({"type": "MarginBatch", "txId": "t", "date": "2024-01-10",
                                   "calls": ["A"], "replayed": [], "skipped": [], "failed": [],
                                   "closed": ["B"], "matured": ["C"], "recallsFailed": ["A"],
                                   "settlementFails": ["C"]})
    assert (batch.calls, batch.closed, batch.matured, batch.recalls_failed,
            batch.settlement_fails) == (("A",), ("B",), ("C",), ("A",), ("C",))
    # an event from before the life cycle has none of the new lists
    old = MarginBatch.from_json({"date": "2024-01-10", "calls": ["A"]})
    assert old.closed == old.matured == ()


def test_event_types_match_the_chaincode() -> None:
    """The SDK's list of event names is the chaincode's (events.go), new ones included."""
    go = (Path(__file__).parents[2] / "chaincode" / "contracts" / "events.go").read_text()
    names = set(re.findall(r'^\s*Event\w+\s*=\s*"(\w+)"', go, re.M))
    assert names == set(EVENT_TYPES)
    assert set(LIFECYCLE_EVENTS) <= names


def test_terms_with_collateral_haircuts_keep_them_with_the_new_terms() -> None:
    terms = replace(ACTIVE_TERMS, collateral=(CollateralLeg("JP8306", 1000, Fraction(1, 10)),),
                    no_early_return=True)
    assert Terms.from_json(terms.to_json()) == terms
