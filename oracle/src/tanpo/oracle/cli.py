"""``tanpo oracle``: run the price oracle live, replay history, inspect it, confirm held values.

The commands need a ledger. ``--ledger NAME`` picks a factory from :data:`LEDGER_FACTORIES`
(``memory``: the in-memory fake, seeded with one demo agreement per instrument, so every
command runs end to end without a network), or ``--ledger package.module:function`` imports
one. A factory is ``factory(ctx) -> Ledger``; ``ctx.find_object(CliState)`` gives the
configuration. ``fabric`` (the default) drives the real network; others can be added with
:func:`register_ledger`.

Exit codes (``run --once`` and ``replay``): 0 done, everything margined; 1 error (the status
says which); 3 a refusal holds something back: a whole date, or quotes left out of posted dates
(the agreements that use them are not margined on those dates; ``tanpo oracle status`` lists
them and the ``confirm`` command for each); 6 every date was processed but some margin calls
failed alone (listed by ``tanpo oracle status``; retried on the next pass and the next date).
"""

from __future__ import annotations

import getpass
import importlib
import json
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tanpo.oracle.calendars import CalendarError
from tanpo.oracle.config import ConfigError, OracleConfig, SourceConfig, load_config
from tanpo.oracle.daemon import DateResult, Oracle, Outcome, ReplayResult
from tanpo.oracle.ledger import Ledger, LedgerError
from tanpo.oracle.logs import configure_logging, log_event
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.metrics import Health, HealthServer, OracleMetrics
from tanpo.oracle.sources import PriceSource, SourceError, build_source
from tanpo.oracle.status import StateFiles, StatusFileError
from tanpo.oracle.validation import Confirmation, MalformedCloseError, to_decimal

__all__ = ["LEDGER_FACTORIES", "CliState", "LedgerFactory", "oracle", "register_ledger"]

EXIT_BLOCKED = 3
EXIT_CALLS_FAILED = 6

LedgerFactory = Callable[[click.Context], Ledger]


def _memory_ledger(ctx: click.Context) -> Ledger:
    cfg = ctx.find_object(CliState)
    assert cfg is not None
    return MemoryLedger.demo((i.token, i.currency) for i in cfg.config.instruments)


def _fabric_ledger(ctx: click.Context) -> Ledger:
    """The real network, as the operator's oracle identity (`--as` picks another identity)."""
    from tanpo.client.cli_common import ORACLE, acting_as, connection_errors
    from tanpo.oracle.fabric import FabricLedger

    party, user = acting_as(ORACLE)
    with connection_errors():
        return FabricLedger.connect(party, user)


#: Named ledger factories: the in-memory fake and the Fabric network.
LEDGER_FACTORIES: dict[str, LedgerFactory] = {"memory": _memory_ledger, "fabric": _fabric_ledger}


def register_ledger(name: str, factory: LedgerFactory) -> None:
    """Make ``--ledger NAME`` use ``factory``."""
    LEDGER_FACTORIES[name] = factory


@dataclass
class CliState:
    config: OracleConfig
    ledger_name: str
    state: StateFiles


def _make_ledger(ctx: click.Context) -> Ledger:
    st = ctx.find_object(CliState)
    assert st is not None
    name = st.ledger_name
    factory = LEDGER_FACTORIES.get(name)
    if factory is None and ":" in name:
        module, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise click.UsageError(f"cannot load ledger factory {name!r}: {exc}") from exc
    if factory is None:
        known = ", ".join(sorted(LEDGER_FACTORIES))
        raise click.UsageError(
            f"no ledger named {name!r} is registered (known: {known}). Use --ledger memory for "
            f"the in-memory fake, or --ledger package.module:function for a factory."
        )
    return factory(ctx)


def _state(ctx: click.Context) -> CliState:
    st = ctx.find_object(CliState)
    assert st is not None
    return st


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}", param_hint=name) \
            from None


