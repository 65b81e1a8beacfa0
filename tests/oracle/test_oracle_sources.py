"""Price sources: static, files in the shipped format, and yfinance on a recorded response."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tanpo.oracle.config import SourceConfig, default_config
from tanpo.oracle.daemon import Oracle
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.sources import (
    FileSource,
    PrefetchedSource,
    PriceSource,
    SourceError,
    StaticSource,
    build_source,
    closes_on,
)
from tanpo.oracle.validation import to_decimal
from tanpo.oracle.yfsource import YFinanceSource, closes_from_frame

D = date.fromisoformat
FIXTURES = Path(__file__).parents[1] / "fixtures" / "oracle"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "market"
PAPER_STOCKS = ["8306.T", "8604.T", "4901.T", "7013.T", "8031.T"]


def _market_roots() -> list[Any]:
    roots: list[Any] = [pytest.param(FIXTURES / "market", id="fixture")]
    shipped = pytest.mark.skipif(not (SHIPPED / "8306.T.csv").is_file(),
                                 reason="data/market is not in this checkout yet")
    roots.append(pytest.param(SHIPPED, id="shipped", marks=shipped))
    return roots


# ---- static -----------------------------------------------------------------------------


def test_static_source_answers_a_range_and_a_date() -> None:
    src = StaticSource({"A": {"2024-01-04": "1", D("2024-01-05"): Decimal("2.50"),
                              "2024-01-09": 3}})
    assert isinstance(src, PriceSource)
    assert src.closes(["A", "B"], D("2024-01-05"), D("2024-01-09")) == {
        "A": {D("2024-01-05"): "2.50", D("2024-01-09"): "3"}, "B": {}}
    assert closes_on(src, ["A", "B"], D("2024-01-04")) == {"A": "1"}


# ---- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("root", _market_roots())
def test_file_source_reproduces_the_papers_start_day_closes(root: Path) -> None:
    """DESIGN §1 / SOURCES.md: 0.95 x the five closes x 1e6 is the paper's loan value."""
    src = FileSource(root)
    cases = {D("2009-07-01"): 7351, D("2008-10-01"): 7995}
    if root == SHIPPED:
        cases |= {D("2009-03-02"): 4323, D("2008-11-04"): 5999}
    for day, total in cases.items():
        got = closes_on(src, PAPER_STOCKS, day)
        assert sum(to_decimal(got[s], Decimal("0.1")) for s in PAPER_STOCKS) == total


@pytest.mark.parametrize("root", _market_roots())
def test_file_source_finds_fx_pairs_under_fx(root: Path) -> None:
    got = closes_on(FileSource(root), ["USDJPY", "EURUSD", "EURJPY"], D("2008-10-01"))
    assert to_decimal(got["USDJPY"], Decimal("0.01")) == Decimal("105.94")
    assert to_decimal(got["EURUSD"], Decimal("0.0001")) == Decimal("1.4016")
    assert to_decimal(got["EURJPY"], Decimal("0.01")) == Decimal("148.51")


def test_file_source_keeps_the_text_exactly_and_skips_missing_cells(tmp_path: Path) -> None:
    (tmp_path / "fx").mkdir()
    (tmp_path / "X.csv").write_text(
        "date,close,volume\n2024-01-04,100.10,5\n2024-01-05,,0\n2024-01-09,abc,1\n")
    (tmp_path / "fx" / "DEXJPUS.csv").write_text(  # FRED: two columns, '.' on holidays
        "DATE,DEXJPUS\n2024-01-12,144.84\n2024-01-15,.\n2024-01-16,147.11\n")
    src = FileSource(tmp_path)
    got = src.closes(["X", "DEXJPUS"], D("2024-01-01"), D("2024-01-31"))
    assert got["X"] == {D("2024-01-04"): "100.10", D("2024-01-09"): "abc"}
    assert got["DEXJPUS"] == {D("2024-01-12"): "144.84", D("2024-01-16"): "147.11"}


def test_file_source_reads_a_long_table(tmp_path: Path) -> None:
    table = tmp_path / "closes.csv"
    table.write_text("date,symbol,close,note\n2024-01-04,A,1.5,x\n2024-01-04,B,2\n"
                     "2024-01-05,A,1.6,\n")
    src = build_source(SourceConfig("file", str(table)))
    assert src.closes(["A", "B", "C"], D("2024-01-04"), D("2024-01-05")) == {
        "A": {D("2024-01-04"): "1.5", D("2024-01-05"): "1.6"},
        "B": {D("2024-01-04"): "2"}, "C": {}}


