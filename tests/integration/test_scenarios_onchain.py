"""Scenario runs through the real network give exactly the off-chain engine's figures."""

from __future__ import annotations

import json
import os
import subprocess

from tanpo.client.profile import Profile
from tanpo.scenarios.fabric_ledger import FabricLedger
from tanpo.scenarios.loader import load_scenario
from tanpo.scenarios.paper import paper_json, run_paper
from tanpo.scenarios.runner import run_scenario
from tests.integration.conftest import TANPO


def test_cross_currency_example_returns_131_shares_on_chain(profile: Profile) -> None:
    scenario = load_scenario("scenarios/cross-currency-example.yaml")
    ledger = FabricLedger(profile, run_tag="xccy")
    try:
        onchain = run_scenario(scenario, ledger)
    finally:
        ledger.close()
    offchain = run_scenario(scenario)
    (call,) = onchain.calls
    assert [(t.token, t.quantity, t.sender, t.receiver) for t in call.transfers] == [
        ("US-STOCK", 131, "bank-a", "bank-b")
    ]
    assert call.v_l == 1_116_050 and call.v_c_before == 1_122_660
    assert onchain.calls == offchain.calls
    assert onchain.metrics == offchain.metrics


def test_paper_case_on_chain_equals_off_chain_for_every_model(profile: Profile) -> None:
    # Case 1 (normal market) keeps CI short; every model runs, model 0 with its one-day lag.
    case = int(os.environ.get("TANPO_PAPER_CASE", "1"))
    tag = iter(range(100))
    offchain = run_paper((case,), (0, 1, 2, 3, 4))
    onchain = run_paper(
        (case,), (0, 1, 2, 3, 4),
        ledger_factory=lambda: FabricLedger(profile, run_tag=f"paper{case}-{next(tag)}"),
    )
    assert paper_json(onchain) == paper_json(offchain)
    for key, run in onchain.items():
        assert run.backend == "fabric"
        assert run.calls == offchain[key].calls, f"case {key[0]} model {key[1]} differs"
    calls = {m: onchain[(case, m)].total.margin_calls for m in range(5)}
    assert calls[0] == calls[1] == calls[2] == 60


def test_life_cycle_scenario_on_chain_equals_off_chain(profile: Profile) -> None:
    """The crash window with two recalls, a part return and two substitutions: every step and
    every margin call the same on the ledger as off-chain, to the unit, and so are the fees and
    rebates accrued and the monthly invoices (once per pair and month on a network: run this on
    a fresh one)."""
    scenario = load_scenario("scenarios/crash-lifecycle.yaml")
    ledger = FabricLedger(profile, run_tag="lifecycle")
    try:
        onchain = run_scenario(scenario, ledger)
    finally:
        ledger.close()
    offchain = run_scenario(scenario)
    assert [s.action for s in onchain.steps] == [
        "recall", "return", "substitute", "substitute", "return", "recall", "return"]
    assert onchain.steps == offchain.steps
    assert onchain.calls == offchain.calls
    assert onchain.closes == offchain.closes
    assert onchain.metrics == offchain.metrics
    assert onchain.steps[-1].loan_quantity == 800_000
    # fees and rebates: the chaincode's accrual lines (read from the call records and the steps'
    # and close's history entries) are the engine's, and so are the invoices issued on the
    # ledger (billing:IssueInvoice) for October and November 2008
    assert onchain.accruals_of("sl-mufg") == offchain.accruals_of("sl-mufg")
    assert sum(a.days for a in onchain.accruals_of("sl-mufg")) == 61
    assert [c.accruals for c in onchain.calls] == [c.accruals for c in offchain.calls]
    assert [s.accruals for s in onchain.steps] == [s.accruals for s in offchain.steps]
    assert [c.accruals for c in onchain.closes] == [c.accruals for c in offchain.closes]
    assert onchain.invoices == offchain.invoices
    october, november = onchain.invoices
    assert (october.month, october.payer, october.payee, october.amount) == (
        "2008-10", "bank-b", "bank-a", 333_547)
    assert [line.agreement for line in october.lines] == ["sl-mufg"]
    assert (november.month, november.amount) == ("2008-11", 143_433)


def test_scenario_cli_on_chain_json(state_env: dict[str, str]) -> None:
    out = subprocess.run(
        [*TANPO, "scenario", "run", "scenarios/cross-currency-example.yaml",
         "--on-chain", "--json"],
        env=state_env, capture_output=True, text=True, check=True,
    )
    doc = json.loads(out.stdout)
    (call,) = doc["calls"]
    assert call["transfers"] == [
        {"token": "US-STOCK", "quantity": 131, "from": "bank-a", "to": "bank-b",
         "value": "33012/5", "settles": "2024-01-03"}
    ]
