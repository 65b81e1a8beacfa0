"""Yahoo Finance closes through ``yfinance``.

One ``yf.download`` call per request, for all symbols, with ``auto_adjust=False`` so the
``Close`` column is split-adjusted but **not** dividend-adjusted (DESIGN §1, the paper's
series). Equities use exchange tickers (``8306.T``); FX uses Yahoo's pair tickers:
``JPY=X`` is USDJPY (JPY per USD), ``EURUSD=X`` is USD per EUR, ``EURJPY=X`` JPY per EUR.

yfinance hands back binary floats. Each one is turned into the shortest decimal text that
reads back as the same float (``repr``: ``96.62000274658203``); validation then rounds it
half-even to the instrument's configured ``tick`` (``96.620`` for a tick of 0.001), and that
exact decimal is what gets posted. NaN (no trade / no row for that ticker) means missing.

Timing: Yahoo's daily FX row for date D is a bar that opens at 00:00 London; read after the
New York close it holds the rate at that time, which is the fixing the schedule asks for.

The ``download`` function is injected, so tests feed recorded frames and nothing touches the
network. yfinance reports a failed ticker by logging and returning NaN, not by raising; such a
ticker comes back with no closes and validation treats it as missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tanpo.oracle.sources import Closes, SourceError

__all__ = ["Download", "YFinanceSource", "closes_from_frame"]

Download = Callable[..., Any]


def _yf_download(*args: Any, **kwargs: Any) -> Any:
    import yfinance as yf

    return yf.download(*args, **kwargs)


@dataclass
class YFinanceSource:
    """Closes from Yahoo Finance. ``download`` defaults to ``yfinance.download``."""

    download: Download = field(default=_yf_download)
    timeout: float = 20.0
    kind: str = "yfinance"
    label: str = "yfinance"

    def closes(self, symbols: Sequence[str], start: date, end: date) -> Closes:
        if not symbols:
            return {}
        try:
            frame = self.download(
                list(symbols),
                start=start.isoformat(),
                end=(end + timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                interval="1d",
                auto_adjust=False,
                actions=False,
                group_by="column",
                multi_level_index=True,
                progress=False,
                threads=False,
                timeout=self.timeout,
            )
        except Exception as exc:  # the library raises many types; all mean "no answer"
            raise SourceError(f"yfinance download failed: {exc}") from exc
        got = closes_from_frame(frame, symbols)
        return {s: {d: v for d, v in got.get(s, {}).items() if start <= d <= end}
                for s in symbols}


def closes_from_frame(frame: Any, symbols: Sequence[str]) -> Closes:
    """Extract the ``Close`` column per symbol from a ``yf.download`` frame.

    Handles the (Price, Ticker) column MultiIndex of ``multi_level_index=True`` and the flat
    columns of a single-ticker download; tickers are matched case-insensitively (yfinance
    upper-cases them).
    """
    out: Closes = {s: {} for s in symbols}
    if frame is None or getattr(frame, "empty", True):
        return out
    columns = frame.columns
    if getattr(columns, "nlevels", 1) > 1:
        if "Close" not in columns.get_level_values(0):
            raise SourceError("yfinance frame has no 'Close' column")
        close = frame["Close"]
        by_upper = {str(c).upper(): c for c in close.columns}
        series = {s: close[by_upper[s.upper()]] for s in symbols if s.upper() in by_upper}
    else:
        if "Close" not in columns:
            raise SourceError("yfinance frame has no 'Close' column")
        if len(symbols) != 1:
            raise SourceError("a flat yfinance frame can only hold one ticker")
        series = {symbols[0]: frame["Close"]}
    for symbol, values in series.items():
        for stamp, value in values.items():
            if value is None:
                continue
            number = float(value)
            if math.isnan(number):
                continue
            out[symbol][_to_date(stamp)] = repr(number)
    return out


def _to_date(stamp: Any) -> date:
    if hasattr(stamp, "date") and callable(stamp.date):
        d = stamp.date()
        if isinstance(d, date):
            return d
    if isinstance(stamp, date):
        return stamp
    return date.fromisoformat(str(stamp)[:10])
