"""The SDK's sweep (`tanpo.client.sweep`) against a fake ledger: planning per pair, batches per pair
sent privately to the pair's peers, lanes per borrower, typed outcomes, replays read without
transactions, and marking the day swept per pair and then for the platform."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tanpo.client.connect import Connection
from tanpo.client.errors import EndorseError, GatewayError
from tanpo.client.sweep import BorrowerLanes, PlanItem, sweep_day
from tests.fakes import private_call

DAY = date(2024, 1, 2)
MSP = {"operator": "OperatorMSP", "bank-a": "BankAMSP", "bank-b": "BankBMSP"}
PAIR = "pair-bank-a-bank-b"


def refusal(message: str) -> GatewayError:
    return GatewayError(f"endorse failed: chaincode response 500, {message}", None)


@dataclass
class FakeLedger:
    """Agreements (id → (lender, borrower)), the calls recorded for DAY, and what was sent."""

    agreements: dict[str, tuple[str, str]]
    recorded: set[str] = field(default_factory=set)
    fail_ids: set[str] = field(default_factory=set)  # their call fails (undone), the rest go on
    broken_batch: str | None = None  # a batch holding this id does not commit
    submits: list[tuple[str, list[str], tuple[str, ...]]] = field(default_factory=list)
    evaluates: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    plans: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (pair, target orgs)
    finishes: list[str] = field(default_factory=list)  # the pairs finished, then "" (platform)
    active: dict[str, int] = field(default_factory=dict)
    max_parallel: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    waits: int = 0

    def outcome(self, a: str) -> dict[str, Any]:
        # the chaincode's compact outcome: no terms, quantities or values (they are private)
        if a in self.fail_ids:
            return {"agreement": a, "status": "failed", "reason": "missing_price"}
        if a in self.recorded:
            return {"agreement": a, "status": "replayed", "txId": "T0"}
        return {"agreement": a, "status": "called"}

    def sweep(self, ids: list[str], write: bool) -> dict[str, Any]:
        outs = [self.outcome(a) for a in ids]
        if write:
            self.recorded.update(o["agreement"] for o in outs if o["status"] == "called")
        return {"date": DAY.isoformat(), "count": len(ids), "outcomes": outs}


class FakeContract:
    def __init__(self, ledger: FakeLedger, name: str) -> None:
        self.ledger, self.name = ledger, name

    def evaluate(self, fn: str, *args: str, transient: Any = None,
                 target_organizations: Any = (), **_: Any) -> bytes:
        plain, pair = private_call(args, transient)
        return self._evaluate(fn, pair, tuple(target_organizations), *plain)

    def _evaluate(self, fn: str, pair: str, targets: tuple[str, ...], *args: str) -> bytes:
        led = self.ledger
        if fn == "SweepPlan":
            led.plans.append((pair, targets))
            _, size, bookmark = args
            ids = sorted(a for a in led.agreements if a > bookmark)
            page, more = ids[:int(size)], len(ids) > int(size)
            items = [{"agreement": a, "lender": led.agreements[a][0],
                      "borrower": led.agreements[a][1], "book": "B", "called": a in led.recorded}
                     for a in page]
            return json.dumps({"items": items, "count": len(items),
                               "bookmark": page[-1] if more else ""}).encode()
        assert fn == "SweepAgreements"
        ids = json.loads(args[1])
        led.evaluates.append((fn, tuple(ids)))
        return json.dumps(led.sweep(ids, write=False)).encode()

    def submit(self, fn: str, *args: str, transient: Any = None,
               endorsing_organizations: Any = (), **_: Any) -> Any:
        led = self.ledger
        args, pair = private_call(args, transient)
        if fn == "FinishSweep":
            led.finishes.append(pair)
            if pair:
                assert tuple(endorsing_organizations) == ("BankAMSP", "BankBMSP")
                return SimpleNamespace(block_number=98, result=b"{}")
            missing = sorted(a for a in led.agreements if a not in led.recorded)
            if missing:
                raise refusal(f"cannot finish the sweep of {args[0]}: {len(missing)} active "
                              f"agreements have no margin call for it yet ({missing[0]})")
            return SimpleNamespace(block_number=99, result=json.dumps(
                {"date": args[0], "lastSweptDate": args[0]}).encode())
        ids = json.loads(args[1])
        # each agreement's custody book, from the plan, so the chaincode reads the books' terms
        assert json.loads(transient["tanpo.books"]) == ["B"] * len(ids)
        borrower = led.agreements[ids[0]][1]
        with led.lock:
            led.submits.append((borrower, ids, tuple(endorsing_organizations)))
            led.active[borrower] = led.active.get(borrower, 0) + 1
            assert led.active[borrower] == 1, f"two batches of {borrower} at once"
            led.max_parallel = max(led.max_parallel, sum(led.active.values()))
        time.sleep(0.01)
        with led.lock:
            led.active[borrower] -= 1
        if led.broken_batch in ids:
            raise EndorseError("peer unreachable", None)
        return SimpleNamespace(block_number=len(led.submits),
                               result=json.dumps(led.sweep(ids, write=True)).encode())


class FakeConnection:
    def __init__(self, ledger: FakeLedger, party: str = "operator") -> None:
        self.ledger, self.party = ledger, party
        self.profile = SimpleNamespace(
            orgs={p: SimpleNamespace(msp_id=m) for p, m in MSP.items()})

    def contract(self, name: str = "") -> FakeContract:
        return FakeContract(self.ledger, name)

    def wait_for_all_peers(self, block: int, timeout: float = 30.0, poll: float = 0.05) -> None:
        self.ledger.waits += 1


def book(n: int) -> dict[str, tuple[str, str]]:
    """n agreements alternating bank-a→bank-b and bank-b→bank-a."""
    return {f"A-{i:04d}": (("bank-a", "bank-b") if i % 2 == 0 else ("bank-b", "bank-a"))
            for i in range(n)}


def conn(ledger: FakeLedger) -> Connection:
    return cast(Connection, FakeConnection(ledger))


def test_a_sweep_margins_every_agreement_in_pair_batches_and_marks_the_day() -> None:
    ledger = FakeLedger(book(1203))
    run = sweep_day(conn(ledger), DAY, batch_size=250)
    # every agreement once, each batch of one pair and at most 250, endorsed by its two banks
    sent = [a for _, ids, _ in ledger.submits for a in ids]
    assert sorted(sent) == sorted(ledger.agreements) and len(sent) == len(set(sent))
    for borrower, ids, orgs in ledger.submits:
        assert len(ids) <= 250 and {ledger.agreements[a][1] for a in ids} == {borrower}
        assert orgs == ("BankAMSP", "BankBMSP")
    assert ledger.max_parallel == 2, "the two borrowers' lanes ran side by side"
    assert ledger.waits == len(ledger.submits) + 1, "every batch and the finish reach all peers"
    assert run.transactions == len(ledger.submits) == 6
    assert (run.swept, run.last_swept_date, run.finish_refusal) == (True, DAY, "")
    assert (run.planned, run.already_called, run.count("called")) == (1203, 0, 1203)
    # the oracle planned the one pair on one of its banks' peers, finished it, then the platform
    assert ledger.plans[0] == (PAIR, ("BankAMSP",)) and {p for p, _ in ledger.plans} == {PAIR}
    assert ledger.finishes == [PAIR, ""]
    # typed outcomes in agreement order, parties from the plan
    assert [o.agreement for o in run.outcomes] == sorted(ledger.agreements)
    first = run.outcomes[1]  # A-0001: bank-b lends to bank-a
    assert first.status == "called" and (first.lender, first.borrower) == ("bank-b", "bank-a")
    assert first.transfers == () and first.issuance_required == ()


def test_after_a_restart_the_calls_made_are_read_back_without_a_transaction() -> None:
    ledger = FakeLedger(book(10), recorded={"A-0000", "A-0003", "A-0004"})
    run = sweep_day(conn(ledger), DAY)
    assert sorted(a for _, ids, _ in ledger.submits for a in ids) == [
        a for a in sorted(ledger.agreements) if a not in {"A-0000", "A-0003", "A-0004"}]
    assert ledger.evaluates == [("SweepAgreements", ("A-0000", "A-0003", "A-0004"))]
    assert (run.count("replayed"), run.count("called"), run.already_called) == (3, 7, 3)
    replayed = run.outcomes[0]
    assert replayed.replayed and replayed.tx_id == "T0"
    assert run.swept


def test_a_failed_call_is_an_outcome_and_the_day_stays_unswept() -> None:
    ledger = FakeLedger(book(6), fail_ids={"A-0002"})
    run = sweep_day(conn(ledger), DAY)
    failed = [o for o in run.outcomes if o.status == "failed"]
    assert [(o.agreement, o.reason) for o in failed] == [("A-0002", "missing_price")]
    assert run.count("called") == 5
    assert not run.swept and run.finish_refusal.startswith(
        "cannot finish the sweep of 2024-01-02: 1 active agreements")


def test_a_batch_that_does_not_commit_is_raised_after_the_other_lanes() -> None:
    ledger = FakeLedger(book(8), broken_batch="A-0001")
    with pytest.raises(EndorseError, match="peer unreachable"):
        sweep_day(conn(ledger), DAY, batch_size=2)
    # bank-a's lane went on after its broken batch, bank-b's was not affected
    assert ledger.recorded == set(ledger.agreements) - {"A-0001", "A-0003"}


def test_a_submitter_that_accounts_for_failures_gets_a_run_without_the_finish() -> None:
    ledger = FakeLedger(book(4))
    seen: list[int] = []

    def submit(args: list[str], pair: Any, books: list[str]) -> dict[str, Any] | None:
        seen.append(len(books))
        return None  # failed, counted by the caller

    run = sweep_day(conn(ledger), DAY, submit=submit, select=lambda i: i.borrower == "bank-b")
    assert seen == [2] and run.failed_batches == 1 and run.planned == 2
    assert not run.swept and run.finish_refusal == "" and run.outcomes == ()


def test_batch_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="between 1 and 1000"):
        sweep_day(conn(FakeLedger({})), DAY, batch_size=1001)


def test_a_bank_plans_its_own_collections_and_finishes_only_its_pairs() -> None:
    ledger = FakeLedger(book(4))
    run = sweep_day(cast(Connection, FakeConnection(ledger, party="bank-a")), DAY)
    # no pair named: the chaincode lists the bank's own collections on its own peer
    assert ledger.plans == [("", ())]
    assert ledger.finishes == [PAIR] and run.swept and run.last_swept_date is None


def _item(i: int, borrower: str) -> PlanItem:
    return PlanItem(f"A-{i:03d}", "bank-x", borrower)


def test_lanes_run_one_batch_per_borrower_at_a_time_in_order() -> None:
    active: dict[str, int] = {}
    seen: dict[str, list[str]] = {}
    overlap = {"borrowers": 0}
    lock = threading.Lock()

    def run(group: list[PlanItem]) -> None:
        b = group[0].borrower
        with lock:
            active[b] = active.get(b, 0) + 1
            assert active[b] == 1, f"two batches of {b} at once"
            overlap["borrowers"] = max(overlap["borrowers"], sum(active.values()))
        time.sleep(0.02)
        with lock:
            active[b] -= 1
            seen.setdefault(b, []).extend(s.agreement for s in group)

    lanes = BorrowerLanes(run)
    for i in range(6):
        for b in ("bank-a", "bank-b"):
            lanes.put(b, [_item(2 * i + (b == "bank-b"), b)])
    assert lanes.close() == []
    assert seen["bank-a"] == [f"A-{2 * i:03d}" for i in range(6)]
    assert seen["bank-b"] == [f"A-{2 * i + 1:03d}" for i in range(6)]
    assert overlap["borrowers"] == 2  # different borrowers' lanes ran side by side


def test_a_lane_error_is_returned_and_the_lane_goes_on() -> None:
    ran: list[str] = []

    def run(group: list[PlanItem]) -> None:
        if group[0].agreement == "A-001":
            raise ValueError("bad batch")
        ran.append(group[0].agreement)

    lanes = BorrowerLanes(run)
    for i in range(4):
        lanes.put("bank-b", [_item(i, "bank-b")])
    errors = lanes.close()
    assert [str(e) for e in errors] == ["bad batch"]
    assert ran == ["A-000", "A-002", "A-003"]
