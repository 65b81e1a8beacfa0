"""`tanpo bench market`: market-scale registration and margin sweeps on the running network.

One command, four phases, each printed as agreements per second, committed transactions per
second, p50/p99 commit latency, MVCC conflicts and retries and failed transactions, and as a ratio
to the no-op submit rate the same network reaches in the same run:

0. **baseline**: `tanpo bench gateway`'s no-op submits (what the network itself can commit);
1. **register**: N agreements between P bank parties proposed and approved (`ProposeBatch` and
   `ApproveBatch`, one transaction per batch of one lender/borrower pair; `--registration single`
   runs one `Propose` and one `Approve` per agreement instead);
2. **sweep day 1**: the oracle posts one day's prices, lists the active agreements from a
   committed snapshot (`SweepPlan`, evaluate) and margins them with `SweepAgreements`, one
   transaction per batch of one pair, sweeping the batches of each page while it lists the next;
3. **sweep day 2**: the same for the next day.

Hot keys decide the schedule, not raw throughput. An approval moves the lender's loan tokens and
the borrower's collateral, so two approvals of the same parties conflict: approval batches that
share a party never run at the same time. A margin call writes its own agreement's record and
custody book and, for the tokens it moves, the borrower's free balances, so sweep batches of
different borrowers run concurrently and only batches of one borrower queue behind each other.
Proposals touch no shared key and all run concurrently. Every batch names its endorsing
organisations (the two parties', plus others up to the channel's majority), so no third peer
executes it. The sweep is the SDK's (`tanpo.client.sweep.sweep_day`), the one the oracle daemon
and `tanpo margin run` use.

The figures are measured, never extrapolated: the JSON names the machine's CPU count, how busy the
CPUs were during each phase and the load average (other processes share the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from tanpo.bench import gateway as gateway_bench
from tanpo.bench.stats import summary_ms
from tanpo.client import private
from tanpo.client.errors import CommitError, EndorseError
from tanpo.client.gateway import (
    MVCC_RETRY,
    Contract,
    RetryPolicy,
    SubmitResult,
    constant,
    endorsements_differ,
    run_with_retries,
)
from tanpo.client.models import decimal_string
from tanpo.client.pairs import collection_parties, pair_collection, pair_endorsers
from tanpo.client.profile import Profile
from tanpo.client.session import Participant, Session
from tanpo.client.sweep import sweep_day

Json = dict[str, Any]
Registration = Literal["batch", "single"]

LOAN_TOKEN = "MKT-CASH"
PRICE_DAY0 = 1000
HAIRCUT = "0.05"
# collateral units per agreement (value 1,000,000 at the day-0 price of 1,000), and the spare units
# per agreement a borrower holds of every collateral token for top-ups
UNITS = 1000
SPARE_UNITS = 100
MAX_BATCH = 1000  # the chaincode's limit per batch transaction
BASE_DATE = date(2024, 1, 1)


class BenchError(RuntimeError):
    """The benchmark cannot run (bad arguments, too few banks, no fresh price dates)."""


# ---- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketConfig:
    agreements: int
    parties: int
    collaterals: int
    register_batch: int = 100
    sweep_batch: int = 1000
    concurrency: int = 4
    registration: Registration = "batch"
    # enough submitters in flight to saturate the network: with 32 the baseline is bounded by
    # latency (32 / ~0.18 s ≈ 180 tx/s), well below what the network can commit
    noop_submitters: int = 128
    noop_transactions: int = 2000
    threshold: Fraction = Fraction(0)  # β of every agreement: 0 margins daily (every check moves)
    fee_bps: Fraction | None = None  # a lending fee on every agreement: each call accrues it

    def validate(self) -> None:
        """Refuse impossible settings with a clear message."""
        if self.agreements < 1:
            raise BenchError("--agreements must be at least 1")
        if self.parties < 2:
            raise BenchError("--parties must be at least 2 (a lender and a borrower)")
        if not 1 <= self.collaterals <= 32:
            raise BenchError("--collaterals must be between 1 and 32 (the chaincode's limit)")
        for name, value in (("--register-batch", self.register_batch),
                            ("--sweep-batch", self.sweep_batch)):
            if not 1 <= value <= MAX_BATCH:
                raise BenchError(f"{name} must be between 1 and {MAX_BATCH}")
        if self.concurrency < 1:
            raise BenchError("--concurrency must be at least 1")
        if self.registration not in ("batch", "single"):
            raise BenchError("--registration must be batch or single")
        if self.noop_submitters < 1 or self.noop_transactions < 1:
            raise BenchError("--noop-submitters and --noop-transactions must be at least 1")
        if self.fee_bps is not None and self.fee_bps < 0:
            raise BenchError("--fee-bps must be at least 0")
        if not 0 <= self.threshold < 1:
            raise BenchError("--threshold must be at least 0 and below 1")
        try:
            decimal_string(self.threshold)
        except ValueError:
            raise BenchError("--threshold must be a decimal such as 0.02") from None


def choose_parties(banks: Iterable[str], parties: int) -> list[str]:
    """The first `parties` bank parties of the network, or a clear error."""
    available = sorted(b for b in banks if b.startswith("bank-"))
    if parties > len(available):
        raise BenchError(
            f"--parties {parties} needs {parties} bank organisations but the network has "
            f"{len(available)} ({', '.join(available) or 'none'}): start one with "
            f"`tanpo network up --banks {parties}` (or use --parties {len(available)})"
        )
    return available[:parties]


# ---- the synthetic market -------------------------------------------------------------------


def collateral_tokens(k: int) -> list[str]:
    return [f"MKT-S{i + 1}" for i in range(k)]


@dataclass(frozen=True)
class AgreementSpec:
    id: str
    lender: str
    borrower: str
    main: int  # index of CT1 among the collateral tokens
    book: str = ""  # custody book on the ledger (known once approved)

    @property
    def pair(self) -> tuple[str, str]:
        return (self.lender, self.borrower)


def ordered_pairs(parties: Sequence[str]) -> list[tuple[str, str]]:
    return [(lender, borrower) for lender in parties for borrower in parties if lender != borrower]


def plan_agreements(run_id: str, n: int, parties: Sequence[str], k: int) -> list[AgreementSpec]:
    """N agreements spread round-robin over every ordered (lender, borrower) pair; CT1 rotates."""
    pairs = ordered_pairs(parties)
    return [
        AgreementSpec(f"{run_id}-{i:06d}", *pairs[i % len(pairs)], main=i % k) for i in range(n)
    ]


def collateral_legs(spec: AgreementSpec, k: int) -> list[tuple[str, int]]:
    """Priority order from CT1 = the agreement's main token; 60% of the units in CT1."""
    tokens = collateral_tokens(k)
    order = [tokens[(spec.main + j) % k] for j in range(k)]
    if k == 1:
        return [(order[0], UNITS)]
    rest = (UNITS * 4 // 10) // (k - 1)
    return [(order[0], UNITS - rest * (k - 1))] + [(t, rest) for t in order[1:]]


def loan_quantity(legs: Sequence[tuple[str, int]]) -> int:
    """The loan the haircut collateral covers exactly at the day-0 prices (α = 5%)."""
    return sum(q for _, q in legs) * PRICE_DAY0 * 95 // 100


def terms_for(spec: AgreementSpec, k: int, start: date, threshold: Fraction = Fraction(0),
              fee_bps: Fraction | None = None) -> Json:
    legs = collateral_legs(spec, k)
    terms: Json = {
        "id": spec.id,
        "lender": spec.lender,
        "borrower": spec.borrower,
        "loan": {"token": LOAN_TOKEN, "quantity": str(loan_quantity(legs))},
        "collateral": [{"token": t, "quantity": str(q)} for t, q in legs],
        "baseCurrency": "JPY",
        "haircut": HAIRCUT,
        "threshold": decimal_string(threshold),
        "mode": "multi",
        "settlementLagDays": 0,
        "autoIssue": False,
        "tradeDate": start.isoformat(),
        "startDate": start.isoformat(),
        "endDate": "",
    }
    if fee_bps is not None:
        terms["fee"] = {"bps": decimal_string(fee_bps)}
    return terms


def prices_for(day: int, k: int) -> dict[str, str]:
    """Day 1: even tokens -2%, odd +2% (shortfalls and excesses); day 2: half of it back."""
    out = {}
    for i, t in enumerate(collateral_tokens(k)):
        sign = -1 if i % 2 == 0 else 1
        move = {1: 20 * sign, 2: -10 * sign}.get(day, 0)
        out[t] = str(PRICE_DAY0 + move)
    return out


def funding(specs: Iterable[AgreementSpec], k: int) -> dict[tuple[str, str], int]:
    """What each party must hold: the loans it lends, the collateral it posts, spare units."""
    need: dict[tuple[str, str], int] = {}
    for s in specs:
        legs = collateral_legs(s, k)
        need[(s.lender, LOAN_TOKEN)] = need.get((s.lender, LOAN_TOKEN), 0) + loan_quantity(legs)
        for t, q in legs:
            need[(s.borrower, t)] = need.get((s.borrower, t), 0) + q + SPARE_UNITS
    return need


def choose_dates(last_posted: date | None, today: date) -> tuple[date, date, date]:
    """Start date and the two sweep dates: the first days after anything already posted (a price
    date cannot be re-posted with other values), and never after today, the ledger's business
    date (the chaincode refuses prices for a date that has not come)."""
    start = BASE_DATE if last_posted is None else max(BASE_DATE, last_posted + timedelta(days=1))
    day1, day2 = start + timedelta(days=1), start + timedelta(days=2)
    if day2 > today:
        raise BenchError(
            f"no fresh price dates left (prices are posted up to {last_posted}): run the "
            "benchmark on a fresh network (`tanpo network down --wipe`)"
        )
    return start, day1, day2


def batches(specs: Sequence[AgreementSpec], size: int) -> list[list[AgreementSpec]]:
    """Group by (lender, borrower) pair, then cut each group into batches of at most `size`;
    batches of different pairs interleave so that concurrent workers start on different keys."""
    groups: dict[tuple[str, str], list[AgreementSpec]] = {}
    for s in specs:
        groups.setdefault(s.pair, []).append(s)
    chunks = [[g[i:i + size] for i in range(0, len(g), size)] for g in groups.values()]
    out: list[list[AgreementSpec]] = []
    for i in range(max((len(c) for c in chunks), default=0)):
        out.extend(c[i] for c in chunks if i < len(c))
    return out


# ---- measurement ----------------------------------------------------------------------------


class CpuMeter:
    """How busy all CPUs of the machine were between start() and stop() (from /proc/stat), and
    the 1-minute load average at the end: the load other processes put on a shared machine."""

    def __init__(self) -> None:
        self._start: tuple[int, int] | None = None

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> Json:
        end = self._read()
        out: Json = {"cpus": os.cpu_count()}
        if self._start and end and end[0] > self._start[0]:
            total, idle = end[0] - self._start[0], end[1] - self._start[1]
            out["cpu_busy_pct"] = round(100 * (total - idle) / total, 1)
        with contextlib.suppress(OSError):
            out["loadavg_1m"] = round(os.getloadavg()[0], 2)
        return out


@dataclass
class PhaseStats:
    """Per-transaction figures of one phase, safe to feed from many threads."""

    name: str
    latencies: list[float] = field(default_factory=list)
    transactions: int = 0
    agreements: int = 0
    retries: int = 0
    mvcc_failures: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    detail: Json = field(default_factory=dict)
    parts: dict[str, list[float]] = field(default_factory=dict)  # seconds per step of each tx
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def committed(self, latency: float, attempts: int, agreements: int) -> None:
        with self._lock:
            self.latencies.append(latency)
            self.transactions += 1
            self.agreements += agreements
            self.retries += attempts - 1

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            self.failed += 1
            if isinstance(exc, CommitError) and exc.is_mvcc_conflict:
                self.mvcc_failures += 1
            if len(self.errors) < 5:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.detail[key] = self.detail.get(key, 0) + n

    @property
    def mvcc_conflicts(self) -> int:
        """Every MVCC-invalidated attempt: those retried and those that failed for good."""
        return self.retries + self.mvcc_failures


def phase_figures(stats: PhaseStats, elapsed: float, noop_tps: float, cpu: Json) -> Json:
    """The printed and JSON figures of one phase, with ratios to the no-op submit rate."""
    tx_rate = stats.transactions / elapsed if elapsed > 0 else 0.0
    agr_rate = stats.agreements / elapsed if elapsed > 0 else 0.0
    return set_ratios({
        "phase": stats.name,
        "agreements": stats.agreements,
        "transactions": stats.transactions,
        "elapsed_s": round(elapsed, 3),
        "agreements_per_s": round(agr_rate, 2),
        "tx_per_s": round(tx_rate, 2),
        "commit_latency": summary_ms(stats.latencies),
        "mvcc_conflicts": stats.mvcc_conflicts,
        "retries": stats.retries,
        "failed": stats.failed,
        "errors": list(stats.errors),
        "detail": dict(sorted(stats.detail.items())),
        "steps_mean_ms": {k: round(1000 * sum(v) / len(v), 1) for k, v in stats.parts.items() if v},
        **cpu,
    }, noop_tps)


def set_ratios(phase: Json, noop_tps: float) -> Json:
    """Set (or reset) a phase's ratios to the no-op submit rate; returns the phase."""
    for ratio, rate in (("ratio_tx_to_noop", "tx_per_s"),
                        ("ratio_agreements_to_noop", "agreements_per_s")):
        phase[ratio] = round(phase[rate] / noop_tps, 3) if noop_tps else None
    return phase


# ---- scheduling -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One transaction to submit; no two tasks sharing a key run at the same time, and a task
    waits until `after` (if any) is set."""

    keys: frozenset[str]
    run: Callable[[], None]
    after: threading.Event | None = None


def run_tasks(tasks: Sequence[Task], concurrency: int) -> None:
    """Run tasks on `concurrency` threads, in order, except that a task waits while another task
    holding one of its keys runs, or until its `after` event is set (the next ready task goes
    first). A task that raises stops the scheduling of further tasks; the first exception is
    raised once the running ones end. An `after` event must be set by an earlier task."""
    pending = list(tasks)
    busy: set[str] = set()
    running = 0
    errors: list[BaseException] = []
    cond = threading.Condition()

    def execute(task: Task) -> None:
        nonlocal running
        try:
            task.run()
        except BaseException as exc:
            with cond:
                errors.append(exc)
        finally:
            with cond:
                busy.difference_update(task.keys)
                running -= 1
                cond.notify_all()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while True:
            with cond:
                ready: Task | None = None
                while True:
                    if errors:
                        pending.clear()
                    if not pending:
                        break
                    ready = next((t for t in pending if not (t.keys & busy)
                                  and (t.after is None or t.after.is_set())), None)
                    if ready is not None and running < concurrency:
                        break
                    # an `after` event is set by a running task, which notifies when it ends
                    cond.wait(timeout=None if running else 0.05)
                if ready is None or not pending:
                    break
                pending.remove(ready)
                busy.update(ready.keys)
                running += 1
            pool.submit(execute, ready)
    if errors:
        raise errors[0]


# ---- driving the network --------------------------------------------------------------------


@dataclass
class Actors:
    """The operator and the banks, User1 each, as one session (which waits for every peer)."""

    profile: Profile
    parties: list[str]
    session: Session
    msp: dict[str, str]

    @property
    def operator(self) -> Participant:
        return self.session.as_("operator")

    @property
    def banks(self) -> dict[str, Participant]:
        return {p: self.session.as_(p) for p in self.parties}

    def close(self) -> None:
        self.session.close()


#: Endorsements that differ between peers (one had not yet committed a block the other had):
#: three more tries, 0.2 s apart.
MISMATCH_RETRY = RetryPolicy(attempts=4, backoff=constant(0.2), retry_on=endorsements_differ)


def timed_submit(contract: Contract, fn: str, args: Sequence[str], pair: str,
                 books: Sequence[str] | None = None) -> tuple[SubmitResult, float, float, int]:
    """`Contract.submit` with the time split: endorsement (the gateway collecting the endorsing
    peers' executions) and ordering + validation + commit (submit to commit status). MVCC
    conflicts are retried as `Contract.submit` does, and so are differing endorsements
    (`MISMATCH_RETRY`), counted in the last value returned, not in the result's attempts. The
    call is a bilateral one in `pair`: private arguments, endorsed by the pair's peers."""
    orgs = pair_endorsers(*collection_parties(pair))
    spent = {"endorse": 0.0, "commit": 0.0, "mismatches": 0}

    def attempt() -> SubmitResult:
        t0 = time.perf_counter()
        try:
            tx = contract.new_proposal(fn, (), private.transient(args, pair, books),
                                       endorsing_organizations=orgs).endorse()
        except EndorseError as exc:
            spent["mismatches"] += int(exc.endorsements_differ)
            raise
        t1 = time.perf_counter()
        status = tx.submit().status()
        spent["endorse"] += t1 - t0
        spent["commit"] += time.perf_counter() - t1
        if not status.successful:
            raise CommitError(tx.transaction_id, status.code, status.block_number)
        return SubmitResult(tx.transaction_id, tx.result, status.block_number)

    result, tries = run_with_retries(attempt, (MVCC_RETRY, MISMATCH_RETRY))
    mismatches = int(spent["mismatches"])
    return (replace(result, attempts=tries - mismatches), spent["endorse"], spent["commit"],
            mismatches)


def _submit(stats: PhaseStats, conn: Participant, contract: str, fn: str, args: Sequence[str],
            pair: str, agreements: int, settle: bool = True,
            books: Sequence[str] | None = None) -> Json | None:
    """Submit one transaction of `pair` and record its figures; with `settle`, return
    only once every peer has committed it (the caller then releases its keys)."""
    t0 = time.perf_counter()
    try:
        result, endorse_s, commit_s, mismatches = timed_submit(
            conn.contract(contract), fn, args, pair, books)
    except Exception as exc:  # counted and reported with the figures, never hidden
        stats.failure(exc)
        return None
    stats.committed(time.perf_counter() - t0, result.attempts, agreements)
    if mismatches:
        stats.add("endorsement_mismatch_retries", mismatches)
    t1 = time.perf_counter()
    if settle:
        # every peer, not only the endorsers: the next transaction on these keys may be endorsed
        # by another organisation (with more than two banks, a third one for the majority)
        conn.session.settle(timeout=60.0, block=result.block_number, poll=0.01)
    with stats._lock:
        stats.detail["max_block"] = max(stats.detail.get("max_block", 0), result.block_number)
        for part, seconds in (("endorse", endorse_s), ("order_commit", commit_s),
                              ("settle", time.perf_counter() - t1)):
            stats.parts.setdefault(part, []).append(seconds)
    return json.loads(result.result) if result.result else {}


def _setup(actors: Actors, specs: Sequence[AgreementSpec], k: int, say: Callable[[str], None]
           ) -> None:
    """Define the tokens and issue what each party needs (not timed as a phase)."""
    admin = actors.operator.contract("tokens")
    tokens = [{"id": LOAN_TOKEN, "kind": "CT", "currency": "JPY", "name": "bench cash"}]
    tokens += [
        {"id": t, "kind": "ST", "currency": "JPY", "ticker": t, "quoteConvention": "per-unit",
         "assetClass": "equity", "name": "bench stock"}
        for t in collateral_tokens(k)
    ]
    defined = 0
    for tok in tokens:
        defined = max(defined, admin.submit("DefineToken", json.dumps(tok)).block_number)
    # every bank's endorsers must know the tokens before it requests them
    actors.session.settle(timeout=60, block=defined)
    need = funding(specs, k)
    say(f"issuing {len(need)} balances")
    last = 0

    def issue(item: tuple[tuple[str, str], int]) -> int:
        (party, token), qty = item
        requested = actors.banks[party].contract("tokens").submit(
            "RequestIssuance", token, str(qty), "bench market deposit")
        # the token administrator's endorsers must see the request first
        actors.session.settle(timeout=60, block=requested.block_number)
        req = json.loads(requested.result)
        return admin.submit("ApproveIssuance", req["id"]).block_number

    # approvals of one token share its supply key: one worker per token
    by_token: dict[str, list[tuple[tuple[str, str], int]]] = {}
    for item in sorted(need.items()):
        by_token.setdefault(item[0][1], []).append(item)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(by_token)))) as pool:
        for blocks in pool.map(lambda items: [issue(i) for i in items], by_token.values()):
            last = max([last, *blocks])
    actors.session.settle(block=last)


