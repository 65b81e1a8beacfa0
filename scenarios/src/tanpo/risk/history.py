"""The stressed window: historical series of the book's risk factors, aligned on one business-day
grid, and the historical scenarios (moves over the horizon) taken from them.

Risk factors are named ``"price:SYMBOL"`` (a security's close in ``data/market/SYMBOL.csv``),
``"fx:PAIR"`` (an FX market pair in ``data/market/fx/PAIR.csv``) and ``"yield:NAME"`` (a 10-year
benchmark yield in percent in ``data/market/stress/NAME.csv``).

Alignment: the grid is every weekday (Monday to Friday) of the window, from the first weekday on
which every needed series has a close; each series takes its last close on or before a grid day
(carried forward over its own holidays: a holiday is a zero move for that market), never across
more than ``max_gap_days`` calendar days. So a 5-business-day move is one calendar week whatever
the markets in the book, and a counterparty's scenarios do not depend on the other
counterparties' instruments (except that the grid starts when the last of the book's series
starts: at most ``max_gap_days`` after the window start, else the window is refused). Closes of
different markets are taken at their own local close (Tokyo, New York and the FX snapshot are
not synchronous; over a 5-day horizon the mismatch is a small part of the move).

Scenarios: with horizon h (5 business days), scenario i moves each price and FX rate by the ratio
``v[i+h] / v[i]`` and each yield by the difference ``v[i+h] − v[i]``, for i = 0 … n−h−1 over the n
grid days: **overlapping** h-day moves (consecutive scenarios share h−1 days), all exact.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Protocol

from tanpo.marketdata.calendar import calendar_days
from tanpo.marketdata.series import (
    MarketData,
    MarketDataError,
    PriceSeries,
    default_data_dir,
    parse_decimal,
)
from tanpo.risk.errors import RiskError

__all__ = [
    "DEFAULT_WINDOW",
    "FactorSource",
    "MarketDataFactors",
    "MemoryFactors",
    "Scenario",
    "StressHistory",
    "StressWindow",
    "build_history",
    "factor_kind",
    "load_yield_series",
]

#: Longest stretch (calendar days) a series may be carried forward inside the window.
MAX_GAP_DAYS = 7


@dataclass(frozen=True, slots=True)
class StressWindow:
    """A closed date range of history to draw scenarios from."""

    start: date
    end: date
    name: str = ""

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise RiskError(f"stressed window end {self.end} is not after its start {self.start}")

    @property
    def label(self) -> str:
        span = f"{self.start.isoformat()}..{self.end.isoformat()}"
        return f"{self.name} ({span})" if self.name else span

    @classmethod
    def parse(cls, text: str) -> StressWindow:
        """``"2008-09-01:2009-08-31"`` (or with ``..``) → a window."""
        sep = ".." if ".." in text else ":"
        parts = text.split(sep)
        if len(parts) != 2:
            raise RiskError(f"window {text!r} is not START:END such as 2008-01-01:2009-12-31")
        try:
            start, end = (date.fromisoformat(p.strip()) for p in parts)
        except ValueError:
            raise RiskError(f"window {text!r}: dates must be YYYY-MM-DD") from None
        return cls(start, end)


#: The 2008-2009 crisis: every shipped 2008-2009 row of data/market (the paper's years).
DEFAULT_WINDOW = StressWindow(date(2008, 1, 1), date(2009, 12, 31), "gfc-2008-2009")


def factor_kind(factor: str) -> str:
    """``"price"``, ``"fx"`` or ``"yield"``; RiskError for anything else."""
    kind, sep, name = factor.partition(":")
    if not sep or not name or kind not in ("price", "fx", "yield"):
        raise RiskError(f"risk factor {factor!r} is not price:SYMBOL, fx:PAIR or yield:NAME")
    return kind


class FactorSource(Protocol):
    """Where the historical series of risk factors come from."""

    def series(self, factor: str) -> PriceSeries:
        """The full series of ``factor``; RiskError if there is none."""
        ...


def load_yield_series(path: Path, name: str) -> PriceSeries:
    """A ``date,yield_pct[,...]`` file (yields in percent, may be zero or negative), exactly."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise RiskError(f"no yield history {name!r}: cannot read {path}: {exc.strerror}") from None
    values: dict[date, Fraction] = {}
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["date", "yield_pct"]:
            raise RiskError(f"{path}:1: header must start with 'date,yield_pct'")
        last: date | None = None
        for row in reader:
            if not row or not "".join(row).strip():
                continue
            try:
                day = date.fromisoformat(row[0].strip())
                value = parse_decimal(row[1])
            except (ValueError, IndexError):
                raise RiskError(f"{path}:{reader.line_num}: expected date,yield_pct") from None
            if last is not None and day <= last:
                raise RiskError(f"{path}:{reader.line_num}: dates must be strictly increasing")
            values[day] = value
            last = day
    return PriceSeries.from_mapping(name, values)