def test_file_source_rereads_a_changed_file(tmp_path: Path) -> None:
    f = tmp_path / "X.csv"
    f.write_text("date,close\n2024-01-04,1\n")
    src = FileSource(tmp_path)
    assert closes_on(src, ["X"], D("2024-01-04")) == {"X": "1"}
    f.write_text("date,close\n2024-01-04,1.25\n")
    os.utime(f, ns=(f.stat().st_mtime_ns + 10**9, f.stat().st_mtime_ns + 10**9))
    assert closes_on(src, ["X"], D("2024-01-04")) == {"X": "1.25"}


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    ("date,open,high\n2024-01-04,1,2\n", "no 'close' column"),
    ("date,close\n04/01/2024,1\n", r"X.csv:2: date must be YYYY-MM-DD"),
    ("date,close\n2024-01-04,1\n2024-01-04,2\n", r"X.csv:3: date 2024-01-04 appears twice"),
    ("date,close,volume\n2024-01-04\n", r"X.csv:2: expected 2 columns"),
])
def test_file_source_errors_name_the_file_and_line(tmp_path: Path, content: str,
                                                   message: str) -> None:
    (tmp_path / "X.csv").write_text(content)
    with pytest.raises(SourceError, match=message):
        FileSource(tmp_path).closes(["X"], D("2024-01-01"), D("2024-01-31"))


def test_file_source_missing_file_and_bad_symbols(tmp_path: Path) -> None:
    src = FileSource(tmp_path)
    with pytest.raises(SourceError, match=r"no market data file for 'NOPE'.*tried NOPE.csv"):
        src.closes(["NOPE"], D("2024-01-01"), D("2024-01-31"))
    for bad in ("../etc/passwd", "/abs", ""):
        with pytest.raises(SourceError, match="invalid symbol"):
            src.closes([bad], D("2024-01-01"), D("2024-01-31"))
    with pytest.raises(SourceError, match="does not exist"):
        FileSource(tmp_path / "absent").closes(["X"], D("2024-01-01"), D("2024-01-31"))


def test_parquet_needs_pyarrow_or_reads_like_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame({"date": ["2024-01-04"], "close": [602.0]})
    try:
        frame.to_parquet(tmp_path / "X.parquet")
    except ImportError:
        (tmp_path / "X.parquet").write_bytes(b"PAR1")
        with pytest.raises(SourceError, match="parquet needs pyarrow"):
            FileSource(tmp_path).closes(["X"], D("2024-01-01"), D("2024-01-31"))
        return
    assert closes_on(FileSource(tmp_path), ["X"], D("2024-01-04")) == {"X": "602.0"}


def test_prefetched_source_asks_once_for_the_window() -> None:
    inner = StaticSource({"A": {"2024-01-04": "1", "2024-01-05": "2"}})
    src = PrefetchedSource(inner, ["A"], D("2024-01-01"), D("2024-01-31"))
    assert closes_on(src, ["A"], D("2024-01-04")) == {"A": "1"}
    assert closes_on(src, ["A"], D("2024-01-05")) == {"A": "2"}
    assert inner.requests == 1
    src.closes(["A"], D("2024-02-01"), D("2024-02-02"))  # outside: passed through
    assert inner.requests == 2


# ---- yfinance -----------------------------------------------------------------------------


def recorded() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "yf_download_2009-07.csv", header=[0, 1], index_col=0,
                       parse_dates=True)


class FakeDownload:
    """Stands in for ``yf.download``: records the call, returns the recorded frame."""

    def __init__(self, frame: pd.DataFrame | None = None, error: Exception | None = None):
        self.frame = recorded() if frame is None else frame
        self.error = error
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, tickers: Any, **kwargs: Any) -> pd.DataFrame:
        self.calls.append((tickers, kwargs))
        if self.error is not None:
            raise self.error
        start, end = pd.Timestamp(kwargs["start"]), pd.Timestamp(kwargs["end"])
        frame = self.frame.loc[(self.frame.index >= start) & (self.frame.index < end)]
        wanted = {t.upper() for t in tickers}
        keep = [c for c in frame.columns if c[1] in wanted]
        return frame[keep]


