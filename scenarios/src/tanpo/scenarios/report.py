"""Formatting of runs: exact values to text, rich tables, JSON documents, CSV files and plots."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

from rich.table import Table

from tanpo.scenarios.ledger import AccrualLine, CallRecord, InvoiceRecord, StepRecord, Transfer
from tanpo.scenarios.metrics import Metrics, measured_gap
from tanpo.scenarios.runner import RunResult

__all__ = [
    "AgreementEconomics",
    "accrual_json",
    "call_json",
    "calls_table",
    "economics",
    "economics_table",
    "exact",
    "invoice_json",
    "invoices_table",
    "metrics_json",
    "metrics_table",
    "money",
    "percent",
    "rounded",
    "run_json",
    "step_json",
    "steps_table",
    "write_csv",
]


def exact(value: Fraction | int) -> str:
    """Canonical exact text: ``"n"`` or ``"n/d"`` (as the margin engine and Go RatString print)."""
    return str(Fraction(value))


def rounded(value: Fraction | int, places: int = 0) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (for display and reports only)."""
    v = Fraction(value)
    with localcontext() as ctx:
        ctx.prec = 60
        q = Decimal(v.numerator) / Decimal(v.denominator)
        return q.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def money(value: Fraction | int, places: int = 0) -> str:
    """``1234567.5`` → ``"1,234,568"`` (half-even), for tables."""
    return f"{rounded(value, places):,}"


def percent(value: Fraction | None) -> str:
    """A ratio as a percentage with sensible precision (``None`` → ``"n/a"``)."""
    if value is None:
        return "n/a"
    pct = Fraction(value) * 100
    if pct == 0:
        return "0%"
    if abs(pct) >= 10:
        return f"{rounded(pct, 1)}%"
    if abs(pct) >= Fraction(1, 100):
        return f"{rounded(pct, 2)}%"
    return f"{float(pct):.1e}%"


def _settles(t: Transfer) -> str:
    return t.settle_date.isoformat() if t.settle_date else ""


def _transfer_text(t: Transfer) -> str:
    return f"{t.quantity:,} {t.token} {t.sender}→{t.receiver}"


def calls_table(records: Sequence[CallRecord], title: str, places: int = 0) -> Table:
    """Every margin call: date, V_L, V_C before/after, gaps, transfers and issuances."""
    table = Table(title=title, title_justify="left")
    for name in ("date", "call", "V_L", "V_C before", "V_C after", "gap before", "gap after"):
        table.add_column(name, justify="right" if name.startswith(("V_", "gap")) else "left")
    table.add_column("transfers")
    table.add_column("issuances")
    for r in records:
        transfers = "; ".join(_transfer_text(t) for t in r.transfers)
        if any(t.settle_date != r.date for t in r.transfers):
            transfers += f" (settles {_settles(r.transfers[0])})"
        issued = "; ".join(f"{i.quantity:,} {i.token} minted to {i.party}" for i in r.issuances)
        issued += "; ".join(
            f"{q.party} short {money(q.value, places)}"
            for q in r.issuance_required
            if not r.issuances
        )
        table.add_row(
            r.date.isoformat(),
            "yes" if r.triggered else "-",
            money(r.v_l, places),
            money(r.v_c_before, places),
            money(r.v_c_after, places),
            money(r.gap_before, places),
            money(r.gap_after, places),
            transfers or "-",
            issued or "-",
        )
    return table


def _movement_text(token: str, quantity: int, direction: str) -> str:
    arrow = "lender→borrower" if direction == "lender->borrower" else "borrower→lender"
    return f"{quantity:,} {token} {arrow}"


def steps_table(steps: Sequence[StepRecord], title: str, places: int = 0) -> Table:
    """Every life-cycle step: the loan and collateral held after it, what moved, V_L and V_C."""
    table = Table(title=title, title_justify="left")
    for name in ("date", "agreement", "action", "loan after", "collateral moved", "held after"):
        table.add_column(name, justify="right" if name == "loan after" else "left")
    table.add_column("V_L", justify="right")
    table.add_column("V_C after", justify="right")
    for s in steps:
        moved = "; ".join(_movement_text(*m) for m in s.movements)
        held = ", ".join(f"{q:,} {t}" for t, q in s.held.items() if q)
        table.add_row(
            s.date.isoformat(),
            s.agreement,
            s.action,
            f"{s.loan_quantity:,}",
            moved or "-",
            held or "-",
            money(s.v_l, places),
            money(s.v_c, places),
        )
    return table


