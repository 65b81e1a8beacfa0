"""The participant command line: tokens, balances, transfers, agreements, events.

::

    tanpo [--as ORG[/USER]] token define ID --kind ST|CT --currency CCY
                                         [--identifier TYPE=VALUE]... [...] | --file SPEC.json
    tanpo [--as ORG[/USER]] token list | show ID | supply [TOKEN...] | requests [...]
    tanpo [--as ORG[/USER]] token issue-request TOKEN QTY | redeem-request TOKEN QTY
    tanpo [--as ORG[/USER]] token issue REQ | redeem REQ | reject REQ --reason R
    tanpo [--as ORG[/USER]] balance [PARTY] [--token T]
    tanpo [--as ORG[/USER]] transfer TOKEN QTY --to PARTY
    tanpo [--as ORG[/USER]] agreement propose|approve|reject|withdraw|close|terminate|
                                      accept-termination|cancel-termination|show|list|history|
                                      collateral|export ...
    tanpo [--as ORG[/USER]] billing issue|show|pay|query|export MONTH --with PARTY ...
    tanpo [--as ORG[/USER]] events watch [--from-block N] [--checkpoint FILE] [--count N]

Who acts: the root ``--as``; without it the token administrator's commands (``token define``,
``issue``, ``redeem``, ``reject``) act as the operator's User1, everything else as bank-a's User1.
Every command prints a table or a sentence by default and, with ``--json``, the ledger's records
as the chaincode returns them (quantities and decimals as strings). After a submit the command
waits until every organisation's peer has the transaction, so the next command may act through
any organisation. Exit codes: 0 done, 2 bad usage or malformed input (nothing sent), 3 refused by
the chaincode (its message is printed), 4 failed (no network, timeout, commit failed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from tanpo.client.cli_agreement import agreement
from tanpo.client.cli_billing import billing
from tanpo.client.cli_cdm import cdm_group
from tanpo.client.cli_common import (
    EXIT_REFUSED,
    EXIT_UNKNOWN,
    PARTY_DEFAULT,
    TOKEN_ADMIN,
    Json,
    Row,
    TanpoCommand,
    TanpoGroup,
    check_identifier,
    check_isin,
    check_party,
    check_request_id,
    checked,
    console,
    details,
    echo_json,
    fail,
    new_table,
    qty,
    session,
    settle,
    text_option,
)
from tanpo.client.cli_net import net
from tanpo.client.cli_terms import (
    InputError,
    check_token_identifiers,
    parse_currency,
    parse_quantity,
    parse_token_identifiers,
    read_json,
)
from tanpo.client.events import (
    BILLING_EVENTS,
    EVENT_TYPES,
    LIFECYCLE_EVENTS,
    ChaincodeEvent,
    FileCheckpointer,
)
from tanpo.client.models import TOKEN_IDENTIFIER_TYPES, Request, Token

__all__ = ["balance", "commands", "events", "token", "transfer"]

JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="Print the ledger's records as JSON, for scripts.")


def _quantity(what: str, allow_zero: bool = False) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            return parse_quantity(value, what, allow_zero)
        except InputError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


# ---- token ----------------------------------------------------------------------------------


@click.group("token", cls=TanpoGroup)
def token() -> None:
    """Tokens: define them (token administrator), request and decide issuance and redemption,
    read definitions, supply and requests."""


def _token_rows(t: Token, supply: int | None = None) -> list[Row]:
    rows = [Row("kind", "security (ST)" if t.kind == "ST" else "cash (CT)"),
            Row("currency", t.currency), Row("quote convention", t.quote_convention),
            Row("asset class", t.asset_class or "-")]
    for key, value in (("name", t.name), ("ISIN", t.isin), ("ticker", t.ticker),
                       *sorted(t.identifiers.items()),
                       ("credit rating", t.credit_rating), ("issuer", t.issuer),
                       ("minimal unit", t.minimal_unit or t.raw.get("minimalUnit", ""))):
        if value:
            rows.append(Row(key, value))
    if supply is not None:
        rows.append(Row("total supply", qty(supply)))
    defined = t.raw.get("definedAt")
    if defined:
        rows.append(Row("defined", f"{defined} by {t.raw.get('definedBy', '?')}"))
    return rows


_token_id = checked(lambda v: check_identifier("token id", v))


@token.command("define")
@click.argument("token_id", metavar="ID", required=False,
                callback=checked(lambda v: check_identifier("token id", v)))
@click.option("--kind", type=click.Choice(["ST", "CT"]), help="ST security or CT cash.")
@click.option("--currency", help="ISO 4217 currency, e.g. JPY.")
@click.option("--quote", "quote", type=click.Choice(["per-unit", "percent-of-par"]),
              default=None, help="Quote convention (default per-unit).")
@click.option("--isin", default="", callback=checked(check_isin),
              help="ISIN, check digit included (a security needs an ISIN or a ticker).")
@click.option("--ticker", default="", callback=text_option("ticker", 32),
              help="Ticker, e.g. 8306.")
@click.option("--asset-class", default="", callback=text_option("asset class", 64),
              help="e.g. equity, government-bond (cash: cash).")
@click.option("--rating", "rating", default="", callback=text_option("rating", 16),
              help="Credit rating, e.g. A+.")
@click.option("--name", default="", callback=text_option("name", 256), help="Display name.")
@click.option("--issuer", default="", callback=text_option("issuer", 256),
              help="Issuer identity.")
@click.option("--identifier", "identifiers", multiple=True, metavar="TYPE=VALUE",
              help="Another market identifier, repeatable: TYPE is one of "
                   f"{', '.join(TOKEN_IDENTIFIER_TYPES)} (e.g. SEDOL=6335171, "
                   "FIGI=BBG000BQWNP4); the ISIN goes in --isin.")
@click.option("--file", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The token's JSON spec (the chaincode's tokenJSON) instead.")
@JSON_OPTION
def define(token_id: str | None, kind: str | None, currency: str | None, quote: str | None,
           isin: str, ticker: str, asset_class: str, rating: str, name: str, issuer: str,
           identifiers: tuple[str, ...], spec_file: Path | None, as_json: bool) -> None:
    """Define a token (the token administrator; default identity operator/User1).

    Defining the same token identically again changes nothing. Its market identifiers (ISIN,
    ticker, --identifier SEDOL=…, CUSIP=…, FIGI=…) let CDM records that name the security by
    any of them resolve to the token.
    """
    if spec_file is not None:
        if token_id or kind or currency or identifiers:
            raise click.UsageError("give either --file or ID --kind --currency, not both")
        try:
            spec = read_json(spec_file)
            if not isinstance(spec, dict) or not spec.get("id"):
                raise InputError(f"{spec_file}: expected a token spec object with an id")
            ids = spec.get("identifiers")
            if ids is not None:
                if not isinstance(ids, dict):
                    raise InputError(f"{spec_file}: identifiers must be an object of TYPE: VALUE")
                check_token_identifiers(ids, str(spec["id"]))
            new = Token.from_json({"kind": "", "currency": "", **spec})
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--file") from None
    else:
        if not token_id or not kind or not currency:
            raise click.UsageError("give ID, --kind and --currency (or --file SPEC.json)")
        try:
            parse_currency(currency, "--currency")
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--currency") from None
        if kind == "ST" and not (isin or ticker):
            raise click.UsageError("a security token needs --isin or --ticker")
        try:
            parsed = parse_token_identifiers(identifiers, token_id)
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--identifier") from None
        new = Token(token_id, kind, currency, quote or "per-unit",
                    asset_class or ("cash" if kind == "CT" else ""), rating, isin, ticker, name,
                    issuer=issuer, identifiers=parsed)
    with session(TOKEN_ADMIN, as_json) as ledger:
        stored = ledger.define_token(new)
        settle(ledger)
    if as_json:
        echo_json(stored.raw)
        return
    click.echo(f"defined {stored.id}: {stored.kind}, {stored.currency}, "
               f"{stored.quote_convention}, {stored.asset_class or '-'}")


@token.command("list")
@JSON_OPTION
def list_tokens(as_json: bool) -> None:
    """List every token definition."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        tokens = sorted(ledger.tokens(), key=lambda t: t.id)
    if as_json:
        echo_json([t.raw for t in tokens])
        return
    if not tokens:
        click.echo("no tokens defined yet (the token administrator runs `tanpo token define`)")
        return
    table = new_table("tokens")
    for name in ("id", "kind", "currency", "quote", "asset class", "rating", "ISIN", "ticker",
                 "name"):
        table.add_column(name, no_wrap=name != "name")
    for t in tokens:
        table.add_row(t.id, t.kind, t.currency, t.quote_convention, t.asset_class or "-",
                      t.credit_rating or "-", t.isin or "-", t.ticker or "-", t.name or "-")
    console().print(table)


