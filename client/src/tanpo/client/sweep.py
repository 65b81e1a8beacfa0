"""The daily margin sweep on the ledger: plan, margin in lanes, then mark the day swept.

One function, :func:`sweep_day`, used by the oracle daemon, ``tanpo margin run`` and
``tanpo bench market``:

1. **plan**: ``SweepPlan`` (evaluate, a committed snapshot) lists the active agreements one page
   at a time, with each agreement's parties and whether it already has its call for the date.
   Agreements live in their pair's private collection: the oracle reads each pair's plan on a
   peer of that pair (the plan names agreements and parties, never terms), a bank its own;
2. **margin**: while it lists, agreements are gathered into batches of one lender/borrower pair
   (up to ``batch_size``, at most the chaincode's 1,000) and each full batch is submitted as one
   ``SweepAgreements`` transaction. A call moves the borrower's free balances, so batches of one
   borrower run one after another (a lane per borrower) and different borrowers' lanes run side
   by side in threads. Each batch is endorsed by its two banks' peers only (the pair's
   collection policy), its arguments travel privately (:mod:`tanpo.client.private`), and the
   lane waits until every peer has committed it before its next batch (the next endorsers read
   what it wrote). Agreements that already have their call (after a restart) are read back with
   an evaluate, not a transaction;
3. **finish**: ``FinishSweep`` per pair checks that every active agreement of the pair has its
   call and marks the pair's public sweep marker; then (the oracle) ``FinishSweep`` without a pair
   records the date as swept once every active pair is complete. It refuses, with the count, while
   some have none (a failed call, a batch that did not commit), and the run says so.

After the oracle corrects a date's prices, :func:`adjust_day` reads the same plan and sends the
agreements that have their call of the date, per pair in batches, to ``AdjustCalls``, which
re-runs each call that is still its agreement's latest at the corrected prices.

The outcome of every agreement is a typed :class:`~tanpo.client.models.SweepOutcome` built from
the chaincode's compact answer (called, replayed, or a reason code for skipped and failed); the
record itself is private to the agreement's parties (``GetMarginCall``, ``GetSweepFailure``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from tanpo.client import private
from tanpo.client.connect import Connection
from tanpo.client.errors import EndorseError, GatewayError
from tanpo.client.models import SweepOutcome
from tanpo.client.pairs import collection_parties, pair_collection

__all__ = [
    "MAX_BATCH",
    "AdjustOutcome",
    "AdjustRun",
    "BatchSubmit",
    "BorrowerLanes",
    "PlanItem",
    "SweepRun",
    "adjust_day",
    "sweep_day",
]

Json = dict[str, Any]

MAX_BATCH = 1000  # the chaincode's limit per batch transaction
PLAN_PAGE = 500  # the chaincode's largest page
ENDORSEMENT_MISMATCH = "ProposalResponsePayloads do not match"

#: Submits one ``SweepAgreements`` batch: ``(args, the pair's collection, each agreement's custody
#: book)`` → the decoded result once every peer has committed it, or None when it failed and the
#: caller accounted for it (the benchmark counts failures instead of raising).
BatchSubmit = Callable[[list[str], str, list[str]], "Json | None"]


@dataclass(frozen=True)
class PlanItem:
    """One active agreement of the day's plan."""

    agreement: str
    lender: str
    borrower: str
    book: str = ""
    called: bool = False

    @property
    def pair(self) -> tuple[str, str]:
        return (self.lender, self.borrower)

    @property
    def collection(self) -> str:
        return pair_collection(self.lender, self.borrower)

    @classmethod
    def from_json(cls, d: Json) -> PlanItem:
        return cls(d["agreement"], d.get("lender", ""), d.get("borrower", ""), d.get("book", ""),
                   bool(d.get("called", False)))


