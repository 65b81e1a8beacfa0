"""`tanpo bench ...`: benchmarks against the running network."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tanpo.bench import gateway as gateway_bench
from tanpo.client import GatewayError, connect, parse_as
from tanpo.network.profile import ProfileError


@click.group()
def bench() -> None:
    """Benchmarks that print figures (run against `tanpo network up`)."""


@bench.command("gateway")
@click.option("--as", "as_", default="bank-a", show_default=True, help="org[/user] to submit as.")
@click.option("--submitters", default=8, show_default=True, help="Concurrent submitters.")
@click.option("--transactions", default=400, show_default=True, help="Submits in total.")
@click.option("--evaluations", default=200, show_default=True, help="Evaluates in total.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def gateway_cmd(as_: str, submitters: int, transactions: int, evaluations: int,
                as_json: bool) -> None:
    """Submit throughput and latency, and evaluate latency, of a no-op transaction."""
    party, user = parse_as(as_)
    try:
        with connect(party, user) as conn, Progress(disable=as_json, transient=True) as progress:
            task = progress.add_task("submitting", total=transactions)
            result = gateway_bench.run(
                conn.contract(),
                submitters=submitters,
                transactions=transactions,
                evaluations=evaluations,
                progress=lambda n: progress.advance(task, n),
            )
    except (ProfileError, GatewayError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    table = Table(title=f"gateway benchmark ({submitters} submitters, as {party}/{user})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("submits committed", f"{result.transactions} ({result.failed} failed)")
    table.add_row("submit throughput", f"{result.submit_tps:.1f} tx/s")
    submit, evaluate = result.submit_latency, result.evaluate_latency
    table.add_row("submit latency p50 / p99",
                  f"{submit['p50_ms']:.1f} / {submit['p99_ms']:.1f} ms")
    table.add_row("evaluate latency p50 / p99",
                  f"{evaluate['p50_ms']:.1f} / {evaluate['p99_ms']:.1f} ms")
    Console().print(table)