def _register(actors: Actors, cfg: MarketConfig, specs: Sequence[AgreementSpec], start: date,
              stats: PhaseStats) -> None:
    k = cfg.collaterals
    if cfg.registration == "single":
        tasks = [
            Task(frozenset(), _single_propose(actors, stats, s, k, start, cfg.threshold,
                                              cfg.fee_bps))
            for s in specs
        ]
        run_tasks(tasks, cfg.concurrency * 4)
        _wait_all(actors, stats)
        tasks = [Task(frozenset(s.pair), _single_approve(actors, stats, s)) for s in specs]
        run_tasks(tasks, cfg.concurrency)
        return

    def propose(group: list[AgreementSpec], done: threading.Event) -> Callable[[], None]:
        def go() -> None:
            s0 = group[0]
            args = [json.dumps([terms_for(s, k, start, cfg.threshold, cfg.fee_bps)
                                for s in group])]
            res = _submit(stats, actors.banks[s0.lender], "agreements", "ProposeBatch", args,
                          pair_collection(*s0.pair), 0)
            if res is not None:
                stats.add("proposed", int(res.get("count", 0)))
                done.set()
            else:
                raise BenchError(f"the proposal batch of {s0.id}.. failed: {stats.errors[-1]}")
        return go

    def approve(group: list[AgreementSpec]) -> Callable[[], None]:
        def go() -> None:
            s0 = group[0]
            args = [json.dumps([s.id for s in group])]
            res = _submit(stats, actors.banks[s0.borrower], "agreements", "ApproveBatch", args,
                          pair_collection(*s0.pair), len(group))
            if res is not None:
                stats.add("approved", int(res.get("count", 0)))
        return go

    # Proposals write only new keys and run concurrently; an approval batch moves both parties'
    # balances, so batches sharing a party never overlap, and each starts as soon as its own
    # proposal batch is committed on every peer (proposing and approving overlap).
    tasks = []
    for group in batches(specs, cfg.register_batch):
        proposed = threading.Event()
        tasks.append(Task(frozenset(), propose(group, proposed)))
        tasks.append(Task(frozenset(group[0].pair), approve(group), after=proposed))
    run_tasks(tasks, cfg.concurrency)


