"""The securities-lending paper's evaluation: models 0-4 over cases 1-4 (DESIGN.md section 1).

Setup: alpha = 0.05; collateral 1,000,000 shares each of 8306, 8604, 4901, 7013, 8031, in that
priority order; the loan is a JPY cash token worth (1 - alpha) x the collateral's value on the
start date; the borrower holds ample extra shares; auto-issue is on. Each case runs 62 calendar
days: day 0 opens, the last day settles, and each of the 60 days in between is checked. A day
without trading takes the next trading day's close.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from rich.table import Table

from tanpo.marketdata.calendar import Fill
from tanpo.marketdata.series import MarketData
from tanpo.scenarios.ledger import AgreementTerms, Ledger
from tanpo.scenarios.metrics import index_to
from tanpo.scenarios.model import AUTO, AgreementSpec, Quantity, Scenario, TokenSpec
from tanpo.scenarios.prices import PriceBook
from tanpo.scenarios.report import daily_rows, exact, percent, rounded, write_csv
from tanpo.scenarios.runner import RunResult, run_scenario

__all__ = [
    "CASES",
    "MODELS",
    "PAPER_ALPHA",
    "PAPER_STOCKS",
    "PaperCase",
    "PaperModel",
    "paper_json",
    "paper_loan_value",
    "paper_scenario",
    "paper_tables",
    "relative_to_model0",
    "run_paper",
    "write_paper_outputs",
]

PAPER_ALPHA = Fraction(5, 100)
#: (token id, market-data symbol, name), in priority order CT1..CT5.
PAPER_STOCKS: tuple[tuple[str, str, str], ...] = (
    ("JP8306", "8306.T", "Mitsubishi UFJ Financial Group"),
    ("JP8604", "8604.T", "Nomura Holdings"),
    ("JP4901", "4901.T", "FUJIFILM Holdings"),
    ("JP7013", "7013.T", "IHI"),
    ("JP8031", "8031.T", "Mitsui & Co."),
)
PAPER_SHARES = 1_000_000
#: Extra shares of each stock the borrower holds for top-ups (pre-issued).
PAPER_BORROWER_EXTRA = 100_000_000
LENDER = "bank-a"
BORROWER = "bank-b"


@dataclass(frozen=True)
class PaperCase:
    number: int
    label: str
    start: date
    end: date


@dataclass(frozen=True)
class PaperModel:
    number: int
    label: str
    threshold: Fraction
    mode: Literal["single", "multi"]
    lag: int


CASES: dict[int, PaperCase] = {
    1: PaperCase(1, "normal market", date(2009, 7, 1), date(2009, 8, 31)),
    2: PaperCase(2, "crash", date(2008, 10, 1), date(2008, 12, 1)),
    3: PaperCase(3, "rally", date(2009, 3, 1), date(2009, 5, 1)),
    4: PaperCase(4, "high volatility", date(2008, 11, 1), date(2009, 1, 1)),
}

MODELS: dict[int, PaperModel] = {
    0: PaperModel(0, "today's practice (clearing house)", Fraction(0), "single", 1),
    1: PaperModel(1, "beta 0, single, immediate", Fraction(0), "single", 0),
    2: PaperModel(2, "beta 0, multi, immediate", Fraction(0), "multi", 0),
    3: PaperModel(3, "beta 2%, single, immediate", Fraction(2, 100), "single", 0),
    4: PaperModel(4, "beta 2%, multi, immediate", Fraction(2, 100), "multi", 0),
}


def paper_tokens() -> tuple[TokenSpec, ...]:
    stocks = tuple(
        TokenSpec(tid, "ST", "JPY", "per-unit", sym, name) for tid, sym, name in PAPER_STOCKS
    )
    return (*stocks, TokenSpec("JPY", "CT", "JPY", name="Japanese yen (1 yen units)"))


def paper_scenario(
    case: PaperCase,
    model: PaperModel,
    *,
    stocks: tuple[str, ...] | None = None,
    collateral_auto: bool = False,
    data: MarketData | None = None,
) -> Scenario:
    """The scenario of one (case, model). ``stocks`` restricts the collateral to some of the five
    token ids (the first is CT1); with ``collateral_auto`` the single collateral token is sized to
    cover the paper's loan (used by the 1-collateral runs of the indexed comparison)."""
    ids = stocks or tuple(t for t, _, _ in PAPER_STOCKS)
    if collateral_auto:
        if len(ids) != 1:
            raise ValueError("collateral_auto sizes exactly one collateral token")
        # The loan stays the paper's: (1 - alpha) x the five stocks' value at the start.
        paper_loan = paper_loan_value(case, data)
        collateral: tuple[tuple[str, Quantity], ...] = ((ids[0], AUTO),)
        loan: tuple[tuple[str, Quantity], ...] = (("JPY", paper_loan),)
    else:
        collateral = tuple((t, PAPER_SHARES) for t in ids)
        loan = (("JPY", AUTO),)
    agreement = AgreementSpec(
        id=f"case{case.number}-model{model.number}",
        lender=LENDER,
        borrower=BORROWER,
        loan=loan,
        collateral=collateral,
        priority=ids,
        start=case.start,
        end=case.end,
        haircut=PAPER_ALPHA,
        threshold=model.threshold,
        mode=model.mode,
        lag=model.lag,
        auto_issue=True,
    )
    return Scenario(
        name=f"paper-case{case.number}-model{model.number}",
        description=f"Case {case.number} ({case.label}), model {model.number} ({model.label})",
        base_currency="JPY",
        tokens=paper_tokens(),
        agreements=(agreement,),
        window_start=case.start,
        window_end=case.end,
        fill=Fill.NEXT_TRADING_DAY,
        parties=(LENDER, BORROWER),
        balances={BORROWER: {t: PAPER_BORROWER_EXTRA for t in ids}},
        data_dir=data.root if data is not None else None,
    )


