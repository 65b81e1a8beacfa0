"""Validation rules: each bad value is refused with its reason and held back from its date's
batch; the rest of the date is posted, and only the agreements that use it are not margined."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tanpo.oracle.calendars import get_calendar
from tanpo.oracle.config import (
    FxConfig,
    InstrumentConfig,
    LimitsConfig,
    OracleConfig,
    SourceConfig,
)
from tanpo.oracle.daemon import Oracle, Outcome
from tanpo.oracle.ledger import PriceBatch, Quote
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.sources import StaticSource
from tanpo.oracle.status import StateFiles
from tanpo.oracle.validation import (
    Confirmation,
    MalformedCloseError,
    Observation,
    Rule,
    assess,
    to_decimal,
)

D = date.fromisoformat
# 2024-01-04 .. 2024-01-16: Tokyo is closed on 01-08 (Coming of Age Day), New York on 01-15 (MLK).
WEEKDAYS = [D("2024-01-04") + timedelta(days=i) for i in range(13)]
WEEKDAYS = [d for d in WEEKDAYS if d.weekday() < 5]
TOKYO_HOLIDAY, US_HOLIDAY = D("2024-01-08"), D("2024-01-15")


def config(**limits: Any) -> OracleConfig:
    return OracleConfig(
        source=SourceConfig("static"),
        instruments=(
            InstrumentConfig("JP8306", "8306.T", "XTKS", "JPY", Decimal("0.1")),
            InstrumentConfig("US-AAPL", "AAPL", "XNYS", "USD", Decimal("0.01")),
        ),
        fx=(
            FxConfig("USDJPY", "JPY=X", Decimal("0.001")),
            FxConfig("EURUSD", "EURUSD=X", Decimal("0.00001")),
            FxConfig("EURJPY", "EURJPY=X", Decimal("0.001")),
        ),
        limits=LimitsConfig(**limits),
        sweep_batch_size=2,
    )


def market() -> dict[str, dict[date, str]]:
    """Plausible closes on each market's own sessions."""
    data: dict[str, dict[date, str]] = {s: {} for s in
                                        ("8306.T", "AAPL", "JPY=X", "EURUSD=X", "EURJPY=X")}
    for i, d in enumerate(WEEKDAYS):
        if d != TOKYO_HOLIDAY:
            data["8306.T"][d] = f"{1300 + i}.0"
        if d != US_HOLIDAY:
            data["AAPL"][d] = f"{185 + i / 10:.2f}"
        usdjpy, eurusd = Decimal(144) + Decimal(i) / 10, Decimal("1.09")
        data["JPY=X"][d] = str(usdjpy)
        data["EURUSD=X"][d] = str(eurusd)
        data["EURJPY=X"][d] = str((usdjpy * eurusd).quantize(Decimal("0.001")))
    return data


def oracle(tmp_path: Path, data: dict[str, dict[date, str]], cfg: OracleConfig | None = None,
           second: StaticSource | None = None,
           confirmations: list[Confirmation] | None = None) -> tuple[Oracle, MemoryLedger]:
    cfg = cfg or config()
    ledger = MemoryLedger.demo((i.token, i.currency) for i in cfg.instruments)
    o = Oracle(cfg, ledger, StaticSource(data), second_source=second,
               state=StateFiles(tmp_path / "state"), confirmations=confirmations or [],
               mode="replay")
    return o, ledger


def refused_on(o: Oracle, ledger: MemoryLedger, start: date, end: date, d: date) -> list[Any]:
    """Replay start..end, expect ``d``'s refused quotes to be held back: left out of ``d``'s
    batch, whose other values are posted, and the replay going on to ``end``."""
    result = o.replay(start, end)
    assert result.stopped_at is None
    (mine,) = [r for r in result.results if r.valuation_date == d]
    assert mine.outcome is Outcome.POSTED and mine.held_back
    posted = ledger.batches[d]
    held = {r.key for r in mine.held_back}
    assert not held & {*posted.prices, *posted.fx}, "a held-back value is not posted"
    users = {a.agreement_id for a in ledger.agreements if a.collateral_token in held}
    assert not {(a, d) for a in users} & set(ledger.calls), "no call needs a held-back value"
    return list(mine.held_back)


def test_clean_window_posts_every_date(tmp_path: Path) -> None:
    o, ledger = oracle(tmp_path, market())
    result = o.replay(WEEKDAYS[0], WEEKDAYS[-1])
    assert result.stopped_at is None
    assert sorted(ledger.batches) == WEEKDAYS
    assert ledger.last_swept_date() == WEEKDAYS[-1]