@token.command("show")
@click.argument("token_id", metavar="ID")
@JSON_OPTION
def show_token(token_id: str, as_json: bool) -> None:
    """Show a token's definition and total supply."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        t = ledger.token(token_id)
        supply = ledger.total_supply(token_id)
    if as_json:
        echo_json({"token": t.raw, "supply": str(supply)})
        return
    details(f"token {t.id}", _token_rows(t, supply))


@token.command("supply")
@click.argument("token_ids", metavar="[TOKEN]...", nargs=-1)
@JSON_OPTION
def supply(token_ids: tuple[str, ...], as_json: bool) -> None:
    """Total supply of tokens (default: every token). Supply changes only by issuance and
    redemption; it always equals the sum of free balances and collateral held."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        ids = list(token_ids) or sorted(t.id for t in ledger.tokens())
        supplies = [(t, ledger.total_supply(t)) for t in ids]
    if as_json:
        echo_json([{"token": t, "supply": str(s)} for t, s in supplies])
        return
    table = new_table("total supply")
    table.add_column("token", no_wrap=True)
    table.add_column("supply", justify="right", no_wrap=True)
    for t, s in supplies:
        table.add_row(t, qty(s))
    console().print(table)


def _request_text(r: Request) -> str:
    return f"{r.id} ({r.kind} of {qty(r.quantity)} {r.token} for {r.party}, {r.status})"


