"""``tanpo risk``: counterparty risk and capital reports, and comparison of two reports.

``tanpo risk report --date D --regime basel2 [--json] [--out DIR] (--scenario FILE | --ledger)``

``--ledger`` reads the book from the running network through the SDK (as bank-a, or the bank
`tanpo --as` names: agreements are private to their two banks, the operator is refused them);
:func:`set_ledger_source_factory` installs another source.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tanpo.risk.compare import Comparison, compare
from tanpo.risk.errors import RiskError
from tanpo.risk.history import DEFAULT_WINDOW, MarketDataFactors, StressWindow
from tanpo.risk.portfolio import PortfolioSource
from tanpo.risk.regimes import Regime
from tanpo.risk.report import Report, ReportConfig, minor_unit, run_report
from tanpo.risk.var import ReturnMethod, VarConfig
from tanpo.scenarios.report import money

__all__ = ["LedgerSourceFactory", "ledger_source", "risk", "set_ledger_source_factory"]

LedgerSourceFactory = Callable[[], PortfolioSource]
_ledger_factory: LedgerSourceFactory | None = None


def set_ledger_source_factory(factory: LedgerSourceFactory | None) -> None:
    """Install (or remove, with None) the factory ``--ledger`` uses to read the Fabric ledger."""
    global _ledger_factory
    _ledger_factory = factory


def _fabric_source() -> PortfolioSource:
    """The running network, read as bank-a (`tanpo --as` picks another bank): the operator may
    not read bilateral agreements."""
    from tanpo.client.cli_common import PARTY_DEFAULT, acting_as, connection_errors
    from tanpo.risk.ledger_source import LedgerSource

    party, user = acting_as(PARTY_DEFAULT)
    with connection_errors():
        return LedgerSource.connect(party, user)


def ledger_source() -> PortfolioSource:
    return (_ledger_factory or _fabric_source)()


def _console() -> Console:
    return Console(width=max(Console().width, 140))


@click.group()
def risk() -> None:
    """Counterparty exposure, stressed VaR and capital, by regime, reproducible as of a date."""


def _parse_factors(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        token, sep, factor = v.partition("=")
        if not sep or not token or not factor:
            raise click.BadParameter(f"{v!r} is not TOKEN=FACTOR (e.g. US-STOCK=price:AAPL)")
        out[token] = factor
    return out


def _confidence(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{text!r} is not a number such as 0.99") from None
    return value


@risk.command("report")
@click.option(
    "--date",
    "day",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Report date (end of day). Default with --scenario: its last margin-call date.",
)
@click.option(
    "--regime",
    type=click.Choice([r.value for r in Regime]),
    default="basel2",
    show_default=True,
    help="Collateral eligibility regime the report is tagged with.",
)
@click.option(
    "--scenario",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Build the book from a run of this scenario file (off-chain engine).",
)
@click.option("--ledger", "use_ledger", is_flag=True, help="Read the book from the Fabric ledger.")
@click.option("--currency", default=None, help="Reporting currency (default: the book's base).")
@click.option(
    "--window",
    "window_text",
    default=None,
    help="Stressed window START:END (default 2008-01-01:2009-12-31, the shipped crisis).",
)
@click.option(
    "--returns",
    "method",
    type=click.Choice([m.value for m in ReturnMethod]),
    default=ReturnMethod.OVERLAPPING.value,
    show_default=True,
    help="overlapping 5-day moves, or 1-day moves scaled by sqrt(5).",
)
@click.option("--confidence", default="0.99", show_default=True, help="VaR confidence.")
@click.option(
    "--horizon",
    default=5,
    show_default=True,
    type=click.IntRange(1, 60),
    help="VaR horizon and haircut holding period, business days.",
)
@click.option(
    "--data-version",
    default=None,
    help="Price data version to use (default: the latest for the date).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Market-data folder (history; scenario prices).",
)
@click.option(
    "--factor",
    "factor_args",
    multiple=True,
    help="TOKEN=FACTOR risk-factor mapping for a scenario token (price:SYM, yield:NAME).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead of tables.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the JSON, a CSV and a PNG chart into this folder.",
)
def report_command(
    day: object,
    regime: str,
    scenario_file: Path | None,
    use_ledger: bool,
    currency: str | None,
    window_text: str | None,
    method: str,
    confidence: str,
    horizon: int,
    data_version: str | None,
    data_dir: Path | None,
    factor_args: tuple[str, ...],
    as_json: bool,
    out_dir: Path | None,
) -> None:
    """Exposure, stressed VaR and capital per counterparty, as of --date."""
    if (scenario_file is None) == (not use_ledger):
        raise click.UsageError("give exactly one of --scenario FILE or --ledger")
    factors = _parse_factors(factor_args)
    try:
        window = StressWindow.parse(window_text) if window_text else DEFAULT_WINDOW
        config = ReportConfig(
            regime=Regime(regime),
            var=VarConfig(_confidence(confidence), horizon, ReturnMethod(method), window),
            holding_days=horizon,
        )
        source: PortfolioSource
        if use_ledger:
            if factors:
                raise click.UsageError("--factor applies to --scenario only")
            if day is None:
                raise click.UsageError("--ledger needs --date")
            source = ledger_source()
        else:
            from tanpo.marketdata.series import MarketData
            from tanpo.risk.scenario_source import ScenarioSource

            assert scenario_file is not None
            scenario_source = ScenarioSource(
                scenario_file, MarketData(data_dir) if data_dir is not None else None, factors
            )
            source = scenario_source
            if day is None:
                day = scenario_source.default_day()
        as_of = day.date() if hasattr(day, "date") else day
        assert isinstance(as_of, date)
        report = run_report(
            source, as_of, config, MarketDataFactors(data_dir), currency, data_version
        )
        # the ledger's margin calls: caps still breached after an agreement's latest call
        read_breaches = getattr(source, "breaches", None) if use_ledger else None
        breaches = read_breaches(as_of) if read_breaches is not None else []
    except RiskError as exc:
        raise click.ClickException(str(exc)) from None
    written: list[Path] = []
    if out_dir is not None:
        from tanpo.risk.output import write_all

        written = write_all(report, out_dir)
    if as_json:
        click.echo(report.to_json(), nl=False)
        return
    print_report(report, _console())
    print_breaches(breaches, _console())
    for path in written:
        click.echo(f"wrote {path}")


def print_breaches(breaches: Sequence[tuple[str, date, Sequence[Any]]],
                   console: Console) -> None:
    """Agreements whose latest margin call records concentration caps still breached."""
    if not breaches:
        return
    table = Table(title="concentration caps breached at the latest margin call")
    for name in ("agreement", "call", "cap by", "group", "share", "max"):
        table.add_column(name, no_wrap=True, justify="right" if name in ("share", "max")
                         else "left")
    for agreement, day, items in breaches:
        for b in items:
            table.add_row(agreement, day.isoformat(), b.by, b.key or "-",
                          f"{float(b.share) * 100:.2f}%", f"{float(b.max) * 100:.2f}%")
    console.print(table)


def print_report(report: Report, console: Console) -> None:
    """The report as rich tables."""
    ccy = report.currency
    places = minor_unit(ccy)
    v = report.config.var
    console.print(
        f"[bold]Counterparty risk[/bold] as of {report.as_of.isoformat()}  regime "
        f"[bold]{report.regime.value}[/bold]  currency {ccy}"
    )
    console.print(f"source: {report.source}; data version {report.data_version}")
    console.print(
        f"stressed VaR: {float(v.confidence) * 100:g}% over {v.horizon_days} business days, "
        f"historical simulation over {v.window.label}: {report.total_var.n} "
        + (
            "overlapping 5-day moves"
            if v.method == ReturnMethod.OVERLAPPING
            else "1-day moves scaled by sqrt(horizon)"
        )
        + f"; VaR = k-th largest exposure increase, k = {report.total_var.k} (no interpolation)"
    )
    table = Table(title=f"Exposure, VaR and capital ({ccy})")
    for col in (
        "lender",
        "borrower",
        "lent",
        "collateral",
        "excluded",
        "net",
        "exposure",
        "VaR",
        "capital",
        "E* (haircuts)",
    ):
        table.add_column(col, justify="left" if col in ("lender", "borrower") else "right")
    for cp in report.counterparties:
        f = cp.figures
        table.add_row(
            cp.lender,
            cp.borrower,
            *(
                money(x, places)
                for x in (
                    f.lent,
                    f.collateral,
                    f.excluded,
                    f.net,
                    f.exposure,
                    f.var,
                    f.capital,
                    f.e_star,
                )
            ),
        )
    t = report.total
    table.add_row(
        "[bold]total[/bold]",
        "",
        *(
            money(x, places)
            for x in (
                t.lent,
                t.collateral,
                t.excluded,
                t.net,
                t.exposure,
                t.var,
                t.capital,
                t.e_star,
            )
        ),
    )
    console.print(table)
    if t.var_undiversified is not None and t.diversification is not None:
        console.print(
            f"VaR: diversified {money(t.var, places)}, sum of counterparty VaRs "
            f"{money(t.var_undiversified, places)}, diversification benefit "
            f"{money(t.diversification, places)}"
        )
    pos = Table(title="Positions")
    for col in (
        "counterparty",
        "leg",
        "token",
        "quantity",
        f"value ({ccy})",
        "counted",
        "haircut",
        "Hfx",
        "note",
    ):
        pos.add_column(col, justify="right" if col in ("quantity", f"value ({ccy})") else "left")
    for cp in report.counterparties:
        for p in cp.positions:
            pos.add_row(
                cp.key,
                p.line.leg,
                p.line.token,
                f"{p.line.quantity:,}",
                money(p.line.value, places),
                "yes" if p.counted else "[red]no[/red]",
                _pct(p.haircut),
                _pct(p.fx_haircut),
                p.reason or p.basis,
            )
    console.print(pos)
    worst = ", ".join(
        f"{s.isoformat()}..{e.isoformat()} {money(c, places)}" for s, e, c in report.total_var.worst
    )
    if worst:
        console.print(f"worst moves of the whole book: {worst}")


def _pct(rate: Fraction) -> str:
    return f"{float(rate) * 100:.4g}%" if rate else "0"


@risk.command("compare")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(old: Path, new: Path, as_json: bool) -> None:
    """What changed between two report JSON files (e.g. after a price correction)."""
    try:
        a = json.loads(old.read_text(encoding="utf-8"))
        b = json.loads(new.read_text(encoding="utf-8"))
        result = compare(a, b)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"cannot compare: {exc}") from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), sort_keys=True, indent=2))
        return
    print_comparison(result, _console(), a.get("currency", ""))


def print_comparison(result: Comparison, console: Console, currency: str) -> None:
    console.print(
        f"data version {result.old_version} -> {result.new_version}"
        + ("" if result.old_digest != result.new_digest else " (same inputs)")
    )
    for note in result.notes:
        console.print(f"[yellow]{note}[/yellow]")
    if result.unchanged:
        console.print("no change")
        return
    for c in result.inputs:
        console.print(f"{c.kind} {c.name}: {c.old} -> {c.new}")
    table = Table(title=f"Changed figures ({currency})")
    for col in ("scope", "figure", "old", "new", "change"):
        table.add_column(col, justify="left" if col in ("scope", "figure") else "right")
    places = minor_unit(currency) if currency else 2
    for f in result.figures:
        table.add_row(
            f.scope, f.figure,
            "-" if f.old is None else money(f.old, places),
            "-" if f.new is None else money(f.new, places),
            "-" if f.delta is None else money(f.delta, places),
        )  # fmt: skip
    console.print(table)
    for scope in result.added:
        console.print(f"new counterparty {scope}")
    for scope in result.removed:
        console.print(f"counterparty {scope} no longer present")