def test_yfinance_asks_for_unadjusted_closes_with_an_exclusive_end() -> None:
    fake = FakeDownload()
    src = YFinanceSource(download=fake)
    src.closes(["8306.T", "JPY=X"], D("2009-07-01"), D("2009-07-03"))
    ((tickers, kwargs),) = fake.calls
    assert tickers == ["8306.T", "JPY=X"]
    assert kwargs["auto_adjust"] is False  # split-adjusted, not dividend-adjusted
    assert (kwargs["start"], kwargs["end"]) == ("2009-07-01", "2009-07-04")
    assert kwargs["progress"] is False and kwargs["interval"] == "1d"


def test_yfinance_closes_on_recorded_data() -> None:
    src = YFinanceSource(download=FakeDownload())
    got = src.closes(["8306.T", "8604.T", "JPY=X", "EURUSD=X"], D("2009-07-01"), D("2009-07-24"))
    assert got["8306.T"][D("2009-07-01")] == "602.0"
    assert to_decimal(got["JPY=X"][D("2009-07-01")], Decimal("0.001")) == Decimal("96.620")
    assert to_decimal(got["EURUSD=X"][D("2009-07-01")], Decimal("0.00001")) == Decimal("1.41409")
    # 2009-07-20 is a Tokyo holiday: NaN for the stocks (missing), a value for FX
    assert D("2009-07-20") not in got["8306.T"]
    assert D("2009-07-20") in got["JPY=X"]
    assert max(got["8604.T"]) == D("2009-07-24")


def test_yfinance_converts_floats_to_the_shortest_exact_text() -> None:
    frame = recorded()
    got = closes_from_frame(frame, ["JPY=X"])
    text = got["JPY=X"][D("2009-07-01")]
    assert float(text) == frame[("Close", "JPY=X")].loc["2009-07-01"]  # no information lost
    assert "e" not in text and len(text) <= 18


def test_yfinance_single_ticker_flat_frame_and_lower_case_symbols() -> None:
    flat = recorded().xs("8306.T", axis=1, level=1)
    assert closes_from_frame(flat, ["8306.t"])["8306.t"][D("2009-07-02")] == "596.0"
    assert closes_from_frame(recorded(), ["8306.t"])["8306.t"][D("2009-07-02")] == "596.0"


def test_yfinance_failures() -> None:
    broken = YFinanceSource(download=FakeDownload(error=ConnectionError("no route to host")))
    with pytest.raises(SourceError, match="yfinance download failed: no route to host"):
        broken.closes(["8306.T"], D("2009-07-01"), D("2009-07-03"))
    empty = YFinanceSource(download=lambda *a, **k: pd.DataFrame())
    assert empty.closes(["8306.T"], D("2009-07-01"), D("2009-07-03")) == {"8306.T": {}}
    none = YFinanceSource(download=lambda *a, **k: None)
    assert none.closes(["8306.T"], D("2009-07-01"), D("2009-07-03")) == {"8306.T": {}}
    no_close = pd.DataFrame({"Open": [1.0]}, index=pd.to_datetime(["2009-07-01"]))
    with pytest.raises(SourceError, match="no 'Close' column"):
        closes_from_frame(no_close, ["8306.T"])


def test_replay_from_yfinance_posts_exact_decimals(tmp_path: Path) -> None:
    """The recorded response drives a replay end to end into the fake ledger."""
    cfg = default_config()
    cfg = type(cfg)(instruments=cfg.instruments[:2], fx=cfg.fx)
    ledger = MemoryLedger.demo((i.token, i.currency) for i in cfg.instruments)
    fake = FakeDownload()
    oracle = Oracle(cfg, ledger, YFinanceSource(download=fake), mode="replay")
    result = oracle.replay(D("2009-07-01"), D("2009-07-24"), days="weekdays")
    assert result.stopped_at is None
    assert len(fake.calls) == 1, "a replay downloads its window once"
    first = ledger.batches[D("2009-07-01")]
    assert first.prices["JP8306"].value == Decimal("602.0")
    assert str(first.fx["USDJPY"].value) == "96.620"
    holiday = ledger.batches[D("2009-07-20")]
    assert holiday.prices["JP8306"].as_of == D("2009-07-17")  # carried over the holiday
    assert holiday.fx["USDJPY"].as_of == D("2009-07-20")
