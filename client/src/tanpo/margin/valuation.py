"""Unit values of an agreement's tokens on one date.

``unit value = price × quote factor × fx(token currency → base)`` (a CT's price is 1, whatever the
market says); the haircut unit value of collateral token t is ``unit value × (1 − α_t)``.

For speed, every value of one (agreement terms, date) pair is kept as an integer numerator over one
common denominator ``denominator``: the margin call then runs on Python ints only, and exact
Fractions are built only for the reported figures. The result is cached on the :class:`Market`
under :attr:`Agreement.pricing_key`, so 100,000 agreements with the same terms share one valuation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from tanpo.margin.market import Market
from tanpo.margin.model import Agreement, Token, TokenKind


@dataclass(frozen=True, slots=True)
class Pricing:
    """Unit values of one agreement's tokens on one date, as numerators over ``denominator``.

    ``unit`` and ``haircut_unit`` are in collateral priority order; ``prices`` holds the market
    prices used (security tokens only) and ``fx`` the rate used from each token currency to base.
    """

    date: str
    denominator: int
    loan_unit: int
    unit: tuple[int, ...]
    haircut_unit: tuple[int, ...]
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]

    def value(self, numerator: int) -> Fraction:
        """An exact value from a numerator over :attr:`denominator`."""
        return Fraction(numerator, self.denominator)


def unit_value(token: Token, market: Market, base: str) -> Fraction:
    """Value in ``base`` of one unit of ``token`` on the market's date (no haircut)."""
    price = Fraction(1) if token.kind == TokenKind.CT else market.price(token.id)
    return price * token.quote_factor * market.rate(token.currency, base)


def price_agreement(agreement: Agreement, market: Market) -> Pricing:
    """Unit values for ``agreement`` on ``market``'s date (cached on the market).

    Lookups happen in a fixed order — loan token, then collateral in priority order; price before
    FX — so the first missing item reported is the same in both engines.
    """
    cached = market.cache.get(agreement.pricing_key)
    if cached is not None:
        return cached
    prices: dict[str, Fraction] = {}
    fx: dict[str, Fraction] = {}
    tokens = (agreement.loan, *agreement.collateral)
    base = agreement.base
    units = market.units
    values: list[Fraction] = []
    for token in tokens:
        # one valuation per token and date, shared by every agreement that holds the token
        # (keyed by plain strings: they hash far faster than the Token dataclass)
        key: tuple[object, ...] = (token.id, token.kind, token.currency, token.quote, base)
        value = units.get(key)
        if value is None:
            value = units[key] = unit_value(token, market, base)
        values.append(value)
        if token.kind == TokenKind.ST:
            prices[token.id] = market.prices[token.id]
        fx[token.currency] = market.rate(token.currency, base)
    loan_value, collateral_values = values[0], values[1:]
    haircut_values = []
    for token, v, a in zip(agreement.collateral, collateral_values, agreement.haircuts,
                           strict=True):
        key = (token.id, token.kind, token.currency, token.quote, base, a.numerator,
               a.denominator)
        hv = units.get(key)
        if hv is None:
            hv = units[key] = v * (1 - a)
        haircut_values.append(hv)
    den = math.lcm(*(v.denominator for v in (*values, *haircut_values)))
    pricing = Pricing(
        date=market.date,
        denominator=den,
        loan_unit=loan_value.numerator * (den // loan_value.denominator),
        unit=tuple(v.numerator * (den // v.denominator) for v in collateral_values),
        haircut_unit=tuple(v.numerator * (den // v.denominator) for v in haircut_values),
        prices=prices,
        fx=fx,
    )
    market.cache[agreement.pricing_key] = pricing
    return pricing