def _source(cfg: OracleConfig, path: str | None) -> PriceSource:
    chosen = SourceConfig("file", path) if path else cfg.source
    try:
        return build_source(chosen)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("oracle")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              envvar="TANPO_ORACLE_CONFIG", help="YAML configuration (default: built-in).")
@click.option("--ledger", "ledger_name", default="fabric", show_default=True,
              envvar="TANPO_ORACLE_LEDGER",
              help="Ledger to drive: a registered name (memory, fabric) or module:function.")
@click.option("--state-dir", type=click.Path(file_okay=False),
              help="Folder for status.json and confirmations.json (default: config state_dir).")
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json",
              show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.pass_context
def oracle(ctx: click.Context, config_path: str | None, ledger_name: str,
           state_dir: str | None, log_format: str, log_level: str) -> None:
    """Price oracle: post closes and FX to the ledger, then sweep margin calls."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.obj = CliState(cfg, ledger_name, StateFiles(Path(state_dir or cfg.state_dir)))
    ctx.call_on_close(configure_logging(log_format, log_level))


def _oracle(ctx: click.Context, source: PriceSource, mode: str,
            clock: Callable[[], datetime] | None = None,
            metrics: OracleMetrics | None = None, health: Health | None = None) -> Oracle:
    st = _state(ctx)
    second = None
    if st.config.second_source is not None:
        try:
            second = build_source(st.config.second_source)
        except SourceError as exc:
            raise click.ClickException(f"second source: {exc}") from exc
    kwargs: dict[str, Any] = {}
    if clock is not None:
        kwargs["clock"] = clock
    return Oracle(st.config, _make_ledger(ctx), source, second_source=second, state=st.state,
                  metrics=metrics, health=health, mode=mode, **kwargs)


@oracle.command()
@click.option("--once", is_flag=True, help="One pass (post what is due, sweep), then exit.")
@click.option("--source", "source_path", type=click.Path(exists=True),
              help="Read closes from this file or folder instead of the configured source.")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Loopback port for /healthz and /metrics (default: config http.port).")
@click.option("--no-http", is_flag=True, help="Do not serve /healthz and /metrics.")
@click.option("--at", "at", default=None, hidden=True,
              help="Pretend the clock reads this ISO time (drills and tests).")
@click.pass_context
def run(ctx: click.Context, once: bool, source_path: str | None, port: int | None,
        no_http: bool, at: str | None) -> None:
    """Live: post each valuation date once its markets have closed, then sweep."""
    st = _state(ctx)
    clock = None
    if at is not None:
        try:
            fixed = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"not an ISO time: {at!r}", param_hint="--at") from None
        fixed = fixed if fixed.tzinfo else fixed.replace(tzinfo=UTC)

        def clock() -> datetime:
            return fixed

    metrics = OracleMetrics()
    health = Health(stale_after_seconds=3 * st.config.schedule.poll_seconds + 30)
    daemon = _oracle(ctx, _source(st.config, source_path), "live", clock, metrics, health)
    if once:
        daemon.log_config()
        results = daemon.tick()
        _print_results(results)
        status = daemon.status()
        if status["state"] == "error":
            raise click.ClickException(str(status["last_error"]))
        _exit_for(ctx, status)
        return
    server = None
    if not no_http and st.config.http.enabled:
        chosen = st.config.http.port if port is None else port
        try:
            server = HealthServer(st.config.http.host, chosen, metrics, health).start()
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {st.config.http.host}:{chosen}: {exc}") from exc
        click.echo(f"health: http://{st.config.http.host}:{server.port}/healthz  "
                   f"metrics: http://{st.config.http.host}:{server.port}/metrics", err=True)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        daemon.run_forever(stop)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if server is not None:
            server.close()
        log_event(daemon.log, "stopped", last_posted=daemon.status()["ledger"]["last_posted"])


@oracle.command()
@click.option("--from", "start", required=True, help="First date, YYYY-MM-DD.")
@click.option("--to", "end", required=True, help="Last date, YYYY-MM-DD (inclusive).")
@click.option("--source", "source_path", type=click.Path(exists=True),
              help="A market-data folder (<SYMBOL>.csv, fx/<PAIR>.csv) or a long "
                   "date,symbol,close table. Default: the configured source.")
@click.option("--days", default=None,
              help="Valuation dates: markets, weekdays, daily (the paper) or a calendar code. "
                   "Default: schedule.valuation_days.")
@click.option("--pace", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds between dates (0 = as fast as the ledger takes them).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def replay(ctx: click.Context, start: str, end: str, source_path: str | None,
           days: str | None, pace: float, no_progress: bool) -> None:
    """Replay a date range: validate, post and sweep each date, for backtests and demos."""
    st = _state(ctx)
    d0, d1 = _date(start, "--from"), _date(end, "--to")
    if d1 < d0:
        raise click.BadParameter(f"--to {d1} is before --from {d0}", param_hint="--to")
    if days is not None and days not in ("markets", "weekdays", "daily") and not days.isalnum():
        raise click.BadParameter(f"unknown valuation days {days!r}", param_hint="--days")
    daemon = _oracle(ctx, _source(st.config, source_path), "replay")
    daemon.log_config()
    try:
        total = len(daemon.schedule.valuation_days(d0, d1, days))
    except CalendarError as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console(stderr=True)
    columns = (TextColumn("[bold]replay[/] {task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=no_progress, transient=False) as bar:
        task = bar.add_task(f"{d0}..{d1}", total=total)

        def on_result(d: date, r: DateResult | None) -> None:
            bar.update(task, advance=1, description=f"{d} {r.outcome if r else 'skipped'}")

        try:
            result = daemon.replay(d0, d1, days=days, pace=pace, on_result=on_result)
        except (SourceError, LedgerError, CalendarError) as exc:
            raise click.ClickException(str(exc)) from exc
    _print_replay(result)
    status = daemon.status()
    # what this run held back counts even when a later date's post superseded it
    held = [{**h.to_dict(), "action": f"tanpo oracle confirm {h.valuation_date} {h.key}"}
            for r in result.results if r.outcome is not Outcome.REFUSED for h in r.held_back]
    _exit_for(ctx, {**status, "held_back": held or status.get("held_back")})


def _exit_for(ctx: click.Context, status: dict[str, Any]) -> None:
    """Exit 3 when a refusal holds a date or quotes back, 6 when calls failed alone."""
    if status.get("blocked") or status.get("held_back"):
        _print_refusals(status)
        ctx.exit(EXIT_BLOCKED)
    if status.get("failures"):
        _print_failures(status)
        ctx.exit(EXIT_CALLS_FAILED)


@oracle.command()
@click.option("--json", "as_json", is_flag=True, help="Print the raw status document.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what the daemon last reported: progress, refusals, recent dates."""
    st = _state(ctx)
    try:
        doc = st.state.read_status()
        confirmations = st.state.confirmations()
    except StatusFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if doc is None:
        click.echo(f"no status yet: the daemon has not written {st.state.status_path}")
        return
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
        return
    console = Console()
    ledger = doc.get("ledger") or {}
    console.print(f"[bold]oracle[/] {doc.get('state', '?')} ({doc.get('mode', '?')}, "
                  f"source {doc.get('source', '?')}), updated {doc.get('updated', '?')}")
    console.print(f"ledger: last posted {ledger.get('last_posted') or '-'}, "
                  f"last swept {ledger.get('last_swept') or '-'}")
    if doc.get("next"):
        console.print(f"next: {doc['next']['date']} at {doc['next']['posting_time']}")
    if doc.get("waiting"):
        w = doc["waiting"]
        console.print(f"waiting for {', '.join(w['instruments'])} on {w['date']} "
                      f"(carried forward after {w['carry_after']})")
    if doc.get("last_error"):
        console.print(f"[red]last error[/]: {doc['last_error']}")
    if doc.get("blocked") or doc.get("held_back"):
        _print_refusals(doc, console)
    if doc.get("blocked") or doc.get("held_back") or doc.get("refusal_log"):
        dates = {r["date"] for r in [*(doc.get("held_back") or []),
                                     *(doc.get("refusal_log") or [])]}
        if doc.get("blocked"):
            dates.add(doc["blocked"]["date"])
        pending = [c for c in confirmations if c.valuation_date.isoformat() in dates]
        for c in pending:
            console.print(f"  confirmation on file: {c.key} {c.value} by {c.by}"
                          f"{' (manual)' if c.manual else ''}")
    if doc.get("failures"):
        _print_failures(doc, console)
    recent = doc.get("recent") or []
    if recent:
        table = Table(title="recent dates")
        table.add_column("date", no_wrap=True, min_width=10)
        table.add_column("outcome", no_wrap=True)
        for name in ("carried", "confirmed", "agreements", "calls", "transfers", "issuance"):
            table.add_column(name)
        for r in recent:
            sw = r.get("sweep") or {}
            table.add_row(r["date"], r["outcome"], ", ".join(r.get("carried", [])) or "-",
                          ", ".join(r.get("confirmed", {})) or "-",
                          *(_figure(sw.get(k, "-")) for k in (
                              "agreements", "calls_triggered", "transfers", "issuance_required")))
        console.print(table)


