"""``tanpo scenario``: run scenario files, the paper's evaluation, the indexed comparison, and the
off-chain benchmarks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress

from tanpo.marketdata.calendar import Fill
from tanpo.marketdata.series import MarketData, MarketDataError
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import Ledger

__all__ = ["make_ledger", "scenario"]


def _console() -> Console:
    return Console(width=max(Console().width, 160))


def _emit_json(document: Any) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _market(data: Path | None) -> MarketData:
    market = MarketData(data)
    if not market.root.is_dir():
        raise click.ClickException(
            f"market-data folder {market.root} does not exist (use --data or $TANPO_MARKET_DATA)"
        )
    return market


def make_ledger(on_chain: bool) -> Ledger:
    """The ledger behind a run: the off-chain engine, or the running Fabric network."""
    if on_chain:
        from tanpo.client.cli_common import connection_errors
        from tanpo.scenarios.fabric_ledger import FabricLedger

        with connection_errors():
            return FabricLedger()
    from tanpo.scenarios.engine_ledger import EngineLedger

    return EngineLedger()


@click.group()
def scenario() -> None:
    """Replay market history through the margin rules and report risk and operational cost."""


@scenario.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option(
    "--fill",
    type=click.Choice([f.value for f in Fill]),
    default=None,
    help="Override the scenario's convention for days without trading.",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Market-data folder (default: the scenario's `data:` or the shipped data/market).",
)
@click.option(
    "--on-chain",
    is_flag=True,
    help="Run through the real Fabric network instead of the off-chain engine.",
)
def run_command(
    file: Path, as_json: bool, fill: str | None, data: Path | None, on_chain: bool
) -> None:
    """Run the scenario FILE: every margin call and the metrics."""
    import dataclasses

    from tanpo.scenarios.loader import load_scenario
    from tanpo.scenarios.prices import PriceBook
    from tanpo.scenarios.report import (
        calls_table,
        economics,
        economics_table,
        invoices_table,
        metrics_table,
        money,
        run_json,
        steps_table,
    )
    from tanpo.scenarios.runner import run_scenario

    ledger = make_ledger(on_chain)
    try:
        spec = load_scenario(file)
        if fill is not None:
            spec = dataclasses.replace(spec, fill=Fill(fill))
        market = MarketData(data if data is not None else spec.data_dir)
        result = run_scenario(spec, ledger, book=PriceBook(spec, market))
    except (ScenarioError, MarketDataError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _emit_json(run_json(result))
        return
    console = _console()
    console.print(f"[bold]{spec.name}[/bold]  {spec.description}".rstrip())
    console.print(
        f"base {spec.base_currency}, days without trading: {spec.fill.value}, "
        f"window {spec.window_start} .. {spec.window_end}, backend {result.backend}"
    )
    places = 0 if spec.base_currency == "JPY" else 2
    for o in result.opens:
        legs = ", ".join(f"{q:,} {t}" for t, q in o.terms.collateral)
        console.print(
            f"{o.agreement} opened {o.date}: loan {o.terms.loan_quantity:,} {o.terms.loan_token} "
            f"(V_L {money(o.v_l, places)}) against {legs} (V_C {money(o.v_c, places)}); "
            f"haircut {o.terms.haircut}, threshold {o.terms.threshold}, {o.terms.mode}, "
            f"lag {o.terms.lag}, auto-issue {'on' if o.terms.auto_issue else 'off'}"
        )
        console.print(
            calls_table(
                result.calls_of(o.agreement),
                f"Margin calls of {o.agreement} ({o.terms.base_currency})",
                places,
            )
        )
    if result.steps:
        console.print(steps_table(result.steps, "Life-cycle steps", places))
    for c in result.closes:
        returned = ", ".join(f"{q:,} {t}" for t, q in c.returned.items() if q)
        console.print(f"{c.agreement} closed {c.date}: lender returns {returned or 'nothing'}")
    table_input = dict(result.metrics)
    if len(table_input) > 1:
        table_input["total"] = result.total
    console.print(metrics_table(table_input, "Metrics", places))
    if result.has_economics:
        console.print(economics_table(
            economics(result), f"Fee income and rebate cost ({spec.base_currency})", places))
        if result.invoices:
            console.print(invoices_table(result.invoices, "Invoices"))
        else:
            console.print("no month ended within the window: nothing invoiced")


@scenario.command("paper")
@click.option(
    "--case",
    "cases",
    type=click.IntRange(1, 4),
    multiple=True,
    help="Case(s) to run (default: 1-4).",
)
@click.option(
    "--model",
    "models",
    type=click.IntRange(0, 4),
    multiple=True,
    help="Model(s) to show (default: 0-4; model 0 always runs as the reference).",
)
@click.option("--json", "as_json", is_flag=True, help="Print absolute figures as JSON.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/paper"),
    show_default=True,
    help="Folder for the CSV files and PNG plots.",
)
@click.option("--no-files", is_flag=True, help="Do not write CSV files and plots.")
@click.option("--on-chain", is_flag=True,
              help="Drive every run through the running Fabric network (tanpo network up).")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Market-data folder (default: the shipped data/market).",
)
def paper_command(
    cases: tuple[int, ...],
    models: tuple[int, ...],
    as_json: bool,
    out: Path,
    no_files: bool,
    data: Path | None,
    on_chain: bool,
) -> None:
    """The paper's evaluation: models 0-4 over cases 1-4 (off-chain, or on the network)."""
    from tanpo.scenarios.paper import paper_json, paper_tables, run_paper, write_paper_outputs

    selected_cases = tuple(sorted(set(cases))) or (1, 2, 3, 4)
    selected_models = tuple(sorted(set(models))) or (0, 1, 2, 3, 4)
    run_models = tuple(sorted({0, *selected_models}))
    factory = (lambda: make_ledger(True)) if on_chain else None
    try:
        with Progress(disable=as_json or not on_chain, transient=True,
                      console=Console(stderr=True)) as bar:
            task = bar.add_task("paper runs on-chain", total=len(selected_cases) * len(run_models))

            def advance(case: int, model: int) -> None:
                bar.update(task, advance=1, description=f"case {case} model {model}")

            results = run_paper(selected_cases, run_models, _market(data), factory, advance)
    except (ScenarioError, MarketDataError) as exc:
        raise click.ClickException(str(exc)) from None
    shown = {k: v for k, v in results.items() if k[1] in selected_models}
    written = [] if no_files else write_paper_outputs(shown, out)
    if as_json:
        _emit_json(paper_json(shown))
        return
    console = _console()
    risk, counts = paper_tables(results, selected_models)
    console.print(risk)
    console.print(counts)
    if written:
        console.print(f"wrote {len(written)} files to {out}")