def _single_propose(actors: Actors, stats: PhaseStats, s: AgreementSpec, k: int, start: date,
                    threshold: Fraction, fee_bps: Fraction | None) -> Callable[[], None]:
    def go() -> None:
        res = _submit(stats, actors.banks[s.lender], "agreements", "Propose",
                      [json.dumps(terms_for(s, k, start, threshold, fee_bps))],
                      pair_collection(*s.pair), 0,
                      settle=False)
        if res is not None:
            stats.add("proposed")
    return go


def _single_approve(actors: Actors, stats: PhaseStats, s: AgreementSpec) -> Callable[[], None]:
    def go() -> None:
        res = _submit(stats, actors.banks[s.borrower], "agreements", "Approve", [s.id],
                      pair_collection(*s.pair), 1)
        if res is not None:
            stats.add("approved")
    return go


def _wait_all(actors: Actors, stats: PhaseStats) -> None:
    """Every peer has what this phase committed (the next phase's endorsers read it)."""
    block = int(stats.detail.get("max_block", 0))
    if block:
        actors.session.settle(timeout=120, block=block)


def _sweep(actors: Actors, cfg: MarketConfig, run_ids: set[str], day: date,
           prices: dict[str, str], stats: PhaseStats) -> set[str]:
    """Post the day's prices, then margin this run's agreements with the SDK's sweep (the one the
    oracle daemon and `tanpo margin run` use), each batch through the bench's timed submit."""
    oracle = actors.operator
    t0 = time.perf_counter()
    batch_json = {"date": day.isoformat(), "source": "bench market", "prices": prices, "fx": {}}
    posted = oracle.contract("oracle").submit("PostPrices", day.isoformat(), json.dumps(batch_json))
    stats.committed(time.perf_counter() - t0, posted.attempts, 0)
    # post, wait for commit on every peer, then sweep: a call endorsed before the prices reach
    # its peer would be refused
    oracle.session.settle(timeout=60, block=posted.block_number)
    stats.detail["post_s"] = round(time.perf_counter() - t0, 3)

    def submit(args: list[str], pair: str, books: list[str]) -> Json | None:
        return _submit(stats, oracle, "margin", "SweepAgreements", args, pair, len(books),
                       books=books)

    t1 = time.perf_counter()
    # the day is marked swept only when the network holds nothing but this run's agreements
    # (a reused network may hold others, which this run does not margin)
    run = sweep_day(oracle.connection, day, batch_size=cfg.sweep_batch, submit=submit,
                    select=lambda item: item.agreement in run_ids)
    stats.detail["plan_s"] = round(run.plan_seconds, 3)
    stats.detail["sweep_s"] = round(time.perf_counter() - t1, 3)
    for status in ("called", "replayed", "skipped", "failed"):
        stats.add(status, run.count(status))
    # No "transfers" figure: a SweepAgreements outcome is a receipt (status, reason code) and the
    # transfers a call made are in its record, private to the agreement's two banks, which the
    # operator running the sweep may not read. The test reads some calls back as a party.
    stats.detail["active_listed"] = run.planned
    stats.detail["already_called"] = run.already_called
    stats.detail["day_swept"] = run.swept
    called = [o.agreement for o in run.outcomes if o.status == "called"]
    stats.detail["margined_once"] = len(called) == len(set(called)) == len(run_ids) and set(
        called) == run_ids
    return set(called)


