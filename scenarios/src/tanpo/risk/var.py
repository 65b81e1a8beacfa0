"""Stressed Value at Risk of counterparty exposures, by historical simulation with full
revaluation.

Each historical scenario (:mod:`tanpo.risk.history`) moves every price, yield and FX rate of the
book by that same period's moves, so the lent securities and the collateral move together and
their correlation is kept. Every token is revalued exactly with the margin engine's
:func:`~tanpo.margin.unit_value` in the reporting currency (bonds through
:mod:`tanpo.risk.bonds`); the change of a counterparty's exposure in scenario s is

    ΔE(s) = Σ_lent q·ΔU_t(s) − Σ_collateral counted q·ΔU_t(s)

(a rise of the lent securities or a fall of the collateral raises the exposure).

Quantile: with N scenarios and confidence c, VaR is the k-th largest ΔE with
``k = ceil((1 − c)·N)`` (at least 1) — an order statistic, **no interpolation** — floored at 0
(a book whose exposure falls in the k worst cases has no VaR). Because the revaluation is exact
the VaR is exact too; it is only rounded for display.

Two ways to get a 5-day horizon (:class:`ReturnMethod`):

* ``overlapping`` (default): overlapping 5-business-day moves, used as they are;
* ``sqrt-time``: 1-day moves, and the 1-day quantile scaled by √5. √5 is irrational: the scaled
  figure is computed with 40 significant digits and rounded half-even to 6 decimal places of the
  reporting currency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

from tanpo.margin import MarginError, unit_value
from tanpo.risk.bonds import YieldRepricer
from tanpo.risk.errors import RiskError
from tanpo.risk.exact import exact_text
from tanpo.risk.history import (
    DEFAULT_WINDOW,
    FactorSource,
    StressHistory,
    StressWindow,
    build_history,
)
from tanpo.risk.portfolio import Book, market_of

__all__ = [
    "Moves",
    "ReturnMethod",
    "VarConfig",
    "VarResult",
    "exposure_changes",
    "fx_pairs_used",
    "kth_largest",
    "revalue",
    "stress_history_for",
    "value_at_risk",
]


class ReturnMethod(StrEnum):
    OVERLAPPING = "overlapping"
    SQRT_TIME = "sqrt-time"


@dataclass(frozen=True, slots=True)
class VarConfig:
    """Confidence, horizon (business days), horizon method and stressed window."""

    confidence: Fraction = Fraction(99, 100)
    horizon_days: int = 5
    method: ReturnMethod = ReturnMethod.OVERLAPPING
    window: StressWindow = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not 0 < self.confidence < 1:
            raise RiskError(f"confidence {self.confidence} must be strictly between 0 and 1")
        if self.horizon_days < 1:
            raise RiskError(f"horizon {self.horizon_days} must be at least 1 business day")

    @property
    def step(self) -> int:
        """Business days per scenario move."""
        return self.horizon_days if self.method == ReturnMethod.OVERLAPPING else 1

    def describe(self) -> dict[str, object]:
        if self.method == ReturnMethod.OVERLAPPING:
            returns = f"overlapping {self.horizon_days}-business-day moves"
            rounding = "none: exact revaluation and an exact order statistic"
        else:
            returns = f"1-business-day moves, quantile scaled by sqrt({self.horizon_days})"
            rounding = (
                f"sqrt({self.horizon_days}) scaling: 40 significant digits, rounded half-even "
                "to 6 decimal places"
            )
        return {
            "confidence": exact_text(self.confidence),
            "horizon_business_days": self.horizon_days,
            "returns": returns,
            "method": self.method.value,
            "quantile": (
                "k-th largest exposure increase, k = ceil((1 - confidence) * N), at least 1; "
                "no interpolation; floored at 0"
            ),
            "rounding": rounding,
            "window": {
                "name": self.window.name,
                "start": self.window.start.isoformat(),
                "end": self.window.end.isoformat(),
            },
        }


def fx_pairs_used(book: Book) -> list[str]:
    """The posted FX pairs that the book's valuation actually goes through.

    Found without knowing the engine's path rule: a pair is used if doubling it changes the rate
    from some token currency to the reporting currency (paths depend only on which pairs are
    posted, not on their values).
    """
    currencies = sorted({book.tokens[t].currency for t in book.token_ids()} - {book.currency})
    if not currencies:
        return []
    fx = dict(book.snapshot.fx)
    base = market_of(book.as_of, {}, fx)
    try:
        rates = {c: base.rate(c, book.currency) for c in currencies}
    except MarginError as exc:
        raise RiskError(str(exc)) from None
    used: list[str] = []
    for pair in sorted(fx):
        bumped = market_of(book.as_of, {}, {**fx, pair: fx[pair] * 2})
        if any(bumped.rate(c, book.currency) != rates[c] for c in currencies):
            used.append(pair)
    return used


def _token_factors(book: Book) -> dict[str, str]:
    out: dict[str, str] = {}
    for token_id in book.token_ids():
        info = book.tokens[token_id]
        if info.kind == "CT":
            continue
        if info.factor is None:
            raise RiskError(
                f"token {token_id} has no stressed-history risk factor: map it to a price "
                "series (price:SYMBOL) or, for a bond with known terms, a yield (yield:NAME)"
            )
        if info.factor.startswith("yield:") and info.bond is None:
            raise RiskError(
                f"token {token_id} is mapped to {info.factor} but has no bond terms (coupon, "
                "frequency, maturity) to reprice it from a yield move"
            )
        if info.factor.startswith("fx:"):
            raise RiskError(f"token {token_id}: an FX pair ({info.factor}) cannot move a security")
        out[token_id] = info.factor
    return out


def stress_history_for(
    book: Book, factors: FactorSource, window: StressWindow = DEFAULT_WINDOW
) -> StressHistory:
    """The history of every factor the book needs, over ``window``."""
    names = set(_token_factors(book).values())
    names.update(f"fx:{pair}" for pair in fx_pairs_used(book))
    return build_history(factors, names, window)


@dataclass(frozen=True, slots=True)
class Moves:
    """Per scenario (start, end), each token's unit-value change in the reporting currency."""

    periods: tuple[tuple[date, date], ...]
    deltas: Mapping[str, tuple[Fraction, ...]]


