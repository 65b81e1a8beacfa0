"""Where closing prices come from, behind one small interface.

A source answers "the closes of these symbols from ``start`` to ``end``" with the **text** of
each close as the source holds it (``"602.0"``, ``"96.62000274658203"``). Turning text into an
exact decimal, rounding it to the instrument's tick and refusing bad values is validation's job
(:mod:`tanpo.oracle.validation`), so a malformed value reaches the refusal log with its reason
instead of vanishing inside a parser. A day the source has no value for is simply absent.

* :class:`StaticSource` - a dict, for tests.
* :class:`FileSource` - the project's shipped market data: a folder with one file per
  instrument ``<dir>/<SYMBOL>.csv`` and one per FX pair ``<dir>/fx/<PAIR>.csv`` (header starting
  ``date,close``; further columns ignored), or one long table with columns ``date,symbol,close``.
  Parquet files work the same way when ``pyarrow`` is installed.
* :class:`~tanpo.oracle.yfsource.YFinanceSource` - Yahoo Finance, for live use.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from tanpo.oracle.config import SourceConfig

__all__ = [
    "Closes",
    "FileSource",
    "PrefetchedSource",
    "PriceSource",
    "SourceError",
    "StaticSource",
    "build_source",
    "closes_on",
]

#: symbol -> {market date: close as text}
Closes = dict[str, dict[date, str]]

#: Cell texts that mean "no value that day" (FRED writes ``.``, pandas ``nan``).
MISSING_TEXTS = frozenset({"", ".", "na", "n/a", "nan", "null", "none", "-"})


class SourceError(Exception):
    """The source could not answer (unreachable, file missing or unreadable)."""


@runtime_checkable
class PriceSource(Protocol):
    """Closing prices by symbol and market date."""

    @property
    def kind(self) -> str:
        """``yfinance``, ``file`` or ``static``: selects each instrument's symbol."""
        ...

    @property
    def label(self) -> str:
        """A short label recorded with posted batches (``file:market``)."""
        ...

    def closes(self, symbols: Sequence[str], start: date, end: date) -> Closes:
        """Closes with ``start <= date <= end`` for each symbol (``{}`` when it has none)."""
        ...


def closes_on(source: PriceSource, symbols: Sequence[str], d: date) -> dict[str, str]:
    """The closes of ``symbols`` on exactly ``d`` (symbols without one are left out)."""
    got = source.closes(symbols, d, d)
    return {s: got[s][d] for s in symbols if d in got.get(s, {})}


def _window(series: Mapping[date, str], start: date, end: date) -> dict[date, str]:
    return {d: v for d, v in series.items() if start <= d <= end}


@dataclass
class StaticSource:
    """Closes from a mapping ``{symbol: {date or ISO string: value}}`` (tests, drills)."""

    data: Mapping[str, Mapping[Any, Any]]
    kind: str = "static"
    label: str = "static"
    requests: int = 0

    def closes(self, symbols: Sequence[str], start: date, end: date) -> Closes:
        self.requests += 1
        out: Closes = {}
        for s in symbols:
            series = {
                (k if isinstance(k, date) else date.fromisoformat(str(k))): _text(v)
                for k, v in self.data.get(s, {}).items()
            }
            out[s] = _window(series, start, end)
        return out


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal | int | str):
        return str(value)
    raise TypeError(f"a close must be text, Decimal, int or float, got {type(value).__name__}")


@dataclass
class _Parsed:
    stamp: tuple[int, int]
    series: dict[str, dict[date, str]]


@dataclass
class FileSource:
    """Closes from the project's market-data files (see the module docstring).

    ``path`` is a folder (one file per symbol) or one long-table file. A symbol may name a
    sub-folder file (``extra/AAPL``); it may not leave ``path``.
    """

    path: Path
    kind: str = "file"
    label: str = ""
    _cache: dict[Path, _Parsed] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.label:
            self.label = f"file:{self.path.name}"

    def closes(self, symbols: Sequence[str], start: date, end: date) -> Closes:
        if not self.path.exists():
            raise SourceError(f"market data not found: {self.path} does not exist")
        problems: list[str] = []
        out: Closes = {}
        if self.path.is_file():
            table = self._load(self.path, long_table=True)
            for s in symbols:
                out[s] = _window(table.get(s, {}), start, end)
            return out
        for s in symbols:
            try:
                f = self.resolve(s)
                out[s] = _window(self._load(f, long_table=False)[""], start, end)
            except SourceError as exc:
                problems.append(str(exc))
        if problems:
            raise SourceError("; ".join(problems))
        return out

    def resolve(self, symbol: str) -> Path:
        """The file holding ``symbol``: ``<s>.csv``, ``<s>.parquet``, ``fx/<s>.csv``, ..."""
        rel = PurePosixPath(symbol)
        if not symbol or rel.is_absolute() or ".." in rel.parts or "\\" in symbol:
            raise SourceError(f"invalid symbol {symbol!r} for the file source")
        tried = []
        for folder in (self.path, self.path / "fx"):
            for suffix in (".csv", ".parquet"):
                candidate = folder / f"{symbol}{suffix}"
                if candidate.is_file():
                    return candidate
                tried.append(candidate.relative_to(self.path).as_posix())
        raise SourceError(f"no market data file for {symbol!r} in {self.path} "
                          f"(tried {', '.join(tried)})")

    def _load(self, f: Path, long_table: bool) -> dict[str, dict[date, str]]:
        st = f.stat()
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(f)
        if cached is not None and cached.stamp == stamp:
            return cached.series
        rows = _read_parquet(f) if f.suffix == ".parquet" else _read_csv(f)
        series = _columns(f, rows, long_table)
        self._cache[f] = _Parsed(stamp, series)
        return series


