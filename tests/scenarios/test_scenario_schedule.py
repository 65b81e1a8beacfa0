"""Eligibility schedules in scenario files: parsed with line numbers, applied by the engine the
same way the chaincode applies them (top-ups skip ineligible tokens and respect caps,
substitutions deliver only eligible tokens)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import parse_scenario
from tanpo.scenarios.runner import run_scenario

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "crash-lifecycle.yaml"

INLINE = """
name: schedule-inline
base_currency: JPY
tokens:
  - {id: JPY, kind: CT, currency: JPY}
  - {id: CASH, kind: CT, currency: JPY}
  - {id: A, kind: ST, currency: JPY, name: Alpha}
  - {id: B, kind: ST, currency: JPY, name: Beta}
prices:
  2024-01-01: {A: "100", B: "100"}
  2024-01-02: {A: "80", B: "100"}
  2024-01-03: {A: "80", B: "100"}
balances:
  bank-b: {A: 100000, B: 100000, JPY: 100000000}
agreements:
  - id: S1
    lender: bank-a
    borrower: bank-b
    loan: {CASH: 1000000}
    collateral: {A: 10000}
    priority: [B, A, JPY]
    mode: multi
    schedule: {asset_classes: [equity], caps: [{by: token, key: B, max: "0.1"}]}
    start: 2024-01-01
    end: 2024-01-03
"""


def test_a_schedule_is_parsed_from_the_file() -> None:
    scenario = parse_scenario(INLINE)
    schedule = scenario.agreements[0].schedule
    assert schedule is not None and tuple(schedule.asset_classes) == ("equity",)
    caps = [(c.by, c.key, Fraction(c.max)) for c in schedule.caps]
    assert caps == [("token", "B", Fraction(1, 10))]


@pytest.mark.parametrize("bad, message", [
    ("{caps: [{by: sector, max: \"0.5\"}]}", "one of"),
    ("{min_rating: Aa2}", "one of"),
    ("{haircuts: {isin:X: \"0.1\"}}", "token:<id> or class:<asset class>"),
    ("{colour: red}", "colour"),
])
def test_a_bad_schedule_names_its_line(bad: str, message: str) -> None:
    text = INLINE.replace(
        '    schedule: {asset_classes: [equity], caps: [{by: token, key: B, max: "0.1"}]}',
        f"    schedule: {bad}")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text)
    assert message in str(err.value) and "line" in str(err.value)


def test_the_top_up_skips_the_ineligible_cash_and_stops_b_at_its_cap() -> None:
    # A falls to 80: the collateral (10,000 A = 800,000) is 200,000 short. B (CT1) may be at most
    # 10 % of the collateral's market value: q <= floor((0.1 x 800,000 - 0) / (100 x 0.9)) = 888;
    # A delivers the rest, ceil((200,000 - 88,800) / 80) = 1,390; JPY (cash) is not an eligible
    # class and is never reached
    result = run_scenario(parse_scenario(INLINE))
    (call,) = [c for c in result.calls if c.transfers]
    assert [(t.token, t.quantity) for t in call.transfers] == [("B", 888), ("A", 1390)]
    assert call.v_c_after >= call.v_l


def test_a_substitution_into_an_unrated_stock_is_refused_by_a_rating_floor() -> None:
    text = SHIPPED.read_text().replace(
        "    priority: [JPY, JP4901, JP8031]\n",
        "    priority: [JPY, JP4901, JP8031]\n    schedule: {min_rating: A}\n")
    with pytest.raises(ScenarioError) as err:
        run_scenario(parse_scenario(text, SHIPPED))
    assert "in: JP4901 is not eligible under the agreement's schedule (unrated)" in str(err.value)
