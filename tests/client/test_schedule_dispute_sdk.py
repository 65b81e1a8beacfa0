"""Eligibility schedules, disputes and price-correction adjustments in the SDK and its models.

The models are checked against the chaincode's JSON (chaincode/contracts/schedule.go,
disputes.go, margincalls.go, batch.go); the SDK against a fake connection that decodes the
bilateral arguments from the transient field (`tests.fakes.private_call`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tanpo.client.api import OracleClient, Party
from tanpo.client.connect import Connection
from tanpo.client.models import (
    Breach,
    Cap,
    MarginBatch,
    MarginCall,
    Schedule,
    SkippedToken,
    Terms,
)
from tanpo.client.sweep import AdjustOutcome, adjust_day
from tests.client.test_billing_sdk import FakeConnection
from tests.fakes import ACTIVE_TERMS, margin_record, margin_transfer, private_call

Json = dict[str, Any]
PAIR = "pair-bank-a-bank-b"
DAY = date(2024, 1, 4)

SCHEDULE_JSON: Json = {
    "assetClasses": ["bond", "cash"], "currencies": ["JPY", "USD"], "minRating": "A-",
    "haircuts": {"class:bond": "0.02", "token:JGB10": "0.015"},
    "caps": [{"by": "issuer", "max": "0.5"}, {"by": "token", "key": "JGB10", "max": "0.25"}],
}


# ---- models ------------------------------------------------------------------------------------


def test_a_schedule_round_trips_as_the_chaincode_writes_it() -> None:
    s = Schedule.from_json(SCHEDULE_JSON)
    assert s.asset_classes == ("bond", "cash") and s.min_rating == "A-"
    assert s.haircuts == {"class:bond": Fraction(1, 50), "token:JGB10": Fraction(3, 200)}
    assert s.caps == (Cap("issuer", "", Fraction(1, 2)), Cap("token", "JGB10", Fraction(1, 4)))
    assert s.to_json() == SCHEDULE_JSON
    # every part is omitted when empty (omitempty), a cap's key too
    assert Schedule().to_json() == {}
    assert Schedule(caps=(Cap("assetClass", max=Fraction(3, 10)),)).to_json() == {
        "caps": [{"by": "assetClass", "max": "0.3"}]}


def test_terms_carry_a_schedule_or_name_one_and_omit_both_when_absent() -> None:
    plain = ACTIVE_TERMS.to_json()
    assert "schedule" not in plain and "scheduleId" not in plain
    assert Terms.from_json(plain).schedule is None
    own = replace(ACTIVE_TERMS, schedule=Schedule.from_json(SCHEDULE_JSON))
    assert own.to_json()["schedule"] == SCHEDULE_JSON
    assert Terms.from_json(own.to_json()) == own
    named = replace(ACTIVE_TERMS, schedule_id="GOV-A")
    assert named.to_json()["scheduleId"] == "GOV-A"
    assert Terms.from_json(named.to_json()) == named


def dispute_json(**over: Any) -> Json:
    d: Json = {"by": "bank-a", "agreedValue": "5000", "disputedValue": "8012/5",
               "heldBack": [margin_transfer("US-STOCK", 31, "lender->borrower", "7812/5", DAY)],
               "note": "stale close", "status": "OPEN", "txId": "tx-d"}
    d.update(over)
    return d


def test_a_call_records_skipped_tokens_breaches_a_dispute_and_adjustments() -> None:
    rec = margin_record("AGR-1", DAY, skipped=[{"token": "JP8604", "reason": "ineligible"},
                                               {"token": "JP8306", "reason": "cap"}],
                        breaches=[{"by": "issuer", "key": "MUFG", "share": "3/5",
                                   "max": "1/2"}],
                        dispute=dispute_json(),
                        adjustments=[{"priceVersion": 3, "gapBefore": "38/5", "gapAfter": "-12",
                                      "transfers": [], "txId": "tx-adj"}])
    call = MarginCall.from_json(rec)
    assert call.skipped == (SkippedToken("JP8604", "ineligible"), SkippedToken("JP8306", "cap"))
    assert call.breaches == (Breach("issuer", "MUFG", Fraction(3, 5), Fraction(1, 2)),)
    assert call.breaches[0].to_json() == rec["breaches"][0]
    d = call.dispute
    assert d is not None and d.open and d.by == "bank-a"
    assert (d.agreed_value, d.disputed_value) == (Fraction(5000), Fraction(8012, 5))
    assert d.held_back[0].quantity == 31 and d.held_back[0].value == Fraction(7812, 5)
    (adj,) = call.adjustments
    assert (adj.price_version, adj.gap_before, adj.gap_after) == (3, Fraction(38, 5), -12)
    # a record without them (an older call) reads as none
    old = MarginCall.from_json(margin_record("AGR-1", DAY))
    assert (old.skipped, old.breaches, old.dispute, old.adjustments) == ((), (), None, ())


def test_vc_now_takes_out_a_held_back_part_until_the_call_figure_is_accepted() -> None:
    # the DESIGN example returns 131 shares lender->borrower worth 33012/5; V_C after 5580288/5
    base = margin_record("AGR-1", DAY)
    assert MarginCall.from_json(base).vc_now == Fraction(5580288, 5)
    # the lender disputes and keeps 31 shares (7812/5): it holds more than the call left it
    held = MarginCall.from_json({**base, "dispute": dispute_json()})
    assert held.vc_now == Fraction(5580288, 5) + Fraction(7812, 5)
    accepted = MarginCall.from_json({**base, "dispute": dispute_json(
        status="RESOLVED", resolution="call")})
    assert accepted.vc_now == Fraction(5580288, 5)
    # after a correction: V_L plus the adjusted gap
    adjusted = MarginCall.from_json({**base, "dispute": dispute_json(
        status="RESOLVED", resolution="correction"), "adjustments": [
        {"priceVersion": 3, "gapBefore": "1", "gapAfter": "-12", "transfers": []}]})
    assert adjusted.vc_now == Fraction(1116050 - 12)


def test_the_margin_batch_event_lists_breaches() -> None:
    batch = MarginBatch.from_json({"date": "2024-01-04", "calls": ["A", "B"],
                                   "breaches": ["B"], "txId": "t"})
    assert batch.breaches == ("B",)
    assert MarginBatch.from_json({"date": "2024-01-04"}).breaches == ()


# ---- SDK ------------------------------------------------------------------------------------


def connection(party: str = "bank-a") -> FakeConnection:
    rec = margin_record("AGR-1", DAY, dispute=dispute_json())
    return FakeConnection(party=party, answers={
        "agreements:DefineSchedule": {"schedule": "GOV-A", "txId": "tx9"},
        "agreements:GetSchedule": {"id": "GOV-A", "schedule": SCHEDULE_JSON,
                                   "definedBy": "bank-a", "txId": "tx8"},
        "agreements:GetAgreement": {"id": "AGR-1", "status": "ACTIVE", "proposer": "bank-a",
                                    "history": [], "terms": ACTIVE_TERMS.to_json()},
        "margin:DisputeCall": {"agreement": "AGR-1", "date": "2024-01-04", "status": "OPEN",
                               "txId": "tx9"},
        "margin:ResolveDispute": {"agreement": "AGR-1", "date": "2024-01-04",
                                  "status": "RESOLVED", "txId": "tx9"},
        "margin:GetMarginCall": rec,
    })


def party(name: str = "bank-a") -> tuple[Party, FakeConnection]:
    conn = connection(name)
    return Party(cast(Connection, conn)), conn


def test_define_schedule_sends_the_id_and_rules_in_the_pair() -> None:
    bank, conn = party("bank-b")
    receipt = bank.define_schedule("bank-a", "GOV-A", Schedule.from_json(SCHEDULE_JSON))
    assert receipt == {"schedule": "GOV-A", "txId": "tx9"}
    ((fn, args, pair),) = conn.sent
    assert (fn, pair) == ("agreements:DefineSchedule", PAIR)
    assert json.loads(args[0]) == {"id": "GOV-A", **SCHEDULE_JSON}
    assert conn.endorsers == [("BankAMSP", "BankBMSP")]


def test_a_defined_schedule_reads_back_from_the_pair() -> None:
    bank, conn = party("bank-b")
    assert bank.schedule("bank-a", "GOV-A") == Schedule.from_json(SCHEDULE_JSON)
    assert conn.sent == []  # a read: nothing submitted


def test_dispute_and_resolve_send_the_call_and_read_it_back() -> None:
    bank, conn = party("bank-a")
    call = bank.dispute_call("AGR-1", DAY, Fraction(10001, 2), "stale close")
    assert conn.sent == [("margin:DisputeCall", ("AGR-1", "2024-01-04", "5000.5",
                                                 "stale close"), PAIR)]
    assert call.dispute is not None and call.dispute.open
    bank.resolve_dispute("AGR-1", DAY, "dispute")
    assert conn.sent[-1] == ("margin:ResolveDispute", ("AGR-1", "2024-01-04", "dispute"), PAIR)


@pytest.mark.parametrize("value", ["-1", "1e3", "12,5", "", "abc", True, Fraction(1, 3)])
def test_a_malformed_agreed_value_is_refused_before_sending(value: Any) -> None:
    bank, conn = party()
    with pytest.raises(ValueError):
        bank.dispute_call("AGR-1", DAY, value)
    assert conn.sent == []


def test_an_unknown_figure_is_refused_before_sending() -> None:
    bank, conn = party()
    with pytest.raises(ValueError, match="call or dispute"):
        bank.resolve_dispute("AGR-1", DAY, "correction")
    assert conn.sent == []


# ---- adjust_day: the plan's called items, per pair, in batches --------------------------------


class PlanConnection:
    """SweepPlan per pair (the oracle) or the bank's own plan; AdjustCalls answers per id."""

    def __init__(self, party: str, items: list[Json]) -> None:
        self.party, self.items = party, items
        self.plans: list[str] = []
        self.sent: list[tuple[str, list[str], str]] = []
        self.waits = 0
        self.profile = SimpleNamespace(orgs={"operator": 0, "bank-a": 0, "bank-b": 0,
                                             "bank-c": 0})

    def contract(self, name: str = "") -> Any:
        return self

    def evaluate(self, fn: str, *args: str, transient: Any = None, **_: Any) -> bytes:
        plain, pair = private_call(args, transient)
        assert fn == "SweepPlan"
        self.plans.append(pair)
        _, size, bookmark = plain
        rows = [i for i in self.items
                if not pair or pair == f"pair-{min(i['lender'], i['borrower'])}-"
                                       f"{max(i['lender'], i['borrower'])}"]
        rows = [i for i in rows if i["agreement"] > bookmark]
        page = rows[:int(size)]
        more = len(rows) > int(size)
        return json.dumps({"items": page,
                           "bookmark": page[-1]["agreement"] if more else ""}).encode()

    def submit(self, fn: str, *args: str, transient: Any = None, **_: Any) -> Any:
        plain, pair = private_call(args, transient)
        assert fn == "AdjustCalls"
        ids = json.loads(plain[1])
        self.sent.append((plain[0], ids, pair))
        out = [{"agreement": a, "status": "adjusted"} if a.endswith("0") else
               {"agreement": a, "status": "unaffected", "reason": "no_correction"}
               for a in ids]
        return SimpleNamespace(block_number=len(self.sent), result=json.dumps(out).encode())

    def wait_for_all_peers(self, block: int, timeout: float = 30.0, poll: float = 0.05) -> None:
        self.waits += 1


