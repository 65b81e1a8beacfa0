"""`tanpo demo`: the main job, end to end on a real network.

A fresh network comes up; the token administrator defines the five TSE stocks and a JPY cash
token and issues them on request; bank-a lends JPY cash to bank-b against the five stocks
(multi-token adjustment, threshold 2 %, the paper's model 4); the oracle daemon replays the 2009
rally window from the shipped closing prices, posting each trading day's closes and sweeping the
margin calls on-chain; the run ends with the margin-call table, the metrics, the closing
exchange and a plot, and leaves the network and bank-a's dashboard (`tanpo dashboard`, when
installed) running, with the command that stops both.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tanpo.client.profile import load_profile
from tanpo.network.launcher import Launcher
from tanpo.network.topology import Topology, repo_root

if TYPE_CHECKING:
    from tanpo.oracle.daemon import DateResult
    from tanpo.scenarios.fabric_ledger import FabricLedger
    from tanpo.scenarios.ledger import AgreementTerms, CallRecord
    from tanpo.scenarios.model import TokenSpec
    from tanpo.scenarios.prices import DayPrices

DEMO_PORT_BASE = 18000
#: bank-a's dashboard listens on the port base plus this (past the network's 200 ports)
DASHBOARD_OFFSET = 470
CASE, MODEL = 3, 4  # the 2009 rally; beta = 2 %, multi-token, immediate settlement


def _yen(x: Fraction) -> str:
    return f"{round(x):,}"


def _millions(x: Fraction) -> str:
    return f"{float(x) / 1e6:,.1f}"


def _transfers(record: CallRecord, lender: str) -> str:
    parts = [
        f"{t.quantity:,} {t.token} {'L→B' if t.sender == lender else 'B→L'}"
        for t in record.transfers
    ]
    return "\n".join(parts) if parts else "-"


@click.command("demo")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Where the demo network lives (default .state/demo).")
@click.option("--port-base", type=int, default=DEMO_PORT_BASE, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/demo"), show_default=True, help="Folder for the plot and CSV.")
@click.option("--dashboard-port", type=click.IntRange(0, 65535), default=None,
              help=f"Port of bank-a's dashboard (default: the port base + {DASHBOARD_OFFSET}).")
def demo(state_dir: Path | None, port_base: int, out: Path,
         dashboard_port: int | None) -> None:
    """Network up, tokens issued, an agreement opened, the oracle replaying the 2009 rally."""
    from tanpo.client.connect import connect
    from tanpo.marketdata.series import MarketData
    from tanpo.oracle.config import SourceConfig, default_config
    from tanpo.oracle.daemon import Oracle
    from tanpo.oracle.fabric import FabricLedger as OracleLedger
    from tanpo.oracle.sources import build_source
    from tanpo.oracle.status import StateFiles
    from tanpo.scenarios.fabric_ledger import FabricLedger
    from tanpo.scenarios.metrics import compute_metrics
    from tanpo.scenarios.paper import CASES, MODELS, paper_scenario
    from tanpo.scenarios.prices import PriceBook
    from tanpo.scenarios.runner import resolve_terms

    console = Console(width=max(100, Console().width))
    state = state_dir or repo_root() / ".state" / "demo"
    topo = Topology(port_base=port_base, state_dir=state / "network")

    console.rule("[bold]1. A fresh Fabric network on 127.0.0.1")
    launcher = Launcher(topo, say=lambda m: console.print(f"[dim]{m}"))
    _stop_dashboard(state / "dashboard")
    launcher.down(wipe=True)
    launcher.up()
    profile = load_profile(topo.profile_file)

    console.rule("[bold]2. Tokens defined and issued on request")
    market = MarketData()
    case = CASES[CASE]
    scenario = paper_scenario(case, MODELS[MODEL], data=market)
    book = PriceBook(scenario, market)
    ledger = FabricLedger(profile, run_tag="demo")
    ledger.define_tokens(scenario.tokens)
    start_prices = book.on(case.start)
    (spec,) = scenario.agreements
    terms = resolve_terms(spec, scenario, start_prices)
    issues = [(terms.lender, terms.loan_token, terms.loan_quantity)]
    issues += [(terms.borrower, t, q) for t, q in terms.collateral]
    issues += [(p, t, q) for p, holding in scenario.balances.items() for t, q in holding.items()]
    for party, token, qty in issues:
        ledger.issue(party, token, qty)
        console.print(f"  {party} requested {qty:,} {token}; the token administrator approved")

    console.rule("[bold]3. bank-a lends JPY cash to bank-b against five TSE stocks")
    ledger.post_prices(case.start, start_prices.prices, start_prices.fx)
    opened = ledger.open_agreement(terms, case.start)
    console.print(
        f"  agreement {ledger.chain_id(terms.id)}: loan {terms.loan_quantity:,} JPY, collateral "
        + ", ".join(f"{q:,} {t}" for t, q in terms.collateral)
        + f"; haircut {terms.haircut}, threshold {terms.threshold}, mode {terms.mode}"
    )
    console.print(f"  opening exchange settled: V_L {_yen(opened.v_l)}, V_C {_yen(opened.v_c)}")

    console.rule("[bold]4. The oracle replays the 2009 rally on-chain")
    base = default_config()
    config = dataclasses.replace(
        base,
        source=SourceConfig(kind="file", path=str(repo_root() / "data" / "market")),
        fx=(),
        schedule=dataclasses.replace(base.schedule, valuation_days="markets"),
    )
    oracle_ledger = OracleLedger(connect("operator", "User1", profile))
    (state / "oracle").mkdir(parents=True, exist_ok=True)
    oracle = Oracle(config, oracle_ledger, build_source(config.source),
                    state=StateFiles(state / "oracle"), mode="replay")
    first, last = case.start + timedelta(days=1), case.end - timedelta(days=1)
    dates = oracle.schedule.valuation_days(first, last, None)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("posting closes, sweeping", total=len(dates))

        def advanced(day: date, result: DateResult | None) -> None:
            bar.update(task, advance=1, description=f"{day.isoformat()} posted and swept")

        replay = oracle.replay(first, last, on_result=advanced)
    oracle_ledger.close()
    if replay.stopped_at is not None:
        raise click.ClickException(
            f"the oracle held back {replay.stopped_at}: see `tanpo oracle status`"
        )

    console.rule("[bold]5. Margin calls recorded on the ledger")
    records = ledger.call_records(terms.id)
    table = Table(caption="values in million JPY; gap after in JPY; L = lender bank-a, "
                  "B = borrower bank-b")
    for col in ("date", "V_L", "V_C before", "gap before", "call", "transfers", "gap after"):
        table.add_column(col, justify="left" if col in ("date", "transfers") else "right")
    for r in records:
        table.add_row(r.date.isoformat(), _millions(r.v_l), _millions(r.v_c_before),
                      _millions(r.gap_before), "yes" if r.triggered else "",
                      _transfers(r, terms.lender), _yen(r.gap_after))
    console.print(table)
    metrics = compute_metrics(records)
    console.print(
        f"checked days {len(records)}, margin calls {metrics.margin_calls}, issuances "
        f"{metrics.issuances}; |gap| after the call: max {_yen(metrics.risk_max)} JPY, "
        f"mean {_yen(metrics.risk_mean)} JPY"
    )

    agree = _engine_agrees(ledger, scenario.tokens, issues, terms, records, start_prices)
    console.print(
        "the off-chain engine, fed the prices posted on the ledger, gives "
        + ("[green]identical[/] calls" if agree else "[red]DIFFERENT[/] calls")
    )

    console.rule("[bold]6. Closing exchange")
    end_prices = book.on(case.end)
    ledger.post_prices(case.end, end_prices.prices, end_prices.fx)
    closed = ledger.close_agreement(terms.id, case.end)
    console.print(
        "  returned to bank-b: " + ", ".join(f"{q:,} {t}" for t, q in closed.returned.items())
    )
    plot = _plot(records, out)
    ledger.close()
    console.print(f"\nplot: {plot}")
    port = dashboard_port if dashboard_port is not None else port_base + DASHBOARD_OFFSET
    url, pid = _start_dashboard(topo.state_dir, state / "dashboard", port)
    down = f"tanpo network down --state-dir {topo.state_dir}"
    if url is None:
        console.print(
            f"The network keeps running: `tanpo --state-dir {topo.state_dir} network status`; "
            f"stop it with `{down}`."
        )
        return
    console.rule("[bold]7. bank-a's dashboard")
    console.print(f"bank-a's dashboard: [bold]{url}[/] (process {pid}); the network keeps "
                  f"running.", soft_wrap=True)
    console.print(f"Stop both: kill {pid}; {down}", soft_wrap=True, markup=False)


def _start_dashboard(network_state: Path, folder: Path,
                     port: int) -> tuple[str | None, int | None]:
    """Start ``tanpo dashboard`` for bank-a in its own session (it outlives the demo), its
    output in ``folder``/bank-a.log and its PID in ``folder``/bank-a.pid; return its address
    once it listens (None when the dashboard is not installed or did not start)."""
    if importlib.util.find_spec("tanpo.dashboard") is None:
        return None, None
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "bank-a.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tanpo.client.cli_main", "--state-dir", str(network_state),
             "--as", "bank-a", "dashboard", "--port", str(port),
             "--checkpoint", str(folder / "bank-a.checkpoint.json")],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True)
    (folder / "bank-a.pid").write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("tanpo dashboard for bank-a: "):
                return line.split(": ", 1)[1].strip(), process.pid
        time.sleep(0.2)
    if process.poll() is None:
        process.terminate()
    raise click.ClickException(f"bank-a's dashboard did not start: see {log}")


def _stop_dashboard(folder: Path) -> None:
    """Stop the dashboard an earlier demo left running (by the PID it recorded, and only when
    that process is still a tanpo dashboard)."""
    pid_file = folder / "bank-a.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"dashboard" in cmdline and b"tanpo" in cmdline:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def _engine_agrees(ledger: FabricLedger, tokens: Sequence[TokenSpec],
                   issues: Sequence[tuple[str, str, int]], terms: AgreementTerms,
                   records: Sequence[CallRecord], start: DayPrices) -> bool:
    """Replay the same days through the off-chain engine with the prices read from the ledger."""
    from tanpo.scenarios.engine_ledger import EngineLedger

    engine = EngineLedger()
    engine.define_tokens(tokens)
    for party, token, qty in issues:
        engine.issue(party, token, qty)
    engine.post_prices(terms.start, start.prices, start.fx)
    engine.open_agreement(terms, terms.start)
    oracle = ledger.reader()
    for r in records:
        posted = oracle.prices(r.date)
        engine.post_prices(r.date, posted.prices, posted.fx)
        if engine.margin_call(terms.id, r.date) != r:
            return False
    return True


def _plot(records: Sequence[CallRecord], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    days = [r.date for r in records]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.plot(days, [float(r.v_l) / 1e9 for r in records], label="required (loan value V_L)")
    top.plot(days, [float(r.v_c_before) / 1e9 for r in records], label="collateral before call")
    top.plot(days, [float(r.v_c_after) / 1e9 for r in records], label="collateral after call",
             linestyle="--")
    top.set_ylabel("billion JPY")
    top.set_title("2009 rally, model 4 (multi-token, threshold 2 %), margined on-chain")
    top.legend()
    bottom.bar(days, [float(r.gap_before) / 1e6 for r in records], label="gap before call")
    bottom.plot(days, [float(r.gap_after) / 1e6 for r in records], color="black",
                label="gap after call")
    bottom.set_ylabel("million JPY")
    bottom.legend()
    fig.autofmt_xdate()
    path = out / "demo-rally-model4.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
