"""Daily accrual of securities-lending economics: the lending fee the borrower pays the lender and
the rebate the lender pays the borrower on cash collateral. Mirrors the Go engine
(``chaincode/margin/accrual.go``) exactly; both pass the golden vectors in
``vectors/accrual.json``.

Formulas (exact, with the currency's day count; ``basis`` is 365 or 360)::

    days        = to − from (calendar days)
    fee_rate    = fee_bps / 10000                                   (a fraction per annum)
    fee         = loan_value × fee_rate × days / basis
    rebate_rate = (rebate_fixed, or fixing + rebate_spread_bps / 100) / 100
    rebate      = cash_value × rebate_rate × days / basis           (negative: the borrower pays)

A bill over one billing period: ``fee_accrued = Σ fee``, ``fee_charged = max(fee_accrued,
minimum_fee)``, ``minimum_top_up = fee_charged − fee_accrued``, ``rebate = Σ rebate``, ``net =
fee_charged − rebate`` (positive: the borrower pays the lender) and ``net_units =
round_to_unit(net)``, the only rounding of the module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import parse_date
from tanpo.margin.rational import Number, to_fraction


class DayCount(StrEnum):
    """A day-count convention: the days in the year an annual rate is divided by (the days of a
    period are always calendar days)."""

    #: Actual days over a fixed 365-day year (JPY, GBP), leap years included.
    ACT365F = "ACT/365F"
    #: Actual days over a 360-day year (USD, EUR).
    ACT360 = "ACT/360"

    @property
    def basis(self) -> int:
        """The length of the convention's year in days: 365 or 360."""
        return 360 if self is DayCount.ACT360 else 365


def parse_day_count(text: str) -> DayCount:
    """The convention named ``text`` (``"ACT/365F"`` or ``"ACT/360"``)."""
    for d in DayCount:
        if text == d.value:
            return d
    raise MarginError(ErrorKind.INVALID_INPUT, f"day count {text!r} is not ACT/365F or ACT/360")


_DAY_COUNTS = {
    "JPY": DayCount.ACT365F, "GBP": DayCount.ACT365F, "USD": DayCount.ACT360,
    "EUR": DayCount.ACT360,
}


def day_count_for(currency: str) -> DayCount:
    """The money-market day count of a currency: ACT/365F for JPY and GBP, ACT/360 for USD and
    EUR. Any other currency must give its day count in the terms."""
    d = _DAY_COUNTS.get(currency)
    if d is None:
        raise MarginError(
            ErrorKind.INVALID_INPUT,
            f"no day-count convention known for {currency}: give dayCount in the terms",
        )
    return d


_CURRENCY = re.compile(r"[A-Z]{3}")
#: A benchmark name, such as SOFR, TONA, SONIA, €STR or ESTR.
_BENCHMARK = re.compile(r"[A-Z€][A-Z0-9€]{0,15}")


def _given(value: Number) -> bool:
    return not (isinstance(value, str) and value == "")


def _optional(value: Number, what: str) -> Fraction:
    """``value`` as a Fraction, ``""`` meaning 0."""
    return to_fraction(value, what) if _given(value) else Fraction(0)


def _non_negative(value: Number, what: str) -> Fraction:
    v = _optional(value, what)
    if v < 0:
        raise MarginError(ErrorKind.OUT_OF_RANGE, f"{what} is {v}, not >= 0")
    return v


@dataclass(frozen=True, slots=True)
class AccrualTerms:
    """The economic terms of a loan's accrual. Numbers are exact (strings such as ``"25"``, ints
    or Fractions); ``""`` means not given."""

    #: 3-letter code of the currency the values are in.
    currency: str
    #: ``""`` = :func:`day_count_for` the currency.
    day_count: str = ""
    #: Lending fee, basis points per annum of the loan value, ≥ 0; ``""`` = no fee.
    fee_bps: Number = ""
    #: Fixed rebate rate, percent per annum, may be negative; ``""`` = none.
    rebate_fixed: Number = ""
    #: Floating rebate: benchmark name such as ``"SOFR"`` or ``"€STR"``; ``""`` = none.
    rebate_benchmark: str = ""
    #: Spread over the benchmark, basis points, may be negative; ``""`` = 0.
    rebate_spread_bps: Number = ""
    #: Minimum fee per billing period, ≥ 0; ``""`` = none.
    minimum_fee: Number = ""


@dataclass(frozen=True, slots=True)
class Period:
    """One accrual period ``[from_, to)``: the values are those at ``from_`` and hold until
    ``to``."""

    #: ISO date.
    from_: str
    #: ISO date, after ``from_``.
    to: str
    #: Market value of the loan at ``from_``, base currency, ≥ 0.
    loan_value: Number
    #: Cash collateral held at ``from_``, base currency, ≥ 0; ``""`` = 0.
    cash_value: Number = ""
    #: Benchmark rate at ``from_``, percent; required iff the rebate has a benchmark.
    fixing: Number = ""


@dataclass(frozen=True, slots=True)
class Accrual:
    """What one period accrued, exact; ``fee_rate`` and ``rebate_rate`` are fractions per
    annum."""

    from_: str
    to: str
    days: int
    fee_rate: Fraction
    rebate_rate: Fraction
    fee: Fraction
    rebate: Fraction


