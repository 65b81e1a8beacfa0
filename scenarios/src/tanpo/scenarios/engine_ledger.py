"""The off-chain ledger: the pure margin engine (:mod:`tanpo.margin`) with in-memory balances.

Each agreement is an engine :class:`~tanpo.margin.book.AgreementBook` (settlement lag, pending
transfers, auto-issue and the call itself are the engine's); this class only keeps the parties'
balances, the posted markets and the records, and translates engine results into the
backend-neutral records of :mod:`tanpo.scenarios.ledger`.

Limitation (documented): an engine book takes the borrower's free balances when the agreement
opens and keeps its own copy, so two agreements that draw top-ups from the same party's balance of
the same token do not see each other's deliveries. The party balances kept here are complete; only
the "borrower ran out" decision can differ from the chaincode when balances are that tight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from fractions import Fraction

from tanpo.margin import (
    Agreement,
    AgreementBook,
    Direction,
    LoanLeg,
    MarginError,
    Market,
    Move,
    Party,
    Positions,
    Quote,
    Terms,
    Token,
    TokenKind,
    make_agreement,
    price_agreement,
    return_loan,
    substitute,
    unit_value,
)
from tanpo.margin.call import move
from tanpo.scenarios.accrual import AccrualState, accruer, invoice_line, invoice_record
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import (
    AccrualLine,
    AgreementTerms,
    CallRecord,
    CloseRecord,
    InvoiceRecord,
    Issuance,
    IssuanceRequired,
    OpenRecord,
    Role,
    StepRecord,
    Transfer,
)
from tanpo.scenarios.model import LifecycleEvent, TokenSpec

__all__ = [
    "EngineLedger",
    "agreement_values",
    "engine_agreement",
    "engine_token",
    "market_of",
    "step_values",
    "token_attributes",
]


def token_attributes(spec: TokenSpec) -> tuple[str, str, str]:
    """Asset class, credit rating and issuer of a scenario token, as its ledger definition carries
    them (what an eligibility schedule reads): the reference data of its market symbol where the
    project has it, else a plain class; an equity's issuer is the company it is named after."""
    from tanpo.marketdata.reference import reference_of

    if spec.kind == "CT":
        return "cash", "", ""
    ref = reference_of(spec.source)
    if ref is not None:
        return ref.asset_class.value, ref.rating or "", ref.issuer or spec.name or ""
    return ("bond" if spec.quote == "percent-of-par" else "equity"), "", spec.name or ""


def engine_token(spec: TokenSpec) -> Token:
    """The engine's token definition for a scenario token, with the attributes a schedule reads."""
    asset_class, rating, issuer = token_attributes(spec)
    return Token(spec.id, TokenKind(spec.kind), spec.currency, Quote(spec.quote),
                 asset_class=asset_class, rating=rating, issuer=issuer)


def market_of(day: date, prices: Mapping[str, Fraction], fx: Mapping[str, Fraction]) -> Market:
    """An engine :class:`Market` for one day (raises ScenarioError on bad data)."""
    try:
        return Market.parse(day.isoformat(), dict(prices), dict(fx))
    except MarginError as exc:
        raise ScenarioError(f"market data of {day.isoformat()}: {exc}") from None


def engine_agreement(tokens: Iterable[Token], terms: AgreementTerms) -> Agreement:
    """The engine's agreement for a scenario agreement's terms."""
    engine_terms = Terms(
        base=terms.base_currency,
        loan=LoanLeg(terms.loan_token, terms.loan_quantity),
        collateral=terms.priority,
        mode=terms.mode,
        haircut=terms.haircut,
        haircuts={t: h for t, h in terms.haircuts.items() if t in terms.priority},
        threshold=terms.threshold,
        min_transfer=terms.min_transfer,
        lag_days=terms.lag,
        auto_issue=terms.auto_issue,
        schedule=terms.schedule,
    )
    try:
        return make_agreement(list(tokens), engine_terms)
    except MarginError as exc:
        raise ScenarioError(f"agreement {terms.id!r}: {exc}") from None


