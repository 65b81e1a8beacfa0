"""``tanpo margin …`` and ``tanpo prices …``: run and inspect margin calls, post and read prices.

::

    tanpo [--as ORG[/USER]] margin run --date D [--agreement ID] [--batch-size N] [--json]
    tanpo [--as ORG[/USER]] margin show ID [--date D] [--json]
    tanpo [--as ORG[/USER]] margin dispute ID DATE --agreed VALUE [--note TEXT] [--json]
    tanpo [--as ORG[/USER]] margin resolve ID DATE --accept call|dispute [--json]
    tanpo [--as ORG[/USER]] margin adjust DATE [--with PARTY] [--batch-size N] [--json]
    tanpo [--as ORG[/USER]] prices post --date D [--price TOKEN=V ...] [--fx PAIR=V ...]
                                        [--rate NAME=V ...] [--file batch.json] [--reason R]
                                        [--source S] [--json]
    tanpo [--as ORG[/USER]] prices show --date D [--version N] [--json]

Who acts: the root ``--as``. Without it, ``prices post`` and a sweep (``margin run`` without
``--agreement``) act as the operator's User1, the price oracle, which may sweep every agreement;
the other commands act as ``bank-a``'s User1, the root default. A party sweeps only its own
agreements, and calls or reads only its own.

Values are exact: tables show a value as its exact decimal (a value with no finite decimal form is
rounded for display and marked ``≈``); ``--json`` gives quantities as integers and every value as
an exact ``"n"``/``"n/d"`` string, prices and FX rates as the decimal strings stored on the ledger.

Exit codes: as every participant command (``cli_common.EXIT_CODES``): 0 done; 2 bad usage;
3 the chaincode refused and nothing changed; 4 any other failure, nothing changed; 5 submitted,
outcome unknown; 6 partly done (a sweep whose some calls committed and others failed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from tanpo.client.cli_common import (
    EXIT_PARTIAL,
    EXIT_REFUSED,
    EXIT_USAGE,
    ORACLE,
    PARTY_DEFAULT,
    Ledger,
    check_identifier,
    check_party,
    check_text,
    checked,
    console,
    fail,
    guarded,
    ledger_as,
    qty,
)
from tanpo.client.errors import GatewayError
from tanpo.client.models import (
    SWEEP_STATUSES,
    AccrualLine,
    CallDispute,
    MarginCall,
    MarginTransfer,
    SweepOutcome,
    decimal_string,
)
from tanpo.client.moves import ASSET_CLASSES, DEFAULT_MAX_MOVE, Move, limit_class, moves_beyond
from tanpo.client.sweep import ADJUST_STATUSES, MAX_BATCH, AdjustRun, SweepRun

__all__ = [
    "call_json",
    "commands",
    "margin",
    "prices",
    "show_value",
]

Json = dict[str, Any]

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_SIGNED_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BENCHMARK = re.compile(r"[A-Z][A-Z0-9]{1,15}")
LOOKBACK_DAYS = 10  # how far back the move check looks for a last posted value (as the oracle)
_PAIR = re.compile(r"[A-Z]{3}[A-Z]{3}")
DISPLAY_PLACES = 6


# ---- output -------------------------------------------------------------------------------


def _who(identity: object) -> str:
    """A registry identity id (``MSP:base64("x509::subject::issuer")``) as ``MSP CN``."""
    import base64
    import binascii

    msp, _, cid = str(identity).partition(":")
    try:
        decoded = base64.b64decode(cid, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return str(identity)
    subject = decoded.split("::")[1] if decoded.count("::") >= 2 else ""
    cn = next((part[3:] for part in subject.split(",") if part.startswith("CN=")), "")
    return f"{msp} {cn}".strip() if cn else str(identity)


# ---- values -------------------------------------------------------------------------------


def _group(digits: str) -> str:
    sign = "-" if digits.startswith("-") else ""
    whole, dot, frac_part = digits.lstrip("-").partition(".")
    grouped = f"{int(whole):,}" if whole else "0"
    return f"{sign}{grouped}{dot}{frac_part}"


def show_value(x: Fraction | int) -> str:
    """A value for a table: its exact decimal with thousands separators, or, when it has no
    finite decimal form, rounded to six places and marked ``≈``."""
    x = Fraction(x)
    try:
        return _group(decimal_string(x))
    except ValueError:
        rounded = decimal_string(Fraction(round(x * 10**DISPLAY_PLACES), 10**DISPLAY_PLACES))
        return "≈" + _group(rounded)


def _exact(value: object) -> str:
    """An engine value from the chaincode (``"n"``/``"n/d"``/decimal) as a canonical "n/d"."""
    return str(Fraction(str(value))) if value not in (None, "") else "0"


def transfer_json(t: MarginTransfer) -> Json:
    return {
        "token": t.token,
        "quantity": t.quantity,
        "direction": t.direction,
        "from": t.sender,
        "to": t.receiver,
        "value": str(t.value),
        "marketValue": str(t.market_value),
        "tradeDate": t.trade_date.isoformat() if t.trade_date else None,
        "settleDate": t.settle_date.isoformat() if t.settle_date else None,
    }


def call_json(call: MarginCall) -> Json:
    """One recorded margin call for scripts: quantities as integers, values exact "n/d"."""
    raw = call.raw
    return {
        "agreement": call.agreement,
        "date": call.date.isoformat(),
        "lender": raw.get("lender", ""),
        "borrower": raw.get("borrower", ""),
        "baseCurrency": raw.get("baseCurrency", ""),
        "priceVersion": call.price_version,
        "prices": {k: _exact(v) for k, v in sorted((raw.get("prices") or {}).items())},
        "fx": {k: _exact(v) for k, v in sorted((raw.get("fx") or {}).items())},
        "vl": str(call.vl),
        "vcBefore": str(call.vc_before),
        "gapBefore": str(call.gap_before),
        "triggered": call.triggered,
        "transfers": [transfer_json(t) for t in call.transfers],
        "issuanceRequired": [
            {"party": r.get("party", ""), "role": r.get("role", ""), "token": r.get("token", ""),
             "value": _exact(r.get("value"))}
            for r in call.issuance_required
        ],
        "mints": [
            {"party": m.get("party", ""), "role": m.get("role", ""), "token": m.get("token", ""),
             "quantity": int(m.get("quantity") or 0), "supply": int(m.get("supply") or 0)}
            for m in call.mints
        ],
        "vcAfter": str(call.vc_after),
        "gapAfter": str(call.gap_after),
        "settled": [transfer_json(t) for t in call.settled],
        "pending": [transfer_json(t) for t in call.pending],
        "held": {k: int(v) for k, v in sorted((raw.get("held") or {}).items())},
        "calledBy": raw.get("calledBy", ""),
        "txId": call.tx_id,
        "timestamp": raw.get("timestamp", ""),
        "replayed": call.replayed,
        # lagged settlements due that could not settle (kept pending, retried next cycle)
        **({"fails": [{"token": f.token, "quantity": f.quantity, "direction": f.direction,
                       "from": f.sender, "to": f.receiver,
                       "dueDate": f.due_date.isoformat() if f.due_date else "",
                       "missing": f.missing} for f in call.fails]} if call.fails else {}),
        # fees and rebates accrued since the previous call (agreements with economics)
        **({"accruals": [a.to_json() for a in call.accruals]} if call.accruals else {}),
        # eligibility: tokens the top-up passed over, caps still exceeded after the call
        "skipped": [{"token": s.token, "reason": s.reason} for s in call.skipped],
        "breaches": [b.to_json() for b in call.breaches],
        **({"dispute": dispute_json(call.dispute)} if call.dispute is not None else {}),
        **({"adjustments": [
            {"priceVersion": a.price_version, "gapBefore": str(a.gap_before),
             "gapAfter": str(a.gap_after), "transfers": [transfer_json(t) for t in a.transfers],
             "txId": a.tx_id} for a in call.adjustments]} if call.adjustments else {}),
    }


def dispute_json(d: CallDispute) -> Json:
    out: Json = {"by": d.by, "agreedValue": str(d.agreed_value),
                 "disputedValue": str(d.disputed_value),
                 "heldBack": [transfer_json(t) for t in d.held_back], "status": d.status,
                 "txId": d.tx_id}
    for key, value in (("note", d.note), ("resolution", d.resolution),
                       ("resolvedTx", d.resolved_tx)):
        if value:
            out[key] = value
    return out


def _transfer_text(t: MarginTransfer, day: date) -> str:
    text = f"{qty(t.quantity)} {t.token} {t.sender}→{t.receiver}"
    if t.settle_date is not None and t.settle_date != day:
        text += f" (settles {t.settle_date.isoformat()})"
    return text


def _issuance_text(call: MarginCall) -> str:
    parts = [f"{r.get('party', '')} ({r.get('role', '')}) "
             f"{show_value(Fraction(_exact(r.get('value'))))}"
             for r in call.issuance_required]
    parts += [f"minted {qty(int(m.get('quantity') or 0))} {m.get('token', '')} to "
              f"{m.get('party', '')}" for m in call.mints]
    return "; ".join(parts) or "-"


# ---- commands: margin -----------------------------------------------------------------------


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from None


@click.group("margin")
def margin() -> None:
    """Margin calls: run them for a date, show what the ledger recorded."""


@margin.command("run")
@click.option("--date", "day", required=True, callback=_parse_date, metavar="YYYY-MM-DD",
              help="Valuation date (its prices must be posted).")
@click.option("--agreement", "agreement_id", default=None, metavar="ID",
              callback=checked(lambda v: check_identifier("agreement id", v)),
              help="Call this agreement only (default: sweep every active agreement the caller "
                   "may sweep).")
@click.option("--batch-size", "--page-size", "batch_size", type=click.IntRange(1, MAX_BATCH),
              default=MAX_BATCH, show_default=True,
              help="Agreements of one lender/borrower pair per sweep transaction.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (exact values) for scripts.")
def run(day: date, agreement_id: str | None, batch_size: int, as_json: bool) -> None:
    """Run the margin call of one agreement, or sweep all, for a valuation date.

    A call happens once per agreement and date: running it again shows the recorded result
    (status "replayed") and moves nothing. Without --as, a sweep acts as the oracle
    (operator/User1), which then records the date as swept; a single call acts as bank-a. A call
    that fails (a missing price, a short balance) is shown with its reason, the others go on,
    and the command exits 6 (partly done) when others committed, else 3.
    """
    if agreement_id is not None:
        _run_one(day, agreement_id, as_json)
    else:
        _sweep(day, batch_size, as_json)


def _outcome_json(agreement: str, status: str, reason: str, call: MarginCall | None) -> Json:
    out: Json = {"agreement": agreement, "status": status}
    if reason:
        out["reason"] = reason
    if call is not None:
        out["call"] = call_json(call)
    return out


def _run_one(day: date, agreement_id: str, as_json: bool) -> None:
    with guarded(as_json), ledger_as(PARTY_DEFAULT) as session:
        call = session.margin_call(agreement_id, day)
    status = "replayed" if call.replayed else "called"
    if as_json:
        click.echo(json.dumps({"date": day.isoformat(), "agreement": agreement_id,
                               "outcomes": [_outcome_json(agreement_id, status, "", call)]},
                              indent=2))
        return
    _print_outcomes(day, [(agreement_id, status, "", call)])
    _print_transfers([call])


def _sweep(day: date, batch_size: int, as_json: bool) -> None:
    doc: Json = {"date": day.isoformat(), "pages": 0, "complete": False, "outcomes": []}
    committed: list[SweepOutcome] = []
    with guarded(as_json) as guard, ledger_as(ORACLE) as session:
        guard.partial = doc

        def on_batch(outcomes: Sequence[SweepOutcome]) -> None:
            # what committed so far, in case a later batch fails (a lane thread: append only)
            committed.extend(o for o in outcomes if o.status in ("called", "closed"))
            doc["outcomes"] = [_outcome_json(o.agreement, o.status, o.reason, None)
                               for o in committed]
            guard.done[:] = [f"{len(committed)} margin call(s) of {day.isoformat()} ("
                             f"{', '.join(o.agreement for o in committed[:5])}"
                             f"{', …' if len(committed) > 5 else ''}); sweeping again "
                             "replays them and calls the rest"]

        run = session.sweep(day, batch_size, on_batch=on_batch)
        calls = _records(session, day, run)
    outcomes = [(o.agreement, o.status, o.reason, calls.get(o.agreement)) for o in run.outcomes]
    doc["pages"] = run.transactions  # sweep transactions (the field predates batches)
    doc["complete"] = run.swept
    doc["lastSweptDate"] = run.last_swept_date.isoformat() if run.last_swept_date else ""
    doc["outcomes"] = [_outcome_json(*o) for o in outcomes]
    failed = [o for o in run.outcomes if o.status == "failed"]
    refusal = run.finish_refusal or (
        f"{len(failed)} margin call(s) failed, first {failed[0].agreement}: {failed[0].reason}"
        if failed else "")
    # calls committed beside the failures: "partly done" (6), not "nothing changed" (3)
    changed = run.count("called") + run.count("closed")
    code = EXIT_PARTIAL if refusal and changed else EXIT_REFUSED
    if refusal and code == EXIT_PARTIAL:
        refusal = (f"{refusal}\n{changed} margin call(s) committed; the failed "
                   "ones are retried by sweeping again")
    if as_json:
        if refusal:
            fail(code, refusal, as_json, partial=doc)
        click.echo(json.dumps(doc, indent=2))
        return
    _print_outcomes(day, outcomes)
    _print_transfers([c for _, _, _, c in outcomes if c is not None])
    counts = {s: run.count(s) for s in SWEEP_STATUSES}
    closed = f"{counts['closed']} closed at maturity, " if counts["closed"] else ""
    click.echo(f"{counts['called']} called, {counts['replayed']} replayed, {closed}"
               f"{counts['skipped']} skipped, {counts['failed']} failed in "
               f"{run.transactions} transaction(s); "
               f"last swept date {doc['lastSweptDate'] or '-'}")
    if refusal:
        fail(code, refusal, as_json)


def _records(session: Ledger, day: date, run: SweepRun) -> dict[str, MarginCall]:
    """The full record of every call the sweep made or found (the sweep's answer is compact), for
    a party sweeping its own agreements. The oracle gets none: the records are private to each
    agreement's two banks, and the chaincode refuses the operator every one of them."""
    from concurrent.futures import ThreadPoolExecutor

    if session.party == "operator":
        return {}
    ids = [o.agreement for o in run.outcomes if o.has_call]
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(lambda a: session.get_margin_call(a, day), ids))
    return dict(zip(ids, records, strict=True))


