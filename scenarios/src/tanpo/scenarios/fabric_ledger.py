"""The on-chain ledger behind a scenario run: the same steps as Fabric transactions.

Each step is done by the identity that does it in production: the operator's User1 defines
tokens, approves issuance, posts prices and runs the margin calls (as oracle); the banks' User1
request issuance, propose and approve agreements and close them. Records are read back from what
the chaincode stored, so a run's figures come from the ledger, not from a local computation.

Agreement ids on the ledger carry a run tag (a network keeps every run), while records use the
scenario's own ids. Prices already posted with the same values are not posted again; different
values for a posted date are refused by the chaincode, as in production.

Fees and rebates are the chaincode's: the accrual lines are read from the call records and the
steps' history entries, and each month's invoice is issued with ``billing:IssueInvoice`` (as the
oracle) and read back. An invoice is once per pair, month and currency on a network, so a second
run of a scenario with fees over the same months needs a fresh network.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from fractions import Fraction
from typing import cast

from tanpo.client.api import OracleClient, Party, TanpoClient, TokenAdministrator
from tanpo.client.errors import GatewayError
from tanpo.client.models import (
    Agreement as LedgerAgreement,
)
from tanpo.client.models import Cap as LedgerCap
from tanpo.client.models import (
    CollateralLeg,
    FeeTerms,
    MarginCall,
    MarginTransfer,
    RebateTerms,
    Terms,
)
from tanpo.client.models import Schedule as LedgerSchedule
from tanpo.client.models import Token as LedgerToken
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile, load_profile
from tanpo.client.session import Participant, Session
from tanpo.margin import Agreement, Market, Token
from tanpo.margin import Schedule as EngineSchedule
from tanpo.scenarios.accrual import invoice_record, next_month
from tanpo.scenarios.engine_ledger import (
    agreement_values,
    engine_agreement,
    engine_token,
    market_of,
    step_values,
    token_attributes,
)
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
from tanpo.scenarios.model import Economics, LifecycleEvent, TokenSpec

__all__ = ["FabricLedger"]

OPERATOR = "operator"


class FabricLedger:
    """A :class:`~tanpo.scenarios.ledger.Ledger` on the running tanpo network.

    Every step settles after its submit: the next step's endorsers (the agreement's two banks,
    the operator) must read what it wrote, on their own peers.
    """

    backend = "fabric"

    def __init__(self, profile: Profile | None = None, run_tag: str | None = None) -> None:
        self.profile = profile or load_profile()
        self.run_tag = run_tag or time.strftime("run%Y%m%d%H%M%S")
        self.session = Session(self.profile)
        self.tokens: dict[str, Token] = {}
        self._specs: dict[str, TokenSpec] = {}
        self.markets: dict[date, Market] = {}
        self._terms: dict[str, AgreementTerms] = {}
        self._agreements: dict[str, Agreement] = {}
        self._closed: dict[str, CloseRecord] = {}

    # -- identities ---------------------------------------------------------------------------
    def _as(self, party: str) -> Participant:
        if party not in self.profile.orgs:
            raise ScenarioError(
                f"party {party!r} is not an organisation of the network "
                f"(known: {', '.join(sorted(self.profile.orgs))})"
            )
        return self.session.as_(party)

    def _admin(self) -> TokenAdministrator:
        return self._as(OPERATOR).client(TokenAdministrator)

    def _oracle(self) -> OracleClient:
        return self._as(OPERATOR).client(OracleClient)

    def _party(self, name: str) -> Party:
        return self._as(name).client(Party)

    def reader(self) -> TanpoClient:
        """Read access as the operator: prices, balances and supply (not the agreements)."""
        return self._as(OPERATOR).client(TanpoClient)

    def close(self) -> None:
        self.session.close()

    def chain_id(self, agreement_id: str) -> str:
        return f"{self.run_tag}-{agreement_id}"

    # -- tokens and balances --------------------------------------------------------------------
    def define_tokens(self, tokens: Sequence[TokenSpec]) -> None:
        admin = self._admin()
        for spec in tokens:
            asset_class, rating, issuer = token_attributes(spec)
            token = LedgerToken(
                id=spec.id, kind=spec.kind, currency=spec.currency,
                quote_convention=spec.quote, asset_class=asset_class, credit_rating=rating,
                name=spec.name or "", issuer=issuer,
                # The market symbol is the ticker; a token priced inline goes by its id.
                ticker=(spec.source or spec.id) if spec.kind == "ST" else "",
                identifiers=dict(spec.identifiers), isin=spec.isin,
            )
            with _as_scenario_error(f"defining token {spec.id}"):
                try:
                    admin.define_token(token)
                except GatewayError as exc:
                    if exc.refusal is None or "already defined" not in exc.refusal:
                        raise
                    # Another run defined it (a network keeps every run): the same economics
                    # (kind, currency, quote) is the same token; anything else is a real clash.
                    known = admin.token(spec.id)
                    if (known.kind, known.currency, known.quote_convention) != (
                        spec.kind, spec.currency, spec.quote
                    ):
                        raise
            self.tokens[spec.id] = engine_token(spec)
            self._specs[spec.id] = spec
        self.session.settle()

    def issue(self, party: str, token: str, quantity: int) -> None:
        if quantity <= 0:
            return
        requester = self._party(party)
        with _as_scenario_error(f"issuing {quantity} {token} to {party}"):
            request = requester.request_issuance(token, quantity, f"{self.run_tag} scenario")
        self.session.settle()
        admin = self._admin()
        with _as_scenario_error(f"approving issuance {request.id}"):
            admin.approve_issuance(request.id)
        self.session.settle()

    # -- prices -----------------------------------------------------------------------------------
    def post_prices(
        self,
        day: date,
        prices: Mapping[str, Fraction],
        fx: Mapping[str, Fraction],
        rates: Mapping[str, Fraction] | None = None,
    ) -> None:
        self.markets[day] = market_of(day, prices, fx)
        securities = {
            t: v for t, v in prices.items() if self._specs.get(t) and self._specs[t].kind == "ST"
        }
        oracle = self._oracle()
        with _as_scenario_error(f"posting the prices of {day.isoformat()}"):
            try:
                posted = oracle.prices(day)
            except GatewayError:
                posted = None
            if (
                posted is not None
                and _covers(posted.prices, securities)
                and _covers(posted.fx, fx)
                and _covers(posted.rates, rates or {})
            ):
                return
            oracle.post_prices(day, securities, fx, source="scenario", rates=rates or None)
        self.session.settle()

    # -- agreements -------------------------------------------------------------------------------
    def open_agreement(self, terms: AgreementTerms, day: date) -> OpenRecord:
        agreement = engine_agreement(self.tokens.values(), terms)
        chain_terms = Terms(
            id=self.chain_id(terms.id),
            lender=terms.lender,
            borrower=terms.borrower,
            loan_token=terms.loan_token,
            loan_quantity=terms.loan_quantity,
            collateral=tuple(
                CollateralLeg(token, dict(terms.collateral).get(token, 0),
                              terms.haircuts.get(token))
                for token in terms.priority
            ),
            base_currency=terms.base_currency,
            haircut=terms.haircut,
            threshold=terms.threshold,
            mode=terms.mode,
            settlement_lag_days=terms.lag,
            auto_issue=terms.auto_issue,
            minimum_transfer_amount=terms.min_transfer,
            trade_date=terms.start,
            start_date=terms.start,
            end_date=terms.end,
        )
        if terms.economics is not None:
            chain_terms = _with_economics(chain_terms, terms.economics)
        if terms.schedule is not None:
            chain_terms = replace(chain_terms, schedule=_ledger_schedule(terms.schedule))
        lender = self._party(terms.lender)
        if terms.economics is not None:
            self._check_not_invoiced(terms)
        with _as_scenario_error(f"proposing agreement {terms.id}"):
            lender.propose(chain_terms)
        self.session.settle()
        borrower = self._party(terms.borrower)
        with _as_scenario_error(f"approving agreement {terms.id}"):
            borrower.approve(chain_terms.id)
        self.session.settle()
        self._terms[terms.id] = terms
        self._agreements[terms.id] = agreement
        v_l, v_c = agreement_values(agreement, self.markets[day], dict(terms.collateral))
        return OpenRecord(terms.id, day, terms, v_l, v_c)

    def _check_not_invoiced(self, terms: AgreementTerms) -> None:
        """Refuse, before anything is proposed, an agreement with a fee or rebate whose months
        the pair has already been invoiced for on this network (by an earlier run): an invoice
        is issued once per pair, month and currency, so this run's could not be."""
        lender = self._party(terms.lender)
        month = date(terms.start.year, terms.start.month, 1)
        while month < terms.end:
            label = month.isoformat()[:7]
            try:
                lender.invoice(label, terms.base_currency, terms.borrower)
            except GatewayError:
                pass  # not invoiced (any other problem shows when the run invoices the month)
            else:
                raise ScenarioError(
                    f"agreement {terms.id}: the pair {terms.lender}/{terms.borrower} is already "
                    f"invoiced for {label} in {terms.base_currency} on this network (an earlier "
                    "run); invoices are issued once per pair, month and currency, so run this "
                    "scenario on a fresh network"
                )
            month = next_month(month)

    def _known(self, agreement_id: str) -> AgreementTerms:
        terms = self._terms.get(agreement_id)
        if terms is None:
            raise ScenarioError(f"unknown agreement {agreement_id!r}")
        return terms

    def margin_call(self, agreement_id: str, day: date) -> CallRecord:
        terms = self._known(agreement_id)
        oracle = self._oracle()
        chain_id = self.chain_id(agreement_id)
        with _as_scenario_error(f"margin call of {agreement_id} on {day.isoformat()}"):
            # the oracle triggers the call in the pair; the record is the pair's to read
            oracle.call_margin(chain_id, day, pair_collection(terms.lender, terms.borrower))
            self.session.settle()
            call = self._party(terms.lender).get_margin_call(chain_id, day)
        return _record(agreement_id, terms, call)

    def issue_invoice(self, first: str, second: str, month: str, currency: str) -> InvoiceRecord:
        pair = pair_collection(first, second)
        first, second = sorted((first, second))
        with _as_scenario_error(f"invoicing {month} in {currency} of {pair}"):
            self._oracle().issue_invoice(month, currency, pair=pair)
            self.session.settle()
            invoice = self._party(first).invoice(month, currency, second)
        prefix = f"{self.run_tag}-"
        lines = [
            replace(line, agreement=line.agreement.removeprefix(prefix), query=None)
            for line in invoice.lines
        ]
        # the ledger's figures, the lines in the canonical order
        ordered = invoice_record(first, second, month, currency, lines)
        return replace(ordered, pair=invoice.pair, net=invoice.net, amount=invoice.amount,
                       payer=invoice.payer, payee=invoice.payee)

    def close_agreement(self, agreement_id: str, day: date) -> CloseRecord:
        if agreement_id in self._closed:
            return self._closed[agreement_id]
        terms = self._known(agreement_id)
        lender = self._party(terms.lender)
        with _as_scenario_error(f"closing agreement {agreement_id}"):
            held = {p.token: p.held for p in lender.collateral_held(self.chain_id(agreement_id))}
            # the loan as it stands after any returns
            loan = lender.agreement(self.chain_id(agreement_id)).terms.loan_quantity
            closed = lender.close(self.chain_id(agreement_id))
        self.session.settle()
        v_l, v_c = step_values(self._agreements[agreement_id], self.markets[day], loan, held)
        record = CloseRecord(agreement_id, day, held, v_l, v_c, _last_accruals(closed))
        self._closed[agreement_id] = record
        return record

    def lifecycle_step(self, event: LifecycleEvent) -> StepRecord:
        terms = self._known(event.agreement)
        chain_id, day = self.chain_id(event.agreement), event.date
        lender, borrower = self._party(terms.lender), self._party(terms.borrower)
        market, opened = self.markets[day], self._agreements[event.agreement]
        with _as_scenario_error(f"{event.action} of {event.agreement} on {day.isoformat()}"):
            before = {p.token: p.held for p in lender.collateral_held(chain_id)}
            loan_before = lender.agreement(chain_id).terms.loan_quantity
            if event.action == "recall":
                after = lender.recall(chain_id, event.quantity, date=day, due=event.due)
            elif event.action == "return":
                after = borrower.return_loan(chain_id, event.quantity, date=day)
            else:
                after = borrower.substitute(chain_id, dict(event.out), dict(event.in_), date=day)
                if after.substitution is not None:
                    self.session.settle()
                    after = lender.approve_substitution(chain_id)
            self.session.settle()
            held = {p.token: p.held for p in lender.collateral_held(chain_id)}
        # the step's collateral movements, as its history entry records them
        movements = tuple(
            (str(t["token"]), int(t["quantity"]),
             "lender->borrower" if t["from"] == terms.lender else "borrower->lender")
            for t in after.raw["history"][-1].get("transfers") or []
            if t.get("leg") == "collateral"
        ) if event.action != "recall" else ()
        loan = after.terms.loan_quantity if after.status != "CLOSED" else 0
        if after.status == "CLOSED":
            # a full return is the closing exchange of what was held before it
            v_l, v_c = step_values(opened, market, loan_before, before)
            self._closed[event.agreement] = CloseRecord(event.agreement, day, before, v_l, v_c)
        v_l, v_c = step_values(opened, market, loan, held)
        return StepRecord(event.agreement, day, event.action, loan, held, movements, v_l, v_c,
                          _last_accruals(after))

    def call_records(self, agreement_id: str) -> list[CallRecord]:
        terms = self._known(agreement_id)
        lender = self._party(terms.lender)
        with _as_scenario_error(f"reading the margin calls of {agreement_id}"):
            calls = lender.margin_calls(self.chain_id(agreement_id))
        return sorted((_record(agreement_id, terms, c) for c in calls), key=lambda r: r.date)


