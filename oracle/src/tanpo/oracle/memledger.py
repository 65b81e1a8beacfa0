"""An in-memory :class:`~tanpo.oracle.ledger.Ledger` for tests, demos and ``--ledger memory``.

It keeps the contract of the real ledger (idempotent posting per date, additions to a posted
date, one margin call per agreement and date, prices before sweeps, each agreement's calls in
date order, progress recorded on the ledger, a failed call failing alone) and can be told to
fail part-way, to show that the daemon recovers. As in the chaincode's ``FinishSweep``, a date
counts as swept once every active agreement has its call for it or a later one (a missed date is
superseded by the next call).

Its margin calls are the exact margin engine's (:mod:`tanpo.margin`, the rule the chaincode and
the scenario runner apply): each agreement is an engine :class:`~tanpo.margin.AgreementBook`
with one loan token against one collateral token, haircut α and threshold β, no settlement lag,
no auto-issue. Values are exact :class:`fractions.Fraction`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from fractions import Fraction

from tanpo.client.models import IssuanceRequired, MarginTransfer, SweepOutcome
from tanpo.client.sweep import AdjustOutcome, AdjustRun, SweepRun
from tanpo.margin import (
    AgreementBook,
    Direction,
    LoanLeg,
    MarginError,
    Market,
    Mode,
    Party,
    Positions,
    Quote,
    Terms,
    Token,
    TokenKind,
    make_agreement,
    unit_value,
)
from tanpo.oracle.ledger import (
    LedgerError,
    LedgerUnavailableError,
    PriceBatch,
    PriceConflictError,
    PricesNotPostedError,
)

__all__ = ["FakeAgreement", "MemoryLedger"]


@dataclass(frozen=True)
class FakeAgreement:
    """A single-token agreement of the memory ledger.

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


#: a borrower that "can always top up" holds this many units (the engine needs a number)
UNLIMITED = 10**18


