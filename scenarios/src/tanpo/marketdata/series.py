"""Price series in the shipped market-data format, loaded as exact values.

The format (read by the scenario runner and by the oracle's file source):

* one file per instrument, ``<root>/<SYMBOL>.csv``; one per FX market pair,
  ``<root>/fx/<PAIR>.csv`` (``USDJPY`` = JPY per USD, ``EURUSD`` = USD per EUR, ...);
* a header that starts with ``date,close``; further columns are allowed and ignored here;
* ``date`` is an ISO date (``YYYY-MM-DD``), strictly increasing; ``close`` is a positive decimal
  string, kept exactly (it becomes a :class:`fractions.Fraction`, never a float).
"""

from __future__ import annotations

import bisect
import csv
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

__all__ = [
    "DATA_ENV_VAR",
    "MarketData",
    "MarketDataError",
    "PriceSeries",
    "default_data_dir",
    "load_series",
    "parse_decimal",
]

#: Environment variable that points the loaders at another market-data folder.
DATA_ENV_VAR = "TANPO_MARKET_DATA"

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_PAIR_RE = re.compile(r"^[A-Z]{3}[A-Z]{3}$")


class MarketDataError(ValueError):
    """A market-data file is missing, malformed, or has no value for a requested day."""


#: Bounds of parse_decimal: real prices and quantities are far inside them, while an exponent such
#: as ``"1e100000000"`` would otherwise build an integer of a hundred million digits.
MAX_DECIMAL_TEXT = 100
MAX_DECIMAL_EXPONENT = 50


def parse_decimal(text: str) -> Fraction:
    """Parse a decimal string (``"602.0"``, ``"1.1050"``, ``"1e3"``) into an exact Fraction.

    Floats are never involved: ``parse_decimal("0.1") == Fraction(1, 10)``. Numbers whose
    magnitude is beyond ``1e±50`` (or texts longer than 100 characters) are refused.
    """
    stripped = text.strip()
    if len(stripped) > MAX_DECIMAL_TEXT or not _DECIMAL_RE.match(stripped):
        raise ValueError(f"not a decimal number: {text[:MAX_DECIMAL_TEXT]!r}")
    try:
        value = Decimal(stripped)
    except (InvalidOperation, ValueError) as exc:  # pragma: no cover - regex guards this
        raise ValueError(f"not a decimal number: {text!r}") from exc
    if abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise ValueError(f"number out of range: {text!r} (beyond 1e±{MAX_DECIMAL_EXPONENT})")
    return Fraction(value)


@dataclass(frozen=True)
class PriceSeries:
    """One instrument's (or FX pair's) daily closes, by trading date, as exact values."""

    symbol: str
    days: tuple[date, ...]
    closes: tuple[Fraction, ...]
    path: Path | None = None
    _index: dict[date, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.days) != len(self.closes):
            raise MarketDataError(
                f"{self.symbol}: {len(self.days)} dates but {len(self.closes)} closes"
            )
        for earlier, later in zip(self.days, self.days[1:], strict=False):
            if later <= earlier:
                raise MarketDataError(
                    f"{self.symbol}: dates must be strictly increasing ({earlier} then {later})"
                )
        self._index.update({d: i for i, d in enumerate(self.days)})

    @classmethod
    def from_mapping(cls, symbol: str, values: Mapping[date, Fraction]) -> PriceSeries:
        days = tuple(sorted(values))
        return cls(symbol, days, tuple(values[d] for d in days))

    def __len__(self) -> int:
        return len(self.days)

    def __iter__(self) -> Iterator[tuple[date, Fraction]]:
        return iter(zip(self.days, self.closes, strict=True))

    def __contains__(self, day: object) -> bool:
        return day in self._index

    def close(self, day: date) -> Fraction:
        """The close of a trading day; :class:`MarketDataError` if ``day`` had no trading."""
        try:
            return self.closes[self._index[day]]
        except KeyError:
            raise MarketDataError(f"{self.symbol}: no close on {day.isoformat()}") from None

    def first_on_or_after(self, day: date) -> tuple[date, Fraction] | None:
        """The first trading day ``>= day`` and its close, or None past the end of the data."""
        i = bisect.bisect_left(self.days, day)
        return (self.days[i], self.closes[i]) if i < len(self.days) else None

    def last_on_or_before(self, day: date) -> tuple[date, Fraction] | None:
        """The last trading day ``<= day`` and its close, or None before the start of the data."""
        i = bisect.bisect_right(self.days, day)
        return (self.days[i - 1], self.closes[i - 1]) if i > 0 else None

    def between(self, start: date, end: date) -> PriceSeries:
        """The rows with ``start <= date <= end``."""
        lo = bisect.bisect_left(self.days, start)
        hi = bisect.bisect_right(self.days, end)
        return PriceSeries(self.symbol, self.days[lo:hi], self.closes[lo:hi], self.path)