def agreement_values(
    agreement: Agreement, market: Market, held: Mapping[str, int]
) -> tuple[Fraction, Fraction]:
    """(V_L, haircut V_C) of an agreement at one day's prices, for the given held collateral."""
    pricing = price_agreement(agreement, market)
    v_l = pricing.value(agreement.loan_quantity * pricing.loan_unit)
    numerator = sum(
        held.get(token.id, 0) * hu
        for token, hu in zip(agreement.collateral, pricing.haircut_unit, strict=True)
    )
    return v_l, pricing.value(numerator)


def step_values(
    agreement: Agreement, market: Market, loan_quantity: int, held: Mapping[str, int]
) -> tuple[Fraction, Fraction]:
    """(V_L, haircut V_C) after a life-cycle step: ``agreement`` as opened, its loan now
    ``loan_quantity`` (0 once returned in full) and ``held`` collateral."""
    v_l, v_c = agreement_values(agreement, market, held)
    return v_l * loan_quantity / agreement.loan_quantity, v_c


@dataclass
class _Open:
    terms: AgreementTerms
    agreement: Agreement
    book: AgreementBook
    records: dict[date, CallRecord] = field(default_factory=dict)
    closed: CloseRecord | None = None
    recalled: int = 0  # loan units recalled and not yet returned
    accrual: AccrualState | None = None  # None: no fee or rebate


def _role(party: Party) -> Role:
    return "lender" if party == Party.LENDER else "borrower"


