"""Fees and rebates off-chain: the chaincode's accrual rule (``chaincode/contracts/economics.go``)
and monthly invoices (``billing.go``), with the margin engine's arithmetic
(:mod:`tanpo.margin.accrual`).

Each margin call accrues the period since the previous one at the values the previous one found
(the loan's market value, the cash collateral's value, the benchmark fixing), split at month
ends; the first period, from the start date, is valued at the first values found. A life-cycle
step that changes the loan or the cash accrues up to its date first, then opens the next period
at its values; the close accrues up to its date and opens none. Month totals wait for the
pair's invoice, which takes them: one line per agreement (the engine's bill of the month: the fee
raised to the minimum, less the rebate), netted into what one bank owes the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

from tanpo.client.models import AccrualLine, InvoiceLine
from tanpo.client.pairs import pair_collection
from tanpo.margin import MarginError
from tanpo.margin.accrual import Accrual, AccrualTerms, Accruer, Period, new_accrual_terms
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import InvoiceRecord
from tanpo.scenarios.model import Economics

__all__ = [
    "AccrualState",
    "MonthTotals",
    "accrual_terms",
    "accruer",
    "invoice_line",
    "invoice_record",
    "month_ended",
    "months_to_invoice",
    "next_month",
]


def _number(value: Fraction | None) -> Fraction | str:
    return "" if value is None else value


def accrual_terms(economics: Economics, currency: str) -> AccrualTerms:
    """The engine's accrual terms of an agreement's economics in its base currency."""
    return AccrualTerms(
        currency=currency,
        day_count=economics.day_count,
        fee_bps=_number(economics.fee_bps),
        rebate_fixed=_number(economics.rebate_fixed),
        rebate_benchmark=economics.rebate_benchmark,
        rebate_spread_bps=_number(economics.rebate_spread_bps),
        minimum_fee=_number(economics.minimum_fee),
    )


def accruer(economics: Economics, currency: str) -> Accruer:
    """The engine's accruer of an agreement (ScenarioError on invalid terms)."""
    try:
        return new_accrual_terms(accrual_terms(economics, currency))
    except MarginError as exc:
        raise ScenarioError(f"invalid fee or rebate terms: {exc}") from None


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def month_ended(month: str, by: date) -> bool:
    """True when ``month`` (``YYYY-MM``) has ended by ``by``: its invoice can be issued."""
    return next_month(date.fromisoformat(month + "-01")) <= by


@dataclass
class MonthTotals:
    """A month's accrued totals of one agreement, exact."""

    fee: Fraction = Fraction(0)
    rebate: Fraction = Fraction(0)
    days: int = 0


@dataclass
class AccrualState:
    """Where an agreement's accrual stands (the chaincode's custody ``accrual``): the open
    period's start and the values found then, and the month totals not yet invoiced."""

    accruer: Accruer
    start: date
    from_: date | None = None
    loan_value: Fraction = Fraction(0)
    cash_value: Fraction = Fraction(0)
    fixing: Fraction | None = None
    months: dict[str, MonthTotals] = field(default_factory=dict)

    def accrue_to(
        self, day: date, nxt: tuple[Fraction, Fraction, Fraction | None] | None
    ) -> tuple[AccrualLine, ...]:
        """Accrue the open period up to ``day`` at the values found at its start, then open the
        next period at ``nxt`` = (loan value, cash value, fixing); None: the close."""
        if self.from_ is None:
            if nxt is None:
                return ()
            # the first period, from the start date, at the first values found
            self.from_ = self.start
            self.loan_value, self.cash_value, self.fixing = nxt
        if self.fixing is None and nxt is not None:
            self.fixing = nxt[2]
        lines: list[AccrualLine] = []
        if day > self.from_:
            if self.accruer.benchmark and self.fixing is None:
                raise ScenarioError(
                    f"no fixing of {self.accruer.benchmark} for {self.from_.isoformat()}"
                )
            start = self.from_
            while start < day:
                end = min(day, next_month(start))
                try:
                    a = self.accruer.accrue(Period(
                        start.isoformat(), end.isoformat(), self.loan_value, self.cash_value,
                        "" if self.fixing is None else self.fixing,
                    ))
                except MarginError as exc:
                    raise ScenarioError(
                        f"accrual from {start.isoformat()} to {end.isoformat()}: {exc}"
                    ) from None
                totals = self.months.setdefault(start.isoformat()[:7], MonthTotals())
                totals.fee += a.fee
                totals.rebate += a.rebate
                totals.days += a.days
                lines.append(AccrualLine(
                    start, end, a.days, self.loan_value, self.cash_value, a.fee_rate,
                    a.rebate_rate, a.fee, a.rebate,
                ))
                start = end
            self.from_ = day
        if nxt is not None:
            self.loan_value, self.cash_value = nxt[0], nxt[1]
            if nxt[2] is not None:
                self.fixing = nxt[2]  # a date without a fixing keeps the last one
        return tuple(lines)

    def take_month(self, month: str) -> MonthTotals | None:
        """The month's totals, which leave the state (they are invoiced)."""
        return self.months.pop(month, None)


def invoice_line(
    agreement: str, lender: str, borrower: str, acc: Accruer, totals: MonthTotals
) -> InvoiceLine:
    """An agreement's line for a month's totals: the engine's bill of the month."""
    bill = acc.bill([Accrual("", "", 0, Fraction(0), Fraction(0), totals.fee, totals.rebate)])
    return InvoiceLine(
        agreement=agreement, lender=lender, borrower=borrower, days=totals.days,
        fee_accrued=bill.fee_accrued, minimum_top_up=bill.minimum_top_up,
        fee_charged=bill.fee_charged, rebate=bill.rebate, net=bill.net,
    )


def invoice_record(
    first: str, second: str, month: str, currency: str, lines: Iterable[InvoiceLine]
) -> InvoiceRecord:
    """Net a pair's lines (``first`` < ``second``, the pair collection's order) into its invoice,
    as ``billing:IssueInvoice`` does: the second bank pays when the net it owes the first is
    >= 0, the first otherwise; the amount is the net rounded half away from zero. Lines come in a
    canonical order: those lent by the first bank first, then by agreement id."""
    from tanpo.margin.accrual import round_to_unit

    ordered = sorted(lines, key=lambda x: (x.lender != first, x.agreement))
    owed_to_first = sum(
        (x.net if x.lender == first else -x.net for x in ordered), Fraction(0)
    )
    payer, payee = second, first
    if owed_to_first < 0:
        payer, payee, owed_to_first = first, second, -owed_to_first
    return InvoiceRecord(
        pair=pair_collection(first, second), month=month, currency=currency,
        lines=tuple(ordered), net=owed_to_first, amount=round_to_unit(owed_to_first),
        payer=payer, payee=payee,
    )


def months_to_invoice(
    records: Iterable[tuple[str, str, str, Iterable[AccrualLine]]], by: date
) -> list[tuple[str, str, str, str]]:
    """The (first, second, month, currency) invoices a run issues: every pair, month and
    currency with accrual lines (``records``: lender, borrower, base currency, lines) whose month
    has ended by ``by``, in month, then pair, then currency order."""
    keys: set[tuple[str, str, str, str]] = set()
    for lender, borrower, currency, lines in records:
        first, second = sorted((lender, borrower))
        for line in lines:
            month = line.from_.isoformat()[:7]
            if month_ended(month, by):
                keys.add((first, second, month, currency))
    return sorted(keys, key=lambda k: (k[2], k[0], k[1], k[3]))