@dataclass(frozen=True, slots=True)
class Bill:
    """One billing period's invoice, exact except ``net_units``."""

    #: Σ fee.
    fee_accrued: Fraction
    #: max(fee_accrued, minimum fee).
    fee_charged: Fraction
    #: fee_charged − fee_accrued.
    minimum_top_up: Fraction
    #: Σ rebate.
    rebate: Fraction
    #: fee_charged − rebate; positive: the borrower pays the lender.
    net: Fraction
    #: round_to_unit(net): what settles, in whole cash-token units.
    net_units: int


def round_to_unit(value: Fraction) -> int:
    """Round to an integer, half away from zero (2.5 → 3, −2.5 → −3): invoices settle in whole
    cash-token units. The only rounding of the accrual module; every other figure is exact."""
    value = Fraction(value)
    n, d = abs(value.numerator), value.denominator
    q = (2 * n + d) // (2 * d)
    return -q if value < 0 else q


@dataclass(frozen=True, slots=True)
class Accruer:
    """Accrues fees and rebates under validated terms (build it with :func:`new_accrual_terms`)."""

    currency: str
    day_count: DayCount
    #: fraction per annum
    fee_rate: Fraction
    #: fraction per annum; None unless a fixed rebate
    fixed: Fraction | None
    benchmark: str
    #: fraction per annum
    spread: Fraction
    minimum: Fraction

    def accrue(self, p: Period) -> Accrual:
        """One period's fee and rebate. Checks, in order: ``from_``, ``to`` (dates), ``to`` after
        ``from_``, ``loan_value`` (given, a number, ≥ 0), ``cash_value`` (a number, ≥ 0), the
        fixing (given iff the rebate has a benchmark, a number)."""
        start = parse_date(p.from_)
        end = parse_date(p.to)
        days = (end - start).days
        if days <= 0:
            raise MarginError(
                ErrorKind.INVALID_INPUT, f"period to {p.to} is not after from {p.from_}"
            )
        if not _given(p.loan_value):
            raise MarginError(ErrorKind.INVALID_INPUT, f"period {p.from_}: loanValue is missing")
        loan = _non_negative(p.loan_value, "loanValue")
        cash = _non_negative(p.cash_value, "cashValue")
        if self.benchmark and not _given(p.fixing):
            raise MarginError(
                ErrorKind.INVALID_INPUT, f"period {p.from_}: the {self.benchmark} fixing is missing"
            )
        if not self.benchmark and _given(p.fixing):
            raise MarginError(
                ErrorKind.INVALID_INPUT,
                f"period {p.from_}: a fixing is given but the rebate has no benchmark",
            )
        if self.benchmark:
            rate = to_fraction(p.fixing, f"{self.benchmark} fixing") / 100 + self.spread
        elif self.fixed is not None:
            rate = self.fixed
        else:
            rate = Fraction(0)
        year_fraction = Fraction(days, self.day_count.basis)
        return Accrual(
            from_=p.from_, to=p.to, days=days, fee_rate=self.fee_rate, rebate_rate=rate,
            fee=loan * self.fee_rate * year_fraction, rebate=cash * rate * year_fraction,
        )

    def bill(self, accruals: Iterable[Accrual]) -> Bill:
        """Total the accruals of one billing period (the minimum fee applies once per call)."""
        items = list(accruals)
        fee_accrued = sum((a.fee for a in items), Fraction(0))
        rebate = sum((a.rebate for a in items), Fraction(0))
        fee_charged = max(fee_accrued, self.minimum)
        net = fee_charged - rebate
        return Bill(
            fee_accrued=fee_accrued, fee_charged=fee_charged,
            minimum_top_up=fee_charged - fee_accrued, rebate=rebate, net=net,
            net_units=round_to_unit(net),
        )


def new_accrual_terms(t: AccrualTerms) -> Accruer:
    """Validate ``t``, in this order: the currency code, the day count, the fee, the rebate (not
    both fixed and benchmark; a spread only with a benchmark; the benchmark name; the fixed rate;
    the spread), the minimum fee."""
    if not isinstance(t.currency, str) or not _CURRENCY.fullmatch(t.currency):
        raise MarginError(
            ErrorKind.INVALID_INPUT, f"currency {t.currency!r} is not a 3-letter code"
        )
    day_count = day_count_for(t.currency) if t.day_count == "" else parse_day_count(t.day_count)
    fee_rate = _non_negative(t.fee_bps, "feeBps") / 10000
    if _given(t.rebate_fixed) and t.rebate_benchmark != "":
        raise MarginError(
            ErrorKind.INVALID_INPUT,
            "a rebate is either fixed or a benchmark plus a spread, not both",
        )
    if _given(t.rebate_spread_bps) and t.rebate_benchmark == "":
        raise MarginError(ErrorKind.INVALID_INPUT, "a rebate spread needs a rebate benchmark")
    if t.rebate_benchmark != "" and not _BENCHMARK.fullmatch(t.rebate_benchmark):
        raise MarginError(
            ErrorKind.INVALID_INPUT,
            f"rebate benchmark {t.rebate_benchmark!r} is not 1-16 characters of A-Z, 0-9 and € "
            "starting with a letter",
        )
    fixed = (
        to_fraction(t.rebate_fixed, "rebate fixed rate") / 100 if _given(t.rebate_fixed) else None
    )
    spread = _optional(t.rebate_spread_bps, "rebate spreadBps") / 10000
    minimum = _non_negative(t.minimum_fee, "minimumFee")
    return Accruer(
        currency=t.currency, day_count=day_count, fee_rate=fee_rate, fixed=fixed,
        benchmark=t.rebate_benchmark, spread=spread, minimum=minimum,
    )
