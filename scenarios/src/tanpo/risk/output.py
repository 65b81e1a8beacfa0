"""Report files: the JSON document, a CSV of figures by counterparty, and a PNG chart of
exposure, VaR and capital by counterparty (matplotlib, Agg backend).

File names are derived from the date and regime (``risk-2023-04-28-basel2.json`` …), so re-running
a report overwrites its own files and nothing else.
"""

from __future__ import annotations

import csv
from pathlib import Path

from tanpo.risk.report import Figures, Report, minor_unit
from tanpo.scenarios.report import rounded

__all__ = ["CSV_COLUMNS", "file_stem", "write_all", "write_csv", "write_json", "write_png"]

CSV_COLUMNS = (
    "lender", "borrower", "agreements", "currency", "lent", "collateral", "excluded", "net",
    "exposure", "var", "capital", "e_star", "var_undiversified", "diversification", "scenarios",
    "k", "regime", "as_of", "data_version",
)  # fmt: skip


def file_stem(report: Report) -> str:
    return f"risk-{report.as_of.isoformat()}-{report.regime.value}"


def write_json(report: Report, folder: Path) -> Path:
    path = folder / f"{file_stem(report)}.json"
    path.write_text(report.to_json(), encoding="utf-8")
    return path


def _row(
    report: Report, lender: str, borrower: str, agreements: str, f: Figures, n: int, k: int
) -> list[str]:
    places = minor_unit(report.currency)
    cell = {name: str(rounded(value, places)) for name, value in f.items()}
    return [
        lender, borrower, agreements, report.currency,
        *(cell.get(name, "") for name in CSV_COLUMNS[4:14]),
        str(n), str(k), report.regime.value, report.as_of.isoformat(), report.data_version,
    ]  # fmt: skip


def write_csv(report: Report, folder: Path) -> Path:
    """One row per counterparty and a TOTAL row; money rounded half-even to the minor unit."""
    path = folder / f"{file_stem(report)}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for cp in report.counterparties:
            w.writerow(
                _row(
                    report,
                    cp.lender,
                    cp.borrower,
                    " ".join(cp.agreements),
                    cp.figures,
                    cp.var.n,
                    cp.var.k,
                )
            )
        w.writerow(
            _row(report, "TOTAL", "", "", report.total, report.total_var.n, report.total_var.k)
        )
    return path


def write_png(report: Report, folder: Path) -> Path:
    """Grouped bars per counterparty (and the diversified total): exposure, VaR, capital, E*."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    path = folder / f"{file_stem(report)}.png"
    labels = [cp.key for cp in report.counterparties] + ["total"]
    figures = [cp.figures for cp in report.counterparties] + [report.total]
    series = (
        ("exposure", "net exposure (floored)", "#4c72b0"),
        ("var", "stressed VaR 99% 5d", "#dd8452"),
        ("capital", "max(0, net + VaR)", "#55a868"),
        ("e_star", "E* (supervisory haircuts)", "#8172b3"),
    )
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.8 * len(labels) + 3), 5.5))
    for i, (name, label, color) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        ys = [float(getattr(f, name)) for f in figures]
        ax.bar(xs, ys, width, label=label, color=color)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=0)
    ax.set_ylabel(report.currency)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.set_title(
        f"Counterparty exposure and stressed VaR, {report.as_of.isoformat()}\n"
        f"regime {report.regime.value}; total VaR diversified across counterparties",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def write_all(report: Report, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_json(report, folder), write_csv(report, folder), write_png(report, folder)]
