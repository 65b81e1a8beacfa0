"""A bank's net view per counterparty: what it lent and borrowed, the collateral each way, and
its net credit exposure (the DLT study's "net credit amount of all transactions").

:func:`net_positions` reads the bank's open agreements (ACTIVE or MATURED) and each one's latest
margin call on or before a date, and sums per counterparty and base currency, exactly:

* loans out: Σ V_L of the agreements where the bank is the lender;
* collateral received: Σ V_C after the call, same agreements;
* loans in: Σ V_L where it is the borrower;
* collateral posted: Σ V_C after the call, same agreements;
* net credit exposure = Σ_as lender (V_L − V_C) + Σ_as borrower (V_C − V_L): positive, the bank
  is exposed to the counterparty (it would lose that much if the counterparty defaulted and the
  positions were closed at these values).

V_L and V_C are the call's values in the base currency (V_C after haircuts, as margined). V_C
is the call's ``vc_after`` less a disputed part still held back; after a price correction it is
V_L plus the adjusted gap (the adjustment records the gap at the corrected prices, not V_L).
Agreements without a call yet are listed as not yet margined, not valued. The date's net
movements are the tokens each counterparty delivered to the bank minus what the bank delivered,
per token, from the calls of that date (with their adjustments and held-back parts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Protocol

from tanpo.client.models import OPEN_LOAN_STATUSES, Agreement, MarginCall, MarginTransfer

__all__ = ["NetMovement", "NetPosition", "NetView", "net_positions"]

ZERO = Fraction(0)


class _Reader(Protocol):
    """What the view reads: a bank's own agreements and their margin calls (a ``Party``, or the
    CLI's ledger)."""

    @property
    def party(self) -> str: ...

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]: ...
    def margin_calls(self, agreement_id: str) -> list[MarginCall]: ...


@dataclass(frozen=True)
class NetPosition:
    """One counterparty in one base currency. Exact values, base currency."""

    counterparty: str
    currency: str
    loans_out: Fraction = ZERO
    collateral_received: Fraction = ZERO
    loans_in: Fraction = ZERO
    collateral_posted: Fraction = ZERO
    agreements: int = 0

    @property
    def exposure(self) -> Fraction:
        """Net credit exposure to the counterparty (positive: the bank is exposed)."""
        return (self.loans_out - self.collateral_received) + (self.collateral_posted
                                                              - self.loans_in)


@dataclass(frozen=True)
class NetMovement:
    """The date's net movement of one token with one counterparty: units received minus units
    delivered by the bank (negative: the bank delivered more)."""

    counterparty: str
    token: str
    quantity: int


@dataclass(frozen=True)
class NetView:
    """The net view of ``party`` as of ``day`` (None: no call yet, nothing valued)."""

    party: str
    day: date | None
    positions: tuple[NetPosition, ...]
    movements: tuple[NetMovement, ...]
    not_margined: tuple[str, ...]  # open agreements without a call on or before the date
    as_of: tuple[tuple[str, date], ...] = ()  # (agreement, date of the call it is valued at)

    def position(self, counterparty: str, currency: str) -> NetPosition | None:
        return next((p for p in self.positions
                     if (p.counterparty, p.currency) == (counterparty, currency)), None)


def current_vc(call: MarginCall) -> Fraction:
    """V_C of a call once its date's dispute and corrections are applied (``MarginCall.vc_now``)."""
    return call.vc_now


def effective_transfers(call: MarginCall) -> list[MarginTransfer]:
    """What the call of a date moved in the end: its transfers, the held-back part of a dispute
    coming back (unless the disputing party accepted the call and delivered it), and the
    adjustments."""
    out = list(call.transfers)
    d = call.dispute
    if d is not None and d.resolution != "call":
        out += [MarginTransfer(t.token, t.quantity, t.direction, t.receiver, t.sender, t.value,
                               t.settle_date, t.market_value, t.trade_date)
                for t in d.held_back]
    for adj in call.adjustments:
        out += list(adj.transfers)
    return out


def net_positions(party_client: _Reader, day: date | None = None) -> NetView:
    """The net view of the bank behind ``party_client`` per counterparty and base currency, from
    each open agreement's latest margin call on or before ``day`` (default: its latest call);
    the movements are those of the calls of ``day`` (default: the latest date any of those
    calls has). See the module's docstring for the definitions."""
    me = party_client.party
    open_agreements = [a for a in party_client.agreements(me)
                       if a.status in OPEN_LOAN_STATUSES and me in (a.terms.lender,
                                                                    a.terms.borrower)]
    latest: list[tuple[Agreement, MarginCall]] = []
    not_margined: list[str] = []
    for a in sorted(open_agreements, key=lambda a: a.id):
        calls = [c for c in party_client.margin_calls(a.id) if day is None or c.date <= day]
        if not calls:
            not_margined.append(a.id)
            continue
        latest.append((a, max(calls, key=lambda c: c.date)))
    as_of_day = day if day is not None else max((c.date for _, c in latest), default=None)
    sums: dict[tuple[str, str], dict[str, Fraction]] = {}
    counts: dict[tuple[str, str], int] = {}
    for a, call in latest:
        t = a.terms
        lender = me == t.lender
        other = t.borrower if lender else t.lender
        key = (other, t.base_currency)
        s = sums.setdefault(key, {"lo": ZERO, "cr": ZERO, "li": ZERO, "cp": ZERO})
        counts[key] = counts.get(key, 0) + 1
        vc = current_vc(call)
        if lender:
            s["lo"] += call.vl
            s["cr"] += vc
        else:
            s["li"] += call.vl
            s["cp"] += vc
    positions = tuple(
        NetPosition(cp, ccy, s["lo"], s["cr"], s["li"], s["cp"], counts[(cp, ccy)])
        for (cp, ccy), s in sorted(sums.items()))
    movements = _movements(me, [(a, c) for a, c in latest if c.date == as_of_day])
    return NetView(me, as_of_day, positions, movements, tuple(not_margined),
                   tuple((a.id, c.date) for a, c in latest))


def _movements(me: str, calls: Iterable[tuple[Agreement, MarginCall]]) -> tuple[NetMovement, ...]:
    net: dict[tuple[str, str], int] = {}
    for a, call in calls:
        other = a.terms.borrower if me == a.terms.lender else a.terms.lender
        for t in effective_transfers(call):
            sign = 1 if t.receiver == me else -1 if t.sender == me else 0
            if sign:
                net[(other, t.token)] = net.get((other, t.token), 0) + sign * t.quantity
    return tuple(NetMovement(cp, token, q) for (cp, token), q in sorted(net.items()))


def totals(positions: Sequence[NetPosition]) -> dict[str, Fraction]:
    """Net credit exposure per currency over every counterparty."""
    out: dict[str, Fraction] = {}
    for p in positions:
        out[p.currency] = out.get(p.currency, ZERO) + p.exposure
    return out
