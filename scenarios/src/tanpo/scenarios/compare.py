"""The Japanese DLT study's indexed comparison: 1 vs 5 collateral tokens x no threshold vs a 2%
threshold, in a normal and a turmoil window, indexed to the 1-collateral / no-threshold run.

Every run lends the paper's JPY loan ((1 - alpha) x the five stocks' value on the start date, so
the runs of one window have the same loan) with alpha = 0.05, immediate settlement and auto-issue.
The 1-collateral runs hold only MUFG (8306), sized to cover that loan on the start date; the
5-collateral runs hold the paper's portfolio and adjust in ``multi`` mode (CT1..CT5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rich.table import Table

from tanpo.marketdata.series import MarketData
from tanpo.scenarios.metrics import Metrics, index_to
from tanpo.scenarios.paper import CASES, PaperCase, PaperModel, paper_scenario
from tanpo.scenarios.prices import PriceBook
from tanpo.scenarios.report import exact, money, rounded
from tanpo.scenarios.runner import RunResult, run_scenario

__all__ = ["COMPARE_RUNS", "WINDOWS", "CompareRun", "compare_json", "compare_tables", "run_compare"]

#: name -> window (the paper's case 1 and case 2 windows)
WINDOWS: dict[str, PaperCase] = {"normal": CASES[1], "turmoil": CASES[2]}


@dataclass(frozen=True)
class CompareRun:
    label: str
    collaterals: int
    threshold: Fraction


COMPARE_RUNS: tuple[CompareRun, ...] = (
    CompareRun("1 collateral, no threshold", 1, Fraction(0)),
    CompareRun("1 collateral, 2% threshold", 1, Fraction(2, 100)),
    CompareRun("5 collaterals, no threshold", 5, Fraction(0)),
    CompareRun("5 collaterals, 2% threshold", 5, Fraction(2, 100)),
)

#: (label, metric accessor) of the indexed columns
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("net credit amount", "exposure_before_mean"),
    ("margin calls", "margin_calls"),
    ("margin-call amount", "call_amount"),
    ("token units transferred", "units_transferred"),
    ("transfers", "transfers"),
)


def _scenario_for(window: PaperCase, run: CompareRun, data: MarketData) -> Any:
    model = PaperModel(0, run.label, run.threshold, "multi" if run.collaterals > 1 else "single", 0)
    if run.collaterals == 1:
        return paper_scenario(window, model, stocks=("JP8306",), collateral_auto=True, data=data)
    return paper_scenario(window, model, data=data)


def run_compare(
    windows: tuple[str, ...] = ("normal", "turmoil"), data: MarketData | None = None
) -> dict[str, list[tuple[CompareRun, RunResult]]]:
    """Every run of the comparison, by window name, in :data:`COMPARE_RUNS` order."""
    market = data or MarketData()
    out: dict[str, list[tuple[CompareRun, RunResult]]] = {}
    for name in windows:
        window = WINDOWS[name]
        runs = []
        for run in COMPARE_RUNS:
            scenario = _scenario_for(window, run, market)
            runs.append((run, run_scenario(scenario, book=PriceBook(scenario, market))))
        out[name] = runs
    return out


def _value(m: Metrics, attr: str) -> Fraction | int:
    value: Fraction | int = getattr(m, attr)
    return value


def compare_tables(results: Mapping[str, list[tuple[CompareRun, RunResult]]]) -> list[Table]:
    """One table per window: each metric indexed to the first run (= 1.00)."""
    tables = []
    for name, runs in results.items():
        window = WINDOWS[name]
        table = Table(
            title=f"{name} window ({window.start} .. {window.end}), indexed to "
            f"'{runs[0][0].label}' = 1.00",
            title_justify="left",
        )
        table.add_column("run")
        for label, _ in _COLUMNS:
            table.add_column(label, justify="right")
        base = runs[0][1].total
        table.caption = (
            f"1.00 = net credit amount {money(base.exposure_before_mean)} JPY/day (the "
            f"uncollateralised exposure of both sides each checked day, before its margin call), "
            f"{base.margin_calls} calls, "
            f"{money(base.call_amount)} JPY moved, {base.units_transferred:,} units in "
            f"{base.transfers} transfers"
        )
        table.caption_justify = "left"
        for run, result in runs:
            cells = []
            for _, attr in _COLUMNS:
                idx = index_to(_value(result.total, attr), _value(base, attr))
                cells.append("n/a" if idx is None else f"{rounded(idx, 2)}")
            table.add_row(run.label, *cells)
        tables.append(table)
    return tables


def compare_json(results: Mapping[str, list[tuple[CompareRun, RunResult]]]) -> dict[str, Any]:
    """Absolute and indexed figures per window and run."""
    out: dict[str, Any] = {}
    for name, runs in results.items():
        base = runs[0][1].total
        rows = []
        for run, result in runs:
            t = result.total
            row: dict[str, Any] = {
                "run": run.label,
                "collaterals": run.collaterals,
                "threshold": exact(run.threshold),
                "collateral": [
                    {"token": k, "quantity": q} for k, q in result.opens[0].terms.collateral
                ],
                "loan_jpy": result.opens[0].terms.loan_quantity,
            }
            for label, attr in _COLUMNS:
                value = _value(t, attr)
                idx = index_to(value, _value(base, attr))
                key = label.replace(" ", "_").replace("-", "_")
                row[key] = value if isinstance(value, int) else exact(value)
                row[key + "_index"] = None if idx is None else str(rounded(idx, 4))
            rows.append(row)
        window = WINDOWS[name]
        out[name] = {"start": window.start.isoformat(), "end": window.end.isoformat(), "runs": rows}
    return out
