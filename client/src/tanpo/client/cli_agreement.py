"""``tanpo agreement …``: register, decide, close and read securities-lending agreements, and
import or export them as tanpo terms JSON or ISDA/ISLA CDM JSON (`tanpo.client.cdm`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from tanpo.client import cdm
from tanpo.client.cdm.documents import proposed_terms
from tanpo.client.cli_cdm import party_map
from tanpo.client.cli_common import (
    PARTY_DEFAULT,
    Json,
    Ledger,
    Row,
    TanpoGroup,
    check_identifier,
    check_party,
    checked,
    console,
    day,
    dec,
    details,
    echo_json,
    new_table,
    pct,
    qty,
    session,
    settle,
    text_option,
    write_or_echo,
)
from tanpo.client.cli_margin import show_value
from tanpo.client.cli_terms import (
    MAX_NOTICE_DAYS,
    InputError,
    economics,
    parse_date,
    parse_pair,
    parse_quantity,
    read_json,
    schedule_from_json,
    schedule_from_parts,
    terms_from_flags,
    terms_from_json,
)
from tanpo.client.models import (
    AGREEMENT_STATUSES,
    OPEN_LOAN_STATUSES,
    Agreement,
    MarginCall,
    Schedule,
    Terms,
    Token,
    business_today,
    json_text,
)

STATUSES = list(AGREEMENT_STATUSES)
JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="Print the ledger's records as JSON, for scripts.")


@click.group("agreement", cls=TanpoGroup)
def agreement() -> None:
    """Securities-lending and repo agreements between two parties.

    One party proposes the terms; the counterparty approves (the opening exchange: loan tokens
    lender → borrower and collateral borrower → held for the lender, atomically) or rejects; the
    proposer may withdraw. Either party closes at or after the end date (the closing exchange);
    before it, one requests termination and the other accepts.

    While the loan is out, the lender recalls and buys in, the borrower returns and substitutes
    collateral, and either party gives notice on an open agreement.
    """


# ---- propose --------------------------------------------------------------------------------


_TERM_FLAGS = ("lender", "borrower", "loan", "collateral", "token_haircuts", "base", "haircut",
               "threshold", "mode", "lag", "auto_issue", "mta", "trade_date", "start_date",
               "end_date", "open_ended", "notice_days", "substitution_pre_authorised",
               "no_early_return", "fee_bps", "minimum_fee", "rebate", "rebate_benchmark",
               "rebate_spread_bps", "day_count")


@agreement.command("propose")
@click.option("--lender", metavar="PARTY", help="The lending party, e.g. bank-a.")
@click.option("--borrower", metavar="PARTY", help="The borrowing party, e.g. bank-b.")
@click.option("--loan", metavar="TOKEN=QTY",
              help="The loan leg: a security token (securities lending) or a cash token.")
@click.option("--collateral", multiple=True, metavar="TOKEN=QTY",
              help="A collateral leg (repeat, in priority order CT1, CT2, …; QTY may be 0).")
@click.option("--token-haircut", "token_haircuts", multiple=True, metavar="TOKEN=H",
              help="A collateral token's own haircut, overriding --haircut (repeatable).")
@click.option("--base", metavar="CCY", help="Valuation (base) currency, e.g. JPY.")
@click.option("--haircut", metavar="H", help="Haircut α in [0, 1), e.g. 0.05 (default 0).")
@click.option("--threshold", metavar="B", help="Margin-call threshold β in [0, 1) (default 0: "
              "margined daily).")
@click.option("--mode", type=click.Choice(["single", "multi"]), default=None,
              help="Adjust with CT1 only, or through the priority order (default single).")
@click.option("--lag", type=int, default=None, metavar="DAYS",
              help="Settlement lag of margin transfers, 0..30 days (default 0: immediate).")
@click.option("--auto-issue/--no-auto-issue", "auto_issue", default=None,
              help="Mint missing adjustment tokens inside the margin call (default no).")
@click.option("--mta", metavar="AMOUNT", help="Minimum transfer amount (default 0).")
@click.option("--trade-date", metavar="YYYY-MM-DD",
              help="Trade date (default today in Asia/Tokyo, the business time zone).")
@click.option("--start-date", metavar="YYYY-MM-DD", help="Start date (default the trade date).")
@click.option("--end-date", metavar="YYYY-MM-DD", help="End date (or --open).")
@click.option("--open", "open_ended", is_flag=True, default=None,
              help="No end date: closed by early termination or on notice.")
@click.option("--notice-days", type=click.IntRange(0, MAX_NOTICE_DAYS), default=None,
              metavar="DAYS", help="Days of notice that end an open agreement (`agreement "
              "notice`; default 0: it ends on the notice's date).")
@click.option("--substitution-pre-authorised", is_flag=True, default=None,
              help="Collateral substitutions settle without the lender's approval.")
@click.option("--no-early-return", is_flag=True, default=None,
              help="The loan cannot be returned before the end date.")
@click.option("--fee-bps", default=None, metavar="BPS",
              help="Lending fee the borrower pays, basis points per annum on the loan's market "
                   "value (accrued daily, invoiced monthly: `tanpo billing`).")
@click.option("--minimum-fee", default=None, metavar="AMOUNT",
              help="Minimum fee per monthly invoice, base currency (needs --fee-bps).")
@click.option("--rebate", default=None, metavar="PERCENT",
              help="Fixed rebate the lender pays on cash collateral, percent per annum (any "
                   "sign, e.g. 4.5 or -0.25).")
@click.option("--rebate-benchmark", default=None, metavar="NAME",
              help="Floating rebate: this benchmark's fixing posted by the oracle (e.g. SOFR) "
                   "plus --rebate-spread-bps.")
@click.option("--rebate-spread-bps", default=None, metavar="BPS",
              help="Spread over the benchmark, basis points (any sign; default 0).")
@click.option("--day-count", type=click.Choice(["ACT/365F", "ACT/360"]), default=None,
              help="Day count of the accruals (default: the base currency's, ACT/365F for JPY "
                   "and GBP, ACT/360 for USD and EUR).")
@click.option("--file", "terms_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Terms JSON (as `agreement export ID` writes) instead of flags.")
@click.option("--cdm", "cdm_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="A CDM trade JSON (a TradeState, Trade or ExecutionInstruction, "
                                 "as `agreement export ID --cdm` writes or another CDM system "
                                 "does; `tanpo cdm check` shows what it maps to).")
@click.option("--parties", "parties_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="With --cdm: the party map (YAML or JSON) from CDM parties "
                                 "(LEI, name or key) to tanpo parties, as `cdm check` reads it.")
@click.option("--id", "agreement_id", default=None, metavar="ID",
              help="The agreement id (default: from --file/--cdm, else the ledger assigns one).")
@click.option("--reference", default=None, metavar="TEXT",
              help="Your own trade reference, kept in the terms: private to the two parties, "
                   "unlike the agreement id, which events name.")
@click.option("--schedule-id", default=None, metavar="ID",
              callback=checked(lambda v: check_identifier("schedule id", v)),
              help="An eligibility schedule the pair defined (`agreement schedule define`).")
@click.option("--schedule", "schedule_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="The terms' own eligibility schedule, JSON: {assetClasses?, "
                                 "currencies?, minRating?, haircuts?, caps?}.")
@click.option("--dry-run", is_flag=True,
              help="Check and print the terms JSON; submit nothing.")
@JSON_OPTION
def propose(terms_file: Path | None, cdm_file: Path | None, parties_file: Path | None,
            agreement_id: str | None, reference: str | None, schedule_id: str | None,
            schedule_file: Path | None, dry_run: bool, as_json: bool, **flags: Any) -> None:
    """Propose an agreement's terms (you must be the lender or the borrower).

    Terms come from flags, from --file (tanpo terms JSON) or from --cdm (an ISDA/ISLA CDM
    trade). Every quantity and rate is checked before anything is sent.

    \b
    Example:
      tanpo --as bank-a agreement propose --lender bank-a --borrower bank-b \\
        --loan JP8306=1000000 --collateral JPY=600000000 --collateral JP8604=100000 \\
        --base JPY --haircut 0.05 --threshold 0.02 --mode multi --end-date 2025-12-31
    """
    given = [name for name in _TERM_FLAGS if flags.get(name) not in (None, (), False)]
    if terms_file and cdm_file:
        raise click.UsageError("give --file or --cdm, not both")
    if parties_file is not None and cdm_file is None:
        raise click.UsageError("--parties maps the parties of a --cdm trade: give --cdm too")
    if (terms_file or cdm_file) and given:
        raise click.UsageError(f"--{'file' if terms_file else 'cdm'} carries the terms: drop "
                               f"--{given[0].replace('_', '-')}")
    terms: Terms | None = None
    if terms_file is not None:
        try:
            terms = terms_from_json(read_json(terms_file), str(terms_file))
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--file") from None
    elif cdm_file is None:
        terms = _terms_from_flags(flags)
    if terms is not None and agreement_id is not None:
        terms = _with_id(terms, agreement_id)
    if terms is not None and reference is not None:
        terms = dataclasses.replace(terms, reference=reference)
    eligibility = _eligibility(schedule_id, schedule_file)
    if terms is not None and eligibility:
        terms = dataclasses.replace(terms, **eligibility)
    if terms is not None and dry_run:
        echo_json(terms.to_json())
        return

    with session(PARTY_DEFAULT, as_json) as ledger:
        if terms is None:
            assert cdm_file is not None
            terms = _terms_from_cdm(cdm_file, parties_file, ledger)
            if agreement_id is not None:
                terms = _with_id(terms, agreement_id)
            if reference is not None:
                terms = dataclasses.replace(terms, reference=reference)
            if eligibility:
                terms = dataclasses.replace(terms, **eligibility)
            if dry_run:
                echo_json(terms.to_json())
                return
        proposed = ledger.propose(terms)
        settle(ledger)
        me = ledger.party
    if as_json:
        echo_json(proposed.raw)
        return
    t = proposed.terms
    other = t.borrower if me == t.lender else t.lender
    click.echo(f"proposed {proposed.id} ({proposed.status}): {t.lender} lends "
               f"{qty(t.loan_quantity)} {t.loan_token} to {t.borrower} against "
               f"{_legs_text(t)}")
    click.echo(f"{other} approves it with: tanpo --as {other} agreement approve {proposed.id}")


def _eligibility(schedule_id: str | None, schedule_file: Path | None) -> dict[str, Any]:
    """The terms' schedule fields from --schedule-id / --schedule (replacing any in --file)."""
    if schedule_id is not None and schedule_file is not None:
        raise click.UsageError("give --schedule-id or --schedule, not both")
    if schedule_id is not None:
        return {"schedule": None, "schedule_id": schedule_id}
    if schedule_file is not None:
        try:
            sched = schedule_from_json(read_json(schedule_file), str(schedule_file))
        except InputError as exc:
            raise click.BadParameter(str(exc), param_hint="--schedule") from None
        return {"schedule": sched, "schedule_id": ""}
    return {}