class MarketDataFactors:
    """Factors from a market-data folder in the shipped format (default: ``data/market``)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()
        self._market = MarketData(self.root)
        self._yields: dict[str, PriceSeries] = {}

    def series(self, factor: str) -> PriceSeries:
        kind = factor_kind(factor)
        name = factor.partition(":")[2]
        try:
            if kind == "price":
                return self._market.instrument(name)
            if kind == "fx":
                return self._market.fx(name)
        except MarketDataError as exc:
            raise RiskError(f"no history for risk factor {factor}: {exc}") from None
        if "/" in name or "\\" in name or name.startswith("."):
            raise RiskError(f"invalid yield series name {name!r}")
        if name not in self._yields:
            self._yields[name] = load_yield_series(self.root / "stress" / f"{name}.csv", name)
        return self._yields[name]


@dataclass
class MemoryFactors:
    """Factors held in memory (tests, or a caller that loaded its own history)."""

    data: Mapping[str, PriceSeries] = field(default_factory=dict)

    def series(self, factor: str) -> PriceSeries:
        factor_kind(factor)
        found = self.data.get(factor)
        if found is None:
            raise RiskError(f"no history for risk factor {factor}")
        return found


@dataclass(frozen=True, slots=True)
class Scenario:
    """One historical move over the horizon: from grid day ``start`` to ``end``.

    ``ratios`` for price and FX factors (new / old), ``shifts`` for yields (new − old, in percent
    points).
    """

    start: date
    end: date
    ratios: Mapping[str, Fraction]
    shifts: Mapping[str, Fraction]


@dataclass(frozen=True, slots=True)
class StressHistory:
    """The needed factors' values on the common grid of the window."""

    window: StressWindow
    days: tuple[date, ...]
    values: Mapping[str, tuple[Fraction, ...]]

    def scenarios(self, horizon: int) -> list[Scenario]:
        """Overlapping ``horizon``-day moves (see the module docstring)."""
        if horizon < 1:
            raise RiskError(f"horizon {horizon} must be at least 1 business day")
        n = len(self.days)
        if n <= horizon:
            raise RiskError(
                f"the stressed window {self.window.label} has {n} business days of common "
                f"history; a {horizon}-day move needs at least {horizon + 1}"
            )
        out: list[Scenario] = []
        for i in range(n - horizon):
            ratios: dict[str, Fraction] = {}
            shifts: dict[str, Fraction] = {}
            for factor, vals in self.values.items():
                if factor.startswith("yield:"):
                    shifts[factor] = vals[i + horizon] - vals[i]
                else:
                    ratios[factor] = vals[i + horizon] / vals[i]
            out.append(Scenario(self.days[i], self.days[i + horizon], ratios, shifts))
        return out

    def digest(self) -> str:
        """sha256 of the grid and every value (names the exact history a report used)."""
        h = hashlib.sha256()
        h.update(",".join(d.isoformat() for d in self.days).encode())
        for factor in sorted(self.values):
            h.update(f"\n{factor}:".encode())
            h.update(",".join(str(v) for v in self.values[factor]).encode())
        return "sha256:" + h.hexdigest()


def _grid(series: Mapping[str, PriceSeries], window: StressWindow, max_gap_days: int) -> list[date]:
    firsts: list[date] = []
    for factor, s in series.items():
        inside = s.between(window.start, window.end)
        if not inside.days:
            raise RiskError(
                f"risk factor {factor} has no history in the stressed window {window.label}"
            )
        found = s.last_on_or_before(window.start)
        firsts.append(window.start if found is not None else inside.days[0])
    begin = max(firsts)
    if (begin - window.start).days > max_gap_days:
        late = sorted(f for f, d in zip(series, firsts, strict=True) if d == begin)
        raise RiskError(
            f"the stressed window {window.label} starts before the history of "
            f"{', '.join(late)} (first close {begin.isoformat()}): start the window later"
        )
    return [d for d in calendar_days(begin, window.end) if d.weekday() < 5]


def build_history(
    factors: FactorSource,
    names: Iterable[str],
    window: StressWindow = DEFAULT_WINDOW,
    max_gap_days: int = MAX_GAP_DAYS,
) -> StressHistory:
    """Load ``names`` from ``factors`` and align them on the window's grid."""
    wanted = sorted(set(names))
    for name in wanted:
        kind = factor_kind(name)
        if kind not in ("price", "fx", "yield"):  # pragma: no cover - factor_kind guards
            raise RiskError(f"unknown factor kind {kind}")
    series = {name: factors.series(name) for name in wanted}
    days: Sequence[date] = _grid(series, window, max_gap_days) if series else []
    values: dict[str, tuple[Fraction, ...]] = {}
    for name, s in series.items():
        column: list[Fraction] = []
        for day in days:
            found = s.last_on_or_before(day)
            if found is None or (day - found[0]).days > max_gap_days:
                raise RiskError(
                    f"risk factor {name} has no close within {max_gap_days} days before "
                    f"{day.isoformat()} (stale or missing data in the window {window.label})"
                )
            if not name.startswith("yield:") and found[1] <= 0:
                raise RiskError(f"risk factor {name} is not positive on {found[0].isoformat()}")
            column.append(found[1])
        values[name] = tuple(column)
    return StressHistory(window, tuple(days), values)