@oracle.command()
@click.argument("valuation_date", metavar="DATE")
@click.argument("instrument")
@click.option("--value", default=None, help="The value confirmed (default: the held-back one).")
@click.option("--manual", is_flag=True,
              help="Use --value instead of the source's (for missing or malformed closes).")
@click.option("--by", default=None, help="Who confirms (default: the login name).")
@click.option("--note", default="", help="Why (kept with the confirmation).")
@click.pass_context
def confirm(ctx: click.Context, valuation_date: str, instrument: str, value: str | None,
            manual: bool, by: str | None, note: str) -> None:
    """Let a held-back value through (or enter a manual one) for DATE and INSTRUMENT."""
    st = _state(ctx)
    d = _date(valuation_date, "DATE")
    is_rate = st.config.rate(instrument) is not None
    if (st.config.instrument(instrument) is None and st.config.fx_pair(instrument) is None
            and not is_rate):
        raise click.BadParameter(f"{instrument!r} is not a configured token or FX pair, nor "
                                 "a benchmark", param_hint="INSTRUMENT")
    parsed: Decimal | None = None
    if value is not None:
        try:
            parsed = to_decimal(value)
        except MalformedCloseError:
            raise click.BadParameter(f"not a decimal number: {value!r}",
                                     param_hint="--value") from None
        if parsed <= 0 and not is_rate:  # a benchmark fixing may be zero or negative
            raise click.BadParameter("must be positive", param_hint="--value")
    try:
        held = [r for r in st.state.blocking_refusals(d) if r.key == instrument]
    except StatusFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if manual:
        if parsed is None:
            raise click.UsageError("--manual needs --value")
    elif parsed is None:
        usable = [r for r in held if r.confirmable and r.value is not None]
        if not usable:
            why = (f"the refusal ({held[0].rule}) cannot be confirmed as is"
                   if held else "no held-back value is on record for it")
            raise click.UsageError(
                f"{instrument} on {d}: {why}; pass --value V (add --manual to supply your own)")
        parsed = to_decimal(str(usable[0].value))
    elif held and all(r.value is None or to_decimal(r.value) != parsed for r in held):
        raise click.UsageError(
            f"{instrument} on {d}: the held-back value is {held[0].value}, not {parsed}; "
            "add --manual to post your value instead")
    who = by or _login()
    c = Confirmation(d, instrument, parsed, who, manual, note,
                     datetime.now(UTC).isoformat(timespec="seconds"))
    try:
        st.state.add_confirmation(c)
    except (OSError, StatusFileError) as exc:
        raise click.ClickException(f"cannot record the confirmation: {exc}") from exc
    kind = "manual value" if manual else "confirmed"
    click.echo(f"{kind}: {instrument} {parsed} for {d} by {who}; the daemon uses it on its "
               f"next pass (or rerun the replay)")