def _print_outcomes(day: date, rows: list[tuple[str, str, str, MarginCall | None]]) -> None:
    out = console()
    if not rows:
        out.print(f"no active agreement to call on {day.isoformat()}")
        return
    table = Table(title=f"margin calls for {day.isoformat()}")
    table.add_column("agreement", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("call", no_wrap=True)
    for name in ("V_L", "V_C before", "V_C after", "gap after"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("transfers")
    table.add_column("issuance")
    for agreement, status, reason, call in rows:
        if call is None:
            table.add_row(agreement, status, "-", "", "", "", "", reason or "-", "-")
            continue
        table.add_row(
            agreement, f"{status} ({reason})" if reason else status,  # called (close_failed)
            "yes" if call.triggered else "no",
            show_value(call.vl), show_value(call.vc_before), show_value(call.vc_after),
            show_value(call.gap_after),
            "\n".join(_transfer_text(t, call.date) for t in call.transfers) or "-",
            _issuance_text(call),
        )
    out.print(table)


def _print_transfers(calls: list[MarginCall]) -> None:
    """Every transfer the calls computed, and the earlier (lagged) ones they settled."""
    rows: list[tuple[MarginCall, MarginTransfer, str]] = []
    for c in calls:
        for t in c.transfers:
            lagged = t.settle_date is not None and t.settle_date != c.date
            rows.append((c, t, "pending" if lagged else "settled"))
        rows += [(c, t, "settled (earlier call)") for t in c.settled if t.trade_date != c.date]
    if not rows:
        return
    table = Table(title="transfers")
    for name in ("agreement", "date", "status", "token"):
        table.add_column(name, no_wrap=True)
    table.add_column("quantity", justify="right", no_wrap=True)
    table.add_column("from → to", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("market value", justify="right", no_wrap=True)
    table.add_column("trade → settle", no_wrap=True)
    for call, t, status in rows:
        trade = t.trade_date.isoformat() if t.trade_date else "-"
        settle = t.settle_date.isoformat() if t.settle_date else "-"
        table.add_row(call.agreement, call.date.isoformat(), status, t.token, qty(t.quantity),
                      f"{t.sender} → {t.receiver}", show_value(t.value),
                      show_value(t.market_value), f"{trade} → {settle}")
    console().print(table)


@margin.command("show")
@click.argument("agreement_id", metavar="ID",
                callback=checked(lambda v: check_identifier("agreement id", v)))
@click.option("--date", "day", default=None, callback=_parse_date, metavar="YYYY-MM-DD",
              help="Only the call of this date.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (exact values) for scripts.")
def show(agreement_id: str, day: date | None, as_json: bool) -> None:
    """Show the margin calls recorded for agreement ID (in date order)."""
    with guarded(as_json), ledger_as(PARTY_DEFAULT) as session:
        if day is not None:
            calls = [session.get_margin_call(agreement_id, day)]
        else:
            calls = sorted(session.margin_calls(agreement_id), key=lambda c: c.date)
    if as_json:
        click.echo(json.dumps({"agreement": agreement_id,
                               "calls": [call_json(c) for c in calls]}, indent=2))
        return
    if not calls:
        click.echo(f"no margin calls recorded for {agreement_id}")
        return
    out = console()
    base = calls[0].raw.get("baseCurrency", "")
    title = f"margin calls of {agreement_id}" + (f" (values in {base})" if base else "")
    table = Table(title=title)
    table.add_column("date", no_wrap=True, min_width=10)
    for name in ("V_L", "V_C before", "gap before"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("call", no_wrap=True)
    table.add_column("transfers")
    for name in ("V_C after", "gap after"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("issuance-required / mints")
    for c in calls:
        table.add_row(
            c.date.isoformat(), show_value(c.vl), show_value(c.vc_before),
            show_value(c.gap_before), "yes" if c.triggered else "no",
            "\n".join(_transfer_text(t, c.date) for t in c.transfers) or "-",
            show_value(c.vc_after), show_value(c.gap_after), _issuance_text(c),
        )
    out.print(table)
    _print_transfers(calls)
    _print_fails(calls)
    _print_accruals(calls, base)
    _print_eligibility(calls)
    _print_disputes(calls)


def _print_eligibility(calls: list[MarginCall]) -> None:
    """Tokens a top-up passed over, and the concentration caps still exceeded after a call."""
    out = console()
    for c in calls:
        if c.skipped:
            out.print(f"{c.date.isoformat()}: skipped "
                      + ", ".join(f"{s.token} ({s.reason})" for s in c.skipped), markup=False)
    rows = [(c, b) for c in calls for b in c.breaches]
    if not rows:
        return
    table = Table(title="concentration caps breached after the call")
    for name in ("date", "cap by", "group", "share", "max"):
        table.add_column(name, no_wrap=True,
                         justify="right" if name in ("share", "max") else "left")
    for c, b in rows:
        table.add_row(c.date.isoformat(), b.by, b.key or "-", _pct(b.share), _pct(b.max))
    out.print(table)


def _pct(x: Fraction) -> str:
    return show_value(x * 100) + "%"


def _print_disputes(calls: list[MarginCall]) -> None:
    """Each call's dispute and its re-runs at corrected prices."""
    out = console()
    for c in calls:
        d = c.dispute
        if d is not None:
            state = d.status + (f" ({d.resolution} figure)" if d.resolution in ("call", "dispute")
                                else f" (by {d.resolution})" if d.resolution else "")
            held = ", ".join(f"{qty(t.quantity)} {t.token}" for t in d.held_back) or "-"
            note = f"; note: {d.note}" if d.note else ""
            out.print(f"{c.date.isoformat()}: disputed by {d.by}: agreed "
                      f"{show_value(d.agreed_value)}, disputed {show_value(d.disputed_value)}, "
                      f"held back {held}; {state}{note}", markup=False)
        for a in c.adjustments:
            moved = "; ".join(_transfer_text(t, c.date) for t in a.transfers) or "nothing moved"
            out.print(f"{c.date.isoformat()}: adjusted at price version {a.price_version}: gap "
                      f"{show_value(a.gap_before)} → {show_value(a.gap_after)}; {moved}",
                      markup=False)


_AGREED = re.compile(r"[0-9]+(\.[0-9]+)?")


def _agreed(ctx: click.Context, param: click.Parameter, value: str) -> str:
    text = value.strip().replace(",", "").replace("_", "")
    if not _AGREED.fullmatch(text):
        raise click.BadParameter(f"{value!r} is not a value such as 1000000 or 1250.50")
    return text


_ID_ARG = click.argument("agreement_id", metavar="ID",
                         callback=checked(lambda v: check_identifier("agreement id", v)))
_DATE_ARG = click.argument("day", metavar="DATE", callback=_parse_date)


def _dispute_report(verb: str, call: MarginCall, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(call_json(call), indent=2))
        return
    d = call.dispute
    click.echo(f"{verb} the margin call of {call.agreement} on {call.date.isoformat()}"
               + (f": {d.status}" + (f" ({d.resolution})" if d.resolution else "")
                  if d is not None else ""))
    _print_disputes([call])


@margin.command("dispute")
@_ID_ARG
@_DATE_ARG
@click.option("--agreed", required=True, callback=_agreed, metavar="VALUE",
              help="The haircut value, base currency, you agree to deliver (below the call's).")
@click.option("--note", default="", callback=checked(lambda v: check_text("note", v)),
              help="Why (kept with the dispute).")
@click.option("--json", "as_json", is_flag=True, help="Print the call record as JSON.")
def dispute(agreement_id: str, day: date, agreed: str, note: str, as_json: bool) -> None:
    """Dispute the margin call of DATE (the party that delivers under it, before the agreement's
    next call): the rest of the call's value above --agreed is held back in whole units, the
    call's last tokens first. The counterparty accepts your figure, or you accept the call's,
    with `margin resolve`; a price correction of the date resolves it too (`margin adjust`)."""
    with guarded(as_json), ledger_as(PARTY_DEFAULT) as session:
        call = session.dispute_call(agreement_id, day, agreed, note)
    _dispute_report("disputed", call, as_json)


@margin.command("resolve")
@_ID_ARG
@_DATE_ARG
@click.option("--accept", "figure", required=True, type=click.Choice(["call", "dispute"]),
              help="call: you disputed and accept the call's figure (the held-back part is "
                   "delivered); dispute: you accept the counterparty's disputed figure.")
@click.option("--json", "as_json", is_flag=True, help="Print the call record as JSON.")
def resolve(agreement_id: str, day: date, figure: str, as_json: bool) -> None:
    """Settle the open dispute of the margin call of DATE."""
    with guarded(as_json), ledger_as(PARTY_DEFAULT) as session:
        call = session.resolve_dispute(agreement_id, day, figure)
    _dispute_report("resolved", call, as_json)


@margin.command("adjust")
@_DATE_ARG
@click.option("--with", "counterparty", default=None, metavar="PARTY",
              callback=checked(check_party),
              help="A bank: only its pair with PARTY (default: all its pairs).")
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=MAX_BATCH,
              show_default=True, help="Agreements of one pair per AdjustCalls transaction.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
def adjust(day: date, counterparty: str | None, batch_size: int, as_json: bool) -> None:
    """Re-run the margin calls of DATE at its corrected prices (after `prices post --reason`).

    Every agreement whose call of DATE is still its latest and used an earlier price version is
    re-margined on its current positions at the latest version and the difference settles at
    once; an open dispute of that call is resolved by the correction. The others are unaffected
    (no_call, later_call, no_correction). Without --as, the oracle adjusts every pair; a bank
    (--as bank-a) adjusts its own pairs, or the one with --with. A failed agreement is undone
    alone: exit 6 when others were adjusted, else 3.
    """
    with guarded(as_json), ledger_as(ORACLE) as session:
        if counterparty is not None and session.party == "operator":
            fail(EXIT_USAGE, "the oracle adjusts every pair: --with is for a bank", as_json)
        run = session.adjust(day, counterparty or "", batch_size)
    _adjust_report(run, as_json)


def _adjust_report(run: AdjustRun, as_json: bool) -> None:
    counts = {s: run.count(s) for s in ADJUST_STATUSES}
    doc: Json = {"date": run.valuation_date.isoformat(), "transactions": run.transactions,
                 **counts,
                 "outcomes": [{"agreement": o.agreement, "status": o.status,
                               **({"reason": o.reason} if o.reason else {})}
                              for o in run.outcomes]}
    failed = [o for o in run.outcomes if o.status == "failed"]
    refusal = ""
    code = EXIT_REFUSED
    if failed:
        refusal = (f"{len(failed)} adjustment(s) failed, first {failed[0].agreement}: "
                   f"{failed[0].reason}")
        if counts["adjusted"]:
            code = EXIT_PARTIAL
            refusal += f"\n{counts['adjusted']} adjusted; running it again retries the others"
    if as_json:
        if refusal:
            fail(code, refusal, True, partial=doc)
        click.echo(json.dumps(doc, indent=2))
        return
    if run.outcomes:
        table = Table(title=f"adjustments of {run.valuation_date.isoformat()}")
        for name in ("agreement", "status", "reason"):
            table.add_column(name, no_wrap=True)
        for o in run.outcomes:
            table.add_row(o.agreement, o.status, o.reason or "-")
        console().print(table)
    click.echo(f"{counts['adjusted']} adjusted, {counts['unaffected']} unaffected, "
               f"{counts['failed']} failed in {run.transactions} transaction(s)")
    if refusal:
        fail(code, refusal, False)


def _rate_text(rate: Fraction) -> str:
    """An annual rate (a fraction: 0.0025) as basis points."""
    return show_value(rate * 10_000) + " bp"


def _print_accruals(calls: list[MarginCall], base: str) -> None:
    """Fees and rebates each call accrued (since the previous call, split at month ends)."""
    rows: list[tuple[MarginCall, AccrualLine]] = [(c, a) for c in calls for a in c.accruals]
    if not rows:
        return
    unit = f" ({base})" if base else ""
    table = Table(title=f"fees and rebates accrued{unit}")
    for name in ("call", "from → to", "days", "loan value", "cash value", "fee rate",
                 "rebate rate", "fee", "rebate"):
        table.add_column(name, no_wrap=True,
                         justify="left" if name in ("call", "from → to") else "right")
    for c, a in rows:
        table.add_row(c.date.isoformat(), f"{a.from_.isoformat()} → {a.to.isoformat()}",
                      str(a.days), show_value(a.loan_value), show_value(a.cash_value),
                      _rate_text(a.fee_rate), _rate_text(a.rebate_rate), show_value(a.fee),
                      show_value(a.rebate))
    table.add_section()
    table.add_row("total", "", str(sum(a.days for _, a in rows)), "", "", "", "",
                  show_value(sum((a.fee for _, a in rows), Fraction(0))),
                  show_value(sum((a.rebate for _, a in rows), Fraction(0))))
    console().print(table)


def _print_fails(calls: list[MarginCall]) -> None:
    """Lagged settlements that were due but could not settle: pending, retried next cycle."""
    rows = [(c, f) for c in calls for f in c.fails]
    if not rows:
        return
    table = Table(title="settlement fails (still pending, retried at the next cycle)")
    for name in ("agreement", "date", "token", "quantity", "from → to", "due", "missing"):
        table.add_column(name, no_wrap=True,
                         justify="right" if name in ("quantity", "missing") else "left")
    for c, f in rows:
        table.add_row(c.agreement, c.date.isoformat(), f.token, qty(f.quantity),
                      f"{f.sender} → {f.receiver}",
                      f.due_date.isoformat() if f.due_date else "-", qty(f.missing))
    console().print(table)


# ---- commands: prices -----------------------------------------------------------------------


@click.group("prices")
def prices() -> None:
    """Prices and FX rates on the ledger: post a date's batch, show a date's version."""


def _decimal_text(value: object, what: str, signed: bool = False) -> str:
    """A positive exact decimal as the chaincode wants it (digits, optional fraction); with
    ``signed`` (a benchmark fixing) a leading minus sign is allowed."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise click.BadParameter(f"{what}: {value!r} is not a decimal number")
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if not (_SIGNED_DECIMAL if signed else _DECIMAL).fullmatch(text):
        example = "5.31 or -0.57" if signed else "101.25"
        raise click.BadParameter(f"{what}: {value!r} is not a decimal number such as {example}")
    return text


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        if option == "--fx" and not _PAIR.fullmatch(key):
            raise click.BadParameter(f"{key!r} is not a market pair such as EURUSD",
                                     param_hint=option)
        if option == "--rate":
            _check_benchmark(key, option)
        if option == "--price":
            check_identifier("token id", key)
        if key in out:
            raise click.BadParameter(f"{key} is given twice", param_hint=option)
        out[key] = _decimal_text(value, f"{option} {key}", signed=option == "--rate")
    return out


def _check_benchmark(name: str, hint: str) -> None:
    if not _BENCHMARK.fullmatch(name):
        raise click.BadParameter(f"{name!r} is not a benchmark name such as SOFR (2-16 capital "
                                 "letters and digits)", param_hint=hint)


def _file_values(section: object, what: str, signed: bool = False) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise click.BadParameter(f"{what} must be an object", param_hint="--file")
    out: dict[str, Any] = {}
    for key, value in section.items():
        if signed:
            _check_benchmark(str(key), "--file")
        if isinstance(value, Mapping):
            if "value" not in value:
                raise click.BadParameter(f"{what}.{key} has no value", param_hint="--file")
            out[str(key)] = {**value, "value": _decimal_text(value["value"], f"{what}.{key}",
                                                             signed)}
        else:
            out[str(key)] = _decimal_text(value, f"{what}.{key}", signed)
    return out


def _read_batch(path: Path, day: date) -> Json:
    try:
        # JSON numbers are read as exact decimals (101.25 stays 101.25).
        data = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}",
                                 param_hint="--file") from None
    except (ValueError, InvalidOperation) as exc:
        raise click.BadParameter(f"{path} is not JSON: {exc}", param_hint="--file") from None
    if not isinstance(data, Mapping):
        raise click.BadParameter(f"{path}: a batch is a JSON object with prices and fx",
                                 param_hint="--file")
    unknown = sorted(set(data) - {"date", "source", "prices", "fx", "rates"})
    if unknown:
        raise click.BadParameter(f"{path}: unknown key(s) {', '.join(unknown)}",
                                 param_hint="--file")
    if data.get("date") not in (None, "", day.isoformat()):
        raise click.BadParameter(f"{path} is for {data['date']}, not {day.isoformat()}",
                                 param_hint="--file")
    batch: Json = {"prices": _file_values(data.get("prices"), "prices"),
                   "fx": _file_values(data.get("fx"), "fx")}
    rates = _file_values(data.get("rates"), "rates", signed=True)
    if rates:
        batch["rates"] = rates
    if data.get("source"):
        batch["source"] = str(data["source"])
    return batch


def _merge(target: dict[str, Any], extra: dict[str, str], option: str) -> None:
    for key, value in extra.items():
        held = target.get(key)
        held_value = held.get("value") if isinstance(held, Mapping) else held
        if held is not None and held_value != value:
            raise click.BadParameter(f"{key} is {held_value} in --file but {value} here",
                                     param_hint=option)
        if held is None:
            target[key] = value


def _max_moves(items: tuple[str, ...]) -> dict[str, Decimal]:
    limits = dict(DEFAULT_MAX_MOVE)
    for item in items:
        cls, sep, value = item.partition("=")
        cls = cls.strip().lower()
        if not sep or cls not in ASSET_CLASSES:
            raise click.BadParameter(f"expected CLASS=LIMIT with CLASS one of "
                                     f"{', '.join(ASSET_CLASSES)}, got {item!r}",
                                     param_hint="--max-move")
        try:
            limit = Decimal(value.strip())
        except InvalidOperation:
            limit = Decimal(-1)
        if not limit.is_finite() or limit <= 0:
            raise click.BadParameter(f"{cls}: a positive relative move such as 0.25, got "
                                     f"{value!r}", param_hint="--max-move")
        limits[cls] = limit
    return limits


def _value(raw: object) -> Decimal:
    return Decimal(str(raw["value"] if isinstance(raw, Mapping) else raw))


def _previous_values(session: Ledger, day: date, keys: set[str]) -> dict[str, Decimal]:
    """Each key's latest value posted before ``day`` (looking back as the oracle does)."""
    out: dict[str, Decimal] = {}
    for back in range(1, LOOKBACK_DAYS + 1):
        if keys <= set(out):
            break
        try:
            ps = session.prices(day - timedelta(days=back), None)
        except GatewayError as exc:
            if exc.refusal is not None and exc.refusal.startswith("no prices posted"):
                continue
            raise
        for section in ("prices", "fx"):
            for key, value in (ps.raw.get(section) or {}).items():
                if key in keys and key not in out:
                    out[key] = Decimal(str(value))
    return out


def _jumps(session: Ledger, day: date, batch: Json, limits: Mapping[str, Decimal]) -> list[Move]:
    """The batch's values that moved beyond their asset class's limit since the last post."""
    values = {k: _value(v) for k, v in batch["prices"].items()}
    fx = {k: _value(v) for k, v in batch["fx"].items()}
    previous = _previous_values(session, day, {*values, *fx})
    per_key: dict[str, Decimal] = {k: limits["fx"] for k in fx}
    for key in values:
        if key not in previous:  # nothing to compare with: no token lookup needed
            continue
        try:
            asset_class = session.token(key).asset_class
        except GatewayError as exc:
            if exc.refusal is None:
                raise
            continue  # an unknown token: the chaincode refuses the post itself
        per_key[key] = limits[limit_class(asset_class)]
    return moves_beyond(previous, {**values, **fx}, per_key)


@prices.command("post")
@click.option("--date", "day", required=True, callback=_parse_date, metavar="YYYY-MM-DD")
@click.option("--price", "price_items", multiple=True, metavar="TOKEN=V",
              help="A security token's closing price (repeatable).")
@click.option("--fx", "fx_items", multiple=True, metavar="PAIR=V",
              help="An FX market pair's rate, e.g. EURUSD=1.1050 (repeatable).")
@click.option("--rate", "rate_items", multiple=True, metavar="NAME=V",
              help="A benchmark's fixing, percent per annum, any sign, e.g. SOFR=5.31 or "
                   "ESTR=-0.57 (repeatable; what floating rebates accrue at).")
@click.option("--file", "batch_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help='A batch: {"prices": {TOKEN: V}, "fx": {PAIR: V}, '
                                 '"rates"?: {NAME: V}, "source"?}.')
@click.option("--reason", default=None, callback=checked(lambda v: check_text("reason", v)),
              help="Correct values already posted (a new correction version, kept with R); "
                   "with --force, why the move limits are overridden.")
@click.option("--max-move", "max_moves", multiple=True, metavar="CLASS=LIMIT",
              help="Largest move from the last posted value, per asset class (equity "
                   f"{DEFAULT_MAX_MOVE['equity']}, bond {DEFAULT_MAX_MOVE['bond']}, fx "
                   f"{DEFAULT_MAX_MOVE['fx']}: the oracle's defaults); repeatable.")
@click.option("--force", is_flag=True,
              help="Post values beyond the move limits; needs --reason, recorded with each.")
@click.option("--source", "source", default="",
              callback=checked(lambda v: check_text("source", v, 128)),
              help="A label stored with the batch.")
@click.option("--json", "as_json", is_flag=True, help="Print the ledger's answer as JSON.")
def post(day: date, price_items: tuple[str, ...], fx_items: tuple[str, ...],
         rate_items: tuple[str, ...], batch_file: Path | None, reason: str | None,
         max_moves: tuple[str, ...], force: bool, source: str, as_json: bool) -> None:
    """Post a date's prices, FX rates and benchmark fixings in one transaction (default
    identity: the oracle).

    Posting values the date already holds changes nothing; a different value for an instrument
    already posted is refused unless --reason makes the batch a correction. As the oracle does,
    a value that moved more than its asset class's limit from the last posted one is refused
    before anything is sent (exit 2), unless --force --reason TEXT: the reason is then stored
    with each value as who confirmed it.
    """
    batch: Json = _read_batch(batch_file, day) if batch_file else {"prices": {}, "fx": {}}
    _merge(batch["prices"], _pairs(price_items, "--price"), "--price")
    _merge(batch["fx"], _pairs(fx_items, "--fx"), "--fx")
    rates = batch.setdefault("rates", {})
    _merge(rates, _pairs(rate_items, "--rate"), "--rate")
    if not rates:
        del batch["rates"]  # omitted, as before fixings existed
    if not batch["prices"] and not batch["fx"] and not rates:
        raise click.UsageError("nothing to post: give --price, --fx, --rate or --file")
    if reason is not None and not reason.strip():
        raise click.BadParameter("a correction needs a reason", param_hint="--reason")
    if force and reason is None:
        raise click.BadParameter("--force needs --reason TEXT (kept with the values)",
                                 param_hint="--force")
    limits = _max_moves(max_moves)
    batch["date"] = day.isoformat()
    if source:
        batch["source"] = source
    with guarded(as_json) as guard, ledger_as(ORACLE) as session:
        if force:
            assert reason is not None
            note = f"operator:forced: {reason.strip()}"[:128]
            for section in ("prices", "fx", "rates"):
                if section in batch:
                    batch[section] = {k: {**(v if isinstance(v, Mapping) else {"value": v}),
                                          "confirmedBy": note}
                                      for k, v in batch[section].items()}
        else:
            jumps = _jumps(session, day, batch, limits)
            if jumps:
                guard.fail(EXIT_USAGE, "held back, nothing was sent: "
                           + "; ".join(m.describe() for m in jumps),
                           "check the values; to post them anyway: --force --reason TEXT "
                           "(or raise the limit: --max-move CLASS=LIMIT)")
        if reason is not None and not (force and not _posted(session, day)):
            result = session.correct_batch_json(day, batch, reason)
        else:
            result = session.post_batch_json(day, batch)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    version = result.get("version", "?")
    if not result.get("changed", True):
        click.echo(f"no change: {day.isoformat()} already holds these values "
                   f"(version {version})")
        return
    click.echo(f"posted {day.isoformat()}: version {version} ({result.get('kind', '?')}), "
               f"{len(batch['prices'])} price(s), {len(batch['fx'])} FX rate(s)"
               + (f", {len(rates)} fixing(s)" if rates else ""))


def _posted(session: Ledger, day: date) -> bool:
    try:
        session.prices(day, None)
    except GatewayError as exc:
        if exc.refusal is not None and exc.refusal.startswith("no prices posted"):
            return False
        raise
    return True


@prices.command("show")
@click.option("--date", "day", required=True, callback=_parse_date, metavar="YYYY-MM-DD")
@click.option("--version", type=click.IntRange(min=1), default=None,
              help="A version of the date's prices (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the stored price set as JSON.")
def show_prices(day: date, version: int | None, as_json: bool) -> None:
    """Show the prices, FX rates and benchmark fixings posted for a date."""
    with guarded(as_json), ledger_as(PARTY_DEFAULT) as session:
        ps = session.prices(day, version)
    if as_json:
        click.echo(json.dumps(ps.raw, indent=2, sort_keys=True))
        return
    raw = ps.raw
    out = console()
    head = (f"prices for {ps.date.isoformat()}: version {ps.version} of {ps.latest_version}"
            f" ({ps.kind or '?'})")
    if ps.reason:
        head += f", reason: {ps.reason}"
    out.print(head, markup=False)
    out.print(f"posted by {_who(raw.get('postedBy', '?'))} at {raw.get('postedAt', '?')}"
                  f"{', source ' + raw['source'] if raw.get('source') else ''}", markup=False)
    table = Table()
    table.add_column("instrument", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("as of", no_wrap=True)
    table.add_column("confirmed by", no_wrap=True)
    for kind, values, notes in (("price", raw.get("prices") or {}, raw.get("priceNotes") or {}),
                                ("fx", raw.get("fx") or {}, raw.get("fxNotes") or {}),
                                ("fixing", raw.get("rates") or {}, raw.get("rateNotes") or {})):
        for key in sorted(values):
            note = notes.get(key) or {}
            table.add_row(key, kind, str(values[key]), note.get("asOf") or "-",
                          note.get("confirmedBy") or "-")
    out.print(table)


#: Registered by the ``tanpo`` root command.
commands: list[click.Command] = [margin, prices]
