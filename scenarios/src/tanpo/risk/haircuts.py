"""Supervisory haircuts: the Basel comprehensive approach, beside the VaR.

Source: BCBS, *International Convergence of Capital Measurement and Capital Standards, A Revised
Framework, Comprehensive Version* (June 2006) - Basel II:

* §147: ``E* = max{0, E·(1 + He) − C·(1 − Hc − Hfx)}``;
* §151: the standard supervisory haircuts below (10-business-day holding period, daily
  mark-to-market and remargining);
* §§152-153: 8% for a currency mismatch between exposure and collateral; a lent non-eligible
  instrument gets the haircut of a listed equity outside a main index (25%);
* §§167-168: minimum holding period 5 business days for repo-style transactions (securities
  lending is one), 10 for other capital-market transactions; a 10-day haircut is scaled by
  ``H = H10·sqrt(T/10)``.

10-business-day haircuts, in percent (debt by issue rating and residual maturity):

=====================================  ==========  =========  =============
issue rating                           residual    sovereign  other issuer
=====================================  ==========  =========  =============
AAA to AA- (short-term A-1/P-1)        ≤ 1 year    0.5        1
                                       1-5 years   2          4
                                       > 5 years   4          8
A+ to BBB- (short-term A-2, A-3, P-3)  ≤ 1 year    1          2
                                       1-5 years   3          6
                                       > 5 years   6          12
BB+ to BB-                             all         15         (not eligible)
main-index equities                                15
other listed equities                              25
cash (same currency)                               0
currency mismatch (Hfx)                            8
=====================================  ==========  =========  =============

Anything the table does not admit (BB other issuers, debt below BB-, unrated debt, other assets)
gets 25% here, the Basel II rule for lent non-eligible instruments; under ``basel2`` such collateral
is excluded before haircuts apply (:mod:`tanpo.risk.regimes`). Debt without a known maturity is
put in the > 5 years bucket (the largest haircut). Scaled haircuts are rounded half-even to 10
decimal places (sqrt(5/10) is irrational); E* is exact given them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from tanpo.marketdata.instruments import AA_MINUS, BB_MINUS, BBB_MINUS, AssetClass, TokenInfo
from tanpo.risk.errors import RiskError

__all__ = [
    "FX_HAIRCUT_10D",
    "NON_ELIGIBLE_10D",
    "Haircut",
    "HaircutLine",
    "Supervisory",
    "fx_haircut",
    "scale_haircut",
    "security_haircut",
    "supervisory_exposure",
]

_P = Fraction(1, 100)
#: (sovereign, other issuer) by residual-maturity bucket (≤1y, 1-5y, >5y); None = not eligible
_DEBT_10D: dict[str, tuple[tuple[Fraction, Fraction], ...]] = {
    "AAA to AA-": ((_P / 2, 1 * _P), (2 * _P, 4 * _P), (4 * _P, 8 * _P)),
    "A+ to BBB-": ((1 * _P, 2 * _P), (3 * _P, 6 * _P), (6 * _P, 12 * _P)),
}
_BB_SOVEREIGN_10D = 15 * _P
MAIN_INDEX_EQUITY_10D = 15 * _P
OTHER_EQUITY_10D = 25 * _P
NON_ELIGIBLE_10D = 25 * _P
FX_HAIRCUT_10D = 8 * _P
_BUCKETS = ("residual <= 1 year", "residual 1-5 years", "residual > 5 years")


def scale_haircut(h10: Fraction, holding_days: int) -> Fraction:
    """``H10·sqrt(T/10)`` rounded half-even to 10 decimal places (exact when T = 10)."""
    if holding_days < 1:
        raise RiskError(f"holding period {holding_days} must be at least 1 business day")
    if holding_days == 10 or h10 == 0:
        return h10
    with localcontext() as ctx:
        ctx.prec = 40
        factor = (Decimal(holding_days) / Decimal(10)).sqrt()
        value = Decimal(h10.numerator) / Decimal(h10.denominator) * factor
        return Fraction(value.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN))


def fx_haircut(holding_days: int) -> Fraction:
    """The 8% currency-mismatch haircut scaled to the holding period."""
    return scale_haircut(FX_HAIRCUT_10D, holding_days)


@dataclass(frozen=True, slots=True)
class Haircut:
    """A security's 10-day table haircut, the haircut at the holding period, and why."""

    h10: Fraction
    h: Fraction
    basis: str


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _bucket(maturity: date | None, as_of: date) -> int:
    if maturity is None:
        return 2
    if maturity <= _add_years(as_of, 1):
        return 0
    if maturity <= _add_years(as_of, 5):
        return 1
    return 2


