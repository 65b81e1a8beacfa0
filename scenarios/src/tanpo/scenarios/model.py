"""The scenario domain: tokens, agreement terms and the scenario as a whole (plain values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from datetime import date as Day  # for fields declared after one named ``date``
from enum import StrEnum
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

from tanpo.margin import Schedule as EngineSchedule
from tanpo.marketdata.calendar import Fill

__all__ = [
    "AUTO",
    "AgreementSpec",
    "Auto",
    "Checks",
    "Economics",
    "LifecycleEvent",
    "Quantity",
    "Scenario",
    "TokenSpec",
]


class Auto(StrEnum):
    """Marker for a quantity the runner sizes on the start date (``auto`` in a scenario file)."""

    AUTO = "auto"


AUTO: Final = Auto.AUTO

#: A leg quantity: an integer number of token units, or ``AUTO``.
Quantity = int | Auto


class Checks(StrEnum):
    """Which days between start and end get a margin check."""

    EVERY_DAY = "every-day"  # every calendar day (the paper's setup)
    WEEKDAYS = "weekdays"  # Monday to Friday


@dataclass(frozen=True)
class TokenSpec:
    """A token definition. ``source`` names the price series (a symbol of the market-data folder
    or a CSV path); it is None for a cash token or a token priced inline."""

    id: str
    kind: Literal["ST", "CT"]
    currency: str
    quote: Literal["per-unit", "percent-of-par"] = "per-unit"
    source: str | None = None
    name: str | None = None
    #: other market identifiers (type, value) in type order, such as ("SEDOL", "6335171"):
    #: the on-chain run defines the token with them (`tanpo.client.models.Token.identifiers`)
    identifiers: tuple[tuple[str, str], ...] = ()
    #: the ISIN (CDM records name securities by it)
    isin: str = ""

    @property
    def quote_factor(self) -> Fraction:
        return Fraction(1, 100) if self.quote == "percent-of-par" else Fraction(1)


@dataclass(frozen=True)
class Economics:
    """An agreement's lending fee and cash-collateral rebate, as the chaincode's terms carry them:
    ``fee_bps`` per annum on the loan's market value with an optional ``minimum_fee`` per monthly
    invoice (base currency); a rebate on the cash collateral held, ``rebate_fixed`` percent per
    annum or the ``rebate_benchmark``'s fixing plus ``rebate_spread_bps``; ``day_count``
    (``""``: the base currency's)."""

    fee_bps: Fraction | None = None
    minimum_fee: Fraction | None = None
    rebate_fixed: Fraction | None = None
    rebate_benchmark: str = ""
    rebate_spread_bps: Fraction | None = None
    day_count: str = ""

    @property
    def has_fee(self) -> bool:
        return self.fee_bps is not None

    @property
    def has_rebate(self) -> bool:
        return self.rebate_fixed is not None or self.rebate_benchmark != ""


@dataclass(frozen=True)
class AgreementSpec:
    """Terms of one agreement as written in a scenario (quantities may still be ``AUTO``)."""

    id: str
    lender: str
    borrower: str
    loan: tuple[tuple[str, Quantity], ...]
    collateral: tuple[tuple[str, Quantity], ...]
    priority: tuple[str, ...]
    start: date
    end: date
    haircut: Fraction = Fraction(0)
    haircuts: Mapping[str, Fraction] = field(default_factory=dict)
    threshold: Fraction = Fraction(0)
    mode: Literal["single", "multi"] = "single"
    lag: int = 0
    auto_issue: bool = False
    min_transfer: Fraction = Fraction(0)
    base_currency: str | None = None
    #: the fee and rebate; None: the agreement accrues nothing
    economics: Economics | None = None
    #: the eligibility schedule (the margin engine's); None: every collateral token is eligible
    schedule: EngineSchedule | None = None

    def haircut_of(self, token: str) -> Fraction:
        return self.haircuts.get(token, self.haircut)

    def check_days(self, days: list[date]) -> list[date]:
        """The days (of ``days``) strictly between start and end."""
        return [d for d in days if self.start < d < self.end]


@dataclass(frozen=True)
class LifecycleEvent:
    """A desk's step scheduled on ``date``, before that day's margin calls: the lender's recall of
    ``quantity`` loan units due on ``due``, the borrower's return of ``quantity`` units, or the
    borrower's substitution of ``out`` by ``in_`` (approved by the lender)."""

    date: date
    agreement: str
    action: Literal["recall", "return", "substitute"]
    quantity: int = 0
    due: Day | None = None
    out: tuple[tuple[str, int], ...] = ()
    in_: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A whole scenario: market data, tokens, parties, agreements and the window."""

    name: str
    base_currency: str
    tokens: tuple[TokenSpec, ...]
    agreements: tuple[AgreementSpec, ...]
    window_start: date
    window_end: date
    description: str = ""
    fill: Fill = Fill.NEXT_TRADING_DAY
    checks: Checks = Checks.EVERY_DAY
    parties: tuple[str, ...] = ()
    fx_pairs: tuple[str, ...] = ()
    prices: Mapping[date, Mapping[str, Fraction]] = field(default_factory=dict)
    balances: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    data_dir: Path | None = None
    path: Path | None = None
    max_gap_days: int = 7
    events: tuple[LifecycleEvent, ...] = ()
    #: inline benchmark fixings per date (percent per annum, any sign); a benchmark not given
    #: here is read from ``<data>/rates/<NAME>.csv``
    rates: Mapping[date, Mapping[str, Fraction]] = field(default_factory=dict)

    @property
    def benchmarks(self) -> tuple[str, ...]:
        """The benchmarks the agreements' rebates accrue at, in order of first use."""
        names = [a.economics.rebate_benchmark for a in self.agreements
                 if a.economics is not None and a.economics.rebate_benchmark]
        return tuple(dict.fromkeys(names))

    def token(self, token_id: str) -> TokenSpec:
        for t in self.tokens:
            if t.id == token_id:
                return t
        raise KeyError(token_id)

    def agreement(self, agreement_id: str) -> AgreementSpec:
        for a in self.agreements:
            if a.id == agreement_id:
                return a
        raise KeyError(agreement_id)