@dataclass(frozen=True)
class SweepRun:
    """One date's sweep: every planned agreement's outcome (in agreement order) and whether the
    ledger now records the date as swept."""

    valuation_date: date
    outcomes: tuple[SweepOutcome, ...]
    transactions: int  # SweepAgreements transactions committed
    swept: bool  # FinishSweep recorded the date (or it was already recorded)
    last_swept_date: date | None = None
    finish_refusal: str = ""  # why FinishSweep refused, when it did
    planned: int = 0  # agreements listed by the plan (after the selection)
    already_called: int = 0  # of which already had their call when planned
    failed_batches: int = 0  # batches that did not commit (the submitter accounted for them)
    plan_seconds: float = 0.0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


class BorrowerLanes:
    """One worker thread per borrower running its batches in order, started on its first batch.
    A batch that raises is recorded and its lane goes on with the next (batches are independent);
    close() waits for every lane and returns the errors."""

    def __init__(self, run: Callable[[list[PlanItem]], None]) -> None:
        self._run = run
        self._queues: dict[str, queue.SimpleQueue[list[PlanItem] | None]] = {}
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def put(self, borrower: str, group: list[PlanItem]) -> None:
        q = self._queues.get(borrower)
        if q is None:
            q = self._queues[borrower] = queue.SimpleQueue()
            th = threading.Thread(target=self._work, args=(q,), name=f"lane-{borrower}",
                                  daemon=True)
            self._threads.append(th)
            th.start()
        q.put(group)

    def _work(self, q: queue.SimpleQueue[list[PlanItem] | None]) -> None:
        while (group := q.get()) is not None:
            try:
                self._run(group)
            except BaseException as exc:  # returned by close()
                with self._lock:
                    self.errors.append(exc)

    def close(self) -> list[BaseException]:
        for q in self._queues.values():
            q.put(None)
        for th in self._threads:
            th.join()
        return list(self.errors)


def bank_pairs(connection: Connection) -> list[str]:
    """The private collections of every pair of banks the connection profile knows."""
    banks = sorted(p for p in connection.profile.orgs if p.startswith("bank-"))
    return [pair_collection(a, b) for i, a in enumerate(banks) for b in banks[i + 1:]]


def default_submit(connection: Connection) -> BatchSubmit:
    """Submit through ``connection`` (MVCC conflicts are retried by the SDK; an endorsement that
    differs between two peers, one a block behind the other, is retried here), then wait until
    every peer has committed the batch."""

    def submit(args: list[str], pair: str, books: list[str]) -> Json | None:
        contract = connection.contract("margin")
        mismatches = 0
        while True:
            try:
                result = private.submit(contract, "SweepAgreements", *args, pair=pair,
                                        books=books)
                break
            except EndorseError as exc:
                if ENDORSEMENT_MISMATCH not in str(exc) or mismatches >= 3:
                    raise
                mismatches += 1
                time.sleep(0.2)
        connection.wait_for_all_peers(result.block_number, timeout=60.0, poll=0.01)
        return json.loads(result.result) if result.result else {}

    return submit


