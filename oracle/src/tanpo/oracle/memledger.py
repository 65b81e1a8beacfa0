"""An in-memory :class:`~tanpo.oracle.ledger.Ledger` for tests, demos and ``--ledger memory``.

It keeps the contract of the real ledger (idempotent posting per date, one margin call per
agreement and date, prices before sweeps, sweeps in date order, progress recorded on the
ledger) and can be told to fail part-way, to show that the daemon recovers.

Its margin call is a deliberately small test double, **not** the margin engine: one loan token
against one collateral token (the ``single`` adjustment mode), haircut α and threshold β, no
settlement lag, no auto-issue; quantities round up on shortfall and down on excess, as in
DESIGN §1. Values are exact :class:`fractions.Fraction`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from tanpo.oracle.ledger import (
    CallOutcome,
    IssuanceRequired,
    LedgerError,
    LedgerUnavailableError,
    PriceBatch,
    PriceConflictError,
    PricesNotPostedError,
    SweepPage,
    Transfer,
)

__all__ = ["FakeAgreement", "MemoryLedger"]


@dataclass(frozen=True)
class FakeAgreement:
    """A single-token agreement for the fake ledger.

    ``loan_quantity`` None means "open on the first call": the loan is then sized at
    (1 − haircut) × the collateral's value that day (the paper's set-up), rounded down.
    ``borrower_available`` None means the borrower can always top up.
    """

    agreement_id: str
    lender: str
    borrower: str
    loan_token: str
    collateral_token: str
    collateral_quantity: int
    base_currency: str
    loan_quantity: int | None = None
    haircut: Decimal = Decimal(0)
    threshold: Decimal = Decimal(0)
    start: date | None = None
    end: date | None = None
    borrower_available: int | None = None

    def active_on(self, d: date) -> bool:
        return (self.start is None or self.start <= d) and (self.end is None or d <= self.end)


@dataclass
class _Position:
    loan_quantity: int | None
    held: int
    borrower_available: int | None


@dataclass
class MemoryLedger:
    """The fake ledger. ``token_currency`` maps each non-cash token id to its currency;
    a token id that is a currency code (``JPY``) is cash with price 1.

    Fault injection (each fires once, then resets):

    * ``fail_after_calls=k``: the sweep raises :class:`LedgerUnavailableError` after ``k``
      fresh margin calls have been recorded (a crash in the middle of a sweep);
    * ``fail_post_after_commit``: ``post_prices`` commits, then raises as if the commit status
      was lost on the way back.
    """

    agreements: list[FakeAgreement] = field(default_factory=list)
    token_currency: dict[str, str] = field(default_factory=dict)
    fail_after_calls: int | None = None
    fail_post_after_commit: bool = False
    batches: dict[date, PriceBatch] = field(default_factory=dict)
    calls: dict[tuple[str, date], CallOutcome] = field(default_factory=dict)
    call_counts: dict[tuple[str, date], int] = field(default_factory=dict)
    post_transactions: int = 0
    swept: set[date] = field(default_factory=set)
    _positions: dict[str, _Position] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ids = [a.agreement_id for a in self.agreements]
        if len(set(ids)) != len(ids):
            raise ValueError("agreement ids must be unique")
        for a in self.agreements:
            self._positions[a.agreement_id] = _Position(
                a.loan_quantity, a.collateral_quantity, a.borrower_available
            )

    # ---- the Ledger protocol -------------------------------------------------------------

    def last_posted_date(self) -> date | None:
        return max(self.batches, default=None)

    def posted_prices(self, valuation_date: date) -> PriceBatch | None:
        return self.batches.get(valuation_date)

    def post_prices(self, batch: PriceBatch) -> None:
        existing = self.batches.get(batch.valuation_date)
        if existing is not None:
            if existing.same_values(batch):
                return
            raise PriceConflictError(
                f"prices for {batch.valuation_date} are already posted with other values"
            )
        self.batches[batch.valuation_date] = batch
        self.post_transactions += 1
        if self.fail_post_after_commit:
            self.fail_post_after_commit = False
            raise LedgerUnavailableError("commit status not received (injected fault)")

    def last_swept_date(self) -> date | None:
        return max(self.swept, default=None)

    def sweep_page(self, valuation_date: date, page_size: int, cursor: str | None) -> SweepPage:
        if page_size < 1:
            raise LedgerError(f"page size must be at least 1, got {page_size}")
        batch = self.batches.get(valuation_date)
        if batch is None:
            raise PricesNotPostedError(f"no prices posted for {valuation_date}")
        behind = sorted(d for d in self.batches if d < valuation_date and d not in self.swept)
        if behind:
            raise LedgerError(
                f"cannot sweep {valuation_date} before {behind[0]} (posted, not swept)"
            )
        active = sorted(
            (a for a in self.agreements if a.active_on(valuation_date)),
            key=lambda a: a.agreement_id,
        )
        todo = [a for a in active if cursor is None or a.agreement_id > cursor]
        page, rest = todo[:page_size], todo[page_size:]
        outcomes: list[CallOutcome] = []
        for agreement in page:
            key = (agreement.agreement_id, valuation_date)
            recorded = self.calls.get(key)
            if recorded is not None:
                outcomes.append(_replayed(recorded))
                continue
            if self.fail_after_calls is not None:
                if self.fail_after_calls <= 0:
                    self.fail_after_calls = None
                    raise LedgerUnavailableError("peer went away mid-sweep (injected fault)")
                self.fail_after_calls -= 1
            outcome = self._margin_call(agreement, batch)
            self.calls[key] = outcome
            self.call_counts[key] = self.call_counts.get(key, 0) + 1
            outcomes.append(outcome)
        if not rest:
            self.swept.add(valuation_date)
            return SweepPage(valuation_date, tuple(outcomes), None)
        return SweepPage(valuation_date, tuple(outcomes), page[-1].agreement_id)

    # ---- helpers -------------------------------------------------------------------------

    def held(self, agreement_id: str) -> int:
        """Collateral units the lender holds under the agreement."""
        return self._positions[agreement_id].held

    def loan_quantity(self, agreement_id: str) -> int | None:
        return self._positions[agreement_id].loan_quantity

    def _unit_value(self, token: str, base: str, batch: PriceBatch) -> Fraction:
        if token in self.token_currency:
            quote = batch.prices.get(token)
            if quote is None:
                raise LedgerError(f"no price for {token} on {batch.valuation_date}")
            price, currency = Fraction(quote.value), self.token_currency[token]
        else:
            price, currency = Fraction(1), token
        return price * _fx(currency, base, batch)

    def _margin_call(self, a: FakeAgreement, batch: PriceBatch) -> CallOutcome:
        pos = self._positions[a.agreement_id]
        u_loan = self._unit_value(a.loan_token, a.base_currency, batch)
        u_coll = self._unit_value(a.collateral_token, a.base_currency, batch) * (
            1 - Fraction(a.haircut)
        )
        if pos.loan_quantity is None:
            pos.loan_quantity = math.floor(pos.held * u_coll / u_loan)
        v_loan = pos.loan_quantity * u_loan
        gap = pos.held * u_coll - v_loan
        triggered = abs(gap) > Fraction(a.threshold) * v_loan or a.threshold == 0
        transfers: list[Transfer] = []
        missing: list[IssuanceRequired] = []
        if triggered and gap < 0:
            need = math.ceil(-gap / u_coll)
            n = need if pos.borrower_available is None else min(need, pos.borrower_available)
            if n:
                transfers.append(Transfer(a.collateral_token, n, a.borrower, a.lender, n * u_coll))
                pos.held += n
                if pos.borrower_available is not None:
                    pos.borrower_available -= n
            if n < need:
                missing.append(IssuanceRequired(a.borrower, a.collateral_token, -gap - n * u_coll))
        elif triggered and gap > 0:
            want = math.floor(gap / u_coll)
            n = min(want, pos.held)
            if n:
                transfers.append(Transfer(a.collateral_token, n, a.lender, a.borrower, n * u_coll))
                pos.held -= n
                if pos.borrower_available is not None:
                    pos.borrower_available += n
            if n < want:
                missing.append(IssuanceRequired(a.lender, a.collateral_token, gap - n * u_coll))
        return CallOutcome(a.agreement_id, triggered, tuple(transfers), tuple(missing))

    @classmethod
    def demo(
        cls,
        tokens: Iterable[tuple[str, str]],
        agreements_per_token: int = 1,
        collateral_quantity: int = 1_000_000,
        haircut: Decimal = Decimal("0.05"),
    ) -> MemoryLedger:
        """One paper-style agreement per (token, currency): a cash loan in the token's currency
        against ``collateral_quantity`` units, sized on the first valuation date."""
        agreements: list[FakeAgreement] = []
        currencies: dict[str, str] = {}
        for token, currency in tokens:
            currencies[token] = currency
            for i in range(agreements_per_token):
                agreements.append(
                    FakeAgreement(
                        agreement_id=f"DEMO-{token}-{i + 1:03d}",
                        lender="bank-a",
                        borrower="bank-b",
                        loan_token=currency,
                        collateral_token=token,
                        collateral_quantity=collateral_quantity,
                        base_currency=currency,
                        haircut=haircut,
                    )
                )
        return cls(agreements=agreements, token_currency=currencies)


def _replayed(outcome: CallOutcome) -> CallOutcome:
    return CallOutcome(
        outcome.agreement_id,
        outcome.triggered,
        outcome.transfers,
        outcome.issuance_required,
        replayed=True,
    )


def _fx(currency: str, base: str, batch: PriceBatch) -> Fraction:
    """Units of ``base`` per one unit of ``currency``, from a direct or an inverse pair."""
    if currency == base:
        return Fraction(1)
    rates: Mapping[str, Fraction] = {k: Fraction(q.value) for k, q in batch.fx.items()}
    if currency + base in rates:
        return rates[currency + base]
    if base + currency in rates:
        return 1 / rates[base + currency]
    raise LedgerError(f"no FX rate {currency}{base} on {batch.valuation_date}")
