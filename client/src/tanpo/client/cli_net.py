"""``tanpo net``: a bank's net positions and net credit exposure per counterparty.

::

    tanpo [--as ORG[/USER]] net [--date D] [--json]

The definitions are :mod:`tanpo.client.net`'s. Values are exact: tables show each as its exact
decimal (``≈`` when rounded for display); ``--json`` gives every value as an exact
``"n"``/``"n/d"`` string. Exit codes as every participant command.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import click

from tanpo.client.cli_common import PARTY_DEFAULT, console, echo_json, new_table, qty, session
from tanpo.client.cli_margin import show_value
from tanpo.client.cli_terms import InputError, parse_date
from tanpo.client.net import NetView, net_positions

__all__ = ["net", "view_json"]


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_date(value, "--date")
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def view_json(view: NetView) -> dict[str, object]:
    return {
        "party": view.party,
        "date": view.day.isoformat() if view.day else None,
        "positions": [
            {"counterparty": p.counterparty, "currency": p.currency, "agreements": p.agreements,
             "loansOut": str(p.loans_out), "collateralReceived": str(p.collateral_received),
             "loansIn": str(p.loans_in), "collateralPosted": str(p.collateral_posted),
             "exposure": str(p.exposure)}
            for p in view.positions],
        "movements": [{"counterparty": m.counterparty, "token": m.token, "quantity": m.quantity}
                      for m in view.movements],
        "notMargined": list(view.not_margined),
        "asOf": {a: d.isoformat() for a, d in view.as_of},
    }


@click.command("net")
@click.option("--date", "day", default=None, callback=_date, metavar="YYYY-MM-DD",
              help="Value at each agreement's latest margin call on or before this date, and "
                   "show this date's movements (default: the latest calls).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (exact values) for scripts.")
def net(day: date | None, as_json: bool) -> None:
    """Your net positions per counterparty and currency: the net credit amount of all
    transactions (as the DLT study defines it), from each open agreement's latest margin call.

    \b
    Per counterparty and base currency:
      loans out            Σ V_L of the agreements where you lend
      collateral received  Σ V_C after the call, same agreements
      loans in             Σ V_L of the agreements where you borrow
      collateral posted    Σ V_C after the call, same agreements
      net exposure         (loans out − collateral received)
                           + (collateral posted − loans in);
                           positive: you are exposed to the counterparty

    V_C is after haircuts, less a disputed part held back; after a price correction it is V_L
    plus the adjusted gap. Open agreements without a margin call yet are listed as not yet
    margined. The movements are the date's calls' tokens received minus delivered, per
    counterparty and token. Acts as the bank of --as (default bank-a).
    """
    with session(PARTY_DEFAULT, as_json) as ledger:
        view = net_positions(ledger, day)
    if as_json:
        echo_json(view_json(view))
        return
    out = console()
    when = view.day.isoformat() if view.day else "-"
    if not view.positions:
        out.print(f"{view.party}: no margined open agreement (as of {when})", markup=False)
    for ccy in sorted({p.currency for p in view.positions}):
        table = new_table(f"net positions of {view.party} in {ccy} (as of {when})")
        table.add_column("counterparty", no_wrap=True)
        table.add_column("agreements", justify="right", no_wrap=True)
        for name in ("loans out", "collateral received", "loans in", "collateral posted",
                     "net exposure"):
            table.add_column(name, justify="right", no_wrap=True)
        rows = [p for p in view.positions if p.currency == ccy]
        for p in rows:
            table.add_row(p.counterparty, str(p.agreements), show_value(p.loans_out),
                          show_value(p.collateral_received), show_value(p.loans_in),
                          show_value(p.collateral_posted), show_value(p.exposure))
        if len(rows) > 1:
            table.add_section()
            table.add_row("total", str(sum(p.agreements for p in rows)),
                          *(show_value(sum((getattr(p, f) for p in rows), start=Fraction(0)))
                            for f in ("loans_out", "collateral_received", "loans_in",
                                      "collateral_posted", "exposure")))
        out.print(table)
    if view.movements:
        table = new_table(f"net movements on {when} (received − delivered)")
        table.add_column("counterparty", no_wrap=True)
        table.add_column("token", no_wrap=True)
        table.add_column("quantity", justify="right", no_wrap=True)
        for m in view.movements:
            table.add_row(m.counterparty, m.token, qty(m.quantity))
        out.print(table)
    if view.not_margined:
        out.print("not yet margined: " + ", ".join(view.not_margined), markup=False)
