"""The daemon: post, commit, then sweep; restart safety; replay; the live loop on a fake clock."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tanpo.client.models import SweepOutcome
from tanpo.oracle.config import (
    FxConfig,
    InstrumentConfig,
    OracleConfig,
    ScheduleConfig,
    default_config,
)
from tanpo.oracle.daemon import Oracle, Outcome
from tanpo.oracle.ledger import (
    Ledger,
    LedgerUnavailableError,
    PriceBatch,
    SweepRun,
)
from tanpo.oracle.memledger import FakeAgreement, MemoryLedger
from tanpo.oracle.sources import FileSource, StaticSource
from tanpo.oracle.status import StateFiles
from tanpo.oracle.validation import Confirmation, Rule

D = date.fromisoformat
FIXTURES = Path(__file__).parents[1] / "fixtures" / "oracle"


def Z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class RecordingLedger(MemoryLedger):
    """The fake ledger, noting each committed post and each sweep request in order."""

    events: list[tuple[str, date]] = field(default_factory=list)

    def post_prices(self, batch: PriceBatch) -> None:
        super().post_prices(batch)
        self.events.append(("committed", batch.valuation_date))

    def sweep(self, valuation_date: date, batch_size: int) -> SweepRun:
        self.events.append(("sweep", valuation_date))
        return super().sweep(valuation_date, batch_size)


def agreements(n: int, start: date | None = None) -> list[FakeAgreement]:
    return [FakeAgreement(f"AGR-{i:03d}", "bank-a", "bank-b", "JPY", "JP8306", 1000 + i, "JPY",
                          haircut=Decimal("0.05"), start=start) for i in range(n)]


def paper_config(**schedule: Any) -> OracleConfig:
    return replace(default_config(), sweep_batch_size=4,
                   schedule=replace(ScheduleConfig(), **schedule))


def paper_ledger(cls: type[MemoryLedger] = MemoryLedger, per_token: int = 2,
                 **faults: Any) -> MemoryLedger:
    base = MemoryLedger.demo([(f"JP{c}", "JPY") for c in ("8306", "8604", "4901", "7013",
                                                           "8031")], per_token)
    return cls(agreements=base.agreements, token_currency=base.token_currency, **faults)


def fixture_oracle(ledger: Ledger, tmp_path: Path | None = None, **kw: Any) -> Oracle:
    state = StateFiles(tmp_path / "state") if tmp_path is not None else None
    return Oracle(paper_config(), ledger, FileSource(FIXTURES / "market"), state=state,
                  mode="replay", **kw)


# ---- post, commit, then sweep --------------------------------------------------------------


def test_each_date_is_committed_before_its_sweep() -> None:
    ledger = paper_ledger(RecordingLedger)
    assert isinstance(ledger, RecordingLedger)
    fixture_oracle(ledger).replay(D("2009-07-01"), D("2009-07-10"))
    dates = sorted(ledger.batches)
    assert dates, "something was posted"
    for d in dates:
        committed = ledger.events.index(("committed", d))
        sweeps = [i for i, e in enumerate(ledger.events) if e == ("sweep", d)]
        assert sweeps and committed < min(sweeps)
        later = [i for i, (_, day) in enumerate(ledger.events) if day > d]
        assert not later or max(sweeps) < min(later), "a date is swept before the next posts"


def test_no_sweep_when_the_post_did_not_commit(tmp_path: Path) -> None:
    @dataclass
    class Down(RecordingLedger):
        def post_prices(self, batch: PriceBatch) -> None:
            raise LedgerUnavailableError("orderer unreachable")

    ledger = paper_ledger(Down)
    assert isinstance(ledger, RecordingLedger)
    clock = Clock(Z("2009-07-01T23:00"))
    oracle = Oracle(paper_config(start_date=D("2009-07-01")), ledger,
                    FileSource(FIXTURES / "market"), clock=clock,
                    state=StateFiles(tmp_path / "s"))
    assert oracle.tick() == []
    assert ledger.events == [] and not ledger.batches
    assert oracle.status()["state"] == "error"
    assert "orderer unreachable" in oracle.status()["last_error"]


def test_sweep_runs_in_batches_and_reports() -> None:
    ledger = MemoryLedger(agreements=agreements(7), token_currency={"JP8306": "JPY"})
    cfg = replace(paper_config(), sweep_batch_size=3,
                  instruments=default_config().instruments[:1], fx=())
    oracle = Oracle(cfg, ledger, FileSource(FIXTURES / "market"), mode="replay")
    first = oracle.process_date(D("2009-07-01"))
    second = oracle.process_date(D("2009-07-02"))
    assert first.sweep is not None and second.sweep is not None
    assert (first.sweep.pages, first.sweep.agreements, first.sweep.calls_triggered) == (3, 7, 7)
    assert first.sweep.transfers == 0  # day 0 opens the loans at the collateral's value
    assert second.sweep.transfers == 7 and second.sweep.replayed == 0


class PrivateCallsLedger(MemoryLedger):
    """A ledger whose sweep answers as Fabric's does to the operator: called or replayed, without
    what each call decided (the calls are private to each pair)."""

    def sweep(self, valuation_date: date, batch_size: int) -> Any:
        run = super().sweep(valuation_date, batch_size)
        compact = [SweepOutcome.from_json({"agreement": o.agreement, "status": o.status},
                                          valuation_date) for o in run.outcomes]
        return replace(run, outcomes=tuple(compact))


def test_figures_the_ledger_keeps_private_are_reported_as_unknown_not_zero() -> None:
    ledger = PrivateCallsLedger(agreements=agreements(4), token_currency={"JP8306": "JPY"})
    cfg = replace(paper_config(), instruments=default_config().instruments[:1], fx=())
    oracle = Oracle(cfg, ledger, FileSource(FIXTURES / "market"), mode="replay")
    oracle.process_date(D("2009-07-01"))
    second = oracle.process_date(D("2009-07-02"))
    assert second.sweep is not None and second.sweep.agreements == 4
    assert (second.sweep.calls_triggered, second.sweep.transfers,
            second.sweep.issuance_required) == (None, None, None)
    assert second.sweep.to_dict()["transfers"] is None


class MaturingLedger(MemoryLedger):
    """A ledger whose sweep answers, as the chaincode's daily cycle does, that AGR-000 reached
    maturity and closed and AGR-001 matured with a closing exchange that could not settle."""

    def sweep(self, valuation_date: date, batch_size: int) -> Any:
        run = super().sweep(valuation_date, batch_size)
        cycle = {"AGR-000": {"status": "closed", "reason": "maturity"},
                 "AGR-001": {"status": "called", "reason": "close_failed"}}
        outcomes = [SweepOutcome.from_json({"agreement": o.agreement, "status": o.status,
                                            **cycle.get(o.agreement, {})}, valuation_date)
                    for o in run.outcomes]
        return replace(run, outcomes=tuple(outcomes))


def test_the_cycles_closed_and_matured_agreements_are_reported(caplog: Any) -> None:
    ledger = MaturingLedger(agreements=agreements(3), token_currency={"JP8306": "JPY"})
    cfg = replace(paper_config(), instruments=default_config().instruments[:1], fx=())
    oracle = Oracle(cfg, ledger, FileSource(FIXTURES / "market"), mode="replay")
    with caplog.at_level("WARNING"):
        result = oracle.process_date(D("2009-07-01"))
    sweep = result.sweep
    assert sweep is not None and sweep.closed == ("AGR-000",) and sweep.matured == ("AGR-001",)
    assert sweep.agreements == 2  # AGR-001 is still margined; AGR-000 has no call
    assert sweep.to_dict()["closed"] == ["AGR-000"] and sweep.to_dict()["matured"] == ["AGR-001"]
    (record,) = [r for r in caplog.records if r.getMessage() == "matured-awaiting-return"]
    assert "AGR-001" in str(record.__dict__)


def test_a_failed_call_fails_alone_and_the_date_stays_unswept() -> None:
    # AGR-002's collateral has no price: its call fails, the others are margined, and the
    # date is not recorded as swept until it has its call (or a later one)
    unpriced = FakeAgreement("AGR-002", "bank-a", "bank-b", "JPY", "JP9999", 100, "JPY")
    ledger = MemoryLedger(agreements=[*agreements(2), unpriced],
        token_currency={"JP8306": "JPY", "JP9999": "JPY"})
    cfg = replace(paper_config(), instruments=default_config().instruments[:1], fx=())
    oracle = Oracle(cfg, ledger, FileSource(FIXTURES / "market"), mode="replay")
    result = oracle.process_date(D("2009-07-01"))
    assert result.outcome is Outcome.POSTED and result.sweep is not None
    assert not result.sweep.swept and result.sweep.agreements == 2
    ((agreement, reason),) = result.sweep.failed
    assert agreement == "AGR-002" and "no price for JP9999" in reason
    assert {a for a, _ in ledger.calls} == {"AGR-000", "AGR-001"}
    assert ledger.last_swept_date() is None
    run = ledger.sweep(D("2009-07-01"), 10)
    assert [o.status for o in run.outcomes] == ["replayed", "replayed", "failed"]
    (failure,) = oracle.status()["failures"]
    assert (failure["agreement"], failure["date"]) == ("AGR-002", "2009-07-01")
    assert oracle.status()["state"] == "degraded"


def poisoned_ledger() -> MemoryLedger:
    """The paper book plus two agreements that cannot be priced: one whose base currency has
    no FX rate, one whose collateral token has no price."""
    base = paper_ledger()
    bad = [FakeAgreement("BAD-CHF", "bank-a", "bank-b", "JPY", "JP8306", 1000, "CHF"),
           FakeAgreement("BAD-NOPRICE", "bank-a", "bank-b", "JPY", "JP9999", 1000, "JPY")]
    return MemoryLedger(agreements=[*base.agreements, *bad],
                        token_currency={**base.token_currency, "JP9999": "JPY"})


def test_unpriceable_agreements_do_not_stop_the_replay(tmp_path: Path) -> None:
    """Issue 16 item 1: an unknown base currency or an unpriced token fails alone; every date
    is still posted and every other agreement margined exactly once per date."""
    ledger = poisoned_ledger()
    oracle = fixture_oracle(ledger, tmp_path)
    result = oracle.replay(D("2009-07-01"), D("2009-07-10"))
    assert result.stopped_at is None
    days = sorted(ledger.batches)
    assert [r.valuation_date for r in result.posted] == days and len(days) == 8
    good = [a.agreement_id for a in ledger.agreements if not a.agreement_id.startswith("BAD")]
    assert ledger.call_counts == {(a, d): 1 for a in good for d in days}
    for r in result.posted:
        assert r.sweep is not None and {a for a, _ in r.sweep.failed} == {
            "BAD-CHF", "BAD-NOPRICE"}
    assert ledger.last_swept_date() is None  # the truth: no date has every call
    doc = json.loads((tmp_path / "state" / "status.json").read_text())
    assert doc["state"] == "degraded" and doc["last_error"] is None
    failing = {f["agreement"]: f for f in doc["failures"]}
    assert set(failing) == {"BAD-CHF", "BAD-NOPRICE"}
    assert (failing["BAD-CHF"]["since"], failing["BAD-CHF"]["date"]) == (
        "2009-07-01", "2009-07-10")
    assert "no price for JP9999" in failing["BAD-NOPRICE"]["reason"]
    assert oracle.metrics.call_failures._value.get() == 2 * len(days)

    # a new process resumes from the ledger alone and replays what it already did, once
    again = fixture_oracle(ledger, tmp_path).replay(D("2009-07-01"), D("2009-07-10"))
    assert again.stopped_at is None and set(ledger.call_counts.values()) == {1}


def test_a_failed_call_is_retried_and_its_date_then_counts_as_swept() -> None:
    # no USDJPY close yet on 07-01: the rate is held back (missing), the USD-based agreement
    # fails alone that day, is called on 07-02, and the ledger then counts both dates as swept
    ledger = MemoryLedger(
        agreements=[*agreements(2),
                    FakeAgreement("AGR-USD", "bank-a", "bank-b", "JPY", "JP8306", 1000, "USD")],
        token_currency={"JP8306": "JPY"})
    cfg = replace(paper_config(), instruments=default_config().instruments[:1],
                  fx=default_config().fx[:1])
    data = {"8306.T": {D("2009-07-01"): "602.0", D("2009-07-02"): "600.0"},
            "JPY=X": {D("2009-07-02"): "96.000"}}
    oracle = Oracle(cfg, ledger, StaticSource(data), mode="replay")
    first = oracle.process_date(D("2009-07-01"))
    assert [r.key for r in first.held_back] == ["USDJPY"]
    assert first.sweep is not None and [a for a, _ in first.sweep.failed] == ["AGR-USD"]
    assert oracle.status()["state"] == "degraded"
    second = oracle.process_date(D("2009-07-02"))
    assert second.sweep is not None and not second.sweep.failed and second.sweep.swept
    assert ledger.last_swept_date() == D("2009-07-02")
    assert oracle.status()["failures"] == [] and oracle.status()["held_back"] == []
    assert oracle.status()["state"] == "ok"


def test_an_fx_only_batch_does_not_stall_the_replay() -> None:
    """Issue 16 item 1: an oracle configured for FX alone posts batches without token prices;
    every agreement priced in tokens fails alone on each date and the replay still goes through
    every date (it used to stop on the first unfinishable sweep)."""
    ledger = MemoryLedger(agreements=agreements(3), token_currency={"JP8306": "JPY"})
    cfg = replace(paper_config(), instruments=(), fx=default_config().fx[:1])
    days = [D("2009-07-01"), D("2009-07-02"), D("2009-07-03")]
    data = {"JPY=X": {d: rate for d, rate in zip(days, ("96.0", "95.5", "95.8"), strict=True)}}
    oracle = Oracle(cfg, ledger, StaticSource(data), mode="replay")
    result = oracle.replay(days[0], days[-1])
    assert result.stopped_at is None
    assert [r.valuation_date for r in result.posted] == days
    for r in result.posted:
        assert r.sweep is not None and len(r.sweep.failed) == 3
        assert all("JP8306" in reason for _, reason in r.sweep.failed)
    assert sorted(ledger.batches) == days
    assert ledger.last_swept_date() is None and oracle.status()["state"] == "degraded"


def test_a_replay_that_fails_says_so_in_the_status(tmp_path: Path) -> None:
    """Issue 16 item 5: a replay that dies leaves its error in the status, not "ok"."""
    ledger = paper_ledger(fail_after_calls=3)
    with pytest.raises(LedgerUnavailableError):
        fixture_oracle(ledger, tmp_path).replay(D("2009-07-01"), D("2009-07-03"))
    doc = json.loads((tmp_path / "state" / "status.json").read_text())
    assert doc["state"] == "error"
    assert "peer went away mid-sweep" in doc["last_error"]


# ---- replay -----------------------------------------------------------------------------


def test_replay_a_window_into_the_fake_ledger(tmp_path: Path) -> None:
    ledger = paper_ledger()
    oracle = fixture_oracle(ledger, tmp_path)
    result = oracle.replay(D("2009-07-01"), D("2009-07-31"))
    tokyo_days = [d for d in (D("2009-07-01") + timedelta(days=i) for i in range(31))
                  if d.weekday() < 5 and d != D("2009-07-20")]  # Marine Day
    assert result.stopped_at is None
    assert [r.valuation_date for r in result.posted] == tokyo_days
    assert sorted(ledger.batches) == tokyo_days and ledger.swept == set(tokyo_days)
    assert set(ledger.call_counts.values()) == {1}
    assert len(ledger.call_counts) == 10 * len(tokyo_days)
    assert sum(r.sweep.calls_triggered for r in result.posted if r.sweep) == 10 * len(tokyo_days)
    assert ledger.batches[D("2009-07-01")].prices["JP8306"].value == Decimal("602.0")
    assert ledger.batches[D("2009-07-01")].source == "file:market"

    again = oracle.replay(D("2009-07-01"), D("2009-07-31"))
    assert again.skipped == tokyo_days and not again.results
    assert ledger.post_transactions == len(tokyo_days) and set(ledger.call_counts.values()) == {1}


def test_replay_daily_carries_weekends_like_the_live_oracle() -> None:
    ledger = paper_ledger()
    fixture_oracle(ledger).replay(D("2009-07-03"), D("2009-07-06"), days="daily")
    sat = ledger.batches[D("2009-07-04")]
    assert sat.prices["JP8306"].as_of == D("2009-07-03")
    assert set(sat.carried()) == {*sat.prices, *sat.fx}


def test_replay_at_a_pace_sleeps_between_dates() -> None:
    naps: list[float] = []
    fixture_oracle(paper_ledger(), sleep=naps.append).replay(
        D("2009-07-01"), D("2009-07-03"), pace=0.25)
    assert naps == [0.25, 0.25, 0.25]


def test_yahoo_swap_defect_of_2008_10_08_is_held_back_until_fixed(tmp_path: Path) -> None:
    """Real data: Yahoo's 2008-10-08 USDJPY/EURUSD rows carry August values (SOURCES.md).
    Issue 16 item 1: held back, they stop nothing else: the JPY-only book uses neither pair,
    nor EURJPY, whose violent +8.3 % on 2008-10-28 is held back too."""
    ledger = paper_ledger()
    oracle = fixture_oracle(ledger, tmp_path)
    result = oracle.replay(D("2008-10-01"), D("2008-10-31"))
    assert result.stopped_at is None
    held = {(r.valuation_date, r.key, r.rule) for d in result.results for r in d.held_back}
    assert {(D("2008-10-08"), "USDJPY", Rule.MOVE), (D("2008-10-08"), "EURUSD", Rule.MOVE),
            (D("2008-10-28"), "EURJPY", Rule.MOVE)} <= held
    days = sorted(ledger.batches)
    assert days[-1] == D("2008-10-31") and ledger.last_swept_date() == D("2008-10-31")
    assert ledger.call_counts == {(a.agreement_id, d): 1 for a in ledger.agreements
                                  for d in days}
    assert "USDJPY" not in ledger.batches[D("2008-10-08")].fx
    assert "JP8306" in ledger.batches[D("2008-10-08")].prices
    doc = json.loads((tmp_path / "state" / "status.json").read_text())
    # each pair posted again later, which superseded its holds; the log keeps them
    assert doc["state"] == "ok" and doc["held_back"] == []
    assert {(h["date"], h["instrument"]) for h in doc["refusal_log"]} >= {
        ("2008-10-08", "USDJPY"), ("2008-10-28", "EURJPY")}

    # the operator enters the FRED noon rates for that day; the replay adds them to the date
    state = StateFiles(tmp_path / "state")
    for key, value in (("USDJPY", "99.73"), ("EURUSD", "1.3680")):
        state.add_confirmation(Confirmation(D("2008-10-08"), key, Decimal(value), "ops",
                                            manual=True))
    again = fixture_oracle(ledger, tmp_path).replay(D("2008-10-01"), D("2008-10-31"))
    assert [r.valuation_date for r in again.completed] == [D("2008-10-08")]
    posted = ledger.batches[D("2008-10-08")]
    assert posted.fx["USDJPY"].value == Decimal("99.73")
    assert posted.fx["USDJPY"].confirmed_by == "operator:ops"
    assert posted.prices["JP8306"] == ledger.batches[D("2008-10-08")].prices["JP8306"]
    assert set(ledger.call_counts.values()) == {1}


def test_a_held_back_quote_halts_only_the_agreements_that_use_it(tmp_path: Path) -> None:
    # 2008-10-08: USDJPY and EURUSD held back; a USD-based agreement cannot be priced (no
    # USD rate, direct or through EUR) and waits; the JPY ones are margined; the next day
    # margins the USD one again
    base = paper_ledger(per_token=1)
    usd = FakeAgreement("USD-1", "bank-a", "bank-b", "USD", "JP8306", 10_000, "USD")
    ledger = MemoryLedger(agreements=[*base.agreements, usd],
                          token_currency=base.token_currency)
    oracle = fixture_oracle(ledger, tmp_path)
    assert oracle.replay(D("2008-10-06"), D("2008-10-10")).stopped_at is None
    days = sorted(ledger.batches)
    assert days[-1] == D("2008-10-10") and D("2008-10-08") in days
    called = {d for (a, d) in ledger.calls if a == "USD-1"}
    assert called == set(days) - {D("2008-10-08")}
    assert all((a.agreement_id, d) in ledger.calls for a in base.agreements for d in days)


# ---- restart safety -----------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 3, 4, 9, 10, 17])
def test_crash_in_the_middle_of_a_sweep_then_restart(k: int) -> None:
    """The ledger fails after k fresh margin calls; a new daemon finishes without a second
    call for any agreement."""
    ledger = paper_ledger(fail_after_calls=k)
    window = (D("2009-07-01"), D("2009-07-03"))
    with pytest.raises(LedgerUnavailableError):
        fixture_oracle(ledger).replay(*window)
    crashed_on = ledger.last_posted_date()
    assert crashed_on is not None and ledger.last_swept_date() != crashed_on
    done_before = sum(1 for (_, d) in ledger.calls if d == crashed_on)
    assert done_before == k % 10

    restarted = fixture_oracle(ledger)  # a new process: nothing but the ledger survives
    result = restarted.replay(*window)
    assert result.stopped_at is None
    (resumed,) = result.resumed
    assert (resumed.valuation_date, resumed.replayed, resumed.agreements) == (
        crashed_on, done_before, 10)
    days = [D("2009-07-01"), D("2009-07-02"), D("2009-07-03")]
    assert ledger.swept == set(days)
    assert ledger.call_counts == {(a.agreement_id, d): 1 for a in ledger.agreements
                                  for d in days}


def test_lost_commit_status_does_not_post_twice() -> None:
    ledger = paper_ledger(fail_post_after_commit=True)
    with pytest.raises(LedgerUnavailableError):
        fixture_oracle(ledger).replay(D("2009-07-01"), D("2009-07-02"))
    assert ledger.post_transactions == 1 and ledger.last_swept_date() is None
    result = fixture_oracle(ledger).replay(D("2009-07-01"), D("2009-07-02"))
    assert [r.valuation_date for r in result.resumed] == [D("2009-07-01")]
    assert ledger.post_transactions == 2  # 07-01 once, 07-02 once
    assert set(ledger.call_counts.values()) == {1}


def test_posting_the_same_date_twice_is_a_no_op() -> None:
    ledger = paper_ledger()
    oracle = fixture_oracle(ledger)
    oracle.process_date(D("2009-07-01"))
    batch = ledger.batches[D("2009-07-01")]
    ledger.post_prices(batch)
    ledger.post_prices(PriceBatch.from_json(batch.to_json()))
    assert ledger.post_transactions == 1
    again = oracle.process_date(D("2009-07-01"))
    assert again.outcome is Outcome.ALREADY_POSTED and again.sweep is None
    assert set(ledger.call_counts.values()) == {1}


# ---- live, on a fake clock ----------------------------------------------------------------


def live_config(**schedule: Any) -> OracleConfig:
    return OracleConfig(
        instruments=(InstrumentConfig("JP8306", "8306.T", "XTKS", "JPY", Decimal("0.1")),
                     InstrumentConfig("US-AAPL", "AAPL", "XNYS", "USD", Decimal("0.01"))),
        fx=(FxConfig("USDJPY", "JPY=X", Decimal("0.001")),),
        schedule=replace(ScheduleConfig(start_date=D("2024-01-04")), **schedule),
        sweep_batch_size=2,
    )


def live_data() -> dict[str, dict[date, str]]:
    days = [D("2024-01-04") + timedelta(days=i) for i in range(13)]
    days = [d for d in days if d.weekday() < 5]
    return {
        "8306.T": {d: f"{1300 + i}.0" for i, d in enumerate(days) if d != D("2024-01-08")},
        "AAPL": {d: f"{185 + i}.00" for i, d in enumerate(days) if d != D("2024-01-15")},
        "JPY=X": {d: f"{144 + i}.000" for i, d in enumerate(days)},
    }


def live(tmp_path: Path, data: dict[str, dict[date, str]], clock: Clock,
         ledger: MemoryLedger | None = None) -> tuple[Oracle, MemoryLedger]:
    ledger = ledger or MemoryLedger(
        agreements=[FakeAgreement("AGR-1", "bank-a", "bank-b", "JPY", "JP8306", 1000, "JPY"),
                    FakeAgreement("AGR-2", "bank-a", "bank-b", "USD", "US-AAPL", 50, "USD")],
        token_currency={"JP8306": "JPY", "US-AAPL": "USD"})
    return Oracle(live_config(), ledger, StaticSource(data), clock=clock,
                  state=StateFiles(tmp_path / "state")), ledger


def test_live_posts_each_date_once_its_markets_have_closed(tmp_path: Path) -> None:
    clock = Clock(Z("2024-01-05T23:00"))
    oracle, ledger = live(tmp_path, live_data(), clock)
    assert [r.valuation_date for r in oracle.tick()] == [D("2024-01-04"), D("2024-01-05")]
    clock.now = Z("2024-01-07T12:00")  # Sunday
    assert oracle.tick() == []
    clock.now = Z("2024-01-08T22:29")  # Tokyo holiday, New York still open
    assert oracle.tick() == []
    assert oracle.status()["next"] == {"date": "2024-01-08",
                                       "posting_time": "2024-01-08T22:30:00+00:00"}
    clock.now = Z("2024-01-08T22:31")
    (r,) = oracle.tick()
    assert r.outcome is Outcome.POSTED
    assert ledger.batches[D("2024-01-08")].prices["JP8306"].as_of == D("2024-01-05")
    clock.now = Z("2024-01-16T23:00")  # across the US holiday
    posted = [r.valuation_date for r in oracle.tick()]
    assert posted == [D("2024-01-09"), D("2024-01-10"), D("2024-01-11"), D("2024-01-12"),
                      D("2024-01-15"), D("2024-01-16")]
    assert ledger.batches[D("2024-01-15")].prices["US-AAPL"].as_of == D("2024-01-12")
    assert ledger.last_swept_date() == D("2024-01-16")
    assert set(ledger.call_counts.values()) == {1}


def test_live_waits_for_a_late_close_then_carries_it(tmp_path: Path) -> None:
    data = live_data()
    del data["AAPL"][D("2024-01-09")]
    clock = Clock(Z("2024-01-09T22:31"))
    oracle, ledger = live(tmp_path, data, clock)
    results = oracle.tick()
    assert results[-1].outcome is Outcome.WAITING
    assert D("2024-01-09") not in ledger.batches
    assert oracle.status()["waiting"]["instruments"] == ["US-AAPL"]
    clock.now = Z("2024-01-09T23:31")  # past posting time + 60 min grace
    (r,) = oracle.tick()
    assert r.outcome is Outcome.POSTED
    assert ledger.batches[D("2024-01-09")].prices["US-AAPL"].as_of == D("2024-01-08")


def test_live_refusal_holds_back_only_its_quote_until_confirmed(tmp_path: Path) -> None:
    data = live_data()
    data["8306.T"][D("2024-01-09")] = "n/a?"
    clock = Clock(Z("2024-01-09T23:00"))
    oracle, ledger = live(tmp_path, data, clock)
    oracle.tick()
    # the date posts without JP8306; AGR-2 (US-AAPL) is margined, AGR-1 waits for its price
    assert max(ledger.batches) == D("2024-01-09")
    assert "JP8306" not in ledger.batches[D("2024-01-09")].prices
    assert ("AGR-2", D("2024-01-09")) in ledger.calls
    assert ("AGR-1", D("2024-01-09")) not in ledger.calls
    status = StateFiles(tmp_path / "state").read_status()
    assert status is not None and status["state"] == "degraded"
    (held,) = status["held_back"]
    assert (held["instrument"], held["rule"]) == ("JP8306", "malformed")
    assert StateFiles(tmp_path / "state").blocking_refusals(D("2024-01-09"))
    oracle.tick()  # reported once, not on every pass
    assert oracle.metrics.refusals.labels("malformed")._value.get() == 1
    # the next date posts JP8306 and margins AGR-1: that supersedes the hold
    clock.now = Z("2024-01-11T23:00")
    oracle.tick()
    assert ("AGR-1", D("2024-01-10")) in ledger.calls
    assert oracle.status()["held_back"] == [] and oracle.status()["state"] == "ok"
    assert ledger.last_swept_date() == D("2024-01-11")


def test_live_confirmation_adds_the_held_back_quote_to_its_date(tmp_path: Path) -> None:
    data = live_data()
    data["8306.T"][D("2024-01-09")] = "n/a?"
    clock = Clock(Z("2024-01-09T23:00"))
    oracle, ledger = live(tmp_path, data, clock)
    oracle.tick()
    assert ("AGR-1", D("2024-01-09")) not in ledger.calls
    assert oracle.status()["state"] == "degraded"
    StateFiles(tmp_path / "state").add_confirmation(
        Confirmation(D("2024-01-09"), "JP8306", Decimal("1303"), "ops", manual=True))
    oracle.tick()
    assert ledger.batches[D("2024-01-09")].prices["JP8306"].value == Decimal("1303")
    assert ("AGR-1", D("2024-01-09")) in ledger.calls
    assert ledger.last_swept_date() == D("2024-01-09")
    assert oracle.status()["state"] == "ok"


def test_live_failed_call_moves_on_and_is_retried(tmp_path: Path) -> None:
    """Issue 16 item 1: ``oracle run`` does not retry one date forever for one agreement."""
    ledger = MemoryLedger(
        agreements=[FakeAgreement("AGR-1", "bank-a", "bank-b", "JPY", "JP8306", 1000, "JPY"),
                    FakeAgreement("AGR-X", "bank-a", "bank-b", "JPY", "JP8306", 1000, "CHF")],
        token_currency={"JP8306": "JPY", "US-AAPL": "USD"})
    clock = Clock(Z("2024-01-05T23:00"))
    oracle, _ = live(tmp_path, live_data(), clock, ledger)
    assert [r.valuation_date for r in oracle.tick()] == [D("2024-01-04"), D("2024-01-05")]
    clock.now = Z("2024-01-09T23:00")
    assert [r.valuation_date for r in oracle.tick()] == [D("2024-01-08"), D("2024-01-09")]
    assert {d for (a, d) in ledger.calls if a == "AGR-1"} == {
        D("2024-01-04"), D("2024-01-05"), D("2024-01-08"), D("2024-01-09")}
    (failure,) = oracle.status()["failures"]
    assert failure["agreement"] == "AGR-X" and failure["since"] == "2024-01-04"
    assert failure["attempts"] >= 4
    assert oracle.status()["state"] == "degraded"


def test_live_restart_needs_nothing_but_the_ledger(tmp_path: Path) -> None:
    clock = Clock(Z("2024-01-09T23:00"))
    oracle, ledger = live(tmp_path, live_data(), clock)
    oracle.tick()
    shutil.rmtree(tmp_path / "state")
    clock.now = Z("2024-01-11T23:00")
    fresh, _ = live(tmp_path, live_data(), clock, ledger)
    assert [r.valuation_date for r in fresh.tick()] == [D("2024-01-10"), D("2024-01-11")]
    assert set(ledger.call_counts.values()) == {1}


def test_live_crash_mid_sweep_is_finished_on_the_next_pass(tmp_path: Path) -> None:
    clock = Clock(Z("2024-01-05T23:00"))
    oracle, ledger = live(tmp_path, live_data(), clock)
    ledger.fail_after_calls = 3  # 01-04 has two calls; 01-05 fails after AGR-1
    oracle.tick()
    assert ledger.last_posted_date() == D("2024-01-05")
    assert ledger.last_swept_date() == D("2024-01-04")
    assert oracle.status()["state"] == "error"
    oracle.tick()
    assert ledger.last_swept_date() == D("2024-01-05")
    assert set(ledger.call_counts.values()) == {1} and len(ledger.call_counts) == 4


def test_run_forever_stops_when_asked(tmp_path: Path) -> None:
    clock = Clock(Z("2024-01-05T23:00"))
    oracle, ledger = live(tmp_path, live_data(), clock)
    stop = threading.Event()
    ticks = 0
    original = oracle.tick

    def tick() -> Any:
        nonlocal ticks
        ticks += 1
        stop.set()
        return original()

    oracle.tick = tick  # type: ignore[method-assign]
    oracle.run_forever(stop)
    assert ticks == 1 and ledger.last_swept_date() == D("2024-01-05")