@token.command("issue-request")
@click.argument("token_id", metavar="TOKEN", callback=_token_id)
@click.argument("quantity", metavar="QTY", callback=_quantity("quantity"))
@click.option("--reference", required=True, callback=text_option("reference", 256),
              help="Your reference for the off-chain deposit backing it (required).")
@JSON_OPTION
def issue_request(token_id: str, quantity: int, reference: str, as_json: bool) -> None:
    """Ask the token administrator to issue QTY units of TOKEN to you (a party), after the
    underlying asset is deposited off-chain."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        req = ledger.request_issuance(token_id, quantity, reference)
        settle(ledger)
    if as_json:
        echo_json(req.raw)
        return
    click.echo(f"requested {_request_text(req)}")
    click.echo(f"the token administrator approves it with: tanpo token issue {req.id}")


@token.command("redeem-request")
@click.argument("token_id", metavar="TOKEN", callback=_token_id)
@click.argument("quantity", metavar="QTY", callback=_quantity("quantity"))
@click.option("--reference", required=True, callback=text_option("reference", 256),
              help="Your reference for the off-chain withdrawal (required).")
@JSON_OPTION
def redeem_request(token_id: str, quantity: int, reference: str, as_json: bool) -> None:
    """Ask the token administrator to redeem (burn) QTY units of TOKEN from your free balance."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        req = ledger.request_redemption(token_id, quantity, reference)
        settle(ledger)
    if as_json:
        echo_json(req.raw)
        return
    click.echo(f"requested {_request_text(req)}")
    click.echo(f"the token administrator approves it with: tanpo token redeem {req.id}")


