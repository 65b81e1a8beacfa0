"""Run a scenario day by day through a ledger, and compute its metrics.

For each calendar day of the window, in order: post that day's prices (days without trading are
filled by the scenario's convention), open the agreements starting that day (``auto`` quantities
are sized at that day's prices), do the desk's steps scheduled that day (recalls, returns,
substitutions), run the margin call of every agreement with ``start < day < end`` (on every day,
or on weekdays only), and close the agreements ending that day. An agreement whose loan was
returned in full is closed by that return.

Agreements with a lending fee or a cash rebate accrue at their calls, steps and close (the
chaincode's rule, :mod:`tanpo.scenarios.accrual`); after the last day, every pair's month that has
ended within the window and has accruals is invoiced, month by month.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from tanpo.margin import MarginError, unit_value
from tanpo.marketdata.calendar import calendar_days
from tanpo.scenarios.accrual import months_to_invoice
from tanpo.scenarios.engine_ledger import EngineLedger, engine_token, market_of
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import (
    AccrualLine,
    AgreementTerms,
    CallRecord,
    CloseRecord,
    InvoiceRecord,
    Ledger,
    OpenRecord,
    StepRecord,
)
from tanpo.scenarios.metrics import Metrics, compute_metrics, merge_metrics
from tanpo.scenarios.model import AUTO, AgreementSpec, Checks, LifecycleEvent, Scenario
from tanpo.scenarios.prices import DayPrices, PriceBook

__all__ = ["RunResult", "resolve_terms", "run_scenario"]

IssuancePolicy = Callable[[AgreementTerms], bool]


def _lagged(terms: AgreementTerms) -> bool:
    """Default issuance policy: settlement through a clearing house (lag >= 1 day, today's
    practice, model 0) makes every call a new delivery instruction, counted as an issuance."""
    return terms.lag > 0


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced, in date order."""

    scenario: Scenario
    backend: str
    opens: tuple[OpenRecord, ...]
    calls: tuple[CallRecord, ...]
    closes: tuple[CloseRecord, ...]
    metrics: dict[str, Metrics]
    total: Metrics
    steps: tuple[StepRecord, ...] = ()
    #: the pairs' monthly invoices of fees and rebates, in month order
    invoices: tuple[InvoiceRecord, ...] = ()

    def calls_of(self, agreement_id: str) -> list[CallRecord]:
        return [c for c in self.calls if c.agreement == agreement_id]

    def accruals_of(self, agreement_id: str) -> list[AccrualLine]:
        """Every accrual line of an agreement (its calls', steps' and close's), in date order."""
        lines = [
            *(a for c in self.calls if c.agreement == agreement_id for a in c.accruals),
            *(a for s in self.steps if s.agreement == agreement_id for a in s.accruals),
            *(a for c in self.closes if c.agreement == agreement_id for a in c.accruals),
        ]
        return sorted(lines, key=lambda a: a.from_)

    @property
    def has_economics(self) -> bool:
        """True when an agreement of the run has a fee or a rebate."""
        return any(o.terms.economics is not None for o in self.opens)

    def terms(self, agreement_id: str) -> AgreementTerms:
        for o in self.opens:
            if o.agreement == agreement_id:
                return o.terms
        raise KeyError(agreement_id)


def resolve_terms(spec: AgreementSpec, scenario: Scenario, prices: DayPrices) -> AgreementTerms:
    """Concrete terms of ``spec`` at the start day's ``prices``, sizing an ``auto`` quantity.

    * ``collateral: {X: auto}`` - the fewest units of X whose haircut value, with the fixed
      collateral, covers the loan: ``ceil((V_L - fixed) / (u_X * (1 - alpha_X)))``.
    * ``loan: {L: auto}`` - the most units of L the collateral covers:
      ``floor(sum(q * u * (1 - alpha)) / u_L)`` (the paper's loan = (1 - alpha) x collateral).
    """
    base = spec.base_currency or scenario.base_currency
    tokens = {t.id: t for t in scenario.tokens}
    market = market_of(prices.day, prices.prices, prices.fx)

    def unit(token: str) -> Fraction:
        try:
            return unit_value(engine_token(tokens[token]), market, base)
        except MarginError as exc:
            raise ScenarioError(
                f"agreement {spec.id!r}: cannot value {token} on {prices.day.isoformat()}: {exc}",
                path=scenario.path,
            ) from None

    ((loan_token, loan_qty),) = spec.loan
    fixed = Fraction(0)
    for token, qty in spec.collateral:
        if qty is not AUTO:
            fixed += int(qty) * unit(token) * (1 - spec.haircut_of(token))
    collateral: list[tuple[str, int]] = []
    if loan_qty is AUTO:
        loan_units = math.floor(fixed / unit(loan_token))
        if loan_units <= 0:
            raise ScenarioError(
                f"agreement {spec.id!r}: the collateral is worth less than one unit of "
                f"{loan_token}",
                path=scenario.path,
            )
        loan_quantity = loan_units
    else:
        loan_quantity = int(loan_qty)
    v_l = loan_quantity * unit(loan_token)
    for token, qty in spec.collateral:
        if qty is AUTO:
            hu = unit(token) * (1 - spec.haircut_of(token))
            need = math.ceil((v_l - fixed) / hu)
            if need <= 0:
                raise ScenarioError(
                    f"agreement {spec.id!r}: the fixed collateral already covers the loan; "
                    f"{token}: auto would be {need}",
                    path=scenario.path,
                )
            collateral.append((token, need))
        else:
            collateral.append((token, int(qty)))
    return AgreementTerms(
        id=spec.id,
        lender=spec.lender,
        borrower=spec.borrower,
        base_currency=base,
        loan_token=loan_token,
        loan_quantity=loan_quantity,
        collateral=tuple(collateral),
        priority=spec.priority,
        start=spec.start,
        end=spec.end,
        haircut=spec.haircut,
        haircuts=dict(spec.haircuts),
        threshold=spec.threshold,
        mode=spec.mode,
        lag=spec.lag,
        auto_issue=spec.auto_issue,
        min_transfer=spec.min_transfer,
        economics=spec.economics,
        schedule=spec.schedule,
    )


