"""The counterparty risk and capital report: figures per counterparty and in total, and its
deterministic JSON form.

Per counterparty (a lender-borrower pair, over all its active agreements), in the reporting
currency:

* ``lent`` - market value of everything lent (the loan legs);
* ``collateral`` - market value of the collateral the lender holds that the regime counts;
  ``excluded`` - the value of collateral the regime does not count (listed with the reason);
* ``net`` = lent − collateral (signed), ``exposure`` = max(0, net);
* ``var`` - stressed VaR of the exposure (:mod:`tanpo.risk.var`), lent and counted collateral
  moved together;
* ``capital`` = max(0, net + var) - the Basel II VaR-model form of E* (§§178-181), so
  over-collateralisation offsets VaR;
* ``e_star`` - the supervisory-haircut alternative (:mod:`tanpo.risk.haircuts`).

In total: sums, except ``var`` (the VaR of the whole book's exposure changes: diversified across
counterparties), with ``var_undiversified`` (sum of the counterparties' VaRs) and
``diversification`` (their difference); ``capital`` and ``e_star`` are summed per counterparty
(each counterparty is its own netting set).

Money figures are exact (market values of ledger positions); in JSON each is
``{"exact": "n" or "n/d", "rounded": "…"}``, rounded half-even to the currency's minor unit (0
decimals for JPY, 2 otherwise) for reading only. The JSON has sorted keys and no run time, so the
same date, data version and configuration give byte-identical output; ``inputs_digest`` is the
sha256 of every input (positions, token data, prices, history, configuration).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from tanpo.marketdata.instruments import TokenInfo
from tanpo.risk.exact import exact_text
from tanpo.risk.haircuts import Supervisory, fx_haircut, supervisory_exposure
from tanpo.risk.history import FactorSource, MarketDataFactors, StressHistory
from tanpo.risk.portfolio import Book, CounterpartyBook, Line, PortfolioSource, build_book
from tanpo.risk.regimes import Regime, eligibility
from tanpo.risk.var import (
    Moves,
    VarConfig,
    VarResult,
    exposure_changes,
    revalue,
    stress_history_for,
    value_at_risk,
)
from tanpo.scenarios.report import rounded

__all__ = [
    "SCHEMA",
    "CounterpartyReport",
    "Figures",
    "PositionRow",
    "Report",
    "ReportConfig",
    "exact_text",
    "make_report",
    "minor_unit",
    "money_json",
    "positions_of",
    "run_report",
]

SCHEMA = "tanpo.risk.report/1"
_ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND"}


def minor_unit(currency: str) -> int:
    """Decimal places of a currency's minor unit (for rounded display only)."""
    return 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2


def money_json(value: Fraction, currency: str) -> dict[str, str]:
    return {"exact": exact_text(value), "rounded": str(rounded(value, minor_unit(currency)))}


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """Regime, VaR configuration and the supervisory-haircut holding period (business days)."""

    regime: Regime = Regime.ECONOMIC
    var: VarConfig = field(default_factory=VarConfig)
    holding_days: int = 5


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One line of a counterparty's book with its treatment under the regime."""

    line: Line
    counted: bool
    reason: str | None
    haircut: Fraction
    fx_haircut: Fraction
    basis: str


@dataclass(frozen=True, slots=True)
class Figures:
    lent: Fraction
    collateral: Fraction
    excluded: Fraction
    net: Fraction
    exposure: Fraction
    var: Fraction
    capital: Fraction
    e_star: Fraction
    var_undiversified: Fraction | None = None
    diversification: Fraction | None = None

    def items(self) -> list[tuple[str, Fraction]]:
        out = [
            ("lent", self.lent), ("collateral", self.collateral), ("excluded", self.excluded),
            ("net", self.net), ("exposure", self.exposure), ("var", self.var),
            ("capital", self.capital), ("e_star", self.e_star),
        ]  # fmt: skip
        if self.var_undiversified is not None and self.diversification is not None:
            out += [
                ("var_undiversified", self.var_undiversified),
                ("diversification", self.diversification),
            ]
        return out


@dataclass(frozen=True, slots=True)
class CounterpartyReport:
    lender: str
    borrower: str
    agreements: tuple[str, ...]
    positions: tuple[PositionRow, ...]
    figures: Figures
    var: VarResult
    supervisory: Supervisory

    @property
    def key(self) -> str:
        return f"{self.lender}->{self.borrower}"


@dataclass(frozen=True, slots=True)
class Report:
    """A whole report; :meth:`to_json` is its canonical, byte-stable form."""

    as_of: date
    regime: Regime
    currency: str
    source: str
    data_version: str
    config: ReportConfig
    counterparties: tuple[CounterpartyReport, ...]
    total: Figures
    total_var: VarResult
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]
    tokens: Mapping[str, TokenInfo]
    history_digest: str
    history_days: int

    def to_dict(self) -> dict[str, Any]:
        document = _document(self)
        document["inputs_digest"] = _digest(_inputs(self, document))
        return document

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _exposure_currency(cp: CounterpartyBook, tokens: Mapping[str, TokenInfo], ccy: str) -> str:
    lent_ccys = {tokens[ln.token].currency for ln in cp.leg("lent")}
    return lent_ccys.pop() if len(lent_ccys) == 1 else ccy