def _ledger_schedule(s: EngineSchedule) -> LedgerSchedule:
    """The engine's schedule as the chaincode's terms carry it."""
    return LedgerSchedule(
        asset_classes=tuple(s.asset_classes), currencies=tuple(s.currencies),
        min_rating=s.min_rating, haircuts={k: Fraction(v) for k, v in s.haircuts.items()},
        caps=tuple(LedgerCap(c.by, c.key, Fraction(c.max)) for c in s.caps),
    )


def _with_economics(terms: Terms, e: Economics) -> Terms:
    """Chain terms with an agreement's fee, rebate and day count."""
    return replace(
        terms,
        fee=FeeTerms(e.fee_bps, e.minimum_fee) if e.fee_bps is not None else None,
        rebate=(RebateTerms(e.rebate_fixed, e.rebate_benchmark, e.rebate_spread_bps)
                if e.has_rebate else None),
        day_count=e.day_count,
    )


def _last_accruals(agreement: LedgerAgreement) -> tuple[AccrualLine, ...]:
    """The accrual lines of the agreement's latest history entry (the step or the close)."""
    return agreement.history[-1].accruals if agreement.history else ()


def _covers(posted: Mapping[str, Fraction], wanted: Mapping[str, Fraction]) -> bool:
    return all(posted.get(k) == Fraction(v) for k, v in wanted.items())


