"""A bond's price under a historical yield move: full revaluation with the shipped bond formula.

A bond token is moved by a *yield* factor, not by the price history of some other bond: the
report-date price is turned into its yield to maturity (ICMA street convention, the formula of
:func:`tanpo.marketdata.bonds.clean_price`), the scenario's yield change is added, and the bond is
repriced. To make a zero move give exactly the report-date price, the scenario price is the
report-date price times the ratio of the two model prices::

    P' = P × clean(y₀ + Δy) / clean(y₀)

Model prices use 40-digit decimal arithmetic, rounded half-even to 12 decimals per 100 of face;
the implied yield ``y₀`` is found by bisection to 1e-12 percent points. A price below the range
that a yield of 100% gives, or above a yield of −50%, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from tanpo.marketdata.bonds import SyntheticBond, clean_price
from tanpo.marketdata.instruments import BondTerms
from tanpo.risk.errors import RiskError

__all__ = ["YieldRepricer"]

_PLACES = 12
_LOW = Decimal("-50")
_HIGH = Decimal("100")
_TOLERANCE = Decimal("1e-12")


@dataclass
class YieldRepricer:
    """Reprices one bond on one date from yield shifts (results cached per shift)."""

    token: str
    terms: BondTerms
    day: date
    price: Fraction
    _bond: SyntheticBond = field(init=False, repr=False)
    _y0: Decimal = field(init=False, repr=False)
    _p0: Decimal = field(init=False, repr=False)
    _cache: dict[Fraction, Fraction] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.day >= self.terms.maturity:
            raise RiskError(
                f"{self.token}: matures {self.terms.maturity.isoformat()}, on or before the "
                f"report date {self.day.isoformat()}"
            )
        try:
            self._bond = SyntheticBond(
                self.token, self.terms.coupon_pct, self.terms.frequency, self.terms.maturity
            )
        except ValueError as exc:
            raise RiskError(f"{self.token}: bad bond terms: {exc}") from None
        self._y0 = self._implied_yield()
        self._p0 = self._model(self._y0)

    def _model(self, yield_pct: Decimal) -> Decimal:
        return clean_price(self._bond, self.day, yield_pct, places=_PLACES)

    def _implied_yield(self) -> Decimal:
        target = Decimal(self.price.numerator) / Decimal(self.price.denominator)
        lo, hi = _LOW, _HIGH
        if not self._model(hi) <= target <= self._model(lo):
            raise RiskError(
                f"{self.token}: price {float(self.price):.6g} on {self.day.isoformat()} implies "
                f"a yield outside {_LOW}%..{_HIGH}%"
            )
        while hi - lo > _TOLERANCE:
            mid = (lo + hi) / 2
            if self._model(mid) > target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    @property
    def implied_yield(self) -> Decimal:
        """The report-date yield to maturity, in percent."""
        return self._y0

    def shifted(self, shift_pct: Fraction) -> Fraction:
        """The price after the yield moves by ``shift_pct`` percent points (exact ratio form)."""
        cached = self._cache.get(shift_pct)
        if cached is not None:
            return cached
        if shift_pct == 0:
            result = self.price
        else:
            shift = Decimal(shift_pct.numerator) / Decimal(shift_pct.denominator)
            y = self._y0 + shift
            if y <= _LOW:
                raise RiskError(f"{self.token}: shifted yield {y}% is below {_LOW}%")
            result = self.price * Fraction(self._model(y)) / Fraction(self._p0)
        self._cache[shift_pct] = result
        return result
