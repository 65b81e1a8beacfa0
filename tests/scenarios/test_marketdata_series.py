"""Market-data files: the shipped format, exact loading, clear errors, and the data checks."""

from __future__ import annotations

import csv
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from tanpo.marketdata import MarketData, MarketDataError, load_series, parse_decimal

MARKET = MarketData()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "X.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_decimal_strings_load_exactly(tmp_path: Path) -> None:
    series = load_series(
        _write(tmp_path, "date,close,extra\n2024-01-02,0.1,a\n2024-01-03,1.1050,b\n")
    )
    assert series.close(date(2024, 1, 2)) == Fraction(1, 10)
    assert series.close(date(2024, 1, 3)) == Fraction(221, 200)
    assert parse_decimal("602.0") == 602
    with pytest.raises(ValueError):
        parse_decimal("nan")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("day,close\n2024-01-02,1\n", 1, "header must start with 'date,close'"),
        ("date,close\n2024-01-02,1\n2024-13-01,2\n", 3, "date must be YYYY-MM-DD"),
        ("date,close\n2024-01-02,abc\n", 2, "close must be a decimal number"),
        ("date,close\n2024-01-02,\n", 2, "close must be a decimal number"),
        ("date,close\n2024-01-02,0\n", 2, "close must be positive"),
        ("date,close\n2024-01-03,1\n2024-01-02,1\n", 3, "strictly increasing"),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(MarketDataError) as err:
        load_series(path)
    assert f"{path}:{line}:" in str(err.value)
    assert fragment in str(err.value)


def test_missing_symbol_is_a_clear_error() -> None:
    with pytest.raises(MarketDataError, match="no market data for 'NOPE'"):
        MARKET.instrument("NOPE")
    with pytest.raises(MarketDataError, match="invalid FX pair"):
        MARKET.fx("USD/JPY")


def test_every_shipped_file_follows_the_format() -> None:
    for symbol in MARKET.symbols():
        assert len(MARKET.instrument(symbol)) > 200, symbol
    assert MARKET.pairs() == ["EURJPY", "EURUSD", "USDJPY"]
    for pair in MARKET.pairs():
        series = MARKET.fx(pair)
        assert series.first_on_or_after(date(2008, 1, 1)) is not None
        assert all(d.weekday() < 5 for d in series.days), pair
    with (MARKET.root / "8306.T.csv").open() as handle:
        assert next(csv.reader(handle))[:2] == ["date", "close"]


@pytest.mark.parametrize(
    ("day", "closes"),
    [
        (date(2009, 7, 1), (602, 810, 3120, 1690, 1129)),
        (date(2008, 10, 1), (923, 1405, 2715, 1600, 1352)),
        (date(2009, 3, 2), (423, 434, 1771, 810, 885)),
        (date(2008, 11, 4), (627, 927, 2310, 1210, 925)),
    ],
)
def test_paper_start_closes(day: date, closes: tuple[int, ...]) -> None:
    got = tuple(
        MARKET.instrument(s).close(day) for s in ("8306.T", "8604.T", "4901.T", "7013.T", "8031.T")
    )
    assert got == closes


def test_yahoo_2008_day_month_swap_is_replaced_by_fred() -> None:
    # Yahoo shows 110.09 / 1.4957 on 2008-10-08 (August values); FRED's noon rates are used.
    assert MARKET.fx("USDJPY").close(date(2008, 10, 8)) == Fraction("99.73")
    assert MARKET.fx("EURUSD").close(date(2008, 10, 8)) == Fraction("1.368")
    assert MARKET.fx("USDJPY").close(date(2008, 12, 8)) == Fraction("92.77")
    # Days Yahoo lacks (August 2008) are filled from FRED; EURJPY from the FRED cross.
    assert MARKET.fx("USDJPY").close(date(2008, 8, 4)) == Fraction("108.23")
    assert MARKET.fx("EURJPY").close(date(2008, 8, 4)) == Fraction("108.23") * Fraction("1.5569")
    # The day after is Yahoo's own value again.
    assert MARKET.fx("USDJPY").close(date(2008, 10, 9)) == Fraction("99.51")


def test_shipped_2023_spot_checks() -> None:
    assert MARKET.instrument("8306.T").close(date(2023, 4, 3)) == Fraction("861.0")
    assert MARKET.instrument("AAPL").close(date(2023, 4, 3)) == Fraction("166.17")
    assert MARKET.instrument("MSFT").close(date(2023, 4, 3)) == Fraction("287.23")
    assert MARKET.fx("USDJPY").close(date(2023, 4, 3)) == Fraction("133.347")
    assert MARKET.instrument("UST-SYN-2033").close(date(2023, 4, 3)) == Fraction("100.579")
