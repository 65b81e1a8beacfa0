"""``tanpo cdm check``: what tanpo makes of CDM documents, offline.

::

    tanpo cdm check FILE… [--parties MAP] [--tokens FILE] [--json] [--fields]

For each trade state and event: the tanpo terms or ledger action it maps to, with the notes of the
reading; for each document: how many fields were mapped and ignored (``--fields`` lists each, with
the reason it was ignored), and what was refused or left unaccounted, with its JSON path. Exit 0
when every document maps and every field is accounted for, 3 otherwise (2 for a bad option or
file). ``agreement propose --cdm`` reads a trade with the same mapping.
"""

from __future__ import annotations

from pathlib import Path

import click

from tanpo.client import cdm
from tanpo.client.cdm.check import Report, check
from tanpo.client.cdm.parties import PartyMap
from tanpo.client.cli_common import EXIT_REFUSED, EXIT_USAGE, console, new_table, qty
from tanpo.client.datafile import read_data_file
from tanpo.client.models import Terms, Token

__all__ = ["cdm_group", "load_tokens", "party_map"]


def load_tokens(path: Path) -> dict[str, Token]:
    """Token definitions (a list of token specs, or ``{"tokens": [...]}``), as on the ledger."""
    try:
        doc = read_data_file(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    items = doc.get("tokens") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not all(isinstance(t, dict) and "id" in t for t in items):
        raise click.BadParameter(f"{path}: expected a list of token definitions (id, kind, "
                                 "currency, isin, identifiers …)")
    try:
        return {t["id"]: Token.from_json(t) for t in items}
    except (KeyError, TypeError) as exc:
        raise click.BadParameter(f"{path}: a token definition lacks {exc}") from None


def party_map(path: Path | None) -> PartyMap:
    """The party map of ``--parties`` (none: only tanpo's own party ids are known)."""
    if path is None:
        return PartyMap.empty()
    try:
        return PartyMap.load(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--parties") from None


@click.group("cdm")
def cdm_group() -> None:
    """ISDA/ISLA Common Domain Model documents: check what tanpo makes of them."""


@cdm_group.command("check")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--parties", "parties_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Party map (YAML or JSON): CDM party (LEI, name or document "
                                 "key) → tanpo party.")
@click.option("--tokens", "tokens_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Token definitions (as `tanpo token list --json` prints) to "
                                 "resolve ISIN, SEDOL, CUSIP, FIGI, tickers and currencies.")
@click.option("--fields", is_flag=True, help="List every field: mapped, or ignored and why.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report per file.")
def check_command(files: tuple[Path, ...], parties_file: Path | None, tokens_file: Path | None,
                  fields: bool, as_json: bool) -> None:
    """Read CDM JSON files offline and say, for each trade state and event, which tanpo terms or
    ledger action it maps to; every field is mapped, ignored with a reason, or reported."""
    try:
        parties = party_map(parties_file)
        tokens = load_tokens(tokens_file) if tokens_file is not None else None
    except click.BadParameter as exc:
        click.echo(f"invalid: {exc.format_message()}", err=True)
        raise SystemExit(EXIT_USAGE) from None
    reports = []
    for path in files:
        try:
            doc = cdm.loads(path.read_text(encoding="utf-8"))
        except (OSError, cdm.CdmError) as exc:
            click.echo(f"invalid: {path}: {exc}", err=True)
            raise SystemExit(EXIT_USAGE) from None
        reports.append(check(doc, str(path), tokens, parties))
    if as_json:
        click.echo(cdm.dumps([r.to_json() for r in reports]).rstrip())
    else:
        for report in reports:
            _print(report, fields)
    if not all(r.ok for r in reports):
        raise SystemExit(EXIT_REFUSED)


def _terms_text(t: Terms) -> str:
    legs = ", ".join(f"{qty(c.quantity)} {c.token}" for c in t.collateral) or (
        f"from schedule {t.schedule_id}" if t.schedule_id else "none")
    parts = [f"{t.lender} lends {qty(t.loan_quantity)} {t.loan_token} to {t.borrower}",
             f"collateral {legs}", f"haircut {t.haircut}"]
    if t.fee is not None:
        parts.append(f"fee {t.fee.bps} bps" + (f" (min {t.fee.minimum})" if t.fee.minimum else ""))
    if t.rebate is not None:
        parts.append("rebate " + (f"{t.rebate.fixed} %" if t.rebate.fixed is not None else
                                  f"{t.rebate.benchmark} + {t.rebate.spread_bps} bps"))
    dates = f"{t.trade_date} / {t.start_date} → {t.end_date or 'open'}"
    return "; ".join(parts) + f"; {dates}"


def _print(report: Report, fields: bool) -> None:
    status = "[green]maps[/]" if report.ok else "[red]does not map[/]"
    console().print(f"[bold]{report.source}[/]: {status} — {len(report.mapped)} fields mapped, "
                  f"{len(report.ignored)} ignored, {len(report.unaccounted)} unaccounted")
    if report.refusal is not None:
        console().print(f"  [red]refused[/] {report.refusal.path}: {report.refusal.problem}")
    table = new_table("")
    for column in ("CDM", "maps to", "detail"):
        table.add_column(column)
    for f in report.findings:
        detail = []
        if f.terms is not None:
            detail.append(_terms_text(f.terms))
        detail += [f"{k}: {v}" for k, v in f.details.items() if k != "transfers"]
        detail += [f"  {t}" for t in f.details.get("transfers", [])]
        detail += [f"note: {n}" for n in f.notes]
        if f.refusal is not None:
            detail.append(f"[red]refused[/] {f.refusal.path}: {f.refusal.problem}")
        table.add_row(f"{f.kind}\n[dim]{f.path}[/]", f.action, "\n".join(detail))
    if report.findings:
        console().print(table)
    for path in report.unaccounted:
        console().print(f"  [red]unaccounted[/] {path}")
    if fields:
        for path in report.mapped:
            console().print(f"  mapped  {path}")
        for path, why in report.ignored.items():
            console().print(f"  ignored {path}: {why}")