def sweep_day(
    connection: Connection,
    day: date,
    *,
    batch_size: int = MAX_BATCH,
    select: Callable[[PlanItem], bool] | None = None,
    submit: BatchSubmit | None = None,
    finish: bool = True,
    on_batch: Callable[[Sequence[SweepOutcome]], None] | None = None,
) -> SweepRun:
    """Margin every active agreement the caller may sweep (``select`` narrows the plan) for
    ``day`` and, with ``finish``, record the day as swept (the oracle only).

    The day's prices must be posted and committed on every peer. A batch that fails to commit
    raises its error once every lane has finished (the outcomes of the other batches are kept on
    the ledger: sweeping again replays them), unless ``submit`` accounts for failures itself.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")
    started = time.perf_counter()
    operator = connection.party == "operator"
    submit = submit or default_submit(connection)
    iso = day.isoformat()
    outcomes: dict[str, SweepOutcome] = {}
    lock = threading.Lock()
    counters = {"transactions": 0, "failed_batches": 0}

    def record(group: Sequence[PlanItem], result: Json) -> None:
        by_id = {item.agreement: item for item in group}
        got = [SweepOutcome.from_json(o, day, by_id.get(o.get("agreement", "")))
               for o in result.get("outcomes") or []]
        with lock:
            for o in got:
                outcomes[o.agreement] = o
        if on_batch is not None:
            on_batch(got)

    def margin(group: list[PlanItem]) -> None:
        args = [iso, json.dumps([item.agreement for item in group])]
        result = submit(args, group[0].collection, [item.book for item in group])
        with lock:
            if result is None:
                counters["failed_batches"] += 1
                return
            counters["transactions"] += 1
        record(group, result)

    def replay(group: list[PlanItem]) -> None:
        # already called: the recorded outcomes, read without a transaction
        raw = private.evaluate(
            connection.contract("margin"), "SweepAgreements", iso,
            json.dumps([item.agreement for item in group]), pair=group[0].collection,
            books=[item.book for item in group], on=group[0].lender if operator else "")
        record(group, json.loads(raw) if raw else {})

    lanes = BorrowerLanes(margin)
    open_batches: dict[tuple[str, str], list[PlanItem]] = {}
    called: list[PlanItem] = []
    planned = already = 0
    pairs: set[str] = set()
    try:
        for page in plan_pages(connection, iso):
            for d in page.get("items") or []:
                item = PlanItem.from_json(d)
                if select is not None and not select(item):
                    continue
                planned += 1
                pairs.add(item.collection)
                if item.called:
                    already += 1
                    called.append(item)
                    if len(called) == batch_size:
                        replay(called)
                        called = []
                    continue
                group = open_batches.setdefault(item.pair, [])
                group.append(item)
                if len(group) == batch_size:
                    lanes.put(item.borrower, open_batches.pop(item.pair))
        plan_seconds = time.perf_counter() - started
        for pair, group in open_batches.items():
            lanes.put(pair[1], group)
        if called:
            replay(called)
    finally:
        errors = lanes.close()
    if errors:
        raise errors[0]
    swept, last, refusal = False, None, ""
    if finish and counters["failed_batches"] == 0:
        # every pair the oracle may sweep: a pair whose agreements all closed must say so too
        swept, last, refusal = _finish(connection, iso,
                                       bank_pairs(connection) if operator else sorted(pairs))
    return SweepRun(
        valuation_date=day, outcomes=tuple(outcomes[k] for k in sorted(outcomes)),
        transactions=counters["transactions"], swept=swept, last_swept_date=last,
        finish_refusal=refusal, planned=planned, already_called=already,
        failed_batches=counters["failed_batches"], plan_seconds=plan_seconds,
        seconds=time.perf_counter() - started,
    )


def plan_pages(connection: Connection, iso: str) -> Iterable[Json]:
    """The date's ``SweepPlan``, page by page: the oracle reads each pair's plan on a peer of
    the pair, a bank its own on its peer."""
    operator = connection.party == "operator"
    for pair in bank_pairs(connection) if operator else [""]:
        bookmark = ""
        while True:
            raw = private.evaluate(connection.contract("margin"), "SweepPlan", iso,
                                   str(PLAN_PAGE), bookmark, pair=pair,
                                   on=collection_parties(pair)[0] if pair else "")
            page = json.loads(raw) if raw else {}
            yield page
            bookmark = page.get("bookmark", "")
            if not bookmark:
                break


# ---- price corrections: re-run the date's calls at the corrected prices ---------------------

#: Outcomes of ``margin:AdjustCalls``.
ADJUST_STATUSES = ("adjusted", "unaffected", "failed")


@dataclass(frozen=True)
class AdjustOutcome:
    """One agreement's outcome in ``AdjustCalls``: ``adjusted`` (its call of the date re-ran at
    the corrected prices and the difference settled), ``unaffected`` (reason ``no_call``,
    ``later_call`` or ``no_correction``) or ``failed`` (a reason code; its changes undone)."""

    agreement: str
    status: str
    reason: str = ""

    @classmethod
    def from_json(cls, d: Json) -> AdjustOutcome:
        return cls(str(d.get("agreement", "")), str(d.get("status", "")),
                   str(d.get("reason") or ""))


@dataclass(frozen=True)
class AdjustRun:
    """One date's adjustment after a price correction: every outcome, in agreement order."""

    valuation_date: date
    outcomes: tuple[AdjustOutcome, ...]
    transactions: int = 0
    planned: int = 0  # agreements with a call of the date, the ones sent

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