@pytest.mark.parametrize("text", ["12o0", "inf", "1,300", "NaNa", "1e"])
def test_malformed_close_is_refused(tmp_path: Path, text: str) -> None:
    data = market()
    data["8306.T"][D("2024-01-09")] = text
    o, ledger = oracle(tmp_path, data)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    assert (r.key, r.rule, r.value, r.confirmable) == ("JP8306", Rule.MALFORMED, text, False)
    assert "not a decimal number" in r.reason and "2024-01-09" in r.reason


@pytest.mark.parametrize("text", ["0", "-1300.0", "0.04"])
def test_non_positive_close_is_refused(tmp_path: Path, text: str) -> None:
    # 0.04 rounds to 0.0 at the 0.1 tick: what would be posted is not positive
    data = market()
    data["8306.T"][D("2024-01-09")] = text
    o, ledger = oracle(tmp_path, data)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    assert (r.key, r.rule, r.confirmable) == ("JP8306", Rule.NON_POSITIVE, False)
    assert "not positive" in r.reason


def test_missing_with_nothing_to_carry_is_refused(tmp_path: Path) -> None:
    data = market()
    data["AAPL"] = {}
    o, ledger = oracle(tmp_path, data)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], WEEKDAYS[0])
    assert (r.key, r.rule) == ("US-AAPL", Rule.MISSING)
    assert "no close for AAPL" in r.reason


def test_missing_close_is_carried_up_to_the_limit_then_refused_as_stale(tmp_path: Path) -> None:
    data = market()
    gone = [D("2024-01-08"), D("2024-01-09"), D("2024-01-10")]  # three NY sessions
    for d in gone:
        del data["AAPL"][d]
    o, ledger = oracle(tmp_path, data, config(max_carry_days=2))
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-10"))
    for d in gone[:2]:
        carried = ledger.batches[d].prices["US-AAPL"]
        assert carried.as_of == D("2024-01-05") and carried.value == Decimal("185.10")
        assert "US-AAPL" in ledger.batches[d].carried()
    assert (r.key, r.rule, r.confirmable, r.value) == ("US-AAPL", Rule.STALE, True, "185.10")
    assert "3 trading session(s) missing" in r.reason and "carry limit 2" in r.reason


def test_stale_value_posts_once_the_operator_confirms_it(tmp_path: Path) -> None:
    data = market()
    for d in (D("2024-01-08"), D("2024-01-09"), D("2024-01-10")):
        del data["AAPL"][d]
    ok = Confirmation(D("2024-01-10"), "US-AAPL", Decimal("185.1"), "alice")
    o, ledger = oracle(tmp_path, data, config(max_carry_days=2), confirmations=[ok])
    assert o.replay(WEEKDAYS[0], WEEKDAYS[-1]).stopped_at is None
    assert ledger.batches[D("2024-01-10")].prices["US-AAPL"].confirmed_by == "operator:alice"


def test_a_market_holiday_is_not_a_missing_close(tmp_path: Path) -> None:
    o, ledger = oracle(tmp_path, market(), config(max_carry_days=0))
    assert o.replay(WEEKDAYS[0], WEEKDAYS[-1]).stopped_at is None
    tokyo = ledger.batches[TOKYO_HOLIDAY].prices["JP8306"]
    us = ledger.batches[US_HOLIDAY].prices["US-AAPL"]
    assert tokyo.as_of == D("2024-01-05") and us.as_of == D("2024-01-12")


def move_data() -> dict[str, dict[date, str]]:
    data = market()
    for d in WEEKDAYS:
        if d >= D("2024-01-09") and d in data["8306.T"]:
            data["8306.T"][d] = "1700.0"
    return data


def test_large_move_is_held_back(tmp_path: Path) -> None:
    o, ledger = oracle(tmp_path, move_data())
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    assert (r.key, r.rule, r.value, r.previous) == ("JP8306", Rule.MOVE, "1700.0", "1301.0")
    assert "+30.67%" in r.reason and "limit ±25.00%" in r.reason
    # compared with the last value posted (01-05's, not the missing 01-09's) on every later
    # date: held back until confirmed, never waved through for want of a previous value
    later = [d for d in ledger.batches if d >= D("2024-01-09")]
    assert later and all("JP8306" not in ledger.batches[d].prices for d in later)
    assert "US-AAPL" in ledger.batches[WEEKDAYS[-1]].prices


def test_large_move_confirmed_by_the_operator_posts(tmp_path: Path) -> None:
    ok = Confirmation(D("2024-01-09"), "JP8306", Decimal("1700"), "alice")
    o, ledger = oracle(tmp_path, move_data(), confirmations=[ok])
    assert o.replay(WEEKDAYS[0], WEEKDAYS[-1]).stopped_at is None
    assert ledger.batches[D("2024-01-09")].prices["JP8306"].confirmed_by == "operator:alice"


