"""Reports on the shipped scenario files (the four transaction types of the DLT study)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanpo.risk import Regime, ReportConfig, RiskError, StressWindow, VarConfig, run_report
from tanpo.risk.bonds import YieldRepricer
from tanpo.risk.cli import risk
from tanpo.risk.portfolio import build_book
from tanpo.risk.scenario_source import ScenarioSource

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TX = (
    "tx1-st-ct-same-currency",
    "tx2-st-ct-cross-currency",
    "tx3-st-st-same-currency",
    "tx4-st-st-cross-currency",
)


@pytest.fixture(scope="module")
def sources() -> dict[str, ScenarioSource]:
    return {name: ScenarioSource(SCENARIOS / f"{name}.yaml") for name in TX}


@pytest.mark.parametrize("name", TX)
def test_report_on_transaction_type(name: str, sources: dict[str, ScenarioSource]) -> None:
    source = sources[name]
    day = source.default_day()
    assert day == date(2023, 4, 28)  # the last weekday check before the 05-01 close
    r = run_report(source, day, ReportConfig(Regime.BASEL2))
    (cp,) = r.counterparties
    assert (cp.lender, cp.borrower) == ("bank-a", "bank-b")
    assert r.data_version.startswith("sha256:")
    assert cp.figures.excluded == 0  # every collateral token is investment grade or equity
    assert cp.var.n > 400 and cp.var.var > 0
    assert cp.figures.capital == max(0, cp.figures.net + cp.figures.var)
    assert r.total.var == cp.figures.var
    # the book is the engine's: lent value = V_L and haircut collateral = V_C after the call
    (opened,) = source.run.opens
    last = source.run.calls_of(opened.agreement)[-1]
    assert last.date == day
    assert cp.figures.lent == last.v_l
    alpha = opened.terms.haircut
    haircut_value = sum(
        (p.line.value * (1 - opened.terms.haircuts.get(p.line.token, alpha)))
        for p in cp.positions
        if p.line.leg == "collateral"
    )
    assert haircut_value == last.v_c_after


def test_basel1_and_basel2_agree_when_everything_is_eligible(
    sources: dict[str, ScenarioSource],
) -> None:
    source = sources["tx2-st-ct-cross-currency"]
    day = source.default_day()
    b1 = run_report(source, day, ReportConfig(Regime.BASEL1)).to_dict()
    b2 = run_report(source, day, ReportConfig(Regime.BASEL2)).to_dict()
    assert b1["counterparties"][0]["figures"] == b2["counterparties"][0]["figures"]
    assert b1["regime"] != b2["regime"]


def test_cross_currency_haircuts(sources: dict[str, ScenarioSource]) -> None:
    # USD cash lent against a yen JGB rated A+ (sovereign, > 5 years): Hc = 6%, Hfx = 8% at
    # 10 days, both scaled by sqrt(1/2)
    r = run_report(sources["tx2-st-ct-cross-currency"], date(2023, 4, 28), ReportConfig())
    (cp,) = r.counterparties
    coll = next(p for p in cp.positions if p.line.leg == "collateral")
    assert coll.haircut == Fraction(Decimal("0.0424264069"))
    assert coll.fx_haircut == Fraction(Decimal("0.0565685425"))
    c = coll.line.value
    assert cp.figures.e_star == max(0, 10_000_000 - c * (1 - coll.haircut - coll.fx_haircut))


def test_wider_real_window_with_the_crash_gives_a_larger_var(
    sources: dict[str, ScenarioSource],
) -> None:
    # not a theorem for quantiles in general, but what a regulator expects on real data
    source = sources["tx1-st-ct-same-currency"]
    day = source.default_day()
    calm = StressWindow(date(2009, 7, 1), date(2009, 12, 31), "h2-2009")
    narrow = run_report(source, day, ReportConfig(var=VarConfig(window=calm)))
    wide = run_report(source, day, ReportConfig())
    assert wide.total_var.n > narrow.total_var.n
    assert wide.total.var > narrow.total.var


def test_jgb_implied_yield_matches_the_shipped_yield(sources: dict[str, ScenarioSource]) -> None:
    source = sources["tx2-st-ct-cross-currency"]
    day = date(2023, 4, 28)
    book = build_book(source, day)
    info = book.tokens["JGB-2033"]
    assert info.bond is not None and info.rating == "A+" and info.factor == "yield:JGB10Y"
    repricer = YieldRepricer("JGB-2033", info.bond, day, book.snapshot.prices["JGB-2033"])
    # data/market/JGB-SYN-2033.csv: 2023-04-28,100.940,0.403 (the price is rounded to 3 decimals)
    assert abs(repricer.implied_yield - Decimal("0.403")) < Decimal("0.0001")
    assert repricer.shifted(Fraction(0)) == book.snapshot.prices["JGB-2033"]
    assert repricer.shifted(Fraction(1, 10)) < repricer.shifted(Fraction(0))


def test_dates_outside_the_run_and_inline_tokens_without_history() -> None:
    source = ScenarioSource(SCENARIOS / "tx1-st-ct-same-currency.yaml")
    with pytest.raises(RiskError, match="outside the scenario window"):
        build_book(source, date(2023, 6, 1))
    with pytest.raises(RiskError, match="no agreement is active on 2023-05-01"):
        build_book(source, date(2023, 5, 1))
    example = ScenarioSource(SCENARIOS / "cross-currency-example.yaml")
    with pytest.raises(RiskError, match="token DE-BUND has no stressed-history risk factor"):
        run_report(example, date(2024, 1, 3))


def test_cli_on_a_scenario_file(tmp_path: Path) -> None:
    file = str(SCENARIOS / "tx4-st-st-cross-currency.yaml")
    runner = CliRunner()
    args = ["report", "--scenario", file, "--date", "2023-04-28", "--regime", "basel2"]
    first = runner.invoke(risk, [*args, "--json"])
    second = runner.invoke(risk, [*args, "--json"])
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    doc = json.loads(first.output)
    assert doc["method"]["var"]["returns"] == "overlapping 5-business-day moves"
    assert doc["method"]["var"]["window"]["start"] == "2008-01-01"
    table = runner.invoke(risk, [*args, "--out", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "bank-a" in table.output and "E* (haircuts)" in table.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "risk-2023-04-28-basel2.csv",
        "risk-2023-04-28-basel2.json",
        "risk-2023-04-28-basel2.png",
    ]
    assert (tmp_path / "risk-2023-04-28-basel2.json").read_text() == first.output
    bad = runner.invoke(risk, ["report", "--date", "2023-04-28"])
    assert bad.exit_code != 0 and "exactly one of --scenario FILE or --ledger" in bad.output
    sqrt = runner.invoke(risk, [*args, "--returns", "sqrt-time", "--json"])
    assert json.loads(sqrt.output)["method"]["var"]["method"] == "sqrt-time"