def load_series(path: Path | str, symbol: str | None = None) -> PriceSeries:
    """Read one ``date,close[,...]`` CSV file into an exact :class:`PriceSeries`.

    Errors name the file and the line: a wrong header, a bad date, a close that is empty, not a
    decimal or not positive, and dates that are not strictly increasing.
    """
    p = Path(path)
    name = symbol or p.stem
    try:
        handle = p.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise MarketDataError(f"cannot read market data {p}: {exc.strerror or exc}") from exc
    days: list[date] = []
    closes: list[Fraction] = []
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["date", "close"]:
            raise MarketDataError(
                f"{p}:1: header must start with 'date,close', found {','.join(header or [])!r}"
            )
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < 2:
                raise MarketDataError(f"{p}:{line}: expected 'date,close', found {','.join(row)!r}")
            try:
                day = date.fromisoformat(row[0].strip())
            except ValueError:
                raise MarketDataError(
                    f"{p}:{line}: date must be YYYY-MM-DD, found {row[0]!r}"
                ) from None
            text = row[1].strip()
            try:
                value = parse_decimal(text)
            except ValueError:
                raise MarketDataError(
                    f"{p}:{line}: close must be a decimal number, found {text!r}"
                ) from None
            if value <= 0:
                raise MarketDataError(f"{p}:{line}: close must be positive, found {text!r}")
            if days and day <= days[-1]:
                raise MarketDataError(
                    f"{p}:{line}: dates must be strictly increasing ({days[-1]} then {day})"
                )
            days.append(day)
            closes.append(value)
    return PriceSeries(name, tuple(days), tuple(closes), p)


def default_data_dir() -> Path:
    """The market-data folder: ``$TANPO_MARKET_DATA``, else the checkout's ``data/market``."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env)
    from tanpo.network.topology import repo_root

    return repo_root() / "data" / "market"


class MarketData:
    """A market-data folder in the shipped format; series are loaded once and cached."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()
        self._cache: dict[Path, PriceSeries] = {}

    def _load(self, path: Path, symbol: str) -> PriceSeries:
        series = self._cache.get(path)
        if series is None:
            if not path.is_file():
                raise MarketDataError(f"no market data for {symbol!r}: {path} does not exist")
            series = load_series(path, symbol)
            self._cache[path] = series
        return series

    def instrument(self, symbol: str) -> PriceSeries:
        """The closes of ``<root>/<symbol>.csv``."""
        if not symbol or "/" in symbol or "\\" in symbol or symbol.startswith("."):
            raise MarketDataError(f"invalid instrument symbol {symbol!r}")
        return self._load(self.root / f"{symbol}.csv", symbol)

    def fx(self, pair: str) -> PriceSeries:
        """The rates of ``<root>/fx/<PAIR>.csv`` (quote currency per one unit of base currency)."""
        if not _PAIR_RE.match(pair):
            raise MarketDataError(
                f"invalid FX pair {pair!r}: expected six letters such as 'USDJPY'"
            )
        return self._load(self.root / "fx" / f"{pair}.csv", pair)

    def symbols(self) -> list[str]:
        """The instrument symbols available in the folder."""
        return sorted(p.stem for p in self.root.glob("*.csv"))

    def pairs(self) -> list[str]:
        """The FX pairs available in the folder."""
        return sorted(p.stem for p in (self.root / "fx").glob("*.csv"))