def _terms_from_flags(flags: dict[str, Any]) -> Terms:
    missing = [f"--{name}" for name in ("lender", "borrower", "loan", "base")
               if not flags.get(name)]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (or give --file or --cdm)")
    try:
        fee, rebate, day_count = economics(
            fee_bps=flags["fee_bps"], minimum_fee=flags["minimum_fee"], rebate=flags["rebate"],
            rebate_benchmark=flags["rebate_benchmark"],
            rebate_spread_bps=flags["rebate_spread_bps"], day_count=flags["day_count"])
        return terms_from_flags(
            lender=flags["lender"], borrower=flags["borrower"], loan=flags["loan"],
            collateral=flags["collateral"], token_haircuts=flags["token_haircuts"],
            base=flags["base"], haircut=flags["haircut"] or "0",
            threshold=flags["threshold"] or "0", mode=flags["mode"] or "single",
            lag=flags["lag"] or 0, auto_issue=bool(flags["auto_issue"]),
            mta=flags["mta"] or "0", trade_date=flags["trade_date"],
            start_date=flags["start_date"], end_date=flags["end_date"],
            open_ended=bool(flags["open_ended"]), agreement_id="",
            today=business_today(), notice_days=flags["notice_days"] or 0,
            substitution_pre_authorised=bool(flags["substitution_pre_authorised"]),
            no_early_return=bool(flags["no_early_return"]),
            fee=fee, rebate=rebate, day_count=day_count,
        )
    except InputError as exc:
        raise click.UsageError(str(exc)) from None