def _h10(token: TokenInfo, as_of: date) -> tuple[Fraction, str]:
    cls = token.asset_class
    if cls == AssetClass.CASH:
        return Fraction(0), "cash"
    if cls == AssetClass.EQUITY:
        if token.main_index:
            return MAIN_INDEX_EQUITY_10D, "main-index equity"
        return OTHER_EQUITY_10D, "other listed equity"
    if cls.is_debt:
        sovereign = cls == AssetClass.SOVEREIGN_DEBT
        issuer = "sovereign" if sovereign else "other issuer"
        rating = token.parsed_rating
        if rating is None:
            return NON_ELIGIBLE_10D, f"unrated {issuer} debt: non-eligible rate"
        b = _bucket(token.final_maturity, as_of)
        when = _BUCKETS[b] + ("" if token.final_maturity is not None else " (maturity unknown)")
        if rating.notch <= AA_MINUS:
            return _DEBT_10D["AAA to AA-"][b][0 if sovereign else 1], (
                f"{issuer} {rating.text}, {when}"
            )
        if rating.notch <= BBB_MINUS:
            return _DEBT_10D["A+ to BBB-"][b][0 if sovereign else 1], (
                f"{issuer} {rating.text}, {when}"
            )
        if rating.notch <= BB_MINUS and sovereign:
            return _BB_SOVEREIGN_10D, f"sovereign {rating.text}"
        return NON_ELIGIBLE_10D, f"{issuer} {rating.text}: non-eligible rate"
    return NON_ELIGIBLE_10D, f"asset class {cls.value}: non-eligible rate"


def _pct(rate: Fraction) -> str:
    value = rate * 100
    text = str(Decimal(value.numerator) / Decimal(value.denominator))
    return text.rstrip("0").rstrip(".") if "." in text else text


def security_haircut(token: TokenInfo, as_of: date, holding_days: int = 5) -> Haircut:
    """The supervisory haircut of ``token`` on ``as_of`` at a ``holding_days`` holding period."""
    h10, basis = _h10(token, as_of)
    return Haircut(h10, scale_haircut(h10, holding_days), f"{basis}: {_pct(h10)}% (10-day)")


@dataclass(frozen=True, slots=True)
class HaircutLine:
    """One position in the E* formula: value (reporting currency), H (He or Hc) and Hfx."""

    leg: str
    token: str
    value: Fraction
    h: Fraction
    hfx: Fraction
    basis: str

    @property
    def adjusted(self) -> Fraction:
        """E·(1 + He) for the lent leg, C·(1 − Hc − Hfx) for collateral."""
        if self.leg == "lent":
            return self.value * (1 + self.h)
        return self.value * (1 - self.h - self.hfx)


@dataclass(frozen=True, slots=True)
class Supervisory:
    """E* of one counterparty and its parts."""

    e_star: Fraction
    exposure_adjusted: Fraction
    collateral_adjusted: Fraction
    exposure_currency: str
    lines: tuple[HaircutLine, ...]


def supervisory_exposure(
    lent: Sequence[tuple[TokenInfo, Fraction]],
    collateral: Sequence[tuple[TokenInfo, Fraction]],
    as_of: date,
    exposure_currency: str,
    holding_days: int = 5,
) -> Supervisory:
    """``E* = max(0, Σ E·(1 + He) − Σ C·(1 − Hc − Hfx))`` (Basel II §147).

    ``lent`` and ``collateral`` are (token, value in the reporting currency) pairs; Hfx applies
    to each collateral token whose currency differs from ``exposure_currency``.
    """
    hfx = fx_haircut(holding_days)
    lines: list[HaircutLine] = []
    for token, value in lent:
        cut = security_haircut(token, as_of, holding_days)
        lines.append(HaircutLine("lent", token.id, value, cut.h, Fraction(0), cut.basis))
    for token, value in collateral:
        cut = security_haircut(token, as_of, holding_days)
        mismatch = token.currency != exposure_currency
        basis = cut.basis + (
            f"; currency {token.currency} vs exposure {exposure_currency}: Hfx 8% (10-day)"
            if mismatch
            else ""
        )
        lines.append(
            HaircutLine(
                "collateral", token.id, value, cut.h, hfx if mismatch else Fraction(0), basis
            )
        )
    e_adj = sum((ln.adjusted for ln in lines if ln.leg == "lent"), Fraction(0))
    c_adj = sum((ln.adjusted for ln in lines if ln.leg == "collateral"), Fraction(0))
    return Supervisory(
        max(Fraction(0), e_adj - c_adj), e_adj, c_adj, exposure_currency, tuple(lines)
    )