#: Submits one ``AdjustCalls`` batch: ``(args, the pair's collection)`` → the decoded outcomes.
AdjustSubmit = Callable[[list[str], str], Any]


def _adjust_submit(connection: Connection) -> AdjustSubmit:
    def submit(args: list[str], pair: str) -> Any:
        result = private.submit(connection.contract("margin"), "AdjustCalls", *args, pair=pair)
        connection.wait_for_all_peers(result.block_number, timeout=60.0, poll=0.01)
        return json.loads(result.result) if result.result else []

    return submit


def adjust_day(
    connection: Connection,
    day: date,
    *,
    batch_size: int = MAX_BATCH,
    pairs: Sequence[str] | None = None,
    submit: AdjustSubmit | None = None,
) -> AdjustRun:
    """After the oracle corrected ``day``'s prices: re-run, at the latest version, the calls of
    ``day`` that are still their agreements' latest (``margin:AdjustCalls``). The date's plan
    (``SweepPlan``, as :func:`sweep_day`) names the agreements with a call of the date
    (``called``); they go per pair (``pairs`` narrows them) in batches of at most ``batch_size``
    (≤ 1,000), one transaction each, endorsed by the pair's peers. The chaincode decides each
    agreement's outcome (a call superseded by a later one, or already at the latest version, is
    unaffected), so running it again changes nothing."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH}, got {batch_size}")
    submit = submit or _adjust_submit(connection)
    iso = day.isoformat()
    wanted = set(pairs) if pairs is not None else None
    per_pair: dict[str, list[str]] = {}
    for page in plan_pages(connection, iso):
        for d in page.get("items") or []:
            item = PlanItem.from_json(d)
            if item.called and (wanted is None or item.collection in wanted):
                per_pair.setdefault(item.collection, []).append(item.agreement)
    outcomes: dict[str, AdjustOutcome] = {}
    transactions = planned = 0
    for pair in sorted(per_pair):
        ids = sorted(set(per_pair[pair]))
        planned += len(ids)
        for start in range(0, len(ids), batch_size):
            result = submit([iso, json.dumps(ids[start:start + batch_size])], pair)
            transactions += 1
            for o in result or []:
                outcome = AdjustOutcome.from_json(o)
                outcomes[outcome.agreement] = outcome
    return AdjustRun(day, tuple(outcomes[k] for k in sorted(outcomes)), transactions, planned)


def _finish(connection: Connection, iso: str,
            pairs: Sequence[str]) -> tuple[bool, date | None, str]:
    """FinishSweep of each pair, then (the oracle) of the platform: (recorded, the latest swept
    date, the chaincode's refusal if it refused)."""
    contract = connection.contract("margin")
    try:
        block = 0
        for pair in pairs:
            block = max(block, private.submit(contract, "FinishSweep", iso, pair=pair).block_number)
        if connection.party != "operator":
            if block:
                connection.wait_for_all_peers(block, timeout=60.0, poll=0.01)
            return bool(pairs), None, ""
        result = contract.submit("FinishSweep", iso)
    except GatewayError as exc:
        texts = [d.message for d in exc.details] + [exc.message]
        if any("chaincode response" in t for t in texts) and "cannot finish the sweep" in (
                exc.chaincode_message):
            return False, None, exc.chaincode_message
        raise
    connection.wait_for_all_peers(result.block_number, timeout=60.0, poll=0.01)
    doc = json.loads(result.result) if result.result else {}
    last = doc.get("lastSweptDate") or ""
    return True, date.fromisoformat(last) if last else None, ""