@dataclass
class _Position:
    loan_quantity: int | None
    held: int
    borrower_available: int | None
    book: AgreementBook | None = None  # the engine's book, from the first call (loan sized)


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
    calls: dict[tuple[str, date], SweepOutcome] = field(default_factory=dict)
    call_counts: dict[tuple[str, date], int] = field(default_factory=dict)
    post_transactions: int = 0
    swept: set[date] = field(default_factory=set)
    last_call: dict[str, date] = field(default_factory=dict)
    #: price versions: the date's latest, and the one each call (or its adjustment) used
    versions: dict[date, int] = field(default_factory=dict)
    call_versions: dict[tuple[str, date], int] = field(default_factory=dict)
    corrections: list[tuple[date, str]] = field(default_factory=list)  # (date, reason)
    adjustments: list[tuple[str, date, int]] = field(default_factory=list)  # agreement, date, v
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
            # as the chaincode: values already posted must match; new keys are an addition
            for mine, theirs in ((existing.prices, batch.prices), (existing.fx, batch.fx),
                                 (existing.rates, batch.rates)):
                for key, quote in theirs.items():
                    if key in mine and mine[key].value != quote.value:
                        raise PriceConflictError(
                            f"{key} on {batch.valuation_date} is already {mine[key].value}: "
                            "use CorrectPrices with a reason to change it")
            prices = {**batch.prices, **existing.prices}
            fx = {**batch.fx, **existing.fx}
            rates = {**batch.rates, **existing.rates}
            if (len(prices), len(fx), len(rates)) == (len(existing.prices), len(existing.fx),
                                                      len(existing.rates)):
                return
            batch = PriceBatch(batch.valuation_date, prices, fx, existing.source, rates)
        self.batches[batch.valuation_date] = batch
        self.versions[batch.valuation_date] = self.versions.get(batch.valuation_date, 0) + 1
        self.post_transactions += 1
        if self.fail_post_after_commit:
            self.fail_post_after_commit = False
            raise LedgerUnavailableError("commit status not received (injected fault)")

    def correct_prices(self, batch: PriceBatch, reason: str) -> None:
        d = batch.valuation_date
        existing = self.batches.get(d)
        if existing is None:
            raise PricesNotPostedError(f"no prices posted for {d}")
        if not reason.strip():
            raise LedgerError("a correction needs a reason")
        merged = PriceBatch(d, {**existing.prices, **batch.prices}, {**existing.fx, **batch.fx},
                            existing.source, {**existing.rates, **batch.rates})
        if merged.same_values(existing):
            return
        self.batches[d] = merged
        self.versions[d] = self.versions.get(d, 1) + 1
        self.corrections.append((d, reason))
        self.post_transactions += 1

    def adjust(self, valuation_date: date, batch_size: int) -> AdjustRun:
        """As ``AdjustCalls``: each agreement with a call of the date that is still its latest
        and used an earlier version is re-margined on its current positions at the corrected
        prices (a fresh engine book: the date was already applied to the old one)."""
        if batch_size < 1:
            raise LedgerError(f"batch size must be at least 1, got {batch_size}")
        batch = self.batches.get(valuation_date)
        if batch is None:
            raise PricesNotPostedError(f"no prices posted for {valuation_date}")
        version = self.versions.get(valuation_date, 1)
        market = _market(batch)
        ids = sorted(a for (a, d) in self.calls if d == valuation_date)
        by_id = {a.agreement_id: a for a in self.agreements}
        outcomes: list[AdjustOutcome] = []
        for agreement_id in ids:
            if self.last_call.get(agreement_id) != valuation_date:
                outcomes.append(AdjustOutcome(agreement_id, "unaffected", "later_call"))
                continue
            if self.call_versions.get((agreement_id, valuation_date), 1) >= version:
                outcomes.append(AdjustOutcome(agreement_id, "unaffected", "no_correction"))
                continue
            pos = self._positions[agreement_id]
            book = pos.book
            pos.book = None
            try:
                self._margin_call(by_id[agreement_id], market)
            except MarginError as exc:
                pos.book = book  # undone alone
                outcomes.append(AdjustOutcome(agreement_id, "failed", exc.kind.value))
                continue
            self.call_versions[(agreement_id, valuation_date)] = version
            self.adjustments.append((agreement_id, valuation_date, version))
            outcomes.append(AdjustOutcome(agreement_id, "adjusted"))
        return AdjustRun(valuation_date, tuple(outcomes), -(-len(ids) // batch_size), len(ids))

    def last_swept_date(self) -> date | None:
        return max(self.swept, default=None)

    def sweep(self, valuation_date: date, batch_size: int) -> SweepRun:
        if batch_size < 1:
            raise LedgerError(f"batch size must be at least 1, got {batch_size}")
        batch = self.batches.get(valuation_date)
        if batch is None:
            raise PricesNotPostedError(f"no prices posted for {valuation_date}")
        market = _market(batch)
        active = sorted(
            (a for a in self.agreements if a.active_on(valuation_date)),
            key=lambda a: a.agreement_id,
        )
        outcomes: list[SweepOutcome] = []
        for agreement in active:
            key = (agreement.agreement_id, valuation_date)
            recorded = self.calls.get(key)
            if recorded is not None:
                outcomes.append(_replayed(recorded))
                continue
            later = self.last_call.get(agreement.agreement_id)
            if later is not None and later > valuation_date:
                outcomes.append(SweepOutcome(
                    agreement.agreement_id, "skipped",
                    f"agreement {agreement.agreement_id} already had a margin call on {later}: "
                    "calls run in date order", lender=agreement.lender,
                    borrower=agreement.borrower))
                continue
            if self.fail_after_calls is not None:
                if self.fail_after_calls <= 0:
                    self.fail_after_calls = None
                    raise LedgerUnavailableError("peer went away mid-sweep (injected fault)")
                self.fail_after_calls -= 1
            try:
                outcome = self._margin_call(agreement, market)
            except MarginError as exc:
                # a failed call fails alone, as in the chaincode's batch
                outcomes.append(SweepOutcome(
                    agreement.agreement_id, "failed",
                    f"cannot run the margin call of agreement {agreement.agreement_id} on "
                    f"{valuation_date}: {exc}", lender=agreement.lender,
                    borrower=agreement.borrower))
                continue
            self.calls[key] = outcome
            self.call_versions[key] = self.versions.get(valuation_date, 1)
            self.last_call[agreement.agreement_id] = valuation_date
            self.call_counts[key] = self.call_counts.get(key, 0) + 1
            outcomes.append(outcome)
        failed = sum(1 for o in outcomes if o.status == "failed")
        refusal = ""
        if failed:
            refusal = (f"cannot finish the sweep of {valuation_date}: {failed} active agreements "
                       "have no margin call for it yet")
        else:
            self.swept.add(valuation_date)
        return SweepRun(
            valuation_date, tuple(outcomes), transactions=-(-len(active) // batch_size),
            swept=not failed, last_swept_date=self.last_swept_date(), finish_refusal=refusal,
            planned=len(active),
        )

    # ---- helpers -------------------------------------------------------------------------

    def held(self, agreement_id: str) -> int:
        """Collateral units the lender holds under the agreement."""
        return self._positions[agreement_id].held

    def loan_quantity(self, agreement_id: str) -> int | None:
        return self._positions[agreement_id].loan_quantity

    def _token(self, token_id: str) -> Token:
        """A token id that is a currency code is cash (price 1); others are per-unit securities
        in their currency."""
        if token_id in self.token_currency:
            return Token(token_id, TokenKind.ST, self.token_currency[token_id],
                         Quote.PER_UNIT)
        return Token(token_id, TokenKind.CT, token_id, Quote.PER_UNIT)

    def _book(self, a: FakeAgreement, market: Market) -> AgreementBook:
        """The agreement's engine book, made on its first call: a loan left open is sized then,
        at (1 − α) × the collateral's value that day, rounded down (the paper's set-up)."""
        pos = self._positions[a.agreement_id]
        if pos.book is not None:
            return pos.book
        loan, coll = self._token(a.loan_token), self._token(a.collateral_token)
        if pos.loan_quantity is None:
            haircut_value = pos.held * unit_value(coll, market, a.base_currency) * (
                1 - Fraction(a.haircut))
            pos.loan_quantity = math.floor(haircut_value / unit_value(loan, market,
                                                                       a.base_currency))
        terms = Terms(
            base=a.base_currency, loan=LoanLeg(a.loan_token, pos.loan_quantity),
            collateral=[a.collateral_token], mode=Mode.SINGLE, haircut=Fraction(a.haircut),
            threshold=Fraction(a.threshold),
        )
        available = UNLIMITED if pos.borrower_available is None else pos.borrower_available
        pos.book = AgreementBook(
            make_agreement([loan, coll], terms),
            Positions(held={a.collateral_token: pos.held},
                      borrower_free={a.collateral_token: available},
                      lender_free={a.collateral_token: 0}),
        )
        return pos.book

    def _margin_call(self, a: FakeAgreement, market: Market) -> SweepOutcome:
        pos = self._positions[a.agreement_id]
        book = self._book(a, market)
        call = book.apply_day(market).call
        after = book.positions
        pos.held = after.held[a.collateral_token]
        if pos.borrower_available is not None:
            pos.borrower_available = after.borrower_free[a.collateral_token]
        parties = {Party.LENDER: a.lender, Party.BORROWER: a.borrower}
        transfers = []
        for t in call.transfers:
            to_lender = t.direction == Direction.BORROWER_TO_LENDER
            transfers.append(MarginTransfer(
                t.token, t.quantity, str(t.direction),
                a.borrower if to_lender else a.lender, a.lender if to_lender else a.borrower,
                t.value, market.day, t.market_value, market.day))
        missing = tuple(
            IssuanceRequired(parties[r.party], a.collateral_token, r.value, str(r.party))
            for r in call.issuance_required)
        return SweepOutcome(a.agreement_id, "called", triggered=call.triggered,
                            transfers=tuple(transfers), issuance_required=missing,
                            lender=a.lender, borrower=a.borrower)

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


def _replayed(outcome: SweepOutcome) -> SweepOutcome:
    return replace(outcome, status="replayed")


def _market(batch: PriceBatch) -> Market:
    """The engine's market of a posted batch (a bad value is the ledger refusing the date)."""
    try:
        return Market.parse(batch.valuation_date.isoformat(),
                            {k: Fraction(q.value) for k, q in batch.prices.items()},
                            {k: Fraction(q.value) for k, q in batch.fx.items()})
    except MarginError as exc:
        raise LedgerError(f"prices of {batch.valuation_date}: {exc}") from None