def _counterparty(
    cp: CounterpartyBook, book: Book, moves: Moves, config: ReportConfig
) -> tuple[CounterpartyReport, list[Fraction]]:
    tokens = book.tokens
    rows: list[PositionRow] = []
    weights: dict[str, int] = {}
    lent = collateral = excluded = Fraction(0)
    haircut_lent: list[tuple[TokenInfo, Fraction]] = []
    haircut_coll: list[tuple[TokenInfo, Fraction]] = []
    for line in cp.lines:
        info = tokens[line.token]
        if line.leg == "lent":
            lent += line.value
            weights[line.token] = weights.get(line.token, 0) + line.quantity
            haircut_lent.append((info, line.value))
            rows.append(PositionRow(line, True, None, Fraction(0), Fraction(0), ""))
            continue
        verdict = eligibility(config.regime, info)
        if verdict.eligible:
            collateral += line.value
            weights[line.token] = weights.get(line.token, 0) - line.quantity
            haircut_coll.append((info, line.value))
        else:
            excluded += line.value
        rows.append(
            PositionRow(line, verdict.eligible, verdict.reason, Fraction(0), Fraction(0), "")
        )
    sup = supervisory_exposure(
        haircut_lent,
        haircut_coll,
        book.as_of,
        _exposure_currency(cp, tokens, book.currency),
        config.holding_days,
    )
    by_token = {(h.leg, h.token): h for h in sup.lines}
    finished: list[PositionRow] = []
    for row in rows:
        h = by_token.get((row.line.leg, row.line.token))
        if h is not None:
            row = PositionRow(row.line, row.counted, row.reason, h.h, h.hfx, h.basis)
        finished.append(row)
    changes = exposure_changes(weights, moves)
    var = value_at_risk(changes, moves, config.var)
    net = lent - collateral
    figures = Figures(
        lent=lent,
        collateral=collateral,
        excluded=excluded,
        net=net,
        exposure=max(Fraction(0), net),
        var=var.var,
        capital=max(Fraction(0), net + var.var),
        e_star=sup.e_star,
    )
    report = CounterpartyReport(
        cp.lender, cp.borrower, cp.agreements, tuple(finished), figures, var, sup
    )
    return report, changes


def make_report(book: Book, history: StressHistory, config: ReportConfig) -> Report:
    """The report of ``book`` with scenarios from ``history`` (pure: no I/O)."""
    moves = revalue(book, history, config.var.step)
    reports: list[CounterpartyReport] = []
    total_changes = [Fraction(0)] * len(moves.periods)
    for cp in book.counterparties:
        report, changes = _counterparty(cp, book, moves, config)
        reports.append(report)
        total_changes = [a + b for a, b in zip(total_changes, changes, strict=True)]
    total_var = value_at_risk(total_changes, moves, config.var)
    undiversified = sum((r.figures.var for r in reports), Fraction(0))

    def tot(name: str) -> Fraction:
        return sum((getattr(r.figures, name) for r in reports), Fraction(0))

    total = Figures(
        lent=tot("lent"),
        collateral=tot("collateral"),
        excluded=tot("excluded"),
        net=tot("net"),
        exposure=tot("exposure"),
        var=total_var.var,
        capital=tot("capital"),
        e_star=tot("e_star"),
        var_undiversified=undiversified,
        diversification=undiversified - total_var.var,
    )
    ids = book.token_ids()
    return Report(
        as_of=book.as_of,
        regime=config.regime,
        currency=book.currency,
        source=book.source,
        data_version=book.data_version,
        config=config,
        counterparties=tuple(reports),
        total=total,
        total_var=total_var,
        prices={t: book.snapshot.prices[t] for t in ids if book.tokens[t].kind == "ST"},
        fx=dict(book.snapshot.fx),
        tokens={t: book.tokens[t] for t in ids},
        history_digest=history.digest(),
        history_days=len(history.days),
    )


def run_report(
    source: PortfolioSource,
    day: date,
    config: ReportConfig | None = None,
    factors: FactorSource | None = None,
    currency: str | None = None,
    version: str | None = None,
) -> Report:
    """Read the book of ``day`` from ``source`` and report it (history from ``factors``,
    default: the shipped ``data/market``)."""
    cfg = config or ReportConfig()
    book = build_book(source, day, currency, version)
    history = stress_history_for(book, factors or MarketDataFactors(), cfg.var.window)
    return make_report(book, history, cfg)


# -- JSON ---------------------------------------------------------------------------------------


