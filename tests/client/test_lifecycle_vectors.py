"""Life-cycle golden vectors (vectors/lifecycle.json, shared with the Go engine's tests) and
properties of return, substitution and buy-in on random agreements."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpo.margin import (
    Direction,
    ErrorKind,
    LoanLeg,
    MarginError,
    Market,
    Move,
    Positions,
    StepResult,
    Terms,
    Token,
    buy_in,
    make_agreement,
    return_loan,
    run_lifecycle_case,
    run_lifecycle_case_line,
    substitute,
)
from tanpo.margin.lifecycle_vectors import LIFECYCLE_FORMAT, check_lifecycle_expectations
from tanpo.margin.valuation import price_agreement
from tanpo.margin.vectors import iter_vector_cases

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
CASES = list(iter_vector_cases(VECTORS, LIFECYCLE_FORMAT))


def test_lifecycle_vectors_exist() -> None:
    assert len(CASES) >= 16
    assert {file for file, _ in CASES} == {"lifecycle.json"}
    names = [case["name"] for _, case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    actions = Counter(next(iter(case["action"])) for _, case in CASES)
    assert actions["return"] and actions["substitute"] and actions["buyIn"]


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[c["name"] for _, c in CASES])
def test_lifecycle_vector(case: dict[str, Any]) -> None:
    output = run_lifecycle_case(case)
    problems = check_lifecycle_expectations(case, output)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("null", "invalid_input"),
        ('{"name": "x", "name": "y"}', "invalid_input"),
        ('{"action": {"return": {"quantity": 1}}, "Market": {}}', "invalid_input"),
        ('{"action": {"return": {"quantity": 1.0}}}', "invalid_input"),
        ('{"action": {"return": null, "buyIn": {"quantity": 1}}, "market": {"date": "x"}}',
         "invalid_input"),
        ('{"action": {"buyIn": {"quantity": 9223372036854775808}}}', "overflow"),
        ('{"action": {"substitute": {"out": [{"token": "A", "quantity": 1, "x": 1}]}}}',
         "invalid_input"),
    ],
)
def test_odd_lines_are_errors(line: str, kind: str) -> None:
    out = run_lifecycle_case_line(line)
    assert out["error"]["kind"] == kind, out


# ---- properties on random agreements -------------------------------------------------------

_PRICE = st.builds(
    lambda units, scale: str(Fraction(units, 10**scale)) if units else "1",
    st.integers(1, 10**7), st.integers(0, 4),
)


@st.composite
def _setups(draw: st.DrawFn) -> tuple[Any, Market, Positions]:
    ncol = draw(st.integers(1, 4), label="ncol")
    ids = [f"C{i}" for i in range(ncol)]
    kinds = [draw(st.sampled_from(["CT", "ST"])) for _ in ids]
    currencies = [draw(st.sampled_from(["JPY", "JPY", "USD"])) for _ in ids]
    tokens = [Token("L", draw(st.sampled_from(["ST", "CT"])), "JPY")]
    tokens += [Token(i, k, c, draw(st.sampled_from(["per-unit", "percent-of-par"])))
               for i, k, c in zip(ids, kinds, currencies, strict=True)]
    haircut = draw(st.sampled_from(["0", "0.05", "0.2", "1/3", "0.9999"]))
    terms = Terms(
        base="JPY", loan=LoanLeg("L", draw(st.integers(1, 10**6))), collateral=ids,
        mode=draw(st.sampled_from(["single", "multi"])), haircut=haircut,
        auto_issue=draw(st.booleans()))
    prices = {t.id: draw(_PRICE) for t in tokens}
    market = Market.parse("2026-03-02", prices, {"USDJPY": draw(_PRICE)})
    held = {i: draw(st.integers(-(10**5), 10**7) if n == 0 else st.integers(0, 10**7))
            for n, i in enumerate(ids)}
    free = {i: draw(st.integers(0, 10**7)) for i in ids}
    if draw(st.booleans(), label="tight"):
        # a loan just inside (or just outside) the collateral's value: the gap is near 0, where
        # rounding decides the sign
        pr = price_agreement(make_agreement(tokens, terms), market)
        vc = sum(held[i] * u for i, u in zip(ids, pr.haircut_unit, strict=True))
        loan = max(1, min(2**62, vc // pr.loan_unit - draw(st.integers(-1, 3), label="slack")))
        terms = replace(terms, loan=LoanLeg("L", loan))
    return make_agreement(tokens, terms), market, Positions(held, free)


def _check_conservation(before: Positions, r: StepResult) -> None:
    """Every held position changes by exactly the step's movements."""
    expected = {t: before.held.get(t, 0) for t in r.held_after}
    for t in (*r.transfers, *r.kept):
        expected[t.token] += t.quantity if t.direction == Direction.BORROWER_TO_LENDER \
            else -t.quantity
    assert dict(r.held_after) == expected
    assert r.gap_after == r.vc_after - r.vl


