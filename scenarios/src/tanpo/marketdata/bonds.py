"""Percent-of-par prices of a fixed synthetic bullet bond, priced off a benchmark yield.

No public JGB, Bund or Treasury price series was found for the windows the scenarios use (see
``data/market/SOURCES.md``), but daily 10-year benchmark yields were. A bond token therefore gets
the price of a fixed synthetic bond (stated coupon, frequency and maturity) discounted at that
day's benchmark yield, with the ICMA street convention:

* coupon dates run back from maturity in steps of ``12 / frequency`` months;
* settlement is the valuation date itself; ``w`` = (next coupon - settlement) /
  (next coupon - previous coupon), in actual days (Actual/Actual ICMA);
* with ``N`` coupons left, ``C = 100 * coupon / frequency`` and ``v = 1 / (1 + y / frequency)``::

      dirty = sum(C * v ** (k + w) for k in range(N)) + 100 * v ** (N - 1 + w)
      clean = dirty - C * (1 - w)

* the clean price is rounded half-even to ``places`` decimals (3 by default: ``98.811``).

The computation uses :mod:`decimal` with 40 significant digits, so a result never depends on
binary floating point.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

__all__ = ["SyntheticBond", "clean_price", "coupon_dates"]


@dataclass(frozen=True)
class SyntheticBond:
    """A fixed-coupon bullet bond: annual coupon rate in percent, coupons per year, maturity."""

    name: str
    coupon_pct: Decimal
    frequency: int
    maturity: date

    def __post_init__(self) -> None:
        if self.frequency not in (1, 2, 4, 12):
            raise ValueError(f"{self.name}: frequency must be 1, 2, 4 or 12, not {self.frequency}")
        if self.coupon_pct < 0:
            raise ValueError(f"{self.name}: coupon must not be negative")


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(total, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def coupon_dates(bond: SyntheticBond, settlement: date) -> tuple[date, list[date]]:
    """The previous coupon date (on or before ``settlement``) and the remaining coupon dates."""
    if settlement >= bond.maturity:
        raise ValueError(
            f"{bond.name}: settlement {settlement} is not before maturity {bond.maturity}"
        )
    step = 12 // bond.frequency
    remaining: list[date] = []
    k = 0
    current = bond.maturity
    while current > settlement:
        remaining.append(current)
        k += 1
        current = _add_months(bond.maturity, -step * k)
    remaining.reverse()
    return current, remaining


def clean_price(
    bond: SyntheticBond, settlement: date, yield_pct: Decimal, places: int = 3
) -> Decimal:
    """The clean price per 100 face of ``bond`` on ``settlement`` at ``yield_pct`` (percent)."""
    previous, remaining = coupon_dates(bond, settlement)
    with localcontext() as ctx:
        ctx.prec = 40
        f = Decimal(bond.frequency)
        coupon = Decimal(100) * bond.coupon_pct / Decimal(100) / f
        v = Decimal(1) / (Decimal(1) + yield_pct / Decimal(100) / f)
        first = remaining[0]
        w = Decimal((first - settlement).days) / Decimal((first - previous).days)
        n = len(remaining)
        dirty = sum((coupon * v ** (Decimal(k) + w) for k in range(n)), Decimal(0))
        dirty += Decimal(100) * v ** (Decimal(n - 1) + w)
        clean = dirty - coupon * (Decimal(1) - w)
        return clean.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
