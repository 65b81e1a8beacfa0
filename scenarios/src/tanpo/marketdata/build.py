"""Rebuild the shipped ``data/market`` files from the collected source files (maintainer tool).

Usage::

    python -m tanpo.marketdata.build SOURCE_DIR [OUT_DIR]

``SOURCE_DIR`` is the folder of collected source files described in ``data/market/SOURCES.md``
(the stock files, ``fx/``, ``extra/`` and ``yf_2013-2024/``, each taken from the public GitHub
repository and commit named there). ``OUT_DIR`` defaults to the repository's ``data/market``.
The tool only selects rows, normalises number formats, replaces Yahoo's known 2008 FX defect with
FRED values, derives synthetic bond prices, and checks the result; every step is listed in
SOURCES.md. Users never need to run it: its output is committed.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from tanpo.marketdata.bonds import SyntheticBond, clean_price
from tanpo.marketdata.series import default_data_dir

__all__ = ["BONDS", "PERIODS", "build"]

#: The date ranges shipped (inclusive).
PERIODS: tuple[tuple[date, date], ...] = (
    (date(2008, 1, 1), date(2009, 12, 31)),
    (date(2023, 1, 1), date(2023, 12, 31)),
)

JP_STOCKS = ("8306", "8604", "4901", "7013", "8031")
#: JP stocks whose share basis is the same in the 2022 and the 2024 downloads (no split between).
JP_STOCKS_2023 = ("8306", "8604", "7013")
US_STOCKS = ("AAPL", "MSFT", "JNJ")

#: USDJPY / EURUSD rows of Yahoo's 2008 day/month-swap defect (SOURCES.md section 3).
YAHOO_2008_DEFECT: dict[str, tuple[str, ...]] = {
    "USDJPY": ("2008-01-08", "2008-04-08", "2008-05-08", "2008-07-08", "2008-10-08", "2008-12-08"),
    "EURUSD": ("2008-01-08", "2008-02-08", "2008-07-08", "2008-09-08", "2008-10-08", "2008-12-08"),
    "EURJPY": (),
}


@dataclass(frozen=True)
class BondSpec:
    bond: SyntheticBond
    yield_file: str
    yield_label: str
    period: tuple[date, date]


#: The synthetic bonds priced off benchmark 10-year yields (2023 only: they mature in 2033).
BONDS: tuple[BondSpec, ...] = (
    BondSpec(
        SyntheticBond("JGB-SYN-2033", Decimal("0.5"), 2, date(2033, 3, 20)),
        "extra/JGB10Y.csv",
        "MOF JGB 10y",
        PERIODS[1],
    ),
    BondSpec(
        SyntheticBond("UST-SYN-2033", Decimal("3.5"), 2, date(2033, 2, 15)),
        "extra/DGS10.csv",
        "FRED DGS10",
        PERIODS[1],
    ),
    BondSpec(
        SyntheticBond("BUND-SYN-2033", Decimal("2.3"), 1, date(2033, 2, 15)),
        "extra/DE10Y.csv",
        "DE 10y benchmark",
        PERIODS[1],
    ),
)


def _in_periods(day: date, periods: Sequence[tuple[date, date]] = PERIODS) -> bool:
    return any(lo <= day <= hi for lo, hi in periods)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def float32_text(text: str) -> str:
    """The shortest decimal that reads back as the same float32 as ``text``.

    The Yahoo dumps stored float32 values and printed them as float64 (``863.5999755859375``);
    this recovers the short decimal that was stored (``863.6``) without rounding to a chosen grid.
    """
    value = np.float32(float(text))
    out = np.format_float_positional(value, unique=True, trim="0")
    assert np.float32(float(out)) == value
    return out


def cents_text(text: str) -> str:
    """A 6-decimal Yahoo price that is a whole cent up to float32 noise, written in cents.

    ``"287.230011"`` is the float32 nearest to 287.23, so it becomes ``"287.23"``; a value that is
    not a cent amount (a split-adjusted 2008 AAPL close such as ``"5.012857"``) is kept as given.
    """
    cents = Decimal(text).quantize(Decimal("0.01"))
    same = np.float32(float(cents)) == np.float32(float(text))
    return str(cents) if same else text


def _jp_stocks(source: Path, out: Path, log: Callable[[str], None]) -> None:
    for code in JP_STOCKS:
        rows: list[tuple[str, str, str]] = []
        for r in _rows(source / f"{code}.T.csv"):
            day = date.fromisoformat(r["date"])
            if not (PERIODS[0][0] <= day <= PERIODS[0][1]):
                continue
            if Decimal(r["volume"]) == 0:  # Yahoo's holiday placeholder rows
                continue
            assert Decimal(r["close"]) == Decimal(r["close"]).to_integral_value(), (code, r)
            rows.append((r["date"], r["close"], "retasu0"))
        if code in JP_STOCKS_2023:
            for r in _rows(source / "yf_2013-2024" / f"{code}.T.csv"):
                day = date.fromisoformat(r["date"])
                if not (PERIODS[1][0] <= day <= PERIODS[1][1]) or Decimal(r["volume"]) == 0:
                    continue
                close = float32_text(r["close"])
                # TSE tick for these names in 2023: 0.1 yen.
                assert Decimal(close) == Decimal(close).quantize(Decimal("0.1")), (code, close)
                rows.append((r["date"], close, "merida901"))
        n = _write(out / f"{code}.T.csv", ("date", "close", "source"), rows)
        log(f"{code}.T.csv: {n} rows")


def _us_stocks(source: Path, out: Path, log: Callable[[str], None]) -> None:
    for sym in US_STOCKS:
        rows = [
            (r["date"], cents_text(r["close"]), r["source"].split("/")[0])
            for r in _rows(source / "extra" / f"{sym}.csv")
            if r["close"].strip() and _in_periods(date.fromisoformat(r["date"]))
        ]
        n = _write(out / f"{sym}.csv", ("date", "close", "source"), rows)
        log(f"{sym}.csv: {n} rows")


def _fred(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return {r[0]: r[1] for r in reader if len(r) > 1 and r[1].strip() not in ("", ".")}


def _fx(source: Path, out: Path, log: Callable[[str], None]) -> None:
    fred_usdjpy = _fred(source / "fx" / "DEXJPUS_fred_1971-2021.csv")
    fred_eurusd = _fred(source / "fx" / "DEXUSEU_fred_1999-2021.csv")
    # 2023 FRED values (the 1971-2021 files stop in 2021).
    fred_usdjpy.update(_fred(source / "fx" / "DEXJPUS_fred_2015-2025.csv"))
    fred_eurusd.update(_fred(source / "fx" / "DEXUSEU_fred_2018-2023.csv"))

    def fred(pair: str, day: str) -> str | None:
        if pair == "USDJPY":
            return fred_usdjpy.get(day)
        if pair == "EURUSD":
            return fred_eurusd.get(day)
        a, b = fred_usdjpy.get(day), fred_eurusd.get(day)
        return (
            None if a is None or b is None else format((Decimal(a) * Decimal(b)).normalize(), "f")
        )

    for pair in ("USDJPY", "EURUSD", "EURJPY"):
        yahoo = {
            r["date"]: float32_text(r["close"])
            for r in _rows(source / "fx" / f"{pair}_yahoo.csv")
            if r["close"].strip() and _in_periods(date.fromisoformat(r["date"]))
        }
        defect = set(YAHOO_2008_DEFECT[pair])
        days = sorted(set(yahoo) | {d for d in fred_usdjpy if _in_periods(date.fromisoformat(d))})
        rows: list[tuple[str, str, str]] = []
        replaced = filled = 0
        for day in days:
            weekday = date.fromisoformat(day).weekday() < 5
            fred_value = fred(pair, day)
            if day in defect:
                assert fred_value is not None, (pair, day)
                rows.append((day, fred_value, "fred-defect"))
                replaced += 1
            elif day in yahoo:
                rows.append((day, yahoo[day], "yahoo"))
            elif fred_value is not None and weekday:
                rows.append((day, fred_value, "fred-missing"))
                filled += 1
        n = _write(out / "fx" / f"{pair}.csv", ("date", "close", "source"), rows)
        log(f"fx/{pair}.csv: {n} rows ({replaced} defect rows and {filled} missing days from FRED)")


def _bonds(source: Path, out: Path, log: Callable[[str], None]) -> None:
    for spec in BONDS:
        rows: list[tuple[str, str, str]] = []
        for r in _rows(source / spec.yield_file):
            day = date.fromisoformat(r["date"])
            if not (spec.period[0] <= day <= spec.period[1]) or not r["close"].strip():
                continue
            if r.get("target_holiday", "0") == "1":  # thin or stale Bund rows on TARGET holidays
                continue
            y = Decimal(r["close"])
            rows.append((r["date"], str(clean_price(spec.bond, day, y)), r["close"]))
        n = _write(out / f"{spec.bond.name}.csv", ("date", "close", "yield_pct"), rows)
        log(f"{spec.bond.name}.csv: {n} rows (priced off {spec.yield_label})")


def build(source: Path, out: Path, log: Callable[[str], None] = print) -> None:
    """Write every shipped market-data file from ``source`` into ``out``."""
    _jp_stocks(source, out, log)
    _us_stocks(source, out, log)
    _fx(source, out, log)
    _bonds(source, out, log)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or len(args) > 2 or args[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    build(Path(args[0]), Path(args[1]) if len(args) > 1 else default_data_dir())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
