"""Eligibility schedules and concentration limits: the parts the vectors' JSON does not show
(eligibility reasons, the concentration report on any positions, the cap limit's closed form)."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from tanpo.margin import (
    Breach,
    Cap,
    ErrorKind,
    LoanLeg,
    MarginError,
    Market,
    Schedule,
    Terms,
    Token,
    concentration,
    eligibility,
    make_agreement,
    price_agreement,
)
from tanpo.margin.model import Agreement, check_token
from tanpo.margin.schedule import cap_limit

TOKENS = [
    Token("L", "CT", "USD"),
    Token("C1", "CT", "USD", asset_class="cash"),
    Token("E1", "ST", "EUR", asset_class="equity", issuer="ACME"),
    Token("B1", "ST", "USD", asset_class="bond", rating="BB", issuer="ACME"),
    Token("B2", "ST", "USD", asset_class="bond", issuer="GOV"),
    Token("B3", "ST", "USD", asset_class="bond", rating="AA-", issuer="GOV"),
]


def _agreement(schedule: Schedule | None) -> Agreement:
    return make_agreement(TOKENS, Terms("USD", LoanLeg("L", 1000), ["C1", "E1", "B1", "B2", "B3"],
                                        "multi", schedule=schedule))


def test_eligibility_reasons() -> None:
    a = _agreement(Schedule(asset_classes=["cash", "bond"], currencies=["USD"],
                            min_rating="BBB-"))
    want = {"C1": "", "E1": "asset-class", "B1": "rating", "B2": "unrated", "B3": "",
            "L": "not-collateral", "X": "not-collateral"}
    for token, reason in want.items():
        assert eligibility(a, token) == (reason == "", reason), token
    assert eligibility(_agreement(Schedule(currencies=["USD"])), "E1") == (False, "currency")
    assert all(eligibility(_agreement(None), t)[0] for t in ("C1", "E1", "B1", "B2", "B3"))


def test_concentration_groups_and_order() -> None:
    a = _agreement(Schedule(caps=[Cap("issuer", "", "0.5"), Cap("assetClass", "bond", "0.6"),
                                  Cap("token", "", "1")]))
    market = Market.parse("2025-01-02", {"E1": "10", "B1": "10", "B2": "10", "B3": "10"},
                          {"EURUSD": "1"})
    pricing = price_agreement(a, market)
    # market values: C1 100, E1 300, B1 300, B2 floored to 0, B3 200: V = 900
    assert concentration(a, pricing, [100, 30, 30, -5, 20]) == (
        Breach("issuer", "ACME", Fraction(2, 3), Fraction(1, 2)),
    )
    got = concentration(a, pricing, [0, 0, 0, 10, 10])
    assert [(b.by, b.key) for b in got] == [("issuer", "GOV"), ("assetClass", "bond")]
    assert concentration(a, pricing, [0] * 5) == ()
    assert concentration(_agreement(None), pricing, [100, 30, 30, -5, 20]) == ()


def test_cap_limit_is_the_largest_quantity() -> None:
    """The closed form against the definition: the largest q with G + q·u ≤ c·(V + q·u) for every
    group containing the token."""
    a = _agreement(Schedule(caps=[Cap("issuer", "", "2/5"), Cap("token", "B1", "0.3"),
                                  Cap("assetClass", "", "0.9")]))
    sched = a.schedule
    assert sched is not None
    rnd = random.Random(7)
    for _ in range(2000):
        unit = [rnd.randint(1, 1000) for _ in range(5)]
        held = [rnd.randint(0, 200) for _ in range(5)]
        i = rnd.randint(1, 4)
        limit = cap_limit(a, i, unit, held)
        assert limit is not None

        def fits(q: int, i: int = i, unit: list[int] = unit, held: list[int] = held) -> bool:
            h = list(held)
            h[i] += q
            vals = [max(x, 0) * u for x, u in zip(h, unit, strict=True)]
            total = sum(vals)
            return all(sum(vals[j] for j in sched.groups[g].members) <= sched.groups[g].max * total
                       for g in sched.token_groups[i])

        assert (limit == 0 or fits(limit)) and not fits(limit + 1)


@pytest.mark.parametrize(
    ("schedule", "kind"),
    [
        (Schedule(asset_classes=[""]), ErrorKind.INVALID_INPUT),
        (Schedule(currencies=["usd"]), ErrorKind.INVALID_INPUT),
        (Schedule(min_rating="AAA+"), ErrorKind.INVALID_INPUT),
        (Schedule(haircuts={"token:L": "0.1"}), ErrorKind.INVALID_INPUT),
        (Schedule(haircuts={"class:": "0.1"}), ErrorKind.INVALID_INPUT),
        (Schedule(haircuts={"class:bond": "-0.1"}), ErrorKind.OUT_OF_RANGE),
        (Schedule(haircuts={"class:bond": "x"}), ErrorKind.INVALID_NUMBER),
        (Schedule(caps=[Cap("sector", "", "0.5")]), ErrorKind.INVALID_INPUT),
        (Schedule(caps=[Cap("token", "L", "0.5")]), ErrorKind.INVALID_INPUT),
        (Schedule(caps=[Cap("issuer", "a\tb", "0.5")]), ErrorKind.INVALID_INPUT),
        (Schedule(caps=[Cap("issuer", "", "")]), ErrorKind.INVALID_NUMBER),
        (Schedule(caps=[Cap("issuer", "", "1.01")]), ErrorKind.OUT_OF_RANGE),
        (Schedule(min_rating="X", caps=[Cap("sector")]), ErrorKind.INVALID_INPUT),
        (Schedule(haircuts={"class:bond": "1"}, caps=[Cap("sector")]), ErrorKind.OUT_OF_RANGE),
    ],
)
def test_schedule_validation(schedule: Schedule, kind: ErrorKind) -> None:
    tokens = [Token("L", "CT", "USD"), Token("A", "ST", "USD", asset_class="bond")]
    with pytest.raises(MarginError) as err:
        make_agreement(tokens, Terms("USD", LoanLeg("L", 1), ["A"], "single", schedule=schedule))
    assert err.value.kind == kind


@pytest.mark.parametrize("token", [
    Token("A", "ST", "USD", rating="aa"),
    Token("A", "ST", "USD", issuer="x\ny"),
    Token("A", "ST", "USD", asset_class="x" * 129),
])
def test_token_attributes_checked(token: Token) -> None:
    with pytest.raises(MarginError) as err:
        check_token(token)
    assert err.value.kind == ErrorKind.INVALID_INPUT