def _read_csv(f: Path) -> list[list[str]]:
    try:
        with f.open(newline="", encoding="utf-8-sig") as handle:
            return [row for row in csv.reader(handle) if row and any(c.strip() for c in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"cannot read {f}: {exc}") from exc


def _read_parquet(f: Path) -> list[list[str]]:
    try:
        import pandas as pd

        frame = pd.read_parquet(f)
    except ImportError as exc:
        raise SourceError(
            f"cannot read {f}: parquet needs pyarrow or fastparquet installed; or use CSV"
        ) from exc
    except Exception as exc:
        raise SourceError(f"cannot read {f}: {exc}") from exc
    header = [str(c) for c in frame.columns]
    body: list[list[str]] = []
    for record in frame.itertuples(index=False):
        body.append([_cell(v) for v in record])
    return [header, *body]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else repr(v)
    if hasattr(v, "date") and callable(v.date):
        return str(v.date().isoformat())
    return str(v)


def _columns(f: Path, rows: list[list[str]], long_table: bool) -> dict[str, dict[date, str]]:
    if not rows:
        raise SourceError(f"{f}: empty file (expected a header starting with 'date,close')")
    header = [h.strip().lower() for h in rows[0]]
    date_col = header.index("date") if "date" in header else 0
    if "close" in header:
        close_col = header.index("close")
    elif not long_table and len(header) == 2:
        close_col = 1 - date_col
    else:
        raise SourceError(f"{f}:1: no 'close' column in header {','.join(rows[0])!r}")
    sym_col: int | None = None
    if long_table:
        if "symbol" not in header:
            raise SourceError(f"{f}:1: a long table needs columns date,symbol,close")
        sym_col = header.index("symbol")
    out: dict[str, dict[date, str]] = {}
    width = max(date_col, close_col, sym_col or 0) + 1
    for line, row in enumerate(rows[1:], start=2):
        if len(row) < width:
            raise SourceError(f"{f}:{line}: expected {width} columns, found {len(row)}")
        try:
            d = date.fromisoformat(row[date_col].strip())
        except ValueError:
            raise SourceError(f"{f}:{line}: date must be YYYY-MM-DD, found {row[date_col]!r}") \
                from None
        text = row[close_col].strip()
        if text.lower() in MISSING_TEXTS:
            continue
        sym = row[sym_col].strip() if sym_col is not None else ""
        series = out.setdefault(sym, {})
        if d in series:
            raise SourceError(f"{f}:{line}: {sym or 'date'} {d} appears twice")
        series[d] = text
    out.setdefault("", {})
    return out


@dataclass
class PrefetchedSource:
    """Answers from one range query made up front (a replay asks once for its whole window)."""

    inner: PriceSource
    symbols: Sequence[str]
    start: date
    end: date
    _data: Closes | None = None

    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def label(self) -> str:
        return self.inner.label

    def closes(self, symbols: Sequence[str], start: date, end: date) -> Closes:
        inside = set(symbols) <= set(self.symbols) and self.start <= start and end <= self.end
        if not inside:
            return self.inner.closes(symbols, start, end)
        if self._data is None:
            self._data = self.inner.closes(list(self.symbols), self.start, self.end)
        return {s: _window(self._data.get(s, {}), start, end) for s in symbols}


def build_source(cfg: SourceConfig, static: Mapping[str, Mapping[Any, Any]] | None = None
                 ) -> PriceSource:
    """The source a :class:`SourceConfig` names. Relative paths are from the working folder."""
    if cfg.kind == "file":
        if not cfg.path:
            raise SourceError("the file source needs a path")
        return FileSource(Path(os.path.expanduser(cfg.path)))
    if cfg.kind == "static":
        return StaticSource(static or {})
    if cfg.kind == "yfinance":
        from tanpo.oracle.yfsource import YFinanceSource

        return YFinanceSource()
    raise SourceError(f"unknown source kind {cfg.kind!r}")


def lookback_start(d: date, days: int) -> date:
    return d - timedelta(days=days)