@contextmanager
def _as_scenario_error(step: str) -> Iterator[None]:
    """Turn a chaincode refusal into a ScenarioError that says which step failed."""
    try:
        yield
    except GatewayError as exc:
        raise ScenarioError(f"{step}: {exc.chaincode_message}") from exc


def _transfer(t: MarginTransfer, day: date) -> Transfer:
    return t if t.settle_date is not None else replace(t, settle_date=day)


def _record(agreement_id: str, terms: AgreementTerms, call: MarginCall) -> CallRecord:
    v_c_after = call.vc_after
    if terms.lag > 0:
        # Nothing of a lagged call settles on its own date.
        v_c_after = call.vc_before
    raw = call.raw
    return CallRecord(
        agreement=agreement_id,
        date=call.date,
        triggered=call.triggered,
        v_l=call.vl,
        v_c_before=call.vc_before,
        v_c_after=v_c_after,
        transfers=tuple(_transfer(t, call.date) for t in call.transfers),
        issuances=tuple(
            Issuance(str(m["token"]), int(m["quantity"]), str(m["party"]),
                     cast(Role, m.get("role", "lender")))
            for m in call.mints
        ),
        issuance_required=tuple(
            IssuanceRequired(str(r["party"]), str(r.get("token", "")), Fraction(str(r["value"])),
                             str(r.get("role", "lender")))
            for r in call.issuance_required
        ),
        settled=tuple(
            _transfer(MarginTransfer.from_json(s), call.date)
            for s in raw.get("settled") or []
            if s.get("tradeDate") != call.date.isoformat()
        ),
        prices={k: Fraction(str(v)) for k, v in (raw.get("prices") or {}).items()},
        fx={k: Fraction(str(v)) for k, v in (raw.get("fx") or {}).items()},
        accruals=call.accruals,
    )

