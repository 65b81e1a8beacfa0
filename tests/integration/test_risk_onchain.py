"""A risk report on the ledger state left by the four transaction-type scenarios."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import date, timedelta

from tanpo.network.profile import Profile
from tanpo.risk.ledger_source import LedgerSource
from tanpo.risk.regimes import Regime
from tanpo.risk.report import ReportConfig, run_report
from tanpo.risk.scenario_source import ScenarioSource
from tanpo.scenarios.fabric_ledger import FabricLedger
from tanpo.scenarios.loader import load_scenario
from tanpo.scenarios.runner import run_scenario

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
    assert onchain.data_version == "1"
    # The same four books rebuilt off-chain give the same exposure and collateral per file.
    lent_offchain = collateral_offchain = 0
    for path in FILES:
        off = run_report(ScenarioSource(path), day, ReportConfig(regime=Regime.BASEL2),
                         currency="USD")
        lent_offchain += off.total.lent
        collateral_offchain += off.total.collateral
    assert onchain.total.lent == lent_offchain
    assert onchain.total.collateral == collateral_offchain
    assert onchain.total.var > 0
    assert onchain.total.capital == max(0, onchain.total.net + onchain.total.var)

    # Re-running on the same data version is byte-identical (as-of stability).
    again = run_report(LedgerSource.connect(profile=profile), day,
                       ReportConfig(regime=Regime.BASEL2), currency="USD", version="1")
    assert again.to_json() == onchain.to_json()

    out = subprocess.run(
        [sys.executable, "-m", "tanpo", "risk", "report", "--ledger", "--date", day.isoformat(),
         "--regime", "basel2", "--json", "--currency", "USD"],
        env=state_env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["data_version"] == "1"