def test_confirmation_of_another_value_does_not_release(tmp_path: Path) -> None:
    wrong = Confirmation(D("2024-01-09"), "JP8306", Decimal("1699"), "alice")
    o, ledger = oracle(tmp_path, move_data(), confirmations=[wrong])
    refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))


def test_large_move_confirmed_by_a_second_source_posts(tmp_path: Path) -> None:
    second = StaticSource({"8306.T": {"2024-01-09": "1701.5"}}, label="second")
    o, ledger = oracle(tmp_path, move_data(), second=second)
    assert o.replay(WEEKDAYS[0], WEEKDAYS[-1]).stopped_at is None
    assert ledger.batches[D("2024-01-09")].prices["JP8306"].confirmed_by == "source:static"


def test_second_source_that_disagrees_does_not_release(tmp_path: Path) -> None:
    second = StaticSource({"8306.T": {"2024-01-09": "1302.0"}})
    o, ledger = oracle(tmp_path, move_data(), second=second)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    assert r.rule is Rule.MOVE


def test_fx_moves_use_the_fx_limit(tmp_path: Path) -> None:
    data = market()
    data["JPY=X"][D("2024-01-09")] = "160.0"  # +11 %: above the 8 % FX limit
    data["EURJPY=X"][D("2024-01-09")] = str(Decimal("160") * Decimal("1.09"))
    o, ledger = oracle(tmp_path, data)
    rules = {(r.key, r.rule) for r in refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1],
                                                 D("2024-01-09"))}
    assert ("USDJPY", Rule.MOVE) in rules


def test_move_limits_are_per_asset_class(tmp_path: Path) -> None:
    """Issue 16 item 1: a bond's 8 % jump is held back (bond limit 5 %), an equity's 8 % is
    not (25 %), and an instrument's own max_move still overrides its class."""
    bund = InstrumentConfig("DE-BUND", "BUND", "XFRA", "EUR", Decimal("0.001"),
                            asset_class="government-bond")
    cfg = config()
    cfg = OracleConfig(source=cfg.source, instruments=(*cfg.instruments, bund), fx=cfg.fx,
                       limits=cfg.limits, sweep_batch_size=2)
    data = market()
    data["BUND"] = {d: "100.000" for d in WEEKDAYS if d != US_HOLIDAY}
    data["BUND"][D("2024-01-09")] = "108.000"
    data["8306.T"][D("2024-01-09")] = str(Decimal(data["8306.T"][D("2024-01-05")]) * 108 / 100)
    o, ledger = oracle(tmp_path, data, cfg)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    assert (r.key, r.rule) == ("DE-BUND", Rule.MOVE) and "limit ±5.00%" in r.reason
    assert "JP8306" in ledger.batches[D("2024-01-09")].prices

    loose = replace(bund, max_move=Decimal("0.10"))
    cfg2 = OracleConfig(source=cfg.source, instruments=(*cfg.instruments[:2], loose),
                        fx=cfg.fx, limits=LimitsConfig(max_bond_move=Decimal("0.01")),
                        sweep_batch_size=2)
    o2, ledger2 = oracle(tmp_path / "2", data, cfg2)
    assert not o2.replay(WEEKDAYS[0], WEEKDAYS[-1]).with_failures
    assert ledger2.batches[D("2024-01-09")].prices["DE-BUND"].value == Decimal("108.000")


def test_inconsistent_cross_is_refused(tmp_path: Path) -> None:
    data = market()
    d = D("2024-01-09")
    data["EURJPY=X"][d] = str((Decimal(data["EURJPY=X"][d]) * Decimal("1.02")).quantize(
        Decimal("0.001")))
    o, ledger = oracle(tmp_path, data)
    (r,) = refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], d)
    assert (r.key, r.rule, r.confirmable) == ("EURJPY", Rule.CROSS, True)
    assert "EURUSD" in r.reason and "USDJPY" in r.reason and "+2.00%" in r.reason


def test_inconsistent_cross_posts_once_confirmed(tmp_path: Path) -> None:
    data = market()
    d = D("2024-01-09")
    data["EURJPY=X"][d] = "160.000"
    ok = Confirmation(d, "EURJPY", Decimal("160"), "bob")
    o, ledger = oracle(tmp_path, data, confirmations=[ok])
    assert o.replay(WEEKDAYS[0], d).stopped_at is None
    assert ledger.batches[d].fx["EURJPY"].value == Decimal("160.000")


