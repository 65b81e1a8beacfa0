"""`tanpo network up|down|status|logs|stop-node|start-node`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from tanpo.client.profile import default_state_dir
from tanpo.network.fabric_bin import FabricBinariesError
from tanpo.network.launcher import Launcher, NetworkError
from tanpo.network.processes import NodeStartError, log_tail
from tanpo.network.topology import DEFAULT_PORT_BASE, MAX_PEERS_PER_BANK, Topology


def _topology(state_dir: Path | None, banks: int | None, orderers: int | None,
              port_base: int | None, peers_per_bank: int | None = None) -> Topology:
    state = state_dir or default_state_dir()
    saved = Topology.load(state)
    if saved is not None:
        asked = {"banks": banks, "orderers": orderers, "port_base": port_base,
                 "peers_per_bank": peers_per_bank}
        clashes = [
            f"--{k.replace('_', '-')} {v} (network has {getattr(saved, k)})"
            for k, v in asked.items()
            if v is not None and v != getattr(saved, k)
        ]
        if clashes:
            raise click.UsageError(
                "an existing network was created with other settings: " + "; ".join(clashes)
                + ". Run `tanpo network down --wipe` first to create a different one."
            )
        return saved
    try:
        return Topology(
            banks=banks or 2,
            orderers=orderers or 1,
            port_base=port_base or DEFAULT_PORT_BASE,
            state_dir=state,
            peers_per_bank=peers_per_bank or 1,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _saved(state_dir: Path | None) -> Topology:
    topo = Topology.load(state_dir or default_state_dir())
    if topo is None:
        click.echo("no network state found: run `tanpo network up`", err=True)
        sys.exit(3)
    return topo


state_option = click.option(
    "--state-dir", type=click.Path(path_type=Path), default=None,
    help="Folder holding every node's data, logs and PIDs (default .state/network).",
)


@click.group()
def network() -> None:
    """Run a Fabric network as native processes on 127.0.0.1."""


@network.command()
@state_option
@click.option("--banks", type=int, default=None, help="Number of bank organisations (default 2).")
@click.option("--orderers", type=click.Choice(["1", "3", "5"]), default=None,
              help="Raft orderer nodes (default 1).")
@click.option("--port-base", type=int, default=None,
              help=f"First port of the network's range (default {DEFAULT_PORT_BASE}).")
@click.option("--peers-per-bank", type=click.IntRange(1, MAX_PEERS_PER_BANK), default=None,
              help="Peers per bank organisation (default 1; the operator has one).")
def up(state_dir: Path | None, banks: int | None, orderers: str | None,
       port_base: int | None, peers_per_bank: int | None) -> None:
    """Create or start the network (harmless when it is already up)."""
    topo = _topology(state_dir, banks, int(orderers) if orderers else None, port_base,
                     peers_per_bank)
    try:
        Launcher(topo).up()
    except (NetworkError, NodeStartError, FabricBinariesError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@network.command()
@state_option
@click.option("--wipe", is_flag=True, help="Also delete the state folder (ledgers, crypto).")
def down(state_dir: Path | None, wipe: bool) -> None:
    """Stop exactly the processes `up` started."""
    topo = Topology.load(state_dir or default_state_dir())
    if topo is None:
        click.echo("no network state found; nothing to stop")
        return
    stopped = Launcher(topo).down(wipe=wipe)
    click.echo(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}"
               + ("; state wiped" if wipe else ""))


@network.command()
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(state_dir: Path | None, as_json: bool) -> None:
    """Each node: PID, health, block height and the committed chaincode version."""
    topo = Topology.load(state_dir or default_state_dir())
    if topo is None:
        click.echo("no network state found: run `tanpo network up`", err=True)
        sys.exit(3)
    info = Launcher(topo).status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    table = Table(title=f"channel {info['channel']}")
    for col in ("node", "endpoint", "pid", "healthy", "height", "chaincode"):
        table.add_column(col)
    for n in info["nodes"]:
        table.add_row(
            n["node"], n["endpoint"], str(n["pid"] or "-"),
            "yes" if n["healthy"] else "NO", str(n["height"] if n["height"] is not None else "-"),
            str(n.get("chaincode") or "-"),
        )
    Console().print(table)
    if not all(n["healthy"] for n in info["nodes"]):
        sys.exit(4)


@network.command()
@state_option
@click.argument("node", required=False)
@click.option("-n", "--lines", default=40, help="Lines from the end of each log.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing as the log grows.")
def logs(state_dir: Path | None, node: str | None, lines: int, follow: bool) -> None:
    """Show the tail of one node's log (or every node's)."""
    topo = Topology.load(state_dir or default_state_dir())
    if topo is None:
        click.echo("no network state found", err=True)
        sys.exit(3)
    files = sorted(topo.logs_dir.glob("*.log")) if topo.logs_dir.is_dir() else []
    if node:
        files = [f for f in files if f.stem == node]
        if not files:
            known = ", ".join(f.stem for f in sorted(topo.logs_dir.glob("*.log")))
            raise click.UsageError(f"no log for {node!r}; known: {known}")
    for f in files:
        click.echo(f"==> {f.stem} <==")
        click.echo(log_tail(f, lines))
    if follow and len(files) == 1:
        with files[0].open() as fh:
            fh.seek(0, 2)
            while True:
                line = fh.readline()
                if line:
                    click.echo(line, nl=False)
                else:
                    time.sleep(0.5)


@network.command("stop-node")
@state_option
@click.argument("node")
def stop_node(state_dir: Path | None, node: str) -> None:
    """Stop one peer or orderer (e.g. peer1-bank-a) by its PID; the rest keep running."""
    try:
        stopped = Launcher(_saved(state_dir)).stop_node(node)
    except NetworkError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"stopped {node}" if stopped else f"{node} was not running")


@network.command("start-node")
@state_option
@click.argument("node")
def start_node(state_dir: Path | None, node: str) -> None:
    """Start one stopped peer or orderer again and wait until it is healthy."""
    launcher = Launcher(_saved(state_dir))
    try:
        pid = launcher.start_node(node)
    except NetworkError as exc:
        raise click.UsageError(str(exc)) from None
    except (NodeStartError, FabricBinariesError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"{node} running (pid {pid})")
