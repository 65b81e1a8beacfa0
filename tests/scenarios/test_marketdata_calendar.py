"""Calendar-day windows: next trading day (paper, backtest) vs carry forward (live)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from tanpo.marketdata import Fill, MarketData, MarketDataError, PriceSeries, observe, window

S = PriceSeries.from_mapping(
    "T",
    {
        date(2024, 1, 5): Fraction(10),
        date(2024, 1, 8): Fraction(11),
        date(2024, 1, 10): Fraction(12),
    },
)


def test_weekend_next_trading_day_vs_carry_forward() -> None:
    saturday = date(2024, 1, 6)
    nxt = observe(S, saturday, Fill.NEXT_TRADING_DAY)
    carry = observe(S, saturday, Fill.CARRY_FORWARD)
    assert (nxt.value, nxt.source_day, nxt.filled) == (11, date(2024, 1, 8), True)
    assert (carry.value, carry.source_day, carry.filled) == (10, date(2024, 1, 5), True)
    trading = observe(S, date(2024, 1, 8), Fill.CARRY_FORWARD)
    assert (trading.value, trading.filled) == (11, False)


def test_window_covers_every_calendar_day() -> None:
    days = window(S, date(2024, 1, 5), date(2024, 1, 10), Fill.NEXT_TRADING_DAY)
    assert [o.value for o in days] == [10, 11, 11, 11, 12, 12]
    days = window(S, date(2024, 1, 5), date(2024, 1, 10), Fill.CARRY_FORWARD)
    assert [o.value for o in days] == [10, 10, 10, 11, 11, 12]


def test_no_data_beyond_the_series_is_an_error() -> None:
    with pytest.raises(MarketDataError, match="no trading day on or after 2024-01-11"):
        observe(S, date(2024, 1, 11), Fill.NEXT_TRADING_DAY)
    with pytest.raises(MarketDataError, match="no trading day on or before 2024-01-04"):
        observe(S, date(2024, 1, 4), Fill.CARRY_FORWARD)
    with pytest.raises(MarketDataError, match="no close within 1 days"):
        observe(S, date(2024, 1, 7), Fill.CARRY_FORWARD, max_gap_days=1)


def test_tse_holiday_on_shipped_data() -> None:
    """Case 4 starts on Saturday 2008-11-01; Monday 11-03 is a TSE holiday (Culture Day)."""
    mufg = MarketData().instrument("8306.T")
    for day in (date(2008, 11, 1), date(2008, 11, 2), date(2008, 11, 3)):
        assert observe(mufg, day, Fill.NEXT_TRADING_DAY).source_day == date(2008, 11, 4)
        assert observe(mufg, day, Fill.CARRY_FORWARD).source_day == date(2008, 10, 31)
    assert observe(mufg, date(2008, 11, 3), Fill.NEXT_TRADING_DAY).value == 627
    # Case 3: Sunday 2009-03-01 takes Monday's close (the paper's convention), not Friday's.
    assert observe(mufg, date(2009, 3, 1), Fill.NEXT_TRADING_DAY).value == 423
    assert observe(mufg, date(2009, 3, 1), Fill.CARRY_FORWARD).source_day == date(2009, 2, 27)
