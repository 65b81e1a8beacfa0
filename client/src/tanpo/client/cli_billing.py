"""``tanpo billing …``: a pair's monthly invoices of lending fees and cash rebates.

::

    tanpo [--as ORG[/USER]] billing issue MONTH --with PARTY [--with PARTY] [--currency CCY]
    tanpo [--as ORG[/USER]] billing show MONTH --with PARTY [--currency CCY] [--json]
    tanpo [--as ORG[/USER]] billing pay MONTH --with PARTY --token TOKEN [--currency CCY]
    tanpo [--as ORG[/USER]] billing query MONTH AGREEMENT --with PARTY --note TEXT
    tanpo [--as ORG[/USER]] billing export MONTH --with PARTY [--cdm] [--out FILE]

An invoice belongs to a pair of banks, a month (``YYYY-MM``) and a currency (default JPY): a bank
names its counterparty with ``--with``; the oracle (``--as operator/User1``) names both banks
(``--with bank-a --with bank-b``) and may only issue. Amounts are shown as exact decimals
(``≈`` when rounded for display); ``--json`` prints the invoice as the chaincode stores it, every
amount an exact ``"n"``/``"n/d"`` string. Exit codes as every participant command.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from tanpo.client import cdm
from tanpo.client.cli_common import (
    PARTY_DEFAULT,
    Ledger,
    Row,
    TanpoGroup,
    check_identifier,
    check_party,
    checked,
    console,
    details,
    echo_json,
    new_table,
    qty,
    session,
    settle,
    text_option,
    write_or_echo,
)
from tanpo.client.cli_margin import show_value
from tanpo.client.cli_terms import InputError, parse_currency
from tanpo.client.models import Invoice, InvoiceReceipt
from tanpo.client.pairs import pair_collection

__all__ = ["billing", "invoice_rows"]

_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

JSON_OPTION = click.option("--json", "as_json", is_flag=True,
                           help="Print the ledger's answer as JSON (exact values), for scripts.")


def _check_month(value: str) -> str:
    if not _MONTH.fullmatch(value):
        raise click.BadParameter(f"{value[:20]!r} is not a month YYYY-MM, such as 2025-06")
    return value


def _check_currency(value: str) -> str:
    try:
        return parse_currency(value, "--currency")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


_MONTH_ARG = click.argument("month", metavar="MONTH", callback=checked(_check_month))
_CURRENCY = click.option("--currency", default="JPY", show_default=True, metavar="CCY",
                         callback=checked(_check_currency),
                         help="The invoice's currency (its agreements' base currency).")


_WITH = click.option("--with", "counterparty", required=True, metavar="PARTY",
                     callback=checked(check_party), help="The counterparty bank of the pair.")


def _receipt_json(r: InvoiceReceipt) -> dict[str, str]:
    return {"invoice": r.invoice, "status": r.status, "txId": r.tx_id}


@click.group("billing", cls=TanpoGroup)
def billing() -> None:
    """Monthly invoices of lending fees and cash-collateral rebates, per pair and currency.

    After a month ends, either bank of a pair (or the oracle) issues its invoice: each
    agreement's line is the month's accrued fee (raised to the terms' minimum) less the rebate,
    and the lines net into what one bank owes the other, rounded to whole units of the cash
    token. The payer pays it with a cash-token transfer; either bank may query a line.
    """


@billing.command("issue")
@_MONTH_ARG
@click.option("--with", "parties", required=True, multiple=True, metavar="PARTY",
              callback=checked(check_party),
              help="The counterparty bank; the oracle names both banks (give it twice).")
@_CURRENCY
@JSON_OPTION
def issue(month: str, parties: tuple[str, ...], currency: str, as_json: bool) -> None:
    """Issue the invoice of MONTH (YYYY-MM, ended on the ledger's business date) for the pair:
    either bank of it, or the oracle. A month is invoiced once."""
    if len(parties) > 2 or len(set(parties)) != len(parties):
        raise click.BadParameter("give the counterparty, or (the oracle) the pair's two banks",
                                 param_hint="--with")
    with session(PARTY_DEFAULT, as_json) as ledger:
        if len(parties) == 2:
            pair = pair_collection(*parties)
            receipt = ledger.issue_invoice(month, currency, pair=pair)
        elif parties[0] == ledger.party:
            raise click.BadParameter(f"{parties[0]} is you: name the counterparty",
                                     param_hint="--with")
        elif ledger.party == "operator":
            raise click.BadParameter("the oracle names both banks of the pair: give --with "
                                     "twice", param_hint="--with")
        else:
            pair = pair_collection(ledger.party, parties[0])
            receipt = ledger.issue_invoice(month, currency, parties[0])
        settle(ledger)
    if as_json:
        echo_json(_receipt_json(receipt))
        return
    click.echo(f"issued {receipt.invoice} in {pair} ({receipt.status}), transaction "
               f"{receipt.tx_id}")
    if len(parties) == 1:
        click.echo(f"read it with: tanpo billing show {month} --with {parties[0]} "
                   f"--currency {currency}")


def invoice_rows(inv: Invoice) -> list[Row]:
    """The invoice's head, as details rows."""
    rows = [Row("pair", inv.pair), Row("month", inv.month), Row("currency", inv.currency),
            Row("status", inv.status),
            Row("payer → payee", f"{inv.payer} → {inv.payee}"),
            Row("net (exact)", f"{show_value(inv.net)} {inv.currency}"),
            Row("amount due", f"{qty(inv.amount)} {inv.currency} (whole units)"),
            Row("due date", inv.due_date.isoformat()),
            Row("issued by", f"{inv.issued_by or '?'} in {inv.issue_tx or '?'}")]
    if inv.status == "PAID":
        rows.append(Row("paid", f"with {inv.paid_with or '?'} in {inv.paid_tx or '?'}"))
    return rows


def print_invoice(inv: Invoice) -> None:
    details(f"invoice {inv.id}", invoice_rows(inv))
    table = new_table(f"lines ({inv.currency}; net owed by the borrower to the lender)")
    table.add_column("agreement", no_wrap=True)
    table.add_column("lender → borrower", no_wrap=True)
    table.add_column("days", justify="right", no_wrap=True)
    for name in ("fee accrued", "minimum top-up", "fee charged", "rebate", "net"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("query")
    for line in inv.lines:
        query = f"{line.query.by}: {line.query.note}" if line.query else "-"
        table.add_row(line.agreement, f"{line.lender} → {line.borrower}", str(line.days),
                      show_value(line.fee_accrued), show_value(line.minimum_top_up),
                      show_value(line.fee_charged), show_value(line.rebate),
                      show_value(line.net), query)
    table.add_section()
    table.add_row("total", "", "", show_value(sum((x.fee_accrued for x in inv.lines), 0)),
                  show_value(sum((x.minimum_top_up for x in inv.lines), 0)),
                  show_value(sum((x.fee_charged for x in inv.lines), 0)),
                  show_value(sum((x.rebate for x in inv.lines), 0)),
                  f"{show_value(inv.net)} ({inv.payer} → {inv.payee})", "")
    console().print(table)
    if inv.queries:
        click.echo(f"{len(inv.queries)} line(s) queried: "
                   + "; ".join(f"{a} by {q.by} ({q.note})" for a, q in inv.queries))


def _read(ledger: Ledger, month: str, currency: str, counterparty: str) -> Invoice:
    return ledger.invoice(month, currency, counterparty)


@billing.command("show")
@_MONTH_ARG
@_WITH
@_CURRENCY
@JSON_OPTION
def show(month: str, counterparty: str, currency: str, as_json: bool) -> None:
    """Show the pair's invoice of MONTH: its lines, total, payer → payee, amount, due date,
    status and queries (either bank of the pair)."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        inv = _read(ledger, month, currency, counterparty)
    if as_json:
        echo_json(inv.raw)
        return
    print_invoice(inv)


@billing.command("pay")
@_MONTH_ARG
@_WITH
@click.option("--token", required=True, metavar="TOKEN",
              callback=checked(lambda v: check_identifier("token id", v)),
              help="The cash token to pay with (in the invoice's currency).")
@_CURRENCY
@JSON_OPTION
def pay(month: str, counterparty: str, token: str, currency: str, as_json: bool) -> None:
    """Pay the pair's invoice of MONTH (its payer): a transfer of its amount in TOKEN to the
    payee, which marks it PAID."""
    with session(PARTY_DEFAULT, as_json) as ledger:
        receipt = ledger.pay_invoice(month, currency, token, counterparty)
        settle(ledger)
    if as_json:
        echo_json(_receipt_json(receipt))
        return
    click.echo(f"paid {receipt.invoice} with {token} ({receipt.status}), transaction "
               f"{receipt.tx_id}")


@billing.command("query")
@_MONTH_ARG
@click.argument("agreement_id", metavar="AGREEMENT",
                callback=checked(lambda v: check_identifier("agreement id", v)))
@_WITH
@click.option("--note", required=True, callback=text_option("note"),
              help="The question, for the counterparty (kept with the line).")
@_CURRENCY
@JSON_OPTION
def query(month: str, agreement_id: str, counterparty: str, note: str, currency: str,
          as_json: bool) -> None:
    """Query AGREEMENT's line of the pair's invoice of MONTH (either bank)."""
    if not note.strip():
        raise click.BadParameter("the note is empty", param_hint="--note")
    with session(PARTY_DEFAULT, as_json) as ledger:
        receipt = ledger.query_invoice_line(month, currency, agreement_id, note, counterparty)
        settle(ledger)
    if as_json:
        echo_json(_receipt_json(receipt))
        return
    click.echo(f"queried the line of {agreement_id} in {receipt.invoice}, transaction "
               f"{receipt.tx_id}")


@billing.command("export")
@_MONTH_ARG
@_WITH
@_CURRENCY
@click.option("--cdm", "as_cdm", is_flag=True,
              help="Write ISDA CDM SecurityLendingInvoice JSON (default: the invoice as stored).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (default: standard output).")
def export(month: str, counterparty: str, currency: str, as_cdm: bool, out: Path | None) -> None:
    """Export the pair's invoice of MONTH: as stored, or with --cdm as a CDM
    SecurityLendingInvoice (`tanpo.client.cdm.invoice_to_cdm` documents the mapping)."""
    with session(PARTY_DEFAULT, False) as ledger:
        inv = _read(ledger, month, currency, counterparty)
    doc = cdm.invoice_to_cdm(inv) if as_cdm else inv.raw
    text = cdm.dumps(doc)
    write_or_echo(text, out, f"{inv.id} ({'CDM' if as_cdm else 'invoice'} JSON)")