def run(cfg: MarketConfig, profile: Profile, say: Callable[[str], None] = lambda _: None,
        run_id: str | None = None) -> Json:
    """Run the whole benchmark against the network of `profile`; returns the JSON figures."""
    cfg.validate()
    parties = choose_parties(profile.orgs, cfg.parties)
    msp = {party: org.msp_id for party, org in profile.orgs.items()}
    run_id = run_id or "M" + secrets.token_hex(3).upper()
    actors = Actors(profile, parties, Session(profile), msp)
    for party in ("operator", *parties):  # connect before any phase is timed
        actors.session.as_(party)
    try:
        return _run(cfg, actors, run_id, say)
    finally:
        actors.close()


def _baseline(actors: Actors, cfg: MarketConfig, meter: CpuMeter) -> Json:
    """`tanpo bench gateway`'s no-op submits, after an unmeasured warm-up, with the CPU load."""
    meter.start()
    base = gateway_bench.run(actors.banks[actors.parties[0]].contract(),
                             submitters=cfg.noop_submitters,
                             transactions=cfg.noop_transactions, evaluations=0,
                             warmup=2 * cfg.noop_submitters)
    return {**base.as_dict(), **meter.stop()}


def _run(cfg: MarketConfig, actors: Actors, run_id: str, say: Callable[[str], None]) -> Json:
    out: Json = {
        "run_id": run_id,
        "config": {
            "agreements": cfg.agreements, "parties": cfg.parties,
            "collaterals": cfg.collaterals, "registration": cfg.registration,
            "register_batch": cfg.register_batch,
            "sweep_batch": cfg.sweep_batch, "concurrency": cfg.concurrency,
            "threshold": decimal_string(cfg.threshold),
            "fee_bps": None if cfg.fee_bps is None else decimal_string(cfg.fee_bps),
        },
        "network": {"organisations": sorted(actors.profile.orgs), "parties": actors.parties},
        "machine": {"cpus": os.cpu_count()},
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    meter = CpuMeter()

    say(f"baseline: {cfg.noop_transactions} no-op submits with {cfg.noop_submitters} submitters "
        f"(after {2 * cfg.noop_submitters} unmeasured)")
    base = _baseline(actors, cfg, meter)
    out["baseline"] = base
    noop = base["submit_tps"]

    specs = plan_agreements(run_id, cfg.agreements, actors.parties, cfg.collaterals)
    last = actors.operator.contract("oracle").evaluate("LastPostedDate")
    last_date = json.loads(last).get("date") if last else ""
    settings = json.loads(actors.operator.contract("roles").evaluate("GetPlatformSettings"))
    start, day1, day2 = choose_dates(date.fromisoformat(last_date) if last_date else None,
                                     date.fromisoformat(settings["businessDate"]))
    out["dates"] = {"start": start.isoformat(), "day1": day1.isoformat(),
                    "day2": day2.isoformat()}
    say(f"set-up: tokens and balances for {len(specs)} agreements")
    t0 = time.perf_counter()
    _setup(actors, specs, cfg.collaterals, say)
    out["setup_s"] = round(time.perf_counter() - t0, 3)

    phases = []
    say(f"register: {len(specs)} agreements ({cfg.registration})")
    reg = PhaseStats("register")
    meter.start()
    t0 = time.perf_counter()
    _register(actors, cfg, specs, start, reg)
    phases.append(phase_figures(reg, time.perf_counter() - t0, noop, meter.stop()))
    _wait_all(actors, reg)

    run_ids = {s.id for s in specs}
    for n, day in ((1, day1), (2, day2)):
        say(f"sweep day {n} ({day.isoformat()})")
        st = PhaseStats(f"sweep day {n}")
        meter.start()
        t0 = time.perf_counter()
        _sweep(actors, cfg, run_ids, day, prices_for(n, cfg.collaterals), st)
        phases.append(phase_figures(st, time.perf_counter() - t0, noop, meter.stop()))
        _wait_all(actors, st)
    # The no-op rate again at the end: a network fresh from start-up can commit less at first,
    # and the ratios must not gain from that. They use the higher of the two.
    say(f"baseline again: {cfg.noop_transactions} no-op submits")
    end = _baseline(actors, cfg, meter)
    out["baseline_end"] = end
    out["noop_tps"] = max(noop, end["submit_tps"])
    for p in phases:
        set_ratios(p, out["noop_tps"])
    out["phases"] = phases
    out["failed_transactions"] = base["failed"] + end["failed"] + sum(p["failed"] for p in phases)
    out["checks"] = {
        "registered": reg.detail.get("approved", 0) == len(specs),
        "day1_margined_once": bool(phases[1]["detail"].get("margined_once")),
        "day2_margined_once": bool(phases[2]["detail"].get("margined_once")),
    }
    return out
