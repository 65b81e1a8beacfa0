"""A risk report on the ledger state left by the four transaction-type scenarios."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from datetime import date, timedelta

from tanpo.client.profile import Profile
from tanpo.risk.ledger_source import LedgerSource
from tanpo.risk.regimes import Regime
from tanpo.risk.report import ReportConfig, run_report
from tanpo.risk.scenario_source import ScenarioSource
from tanpo.scenarios.fabric_ledger import FabricLedger
from tanpo.scenarios.loader import load_scenario
from tanpo.scenarios.runner import run_scenario
from tests.integration.conftest import TANPO

FILES = [
    "scenarios/tx1-st-ct-same-currency.yaml",
    "scenarios/tx2-st-ct-cross-currency.yaml",
    "scenarios/tx3-st-st-same-currency.yaml",
    "scenarios/tx4-st-st-cross-currency.yaml",
]


def test_report_on_the_ledger_equals_the_report_on_the_scenario_runs(
    profile: Profile, state_env: dict[str, str]
) -> None:
    last_checked: list[date] = []
    for i, path in enumerate(FILES):
        scenario = load_scenario(path)
        # Stop the replay the day before the end: the agreements stay ACTIVE on the ledger.
        (spec,) = scenario.agreements
        short = dataclasses.replace(scenario, window_end=spec.end - timedelta(days=1))
        ledger = FabricLedger(profile, run_tag=f"risk{i}")
        try:
            run = run_scenario(short, ledger)
        finally:
            ledger.close()
        last_checked.append(max(c.date for c in run.calls))
    day = min(last_checked)

    onchain = run_report(LedgerSource.connect(profile=profile), day,
                         ReportConfig(regime=Regime.BASEL2), currency="USD")
    assert len(onchain.counterparties) >= 1
    # Each file posted its own instruments for the same dates: additions make new versions.
    version = onchain.data_version
    assert version == str(len(FILES))
    # The book read from the ledger holds exactly what the four runs left, agreement by agreement.
    ledger_book = {h.id.split("-", 1)[1]: h for h in LedgerSource.connect(profile=profile)
                   .agreements(day) if h.id.startswith("risk")}
    for path in FILES:
        for held in ScenarioSource(path).agreements(day):
            on = ledger_book[held.id]
            assert (on.lender, on.borrower, dict(on.loan)) == (
                held.lender, held.borrower, dict(held.loan))
            assert {t: q for t, q in on.collateral.items() if q} == {
                t: q for t, q in held.collateral.items() if q}
    assert onchain.total.lent > 0 and onchain.total.collateral > 0
    assert onchain.total.var > 0
    assert onchain.total.capital == max(0, onchain.total.net + onchain.total.var)

    # Re-running on the same data version is byte-identical (as-of stability).
    again = run_report(LedgerSource.connect(profile=profile), day,
                       ReportConfig(regime=Regime.BASEL2), currency="USD", version=version)
    assert again.to_json() == onchain.to_json()

    out = subprocess.run(
        [*TANPO, "risk", "report", "--ledger", "--date", day.isoformat(),
         "--regime", "basel2", "--json", "--currency", "USD"],
        env=state_env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data_version"] == version
