"""Regimes: which collateral counts, and what the report says about what does not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tanpo.marketdata.instruments import asset_class_of, parse_rating
from tanpo.risk import (
    AgreementHolding,
    AssetClass,
    BondTerms,
    MemoryFactors,
    MemorySource,
    Regime,
    TokenInfo,
)
from tanpo.risk.history import load_yield_series
from tanpo.risk.regimes import eligibility

from .test_risk_var import DAY, cash, equity, report, series, window_of


def bond(token_id: str, rating: str | None, sovereign: bool = False) -> TokenInfo:
    return TokenInfo(
        token_id,
        "ST",
        "USD",
        "percent-of-par",
        AssetClass.SOVEREIGN_DEBT if sovereign else AssetClass.OTHER_DEBT,
        rating=rating,
        bond=BondTerms(Decimal("5"), 2, date(2030, 6, 15)),
        factor="yield:HY",
    )


def _book() -> tuple[MemorySource, MemoryFactors]:
    # USD 1,000,000 lent against 600,000 of a BB corporate bond (face 600,000 at 100) and
    # 500 x 1,000 = 500,000 of a main-index stock
    source = MemorySource(
        [cash("USD"), bond("HY-BOND", "BB"), equity("S")],
        [
            AgreementHolding(
                "A1", "custodian", "fund", "USD", {"USD": 1_000_000}, {"HY-BOND": 600_000, "S": 500}
            )
        ],
    )
    source.post(DAY, {"HY-BOND": Fraction(100), "S": Fraction(1000)})
    n = 30
    factors = MemoryFactors(
        {
            "yield:HY": series("HY", [Fraction(5) + Fraction(i % 7, 10) for i in range(n)]),
            "price:S": series("S", [100 + (i * 37) % 23 for i in range(n)]),
        }
    )
    return source, factors


def test_bb_bond_counts_under_basel1_not_basel2() -> None:
    source, factors = _book()
    b1 = report(source, factors, window_of(30), Regime.BASEL1)
    b2 = report(source, factors, window_of(30), Regime.BASEL2)
    f1 = b1.counterparties[0].figures
    f2 = b2.counterparties[0].figures
    assert [f1.collateral, f1.excluded, f1.net] == [1_100_000, 0, -100_000]
    assert [f2.collateral, f2.excluded, f2.net] == [500_000, 600_000, 500_000]
    assert f2.exposure == 500_000 and f1.exposure == 0
    # excluded collateral does not reduce the exposure in the VaR either: only the stock moves it
    assert f2.var != f1.var
    doc1, doc2 = b1.to_dict(), b2.to_dict()
    assert doc1["counterparties"][0]["excluded"] == []
    (excluded,) = doc2["counterparties"][0]["excluded"]
    assert excluded["token"] == "HY-BOND"
    assert excluded["quantity"] == 600_000
    assert excluded["value"]["exact"] == "600000"
    assert "below investment grade BBB-" in excluded["reason"]
    assert doc2["regime"] == "basel2" and doc1["regime"] == "basel1"
    rows = {p["token"]: p for p in doc2["counterparties"][0]["positions"]}
    assert rows["HY-BOND"]["counted"] is False and rows["S"]["counted"] is True


def test_basel2_var_uses_only_eligible_collateral() -> None:
    source, factors = _book()
    b2 = report(source, factors, window_of(30), Regime.BASEL2)
    stock_only = MemorySource(
        [cash("USD"), equity("S")],
        [AgreementHolding("A1", "custodian", "fund", "USD", {"USD": 1_000_000}, {"S": 500})],
    )
    stock_only.post(DAY, {"S": Fraction(1000)})
    ref = report(stock_only, factors, window_of(30), Regime.ECONOMIC)
    assert b2.counterparties[0].var == ref.counterparties[0].var


@pytest.mark.parametrize(
    ("rating", "sovereign", "eligible", "reason"),
    [
        ("AAA", False, True, None),
        ("BBB-", False, True, None),
        ("Baa3", False, True, None),
        ("A-3", False, True, None),
        ("BB+", False, False, "below investment grade"),
        ("Ba1", True, False, "below investment grade"),
        ("BB", True, False, "below investment grade"),
        (None, False, False, "unrated debt"),
        ("", True, False, "unrated debt"),
        ("XYZ", False, False, "not a recognised grade"),
    ],
)
def test_basel2_debt_eligibility(
    rating: str | None, sovereign: bool, eligible: bool, reason: str | None
) -> None:
    verdict = eligibility(Regime.BASEL2, bond("D", rating, sovereign))
    assert verdict.eligible is eligible
    if reason is None:
        assert verdict.reason is None
    else:
        assert verdict.reason is not None and reason in verdict.reason
    for regime in (Regime.BASEL1, Regime.ECONOMIC):
        assert eligibility(regime, bond("D", rating, sovereign)).eligible


def test_basel2_other_assets_and_cash_equity() -> None:
    assert eligibility(Regime.BASEL2, cash("JPY")).eligible
    assert eligibility(Regime.BASEL2, equity("S")).eligible
    other = TokenInfo("G", "ST", "USD", asset_class=AssetClass.OTHER)
    verdict = eligibility(Regime.BASEL2, other)
    assert not verdict.eligible and verdict.reason is not None and "other" in verdict.reason


def test_ratings_and_asset_classes() -> None:
    assert parse_rating("AA-") is not None and parse_rating("Aa3") == parse_rating("Aa3")
    aa3, aa_minus = parse_rating("Aa3"), parse_rating("AA-")
    assert aa3 is not None and aa_minus is not None and aa3.notch == aa_minus.notch
    bbb = parse_rating("bbb-")
    assert bbb is not None and bbb.investment_grade and bbb.sp_equivalent == "BBB-"
    assert parse_rating("not a rating") is None
    assert asset_class_of("government-bond", "ST") == AssetClass.SOVEREIGN_DEBT
    assert asset_class_of("corporate-bond", "ST") == AssetClass.OTHER_DEBT
    assert asset_class_of("equity", "ST") == AssetClass.EQUITY
    assert asset_class_of("", "ST") == AssetClass.OTHER
    assert asset_class_of("whatever", "CT") == AssetClass.CASH
    assert asset_class_of("real-estate", "ST") == AssetClass.OTHER


def test_shipped_yield_history_files_load() -> None:
    from tanpo.marketdata.series import default_data_dir

    for name in ("JGB10Y", "UST10Y", "DE10Y"):
        s = load_yield_series(default_data_dir() / "stress" / f"{name}.csv", name)
        inside = s.between(date(2008, 1, 1), date(2009, 12, 31))
        assert len(inside) > 450
        assert all(0 < v < 6 for v in inside.closes)
        assert all(d.weekday() < 5 for d in s.days)
