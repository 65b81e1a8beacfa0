"""The oracle daemon: for each valuation date, validate, post, wait for the commit, sweep, report.

Order per date is fixed: **post the prices, return only once committed, then sweep** (the SDK's
planned sweep: batches of one lender/borrower pair, a lane per borrower, then the ledger records
the date as swept) and report. Dates go strictly in order: margin calls are sequential and the
next date's move check needs this date's prices.

One bad item stops only what depends on it:

* **A held-back quote** (a value validation refuses: a move beyond its asset class's limit, a
  broken FX cross, a malformed or stale close) is left out of the date's batch; the rest is
  posted and swept. Agreements that need the held-back token or pair cannot be priced, so their
  calls fail alone (below). The quote stays held back until a later close passes, or the
  operator confirms it (``tanpo oracle confirm``): a confirmed value is posted as an addition to
  its date and the date is swept again. Only a date with nothing to post is refused as a whole,
  and that stops the dates after it.
* **A failed call** (an agreement that cannot be priced, a short balance) fails alone. A date
  whose sweep committed every batch and left only such failures is *processed with failures*:
  the daemon moves on to the next date, the failures are reported (log ``call-failed``, metric
  ``tanpo_oracle_call_failures``, ``failures`` in the status) and retried: the latest date's on
  every live pass, and every failed agreement on the next date's sweep, whose call supersedes the
  missed one (the ledger then counts the earlier date as swept). ``last_swept`` on the ledger is
  the latest date on which every active agreement had its call. Any other sweep failure (a batch
  not committed, a finish refused for another reason) is an error: the date is retried as it is.

**A correction** (``Oracle.correct``, or a manual confirmation, ``tanpo oracle confirm DATE KEY
--value V --manual``, of a value that differs from the one posted for its date) is posted with
``CorrectPrices`` (a new version of the date, with its reason), and right after it the daemon
adjusts the date (``AdjustCalls`` through the SDK's ``adjust_day``): every call of the date that
is still its agreement's latest is re-run at the corrected prices; the report counts adjusted,
unaffected and failed agreements (log ``adjusted``, ``recent`` in the status).

Restart safety: the daemon holds no progress of its own. On every start (and every live loop)
it reads the last posted and last swept dates from the ledger, finishes any sweep that was
interrupted (the ledger replays agreements already called for that date, so none is called
twice), and continues with the next date. Posting a date that is already posted is a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from tanpo.oracle.calendars import CalendarError
from tanpo.oracle.config import OracleConfig
from tanpo.oracle.ledger import (
    CallOutcome,
    Ledger,
    LedgerError,
    LedgerUnavailableError,
    PriceBatch,
    Quote,
)
from tanpo.oracle.logs import log_event
from tanpo.oracle.metrics import Health, OracleMetrics
from tanpo.oracle.schedule import Schedule
from tanpo.oracle.sources import PrefetchedSource, PriceSource, SourceError
from tanpo.oracle.status import StateFiles
from tanpo.oracle.validation import (
    Assessment,
    Confirmation,
    Observation,
    Refusal,
    Rule,
    assess,
)

__all__ = ["AdjustReport", "DateResult", "Oracle", "Outcome", "ReplayResult", "SweepReport",
           "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(StrEnum):
    POSTED = "posted"
    ALREADY_POSTED = "already-posted"
    REFUSED = "refused"
    WAITING = "waiting"


@dataclass(frozen=True)
class SweepReport:
    """One date's sweep (including outcomes replayed after a restart). ``pages`` counts the sweep
    transactions."""

    valuation_date: date
    agreements: int = 0
    # what the calls decided; None when the ledger does not tell the oracle (on Fabric the calls
    # are private to each pair: the sweep answers called or replayed, not the figures)
    calls_triggered: int | None = 0
    transfers: int | None = 0
    issuance_required: int | None = 0
    replayed: int = 0
    pages: int = 0
    seconds: float = 0.0
    issuances: tuple[tuple[str, str, str, Fraction], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (agreement, reason) of calls that failed alone
    swept: bool = True  # the ledger recorded the date as swept
    closed: tuple[str, ...] = ()  # closed at maturity by the cycle
    matured: tuple[str, ...] = ()  # at maturity, the closing exchange could not settle: margined

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.valuation_date.isoformat(),
            "agreements": self.agreements,
            "calls_triggered": self.calls_triggered,
            "transfers": self.transfers,
            "issuance_required": self.issuance_required,
            "replayed": self.replayed,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "issuances": [
                {"agreement": a, "party": p, "token": t, "value": str(v)}
                for a, p, t, v in self.issuances
            ],
            "failed": [{"agreement": a, "reason": r} for a, r in self.failed],
            "swept": self.swept,
            "closed": list(self.closed),
            "matured": list(self.matured),
        }


@dataclass(frozen=True)
class AdjustReport:
    """One date's adjustment after a correction of its prices: how many agreements' calls were
    re-run (adjusted), left as they were (unaffected: no call that date, a later call, or already
    at the latest version) or failed (undone alone, with the chaincode's reason)."""

    valuation_date: date
    reason: str = ""  # the correction's
    adjusted: int = 0
    unaffected: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    transactions: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.valuation_date.isoformat(), "reason": self.reason,
                "adjusted": self.adjusted, "unaffected": self.unaffected,
                "failed": [{"agreement": a, "reason": r} for a, r in self.failed],
                "transactions": self.transactions, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class DateResult:
    valuation_date: date
    outcome: Outcome
    assessment: Assessment | None = None
    sweep: SweepReport | None = None
    held_back: tuple[Refusal, ...] = ()  # left out of the posted batch


@dataclass
class ReplayResult:
    results: list[DateResult] = field(default_factory=list)
    skipped: list[date] = field(default_factory=list)
    resumed: list[SweepReport] = field(default_factory=list)
    completed: list[SweepReport] = field(default_factory=list)  # dates given confirmed quotes
    stopped_at: date | None = None

    @property
    def posted(self) -> list[DateResult]:
        return [r for r in self.results if r.outcome is Outcome.POSTED]

    @property
    def with_failures(self) -> list[DateResult]:
        """Dates posted with quotes held back or calls that failed alone."""
        return [r for r in self.results
                if r.held_back or (r.sweep is not None and r.sweep.failed)]


class Oracle:
    """Drives one ledger from one price source under one configuration."""

    def __init__(
        self,
        config: OracleConfig,
        ledger: Ledger,
        source: PriceSource,
        *,
        second_source: PriceSource | None = None,
        schedule: Schedule | None = None,
        state: StateFiles | None = None,
        metrics: OracleMetrics | None = None,
        health: Health | None = None,
        clock: Clock = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        confirmations: Sequence[Confirmation] = (),
        mode: str = "live",
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.source = source
        self.second_source = second_source
        self.schedule = schedule or Schedule(config)
        self.state = state
        self.metrics = metrics or OracleMetrics()
        self.health = health or Health()
        self.clock = clock
        self.sleep = sleep
        self.mode = mode
        self._confirmations = list(confirmations)
        self.log = logging.getLogger("tanpo.oracle.daemon")
        self._previous: PriceBatch | None = None
        self._view: dict[str, date | None] = {"last_posted": None, "last_swept": None}
        self._blocked: tuple[date, list[Refusal]] | None = None
        self._waiting: dict[str, Any] | None = None
        self._last_error: str | None = None
        self._next: tuple[date, datetime] | None = None
        self._recent: deque[dict[str, Any]] = deque(maxlen=20)
        self._refusal_log: deque[dict[str, Any]] = deque(maxlen=100)
        self._reported: set[tuple[date, str, str, str | None]] = set()
        # agreement -> its outstanding failed call (cleared by its next call)
        self._failures: dict[str, dict[str, Any]] = {}
        # date -> quotes held back from its batch (cleared when confirmed and posted)
        self._held: dict[date, list[Refusal]] = {}
        # dates this process swept to the end with only isolated failures: not re-swept on
        # every pass (the next date's sweep retries their agreements), except the latest
        self._processed: set[date] = set()
        self._older: dict[date, PriceBatch | None] = {}  # earlier batches the move check read
        self._strict_source = mode != "live"

    # ---- start-up ------------------------------------------------------------------------

    def log_config(self) -> None:
        """Log the effective configuration (once, at start)."""
        log_event(self.log, "config", mode=self.mode, source=self.source.label,
                  second_source=self.second_source.label if self.second_source else None,
                  config=self.config.to_dict())

    def resume(self, start_hint: date | None = None) -> list[SweepReport]:
        """Read progress from the ledger and finish any sweep it shows unfinished."""
        lp, ls = self.ledger.last_posted_date(), self.ledger.last_swept_date()
        self._view = {"last_posted": lp, "last_swept": ls}
        if lp is not None:
            self.metrics.last_posted.set(_epoch(lp))
        if ls is not None:
            self.metrics.last_swept.set(_epoch(ls))
        if lp is None or (ls is not None and ls >= lp):
            return []
        if ls is None:
            begin = min(start_hint or lp, self.config.schedule.start_date or lp)
        else:
            begin = ls + timedelta(days=1)
        pending = [d for d in _days(begin, lp) if (d == lp or d not in self._processed)
                   and self.ledger.posted_prices(d) is not None]
        if not pending:
            return []
        log_event(self.log, "resume", last_posted=lp, last_swept=ls, sweeps_to_finish=pending)
        return [self.sweep(d) for d in pending]

    # ---- one date ------------------------------------------------------------------------

    def process_date(self, d: date, *, carry_missing: bool = True) -> DateResult:
        """Validate, post (wait for commit), then sweep one valuation date."""
        if self.ledger.posted_prices(d) is not None:
            log_event(self.log, "already-posted", date=d)
            report = self.complete(d)
            ls = self.ledger.last_swept_date()
            if report is None and (ls is None or ls < d):
                report = self.sweep(d)
            return DateResult(d, Outcome.ALREADY_POSTED, None, report)
        previous = self._previous_batch(d)
        confirmations = self._load_confirmations()
        a = self._assess(d, previous, confirmations, carry_missing, second={})
        moves = [r.key for r in a.refusals if r.rule is Rule.MOVE]
        if moves and self.second_source is not None:
            a = self._assess(d, previous, confirmations, carry_missing,
                             second=self._second_opinion(d, moves))
        if a.waiting:
            deadline = self.schedule.carry_deadline(d)
            self._blocked = None
            self._waiting = {"date": d.isoformat(), "instruments": list(a.waiting),
                             "carry_after": deadline.isoformat()}
            log_event(self.log, "waiting", date=d, instruments=list(a.waiting),
                      carry_after=deadline)
            return DateResult(d, Outcome.WAITING, a)
        batch = a.batch
        held = list(a.refusals)
        if held:
            batch = self._without(d, a, held)
            if batch is None:  # nothing left to post: the date is refused as a whole
                self._refuse(d, held)
                return DateResult(d, Outcome.REFUSED, a, held_back=tuple(held))
            self._hold_back(d, held)
        assert batch is not None
        for note in a.notes:
            log_event(self.log, note.kind, logging.WARNING if note.kind == "carried"
                      else logging.INFO, date=d, instrument=note.key, detail=note.message)
        self.ledger.post_prices(batch)  # returns once committed
        self._previous = batch
        self._release(d, batch.keys())
        self._blocked, self._waiting = None, None
        self._view["last_posted"] = d
        self.metrics.posted(batch)
        self.metrics.blocked.set(0)
        confirmed = {k: q.confirmed_by for k, q in a.quotes.items()
                     if q.confirmed_by and k not in {r.key for r in held}}
        log_event(self.log, "posted", date=d, prices=len(batch.prices), fx=len(batch.fx),
                  rates=len(batch.rates), carried=batch.carried(), confirmed=confirmed,
                  held_back=[r.key for r in held])
        report = self.sweep(d)
        self._recent.appendleft({
            "date": d.isoformat(), "outcome": str(Outcome.POSTED),
            "carried": batch.carried(), "confirmed": confirmed,
            "held_back": [r.key for r in held], "sweep": report.to_dict(),
        })
        return DateResult(d, Outcome.POSTED, a, report, tuple(held))

    def complete(self, d: date) -> SweepReport | None:
        """Post what the operator confirmed for a date posted with quotes held back (an addition
        to its batch), then sweep the date again so the agreements that needed them are called.
        None when there is nothing to add."""
        posted = self.ledger.posted_prices(d)
        if posted is None:
            return None
        have = posted.keys()
        wanted = {c.key for c in self._load_confirmations()
                  if c.valuation_date == d and c.key not in have}
        if not wanted:
            return None
        a = self._assess(d, self._previous_batch(d), self._load_confirmations(), True,
                         second={})
        refused = {r.key for r in a.refusals}
        add = {k: q for k, q in a.quotes.items() if k in wanted and k not in refused}
        if not add:
            return None
        addition = self._batch(d, add, posted.source)
        self.ledger.post_prices(addition)  # an addition: keys already posted are not touched
        self._older.pop(d, None)
        log_event(self.log, "posted-addition", date=d, added=sorted(add),
                  confirmed={k: q.confirmed_by for k, q in add.items()})
        remaining = [r for r in self._held.get(d, []) if r.key not in add]
        if remaining:
            self._held[d] = remaining
        else:
            self._held.pop(d, None)
        if self._previous is not None and self._previous.valuation_date == d:
            self._previous = self.ledger.posted_prices(d)
        return self.sweep(d)

    # ---- corrections -----------------------------------------------------------------------

    def correct(self, d: date, values: Mapping[str, Decimal], reason: str,
                by: str = "") -> AdjustReport | None:
        """Correct posted values of ``d`` (a new version with ``reason``), then adjust the date's
        margin calls at the corrected prices. None when the date already holds these values."""
        posted = self.ledger.posted_prices(d)
        if posted is None:
            raise LedgerError(f"no prices posted for {d}: post them before correcting them")
        if not reason.strip():
            raise ValueError("a correction needs a reason")
        changed = {k: v for k, v in values.items() if _posted_value(posted, k) != v}
        if not changed:
            return None
        rates = {r.name for r in self.config.rates}
        quotes = {k: Quote(v, d, by or None, signed=k in rates) for k, v in changed.items()}
        batch = self._batch(d, quotes, posted.source)
        self.ledger.correct_prices(batch, reason)  # returns once committed
        self._older.pop(d, None)
        if self._previous is not None and self._previous.valuation_date == d:
            self._previous = self.ledger.posted_prices(d)
        log_event(self.log, "corrected", logging.WARNING, date=d, reason=reason,
                  values={k: str(v) for k, v in sorted(changed.items())})
        return self.adjust(d, reason)

    def adjust(self, d: date, reason: str = "") -> AdjustReport:
        """Re-run the calls of ``d`` at its latest prices (after a correction) and report."""
        started = time.perf_counter()
        run = self.ledger.adjust(d, self.config.sweep_batch_size)
        failed = tuple((o.agreement, o.reason) for o in run.outcomes if o.status == "failed")
        report = AdjustReport(d, reason, run.count("adjusted"), run.count("unaffected"), failed,
                              run.transactions, time.perf_counter() - started)
        log_event(self.log, "adjusted", logging.WARNING if failed else logging.INFO,
                  **report.to_dict())
        for agreement, why in failed:
            log_event(self.log, "adjust-failed", logging.WARNING, date=d, agreement=agreement,
                      reason=why, action="its parties run: tanpo margin adjust "
                                         f"{d.isoformat()}")
        self._recent.appendleft({"date": d.isoformat(), "outcome": "corrected",
                                 "adjust": report.to_dict()})
        return report

    def apply_corrections(self) -> list[AdjustReport]:
        """Post as corrections the operator's manual values for instruments already posted on
        their date with a different value (``tanpo oracle confirm DATE KEY --value V
        --manual``), each date then adjusted. A value already posted is not posted again."""
        by_date: dict[date, list[Confirmation]] = {}
        for c in self._load_confirmations():
            if c.manual:
                by_date.setdefault(c.valuation_date, []).append(c)
        reports = []
        for d in sorted(by_date):
            posted = self.ledger.posted_prices(d)
            if posted is None:
                continue
            latest = {c.key: c for c in by_date[d]}  # the latest word on each key
            changes = {k: c for k, c in latest.items()
                       if _posted_value(posted, k) not in (None, c.value)}
            if not changes:
                continue
            reason = "; ".join(f"{k} confirmed by {c.by}" + (f": {c.note}" if c.note else "")
                               for k, c in sorted(changes.items()))[:500]
            first = changes[min(changes)]
            report = self.correct(d, {k: c.value for k, c in changes.items()}, reason,
                                  by=f"operator:{first.by}")
            if report is not None:
                reports.append(report)
        return reports

    def _without(self, d: date, a: Assessment, held: list[Refusal]) -> PriceBatch | None:
        """The date's batch without the held-back quotes, or None if nothing else is left."""
        out = {r.key for r in held}
        keep = {k: q for k, q in a.quotes.items() if k not in out}
        if not keep:
            return None
        return self._batch(d, keep, self.source.label)

    def _batch(self, d: date, quotes: Mapping[str, Quote], source: str) -> PriceBatch:
        """A batch of ``quotes`` sorted into closes, FX pairs and benchmark fixings."""
        fx = {o.pair for o in self.config.fx}
        rates = {r.name for r in self.config.rates}
        return PriceBatch(d, {k: q for k, q in quotes.items() if k not in fx | rates},
                          {k: q for k, q in quotes.items() if k in fx}, source,
                          {k: q for k, q in quotes.items() if k in rates})

    def _release(self, d: date, posted: set[str]) -> None:
        """A key posted on ``d`` supersedes its holds on earlier dates (their agreements are
        margined on ``d``)."""
        for day in [k for k in self._held if k < d]:
            left = [r for r in self._held[day] if r.key not in posted]
            if left:
                self._held[day] = left
            else:
                del self._held[day]

    def _hold_back(self, d: date, held: list[Refusal]) -> None:
        """Report quotes left out of a posted date (each alerted once)."""
        self._held[d] = held
        self._report_refusals(d, held, "held-back", lambda r: (
            f"agreements that use {r.key} are not margined on {d}; to let the value through "
            f"run: tanpo oracle confirm {d} {r.key}"))

    def _report_refusals(self, d: date, refusals: list[Refusal], event: str,
                         action: Callable[[Refusal], str] | None = None) -> None:
        """Count, log and keep each refusal of ``d`` once, however often it is seen again."""
        at = self.clock().isoformat()
        for r in refusals:
            key = (d, r.key, str(r.rule), r.value)
            if key in self._reported:
                continue
            self._reported.add(key)
            self.metrics.refusals.labels(str(r.rule)).inc()
            self._refusal_log.appendleft({"at": at, **r.to_dict()})
            extra = {"action": action(r)} if action is not None else {}
            log_event(self.log, event, logging.WARNING, **r.to_dict(), **extra)

    def sweep(self, d: date) -> SweepReport:
        """Margin-call every active agreement for ``d`` and report; the ledger records ``d`` as
        swept once every one has its call. An agreement whose call failed is reported with its
        reason and retried later (see the module's docstring); any other incomplete sweep raises
        :class:`LedgerError` (retried on the next pass)."""
        started = time.perf_counter()
        run = self.ledger.sweep(d, self.config.sweep_batch_size)
        agreements = triggered = transfers = issuance = replayed = 0
        issuances: list[tuple[str, str, str, Fraction]] = []
        failed: list[tuple[str, str]] = []
        closed: list[str] = []
        matured: list[str] = []
        detailed = all(o.detailed for o in run.outcomes if o.has_call)
        for o in run.outcomes:
            if o.status == "failed":
                failed.append((o.agreement, o.reason))
                continue
            if o.closed:
                closed.append(o.agreement)
                continue
            if o.close_failed:
                matured.append(o.agreement)
            if not o.has_call:
                continue
            self._failures.pop(o.agreement, None)
            agreements += 1
            replayed += o.replayed
            triggered += o.triggered
            transfers += len(o.transfers)
            issuance += len(o.issuance_required)
            issuances.extend((o.agreement, i.party, i.token, i.value)
                             for i in o.issuance_required)
            if not o.replayed and o.detailed:
                self._count(o)
        if not run.swept and (run.failed_batches or not failed):
            raise LedgerError(run.finish_refusal or (
                f"sweep of {d} incomplete: {len(failed)} margin call(s) failed, "
                f"{run.failed_batches} batch(es) not committed"))
        self._record_failures(d, failed)
        seconds = time.perf_counter() - started
        report = SweepReport(d, agreements, triggered if detailed else None,
                             transfers if detailed else None, issuance if detailed else None,
                             replayed, run.transactions, seconds, tuple(issuances),
                             tuple(failed), run.swept, tuple(closed), tuple(matured))
        self.metrics.sweep_duration.observe(seconds)
        if run.swept:
            self.metrics.last_swept.set(_epoch(d))
            self._view["last_swept"] = max(d, self._view["last_swept"] or d)
        else:
            self._processed.add(d)
        log_event(self.log, "swept" if run.swept else "swept-with-failures",
                  logging.INFO if run.swept else logging.WARNING, **report.to_dict())
        for a_id, party, token, value in issuances:
            log_event(self.log, "issuance-required", logging.WARNING, date=d, agreement=a_id,
                      party=party, token=token, value=value)
        for a_id in matured:
            log_event(self.log, "matured-awaiting-return", logging.WARNING, date=d,
                      agreement=a_id, action="its parties settle the return or the lender buys in")
        return report

    def _record_failures(self, d: date, failed: list[tuple[str, str]]) -> None:
        at = self.clock().isoformat()
        for agreement, reason in failed:
            known = self._failures.get(agreement)
            fresh = known is None or known["date"] != d.isoformat()
            self._failures[agreement] = {
                "agreement": agreement, "date": d.isoformat(), "reason": reason,
                "since": known["since"] if known else d.isoformat(),
                "attempts": (known["attempts"] if known else 0) + 1,
                "at": at,
            }
            if fresh:  # once per agreement and date, not on every retry
                self.metrics.call_failures.inc()
                log_event(self.log, "call-failed", logging.WARNING, date=d,
                          agreement=agreement, reason=reason,
                          action="retried on the next pass and the next date's sweep")
        self.metrics.agreements_failing.set(len(self._failures))

    def _count(self, o: CallOutcome) -> None:
        self.metrics.calls_triggered.inc(int(o.triggered))
        self.metrics.transfers.inc(len(o.transfers))
        self.metrics.issuance_required.inc(len(o.issuance_required))

    # ---- live ----------------------------------------------------------------------------

    def tick(self) -> list[DateResult]:
        """One live pass: finish sweeps, post every due date in order, write the status."""
        now = self.clock()
        results: list[DateResult] = []
        try:
            self.resume()
            for held in sorted(self._held):
                self.complete(held)
            self.apply_corrections()
            for d in self.schedule.due_dates(now, self.ledger.last_posted_date()):
                carry = now >= self.schedule.carry_deadline(d)
                result = self.process_date(d, carry_missing=carry)
                results.append(result)
                if result.outcome in (Outcome.REFUSED, Outcome.WAITING):
                    break
            self._last_error = None
        except (LedgerError, SourceError, CalendarError) as exc:
            self._failed(exc, retry=True)
        try:
            self._next = self.schedule.next_due(now, self._view["last_posted"])
        except CalendarError:
            self._next = None
        self._publish()
        return results

    def run_forever(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set, sleeping until the next posting time or poll interval."""
        self.log_config()
        poll = float(self.config.schedule.poll_seconds)
        while not stop.is_set():
            self.tick()
            wait = poll
            if self._next is not None and self._blocked is None and self._waiting is None:
                until = (self._next[1] - self.clock()).total_seconds()
                wait = min(poll, max(1.0, until))
            stop.wait(wait)

    # ---- replay --------------------------------------------------------------------------

    def replay(
        self,
        start: date,
        end: date,
        *,
        days: str | None = None,
        pace: float = 0.0,
        on_result: Callable[[date, DateResult | None], None] | None = None,
    ) -> ReplayResult:
        """Walk ``start..end`` (valuation dates under ``days``), as fast as the ledger allows
        or one date every ``pace`` seconds. Stops at the first refused date."""
        if end < start:
            raise ValueError(f"replay end {end} is before its start {start}")
        dates = self.schedule.valuation_days(start, end, days)
        lookback = timedelta(days=self.config.limits.lookback_days)
        original = self.source
        self.source = PrefetchedSource(original, self._symbols(original.kind),
                                       start - lookback, end)
        out = ReplayResult()
        try:
            out.resumed = self.resume(start_hint=start)
            lp = self.ledger.last_posted_date()
            for d in dates:
                if lp is not None and d <= lp:
                    if self.ledger.posted_prices(d) is None:
                        log_event(self.log, "gap", logging.WARNING, date=d,
                                  detail=f"not posted, but the ledger is already at {lp}")
                    elif (added := self.complete(d)) is not None:
                        out.completed.append(added)
                    out.skipped.append(d)
                    if on_result:
                        on_result(d, None)
                    continue
                result = self.process_date(d, carry_missing=True)
                out.results.append(result)
                if on_result:
                    on_result(d, result)
                self._publish()
                if result.outcome is not Outcome.POSTED:
                    out.stopped_at = d
                    break
                if pace > 0:
                    self.sleep(pace)
            self._last_error = None
        except (LedgerError, SourceError, CalendarError) as exc:
            # a replay that dies must not leave a status that says "ok"
            self._failed(exc)
            raise
        finally:
            self.source = original
            self._publish()
        return out

    # ---- helpers -------------------------------------------------------------------------

    def _failed(self, exc: Exception, *, retry: bool = False) -> None:
        kind = ("ledger" if isinstance(exc, LedgerError)
                else "source" if isinstance(exc, SourceError) else "calendar")
        self._last_error = f"{kind}: {exc}"
        self.metrics.errors.labels(kind).inc()
        transient = isinstance(exc, LedgerUnavailableError | SourceError)
        log_event(self.log, "error", logging.WARNING if transient else logging.ERROR,
                  kind=kind, error=str(exc), retry=retry)

    def _symbols(self, kind: str) -> list[str]:
        syms = [i.symbol_for(kind) for i in self.config.instruments]
        syms += [f.symbol_for(kind) for f in self.config.fx]
        syms += [r.symbol_for(kind) for r in self.config.rates]
        return list(dict.fromkeys(syms))

    def _observations(self, d: date) -> list[Observation]:
        start = d - timedelta(days=self.config.limits.lookback_days)
        kind = self.source.kind
        try:
            closes = self.source.closes(self._symbols(kind), start, d)
        except SourceError as exc:
            if self._strict_source:
                raise
            self.metrics.errors.labels("source").inc()
            log_event(self.log, "source-error", logging.WARNING, date=d, error=str(exc))
            closes = {}
        limits = self.config.limits
        out = [
            Observation(i.token, i.symbol_for(kind), self.schedule.market(i.market),
                        closes.get(i.symbol_for(kind), {}), i.tick,
                        i.max_move or limits.max_move_for(i.asset_class))
            for i in self.config.instruments
        ]
        out += [
            Observation(f.pair, f.symbol_for(kind), self.schedule.fx_calendar,
                        closes.get(f.symbol_for(kind), {}), f.tick,
                        f.max_move or limits.max_move_for("", fx=True), is_fx=True)
            for f in self.config.fx
        ]
        # benchmark fixings: on the FX calendar, any sign, no move rule
        out += [
            Observation(r.name, r.symbol_for(kind), self.schedule.fx_calendar,
                        closes.get(r.symbol_for(kind), {}), r.tick, is_rate=True)
            for r in self.config.rates
        ]
        return out

    def _assess(self, d: date, previous: PriceBatch | None,
                confirmations: Sequence[Confirmation], carry_missing: bool,
                second: dict[str, str]) -> Assessment:
        return assess(
            d, self._observations(d), previous, confirmations, self.config.limits,
            carry_missing=carry_missing, second=second,
            second_label=self.second_source.kind if self.second_source else "second",
            source_label=self.source.label,
        )

    def _second_opinion(self, d: date, keys: list[str]) -> dict[str, str]:
        assert self.second_source is not None
        kind = self.second_source.kind
        wanted: dict[str, str] = {}
        for key in keys:
            inst, fx = self.config.instrument(key), self.config.fx_pair(key)
            if inst is not None:
                wanted[key] = inst.symbol_for(kind)
            elif fx is not None:
                wanted[key] = fx.symbol_for(kind)
        try:
            got = self.second_source.closes(list(wanted.values()), d, d)
        except SourceError as exc:
            log_event(self.log, "second-source-error", logging.WARNING, date=d, error=str(exc))
            return {}
        return {k: got[s][d] for k, s in wanted.items() if d in got.get(s, {})}

    def _previous_batch(self, d: date) -> PriceBatch | None:
        """The batch the move and carry rules compare with: the ledger's last posted one, with
        each key it lacks (a quote held back that day) taken from the latest earlier date that
        has it, so a held-back jump is not waved through the next day for want of a value."""
        lp = self.ledger.last_posted_date()
        if lp is None or lp >= d:
            return None
        if self._previous is None or self._previous.valuation_date != lp:
            self._previous = self.ledger.posted_prices(lp)
        last = self._previous
        if last is None:
            return None
        prices, fx, rates = dict(last.prices), dict(last.fx), dict(last.rates)
        lacking = ({i.token for i in self.config.instruments} - set(prices)) | (
            {f.pair for f in self.config.fx} - set(fx)) | (
            {r.name for r in self.config.rates} - set(rates))
        day = lp
        for _ in range(self.config.limits.lookback_days):
            if not lacking:
                break
            day -= timedelta(days=1)
            if day not in self._older:  # posted batches only grow: cache what was read
                self._older[day] = self.ledger.posted_prices(day)
            older = self._older[day]
            if older is None:
                continue
            for key in list(lacking):
                for theirs, mine in ((older.prices, prices), (older.fx, fx),
                                     (older.rates, rates)):
                    if key in theirs:
                        mine[key] = theirs[key]
                        lacking.discard(key)
                        break
        if (len(prices), len(fx), len(rates)) == (len(last.prices), len(last.fx),
                                                  len(last.rates)):
            return last
        return PriceBatch(lp, prices, fx, last.source, rates)

    def _load_confirmations(self) -> list[Confirmation]:
        from_file = self.state.confirmations() if self.state is not None else []
        return [*self._confirmations, *from_file]

    def _refuse(self, d: date, refusals: list[Refusal]) -> None:
        self._blocked = (d, refusals)
        self._waiting = None
        self.metrics.blocked.set(1)
        self._report_refusals(d, refusals, "refused")
        log_event(self.log, "blocked", logging.WARNING, date=d,
                  instruments=[r.key for r in refusals],
                  action=f"fix the source or run: tanpo oracle confirm {d} <INSTRUMENT>")

    def status(self) -> dict[str, Any]:
        """The status document written to ``status.json`` and shown by ``tanpo oracle status``."""
        if self._blocked is not None:
            state = "blocked"
        elif self._last_error is not None:
            state = "error"
        elif self._waiting is not None:
            state = "waiting"
        elif self._failures or self._held:
            state = "degraded"  # the book is margined except what a failure or hold concerns
        else:
            state = "ok"
        blocked = None
        if self._blocked is not None:
            blocked = {"date": self._blocked[0].isoformat(),
                       "refusals": [r.to_dict() for r in self._blocked[1]]}
        nxt = None
        if self._next is not None:
            nxt = {"date": self._next[0].isoformat(), "posting_time": self._next[1].isoformat()}
        return {
            "updated": self.clock().isoformat(),
            "mode": self.mode,
            "state": state,
            "source": self.source.label,
            "ledger": {k: (v.isoformat() if v else None) for k, v in self._view.items()},
            "next": nxt,
            "blocked": blocked,
            "waiting": self._waiting,
            "last_error": self._last_error,
            "held_back": [{**r.to_dict(), "action": f"tanpo oracle confirm {d} {r.key}"}
                          for d, rs in sorted(self._held.items()) for r in rs],
            "failures": sorted(self._failures.values(),
                               key=lambda f: (f["date"], f["agreement"])),
            "recent": list(self._recent),
            "refusal_log": list(self._refusal_log),
        }

    def _publish(self) -> None:
        self.metrics.held_back.set(sum(len(v) for v in self._held.values()))
        self.metrics.agreements_failing.set(len(self._failures))
        status = self.status()
        self.health.beat(status["state"], last_posted=status["ledger"]["last_posted"],
                         last_swept=status["ledger"]["last_swept"],
                         blocked_date=(status["blocked"] or {}).get("date"),
                         last_error=status["last_error"])
        if self.state is not None:
            try:
                self.state.write_status(status)
            except OSError as exc:
                log_event(self.log, "status-write-failed", logging.ERROR, error=str(exc))


def _posted_value(batch: PriceBatch, key: str) -> Decimal | None:
    for section in (batch.prices, batch.fx, batch.rates):
        if key in section:
            return section[key].value
    return None


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