def _checked(scenario: Scenario, day: date) -> bool:
    return scenario.checks is Checks.EVERY_DAY or day.weekday() < 5


def run_scenario(
    scenario: Scenario,
    ledger: Ledger | None = None,
    book: PriceBook | None = None,
    issuance_policy: IssuancePolicy = _lagged,
) -> RunResult:
    """Replay ``scenario`` through ``ledger`` (default: a fresh off-chain :class:`EngineLedger`).

    ``issuance_policy(terms)`` says whether every call of an agreement counts as an issuance
    (default: when it settles with a lag, i.e. through a clearing house).
    """
    ledger = ledger if ledger is not None else EngineLedger()
    book = book if book is not None else PriceBook(scenario)
    ledger.define_tokens(scenario.tokens)
    for party, holding in scenario.balances.items():
        for token, qty in holding.items():
            if qty:
                ledger.issue(party, token, qty)
    opens: list[OpenRecord] = []
    calls: list[CallRecord] = []
    closes: list[CloseRecord] = []
    terms_by_id: dict[str, AgreementTerms] = {}
    by_start: dict[date, list[AgreementSpec]] = {}
    for spec in scenario.agreements:
        by_start.setdefault(spec.start, []).append(spec)
    by_day: dict[date, list[LifecycleEvent]] = {}
    for event in scenario.events:
        by_day.setdefault(event.date, []).append(event)
    steps: list[StepRecord] = []
    returned: set[str] = set()  # closed by a full return

    for day in calendar_days(scenario.window_start, scenario.window_end):
        prices = book.on(day)
        if prices.rates:
            ledger.post_prices(day, prices.prices, prices.fx, prices.rates)
        else:
            ledger.post_prices(day, prices.prices, prices.fx)
        for spec in by_start.get(day, []):
            terms = resolve_terms(spec, scenario, prices)
            ledger.issue(terms.lender, terms.loan_token, terms.loan_quantity)
            for token, qty in terms.collateral:
                ledger.issue(terms.borrower, token, qty)
            opens.append(ledger.open_agreement(terms, day))
            terms_by_id[terms.id] = terms
        for event in by_day.get(day, []):
            if event.agreement in returned:
                raise ScenarioError(
                    f"{event.action} of {event.agreement!r} on {day.isoformat()}: its loan was "
                    "returned in full already",
                    path=scenario.path,
                )
            step = ledger.lifecycle_step(event)
            steps.append(step)
            if step.closed:
                returned.add(event.agreement)
        if _checked(scenario, day):
            for terms in terms_by_id.values():
                if terms.start < day < terms.end and terms.id not in returned:
                    calls.append(ledger.margin_call(terms.id, day))
        for terms in terms_by_id.values():
            if terms.end == day and terms.id not in returned:
                closes.append(ledger.close_agreement(terms.id, day))

    invoices = _invoices(
        scenario, ledger, terms_by_id.values(), calls, steps, closes
    )
    metrics = {
        t.id: compute_metrics([c for c in calls if c.agreement == t.id], issuance_policy(t))
        for t in terms_by_id.values()
    }
    return RunResult(
        scenario=scenario,
        backend=ledger.backend,
        opens=tuple(opens),
        calls=tuple(calls),
        closes=tuple(closes),
        metrics=metrics,
        total=merge_metrics(metrics.values()),
        steps=tuple(steps),
        invoices=invoices,
    )


def _invoices(
    scenario: Scenario,
    ledger: Ledger,
    terms: Iterable[AgreementTerms],
    calls: Sequence[CallRecord],
    steps: Sequence[StepRecord],
    closes: Sequence[CloseRecord],
) -> tuple[InvoiceRecord, ...]:
    """Invoice every pair's month that ended within the window and has accruals."""
    lines: dict[str, list[AccrualLine]] = {}
    records: list[CallRecord | StepRecord | CloseRecord] = [*calls, *steps, *closes]
    for record in records:
        lines.setdefault(record.agreement, []).extend(record.accruals)
    keys = months_to_invoice(
        ((t.lender, t.borrower, t.base_currency, lines.get(t.id, [])) for t in terms
         if t.economics is not None),
        scenario.window_end,
    )
    return tuple(ledger.issue_invoice(first, second, month, ccy) for first, second, month, ccy
                 in keys)


def run_many(
    scenarios: Sequence[Scenario], ledger_factory: Callable[[], Ledger] = EngineLedger
) -> list[RunResult]:
    """Run several scenarios, each on a fresh ledger."""
    return [run_scenario(s, ledger_factory()) for s in scenarios]
