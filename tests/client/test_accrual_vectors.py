"""Accrual golden vectors (vectors/accrual.json, shared with the Go engine's tests) and properties
of the daily fee and rebate accrual."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpo.margin import (
    AccrualTerms,
    DayCount,
    ErrorKind,
    MarginError,
    Period,
    day_count_for,
    new_accrual_terms,
    parse_day_count,
    round_to_unit,
    run_accrual_case,
    run_accrual_case_line,
)
from tanpo.margin.accrual_vectors import ACCRUAL_FORMAT, check_accrual_expectations
from tanpo.margin.vectors import iter_vector_cases

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
CASES = list(iter_vector_cases(VECTORS, ACCRUAL_FORMAT))


def test_accrual_vectors_exist() -> None:
    assert len(CASES) >= 14
    assert {file for file, _ in CASES} == {"accrual.json"}
    names = [case["name"] for _, case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    currencies = {case["terms"]["currency"] for _, case in CASES if "expect" in case}
    assert {"JPY", "GBP", "USD", "EUR"} <= currencies
    units = {case["expect"]["netUnits"] for _, case in CASES if "expect" in case}
    assert any(u.startswith("-") for u in units) and any(not u.startswith("-") for u in units)


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[c["name"] for _, c in CASES])
def test_accrual_vector(case: dict[str, Any]) -> None:
    output = run_accrual_case(case)
    problems = check_accrual_expectations(case, output)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("null", "invalid_input"),
        ("[]", "invalid_input"),
        ('{"name": "x", "name": "y"}', "invalid_input"),
        ('{"terms": {"currency": "USD"}, "periods": []}', "invalid_input"),
        ('{"terms": {"currency": "USD", "FeeBps": "1"}, "periods": [{}]}', "invalid_input"),
        ('{"terms": {"currency": "USD", "feeBps": 1}, "periods": [{}]}', "invalid_input"),
        ('{"terms": {"currency": "USD", "rebate": {"spread": "1"}}, "periods": [{}]}',
         "invalid_input"),
        ('{"terms": {"currency": "USD", "rebate": {"spreadBps": "1"}}, "periods": [{}]}',
         "invalid_input"),
        ('{"terms": {"currency": "usd"}, "periods": [{}]}', "invalid_input"),
        ('{"terms": {"currency": "USD"}, "periods": [null]}', "invalid_input"),
        ('{"terms": {"currency": "USD", "minimumFee": "-1"}, "periods": [null]}', "out_of_range"),
        ('{"terms": {"currency": "USD"}, "periods": [{"from": "2026-01-01", "to": "2026-01-02"}]}',
         "invalid_input"),
        ('{"terms": {"currency": "USD"}, "periods": [{"from": "2026-01-01", "to": "2026-02-30",'
         ' "loanValue": "1"}]}', "invalid_input"),
        ('{"terms": {"currency": "USD"}, "periods": [{"from": "2026-01-01", "to": "2026-01-02",'
         ' "loanValue": "+1"}]}', "invalid_number"),
    ],
)
def test_odd_lines_are_errors(line: str, kind: str) -> None:
    out = run_accrual_case_line(line)
    assert out["error"]["kind"] == kind, out


def test_day_counts() -> None:
    assert day_count_for("JPY") is day_count_for("GBP") is DayCount.ACT365F
    assert day_count_for("USD") is day_count_for("EUR") is DayCount.ACT360
    assert DayCount.ACT365F.basis == 365 and DayCount.ACT360.basis == 360
    assert parse_day_count("ACT/360") is DayCount.ACT360
    with pytest.raises(MarginError) as err:
        day_count_for("CHF")
    assert err.value.kind is ErrorKind.INVALID_INPUT
    assert "give dayCount in the terms" in err.value.message
    with pytest.raises(MarginError):
        parse_day_count("ACT/365")


@pytest.mark.parametrize(
    ("value", "units"),
    [("0", 0), ("5/2", 3), ("-5/2", -3), ("1/2", 1), ("-1/2", -1), ("3/2", 2), ("-3/2", -2),
     ("49/100", 0), ("-49/100", 0), ("51/100", 1), ("-51/100", -1), ("7", 7), ("-7", -7)],
)
def test_round_to_unit(value: str, units: int) -> None:
    assert round_to_unit(Fraction(value)) == units


# ---- properties ------------------------------------------------------------------------------

_AMOUNT = st.builds(lambda n, s: str(Fraction(n, 10**s)), st.integers(0, 10**12), st.integers(0, 4))
_BPS = st.builds(lambda n, s: str(Fraction(n, 10**s)), st.integers(0, 5000), st.integers(0, 2))
_PCT = st.builds(lambda n: str(Fraction(n, 1000)), st.integers(-2000, 8000))
_CCY = st.sampled_from(["JPY", "GBP", "USD", "EUR"])
_START = st.dates(date(2000, 1, 1), date(2040, 12, 31))


@st.composite
def _terms(draw: st.DrawFn) -> AccrualTerms:
    kind = draw(st.sampled_from(["none", "fixed", "benchmark"]))
    return AccrualTerms(
        currency=draw(_CCY),
        fee_bps=draw(_BPS),
        rebate_fixed=draw(_PCT) if kind == "fixed" else "",
        rebate_benchmark="SOFR" if kind == "benchmark" else "",
        rebate_spread_bps=draw(st.sampled_from(["", "-25", "10", "-7.5"]))
        if kind == "benchmark" else "",
    )


@settings(max_examples=200, deadline=None)
@given(terms=_terms(), start=_START, cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6),
       loan=_AMOUNT, cash=_AMOUNT, fixing=_PCT)
def test_splitting_a_period_changes_nothing(
    terms: AccrualTerms, start: date, cuts: list[int], loan: str, cash: str, fixing: str
) -> None:
    """Consecutive sub-periods with the same values and rate accrue exactly what the whole period
    accrues."""
    accruer = new_accrual_terms(terms)
    fix = fixing if terms.rebate_benchmark else ""
    bounds = [start]
    for c in cuts:
        bounds.append(bounds[-1] + timedelta(days=c))
    parts = [
        accruer.accrue(Period(a.isoformat(), b.isoformat(), loan, cash, fix))
        for a, b in pairwise(bounds)
    ]
    whole = accruer.accrue(Period(bounds[0].isoformat(), bounds[-1].isoformat(), loan, cash, fix))
    assert sum(p.days for p in parts) == whole.days
    assert sum((p.fee for p in parts), Fraction(0)) == whole.fee
    assert sum((p.rebate for p in parts), Fraction(0)) == whole.rebate
    split, single = accruer.bill(parts), accruer.bill([whole])
    assert split == single


@settings(max_examples=200, deadline=None)
@given(terms=_terms(), start=_START, days=st.integers(1, 400), a=_AMOUNT, b=_AMOUNT,
       k=st.integers(0, 1000))
def test_fee_is_linear_in_loan_value(
    terms: AccrualTerms, start: date, days: int, a: str, b: str, k: int
) -> None:
    accruer = new_accrual_terms(terms)
    fix = "5.31" if terms.rebate_benchmark else ""
    end = (start + timedelta(days=days)).isoformat()

    def fee(value: Fraction) -> Fraction:
        return accruer.accrue(Period(start.isoformat(), end, value, "0", fix)).fee

    fa, fb = Fraction(a), Fraction(b)
    assert fee(fa + fb) == fee(fa) + fee(fb)
    assert fee(k * fa) == k * fee(fa)
    assert fee(Fraction(0)) == 0
    basis = day_count_for(terms.currency).basis
    assert fee(fa) == fa * Fraction(terms.fee_bps) / 10000 * days / basis


@settings(max_examples=200, deadline=None)
@given(net=st.fractions(max_denominator=1000))
def test_round_to_unit_is_nearest_half_away(net: Fraction) -> None:
    u = round_to_unit(net)
    assert abs(net - u) <= Fraction(1, 2)
    if abs(net - u) == Fraction(1, 2):
        assert abs(u) > abs(net)
    assert round_to_unit(-net) == -u