def plan_items() -> list[Json]:
    items = []
    for i in range(7):
        lender, borrower = ("bank-a", "bank-b") if i % 2 == 0 else ("bank-c", "bank-a")
        items.append({"agreement": f"A-{i}0", "lender": lender, "borrower": borrower,
                      "book": "B", "called": True})
        items.append({"agreement": f"A-{i}1", "lender": lender, "borrower": borrower,
                      "book": "B", "called": i != 3})  # A-31 has no call of the date
    return items


def test_the_oracle_adjusts_every_pair_in_batches_of_the_called_agreements() -> None:
    conn = PlanConnection("operator", plan_items())
    run = adjust_day(cast(Connection, conn), DAY, batch_size=3)
    # every pair's plan is read on a peer of the pair
    assert conn.plans == ["pair-bank-a-bank-b", "pair-bank-a-bank-c", "pair-bank-b-bank-c"]
    pairs = [(pair, ids) for _, ids, pair in conn.sent]
    ab = [ids for pair, ids in pairs if pair == "pair-bank-a-bank-b"]
    ac = [ids for pair, ids in pairs if pair == "pair-bank-a-bank-c"]
    assert ab == [["A-00", "A-01", "A-20"], ["A-21", "A-40", "A-41"], ["A-60", "A-61"]]
    assert ac == [["A-10", "A-11", "A-30"], ["A-50", "A-51"]]  # no call, not sent
    assert all(d == "2024-01-04" for d, _, _ in conn.sent)
    assert conn.waits == len(conn.sent) == run.transactions == 5
    assert run.planned == 13 and run.count("adjusted") == 7 and run.count("unaffected") == 6
    assert run.outcomes[1] == AdjustOutcome("A-01", "unaffected", "no_correction")


def test_a_bank_adjusts_its_plan_or_one_pair() -> None:
    conn = PlanConnection("bank-c", plan_items())
    run = adjust_day(cast(Connection, conn), DAY, pairs=["pair-bank-a-bank-c"])
    assert conn.plans == [""]  # its own plan, on its own peer
    assert [ids for _, ids, _ in conn.sent] == [["A-10", "A-11", "A-30", "A-50", "A-51"]]
    assert run.count("adjusted") == 3


def test_the_client_adjust_names_the_pair_with_the_counterparty() -> None:
    conn = PlanConnection("bank-a", plan_items())
    bank = Party(cast(Connection, conn))
    bank.adjust(DAY, "bank-c")
    assert {pair for _, _, pair in conn.sent} == {"pair-bank-a-bank-c"}
    with pytest.raises(ValueError, match="every pair"):
        OracleClient(cast(Connection, PlanConnection("operator", []))).adjust(DAY, "bank-a")


def test_adjust_batch_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        adjust_day(cast(Connection, PlanConnection("operator", [])), DAY, batch_size=1001)