@scenario.command("compare")
@click.option(
    "--window",
    "windows",
    type=click.Choice(["normal", "turmoil"]),
    multiple=True,
    help="Window(s) (default: both).",
)
@click.option("--json", "as_json", is_flag=True, help="Print absolute and indexed figures as JSON.")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Market-data folder (default: the shipped data/market).",
)
def compare_command(windows: tuple[str, ...], as_json: bool, data: Path | None) -> None:
    """The DLT study's comparison: 1 vs 5 collaterals x no vs 2% threshold, indexed."""
    from tanpo.scenarios.compare import compare_json, compare_tables, run_compare

    try:
        results = run_compare(tuple(dict.fromkeys(windows)) or ("normal", "turmoil"), _market(data))
    except (ScenarioError, MarketDataError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _emit_json(compare_json(results))
        return
    console = _console()
    for table in compare_tables(results):
        console.print(table)


@scenario.command("validate")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def validate_command(files: tuple[Path, ...]) -> None:
    """Check scenario files (schema, references, market data for the window)."""
    from tanpo.scenarios.loader import load_scenario
    from tanpo.scenarios.prices import PriceBook

    failed = 0
    for path in files:
        try:
            spec = load_scenario(path)
            PriceBook(spec).days()
        except (ScenarioError, MarketDataError) as exc:
            failed += 1
            click.echo(f"FAIL {exc}", err=True)
            continue
        click.echo(
            f"ok   {path}: {len(spec.agreements)} agreement(s), {spec.window_start} .. "
            f"{spec.window_end}"
        )
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} scenario file(s) are invalid")


@scenario.command("bench")
@click.option(
    "--agreements",
    type=click.IntRange(1),
    default=100_000,
    show_default=True,
    help="Agreements in the synthetic book.",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=60,
    show_default=True,
    help="Checked days in the synthetic book.",
)
@click.option(
    "--runner-agreements",
    type=click.IntRange(0),
    default=10_000,
    show_default=True,
    help="Agreements of the book also run through the full runner path (0 = skip).",
)
def bench_command(agreements: int, days: int, runner_agreements: int) -> None:
    """Time the 20 paper runs and a synthetic book (figures only, nothing asserted)."""
    from tanpo.scenarios.bench import bench_book, bench_paper, bench_runner

    console = _console()
    market = _market(None)
    results = [bench_paper(market)]
    console.print(_bench_line(results[-1]))
    results.append(bench_book(agreements, days, data=market))
    console.print(_bench_line(results[-1]))
    if runner_agreements:
        results.append(bench_runner(min(runner_agreements, agreements), days, data=market))
        console.print(_bench_line(results[-1]))


def _bench_line(r: Any) -> str:
    per_call = r.seconds / r.calls * 1e6 if r.calls else 0.0
    return (
        f"{r.label}: {r.agreements:,} agreements x {r.days} days = {r.calls:,} checks "
        f"({r.triggered:,} calls, {r.transfers:,} transfers) in {r.seconds:.2f} s "
        f"= {per_call:.1f} µs per check"
    )
