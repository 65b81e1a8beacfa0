"""The posting schedule, as pure functions of the configuration and a given clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from tanpo.oracle.calendars import CalendarError, get_calendar
from tanpo.oracle.config import FxConfig, InstrumentConfig, OracleConfig, ScheduleConfig
from tanpo.oracle.schedule import Schedule

D = date.fromisoformat


def Z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def schedule(valuation_days: str = "markets", **kw: object) -> Schedule:
    cfg = OracleConfig(
        instruments=(
            InstrumentConfig("JP8306", "8306.T", "XTKS", "JPY", Decimal("0.1")),
            InstrumentConfig("US-AAPL", "AAPL", "XNYS", "USD", Decimal("0.01")),
            InstrumentConfig("DE-SAP", "SAP.DE", "XFRA", "EUR", Decimal("0.01")),
        ),
        fx=(FxConfig("USDJPY", "JPY=X"),),
        schedule=replace(ScheduleConfig(valuation_days=valuation_days), **kw),  # type: ignore[arg-type]
    )
    return Schedule(cfg)


def test_posting_time_is_after_every_close_and_the_fx_fixing() -> None:
    s = schedule()
    d = D("2024-01-09")
    assert s.closes(d) == {
        "XTKS": Z("2024-01-09T06:00"),   # 15:00 Tokyo
        "XNYS": Z("2024-01-09T21:00"),   # 16:00 New York (EST)
        "XFRA": Z("2024-01-09T16:30"),   # 17:30 Frankfurt (CET)
    }
    assert s.fixing_time(d) == Z("2024-01-09T22:00")  # 17:00 New York
    assert s.posting_time(d) == Z("2024-01-09T22:30")


def test_tokyo_holiday() -> None:
    s = schedule()
    d = D("2024-01-08")  # Coming of Age Day: Tokyo shut, New York and Frankfurt open
    assert "XTKS" not in s.closes(d)
    assert s.is_valuation_day(d)
    assert s.posting_time(d) == Z("2024-01-08T22:30")
    assert not s.is_valuation_day(d, "XTKS")


def test_us_holiday() -> None:
    s = schedule()
    d = D("2024-01-15")  # Martin Luther King Jr. Day: New York shut, Tokyo open
    assert set(s.closes(d)) == {"XTKS", "XFRA"}
    assert s.is_valuation_day(d)
    assert s.posting_time(d) == Z("2024-01-15T22:30")  # the FX fixing still comes after
    assert not s.is_valuation_day(d, "XNYS")


def test_weekend_is_not_a_valuation_day_unless_daily() -> None:
    s = schedule()
    sat, sun = D("2024-01-06"), D("2024-01-07")
    assert not s.is_valuation_day(sat) and not s.is_valuation_day(sun)
    assert s.is_valuation_day(sat, "daily")
    assert s.valuation_days(D("2024-01-04"), D("2024-01-16")) == [
        D("2024-01-04"), D("2024-01-05"), D("2024-01-08"), D("2024-01-09"), D("2024-01-10"),
        D("2024-01-11"), D("2024-01-12"), D("2024-01-15"), D("2024-01-16")]


def test_due_dates_over_a_weekend_and_the_tokyo_holiday() -> None:
    s = schedule()
    last = D("2024-01-04")
    assert s.due_dates(Z("2024-01-05T22:29"), last) == []
    assert s.due_dates(Z("2024-01-05T22:30"), last) == [D("2024-01-05")]
    assert s.due_dates(Z("2024-01-06T12:00"), last) == [D("2024-01-05")]  # Saturday
    assert s.due_dates(Z("2024-01-07T12:00"), last) == [D("2024-01-05")]  # Sunday
    assert s.due_dates(Z("2024-01-08T10:00"), last) == [D("2024-01-05")]
    assert s.due_dates(Z("2024-01-10T01:00"), last) == [
        D("2024-01-05"), D("2024-01-08"), D("2024-01-09")]
    assert s.next_due(Z("2024-01-06T12:00"), D("2024-01-05")) == (
        D("2024-01-08"), Z("2024-01-08T22:30"))


def test_due_dates_on_a_tokyo_calendar_skip_the_tokyo_holiday() -> None:
    s = schedule("XTKS")
    assert s.due_dates(Z("2024-01-09T23:00"), D("2024-01-05")) == [D("2024-01-09")]
    assert s.next_due(Z("2024-01-06T00:00"), D("2024-01-05")) == (
        D("2024-01-09"), Z("2024-01-09T22:30"))


def test_due_dates_on_a_new_york_calendar_skip_the_us_holiday() -> None:
    s = schedule("XNYS")
    assert s.due_dates(Z("2024-01-16T23:00"), D("2024-01-12")) == [D("2024-01-16")]


def test_us_daylight_saving_moves_the_posting_time() -> None:
    s = schedule()
    assert s.posting_time(D("2024-03-08")) == Z("2024-03-08T22:30")  # EST
    assert s.posting_time(D("2024-03-11")) == Z("2024-03-11T21:30")  # EDT


def test_tokyo_longer_session_from_november_2024() -> None:
    s = schedule()
    assert s.closes(D("2024-11-01"))["XTKS"] == Z("2024-11-01T06:00")
    assert s.closes(D("2024-11-05"))["XTKS"] == Z("2024-11-05T06:30")  # 15:30 Tokyo


def test_a_late_market_close_beats_an_early_fixing() -> None:
    s = schedule(fx_fixing_time=time(15, 0), fx_fixing_tz="Europe/London")
    # Frankfurt closes 16:30Z and New York 21:00Z, both after a 15:00 London fixing
    assert s.posting_time(D("2024-01-09")) == Z("2024-01-09T21:30")
    # on MLK day New York is shut, so Frankfurt's close sets the time
    assert s.posting_time(D("2024-01-15")) == Z("2024-01-15T17:00")


def test_an_empty_ledger_starts_with_the_latest_date_or_the_configured_start() -> None:
    assert schedule().due_dates(Z("2024-01-10T01:00"), None) == [D("2024-01-09")]
    s = schedule(start_date=D("2024-01-04"))
    assert s.due_dates(Z("2024-01-10T01:00"), None) == [
        D("2024-01-04"), D("2024-01-05"), D("2024-01-08"), D("2024-01-09")]


def test_same_clock_same_answer() -> None:
    s = schedule()
    now = Z("2024-01-16T23:00")
    assert s.due_dates(now, D("2024-01-04")) == s.due_dates(now, D("2024-01-04"))


def test_the_clock_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule().due_dates(datetime(2024, 1, 9, 23, 0), None)


def test_unknown_calendar_and_out_of_range_dates_are_clear_errors() -> None:
    with pytest.raises(CalendarError, match="unknown exchange calendar 'XXXX'"):
        get_calendar("XXXX")
    with pytest.raises(CalendarError, match="covers"):
        get_calendar("XTKS").is_session(D("1980-01-04"))
