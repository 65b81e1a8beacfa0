"""Stressed VaR: hand-checked and independently computed (numpy) on small books."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from fractions import Fraction

import numpy as np
import pytest

from tanpo.marketdata.series import PriceSeries
from tanpo.risk import (
    AgreementHolding,
    AssetClass,
    MemoryFactors,
    MemorySource,
    Regime,
    Report,
    ReportConfig,
    ReturnMethod,
    RiskError,
    StressWindow,
    TokenInfo,
    VarConfig,
    run_report,
)
from tanpo.risk.history import build_history
from tanpo.risk.var import kth_largest

DAY = date(2023, 4, 28)
START = date(2008, 1, 7)  # a Monday


def weekdays(start: date, n: int) -> list[date]:
    out: list[date] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def series(name: str, values: Sequence[Fraction | int | str], start: date = START) -> PriceSeries:
    days = weekdays(start, len(values))
    return PriceSeries.from_mapping(
        name, {d: Fraction(v) for d, v in zip(days, values, strict=True)}
    )


def equity(token_id: str, currency: str = "USD", factor: str | None = None) -> TokenInfo:
    return TokenInfo(
        token_id,
        "ST",
        currency,
        asset_class=AssetClass.EQUITY,
        main_index=True,
        factor=factor or f"price:{token_id}",
    )


def cash(currency: str) -> TokenInfo:
    return TokenInfo(currency, "CT", currency, asset_class=AssetClass.CASH)


def window_of(n: int) -> StressWindow:
    days = weekdays(START, n)
    return StressWindow(days[0], days[-1], "synthetic")


def report(
    source: MemorySource,
    factors: MemoryFactors,
    window: StressWindow,
    regime: Regime = Regime.ECONOMIC,
    method: ReturnMethod = ReturnMethod.OVERLAPPING,
    day: date = DAY,
    version: str | None = None,
    currency: str | None = None,
) -> Report:
    config = ReportConfig(regime, VarConfig(method=method, window=window))
    return run_report(source, day, config, factors, currency=currency, version=version)


def two_stock_source(lent: int = 1000, held: int = 1100) -> MemorySource:
    source = MemorySource(
        [equity("A"), equity("B")],
        [AgreementHolding("AG1", "lender", "borrower", "USD", {"A": lent}, {"B": held})],
    )
    source.post(DAY, {"A": Fraction(10), "B": Fraction(10)})
    return source


def test_hand_checked_two_scenarios() -> None:
    # 7 history days -> 2 overlapping 5-day moves.
    #   A: 100 -> 110 (+10%), then 100 -> 99 (-1%);  B: 50 -> 45 (-10%), then 50 -> 50 (0%).
    # Lent 1,000 A at 10 = 10,000; held 1,100 B at 10 = 11,000; net = -1,000.
    #   scenario 1: dA = +1,000, dB = -1,100 -> exposure change +2,100
    #   scenario 2: dA =   -100, dB =      0 -> exposure change   -100
    # N = 2, k = ceil(0.01 * 2) = 1 -> VaR = 2,100; capital = max(0, -1,000 + 2,100) = 1,100.
    factors = MemoryFactors(
        {
            "price:A": series("A", [100, 100, 100, 100, 100, 110, 99]),
            "price:B": series("B", [50, 50, 50, 50, 50, 45, 50]),
        }
    )
    r = report(two_stock_source(), factors, window_of(7))
    (cp,) = r.counterparties
    f = cp.figures
    assert [f.lent, f.collateral, f.net, f.exposure] == [10_000, 11_000, -1_000, 0]
    assert [cp.var.n, cp.var.k, cp.var.var, f.capital] == [2, 1, 2_100, 1_100]
    start, end, change = cp.var.worst[0]
    assert (start, end) == (weekdays(START, 7)[0], weekdays(START, 7)[5])
    assert change == 2_100
    assert r.total.var == r.total.var_undiversified == 2_100
    assert r.total.diversification == 0


def numpy_var(
    closes: dict[str, np.ndarray], weights: dict[str, float], horizon: int, confidence: float
) -> float:
    """Independent check: vectorised overlapping returns, sort, pick k = ceil(N/100) by integer
    arithmetic, floor at 0. ``weights`` are signed report-date values (+lent, -collateral)."""
    pnl = None
    for name, w in weights.items():
        c = closes[name]
        ret = c[horizon:] / c[:-horizon] - 1.0
        pnl = w * ret if pnl is None else pnl + w * ret
    assert pnl is not None
    n = pnl.shape[0]
    tail = round((1 - confidence) * 100)
    k = max(1, -(-n * tail // 100))
    return max(0.0, float(np.sort(pnl)[::-1][k - 1]))


@pytest.mark.parametrize(("days", "seed"), [(20, 1), (20, 7), (260, 3)])
def test_var_matches_numpy(days: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # prices on a 0.01 grid, written as decimal strings (exact for the engine)
    a = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.03, days))), 2)
    b = np.round(
        50 * np.exp(np.cumsum(0.6 * rng.normal(0, 0.03, days) + 0.01 * rng.normal(size=days))), 2
    )
    factors = MemoryFactors(
        {
            "price:A": series("A", [f"{x:.2f}" for x in a]),
            "price:B": series("B", [f"{x:.2f}" for x in b]),
        }
    )
    r = report(two_stock_source(), factors, window_of(days))
    closes = {
        "A": np.array([float(f"{x:.2f}") for x in a]),
        "B": np.array([float(f"{x:.2f}") for x in b]),
    }
    expected = numpy_var(closes, {"A": 10_000.0, "B": -11_000.0}, 5, 0.99)
    (cp,) = r.counterparties
    assert cp.var.n == days - 5
    assert float(cp.var.var) == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_sqrt_time_alternative_matches_numpy() -> None:
    rng = np.random.default_rng(11)
    days = 120
    a = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), 2)
    b = np.round(80 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), 2)
    factors = MemoryFactors(
        {
            "price:A": series("A", [f"{x:.2f}" for x in a]),
            "price:B": series("B", [f"{x:.2f}" for x in b]),
        }
    )
    r = report(two_stock_source(), factors, window_of(days), method=ReturnMethod.SQRT_TIME)
    one_day = numpy_var({"A": a, "B": b}, {"A": 10_000.0, "B": -11_000.0}, 1, 0.99)
    (cp,) = r.counterparties
    assert cp.var.n == days - 1
    assert float(cp.var.var) == pytest.approx(one_day * np.sqrt(5), rel=1e-9)
    # stated rounding: 6 decimal places
    assert (cp.var.var * 10**6).denominator == 1


def test_cross_currency_var_moves_fx_and_price_together() -> None:
    # USD cash lent against a EUR stock; reporting currency USD; EURUSD is a risk factor.
    rng = np.random.default_rng(5)
    days = 60
    stock = np.round(40 * np.exp(np.cumsum(rng.normal(0, 0.02, days))), 2)
    eurusd = np.round(1.4 * np.exp(np.cumsum(rng.normal(0, 0.008, days))), 4)
    source = MemorySource(
        [cash("USD"), equity("E", "EUR")],
        [AgreementHolding("X", "l", "b", "USD", {"USD": 1_000_000}, {"E": 25_000})],
    )
    source.post(DAY, {"E": Fraction("40")}, {"EURUSD": Fraction("1.1")})
    factors = MemoryFactors(
        {
            "price:E": series("E", [f"{x:.2f}" for x in stock]),
            "fx:EURUSD": series("EURUSD", [f"{x:.4f}" for x in eurusd]),
        }
    )
    r = report(source, factors, window_of(days))
    (cp,) = r.counterparties
    assert cp.figures.collateral == 25_000 * 40 * Fraction("1.1")
    rs = stock[5:] / stock[:-5]
    rf = eurusd[5:] / eurusd[:-5]
    change = -25_000 * 40 * 1.1 * (rs * rf - 1)
    k = max(1, -(-len(change) // 100))
    assert float(cp.var.var) == pytest.approx(max(0.0, float(np.sort(change)[::-1][k - 1])))
    # only the pair that the valuation uses is a factor
    assert r.to_dict()["market"]["fx"] == {"EURUSD": "1.1"}


def test_quantile_index_is_exact() -> None:
    values = [Fraction(i) for i in range(300)]
    # in floats (1 - 0.99) * 300 = 3.0000000000000027 and ceil() would give k = 4
    assert kth_largest(values, Fraction(99, 100)) == (Fraction(297), 3)
    assert kth_largest(values[:100], Fraction(99, 100)) == (Fraction(99), 1)
    assert kth_largest(values[:101], Fraction(99, 100)) == (Fraction(99), 2)
    assert kth_largest(values[:1], Fraction(99, 100)) == (Fraction(0), 1)
    with pytest.raises(RiskError):
        kth_largest([], Fraction(99, 100))


def test_var_is_floored_at_zero() -> None:
    # the collateral only rises and the lent stock only falls: exposure never increases
    factors = MemoryFactors(
        {
            "price:A": series("A", [100 - i for i in range(12)]),
            "price:B": series("B", [50 + i for i in range(12)]),
        }
    )
    (cp,) = report(two_stock_source(), factors, window_of(12)).counterparties
    assert cp.var.quantile < 0
    assert cp.var.var == 0
    assert cp.figures.capital == 0


def test_missing_history_is_a_clear_error() -> None:
    factors = MemoryFactors({"price:A": series("A", [1, 2, 3, 4, 5, 6, 7])})
    with pytest.raises(RiskError, match=r"no history for risk factor price:B"):
        report(two_stock_source(), factors, window_of(7))
    unmapped = MemorySource(
        [equity("A"), TokenInfo("B", "ST", "USD", asset_class=AssetClass.EQUITY)],
        [AgreementHolding("AG1", "l", "b", "USD", {"A": 1}, {"B": 1})],
    )
    unmapped.post(DAY, {"A": Fraction(1), "B": Fraction(1)})
    with pytest.raises(RiskError, match=r"token B has no stressed-history risk factor"):
        report(unmapped, factors, window_of(7))


def test_history_refuses_stale_data() -> None:
    days = weekdays(START, 20)
    gap = {d: Fraction(100) for d in days[:5] + days[15:]}  # two weeks missing
    factors = MemoryFactors(
        {"price:A": PriceSeries.from_mapping("A", gap), "price:B": series("B", [1] * 20)}
    )
    with pytest.raises(RiskError, match=r"no close within 7 days"):
        build_history(factors, ["price:A", "price:B"], window_of(20))