PROPERTY = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(setup=_setups(), data=st.data())
def test_return_and_buy_in_keep_a_covered_agreement_covered(
    setup: tuple[Any, Market, Positions], data: st.DataObject
) -> None:
    agreement, market, positions = setup
    loan = agreement.loan_quantity
    qty = data.draw(st.one_of(st.integers(1, loan), st.sampled_from([1, loan])), label="qty")
    step = data.draw(st.sampled_from([return_loan, buy_in]), label="step")
    r = step(agreement, market, positions, qty)
    _check_conservation(positions, r)
    assert r.loan_after == loan - qty
    loan_unit = r.vl / r.loan_after if r.loan_after else None
    if r.loan_after == 0:
        assert all(h == 0 for h in r.held_after.values())
        assert r.gap_after == 0
        return
    assert loan_unit is not None
    gap_before = r.vc_before - loan * loan_unit
    if step is return_loan:
        assert not r.kept and r.owed == 0
        assert all(t.direction == Direction.LENDER_TO_BORROWER for t in r.transfers)
        rest = r.vc_before - r.vl  # what the returned part freed, over the loan left
        if rest <= 0:
            assert not r.transfers and r.gap_after == rest
        else:
            assert 0 <= r.gap_after <= rest
        if gap_before >= 0:
            assert r.gap_after >= 0
        return
    # buy-in: the lender keeps what is owed at most; what it does not keep is uncovered, less
    # than one unit of the last token when collateral is left; a covered agreement stays covered
    kept_market = sum((t.market_value for t in r.kept), Fraction(0))
    assert r.owed == qty * loan_unit
    assert kept_market + r.uncovered == r.owed
    assert all(t.direction == Direction.KEPT for t in r.kept)
    if gap_before >= 0:
        assert r.gap_after >= 0


@PROPERTY
@given(setup=_setups(), data=st.data())
def test_accepted_substitution_leaves_the_agreement_covered(
    setup: tuple[Any, Market, Positions], data: st.DataObject
) -> None:
    agreement, market, positions = setup
    ids = list(agreement.collateral_ids)
    if len(ids) < 2:
        ids.append("NOT-COLLATERAL")
    picked = data.draw(st.permutations(ids), label="order")
    n_out = data.draw(st.integers(1, len(picked) - 1), label="n_out")

    def moves(side: list[str], source: dict[str, int]) -> list[Move]:
        return [Move(t, data.draw(st.integers(1, max(1, source.get(t, 0))), label=t))
                for t in side]

    held = dict(positions.held)
    out = moves(picked[:n_out], held)
    in_ = moves(picked[n_out:], dict(positions.borrower_free))
    try:
        r = substitute(agreement, market, positions, out, in_)
    except MarginError as err:
        assert err.kind in (ErrorKind.SHORTFALL, ErrorKind.OUT_OF_RANGE, ErrorKind.INELIGIBLE)
        return
    assert r.gap_after >= 0
    assert r.loan_after == r.loan_before == agreement.loan_quantity
    assert not r.kept and r.owed == 0 and r.uncovered == 0
    assert [t.token for t in r.transfers] == [m.token for m in (*out, *in_)]
    _check_conservation(positions, r)


def test_positions_are_not_changed() -> None:
    case = next(c for _, c in CASES if c["name"] == "substitute-same-currency")
    before = json.dumps(case, sort_keys=True)
    run_lifecycle_case(case)
    assert json.dumps(case, sort_keys=True) == before