class EngineLedger:
    """A :class:`~tanpo.scenarios.ledger.Ledger` backed by the pure Python margin engine."""

    backend = "engine"

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}
        self.balances: dict[str, dict[str, int]] = {}
        self.markets: dict[date, Market] = {}
        self.rates: dict[date, dict[str, Fraction]] = {}
        self._agreements: dict[str, _Open] = {}

    # -- tokens and balances ------------------------------------------------------------
    def define_tokens(self, tokens: Sequence[TokenSpec]) -> None:
        for spec in tokens:
            token = engine_token(spec)
            known = self.tokens.get(spec.id)
            if known is not None and known != token:
                raise ScenarioError(f"token {spec.id!r} is already defined differently")
            self.tokens[spec.id] = token

    def issue(self, party: str, token: str, quantity: int) -> None:
        if token not in self.tokens:
            raise ScenarioError(f"cannot issue unknown token {token!r}")
        if quantity < 0:
            raise ScenarioError(f"cannot issue a negative quantity of {token}")
        holding = self.balances.setdefault(party, {})
        holding[token] = holding.get(token, 0) + quantity

    def balance(self, party: str, token: str) -> int:
        return self.balances.get(party, {}).get(token, 0)

    def _move(self, token: str, quantity: int, sender: str, receiver: str) -> None:
        src = self.balances.setdefault(sender, {})
        dst = self.balances.setdefault(receiver, {})
        src[token] = src.get(token, 0) - quantity
        dst[token] = dst.get(token, 0) + quantity

    # -- prices ---------------------------------------------------------------------------
    def post_prices(
        self,
        day: date,
        prices: Mapping[str, Fraction],
        fx: Mapping[str, Fraction],
        rates: Mapping[str, Fraction] | None = None,
    ) -> None:
        self.markets[day] = market_of(day, prices, fx)
        self.rates[day] = dict(rates or {})

    def _market(self, day: date) -> Market:
        market = self.markets.get(day)
        if market is None:
            raise ScenarioError(f"no prices posted for {day.isoformat()}")
        return market

    def unit_value(self, token: str, day: date, base: str) -> Fraction:
        """Value in ``base`` of one unit of ``token`` at the prices posted for ``day``."""
        try:
            return unit_value(self.tokens[token], self._market(day), base)
        except MarginError as exc:
            raise ScenarioError(f"valuing {token} on {day.isoformat()}: {exc}") from None

    # -- agreements -----------------------------------------------------------------------
    def open_agreement(self, terms: AgreementTerms, day: date) -> OpenRecord:
        if terms.id in self._agreements:
            raise ScenarioError(f"agreement {terms.id!r} is already open")
        agreement = engine_agreement(self.tokens.values(), terms)
        # The opening exchange, all or nothing.
        needs = [(terms.lender, terms.loan_token, terms.loan_quantity)]
        needs += [(terms.borrower, t, q) for t, q in terms.collateral]
        for party, token, qty in needs:
            if self.balance(party, token) < qty:
                raise ScenarioError(
                    f"agreement {terms.id!r} cannot open on {day.isoformat()}: {party} holds "
                    f"{self.balance(party, token)} {token}, needs {qty}"
                )
        self._move(terms.loan_token, terms.loan_quantity, terms.lender, terms.borrower)
        for token, qty in terms.collateral:
            self._move(token, qty, terms.borrower, terms.lender)
        held = dict(terms.collateral)
        positions = Positions(
            held={t: held.get(t, 0) for t in terms.priority},
            borrower_free={t: max(0, self.balance(terms.borrower, t)) for t in terms.priority},
            lender_free={
                t: max(0, self.balance(terms.lender, t) - held.get(t, 0)) for t in terms.priority
            },
        )
        book = AgreementBook(agreement, positions)
        accrual = None
        if terms.economics is not None:
            try:
                acc = accruer(terms.economics, terms.base_currency)
            except ScenarioError as exc:
                raise ScenarioError(f"agreement {terms.id!r}: {exc}") from None
            accrual = AccrualState(acc, terms.start)
        self._agreements[terms.id] = _Open(terms, agreement, book, accrual=accrual)
        v_l, v_c = self._values(terms.id, day, book.positions.held)
        return OpenRecord(terms.id, day, terms, v_l, v_c)

    def _get(self, agreement_id: str) -> _Open:
        state = self._agreements.get(agreement_id)
        if state is None:
            raise ScenarioError(f"unknown agreement {agreement_id!r}")
        return state

    def _values(
        self, agreement_id: str, day: date, held: Mapping[str, int]
    ) -> tuple[Fraction, Fraction]:
        return agreement_values(self._get(agreement_id).agreement, self._market(day), held)

    def margin_call(self, agreement_id: str, day: date) -> CallRecord:
        state = self._get(agreement_id)
        known = state.records.get(day)
        if known is not None:
            return known
        if state.closed is not None:
            raise ScenarioError(f"agreement {agreement_id!r} is closed")
        terms = state.terms
        try:
            result = state.book.apply_day(self._market(day))
        except MarginError as exc:
            raise ScenarioError(
                f"margin call of {agreement_id!r} on {day.isoformat()}: {exc}"
            ) from None
        call = result.call
        parties = {Party.LENDER: terms.lender, Party.BORROWER: terms.borrower}
        settle = day + timedelta(days=terms.lag)
        transfers = []
        for t in call.transfers:
            sender, receiver = (
                (terms.borrower, terms.lender)
                if t.direction == Direction.BORROWER_TO_LENDER
                else (terms.lender, terms.borrower)
            )
            transfers.append(Transfer(
                t.token, t.quantity, t.direction.value, sender, receiver, t.value, settle,
                t.market_value, day,
            ))
        issuances = tuple(
            Issuance(m.token, m.quantity, parties[m.party], _role(m.party)) for m in call.mints
        )
        for m in issuances:
            self.issue(m.party, m.token, m.quantity)
        settled: list[Transfer] = []
        for p in result.settled:
            sender, receiver = (
                (terms.borrower, terms.lender)
                if p.direction == Direction.BORROWER_TO_LENDER
                else (terms.lender, terms.borrower)
            )
            self._move(p.token, p.quantity, sender, receiver)
            if p.trade_date != call.date:
                settled.append(Transfer(
                    p.token, p.quantity, p.direction.value, sender, receiver, p.value,
                    p.settle_day, p.market_value, date.fromisoformat(p.trade_date),
                ))
        if terms.lag:
            # Nothing of today's call has settled. The engine valued the projected positions
            # (settled + pending); they are the settled ones unless earlier transfers are still
            # pending (lag >= 2), in which case the settled positions are valued here.
            if all(p.trade_date == call.date for p in result.pending):
                v_c_now = call.vc_before
            else:
                _, v_c_now = self._values(agreement_id, day, result.positions.held)
            v_c_before = v_c_after = v_c_now
        else:
            v_c_before, v_c_after = call.vc_before, call.vc_after
        record = CallRecord(
            agreement=agreement_id,
            date=day,
            triggered=call.triggered,
            v_l=call.vl,
            v_c_before=v_c_before,
            v_c_after=v_c_after,
            transfers=tuple(transfers),
            issuances=issuances,
            issuance_required=tuple(
                IssuanceRequired(parties[r.party], "", r.value, _role(r.party))
                for r in call.issuance_required
            ),
            settled=tuple(settled),
            prices=call.prices,
            fx=call.fx,
            accruals=self._accrue(
                state, day, (terms.loan_quantity, result.positions.held)
            ),
        )
        state.records[day] = record
        return record

    # -- fees and rebates -----------------------------------------------------------------------
    def accrual_values(
        self, state: _Open, day: date, loan_quantity: int, held: Mapping[str, int]
    ) -> tuple[Fraction, Fraction, Fraction | None]:
        """What a period from ``day`` accrues on, as the chaincode values it: the loan's market
        value, the cash tokens' held value (no haircut) and the rebate benchmark's fixing."""
        terms = state.terms
        base = terms.base_currency
        loan = self.unit_value(terms.loan_token, day, base) * loan_quantity
        cash = sum(
            (self.unit_value(t, day, base) * held.get(t, 0) for t in terms.priority
             if self.tokens[t].kind == TokenKind.CT and held.get(t, 0) > 0),
            Fraction(0),
        )
        fixing = None
        if state.accrual is not None and state.accrual.accruer.benchmark:
            fixing = self.rates.get(day, {}).get(state.accrual.accruer.benchmark)
        return loan, cash, fixing

    def _accrue(
        self, state: _Open, day: date, after: tuple[int, Mapping[str, int]] | None
    ) -> tuple[AccrualLine, ...]:
        """Accrue ``state``'s agreement up to ``day``, then open the next period at the values
        of ``after`` = (loan quantity, held collateral); None: the close."""
        if state.accrual is None:
            return ()
        nxt = None if after is None else self.accrual_values(state, day, *after)
        try:
            return state.accrual.accrue_to(day, nxt)
        except ScenarioError as exc:
            raise ScenarioError(f"agreement {state.terms.id!r}: {exc}") from None

    def issue_invoice(self, first: str, second: str, month: str, currency: str) -> InvoiceRecord:
        first, second = sorted((first, second))
        lines = []
        for agreement_id, state in self._agreements.items():
            terms = state.terms
            if (
                state.accrual is None
                or sorted((terms.lender, terms.borrower)) != [first, second]
                or terms.base_currency != currency
            ):
                continue
            totals = state.accrual.take_month(month)
            if totals is not None:
                lines.append(invoice_line(
                    agreement_id, terms.lender, terms.borrower, state.accrual.accruer, totals
                ))
        if not lines:
            raise ScenarioError(
                f"nothing to invoice for {month} in {currency}: no agreement of {first} and "
                f"{second} accrued fees or rebates that month"
            )
        return invoice_record(first, second, month, currency, lines)

    def close_agreement(self, agreement_id: str, day: date) -> CloseRecord:
        state = self._get(agreement_id)
        if state.closed is not None:
            return state.closed
        terms = state.terms
        agreement = state.agreement
        positions = state.book.positions
        held = [positions.held.get(t, 0) for t in agreement.collateral_ids]
        bfree = [positions.borrower_free.get(t, 0) for t in agreement.collateral_ids]
        # Transfers still pending settle with the closing exchange (which nets everything).
        for p in state.book.pending:
            move(held, bfree, agreement.index[p.token], p.quantity, p.direction, p.token)
            sender, receiver = (
                (terms.borrower, terms.lender)
                if p.direction == Direction.BORROWER_TO_LENDER
                else (terms.lender, terms.borrower)
            )
            self._move(p.token, p.quantity, sender, receiver)
        returned = dict(zip(agreement.collateral_ids, held, strict=True))
        v_l, v_c = self._values(agreement_id, day, returned)
        accruals = self._accrue(state, day, None)
        self._move(terms.loan_token, terms.loan_quantity, terms.borrower, terms.lender)
        for token, qty in returned.items():
            if qty:
                self._move(token, qty, terms.lender, terms.borrower)
        state.closed = CloseRecord(agreement_id, day, returned, v_l, v_c, accruals)
        return state.closed

    def call_records(self, agreement_id: str) -> list[CallRecord]:
        state = self._get(agreement_id)
        return [state.records[d] for d in sorted(state.records)]

    def lifecycle_step(self, event: LifecycleEvent) -> StepRecord:
        state = self._get(event.agreement)
        day, terms = event.date, state.terms
        what = f"{event.action} of {event.agreement!r} on {day.isoformat()}"
        if state.closed is not None:
            raise ScenarioError(f"{what}: the agreement is closed")
        market = self._market(day)
        book = state.book.positions
        ids = state.agreement.collateral_ids
        # the step sees the borrower's actual free balances (a substitution delivers from them)
        positions = Positions(
            held=book.held,
            borrower_free={t: max(0, self.balance(terms.borrower, t)) for t in ids},
            lender_free=book.lender_free,
        )
        if event.action == "recall":
            # as the chaincode: recalls outstanding together cannot exceed the loan
            if event.quantity > terms.loan_quantity - state.recalled:
                raise ScenarioError(
                    f"{what}: the loan is {terms.loan_quantity} and {state.recalled} are already "
                    f"recalled, so at most {terms.loan_quantity - state.recalled}"
                )
            state.recalled += event.quantity
            v_l, v_c = agreement_values(state.agreement, market, book.held)
            return StepRecord(event.agreement, day, "recall", terms.loan_quantity, dict(book.held),
                              (), v_l, v_c)
        try:
            if event.action == "return":
                have = self.balance(terms.borrower, terms.loan_token)
                if have < event.quantity:
                    raise ScenarioError(f"{what}: {terms.borrower} holds {have} {terms.loan_token}")
                result = return_loan(state.agreement, market, positions, event.quantity)
            else:
                result = substitute(
                    state.agreement, market, positions,
                    [Move(t, q) for t, q in event.out], [Move(t, q) for t, q in event.in_],
                )
        except MarginError as exc:
            raise ScenarioError(f"{what}: {exc}") from None
        if event.action == "return":
            self._move(terms.loan_token, event.quantity, terms.borrower, terms.lender)
            state.recalled -= min(state.recalled, event.quantity)
        bfree = dict(book.borrower_free)
        for t in result.transfers:
            outgoing = t.direction == Direction.BORROWER_TO_LENDER
            sender, receiver = (terms.borrower, terms.lender) if outgoing else (
                terms.lender, terms.borrower)
            self._move(t.token, t.quantity, sender, receiver)
            change = -t.quantity if outgoing else t.quantity
            bfree[t.token] = max(0, bfree.get(t.token, 0) + change)
        if result.loan_after == 0:
            # a full return is the closing exchange: lagged transfers still pending are dropped;
            # fees and rebates accrue up to its date
            accruals = self._accrue(state, day, None)
            v_l, v_c = agreement_values(state.agreement, market, book.held)
            state.closed = CloseRecord(event.agreement, day, dict(book.held), v_l, v_c)
        else:
            if result.loan_after != terms.loan_quantity:
                state.terms = replace(terms, loan_quantity=result.loan_after)
                state.agreement = engine_agreement(self.tokens.values(), state.terms)
            state.book.rebase(state.agreement, Positions(
                held=dict(result.held_after), borrower_free=bfree, lender_free=book.lender_free))
            # the step changed what fees and rebates accrue on: up to its date, then its values
            accruals = self._accrue(state, day, (result.loan_after, result.held_after))
        return StepRecord(
            event.agreement, day, event.action, result.loan_after, dict(result.held_after),
            tuple((t.token, t.quantity, t.direction.value) for t in result.transfers),
            result.vl, result.vc_after, accruals,
        )