def metrics_table(metrics: Mapping[str, Metrics], title: str, places: int = 0) -> Table:
    """One column per agreement (and the total): the DESIGN.md metrics."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in metrics:
        table.add_column(name, justify="right")
    rows: list[tuple[str, Any]] = [
        ("checked days", lambda m: str(m.checked_days)),
        ("risk: max |g|", lambda m: money(m.risk_max, places)),
        ("risk: mean |g|", lambda m: money(m.risk_mean, places)),
        ("margin calls", lambda m: str(m.margin_calls)),
        ("issuances (lender)", lambda m: str(m.issuances)),
        ("issuances (borrower)", lambda m: str(m.borrower_issuances)),
        (
            "net credit amount, lender, mean",
            lambda m: money(m.exposure_before_lender_mean, places),
        ),
        (
            "net credit amount, borrower, mean",
            lambda m: money(m.exposure_before_borrower_mean, places),
        ),
        ("exposure after calls, lender, mean", lambda m: money(m.exposure_lender_mean, places)),
        ("exposure after calls, borrower, mean", lambda m: money(m.exposure_borrower_mean, places)),
        ("margin-call amount", lambda m: money(m.call_amount, places)),
        ("token units transferred", lambda m: f"{m.units_transferred:,}"),
        ("transfers", lambda m: str(m.transfers)),
    ]
    for label, fn in rows:
        table.add_row(label, *(fn(m) for m in metrics.values()))
    return table


def call_json(r: CallRecord) -> dict[str, Any]:
    """A call as JSON-ready data with stable keys; amounts are exact strings (``"n"``/``"n/d"``)."""
    return {
        "date": r.date.isoformat(),
        "agreement": r.agreement,
        "triggered": r.triggered,
        "v_l": exact(r.v_l),
        "v_c_before": exact(r.v_c_before),
        "v_c_after": exact(r.v_c_after),
        "gap_before": exact(r.gap_before),
        "gap_after": exact(r.gap_after),
        "transfers": [
            {
                "token": t.token,
                "quantity": t.quantity,
                "from": t.sender,
                "to": t.receiver,
                "value": exact(t.market_value),
                "settles": _settles(t),
            }
            for t in r.transfers
        ],
        "issuances": [
            {"token": i.token, "quantity": i.quantity, "party": i.party, "role": i.role}
            for i in r.issuances
        ],
        "issuance_required": [
            {"party": q.party, "role": q.role, "value": exact(q.value)} for q in r.issuance_required
        ],
        **({"accruals": [accrual_json(a) for a in r.accruals]} if r.accruals else {}),
    }


def step_json(s: StepRecord) -> dict[str, Any]:
    """A life-cycle step as JSON-ready data; amounts are exact strings (``"n"``/``"n/d"``)."""
    return {
        "date": s.date.isoformat(),
        "agreement": s.agreement,
        "action": s.action,
        "loan_quantity": s.loan_quantity,
        "held": dict(s.held),
        "movements": [
            {"token": t, "quantity": q, "direction": d} for t, q, d in s.movements
        ],
        "v_l": exact(s.v_l),
        "v_c": exact(s.v_c),
        "closed": s.closed,
        **({"accruals": [accrual_json(a) for a in s.accruals]} if s.accruals else {}),
    }


@dataclass(frozen=True)
class AgreementEconomics:
    """An agreement's fees and rebates over a run, exact, base currency: ``days`` accrued,
    ``fee_accrued`` (every accrual line), ``minimum_top_up`` (its invoice lines' top-ups to the
    minimum fee), ``fee_income`` (the lender's: accrued plus top-ups), ``rebate_cost`` (the
    lender's: the rebate accrued on the cash collateral) and ``net`` (fee income less rebate
    cost: what the borrower owes the lender when positive)."""

    agreement: str
    currency: str
    days: int
    fee_accrued: Fraction
    minimum_top_up: Fraction
    rebate_cost: Fraction

    @property
    def fee_income(self) -> Fraction:
        return self.fee_accrued + self.minimum_top_up

    @property
    def net(self) -> Fraction:
        return self.fee_income - self.rebate_cost


def economics(result: RunResult) -> list[AgreementEconomics]:
    """Fee income and rebate cost of every agreement with a fee or rebate, in opening order."""
    out = []
    for o in result.opens:
        if o.terms.economics is None:
            continue
        lines = result.accruals_of(o.agreement)
        top_up = sum(
            (x.minimum_top_up for inv in result.invoices for x in inv.lines
             if x.agreement == o.agreement),
            Fraction(0),
        )
        out.append(AgreementEconomics(
            o.agreement, o.terms.base_currency, sum(x.days for x in lines),
            sum((x.fee for x in lines), Fraction(0)), top_up,
            sum((x.rebate for x in lines), Fraction(0)),
        ))
    return out


def economics_table(rows: Sequence[AgreementEconomics], title: str, places: int = 0) -> Table:
    """Fee income and rebate cost per agreement."""
    table = Table(title=title, title_justify="left")
    table.add_column("agreement")
    for name in ("days", "fee accrued", "minimum top-up", "fee income", "rebate cost",
                 "net (borrower→lender)"):
        table.add_column(name, justify="right")
    for e in rows:
        table.add_row(
            f"{e.agreement} ({e.currency})", str(e.days), money(e.fee_accrued, places),
            money(e.minimum_top_up, places), money(e.fee_income, places),
            money(e.rebate_cost, places), money(e.net, places),
        )
    return table


def invoices_table(invoices: Sequence[InvoiceRecord], title: str) -> Table:
    """The pairs' monthly invoices: month, payer → payee, each agreement's line (its fee charged
    less its rebate, lent by whom) and the net and amount the payer pays."""
    table = Table(title=title, title_justify="left")
    for name in ("month", "currency", "payer → payee", "lines", "net", "amount"):
        table.add_column(name, justify="right" if name in ("net", "amount") else "left")
    for inv in invoices:
        lines = "\n".join(
            f"{x.agreement} ({x.lender} lends, {x.days} d): fee {money(x.fee_charged, 2)}"
            + (f" (min. +{money(x.minimum_top_up, 2)})" if x.minimum_top_up else "")
            + f" − rebate {money(x.rebate, 2)} = {money(x.net, 2)}"
            for x in inv.lines
        )
        table.add_row(
            inv.month, inv.currency, f"{inv.payer} → {inv.payee}", lines, money(inv.net, 2),
            f"{inv.amount:,}",
        )
    return table


def accrual_json(a: AccrualLine) -> dict[str, Any]:
    """An accrual line as JSON-ready data (exact strings; rates as fractions per annum)."""
    return {
        "from": a.from_.isoformat(),
        "to": a.to.isoformat(),
        "days": a.days,
        "loan_value": exact(a.loan_value),
        "cash_value": exact(a.cash_value),
        "fee_rate": exact(a.fee_rate),
        "rebate_rate": exact(a.rebate_rate),
        "fee": exact(a.fee),
        "rebate": exact(a.rebate),
    }


def invoice_json(inv: InvoiceRecord) -> dict[str, Any]:
    """An invoice as JSON-ready data; ``amount`` is whole units, the rest exact strings."""
    return {
        "pair": inv.pair,
        "month": inv.month,
        "currency": inv.currency,
        "payer": inv.payer,
        "payee": inv.payee,
        "net": exact(inv.net),
        "amount": inv.amount,
        "lines": [
            {
                "agreement": x.agreement,
                "lender": x.lender,
                "borrower": x.borrower,
                "days": x.days,
                "fee_accrued": exact(x.fee_accrued),
                "minimum_top_up": exact(x.minimum_top_up),
                "fee_charged": exact(x.fee_charged),
                "rebate": exact(x.rebate),
                "net": exact(x.net),
            }
            for x in inv.lines
        ],
    }


def economics_json(e: AgreementEconomics) -> dict[str, Any]:
    return {
        "currency": e.currency,
        "days": e.days,
        "fee_accrued": exact(e.fee_accrued),
        "minimum_top_up": exact(e.minimum_top_up),
        "fee_income": exact(e.fee_income),
        "rebate_cost": exact(e.rebate_cost),
        "net": exact(e.net),
    }


def metrics_json(m: Metrics) -> dict[str, Any]:
    """Metrics as JSON-ready data: counts as ints, amounts as exact strings."""
    return {k: (v if isinstance(v, int) else exact(v)) for k, v in m.as_dict().items()}


def run_json(result: RunResult) -> dict[str, Any]:
    """The document ``tanpo scenario run --json`` prints."""
    return {
        "scenario": result.scenario.name,
        "backend": result.backend,
        "base_currency": result.scenario.base_currency,
        "fill": result.scenario.fill.value,
        "agreements": [
            {
                "id": o.agreement,
                "opened": o.date.isoformat(),
                "loan": {"token": o.terms.loan_token, "quantity": o.terms.loan_quantity},
                "collateral": [{"token": t, "quantity": q} for t, q in o.terms.collateral],
                "v_l": exact(o.v_l),
                "v_c": exact(o.v_c),
            }
            for o in result.opens
        ],
        "calls": [call_json(c) for c in result.calls],
        "closes": [
            {
                "agreement": c.agreement,
                "date": c.date.isoformat(),
                "returned": dict(c.returned),
                "v_l": exact(c.v_l),
                "v_c": exact(c.v_c),
                **({"accruals": [accrual_json(a) for a in c.accruals]} if c.accruals else {}),
            }
            for c in result.closes
        ],
        "steps": [step_json(s) for s in result.steps],
        "metrics": {
            **{k: metrics_json(m) for k, m in result.metrics.items()},
            "total": metrics_json(result.total),
        },
        **(
            {
                "economics": {e.agreement: economics_json(e) for e in economics(result)},
                "invoices": [invoice_json(i) for i in result.invoices],
            }
            if result.has_economics
            else {}
        ),
    }


def daily_rows(result: RunResult) -> Iterable[dict[str, str]]:
    """One row per checked (agreement, day): the values the plots and CSV files use."""
    for r in result.calls:
        g = measured_gap(r)
        yield {
            "agreement": r.agreement,
            "date": r.date.isoformat(),
            "v_l": str(rounded(r.v_l, 2)),
            "v_c_measured": str(rounded(r.v_l + g, 2)),
            "gap_measured": str(rounded(g, 2)),
            "gap_before": str(rounded(r.gap_before, 2)),
            "gap_after": str(rounded(r.gap_after, 2)),
            "triggered": "1" if r.triggered else "0",
            "lender_issuance": "1" if r.issued_for("lender") else "0",
            "units_transferred": str(sum(t.quantity for t in r.transfers)),
        }


def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    """Write dict rows (the first row's keys are the header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        if not rows:
            return
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
