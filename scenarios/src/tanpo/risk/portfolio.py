"""Portfolios by counterparty: what each lender has lent to each borrower and what it holds as
collateral, per token, valued exactly in a reporting currency on a date.

The data comes from a :class:`PortfolioSource`: the ledger (through the Fabric SDK), a scenario
run (:mod:`tanpo.risk.scenario_source`) or memory (:mod:`tanpo.risk.memory`). Valuation is the
margin engine's (:func:`tanpo.margin.unit_value`: price × quote factor × FX, a cash token's price
being 1), so a report values a position exactly as a margin call would, only in the reporting
currency instead of the agreement's base currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Literal, Protocol, runtime_checkable

from tanpo.margin import MarginError, Market, unit_value
from tanpo.marketdata.instruments import TokenInfo
from tanpo.risk.errors import RiskError

__all__ = [
    "AgreementHolding",
    "Book",
    "CounterpartyBook",
    "Leg",
    "Line",
    "PortfolioSource",
    "PriceSnapshot",
    "build_book",
    "market_of",
]

Leg = Literal["lent", "collateral"]


@dataclass(frozen=True, slots=True)
class PriceSnapshot:
    """The prices and FX rates posted for one date, as one named data version.

    ``prices``: security tokens by id, in their quote convention (``percent-of-par`` bonds per
    100 of face). ``fx``: posted market pairs (``"USDJPY"`` = JPY per USD); inverses and crosses
    are derived by the margin engine. ``version`` names this exact set of values (on the ledger:
    the price-batch version of that date, which a correction increments), so that a report can be
    re-run later on the same data.
    """

    date: date
    version: str
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]


@dataclass(frozen=True, slots=True)
class AgreementHolding:
    """One active agreement at the end of a date: the loan leg the borrower owes (token →
    quantity) and the collateral the lender holds under it (token → quantity; a quantity may be
    negative after an auto-issued return in ``single`` mode)."""

    id: str
    lender: str
    borrower: str
    base_currency: str
    loan: Mapping[str, int]
    collateral: Mapping[str, int]


@runtime_checkable
class PortfolioSource(Protocol):
    """Where a risk report reads its book. The ledger implementation reads the chaincode's
    state through the SDK; every method answers *as of the end of* ``day``."""

    def describe(self) -> str:
        """A short human-readable name of the source (e.g. ``"ledger tanpo@mychannel"``)."""
        ...

    def tokens(self, day: date) -> Mapping[str, TokenInfo]:
        """Token definitions by id, with the asset class and rating valid on ``day``."""
        ...

    def agreements(self, day: date) -> Sequence[AgreementHolding]:
        """Agreements active at the end of ``day`` with their loan legs and held collateral."""
        ...

    def prices(self, day: date, version: str | None = None) -> PriceSnapshot:
        """The prices/FX posted for ``day``: the latest version, or the one named.

        Raises :class:`~tanpo.risk.errors.RiskError` if there are none or the version is unknown.
        """
        ...


@dataclass(frozen=True, slots=True)
class Line:
    """One token on one side of a counterparty's book (summed over its agreements).

    ``unit_value`` is one unit's value in the reporting currency; ``value`` = quantity × it.
    """

    leg: Leg
    token: str
    quantity: int
    unit_value: Fraction
    agreements: tuple[str, ...]

    @property
    def value(self) -> Fraction:
        return self.quantity * self.unit_value


@dataclass(frozen=True, slots=True)
class CounterpartyBook:
    """Everything ``lender`` has lent to ``borrower``, and holds from it, on the report date."""

    lender: str
    borrower: str
    agreements: tuple[str, ...]
    lines: tuple[Line, ...]

    def leg(self, leg: Leg) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.leg == leg)

    @property
    def key(self) -> str:
        return f"{self.lender}->{self.borrower}"


@dataclass(frozen=True, slots=True)
class Book:
    """The valued book of a date: counterparties sorted by (lender, borrower)."""

    as_of: date
    currency: str
    source: str
    snapshot: PriceSnapshot
    tokens: Mapping[str, TokenInfo]
    counterparties: tuple[CounterpartyBook, ...]

    @property
    def data_version(self) -> str:
        return self.snapshot.version

    def token_ids(self) -> list[str]:
        """Tokens that appear in the book, sorted."""
        return sorted({line.token for cp in self.counterparties for line in cp.lines})


def market_of(day: date, prices: Mapping[str, Fraction], fx: Mapping[str, Fraction]) -> Market:
    """An engine :class:`~tanpo.margin.Market` (bad data becomes :class:`RiskError`)."""
    try:
        return Market.parse(day.isoformat(), dict(prices), dict(fx))
    except MarginError as exc:
        raise RiskError(f"market data of {day.isoformat()}: {exc}") from None


def _check_quantity(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RiskError(f"{what}: quantity {value!r} is not a whole number of token units")
    return value


def _collect(
    holdings: Iterable[AgreementHolding], tokens: Mapping[str, TokenInfo], day: date
) -> dict[tuple[str, str], dict[tuple[Leg, str], tuple[int, list[str]]]]:
    pairs: dict[tuple[str, str], dict[tuple[Leg, str], tuple[int, list[str]]]] = {}
    seen: set[str] = set()
    for h in holdings:
        if h.id in seen:
            raise RiskError(f"agreement {h.id!r} is listed twice on {day.isoformat()}")
        seen.add(h.id)
        if h.lender == h.borrower:
            raise RiskError(f"agreement {h.id!r}: lender and borrower are both {h.lender!r}")
        if not h.loan:
            raise RiskError(f"agreement {h.id!r} has no loan leg")
        book = pairs.setdefault((h.lender, h.borrower), {})
        legs: tuple[tuple[Leg, Mapping[str, int]], ...] = (
            ("lent", h.loan),
            ("collateral", h.collateral),
        )
        for leg, quantities in legs:
            for token_id in sorted(quantities):
                if token_id not in tokens:
                    raise RiskError(
                        f"agreement {h.id!r}: token {token_id!r} has no definition on "
                        f"{day.isoformat()}"
                    )
                qty = _check_quantity(quantities[token_id], f"agreement {h.id!r} {token_id}")
                if leg == "lent" and qty <= 0:
                    raise RiskError(f"agreement {h.id!r}: loan quantity of {token_id} is {qty}")
                if qty == 0:
                    continue
                total, ids = book.get((leg, token_id), (0, []))
                book[(leg, token_id)] = (total + qty, [*ids, h.id])
    return pairs


def _currency_of(holdings: Sequence[AgreementHolding], currency: str | None, day: date) -> str:
    if currency is not None:
        return currency
    bases = sorted({h.base_currency for h in holdings})
    if len(bases) != 1:
        raise RiskError(
            f"the agreements active on {day.isoformat()} have base currencies "
            f"{', '.join(bases)}: choose a reporting currency"
        )
    return bases[0]


def build_book(
    source: PortfolioSource,
    day: date,
    currency: str | None = None,
    version: str | None = None,
) -> Book:
    """Read ``source`` as of ``day`` and value every position in ``currency`` (default: the
    agreements' common base currency) at the prices of data version ``version`` (default: the
    latest)."""
    holdings = list(source.agreements(day))
    if not holdings:
        raise RiskError(f"no agreement is active on {day.isoformat()} in {source.describe()}")
    tokens = dict(source.tokens(day))
    snapshot = source.prices(day, version)
    if snapshot.date != day:
        raise RiskError(
            f"the source returned prices of {snapshot.date.isoformat()} for {day.isoformat()}"
        )
    ccy = _currency_of(holdings, currency, day)
    pairs = _collect(holdings, tokens, day)
    needed = sorted({t for book in pairs.values() for (_, t) in book})
    prices: dict[str, Fraction] = {}
    for token_id in needed:
        if tokens[token_id].kind == "ST":
            price = snapshot.prices.get(token_id)
            if price is None:
                raise RiskError(
                    f"no price for {token_id} on {day.isoformat()} "
                    f"(data version {snapshot.version})"
                )
            prices[token_id] = price
    market = market_of(day, prices, snapshot.fx)
    units: dict[str, Fraction] = {}
    for token_id in needed:
        try:
            units[token_id] = unit_value(tokens[token_id].engine_token, market, ccy)
        except MarginError as exc:
            raise RiskError(f"cannot value {token_id} in {ccy}: {exc}") from None
    counterparties = []
    for (lender, borrower), book in sorted(pairs.items()):
        lines = tuple(
            Line(leg, token_id, qty, units[token_id], tuple(sorted(ids)))
            for (leg, token_id), (qty, ids) in sorted(
                book.items(), key=lambda kv: (kv[0][0] != "lent", kv[0][1])
            )
            if qty != 0
        )
        agreement_ids = tuple(
            sorted(h.id for h in holdings if (h.lender, h.borrower) == (lender, borrower))
        )
        counterparties.append(CounterpartyBook(lender, borrower, agreement_ids, lines))
    return Book(
        as_of=day,
        currency=ccy,
        source=source.describe(),
        snapshot=snapshot,
        tokens={t: tokens[t] for t in needed},
        counterparties=tuple(counterparties),
    )
