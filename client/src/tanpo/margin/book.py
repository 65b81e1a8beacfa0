"""A stateful agreement book: one agreement's positions, replayed day by day.

:meth:`AgreementBook.apply_day` does, in order: check the date is after the last one; settle the
pending transfers due on or before it (in the order they were computed); compute the margin call;
credit auto-issue mints at once; then settle the call's transfers immediately (lag 0) or queue them
to settle on ``date + lag`` calendar days. A caller who processes business days only gets a
transfer settled on the first processed day on or after its due date. A failing day (bad market
data, overflow) raises :class:`MarginError` and leaves the book exactly as it was.

Pending transfers count in a new call as if already settled: the call works on the *projected*
positions (settled + pending), so a lag of two or more days does not call the same gap twice, and
the borrower cannot pledge tokens already promised. With lag 1 — model 0 of the evaluation — the
previous day's transfers settle before the call, so nothing is pending when a call is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date as Date
from datetime import timedelta
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

from tanpo.margin.call import CallResult, Transfer, move, plan_call
from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import Market
from tanpo.margin.model import Agreement, Direction, Party, Positions, position_vectors
from tanpo.margin.rational import INT64_MAX, INT64_MIN, check_int64
from tanpo.margin.valuation import price_agreement


class PendingTransfer(NamedTuple):
    """A transfer computed on ``trade_date`` that settles (or settled) on ``settle_date``."""

    transfer: Transfer
    #: collateral index of the token
    index: int  # type: ignore[assignment]  # shadows tuple.index, which nothing here uses
    trade_date: str
    settle_date: str
    settle_day: Date

    @property
    def token(self) -> str:
        return self.transfer.token

    @property
    def quantity(self) -> int:
        return self.transfer.quantity

    @property
    def direction(self) -> Direction:
        return self.transfer.direction

    @property
    def value(self) -> Fraction:
        return self.transfer.value

    @property
    def market_value(self) -> Fraction:
        return self.transfer.market_value


@dataclass(frozen=True, slots=True)
class MintRecord:
    date: str
    party: Party
    token: str
    quantity: int


@dataclass(frozen=True, slots=True)
class IssuanceRecord:
    date: str
    party: Party
    value: Fraction


class DayResult(NamedTuple):
    """One day of a book: the call, what settled that day (earlier transfers falling due, then —
    with lag 0 — the call's own), what is still pending, and the settled positions after it
    (kept as vectors in priority order; :attr:`positions` builds the maps on access). Named
    tuples, like :class:`CallResult`: one is built per check."""

    call: CallResult
    settled: tuple[PendingTransfer, ...]
    pending: tuple[PendingTransfer, ...]
    held: Sequence[int]
    borrower_free: Sequence[int]
    lender_free: Sequence[int]

    @property
    def positions(self) -> Positions:
        ids = self.call.collateral
        return Positions(
            dict(zip(ids, self.held, strict=True)),
            dict(zip(ids, self.borrower_free, strict=True)),
            dict(zip(ids, self.lender_free, strict=True)),
        )


class AgreementBook:
    """Positions held under one agreement, both parties' free balances, pending transfers and the
    issuance/mint history; advanced one valuation date at a time."""

    __slots__ = (
        "_borrower_free", "_held", "_last", "_lender_free", "_pending", "agreement", "issuances",
        "mints",
    )

    def __init__(self, agreement: Agreement, positions: Positions) -> None:
        self.agreement = agreement
        self._held, self._borrower_free, self._lender_free = position_vectors(
            agreement, positions
        )
        self._pending: list[PendingTransfer] = []
        self._last: Date | None = None
        self.mints: list[MintRecord] = []
        self.issuances: list[IssuanceRecord] = []

    @property
    def positions(self) -> Positions:
        """Settled positions now (pending transfers not included)."""
        ids = self.agreement.collateral_ids
        return Positions(
            dict(zip(ids, self._held, strict=True)),
            dict(zip(ids, self._borrower_free, strict=True)),
            dict(zip(ids, self._lender_free, strict=True)),
        )

    @property
    def pending(self) -> tuple[PendingTransfer, ...]:
        return tuple(self._pending)

    def rebase(self, agreement: Agreement, positions: Positions) -> None:
        """Carry on after a life-cycle step (a return, a substitution): the agreement as it now
        stands (the same collateral tokens; the loan may have shrunk) and the settled positions
        after the step. Pending transfers and the date order are kept."""
        if agreement.collateral_ids != self.agreement.collateral_ids:
            raise MarginError(
                ErrorKind.INVALID_INPUT,
                "a rebased book must keep the agreement's collateral tokens",
            )
        held, bfree, lfree = position_vectors(agreement, positions)
        self.agreement = agreement
        self._held, self._borrower_free, self._lender_free = held, bfree, lfree

    def apply_day(self, market: Market) -> DayResult:
        """Settle what is due, run the day's margin call and apply or queue its transfers."""
        ag = self.agreement
        day = market.day
        if self._last is not None and day <= self._last:
            raise MarginError(
                ErrorKind.INVALID_INPUT,
                f"date {market.date} is not after the last processed date {self._last}",
            )
        lag = ag.lag_days
        if not lag and not self._pending:
            return self._apply_now(market)
        settle_day, settle_date = _settlement(day, market.date, lag)
        # work on copies: a failing day leaves the book as it was
        held = self._held[:]
        bfree = self._borrower_free[:]
        lfree = self._lender_free

        settled: list[PendingTransfer] = []
        still: list[PendingTransfer] = []
        for p in self._pending:
            if p.settle_day <= day:
                t = p.transfer
                move(held, bfree, p.index, t.quantity, t.direction, t.token)
                settled.append(p)
            else:
                still.append(p)
        if lag:
            proj_held = held[:]
            proj_bfree = bfree[:]
            for p in still:
                t = p.transfer
                move(proj_held, proj_bfree, p.index, t.quantity, t.direction, t.token)
        else:
            proj_held, proj_bfree = held, bfree

        pricing = market.cache.get(ag.pricing_key)  # price_agreement's cache, looked up inline
        call = plan_call(ag, pricing if pricing is not None else price_agreement(ag, market),
                         proj_held, proj_bfree)
        direction = call.direction
        if direction is not None:
            if call.minted:
                token = ag.collateral_ids[0]
                if direction == Direction.BORROWER_TO_LENDER:
                    bfree[0] = check_int64(bfree[0] + call.minted, f"borrower free {token}")
                    if lag:
                        proj_bfree[0] = check_int64(
                            proj_bfree[0] + call.minted, f"borrower free {token}"
                        )
                else:
                    lfree = lfree[:]
                    lfree[0] = check_int64(lfree[0] + call.minted, f"lender free {token}")
            ids = ag.collateral_ids
            pr = call.pricing
            hu, unit, den, date = pr.haircut_unit, pr.unit, pr.denominator, market.date
            target = still if lag else settled
            # the records of call.transfers, built here from the moves directly
            for i, qty in call.moves:
                move(proj_held, proj_bfree, i, qty, direction, ids[i])
                target.append(PendingTransfer(
                    Transfer(ids[i], qty, direction, qty * hu[i], qty * unit[i], den),
                    i, date, settle_date, settle_day))

        self._held, self._borrower_free, self._lender_free = held, bfree, lfree
        self._pending = still
        self._last = day
        if call.issuance_party is not None:
            for r in call.issuance_required:
                self.issuances.append(IssuanceRecord(market.date, r.party, r.value))
            for m in call.mints:
                self.mints.append(MintRecord(market.date, m.party, m.token, m.quantity))
        return DayResult(call, tuple(settled), tuple(still), held, bfree, lfree)

    def _apply_now(self, market: Market) -> DayResult:
        """:meth:`apply_day` for the common case, lag 0 with nothing pending: the call's transfers
        settle at once. Position lists are replaced, never changed in place, so a day without
        transfers copies nothing and every earlier :class:`DayResult` keeps its own lists."""
        ag = self.agreement
        held, bfree, lfree = self._held, self._borrower_free, self._lender_free
        pricing = market.cache.get(ag.pricing_key)  # price_agreement's cache, looked up inline
        call = plan_call(ag, pricing if pricing is not None else price_agreement(ag, market),
                         held, bfree)
        direction = call.direction
        settled: tuple[PendingTransfer, ...] = ()
        if direction is not None:
            held, bfree = held[:], bfree[:]
            if call.minted:
                token = ag.collateral_ids[0]
                if direction == Direction.BORROWER_TO_LENDER:
                    bfree[0] = check_int64(bfree[0] + call.minted, f"borrower free {token}")
                else:
                    lfree = lfree[:]
                    lfree[0] = check_int64(lfree[0] + call.minted, f"lender free {token}")
            date, day, ids = market.date, market.day, ag.collateral_ids
            pr = call.pricing
            hu, unit, den = pr.haircut_unit, pr.unit, pr.denominator
            records = []
            outgoing = direction == Direction.BORROWER_TO_LENDER
            for i, qty in call.moves:
                # move() inlined: this is the hot path; move() itself raises the same error
                b, h = (bfree[i] - qty, held[i] + qty) if outgoing else (bfree[i] + qty,
                                                                         held[i] - qty)
                if not (INT64_MIN <= b <= INT64_MAX and INT64_MIN <= h <= INT64_MAX):
                    move(held, bfree, i, qty, direction, ids[i])
                bfree[i], held[i] = b, h
                records.append(PendingTransfer(
                    Transfer(ids[i], qty, direction, qty * hu[i], qty * unit[i], den),
                    i, date, date, day))
            settled = tuple(records)
        self._held, self._borrower_free, self._lender_free = held, bfree, lfree
        self._last = market.day
        if call.issuance_party is not None:
            for r in call.issuance_required:
                self.issuances.append(IssuanceRecord(market.date, r.party, r.value))
            for m in call.mints:
                self.mints.append(MintRecord(market.date, m.party, m.token, m.quantity))
        return DayResult(call, settled, (), held, bfree, lfree)


@lru_cache(maxsize=4096)
def _settlement(day: Date, date: str, lag: int) -> tuple[Date, str]:
    """The settlement day and date of a call on ``day`` (``date``) with ``lag`` days."""
    if not lag:
        return day, date
    try:
        settle = day + timedelta(days=lag)
    except OverflowError:
        raise MarginError(
            ErrorKind.INVALID_INPUT, f"settlement date of {date} is after 9999-12-31"
        ) from None
    return settle, settle.isoformat()
