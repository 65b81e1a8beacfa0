"""`tanpo bench ...`: benchmarks against the running network."""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from tanpo.bench import gateway as gateway_bench
from tanpo.client import GatewayError, connect
from tanpo.client.cli_common import PARTY_DEFAULT, acting_as
from tanpo.client.profile import ProfileError


@click.group()
def bench() -> None:
    """Benchmarks that print figures (run against `tanpo network up`)."""


@bench.command("gateway")
@click.option("--as", "as_", default=None,
              help="org[/user] to submit as (default: tanpo's own --as, else bank-a).")
@click.option("--submitters", default=8, show_default=True, help="Concurrent submitters.")
@click.option("--transactions", default=400, show_default=True, help="Submits in total.")
@click.option("--evaluations", default=200, show_default=True, help="Evaluates in total.")
@click.option("--warmup", default=100, show_default=True,
              help="Unmeasured submits first, at the same concurrency.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def gateway_cmd(as_: str | None, submitters: int, transactions: int, evaluations: int, warmup: int,
                as_json: bool) -> None:
    """Submit throughput and latency, and evaluate latency, of a no-op transaction."""
    party, user = acting_as(PARTY_DEFAULT, as_)
    try:
        with connect(party, user) as conn, Progress(disable=as_json, transient=True) as progress:
            task = progress.add_task("submitting", total=transactions)
            result = gateway_bench.run(
                conn.contract(),
                submitters=submitters,
                transactions=transactions,
                evaluations=evaluations,
                progress=lambda n: progress.advance(task, n),
                warmup=warmup,
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


@bench.command("market")
@click.option("--agreements", "-n", default=1000, show_default=True,
              help="Agreements to register and margin.")
@click.option("--parties", "-p", default=None, type=int,
              help="Bank parties to spread them over (default: every bank of the network).")
@click.option("--collaterals", "-k", default=2, show_default=True,
              help="Collateral tokens per agreement.")
@click.option("--registration", type=click.Choice(["batch", "single"]), default="batch",
              show_default=True,
              help="ProposeBatch/ApproveBatch, or one Propose and one Approve per agreement.")
@click.option("--register-batch", default=100, show_default=True,
              help="Agreements per ProposeBatch and ApproveBatch transaction.")
@click.option("--sweep-batch", default=1000, show_default=True,
              help="Agreements per SweepAgreements transaction.")
@click.option("--concurrency", default=4, show_default=True,
              help="Batch transactions in flight at most.")
@click.option("--threshold", default="0", show_default=True,
              help="Margin-call threshold β of every agreement (0: every day is a call).")
@click.option("--fee-bps", default=None,
              help="A lending fee (basis points p.a.) on every agreement: each call accrues it.")
@click.option("--noop-submitters", default=128, show_default=True,
              help="Submitters of the no-op baseline run first.")
@click.option("--noop-transactions", default=2000, show_default=True,
              help="No-op submits of the baseline.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the JSON figures to this file.")
def market_cmd(agreements: int, parties: int | None, collaterals: int, registration: str,
               register_batch: int, sweep_batch: int, concurrency: int,
               threshold: str, fee_bps: str | None, noop_submitters: int,
               noop_transactions: int, as_json: bool, out_file: str | None) -> None:
    """Register N agreements, then margin them on two days, against the no-op baseline."""
    from tanpo.bench import market
    from tanpo.client.profile import load_profile

    try:
        try:
            beta = Fraction(Decimal(threshold))
        except (InvalidOperation, ValueError):
            raise market.BenchError(f"--threshold {threshold!r} is not a decimal") from None
        try:
            fee = None if fee_bps is None else Fraction(Decimal(fee_bps))
        except (InvalidOperation, ValueError):
            raise market.BenchError(f"--fee-bps {fee_bps!r} is not a decimal") from None
        # the arguments are checked before the network is looked up
        market.MarketConfig(agreements=agreements, parties=max(parties or 2, 2),
                            collaterals=collaterals, register_batch=register_batch,
                            sweep_batch=sweep_batch,
                            concurrency=concurrency, noop_submitters=noop_submitters,
                            noop_transactions=noop_transactions, threshold=beta,
                            fee_bps=fee).validate()
        if parties is not None and parties < 2:
            raise market.BenchError("--parties must be at least 2 (a lender and a borrower)")
        profile = load_profile()
        banks = [p for p in profile.orgs if p.startswith("bank-")]
        cfg = market.MarketConfig(
            agreements=agreements, parties=parties if parties is not None else len(banks),
            collaterals=collaterals, register_batch=register_batch, sweep_batch=sweep_batch,
            concurrency=concurrency,
            registration="single" if registration == "single" else "batch",
            noop_submitters=noop_submitters, noop_transactions=noop_transactions, threshold=beta,
            fee_bps=fee,
        )
        cfg.validate()
        market.choose_parties(banks, cfg.parties)
        say = (lambda _msg: None) if as_json else (
            lambda msg: click.echo(f"[{time.strftime('%H:%M:%S')}] {msg}", err=True))
        result = market.run(cfg, profile, say=say)
    except market.BenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (ProfileError, GatewayError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    text = json.dumps(result, indent=2)
    if out_file:
        with open(out_file, "w") as f:
            f.write(text + "\n")
    if as_json:
        click.echo(text)
        return
    Console().print(market_table(result))
    if result["failed_transactions"]:
        click.echo(f"error: {result['failed_transactions']} transactions failed", err=True)
        sys.exit(1)


def market_table(result: dict[str, Any]) -> Table:
    """The figures of `tanpo bench market` as one table: a column per phase, a row per figure
    (five narrow columns fit an 80-column terminal; a row per phase would not)."""
    base = result["baseline"]
    cfg = result["config"]
    table = Table(title=(
        f"market benchmark: {cfg['agreements']:,} agreements, {cfg['parties']} parties, "
        f"{cfg['collaterals']} collateral tokens ({result['machine']['cpus']} CPUs)"))
    if "baseline_end" in result:
        table.caption = (f"no-op: {base['submit_tps']:.1f} tx/s at the start, "
                         f"{result['baseline_end']['submit_tps']:.1f} at the end; "
                         f"ratios use {result['noop_tps']:.1f}")
    table.add_column("figure")
    lat = base["submit_latency"]
    columns = [("no-op", {
        "agreements": "-", "transactions": f"{base['transactions']:,}",
        "seconds": f"{base['elapsed_s']:.1f}", "agreements/s": "-",
        "tx/s": f"{base['submit_tps']:.1f}",
        "p50 / p99 ms": f"{lat['p50_ms']:.0f} / {lat['p99_ms']:.0f}",
        "MVCC (retries)": f"{base['mvcc_retries']}", "failed": str(base["failed"]),
        "agr/s ÷ no-op tx/s": "-", "tx/s ÷ no-op tx/s": "1.00",
        "CPU busy": f"{base.get('cpu_busy_pct', '-')}%"})]
    for p in result["phases"]:
        lat = p["commit_latency"]
        columns.append((p["phase"], {
            "agreements": f"{p['agreements']:,}", "transactions": f"{p['transactions']:,}",
            "seconds": f"{p['elapsed_s']:.1f}", "agreements/s": f"{p['agreements_per_s']:.1f}",
            "tx/s": f"{p['tx_per_s']:.1f}",
            "p50 / p99 ms": f"{lat['p50_ms']:.0f} / {lat['p99_ms']:.0f}",
            "MVCC (retries)": f"{p['mvcc_conflicts']} ({p['retries']})",
            "failed": str(p["failed"]),
            "agr/s ÷ no-op tx/s": f"{p['ratio_agreements_to_noop']:.2f}",
            "tx/s ÷ no-op tx/s": f"{p['ratio_tx_to_noop']:.2f}",
            "CPU busy": f"{p.get('cpu_busy_pct', '-')}%"}))
    for name, _ in columns:
        table.add_column(name, justify="right")
    for figure in columns[0][1]:
        table.add_row(figure, *(values[figure] for _, values in columns))
    return table