@token.command("issue")
@click.argument("request_id", metavar="REQUEST", callback=checked(check_request_id))
@JSON_OPTION
def issue(request_id: str, as_json: bool) -> None:
    """Approve an issuance request: mint the tokens to the requesting party (token
    administrator; default identity operator/User1)."""
    with session(TOKEN_ADMIN, as_json) as ledger:
        req = ledger.approve_issuance(request_id)
        settle(ledger)
    if as_json:
        echo_json(req.raw)
        return
    click.echo(f"issued {qty(req.quantity)} {req.token} to {req.party} ({req.id})")


@token.command("redeem")
@click.argument("request_id", metavar="REQUEST", callback=checked(check_request_id))
@JSON_OPTION
def redeem(request_id: str, as_json: bool) -> None:
    """Approve a redemption request: burn the tokens from the party's free balance (token
    administrator; default identity operator/User1)."""
    with session(TOKEN_ADMIN, as_json) as ledger:
        req = ledger.approve_redemption(request_id)
        settle(ledger)
    if as_json:
        echo_json(req.raw)
        return
    click.echo(f"redeemed {qty(req.quantity)} {req.token} from {req.party} ({req.id})")


@token.command("reject")
@click.argument("request_id", metavar="REQUEST", callback=checked(check_request_id))
@click.option("--reason", required=True, callback=text_option("reason"),
              help="Why (kept with the request).")
@JSON_OPTION
def reject_request(request_id: str, reason: str, as_json: bool) -> None:
    """Reject an issuance (ISS-…) or redemption (RED-…) request (token administrator)."""
    with session(TOKEN_ADMIN, as_json) as ledger:
        kind = ("issuance" if request_id.startswith("ISS-") else
                "redemption" if request_id.startswith("RED-") else
                ledger.request(request_id).kind)
        if kind == "issuance":
            req = ledger.reject_issuance(request_id, reason)
        else:
            req = ledger.reject_redemption(request_id, reason)
        settle(ledger)
    if as_json:
        echo_json(req.raw)
        return
    click.echo(f"rejected {_request_text(req)}: {reason}")


@token.command("requests")
@click.option("--party", default="", help="Only this party's (the token administrator and the "
              "oracle see all; a party sees its own).")
