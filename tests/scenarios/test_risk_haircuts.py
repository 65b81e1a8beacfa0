"""Supervisory haircuts (Basel II comprehensive approach) on hand-checked numbers."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tanpo.risk import AssetClass, TokenInfo
from tanpo.risk.haircuts import (
    fx_haircut,
    scale_haircut,
    security_haircut,
    supervisory_exposure,
)

AS_OF = date(2023, 4, 28)


def debt(rating: str | None, maturity: date | None, sovereign: bool, ccy: str = "USD") -> TokenInfo:
    cls = AssetClass.SOVEREIGN_DEBT if sovereign else AssetClass.OTHER_DEBT
    return TokenInfo("D", "ST", ccy, "percent-of-par", cls, rating=rating, maturity=maturity)


def stock(main: bool, ccy: str = "USD") -> TokenInfo:
    return TokenInfo("S", "ST", ccy, asset_class=AssetClass.EQUITY, main_index=main)


P = Fraction(1, 100)


@pytest.mark.parametrize(
    ("token", "h10"),
    [
        (debt("AAA", date(2024, 4, 28), True), P / 2),  # exactly 1 year: <= 1 year bucket
        (debt("AA+", date(2024, 4, 29), True), 2 * P),  # one day more: 1-5 years
        (debt("AA-", date(2033, 3, 20), True), 4 * P),
        (debt("AAA", date(2023, 12, 1), False), 1 * P),
        (debt("AA", date(2026, 1, 1), False), 4 * P),
        (debt("Aa2", date(2040, 1, 1), False), 8 * P),
        (debt("A+", date(2033, 3, 20), True), 6 * P),  # the JGB of tx2
        (debt("BBB-", date(2024, 1, 1), True), 1 * P),
        (debt("A", date(2027, 1, 1), False), 6 * P),
        (debt("BBB", date(2035, 1, 1), False), 12 * P),
        (debt("BB", date(2035, 1, 1), True), 15 * P),
        (debt("BB", date(2035, 1, 1), False), 25 * P),  # not eligible: 25%
        (debt("B+", date(2035, 1, 1), True), 25 * P),
        (debt(None, date(2035, 1, 1), True), 25 * P),
        (debt("AAA", None, True), 4 * P),  # unknown maturity: > 5 years bucket
        (stock(True), 15 * P),
        (stock(False), 25 * P),
        (TokenInfo("JPY", "CT", "JPY", asset_class=AssetClass.CASH), Fraction(0)),
        (TokenInfo("G", "ST", "USD", asset_class=AssetClass.OTHER), 25 * P),
    ],
)
def test_table(token: TokenInfo, h10: Fraction) -> None:
    cut = security_haircut(token, AS_OF, holding_days=10)
    assert cut.h10 == h10
    assert cut.h == h10  # a 10-day holding period is the table itself


def test_five_day_scaling_and_fx_addon() -> None:
    # H = H10 * sqrt(5/10), rounded to 10 decimal places
    assert scale_haircut(15 * P, 5) == Fraction(Decimal("0.1060660172"))
    assert fx_haircut(5) == Fraction(Decimal("0.0565685425"))
    assert fx_haircut(10) == 8 * P
    assert scale_haircut(4 * P, 40) == 8 * P  # sqrt(4) = 2, exact


def test_e_star_hand_checked_ten_days() -> None:
    # Lend 1,000,000 of a main-index stock (He = 15%) against 1,100,000 of an AA sovereign
    # bond with 3 years left (Hc = 2%) in EUR while the stock is USD (Hfx = 8%):
    # E* = 1,000,000 x 1.15 - 1,100,000 x (1 - 0.02 - 0.08) = 1,150,000 - 990,000 = 160,000
    result = supervisory_exposure(
        [(stock(True), Fraction(1_000_000))],
        [(debt("AA", date(2026, 4, 28), True, "EUR"), Fraction(1_100_000))],
        AS_OF,
        exposure_currency="USD",
        holding_days=10,
    )
    assert result.exposure_adjusted == 1_150_000
    assert result.collateral_adjusted == 990_000
    assert result.e_star == 160_000
    (_, coll) = result.lines
    assert coll.hfx == 8 * P and "Hfx" in coll.basis


def test_e_star_hand_checked_five_days() -> None:
    # same trade at the 5-day repo holding period:
    # He = 0.1060660172, Hc = 0.0141421356, Hfx = 0.0565685425
    # E* = 1,000,000 x 1.1060660172 - 1,100,000 x (1 - 0.0141421356 - 0.0565685425)
    #    = 1,106,066.0172 - 1,022,218.25409 = 83,847.76311
    result = supervisory_exposure(
        [(stock(True), Fraction(1_000_000))],
        [(debt("AA", date(2026, 4, 28), True, "EUR"), Fraction(1_100_000))],
        AS_OF,
        exposure_currency="USD",
    )
    assert result.e_star == Fraction(Decimal("83847.76311"))


def test_same_currency_has_no_fx_addon_and_e_star_is_floored() -> None:
    cash = TokenInfo("USD", "CT", "USD", asset_class=AssetClass.CASH)
    result = supervisory_exposure(
        [(cash, Fraction(100))], [(stock(True), Fraction(200))], AS_OF, "USD", 10
    )
    # 100 - 200 x 0.85 < 0
    assert result.e_star == 0
    assert result.exposure_adjusted - result.collateral_adjusted == 100 - 170
    assert result.lines[1].hfx == 0
