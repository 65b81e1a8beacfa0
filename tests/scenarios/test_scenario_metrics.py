"""Metrics on small hand-checkable call records."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

from tanpo.scenarios.ledger import CallRecord, Issuance, Transfer
from tanpo.scenarios.metrics import compute_metrics, index_to, measured_gap, merge_metrics

D0 = date(2024, 1, 1)
V_L = Fraction(1000)


def _rec(
    day: int,
    before: int,
    after: int,
    *,
    triggered: bool = True,
    lag: int = 0,
    moved: int = 0,
    value: int = 0,
    lender_mint: bool = False,
) -> CallRecord:
    d = D0 + timedelta(days=day)
    transfers = (
        (Transfer("S", moved, "borrower->lender", "b", "l", Fraction(value),
                  d + timedelta(days=lag), market_value=Fraction(value), trade_date=d),)
        if moved else ()
    )
    issuances = (Issuance("S", 1, "l", "lender"),) if lender_mint else ()
    return CallRecord("A", d, triggered, V_L, V_L + before, V_L + after, transfers, issuances)


def test_hand_checked_metrics() -> None:
    records = [
        _rec(1, -30, 2, moved=4, value=32),  # shortfall covered: measured after = +2
        _rec(2, 10, 10, triggered=False),  # under a threshold: nothing moves
        _rec(3, 50, 1, moved=7, value=49, lender_mint=True),  # issuance day: measured before = 50
        _rec(4, -20, -20, lag=1, moved=3, value=21),  # lagged: measured before = -20
    ]
    assert [measured_gap(r) for r in records] == [2, 10, 50, -20]
    m = compute_metrics(records)
    assert m.checked_days == 4
    assert m.risk_max == 50
    assert m.risk_mean == Fraction(2 + 10 + 50 + 20, 4)
    assert m.margin_calls == 3
    assert m.issuances == 1
    assert m.borrower_issuances == 0
    assert m.exposure_lender_mean == Fraction(20, 4)
    assert m.exposure_borrower_mean == Fraction(62, 4)
    assert m.exposure_before_lender_mean == Fraction(50, 4)
    assert m.exposure_before_borrower_mean == Fraction(60, 4)
    assert m.call_amount == 32 + 49 + 21
    assert (m.units_transferred, m.transfers) == (14, 3)


def test_every_call_counts_as_an_issuance_for_model_0() -> None:
    records = [
        _rec(1, -30, -30, lag=1, moved=4, value=32),
        _rec(2, 5, 5, lag=1, moved=1, value=5),
        _rec(3, 0, 0, triggered=False),
    ]
    assert compute_metrics(records).issuances == 0
    assert compute_metrics(records, every_call_is_issuance=True).issuances == 2


def test_merge_and_index() -> None:
    a = compute_metrics([_rec(1, -30, 2, moved=4, value=32)])
    b = compute_metrics([_rec(1, 10, 10, triggered=False), _rec(2, 6, 6, triggered=False)])
    m = merge_metrics([a, b])
    assert m.checked_days == 3
    assert m.risk_max == 10
    assert m.risk_mean == Fraction(2 + 10 + 6, 3)
    assert m.margin_calls == 1
    assert index_to(3, 2) == Fraction(3, 2)
    assert index_to(3, 0) is None
    assert compute_metrics([]).risk_mean == 0