def revalue(book: Book, history: StressHistory, step: int) -> Moves:
    """Full exact revaluation of every token of ``book`` in each ``step``-day scenario."""
    token_factors = _token_factors(book)
    pairs = fx_pairs_used(book)
    ids = book.token_ids()
    if not token_factors and not pairs:
        return Moves((), {t: () for t in ids})
    needed = set(token_factors.values()) | {f"fx:{pair}" for pair in pairs}
    missing = sorted(needed - set(history.values))
    if missing:
        raise RiskError(f"the stress history lacks risk factor(s) {', '.join(missing)}")
    day = book.as_of
    base_units = {t: _unit(book, t, book.snapshot.prices, book.snapshot.fx) for t in ids}
    repricers: dict[str, YieldRepricer] = {}
    for token_id, factor in token_factors.items():
        terms = book.tokens[token_id].bond
        if factor.startswith("yield:") and terms is not None:
            repricers[token_id] = YieldRepricer(
                token_id, terms, day, book.snapshot.prices[token_id]
            )
    periods: list[tuple[date, date]] = []
    columns: dict[str, list[Fraction]] = {t: [] for t in ids}
    for sc in history.scenarios(step):
        prices: dict[str, Fraction] = {}
        for token_id, factor in token_factors.items():
            if token_id in repricers:
                prices[token_id] = repricers[token_id].shifted(sc.shifts[factor])
            else:
                prices[token_id] = book.snapshot.prices[token_id] * sc.ratios[factor]
        fx = dict(book.snapshot.fx)
        for pair in pairs:
            fx[pair] = fx[pair] * sc.ratios[f"fx:{pair}"]
        market = market_of(day, prices, fx)
        for token_id in ids:
            info = book.tokens[token_id]
            try:
                u = unit_value(info.engine_token, market, book.currency)
            except MarginError as exc:  # pragma: no cover - the base valuation succeeded
                raise RiskError(f"revaluing {token_id}: {exc}") from None
            columns[token_id].append(u - base_units[token_id])
        periods.append((sc.start, sc.end))
    return Moves(tuple(periods), {t: tuple(v) for t, v in columns.items()})


def _unit(
    book: Book, token_id: str, prices: Mapping[str, Fraction], fx: Mapping[str, Fraction]
) -> Fraction:
    info = book.tokens[token_id]
    wanted = {token_id: prices[token_id]} if info.kind == "ST" else {}
    return unit_value(info.engine_token, market_of(book.as_of, wanted, fx), book.currency)


def exposure_changes(weights: Mapping[str, int], moves: Moves) -> list[Fraction]:
    """ΔE per scenario for signed quantities ``weights`` (+lent, −counted collateral)."""
    n = len(moves.periods)
    out = [Fraction(0)] * n
    for token_id, qty in sorted(weights.items()):
        if qty == 0:
            continue
        column = moves.deltas[token_id]
        for i in range(n):
            out[i] += qty * column[i]
    return out


def kth_largest(values: Sequence[Fraction], confidence: Fraction) -> tuple[Fraction, int]:
    """The k-th largest value, ``k = max(1, ceil((1 − confidence)·N))``, and k."""
    n = len(values)
    if n == 0:
        raise RiskError("no scenarios: the quantile of an empty set is undefined")
    k = max(1, math.ceil((1 - confidence) * n))
    return sorted(values, reverse=True)[k - 1], k


@dataclass(frozen=True, slots=True)
class VarResult:
    """VaR (≥ 0, reporting currency, over the horizon) and how it was found.

    ``quantile`` is the k-th largest exposure change over one scenario move (before flooring and,
    for ``sqrt-time``, before scaling); ``worst`` the k largest moves, worst first, with their
    periods.
    """

    var: Fraction
    quantile: Fraction
    k: int
    n: int
    worst: tuple[tuple[date, date, Fraction], ...]


def _sqrt_scaled(value: Fraction, horizon: int) -> Fraction:
    with localcontext() as ctx:
        ctx.prec = 40
        scaled = (Decimal(value.numerator) / Decimal(value.denominator)) * Decimal(horizon).sqrt()
        return Fraction(scaled.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN))


def value_at_risk(changes: Sequence[Fraction], moves: Moves, config: VarConfig) -> VarResult:
    """VaR of one exposure from its per-scenario changes (see the module docstring)."""
    n = len(changes)
    if n != len(moves.periods):
        raise RiskError(f"{n} exposure changes for {len(moves.periods)} scenarios")
    if n == 0:
        return VarResult(Fraction(0), Fraction(0), 0, 0, ())
    q, k = kth_largest(changes, config.confidence)
    order = sorted(range(n), key=lambda i: (-changes[i], i))[:k]
    worst = tuple((moves.periods[i][0], moves.periods[i][1], changes[i]) for i in order)
    var = max(Fraction(0), q)
    if config.method == ReturnMethod.SQRT_TIME and config.horizon_days != 1 and var > 0:
        var = _sqrt_scaled(var, config.horizon_days)
    return VarResult(var, q, k, n, worst)