@click.option("--status", type=click.Choice(["PENDING", "APPROVED", "REJECTED"]), default=None)
@click.option("--kind", type=click.Choice(["issuance", "redemption"]), default=None)
@JSON_OPTION
def requests(party: str, status: str | None, kind: str | None, as_json: bool) -> None:
    """List issuance and redemption requests."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        found = [r for r in ledger.requests(party, status or "") if kind in (None, r.kind)]
    if as_json:
        echo_json([r.raw for r in found])
        return
    if not found:
        click.echo("no requests")
        return
    table = new_table("requests")
    for name in ("id", "kind", "party", "token"):
        table.add_column(name, no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    for name in ("status", "requested", "reference / reason"):
        table.add_column(name)
    for r in found:
        note = r.reference + (f" — {r.reason}" if r.reason else "")
        table.add_row(r.id, r.kind, r.party, r.token, qty(r.quantity), r.status,
                      str(r.raw.get("requestedAt", "")), note or "-")
    console().print(table)


# ---- balance, transfer -----------------------------------------------------------------------


@click.command("balance", cls=TanpoCommand)
@click.argument("party", required=False, default="")
@click.option("--token", "token_ids", multiple=True, help="Only this token (repeatable).")
@JSON_OPTION
def balance(party: str, token_ids: tuple[str, ...], as_json: bool) -> None:
    """Free token balances of PARTY (default: your own). Collateral held under agreements is
    not free: see `tanpo agreement collateral ID`. A party may read only its own."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        rows = ledger.balances(party)
        who = party or ledger.party
    rows = sorted((b for b in rows if not token_ids or b.token in token_ids),
                  key=lambda b: b.token)
    if as_json:
        echo_json({"party": who, "balances": [
            {"party": b.party, "token": b.token, "quantity": str(b.quantity)} for b in rows]})
        return
    if not rows:
        click.echo(f"{who} holds no free tokens")
        return
    table = new_table(f"free balances of {who}")
    table.add_column("token", no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    for b in rows:
        table.add_row(b.token, qty(b.quantity))
    console().print(table)


@click.command("transfer", cls=TanpoCommand)
@click.argument("token_id", metavar="TOKEN", callback=_token_id)
@click.argument("quantity", metavar="QTY", callback=_quantity("quantity"))
@click.option("--to", "to", required=True, metavar="PARTY", callback=checked(check_party),
              help="The receiving party (e.g. bank-b).")
@JSON_OPTION
def transfer(token_id: str, quantity: int, to: str, as_json: bool) -> None:
    """Transfer QTY units of TOKEN from your free balance to another party."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        result = ledger.transfer(token_id, to, quantity)
        sender = str(result.get("from") or ledger.party)
        settle(ledger)
    if as_json:
        echo_json(result)
        return
    click.echo(f"transferred {qty(quantity)} {token_id} {sender} → {result.get('to', to)}")


# ---- events ---------------------------------------------------------------------------------


@click.group("events", cls=TanpoGroup)
def events() -> None:
    """Chaincode events: every state change a participant may want to watch."""


def _moves(transfers: Iterable[Json]) -> str:
    return "; ".join(f"{qty(int(t.get('quantity') or 0))} {t.get('token', '?')} "
                     f"{t.get('from', '?')}→{t.get('to', '?')}" for t in transfers)


def event_summary(name: str, p: Json) -> str:
    """One line saying what an event records."""
    if name == "Transfer":
        return _moves([p.get("transfer") or {}])
    if name.startswith(("Issuance", "Redemption")):
        r = p.get("request") or {}
        text = (f"{r.get('id', '?')} {qty(int(r.get('quantity') or 0))} {r.get('token', '?')} "
                f"for {r.get('party', '?')}")
        mint = p.get("mint")
        if mint:
            text += f" (supply now {qty(int(mint.get('supply') or 0))})"
        return text
    if name.startswith(("Agreement", "Termination")) or name in LIFECYCLE_EVENTS:
        text = f"{p.get('agreement', '?')} {p.get('status', '')} by {p.get('party', '?')}"
        if p.get("recall"):
            text += f" ({p['recall']})"
        extra = p.get("reason") or p.get("note")
        if extra:
            text += f" ({extra})"
        moved = _moves(p.get("transfers") or [])
        return text + (f": {moved}" if moved else "")
    if name.startswith("Token"):
        t = p.get("token") or {}
        return f"{t.get('id', '?')} ({t.get('kind', '?')}, {t.get('currency', '?')})"
    if name.startswith("Prices"):
        text = (f"{p.get('date', '?')} version {p.get('version', '?')}: "
                f"{len(p.get('prices') or {})} price(s), {len(p.get('fx') or {})} FX")
        rates = p.get("rates") or {}
        return text + (f", {len(rates)} fixing(s)" if rates else "")
    if name in BILLING_EVENTS:
        # the figures are the pair's: `tanpo billing show` reads them
        return f"{p.get('invoice', '?')} in {p.get('pair', '?')}: {p.get('status', '?')}"
    if name == "MarginCall":
        # the call itself is private to the pair: `tanpo margin show` reads it
        return f"{p.get('agreement', '?')} on {p.get('date', '?')}"
    if name.startswith("Identity"):
        i = p.get("identity") or {}
        return (f"{i.get('partyId', '?')} {','.join(i.get('roles') or [])} "
                f"({i.get('mspId', '?')}, {i.get('status', '?')})")
    if name == "MarginBatch":
        text = (f"{p.get('date', '?')}: {len(p.get('calls') or [])} call(s), "
                f"{len(p.get('replayed') or [])} replayed, {len(p.get('skipped') or [])} "
                f"skipped, {len(p.get('failed') or [])} failed")
        # the daily cycle's life-cycle outcomes, named by agreement id
        for key, label in (("closed", "closed at maturity"), ("matured", "matured, not closed"),
                           ("recallsFailed", "recall(s) failed"),
                           ("settlementFails", "settlement fail(s)"),
                           ("breaches", "cap(s) breached")):
            ids = p.get(key) or []
            if ids:
                text += f"; {label}: {', '.join(str(i) for i in ids)}"
        return text
    if name in ("CallDisputed", "DisputeResolved"):
        return f"{p.get('agreement', '?')} on {p.get('date', '?')}: {p.get('status', '?')}"
    if name == "CallsAdjusted":
        ids = p.get("adjusted") or []
        return (f"{p.get('date', '?')} at price version {p.get('version', '?')}: "
                f"{len(ids)} call(s) adjusted ({', '.join(str(i) for i in ids[:5])}"
                f"{', …' if len(ids) > 5 else ''})")
    if name == "ScheduleDefined":
        return f"schedule {p.get('schedule', '?')} in {p.get('pair', '?')}"
    if name == "PlatformSettingsChanged":
        new = p.get("settings") or {}
        return (f"business time zone {p.get('previousTimeZone') or '?'} → "
                f"{new.get('timeZone', '?')} (UTC{new.get('utcOffset', '')})")
    if name == "SweepFinished":
        where = f" in {p['pair']}" if p.get("pair") else ""
        return f"{p.get('date', '?')} swept{where}: {p.get('agreements', '?')} active agreement(s)"
    keys = [k for k in p if k not in ("type", "txId")]
    return ", ".join(f"{k}={json.dumps(p[k])[:40]}" for k in keys[:4])


@events.command("watch")
@click.option("--from-block", type=click.IntRange(min=0), default=None, metavar="N",
              help="Start at block N (0 = the whole history; default: the next commit).")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False,
              path_type=Path), default=None,
              help="Resume after the last event recorded in FILE, and record progress there.")
@click.option("--type", "types", multiple=True, metavar="NAME",
              help="Only events of this type, e.g. AgreementApproved (repeatable).")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Stop after printing this many events.")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per line: block, txId, name, payload.")
def watch(from_block: int | None, checkpoint_file: Path | None, types: tuple[str, ...],
          count: int | None, as_json: bool) -> None:
    """Print chaincode events as they commit (Ctrl-C stops; exit 0).

    With --checkpoint, a restart resumes right after the last event seen, even inside a block.
    """
    for name in types:
        if name not in EVENT_TYPES:
            click.echo(f"warning: no chaincode event is named {name!r} (names: "
                       f"{', '.join(EVENT_TYPES)})", err=True)
    checkpointer = FileCheckpointer(checkpoint_file) if checkpoint_file else None
    checkpoint = checkpointer.load() if checkpointer else None
    printed = 0
    with session(PARTY_DEFAULT, as_json) as ledger:
        stream = ledger.events(None if checkpoint else from_block, checkpoint)
        try:  # Ctrl-C is how a watch ends (exit 0), inside the session's own handling
            for ev in stream:
                if not types or ev.name in types:
                    _print_event(ev, as_json)
                    printed += 1
                if checkpointer:
                    checkpointer.save(ev)
                if count is not None and printed >= count:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # cancels the gRPC stream now, not at garbage collection


def _print_event(ev: ChaincodeEvent, as_json: bool) -> None:
    try:
        payload = ev.json()
    except ValueError:
        payload = None
    if as_json:
        click.echo(json.dumps({"block": ev.block_number, "txId": ev.transaction_id,
                               "name": ev.name, "payload": payload}, ensure_ascii=False))
        return
    summary = event_summary(ev.name, payload) if isinstance(payload, dict) else ""
    click.echo(f"block {ev.block_number} tx {ev.transaction_id[:12]} {ev.name}: {summary}",
               nl=True)


# ---- platform settings ------------------------------------------------------------------------

#: The identity that may change platform settings (the chaincode checks it too).
PLATFORM_ADMIN = "operator/Admin"


@click.group("platform", cls=TanpoGroup)
def platform() -> None:
    """Platform settings: the business time zone whose calendar date is "today" on the ledger
    (price dates, closes, maturity), Asia/Tokyo unless the operator's admin sets another."""


def _print_settings(settings: Json, as_json: bool) -> None:
    if as_json:
        echo_json(settings)
        return
    click.echo(f"business time zone {settings.get('timeZone', '?')} "
               f"(UTC{settings.get('utcOffset', '')}); business date "
               f"{settings.get('businessDate', '?')}")
    if settings.get("updatedBy"):
        click.echo(f"set by {settings['updatedBy']} at {settings.get('updatedAt', '?')}")


@platform.command("show")
@JSON_OPTION
def platform_show(as_json: bool) -> None:
    """The platform's settings and today's business date, as the ledger sees them."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        settings = ledger.platform_settings()
    _print_settings(settings, as_json)


@platform.command("set-time-zone")
@click.argument("zone", callback=text_option("zone", 32))
@JSON_OPTION
def platform_set_time_zone(zone: str, as_json: bool) -> None:
    """Set the business time zone to ZONE (the operator's admin; default identity
    operator/Admin): a zone without daylight saving time, e.g. Asia/Tokyo, or UTC+09:00."""
    with session(PLATFORM_ADMIN, as_json) as ledger:
        settings = ledger.set_business_time_zone(zone)
        settle(ledger)
        settings = {**settings, "businessDate": ledger.platform_settings().get("businessDate",
                                                                                 "")}
    _print_settings(settings, as_json)


# ---- transactions -----------------------------------------------------------------------------


@click.group("tx", cls=TanpoGroup)
def tx() -> None:
    """Transactions by id: what became of one that was submitted (exit 5 gave its id)."""


@tx.command("status")
@click.argument("transaction_id", metavar="TXID")
@click.option("--wait", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds to wait for it to commit.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def tx_status(transaction_id: str, wait: float, as_json: bool) -> None:
    """Whether transaction TXID committed (valid, or invalid with Fabric's code), as the acting
    identity's peer sees it. Exit 0 valid; 3 committed but invalid (it changed nothing); 5 not
    committed within --wait (still in flight, or never ordered)."""
    from tanpo.client.errors import CommitError, CommitStatusError

    if not re.fullmatch(r"[0-9a-f]{64}", transaction_id):
        raise click.BadParameter("a transaction id is 64 lowercase hex digits",
                                 param_hint="TXID")
    with session(PARTY_DEFAULT, as_json) as ledger:
        try:
            status = ledger.commit_status(transaction_id, wait)
        except CommitStatusError as exc:
            fail(EXIT_UNKNOWN, f"transaction {transaction_id} has not committed within "
                               f"{wait:g} s: still in flight, or never ordered "
                               f"({exc.message or exc})", as_json)
    if not status.successful:
        err = CommitError(transaction_id, status.code, status.block_number)
        fail(EXIT_REFUSED, f"{err}: it changed nothing", as_json)
    if as_json:
        echo_json({"transactionId": transaction_id, "valid": True,
                   "block": status.block_number})
        return
    click.echo(f"transaction {transaction_id} committed, valid, in block {status.block_number}")


#: Registered by the ``tanpo`` root command.
commands: list[click.Command] = [token, balance, transfer, agreement, billing, net, events,
                                 platform, tx, cdm_group]