def test_manual_value_replaces_a_malformed_close(tmp_path: Path) -> None:
    data = market()
    data["8306.T"][D("2024-01-09")] = "#N/A!"
    manual = Confirmation(D("2024-01-09"), "JP8306", Decimal("1303"), "carol", manual=True)
    o, ledger = oracle(tmp_path, data, confirmations=[manual])
    assert o.replay(WEEKDAYS[0], WEEKDAYS[-1]).stopped_at is None
    q = ledger.batches[D("2024-01-09")].prices["JP8306"]
    assert (q.value, q.confirmed_by) == (Decimal("1303"), "operator:carol")


def test_refusals_are_logged_and_kept_in_the_status_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = move_data()
    o, ledger = oracle(tmp_path, data)
    with caplog.at_level(logging.INFO, logger="tanpo.oracle"):
        refused_on(o, ledger, WEEKDAYS[0], WEEKDAYS[-1], D("2024-01-09"))
    logged = [r for r in caplog.records if r.getMessage() == "held-back"]
    # once per date it is held back on (01-09 and each later Tokyo session)
    dates = [getattr(r, "tanpo_fields")["date"] for r in logged]  # noqa: B009
    assert dates == sorted(set(dates)) and dates[0] == "2024-01-09"
    fields = getattr(logged[0], "tanpo_fields")  # noqa: B009
    assert (fields["instrument"], fields["date"], fields["rule"]) == ("JP8306", "2024-01-09",
                                                                      "move")
    status = json.loads((tmp_path / "state" / "status.json").read_text())
    assert status["state"] == "degraded"
    held = status["held_back"][0]
    assert (held["instrument"], held["date"], held["rule"]) == ("JP8306", "2024-01-09", "move")
    assert status["refusal_log"][-1]["reason"] == held["reason"]
    assert status["refusal_log"][0]["reason"] == status["held_back"][-1]["reason"]


# ---- the pure functions ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "tick", "expected"), [
    ("96.62000274658203", "0.001", "96.620"),
    ("1.414087176322937", "0.00001", "1.41409"),
    ("602.0", "0.1", "602.0"),
    ("602", None, "602"),
    ("1234", "5", "1235"),        # half-even on a 5-yen tick: 246.8 steps -> 247
    ("1232.5", "5", "1230"),      # 246.5 steps -> 246 (even)
    ("0.125", "0.01", "0.12"),
    ("-3", "0.1", "-3.0"),
    ("1e3", None, "1E+3"),
])
def test_to_decimal_rounds_half_even_to_the_tick(text: str, tick: str | None,
                                                 expected: str) -> None:
    got = to_decimal(text, Decimal(tick) if tick else None)
    assert str(got) == expected


@pytest.mark.parametrize("text", ["", "abc", "nan", "inf", "-inf", "1.2.3", "0x10", "1_000"])
def test_to_decimal_rejects_what_is_not_a_decimal(text: str) -> None:
    with pytest.raises(MalformedCloseError):
        to_decimal(text)


def test_a_revised_close_for_a_posted_date_does_not_replace_the_ledgers_value() -> None:
    xtks = get_calendar("XTKS")
    prev = PriceBatch(D("2024-01-05"), {"JP8306": Quote(Decimal("1300.0"), D("2024-01-05"))}, {})
    # Tokyo is shut on 01-08; the source has since revised 01-05 (to a bad value, even)
    for revised in ("1310.0", "garbage"):
        obs = [Observation("JP8306", "8306.T", xtks, {D("2024-01-05"): revised},
                           Decimal("0.1"))]
        a = assess(D("2024-01-08"), obs, prev, [], LimitsConfig())
        assert a.batch is not None
        assert a.batch.prices["JP8306"] == Quote(Decimal("1300.0"), D("2024-01-05"))


def test_assess_waits_instead_of_carrying_before_the_deadline() -> None:
    xtks = get_calendar("XTKS")
    prev = PriceBatch(D("2024-01-05"), {"JP8306": Quote(Decimal("1300"), D("2024-01-05"))}, {})
    obs = [Observation("JP8306", "8306.T", xtks, {D("2024-01-05"): "1300"}, Decimal("0.1"))]
    waiting = assess(D("2024-01-09"), obs, prev, [], LimitsConfig(), carry_missing=False)
    assert waiting.batch is None and waiting.waiting == ("JP8306",) and not waiting.refusals
    carried = assess(D("2024-01-09"), obs, prev, [], LimitsConfig(), carry_missing=True)
    assert carried.batch is not None
    assert carried.batch.prices["JP8306"].as_of == D("2024-01-05")
    assert [n.kind for n in carried.notes] == ["carried"]