def _terms_from_cdm(path: Path, parties_file: Path | None, ledger: Ledger) -> Terms:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror or exc}",
                                 param_hint="--cdm") from None
    parties = party_map(parties_file)
    try:
        doc = cdm.loads(text)
        tokens = {t.id: t for t in ledger.tokens()}
        return proposed_terms(doc, tokens, parties)
    except cdm.CdmError as exc:
        raise click.BadParameter(f"{path}: cannot map {exc}", param_hint="--cdm") from None


def _with_id(terms: Terms, agreement_id: str) -> Terms:
    from dataclasses import replace

    return replace(terms, id=agreement_id)


def _legs_text(t: Terms) -> str:
    return ", ".join(f"{qty(c.quantity)} {c.token}" for c in t.collateral)


# ---- decisions ------------------------------------------------------------------------------


def _last_transfers(a: Agreement) -> list[Json]:
    history = a.raw.get("history") or []
    return list(history[-1].get("transfers") or []) if history else []


def _report(verb: str, a: Agreement, as_json: bool) -> None:
    if as_json:
        echo_json(a.raw)
        return
    click.echo(f"{verb} {a.id}: now {a.status}")
    moves = _last_transfers(a)
    if moves:
        table = new_table("settled in this transaction")
        for name in ("leg", "token"):
            table.add_column(name, no_wrap=True)
        table.add_column("quantity", justify="right", no_wrap=True)
        table.add_column("from → to", no_wrap=True)
        for m in moves:
            table.add_row(str(m.get("leg", "")), str(m.get("token", "")),
                          qty(int(m.get("quantity") or 0)),
                          f"{m.get('from', '?')} → {m.get('to', '?')}"
                          + (" (held under the agreement)" if m.get("held") and
                             m.get("to") == a.terms.lender else ""))
        console().print(table)


def _step(verb: str, as_json: bool, act: Callable[[Ledger], Agreement]
          ) -> tuple[Agreement, str]:
    """One life-cycle step as the acting party: submit, settle on every peer, report. Returns the
    agreement and who acted."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        a = act(ledger)
        settle(ledger)
        me = ledger.party
    _report(verb, a, as_json)
    return a, me


@agreement.command("approve")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def approve(agreement_id: str, as_json: bool) -> None:
    """Approve a proposal (the proposer's counterparty): the opening exchange, all or nothing."""
    _step("approved", as_json, lambda ledger: ledger.approve(agreement_id))


@agreement.command("reject")
@click.argument("agreement_id", metavar="ID")
@click.option("--reason", required=True, help="Why (kept in the history).")
@JSON_OPTION
def reject(agreement_id: str, reason: str, as_json: bool) -> None:
    """Reject a proposal (the proposer's counterparty)."""
    _step("rejected", as_json, lambda ledger: ledger.reject(agreement_id, reason))


@agreement.command("withdraw")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def withdraw(agreement_id: str, as_json: bool) -> None:
    """Withdraw your own proposal before it is approved."""
    _step("withdrew", as_json, lambda ledger: ledger.withdraw(agreement_id))


@agreement.command("close")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def close(agreement_id: str, as_json: bool) -> None:
    """Close an active agreement at or after its end date: the closing exchange (the borrower
    returns the loan, the lender the collateral it holds). Before the end date, or for an open
    agreement, use `terminate` and `accept-termination`."""
    _step("closed", as_json, lambda ledger: ledger.close(agreement_id))


@agreement.command("terminate")
@click.argument("agreement_id", metavar="ID")
@click.option("--note", default="", help="A note for the counterparty.")
@JSON_OPTION
def terminate(agreement_id: str, note: str, as_json: bool) -> None:
    """Request early termination of an active agreement (either party); the counterparty
    accepts with `accept-termination`."""
    a, me = _step("requested the termination of", as_json,
                  lambda ledger: ledger.request_termination(agreement_id, note))
    if not as_json:
        other = a.terms.borrower if me == a.terms.lender else a.terms.lender
        click.echo(f"{other} accepts with: tanpo --as {other} agreement accept-termination "
                   f"{a.id}")


@agreement.command("accept-termination")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def accept_termination(agreement_id: str, as_json: bool) -> None:
    """Accept the counterparty's termination request: the closing exchange."""
    _step("terminated", as_json, lambda ledger: ledger.accept_termination(agreement_id))


@agreement.command("cancel-termination")
@click.argument("agreement_id", metavar="ID")
@click.option("--reason", default="", help="Why (kept in the history).")
@JSON_OPTION
def cancel_termination(agreement_id: str, reason: str, as_json: bool) -> None:
    """Withdraw your termination request, or decline the counterparty's."""
    _step("cancelled the termination request of", as_json,
          lambda ledger: ledger.cancel_termination(agreement_id, reason))


# ---- life cycle: recall, return, notice, substitution, buy-in --------------------------------


def _date_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--date", "value_date", default=None, metavar="YYYY-MM-DD",
                        callback=_checked_date("--date"), help=help_text)


