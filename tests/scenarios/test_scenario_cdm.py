"""Scenario agreements read from ISDA/ISLA CDM trade files: the FINOS execution against cash
replayed through the same rules, mapped as `agreement propose --cdm` maps it."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import parse_scenario
from tanpo.scenarios.runner import run_scenario

CDM = Path(__file__).resolve().parents[1] / "fixtures" / "cdm"
SAMPLE = CDM / "finos-sec-lending" / "execution-cash-input.json"
# Synthetic closes around the sample's 9.8011 GBP (the suite has no price history for it): a
# fall, then a rise, so the cash collateral is called both ways.
CLOSES = ("9.8011", "9.50", "9.20", "9.60", "10.10", "10.30", "10.00", "9.90")
DAYS = [date(2025, 5, 15) + timedelta(days=i) for i in range(len(CLOSES))]


def _scenario(agreement: str, isin: str = "GB00BDR05C01") -> str:
    prices = "".join(f'  {d}: {{GBST: "{c}"}}\n' for d, c in zip(DAYS, CLOSES, strict=True))
    return f"""\
base_currency: GBP
tokens:
  - {{id: GBST, kind: ST, currency: GBP, isin: {isin}}}
  - {{id: GBP, kind: CT, currency: GBP}}
prices:
{prices}agreements:
  - {agreement}
"""


def test_a_cdm_trade_replays_as_a_scenario_agreement() -> None:
    text = _scenario(f"{{id: UK1, cdm: {SAMPLE}, parties: {CDM / 'parties.yaml'}, "
                     f"end: {DAYS[-1]}}}")
    scenario = parse_scenario(text, Path("cdm.yaml"))
    (spec,) = scenario.agreements
    assert (spec.lender, spec.borrower) == ("bank-a", "bank-b")
    assert spec.loan == (("GBST", 1_000_000),)
    assert spec.collateral == (("GBP", 9_997_122),)
    assert spec.economics is not None and spec.economics.rebate_fixed == 1
    assert (spec.start, spec.end) == (date(2025, 5, 15), DAYS[-1])

    result = run_scenario(scenario)
    calls = result.calls_of("UK1")
    assert [c.date for c in calls] == DAYS[1:-1]
    # the loan is worth 1,000,000 × the close, the cash collateral its quantity, no haircut
    for call, close in zip(calls, CLOSES[1:], strict=False):
        assert call.v_l == 1_000_000 * Fraction(close)
    assert {t.token for c in calls for t in c.transfers} == {"GBP"}
    directions = {t.sender for c in calls for t in c.transfers}
    assert directions == {"bank-a", "bank-b"}  # returned as it fell, called as it rose
    assert any(a.rebate for a in result.accruals_of("UK1"))  # the 1 % rebate accrues


@pytest.mark.parametrize(("agreement", "words"), [
    (f"{{id: UK1, cdm: {SAMPLE}}}", "no tanpo party for the borrower"),
    (f"{{id: UK1, cdm: {SAMPLE}, parties: {CDM / 'parties.yaml'}}}", "open (no end date)"),
    (f"{{id: UK1, cdm: {CDM / 'nope.json'}, end: 2025-05-22}}", "cannot read"),
])
def test_a_cdm_agreement_that_cannot_be_read_names_why(agreement: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(_scenario(agreement), Path("cdm.yaml"))
    assert words in str(info.value)


def test_without_the_isin_the_security_is_not_found() -> None:
    text = _scenario(f"{{id: UK1, cdm: {SAMPLE}, parties: {CDM / 'parties.yaml'}, "
                     f"end: {DAYS[-1]}}}", isin="US0378331005")
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, Path("cdm.yaml"))
    assert "no token definition lists ISIN GB00BDR05C01" in str(info.value)
