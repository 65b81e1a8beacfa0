"""Synthetic bond prices: hand-checked values and the shipped series."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal

import pytest

from tanpo.marketdata import MarketData
from tanpo.marketdata.bonds import SyntheticBond, clean_price, coupon_dates

ANNUAL = SyntheticBond("T", Decimal("5"), 1, date(2026, 6, 1))


def test_hand_checked_prices() -> None:
    # On a coupon date, coupon = yield prices at par.
    assert clean_price(ANNUAL, date(2024, 6, 1), Decimal("5")) == Decimal("100.000")
    # 5/1.06 + 105/1.06**2 = 98.16661...
    assert clean_price(ANNUAL, date(2024, 6, 1), Decimal("6")) == Decimal("98.167")
    previous, remaining = coupon_dates(ANNUAL, date(2024, 12, 1))
    assert previous == date(2024, 6, 1)
    assert remaining == [date(2025, 6, 1), date(2026, 6, 1)]


def test_price_falls_as_yield_rises() -> None:
    bond = SyntheticBond("B", Decimal("2.3"), 1, date(2033, 2, 15))
    prices = [clean_price(bond, date(2023, 3, 13), Decimal(y)) for y in ("1.5", "2.3", "3.0")]
    assert prices[0] > prices[1] > prices[2]


def test_settlement_after_maturity_is_refused() -> None:
    with pytest.raises(ValueError, match="not before maturity"):
        clean_price(ANNUAL, date(2026, 6, 1), Decimal("5"))


def test_shipped_bond_series_match_the_formula() -> None:
    market = MarketData()
    for symbol, bond in (
        ("JGB-SYN-2033", SyntheticBond("JGB", Decimal("0.5"), 2, date(2033, 3, 20))),
        ("UST-SYN-2033", SyntheticBond("UST", Decimal("3.5"), 2, date(2033, 2, 15))),
        ("BUND-SYN-2033", SyntheticBond("BUND", Decimal("2.3"), 1, date(2033, 2, 15))),
    ):
        with (market.root / f"{symbol}.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) > 240
        for row in rows[::25]:
            day = date.fromisoformat(row["date"])
            assert clean_price(bond, day, Decimal(row["yield_pct"])) == Decimal(row["close"])