@oracle.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print the effective configuration."""
    click.echo(json.dumps(_state(ctx).config.to_dict(), indent=2))


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


def _figure(value: object) -> str:
    """A count for a table; "-" where the ledger does not tell the oracle (None)."""
    return "-" if value is None else str(value)


def _print_results(results: list[DateResult]) -> None:
    if not results:
        click.echo("nothing due")
    for r in results:
        sweep = r.sweep
        tail = ""
        if sweep is not None:
            tail = f": {sweep.agreements} agreements"
            if sweep.calls_triggered is not None:
                tail += (f", {sweep.calls_triggered} calls, {sweep.transfers} transfers, "
                         f"{sweep.issuance_required} issuance-required")
            if sweep.failed:
                tail += f", {len(sweep.failed)} failed"
            if sweep.closed:
                tail += f", {len(sweep.closed)} closed at maturity"
            if sweep.matured:
                tail += f", {len(sweep.matured)} matured awaiting return"
        if r.held_back:
            tail += f"; held back: {', '.join(h.key for h in r.held_back)}"
        click.echo(f"{r.valuation_date} {r.outcome}{tail}")


def _print_replay(result: ReplayResult) -> None:
    console = Console()
    table = Table(title="replay")
    table.add_column("date", no_wrap=True, min_width=10)
    table.add_column("outcome", no_wrap=True)
    for name in ("carried", "held back", "calls", "transfers", "issuance", "failed"):
        table.add_column(name)
    totals: list[int | None] = [0, 0, 0]
    failed = 0
    for r in result.results:
        sw = r.sweep
        carried = r.assessment.batch.carried() if r.assessment and r.assessment.batch else []
        counts = ["-", "-", "-", "-"]
        if sw is not None:
            figures = (sw.calls_triggered, sw.transfers, sw.issuance_required)
            totals = [None if t is None or f is None else t + f
                      for t, f in zip(totals, figures, strict=True)]
            failed += len(sw.failed)
            counts = [*(_figure(f) for f in figures), str(len(sw.failed)) if sw.failed else "-"]
        table.add_row(r.valuation_date.isoformat(), str(r.outcome), ", ".join(carried) or "-",
                      ", ".join(h.key for h in r.held_back) or "-", *counts)
    console.print(table)
    posted = sum(r.outcome is Outcome.POSTED for r in result.results)
    completed = (f", completed {len(result.completed)} with confirmed quotes"
                 if result.completed else "")
    console.print(f"posted {posted} date(s), skipped {len(result.skipped)} already on the "
                  f"ledger, resumed {len(result.resumed)} sweep(s){completed}; calls "
                  f"{_figure(totals[0])}, transfers {_figure(totals[1])}, issuance-required "
                  f"{_figure(totals[2])}, failed calls {failed}")


def _print_refusals(doc: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    blocked = doc.get("blocked") or {}
    held = doc.get("held_back") or []
    if blocked:
        title = f"[red]held back: {blocked.get('date')} (nothing posted)[/]"
    else:
        dates = sorted({r["date"] for r in held})
        title = (f"[yellow]held back: {', '.join(dates)} (posted without these; agreements "
                 "that use them not margined)[/]")
    table = Table(title=title)
    table.add_column("date", no_wrap=True, min_width=10)
    table.add_column("instrument", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("value", no_wrap=True)
    table.add_column("reason")
    table.add_column("confirmable", no_wrap=True)
    for r in [*blocked.get("refusals", []), *held]:
        table.add_row(r["date"], r["instrument"], r["rule"], str(r.get("value") or "-"),
                      r["reason"], "yes" if r.get("confirmable") else "no")
    console.print(table)


def _print_failures(doc: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    failures = doc.get("failures") or []
    table = Table(title=f"[yellow]margin calls failed alone: {len(failures)} agreement(s), "
                        "retried on the next pass and the next date[/]")
    for name in ("agreement", "date", "since", "attempts", "reason"):
        table.add_column(name, no_wrap=name != "reason")
    for f in failures:
        table.add_row(f["agreement"], f["date"], f["since"], str(f["attempts"]), f["reason"])
    console.print(table)
