"""One valuation date's market data: prices by token id and posted FX pairs, parsed once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date as Date
from fractions import Fraction
from typing import TYPE_CHECKING

from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.fx import FxTable, parse_pair
from tanpo.margin.rational import Number, to_fraction

if TYPE_CHECKING:
    from tanpo.margin.valuation import Pricing

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> Date:
    """Strict ``YYYY-MM-DD`` (a real calendar date, year 0001-9999)."""
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise MarginError(ErrorKind.INVALID_INPUT, f"date {text!r} is not YYYY-MM-DD")
    try:
        return Date.fromisoformat(text)
    except ValueError:
        raise MarginError(ErrorKind.INVALID_INPUT, f"date {text!r} does not exist") from None


@dataclass(frozen=True, slots=True, eq=False)
class Market:
    """Prices and FX of one date. Build it with :meth:`Market.parse`; share it between agreements
    (derived FX rates and per-agreement unit values are cached on it)."""

    date: str
    day: Date
    prices: Mapping[str, Fraction]
    fx_pairs: Mapping[tuple[str, str], Fraction]
    fx: FxTable = field(repr=False)
    #: unit values per Agreement.pricing_key, filled by tanpo.margin.valuation
    cache: dict[int, Pricing] = field(default_factory=dict, repr=False)
    #: one token unit's value per (token, base currency[, haircut]), filled by valuation
    units: dict[tuple[object, ...], Fraction] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(
        cls, date: str, prices: Mapping[str, Number], fx: Mapping[str, Number]
    ) -> Market:
        """Validate and parse: the date, then prices and FX pairs each in sorted key order.

        Every price and rate must be an exact positive number (strings such as ``"101.25"``,
        ints or Fractions; floats are refused because they are not exact).
        """
        day = parse_date(date)
        parsed_prices: dict[str, Fraction] = {}
        for token_id in sorted(prices):
            value = to_fraction(prices[token_id], f"price of {token_id}")
            if value <= 0:
                raise MarginError(
                    ErrorKind.NON_POSITIVE, f"price of {token_id} on {date} is {value}, not > 0"
                )
            parsed_prices[token_id] = value
        pairs: dict[tuple[str, str], Fraction] = {}
        for pair in sorted(fx):
            key = parse_pair(pair)
            value = to_fraction(fx[pair], f"FX rate {pair}")
            if value <= 0:
                raise MarginError(
                    ErrorKind.NON_POSITIVE, f"FX rate {pair} on {date} is {value}, not > 0"
                )
            pairs[key] = value
        return cls(date, day, parsed_prices, pairs, FxTable(pairs))

    def price(self, token_id: str) -> Fraction:
        value = self.prices.get(token_id)
        if value is None:
            raise MarginError(ErrorKind.MISSING_PRICE, f"no price for {token_id} on {self.date}")
        return value

    def rate(self, source: str, target: str) -> Fraction:
        """Units of ``target`` per unit of ``source`` on this date (see :mod:`tanpo.margin.fx`)."""
        try:
            return self.fx.rate(source, target)
        except MarginError as err:
            raise MarginError(err.kind, f"{err.message} on {self.date}") from None
