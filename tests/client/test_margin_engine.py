"""Unit tests of the Python margin engine's public API (the vectors cover the rules themselves)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from tanpo.margin import (
    Agreement,
    AgreementBook,
    Direction,
    ErrorKind,
    LoanLeg,
    MarginError,
    Market,
    Mode,
    Party,
    Positions,
    Terms,
    Token,
    apply_call,
    compute_call,
    format_rational,
    make_agreement,
    parse_decimal,
    price_agreement,
    unit_value,
)
from tanpo.margin.fx import FxTable, parse_pair

BUND = Token("DE-BUND", "ST", "EUR", "percent-of-par")
XYZ = Token("US-XYZ", "ST", "USD")


def design_agreement(**changes: Any) -> Agreement:
    terms = Terms(base="USD", loan=LoanLeg("DE-BUND", 1_000_000), collateral=["US-XYZ"],
                  mode="single")
    return make_agreement([BUND, XYZ], replace(terms, **changes))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("101.25", Fraction(405, 4)),
        ("-3", Fraction(-3)),
        ("0.05", Fraction(1, 20)),
        ("007.50", Fraction(15, 2)),
        ("1/3", Fraction(1, 3)),
        ("-2/4", Fraction(-1, 2)),
        ("0", Fraction(0)),
    ],
)
def test_parse_decimal_exact(text: str, value: Fraction) -> None:
    assert parse_decimal(text, "x") == value


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "+1", "1e3", "1E3", "NaN", "inf", "1.", ".5", "1/0", "1/-2", "0x10",
     "1_000", "١٢", "1" * 51],
)
def test_parse_decimal_rejects(text: str) -> None:
    with pytest.raises(MarginError) as err:
        parse_decimal(text, "price of X")
    assert err.value.kind is ErrorKind.INVALID_NUMBER
    assert "price of X" in err.value.message


def test_format_rational_is_canonical() -> None:
    assert format_rational(Fraction(10, 4)) == "5/2"
    assert format_rational(Fraction(-6, 3)) == "-2"


def test_fx_paths() -> None:
    table = FxTable({("EUR", "USD"): Fraction(11, 10), ("USD", "JPY"): Fraction(150)})
    assert table.rate("EUR", "USD") == Fraction(11, 10)
    assert table.rate("USD", "EUR") == Fraction(10, 11)
    assert table.rate("EUR", "JPY") == 165
    assert table.rate("JPY", "EUR") == Fraction(1, 165)
    assert table.rate("GBP", "GBP") == 1
    with pytest.raises(MarginError) as err:
        table.rate("GBP", "USD")
    assert err.value.kind is ErrorKind.MISSING_FX and "GBP" in err.value.message


def test_fx_prefers_direct_then_shortest_then_alphabetical() -> None:
    direct = FxTable({("EUR", "JPY"): Fraction(160), ("EUR", "USD"): Fraction(11, 10),
                      ("USD", "JPY"): Fraction(150)})
    assert direct.rate("EUR", "JPY") == 160
    tie = FxTable({("GBP", "USD"): Fraction(5, 4), ("USD", "JPY"): Fraction(150),
                   ("GBP", "EUR"): Fraction(6, 5), ("EUR", "JPY"): Fraction(160)})
    assert tie.rate("GBP", "JPY") == 192  # via EUR, alphabetically before USD


@pytest.mark.parametrize("pair", ["EURUSDX", "EURUS", "eurusd", "EUREUR", "EUR/USD"])
def test_parse_pair_rejects(pair: str) -> None:
    with pytest.raises(MarginError) as err:
        parse_pair(pair)
    assert err.value.kind is ErrorKind.INVALID_INPUT


def test_market_validation() -> None:
    with pytest.raises(MarginError) as err:
        Market.parse("2024-02-30", {}, {})
    assert err.value.kind is ErrorKind.INVALID_INPUT
    with pytest.raises(MarginError) as err:
        Market.parse("2024-02-01", {"A": "0"}, {})
    assert err.value.kind is ErrorKind.NON_POSITIVE
    with pytest.raises(MarginError) as err:
        Market.parse("2024-02-01", {"A": 1.5}, {})  # type: ignore[dict-item]
    assert err.value.kind is ErrorKind.INVALID_NUMBER
    m = Market.parse("2024-02-01", {"A": Fraction(3, 2), "B": 7}, {"EURUSD": "1.1"})
    assert m.price("A") == Fraction(3, 2) and m.price("B") == 7
    with pytest.raises(MarginError) as err:
        m.price("C")
    assert err.value.kind is ErrorKind.MISSING_PRICE and "C" in err.value.message


def test_unit_value_and_pricing_cache() -> None:
    ag = design_agreement()
    m = Market.parse("2024-03-01", {"DE-BUND": "101.25", "US-XYZ": "50"}, {"EURUSD": "1.1"})
    assert unit_value(BUND, m, "USD") == Fraction("1.11375")
    first = price_agreement(ag, m)
    assert price_agreement(design_agreement(), m) is first  # same terms share one valuation
    assert first.value(first.loan_unit) == Fraction("1.11375")


def test_compute_and_apply_design_example() -> None:
    ag = design_agreement()
    day1 = Market.parse("2024-03-01", {"DE-BUND": "101.25", "US-XYZ": "50.00"},
                        {"EURUSD": "1.1000"})
    start = Positions(borrower_free={"US-XYZ": 30000})
    call = compute_call(ag, day1, start)
    assert call.vl == 1_113_750 and call.triggered
    [t] = call.transfers
    assert (t.token, t.quantity, t.direction) == ("US-XYZ", 22275, Direction.BORROWER_TO_LENDER)
    after = apply_call(ag, start, call)
    assert after.held == {"US-XYZ": 22275} and after.borrower_free == {"US-XYZ": 7725}
    day2 = Market.parse("2024-03-04", {"DE-BUND": "101.00", "US-XYZ": "50.40"},
                        {"EURUSD": "1.1050"})
    call2 = compute_call(ag, day2, after)
    assert (call2.vl, call2.vc_before, call2.gap_before) == tuple(
        map(Fraction, (1_116_050, 1_122_660, 6610))
    )
    assert [(t.quantity, t.direction) for t in call2.transfers] == [
        (131, Direction.LENDER_TO_BORROWER)
    ]
    assert call2.gap_after == Fraction("7.6")


def test_agreement_validation_kinds() -> None:
    cases: list[tuple[dict[str, object], ErrorKind]] = [
        ({"haircut": "1"}, ErrorKind.OUT_OF_RANGE),
        ({"haircut": 0.05}, ErrorKind.INVALID_NUMBER),
        ({"threshold": "-1"}, ErrorKind.OUT_OF_RANGE),
        ({"mode": "both"}, ErrorKind.INVALID_INPUT),
        ({"collateral": []}, ErrorKind.INVALID_INPUT),
        ({"lag_days": 367}, ErrorKind.OUT_OF_RANGE),
        ({"lag_days": True}, ErrorKind.INVALID_INPUT),
        ({"loan": LoanLeg("DE-BUND", 2**63)}, ErrorKind.OVERFLOW),
        ({"haircuts": {"DE-BUND": "0.1"}}, ErrorKind.INVALID_INPUT),
    ]
    for changes, kind in cases:
        with pytest.raises(MarginError) as err:
            design_agreement(**changes)
        assert err.value.kind is kind, changes
    ag = design_agreement(mode=Mode.MULTI, haircut=Fraction(1, 20), threshold=0)
    assert ag.haircuts == (Fraction(1, 20),)


def test_positions_validation() -> None:
    ag = design_agreement()
    m = Market.parse("2024-03-01", {"DE-BUND": "101.25", "US-XYZ": "50"}, {"EURUSD": "1.1"})
    for positions, kind in [
        (Positions(held={"DE-BUND": 1}), ErrorKind.INVALID_INPUT),
        (Positions(borrower_free={"US-XYZ": -1}), ErrorKind.OUT_OF_RANGE),
        (Positions(held={"US-XYZ": 2**63}), ErrorKind.OVERFLOW),
    ]:
        with pytest.raises(MarginError) as err:
            compute_call(ag, m, positions)
        assert err.value.kind is kind


def test_book_failing_day_changes_nothing_and_history() -> None:
    tokens = [Token("JPY", "CT", "JPY"), Token("A", "ST", "JPY")]
    ag = make_agreement(tokens, Terms(base="JPY", loan=LoanLeg("JPY", 1_000_000),
                                      collateral=["A"], mode="single", auto_issue=True,
                                      lag_days=1))
    book = AgreementBook(ag, Positions(held={"A": 10000}, borrower_free={"A": 100}))
    before = book.positions
    with pytest.raises(MarginError) as err:
        book.apply_day(Market.parse("2024-08-01", {}, {}))
    assert err.value.kind is ErrorKind.MISSING_PRICE
    assert book.positions == before and book.pending == ()

    day = book.apply_day(Market.parse("2024-08-01", {"A": "95"}, {}))
    assert [(m.party, m.token, m.quantity) for m in day.call.mints] == [(Party.BORROWER, "A", 427)]
    assert day.positions.borrower_free == {"A": 527}  # the mint is credited at call time
    assert [p.settle_date for p in day.pending] == ["2024-08-02"]
    assert [(r.date, r.party, r.value) for r in book.issuances] == [
        ("2024-08-01", Party.BORROWER, Fraction(40500))
    ]
    assert [(r.date, r.quantity) for r in book.mints] == [("2024-08-01", 427)]

    with pytest.raises(MarginError) as err:
        book.apply_day(Market.parse("2024-08-01", {"A": "95"}, {}))
    assert err.value.kind is ErrorKind.INVALID_INPUT

    day2 = book.apply_day(Market.parse("2024-08-02", {"A": "95"}, {}))
    assert [p.quantity for p in day2.settled] == [527]
    assert book.positions.held == {"A": 10527} and book.positions.borrower_free == {"A": 0}
    assert day2.call.gap_before == 65 and day2.call.transfers == ()
