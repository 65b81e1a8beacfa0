"""Monotonicity of exposure, VaR and capital (property tests with hypothesis)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpo.risk import AgreementHolding, MemoryFactors, MemorySource
from tanpo.risk.exact import exact_text
from tanpo.risk.var import kth_largest

from .test_risk_var import DAY, START, cash, equity, report, series, weekdays, window_of

prices = st.lists(st.integers(min_value=50, max_value=200), min_size=7, max_size=30)


def _source(lent: int, held: int, fx: bool) -> MemorySource:
    tokens = [equity("A"), equity("B", "EUR" if fx else "USD")]
    source = MemorySource(
        tokens, [AgreementHolding("G", "l", "b", "USD", {"A": lent}, {"B": held})]
    )
    source.post(DAY, {"A": Fraction(12), "B": Fraction(9)}, {"EURUSD": Fraction("1.1")})
    return source


@settings(max_examples=40, deadline=None)
@given(
    a=prices,
    b=prices,
    fxs=prices,
    lent=st.integers(min_value=1, max_value=10_000),
    held=st.integers(min_value=0, max_value=10_000),
    extra=st.integers(min_value=1, max_value=10_000),
    fx=st.booleans(),
)
def test_more_collateral_never_raises_exposure_or_capital(
    a: list[int], b: list[int], fxs: list[int], lent: int, held: int, extra: int, fx: bool
) -> None:
    n = min(len(a), len(b), len(fxs))
    factors = MemoryFactors(
        {
            "price:A": series("A", a[:n]),
            "price:B": series("B", b[:n]),
            "fx:EURUSD": series("EURUSD", fxs[:n]),
        }
    )
    window = window_of(n)
    before = report(_source(lent, held, fx), factors, window).counterparties[0].figures
    after = report(_source(lent, held + extra, fx), factors, window).counterparties[0].figures
    assert after.net < before.net
    assert after.exposure <= before.exposure
    # a collateral token can lose at most its whole value, so VaR rises by less than the
    # collateral added: net + VaR, hence capital, never rises
    assert after.capital <= before.capital
    assert after.e_star <= before.e_star


@settings(max_examples=200, deadline=None)
@given(
    base=st.lists(st.integers(-1000, 1000), min_size=1, max_size=400),
    bumps=st.lists(st.integers(0, 1000), min_size=1, max_size=50),
)
def test_adding_scenarios_with_larger_losses_never_lowers_the_quantile(
    base: list[int], bumps: list[int]
) -> None:
    old, _ = kth_largest([Fraction(x) for x in base], Fraction(99, 100))
    worst = max(base)
    wider = [Fraction(x) for x in base] + [Fraction(worst + b) for b in bumps]
    new, _ = kth_largest(wider, Fraction(99, 100))
    assert new >= old


@settings(max_examples=40, deadline=None)
@given(
    b=st.lists(st.integers(min_value=50, max_value=200), min_size=6, max_size=40),
    extension=st.integers(min_value=1, max_value=30),
)
def test_wider_window_with_larger_moves_never_lowers_var(b: list[int], extension: int) -> None:
    # USD cash lent against stock B. The wider window appends days on which B keeps falling,
    # by a factor chosen so that every new 5-day move (including those that straddle the old
    # window's end) is a larger fall than any 5-day move of the old window.
    closes = [Fraction(x) for x in b]
    five = [closes[i + 5] / closes[i] for i in range(len(closes) - 5)]
    upto4 = [
        closes[j] / closes[i] for i in range(len(closes)) for j in range(i, min(i + 5, len(closes)))
    ]
    f = min(Fraction(1), min(five) / max(upto4)) * Fraction(99, 100)
    extended = closes + [closes[-1] * f**t for t in range(1, extension + 1)]
    factors = MemoryFactors({"price:B": series("B", extended)})
    source = MemorySource(
        [cash("USD"), equity("B")],
        [AgreementHolding("G", "l", "b", "USD", {"USD": 1_000_000}, {"B": 10_000})],
    )
    source.post(DAY, {"B": Fraction(100)})
    narrow = report(source, factors, window_of(len(closes))).counterparties[0]
    wide = report(source, factors, window_of(len(extended))).counterparties[0]
    assert wide.var.n == narrow.var.n + extension
    assert wide.var.var >= narrow.var.var


def test_window_grid_is_every_weekday() -> None:
    # B does not trade on the 3rd weekday: it is carried forward (a zero move that day)
    days = weekdays(START, 8)
    from tanpo.marketdata.series import PriceSeries
    from tanpo.risk.history import build_history

    b = PriceSeries.from_mapping("B", {d: Fraction(10 + i) for i, d in enumerate(days) if i != 2})
    a = PriceSeries.from_mapping("A", {d: Fraction(i + 1) for i, d in enumerate(days) if i != 4})
    h = build_history(
        MemoryFactors({"price:A": a, "price:B": b}), ["price:A", "price:B"], window_of(8)
    )
    assert h.days == tuple(days)
    assert h.values["price:B"][2] == h.values["price:B"][1] == 11
    assert h.values["price:A"][4] == h.values["price:A"][3] == 4


def test_window_starting_long_before_the_history_is_refused() -> None:
    from tanpo.risk import RiskError, StressWindow
    from tanpo.risk.history import build_history

    factors = MemoryFactors({"price:A": series("A", list(range(1, 30)))})
    early = StressWindow(date(2007, 12, 1), weekdays(START, 29)[-1])
    with pytest.raises(RiskError, match="starts before the history of price:A"):
        build_history(factors, ["price:A"], early)


@settings(max_examples=300, deadline=None)
@given(
    num=st.integers(min_value=-(10**12), max_value=10**12),
    twos=st.integers(0, 12),
    fives=st.integers(0, 12),
    other=st.sampled_from([1, 1, 3, 7, 9]),
)
def test_exact_text_round_trips(num: int, twos: int, fives: int, other: int) -> None:
    value = Fraction(num, 2**twos * 5**fives * other)
    text = exact_text(value)
    assert Fraction(text) == value
    assert ("/" in text) == (value.denominator % 3 == 0 or value.denominator % 7 == 0)