def _checked_date(what: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return parse_date(value, what)
        except InputError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


def _checked_quantity(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_quantity(value, "quantity")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def _checked_legs(ctx: click.Context, param: click.Parameter,
                  value: tuple[str, ...]) -> dict[str, int]:
    legs: dict[str, int] = {}
    flag = f"--{param.name}"
    try:
        for item in value:
            token, text = parse_pair(item, flag)
            if token in legs:
                raise InputError(f"{flag} {token} is given twice")
            legs[token] = parse_quantity(text, f"{flag} quantity of {token}")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None
    return legs


_ID = click.argument("agreement_id", metavar="ID",
                     callback=checked(lambda v: check_identifier("agreement id", v)))
_NOTE = click.option("--note", default="", callback=text_option("note"),
                     help="A note for the counterparty (kept with the step).")


@agreement.command("recall")
@_ID
@click.argument("quantity", metavar="QUANTITY", callback=_checked_quantity)
@_date_option("The recall's date (default: today, the ledger's business date).")
@click.option("--due", default=None, metavar="YYYY-MM-DD", callback=_checked_date("--due"),
              help="Return due by (default: the date plus 2 business days, Monday to Friday; "
                   "market holidays are not known to the client: give --due over one).")
@_NOTE
@JSON_OPTION
def recall(agreement_id: str, quantity: int, value_date: date | None, due: date | None, note: str,
           as_json: bool) -> None:
    """Recall QUANTITY units of the loan (the lender): the borrower returns them by the due
    date with `agreement return`; a recall not returned by then fails, and the lender may then
    `buy-in`."""
    a, _ = _step("recalled", as_json,
                 lambda ledger: ledger.recall(agreement_id, quantity, date=value_date, due=due,
                                              note=note))
    if not as_json and a.recalls:
        r = a.recalls[-1]
        click.echo(f"{r.id}: {qty(r.quantity)} {a.terms.loan_token} due {r.due.isoformat()}; "
                   f"{a.terms.borrower} returns with: tanpo --as {a.terms.borrower} agreement "
                   f"return {a.id} {r.quantity}")


@agreement.command("return")
@_ID
@click.argument("quantity", metavar="QUANTITY", callback=_checked_quantity)
@_date_option("Value date (default: the latest date with posted prices, up to today).")
@JSON_OPTION
def return_loan(agreement_id: str, quantity: int, value_date: date | None, as_json: bool) -> None:
    """Return QUANTITY units of the loan (the borrower). A part return releases the excess
    collateral at the date's prices and counts against recalls, oldest first; the whole loan
    closes the agreement (the closing exchange)."""
    _step(f"returned {qty(quantity)} under", as_json,
          lambda ledger: ledger.return_loan(agreement_id, quantity, date=value_date))


@agreement.command("notice")
@_ID
@_date_option("The notice's date (default: today, the ledger's business date).")
@_NOTE
@JSON_OPTION
def notice(agreement_id: str, value_date: date | None, note: str, as_json: bool) -> None:
    """Give notice ending an open agreement (either party, alone): it ends the terms' notice
    days after the date, and is then closed like an agreement at its end date."""
    a, _ = _step("gave notice on", as_json,
                 lambda ledger: ledger.give_notice(agreement_id, date=value_date, note=note))
    if not as_json and a.notice is not None:
        click.echo(f"ends on {a.notice.effective.isoformat()}")


@agreement.command("substitute")
@_ID
@click.option("--out", "out", multiple=True, required=True, metavar="TOKEN=QTY",
              callback=_checked_legs, help="Collateral to take back (repeatable).")
@click.option("--in", "in_", multiple=True, required=True, metavar="TOKEN=QTY",
              callback=_checked_legs, help="Collateral to deliver instead (repeatable).")
@_date_option("Value date (default: the latest date with posted prices, up to today).")
@JSON_OPTION
def substitute(agreement_id: str, out: dict[str, int], in_: dict[str, int], value_date: date | None,
               as_json: bool) -> None:
    """Substitute collateral (the borrower): take back --out, deliver --in, refused when the
    collateral would then be worth less than the loan at the date's prices. It settles at once
    when the terms pre-authorise substitutions, else waits for the lender's
    `approve-substitution`."""
    a, _ = _step("requested a substitution under", as_json,
                 lambda ledger: ledger.substitute(agreement_id, out, in_, date=value_date))
    if not as_json:
        if a.substitution is not None:
            lender = a.terms.lender
            click.echo(f"waiting for {lender}: tanpo --as {lender} agreement "
                       f"approve-substitution {a.id}")
        else:
            click.echo("substituted (pre-authorised)")


@agreement.command("approve-substitution")
@_ID
@JSON_OPTION
def approve_substitution(agreement_id: str, as_json: bool) -> None:
    """Approve the borrower's pending substitution (the lender): it settles at the prices of
    the date it was requested for."""
    _step("substituted collateral under", as_json,
          lambda ledger: ledger.approve_substitution(agreement_id))


@agreement.command("cancel-substitution")
@_ID
@click.option("--reason", default="", callback=text_option("reason"),
              help="Why (kept in the history).")
@JSON_OPTION
def cancel_substitution(agreement_id: str, reason: str, as_json: bool) -> None:
    """Withdraw your pending substitution (the borrower), or decline it (the lender)."""
    _step("cancelled the substitution of", as_json,
          lambda ledger: ledger.cancel_substitution(agreement_id, reason))


@agreement.command("buy-in")
@_ID
@_date_option("Value date (default: the latest date with posted prices, up to today).")
@JSON_OPTION
def buy_in(agreement_id: str, value_date: date | None, as_json: bool) -> None:
    """Buy in what the borrower failed to return (the lender): the unreturned part of failed
    recalls, or the whole loan of a MATURED agreement. The lender keeps collateral worth it at
    the date's prices; the rest is released, all of it (closing the agreement) when nothing
    remains lent."""
    a, _ = _step("bought in under", as_json,
                 lambda ledger: ledger.buy_in(agreement_id, date=value_date))
    if not as_json and a.buy_ins:
        b = a.buy_ins[-1]
        click.echo(f"{qty(b.quantity)} {a.terms.loan_token} bought in on {b.date.isoformat()}: "
                   f"owed {show_value(b.owed)} {a.terms.base_currency}, uncovered "
                   f"{show_value(b.uncovered)}")


# ---- eligibility schedules ------------------------------------------------------------------


@agreement.group("schedule", cls=TanpoGroup)
def schedule() -> None:
    """Eligibility schedules a pair defines once and names in its terms (--schedule-id)."""


@schedule.command("define")
@click.option("--with", "counterparty", required=True, metavar="PARTY",
              callback=checked(check_party), help="The counterparty of the pair, e.g. bank-b.")
@click.option("--id", "schedule_id", required=True, metavar="ID",
              callback=checked(lambda v: check_identifier("schedule id", v)),
              help="The schedule's id in the pair (immutable once defined).")
@click.argument("schedule_file", metavar="[FILE.json]", required=False,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--asset-class", "asset_classes", multiple=True, metavar="CLASS",
              help="An eligible asset class (repeatable; default any).")
@click.option("--currency", "currencies", multiple=True, metavar="CCY",
              help="An eligible currency (repeatable; default any).")
@click.option("--min-rating", default="", metavar="RATING",
              help="Minimum credit rating, S&P scale (e.g. A-; cash is exempt, unrated is not "
                   "eligible).")
@click.option("--haircut", "haircuts", multiple=True, metavar="token:ID=H|class:CLASS=H",
              help="A haircut by token or asset class, in [0, 1) (repeatable).")
@click.option("--cap", "caps", multiple=True, metavar="BY[:KEY]=MAX",
              help="A concentration cap on the share of the collateral's market value: "
                   "issuer=0.5 (each issuer), assetClass:equity=0.3, token:JP8306=0.25 "
                   "(repeatable).")
@click.option("--dry-run", is_flag=True, help="Check and print the schedule JSON; send nothing.")
@JSON_OPTION
def define_schedule(counterparty: str, schedule_id: str, schedule_file: Path | None,
                    asset_classes: tuple[str, ...], currencies: tuple[str, ...],
                    min_rating: str, haircuts: tuple[str, ...], caps: tuple[str, ...],
                    dry_run: bool, as_json: bool) -> None:
    """Define an eligibility schedule for your pair with --with (either bank of the pair), from
    FILE.json (`{"assetClasses"?, "currencies"?, "minRating"?, "haircuts"?, "caps"?}`) or from
    the flags. It never changes: an agreement that names it was approved under exactly these
    rules; define another id for other rules.

    \b
    Example:
      tanpo --as bank-a agreement schedule define --with bank-b --id GOV-A \\
        --asset-class bond --asset-class cash --min-rating A- --cap issuer=0.5
    """
    flags = bool(asset_classes or currencies or min_rating or haircuts or caps)
    if schedule_file is not None and flags:
        raise click.UsageError("FILE.json carries the schedule: drop the rule flags")
    try:
        if schedule_file is not None:
            data = read_json(schedule_file)
            if isinstance(data, dict) and data.get("id") not in (None, schedule_id):
                raise InputError(f"{schedule_file}: its id {data['id']!r} is not --id "
                                 f"{schedule_id}")
            sched = schedule_from_json(data, str(schedule_file))
        else:
            sched = schedule_from_parts(asset_classes=asset_classes, currencies=currencies,
                                        min_rating=min_rating, haircuts=haircuts, caps=caps)
    except InputError as exc:
        raise click.UsageError(str(exc)) from None
    doc = {"id": schedule_id, **sched.to_json()}
    if dry_run:
        echo_json(doc)
        return
    with session(PARTY_DEFAULT, as_json) as ledger:
        receipt = ledger.define_schedule(counterparty, schedule_id, sched)
        settle(ledger)
        me = ledger.party
    if as_json:
        echo_json({**doc, "txId": receipt.get("txId", "")})
        return
    click.echo(f"defined schedule {schedule_id} for {me} and {counterparty} "
               f"(tx {receipt.get('txId', '?')})")
    click.echo(schedule_text(sched))
    click.echo(f"terms name it with: tanpo agreement propose … --schedule-id {schedule_id}")


# ---- reads ----------------------------------------------------------------------------------


def terms_rows(t: Terms) -> list[Row]:
    return [
        Row("lender", t.lender), Row("borrower", t.borrower),
        Row("loan", f"{qty(t.loan_quantity)} {t.loan_token}"),
        Row("base currency", t.base_currency),
        Row("haircut", pct(t.haircut)), Row("threshold", pct(t.threshold)),
        Row("adjustment mode", t.mode),
        Row("settlement lag", f"{t.settlement_lag_days} day(s)"),
        Row("auto-issue", "yes" if t.auto_issue else "no"),
        Row("minimum transfer", dec(t.minimum_transfer_amount)),
        Row("trade / start / end", f"{day(t.trade_date)} / {day(t.start_date)} / "
                                   f"{day(t.end_date)}"),
        Row("notice period", f"{t.notice_days} day(s)"),
        Row("substitution", "pre-authorised" if t.substitution_pre_authorised
            else "with the lender's approval"),
        Row("early return", "not before the end date" if t.no_early_return else "allowed"),
        *economics_rows(t),
        *schedule_rows(t),
        *cdm_extras_rows(t),
    ]


def cdm_extras_rows(t: Terms) -> list[Row]:
    """The CDM fields the terms keep verbatim (``cdmExtras``), by top-level key (`--json`
    prints them whole)."""
    if not t.cdm_extras:
        return []
    keys = sorted(t.cdm_extras)
    shown = ", ".join(keys[:8]) + (f", … ({len(keys)} in all)" if len(keys) > 8 else "")
    return [Row("CDM extras", shown)]


def schedule_text(sc: Schedule) -> str:
    """A schedule in a line per rule."""
    lines = [f"asset classes: {', '.join(sc.asset_classes) or 'any'}",
             f"currencies: {', '.join(sc.currencies) or 'any'}",
             f"minimum rating: {sc.min_rating or 'none'} (cash exempt)"
             if sc.min_rating else "minimum rating: none"]
    if sc.haircuts:
        lines.append("haircuts: " + ", ".join(f"{k} {pct(v)}"
                                              for k, v in sorted(sc.haircuts.items())))
    for c in sc.caps:
        group = f"{c.by} {c.key}" if c.key else f"each {c.by}"
        lines.append(f"cap: {group} at most {pct(c.max)} of the collateral's market value")
    return "\n".join(lines)


def schedule_rows(t: Terms) -> list[Row]:
    """The eligibility schedule the terms carry, or the id of the pair's one they name."""
    if t.schedule_id:
        return [Row("eligibility", f"schedule {t.schedule_id} (defined for the pair)")]
    if t.schedule is not None:
        return [Row("eligibility", schedule_text(t.schedule))]
    return [Row("eligibility", "any collateral leg (no schedule)")]


#: The day count each base currency accrues with unless the terms name one (the chaincode's).
DEFAULT_DAY_COUNTS = {"JPY": "ACT/365F", "GBP": "ACT/365F", "USD": "ACT/360", "EUR": "ACT/360"}


def economics_rows(t: Terms) -> list[Row]:
    """The lending fee, the cash rebate and the day count, as details rows."""
    if t.fee is None and t.rebate is None:
        return [Row("fees and rebates", "none")]
    rows = []
    if t.fee is not None:
        text = f"{dec(t.fee.bps)} bp p.a. on the loan's market value (the borrower pays)"
        if t.fee.minimum is not None:
            text += f"; minimum {show_value(t.fee.minimum)} {t.base_currency} per month"
        rows.append(Row("lending fee", text))
    if t.rebate is not None:
        r = t.rebate
        if r.fixed is not None:
            text = f"{dec(r.fixed)}% p.a. fixed"
        else:
            spread = r.spread_bps or Fraction(0)
            text = (f"{r.benchmark} fixing {'+' if spread >= 0 else '-'} {dec(abs(spread))} bp"
                    " p.a.")
        rows.append(Row("cash rebate", f"{text} on cash collateral (the lender pays)"))
    default = DEFAULT_DAY_COUNTS.get(t.base_currency, "")
    rows.append(Row("day count", t.day_count or (f"{default} ({t.base_currency}'s default)"
                                                 if default else "the base currency's")))
    return rows


@agreement.command("show")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def show(agreement_id: str, as_json: bool) -> None:
    """Show an agreement's status and terms (its parties and the operator may read it)."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        a = ledger.agreement(agreement_id)
        failed = any(r.status == "FAILED" for r in a.recalls)
        # a failed recall's age counts in the ledger's business days
        today = _ledger_today(ledger) if failed and not as_json else business_today()
    if as_json:
        echo_json(a.raw)
        return
    rows = [Row("status", a.status), Row("proposed by", a.proposer), *terms_rows(a.terms)]
    termination = a.raw.get("termination")
    if termination:
        note = f" ({termination['note']})" if termination.get("note") else ""
        rows.append(Row("termination", f"requested by {termination.get('requestedBy', '?')} "
                                       f"at {termination.get('requestedAt', '?')}{note}"))
    rows += lifecycle_rows(a)
    details(f"agreement {a.id}", rows)
    table = new_table("collateral legs (priority order)")
    table.add_column("priority", no_wrap=True)
    table.add_column("token", no_wrap=True)
    table.add_column("initial quantity", justify="right", no_wrap=True)
    table.add_column("haircut", justify="right", no_wrap=True)
    for i, leg in enumerate(a.terms.collateral, start=1):
        table.add_row(f"CT{i}", leg.token, qty(leg.quantity),
                      pct(leg.haircut) if leg.haircut is not None
                      else f"{pct(a.terms.haircut)} (agreement)")
    console().print(table)
    print_lifecycle(a, today)


def lifecycle_rows(a: Agreement) -> list[Row]:
    """The notice and a pending substitution, as details rows."""
    rows = []
    if a.notice is not None:
        n = a.notice
        rows.append(Row("notice given", f"by {n.by} on {n.date.isoformat()}, ends on "
                                        f"{n.effective.isoformat()}"
                                        + (f" ({n.note})" if n.note else "")))
    if a.substitution is not None:
        sub = a.substitution
        rows.append(Row("substitution pending",
                        f"out {_legs_of(sub.out)}; in {_legs_of(sub.in_)} on "
                        f"{sub.date.isoformat()}: waiting for {a.terms.lender}"))
    return rows


def _legs_of(legs: dict[str, int]) -> str:
    return ", ".join(f"{qty(q)} {t}" for t, q in legs.items()) or "-"


def print_lifecycle(a: Agreement, today: date) -> None:
    """Recalls (a failed one with its age in days since its due date), buy-ins and settlement
    fails, each as a table when there are any."""
    if a.recalls:
        table = new_table(f"recalls of {a.terms.loan_token}")
        for name in ("id", "date", "due", "quantity", "returned", "status", "age", "note"):
            table.add_column(name, no_wrap=name != "note",
                             justify="right" if name in ("quantity", "returned", "age")
                             else "left")
        for r in a.recalls:
            age = r.age_days(today)
            table.add_row(r.id, r.date.isoformat(), r.due.isoformat(), qty(r.quantity),
                          qty(r.returned), r.status,
                          "-" if age is None else f"{age} day(s)", r.note or "-")
        console().print(table)
    if a.buy_ins:
        table = new_table("buy-ins")
        for name in ("date", "quantity", f"owed ({a.terms.base_currency})", "uncovered",
                     "collateral kept"):
            table.add_column(name, no_wrap=True,
                             justify="left" if name in ("date", "collateral kept") else "right")
        for b in a.buy_ins:
            table.add_row(b.date.isoformat(), qty(b.quantity), show_value(b.owed),
                          show_value(b.uncovered),
                          ", ".join(f"{qty(k.quantity)} {k.token}" for k in b.kept) or "-")
        console().print(table)
    if a.fails:
        table = new_table("settlement fails (retried every cycle)")
        for name in ("date", "step", "party", "token", "needed", "missing"):
            table.add_column(name, no_wrap=True,
                             justify="right" if name in ("needed", "missing") else "left")
        for f in a.fails:
            table.add_row(f.date.isoformat(), f.step, f.party, f.token, qty(f.quantity),
                          qty(f.missing))
        console().print(table)


def _ledger_today(ledger: Ledger) -> date:
    text = str(ledger.platform_settings().get("businessDate") or "")
    try:
        return date.fromisoformat(text)
    except ValueError:
        return business_today()


@agreement.command("list")
@click.option("--party", default="", help="Only this party's (default: yours; the operator "
              "sees every party's).")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@JSON_OPTION
def list_agreements(party: str, status: str | None, as_json: bool) -> None:
    """List agreements."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        found = sorted(ledger.agreements(party, status or ""), key=lambda a: a.id)
    if as_json:
        echo_json([a.raw for a in found])
        return
    if not found:
        click.echo("no agreements")
        return
    table = new_table("agreements")
    for name in ("id", "status", "lender", "borrower", "loan", "collateral", "start → end"):
        table.add_column(name, no_wrap=name in ("id", "status"))
    for a in found:
        t = a.terms
        table.add_row(a.id, a.status, t.lender, t.borrower, f"{qty(t.loan_quantity)} "
                      f"{t.loan_token}", _legs_text(t),
                      f"{day(t.start_date)} → {day(t.end_date)}")
    console().print(table)


@agreement.command("history")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def history(agreement_id: str, as_json: bool) -> None:
    """Show every action on an agreement, margin calls included, with the transfers each
    settled (a margin call's note is its valuation date and whether it triggered)."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        a = ledger.agreement(agreement_id)
        calls = (ledger.margin_calls(agreement_id)
                 if a.status in (*OPEN_LOAN_STATUSES, "CLOSED") else [])
    entries = history_entries(a, calls)
    if as_json:
        echo_json(entries)
        return
    table = new_table(f"history of {a.id}")
    for name in ("time", "action", "status", "party", "note", "transfers"):
        table.add_column(name, no_wrap=name in ("time", "action", "status", "party"))
    for h in entries:
        moves = "\n".join(f"{qty(int(m.get('quantity') or 0))} {m.get('token', '?')} "
                          f"{m.get('from', '?')}→{m.get('to', '?')}"
                          for m in h.get("transfers") or [])
        table.add_row(str(h.get("timestamp", "")), str(h.get("action", "")),
                      str(h.get("status", "")), str(h.get("party", "")),
                      str(h.get("note", "")) or "-", moves or "-")
    console().print(table)


def history_entries(a: Agreement, calls: Sequence[MarginCall]) -> list[Json]:
    """The agreement's life-cycle actions (its record's history) and its margin calls (records of
    their own on the ledger) as one list in time order. A margin call reads as an action
    ``MARGIN_CALL`` by the party that ran it, with its valuation ``date``, ``triggered`` and the
    call's transfers."""
    entries: list[Json] = list(a.raw.get("history") or [])
    for c in calls:
        entries.append({
            "action": "MARGIN_CALL", "status": "ACTIVE",
            "party": str(c.raw.get("calledBy", "")), "txId": c.tx_id,
            "timestamp": str(c.raw.get("timestamp", "")), "date": c.date.isoformat(),
            "triggered": c.triggered,
            "note": f"{c.date.isoformat()}: {'triggered' if c.triggered else 'not triggered'}",
            "transfers": list(c.raw.get("transfers") or []),
        })
    # RFC 3339 UTC timestamps from the chaincode sort as text; ties keep the record's order
    return sorted(entries, key=lambda h: str(h.get("timestamp", "")))


@agreement.command("collateral")
@click.argument("agreement_id", metavar="ID")
@JSON_OPTION
def collateral(agreement_id: str, as_json: bool) -> None:
    """Show the collateral the lender holds under an agreement, and pending (lagged) margin
    transfers."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        report = ledger.collateral_report(agreement_id)
    if as_json:
        echo_json(report.raw)
        return
    table = new_table(f"collateral held by {report.lender} under {report.agreement} "
                        f"({report.status})")
    table.add_column("priority", no_wrap=True)
    table.add_column("token", no_wrap=True)
    table.add_column("held", justify="right", no_wrap=True)
    for p in sorted(report.positions, key=lambda p: p.priority):
        table.add_row(f"CT{p.priority}", p.token, qty(p.held))
    console().print(table)
    if report.pending:
        pending = new_table("pending margin transfers (settlement lag)")
        for name in ("token", "quantity", "from → to", "trade → settle"):
            pending.add_column(name, no_wrap=True)
        for m in report.pending:
            pending.add_row(m.token, qty(m.quantity), f"{m.sender} → {m.receiver}",
                            f"{day(m.trade_date, '-')} → {day(m.settle_date, '-')}")
        console().print(pending)


@agreement.command("export")
@click.argument("agreement_id", metavar="ID")
@click.option("--cdm", "as_cdm", is_flag=True,
              help="Write ISDA/ISLA CDM JSON (default: tanpo terms JSON for `propose --file`).")
@click.option("--events", "as_events", is_flag=True,
              help="With --cdm: the agreement's life as CDM BusinessEvents (its history and "
                   "margin calls, in order), the steps of a CDM Workflow.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
def export(agreement_id: str, as_cdm: bool, as_events: bool, out: Path | None) -> None:
    """Export an agreement's terms: as tanpo terms JSON, or with --cdm as a CDM TradeState
    (`agreement propose --cdm FILE` reads it back to the same terms); with --cdm --events, its
    life as CDM BusinessEvents (`tanpo.client.cdm.events` documents the mapping)."""
    if as_events and not as_cdm:
        raise click.UsageError("--events needs --cdm")
    with session(PARTY_DEFAULT, False) as ledger:
        a = ledger.agreement(agreement_id)
        tokens: dict[str, Token] = {}
        if as_cdm:
            for token_id in [a.terms.loan_token, *(c.token for c in a.terms.collateral)]:
                tokens[token_id] = ledger.token(token_id)
        approved = any(h.action == "APPROVED" for h in a.history)
        calls = ledger.margin_calls(a.id) if as_events and approved else []
    if as_cdm:
        text = cdm.dumps(cdm.agreement_workflow(a, tokens, calls) if as_events
                         else cdm.agreement_to_cdm(a, tokens))
        t = a.terms
        if t.notice_days or t.substitution_pre_authorised or t.no_early_return:
            click.echo("warning: the CDM mapping does not carry the life-cycle terms (notice "
                       "days, pre-authorised substitution, no early return): export without "
                       "--cdm to keep them", err=True)
        if t.fee is not None or t.rebate is not None or t.day_count:
            click.echo("warning: the CDM mapping does not carry the fee, rebate and day count: "
                       "export without --cdm to keep them", err=True)
    else:

        terms = a.terms if a.terms.id else _with_id(a.terms, a.id)
        text = json_text(terms.to_json(), indent=2) + "\n"
    what = "CDM events" if as_events else "CDM" if as_cdm else "terms"
    write_or_echo(text, out, f"{a.id} ({what} JSON)")
