"""Calendar-day windows over trading-day series.

A scenario runs over calendar days, but markets only trade on some of them. Two conventions fill
the days without trading:

* :attr:`Fill.NEXT_TRADING_DAY` - the day takes the **next** trading day's close. This is the
  securities-lending paper's convention (what ``yf.download(start=...)`` returns for a start date
  on a weekend). It looks ahead, so only a backtest can use it.
* :attr:`Fill.CARRY_FORWARD` - the day keeps the **last** close (the live oracle's convention:
  on a Sunday the latest known price is Friday's).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from fractions import Fraction

from tanpo.marketdata.series import MarketDataError, PriceSeries

__all__ = ["Fill", "Observation", "calendar_days", "observe", "window"]


class Fill(StrEnum):
    """How a calendar day without trading gets a price."""

    NEXT_TRADING_DAY = "next-trading-day"
    CARRY_FORWARD = "carry-forward"


@dataclass(frozen=True)
class Observation:
    """The price used for a calendar day, and the trading day it was taken from."""

    day: date
    value: Fraction
    source_day: date

    @property
    def filled(self) -> bool:
        """True when ``day`` had no trading and the value came from another day."""
        return self.source_day != self.day


def calendar_days(start: date, end: date) -> Iterator[date]:
    """Every calendar day from ``start`` to ``end`` inclusive."""
    if end < start:
        raise ValueError(f"window end {end} is before its start {start}")
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def observe(
    series: PriceSeries, day: date, fill: Fill, max_gap_days: int | None = None
) -> Observation:
    """The value of ``series`` on calendar day ``day`` under the ``fill`` convention.

    ``max_gap_days`` refuses a value taken from a trading day more than that many calendar days
    away (a stale or missing stretch of data) instead of filling across it silently.
    """
    if fill is Fill.NEXT_TRADING_DAY:
        found = series.first_on_or_after(day)
        if found is None:
            last = series.days[-1].isoformat() if series.days else "-"
            raise MarketDataError(
                f"{series.symbol}: no trading day on or after {day.isoformat()} "
                f"(data ends {last}); the next-trading-day convention needs a later close"
            )
    else:
        found = series.last_on_or_before(day)
        if found is None:
            first = series.days[0].isoformat() if series.days else "-"
            raise MarketDataError(
                f"{series.symbol}: no trading day on or before {day.isoformat()} "
                f"(data starts {first}); the carry-forward convention needs an earlier close"
            )
    source_day, value = found
    if max_gap_days is not None and abs((source_day - day).days) > max_gap_days:
        raise MarketDataError(
            f"{series.symbol}: no close within {max_gap_days} days of {day.isoformat()} "
            f"(nearest usable trading day {source_day.isoformat()}, convention {fill.value})"
        )
    return Observation(day, value, source_day)


def window(
    series: PriceSeries, start: date, end: date, fill: Fill, max_gap_days: int | None = None
) -> list[Observation]:
    """One :class:`Observation` per calendar day from ``start`` to ``end`` inclusive."""
    return [observe(series, d, fill, max_gap_days) for d in calendar_days(start, end)]