def paper_loan_value(case: PaperCase, data: MarketData | None = None) -> int:
    """The paper's loan in yen: (1 - alpha) x 1,000,000 x the sum of the five start closes."""
    scenario = paper_scenario(case, MODELS[1], data=data)
    prices = PriceBook(scenario, data).on(case.start)
    total = sum(prices.prices[t] for t, _, _ in PAPER_STOCKS) * PAPER_SHARES
    value = (1 - PAPER_ALPHA) * total
    if value.denominator != 1:
        raise ValueError(f"case {case.number}: the loan value {value} is not whole yen")
    return int(value)


def _model0_policy(terms: AgreementTerms) -> bool:
    return terms.lag > 0


def run_paper(
    cases: tuple[int, ...] = (1, 2, 3, 4),
    models: tuple[int, ...] = (0, 1, 2, 3, 4),
    data: MarketData | None = None,
    ledger_factory: Callable[[], Ledger] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[tuple[int, int], RunResult]:
    """Run every (case, model); results keyed by (case, model).

    Each run gets a fresh ledger from ``ledger_factory`` (default: the off-chain engine; the
    on-chain runs pass a factory for the Fabric network). ``progress(case, model)`` is called
    before each run.
    """
    market = data or MarketData()
    out: dict[tuple[int, int], RunResult] = {}
    for c in cases:
        for m in models:
            if progress is not None:
                progress(c, m)
            scenario = paper_scenario(CASES[c], MODELS[m], data=market)
            out[(c, m)] = run_scenario(
                scenario,
                ledger_factory() if ledger_factory is not None else None,
                book=PriceBook(scenario, market),
                issuance_policy=_model0_policy,
            )
    return out


# -- reporting ---------------------------------------------------------------------------------


def relative_to_model0(
    results: Mapping[tuple[int, int], RunResult], case: int, model: int, attr: str
) -> Fraction | None:
    """``attr`` of (case, model) as a fraction of model 0's (None without a model-0 run or 0)."""
    base = results.get((case, 0))
    if base is None:
        return None
    return index_to(getattr(results[(case, model)].total, attr), getattr(base.total, attr))


def paper_tables(
    results: Mapping[tuple[int, int], RunResult], models: tuple[int, ...] | None = None
) -> tuple[Table, Table]:
    """(a) price-fluctuation risk max / mean as % of model 0; (b) margin calls / issuances.

    Rows are cases, columns the ``models`` shown (default: every model in ``results``)."""
    cases = sorted({c for c, _ in results})
    shown = models if models is not None else tuple(sorted({m for _, m in results}))
    models = shown
    risk = Table(
        title="(a) Price-fluctuation risk |g|: max / mean, % of model 0", title_justify="left"
    )
    counts = Table(title="(b) Margin calls / issuances", title_justify="left")
    for table in (risk, counts):
        table.add_column("case")
        for m in models:
            table.add_column(f"model {m}", justify="right")
    for c in cases:
        label = f"{c} {CASES[c].label}"
        risk_cells = []
        count_cells = []
        for m in models:
            r = results.get((c, m))
            if r is None:
                risk_cells.append("-")
                count_cells.append("-")
                continue
            risk_cells.append(
                f"{percent(relative_to_model0(results, c, m, 'risk_max'))} / "
                f"{percent(relative_to_model0(results, c, m, 'risk_mean'))}"
            )
            count_cells.append(f"{r.total.margin_calls} / {r.total.issuances}")
        risk.add_row(label, *risk_cells)
        counts.add_row(label, *count_cells)
    return risk, counts


def paper_json(results: Mapping[tuple[int, int], RunResult]) -> dict[str, Any]:
    """Absolute figures per case and model (yen rounded half-even, plus the exact values)."""
    out: dict[str, Any] = {
        "alpha": exact(PAPER_ALPHA),
        "fill": Fill.NEXT_TRADING_DAY.value,
        "cases": {},
    }
    for (c, m), r in sorted(results.items()):
        case = out["cases"].setdefault(
            str(c),
            {
                "label": CASES[c].label,
                "start": CASES[c].start.isoformat(),
                "end": CASES[c].end.isoformat(),
                "loan_jpy": r.opens[0].terms.loan_quantity,
                "models": {},
            },
        )
        t = r.total
        case["models"][str(m)] = {
            "checked_days": t.checked_days,
            "risk_max_jpy": int(rounded(t.risk_max)),
            "risk_mean_jpy": int(rounded(t.risk_mean)),
            "risk_max": exact(t.risk_max),
            "risk_mean": exact(t.risk_mean),
            "margin_calls": t.margin_calls,
            "issuances": t.issuances,
            "call_amount_jpy": int(rounded(t.call_amount)),
            "units_transferred": t.units_transferred,
            "transfers": t.transfers,
        }
    return out


def write_paper_outputs(results: Mapping[tuple[int, int], RunResult], out: Path) -> list[Path]:
    """Per case: a daily CSV and a PNG (required vs actual collateral value, and the gap, for each
    model); plus ``summary.csv``. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    summary: list[dict[str, object]] = []
    for c in sorted({c for c, _ in results}):
        models = sorted(m for cc, m in results if cc == c)
        rows: list[dict[str, str]] = []
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True)
        vl_drawn = False
        for m in models:
            r = results[(c, m)]
            daily = list(daily_rows(r))
            for row in daily:
                rows.append({"case": str(c), "model": str(m), **row})
            days = [date.fromisoformat(row["date"]) for row in daily]
            v_c = [float(row["v_c_measured"]) / 1e9 for row in daily]
            gap = [float(row["gap_measured"]) / 1e6 for row in daily]
            if not vl_drawn:
                top.plot(
                    days,
                    [float(row["v_l"]) / 1e9 for row in daily],
                    "k--",
                    lw=1.5,
                    zorder=10,
                    label="required (V_L)",
                )
                vl_drawn = True
            top.plot(days, v_c, lw=1.1, label=f"model {m}")
            bottom.plot(days, gap, lw=1.1, label=f"model {m}")
            t = r.total
            summary.append(
                {
                    "case": c,
                    "model": m,
                    "loan_jpy": r.opens[0].terms.loan_quantity,
                    "checked_days": t.checked_days,
                    "risk_max_jpy": rounded(t.risk_max),
                    "risk_mean_jpy": rounded(t.risk_mean),
                    "risk_max_pct_of_model0": _pct_text(
                        relative_to_model0(results, c, m, "risk_max")
                    ),
                    "risk_mean_pct_of_model0": _pct_text(
                        relative_to_model0(results, c, m, "risk_mean")
                    ),
                    "margin_calls": t.margin_calls,
                    "issuances": t.issuances,
                    "call_amount_jpy": rounded(t.call_amount),
                    "units_transferred": t.units_transferred,
                    "transfers": t.transfers,
                    "exposure_lender_mean_jpy": rounded(t.exposure_lender_mean),
                    "exposure_borrower_mean_jpy": rounded(t.exposure_borrower_mean),
                }
            )
        case = CASES[c]
        top.set_title(
            f"Case {c} ({case.label}), {case.start} .. {case.end}: "
            "required vs actual collateral value (after haircut)"
        )
        top.set_ylabel("billion JPY")
        top.legend(fontsize=8, ncol=3)
        bottom.axhline(0, color="k", lw=0.8)
        bottom.set_title("gap g = V_C - V_L on each checked day (measured as for the risk metric)")
        bottom.set_ylabel("million JPY")
        bottom.legend(fontsize=8, ncol=3)
        fig.autofmt_xdate()
        fig.tight_layout()
        png = out / f"case{c}.png"
        fig.savefig(png, dpi=110)
        plt.close(fig)
        csv_path = out / f"case{c}_daily.csv"
        write_csv(csv_path, rows)
        written += [csv_path, png]
    summary_path = out / "summary.csv"
    write_csv(summary_path, summary)
    written.append(summary_path)
    return written


def _pct_text(value: Fraction | None) -> str:
    return "" if value is None else str(rounded(value * 100, 6))