def _figures_json(f: Figures, ccy: str) -> dict[str, Any]:
    return {name: money_json(value, ccy) for name, value in f.items()}


def _var_json(v: VarResult, ccy: str) -> dict[str, Any]:
    return {
        "k": v.k,
        "scenarios": v.n,
        "quantile_change": money_json(v.quantile, ccy),
        "worst": [
            {"start": s.isoformat(), "end": e.isoformat(), "exposure_change": money_json(c, ccy)}
            for s, e, c in v.worst
        ],
    }


def _token_json(t: TokenInfo) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "currency": t.currency,
        "quote": t.quote,
        "asset_class": t.asset_class.value,
        "rating": t.rating,
        "main_index": t.main_index,
        "maturity": t.final_maturity.isoformat() if t.final_maturity else None,
        "bond": None
        if t.bond is None
        else {
            "coupon_pct": str(t.bond.coupon_pct),
            "frequency": t.bond.frequency,
            "maturity": t.bond.maturity.isoformat(),
        },
        "factor": t.factor,
        "issuer": t.issuer,
    }


def _position_json(row: PositionRow, ccy: str) -> dict[str, Any]:
    ln = row.line
    return {
        "leg": ln.leg,
        "token": ln.token,
        "quantity": ln.quantity,
        "agreements": list(ln.agreements),
        "unit_value": exact_text(ln.unit_value),
        "value": money_json(ln.value, ccy),
        "counted": row.counted,
        "excluded_reason": row.reason,
        "haircut": exact_text(row.haircut),
        "fx_haircut": exact_text(row.fx_haircut),
        "haircut_basis": row.basis,
    }


def _document(r: Report) -> dict[str, Any]:
    ccy = r.currency
    cfg = r.config
    counterparties = []
    for cp in r.counterparties:
        counterparties.append(
            {
                "lender": cp.lender,
                "borrower": cp.borrower,
                "agreements": list(cp.agreements),
                "positions": [_position_json(p, ccy) for p in cp.positions],
                "excluded": [
                    {
                        "token": p.line.token,
                        "quantity": p.line.quantity,
                        "value": money_json(p.line.value, ccy),
                        "reason": p.reason,
                        "agreements": list(p.line.agreements),
                    }
                    for p in cp.positions
                    if not p.counted
                ],
                "figures": _figures_json(cp.figures, ccy),
                "var": _var_json(cp.var, ccy),
                "supervisory": {
                    "exposure_currency": cp.supervisory.exposure_currency,
                    "exposure_adjusted": money_json(cp.supervisory.exposure_adjusted, ccy),
                    "collateral_adjusted": money_json(cp.supervisory.collateral_adjusted, ccy),
                },
            }
        )
    return {
        "schema": SCHEMA,
        "as_of": r.as_of.isoformat(),
        "regime": r.regime.value,
        "currency": ccy,
        "source": r.source,
        "data_version": r.data_version,
        "market": {
            "prices": {k: exact_text(v) for k, v in sorted(r.prices.items())},
            "fx": {k: exact_text(v) for k, v in sorted(r.fx.items())},
        },
        "tokens": {k: _token_json(v) for k, v in sorted(r.tokens.items())},
        "method": {
            "var": {
                **cfg.var.describe(),
                "history_business_days": r.history_days,
                "history_digest": r.history_digest,
                "scenarios": r.total_var.n,
                "k": r.total_var.k,
            },
            "capital": "max(0, net + var) per counterparty; total = sum over counterparties",
            "exposure": "max(0, lent - counted collateral) per counterparty, market values",
            "supervisory_haircuts": {
                "formula": "E* = max(0, sum E(1+He) - sum C(1-Hc-Hfx)) (Basel II para 147)",
                "table": "Basel II (June 2006 comprehensive version) para 151-153, 10-day",
                "holding_business_days": cfg.holding_days,
                "scaling": f"H = H10 * sqrt({cfg.holding_days}/10), 10 decimal places",
                "fx_haircut": exact_text(fx_haircut(cfg.holding_days)),
            },
        },
        "counterparties": counterparties,
        "total": {"figures": _figures_json(r.total, ccy), "var": _var_json(r.total_var, ccy)},
    }


def _inputs(r: Report, document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "as_of": document["as_of"],
        "regime": document["regime"],
        "currency": document["currency"],
        "market": document["market"],
        "tokens": document["tokens"],
        "method": document["method"],
        "positions": [
            [
                cp["lender"],
                cp["borrower"],
                [[p["leg"], p["token"], p["quantity"], p["agreements"]] for p in cp["positions"]],
            ]
            for cp in document["counterparties"]
        ],
    }


def _digest(inputs: Mapping[str, Any]) -> str:
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def positions_of(report: Report) -> Sequence[tuple[str, PositionRow]]:
    """Every position row with its counterparty key (for tables)."""
    return [(cp.key, p) for cp in report.counterparties for p in cp.positions]
