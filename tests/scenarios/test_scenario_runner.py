"""Scenario runs through the off-chain engine ledger."""

from __future__ import annotations

import dataclasses
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from tanpo.marketdata import Fill
from tanpo.scenarios.engine_ledger import EngineLedger
from tanpo.scenarios.ledger import Ledger
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.model import Checks
from tanpo.scenarios.runner import run_scenario

from .test_scenario_loader import EXAMPLE

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_design_example_returns_131_shares() -> None:
    result = run_scenario(parse_scenario(EXAMPLE))
    (opened,) = result.opens
    assert opened.terms.collateral == (("US-STOCK", 22_275),)
    assert opened.v_l == 1_113_750
    (call,) = result.calls
    assert call.date == date(2024, 1, 3)
    assert call.triggered
    assert call.v_l == 1_116_050
    assert call.v_c_before == 1_122_660
    (t,) = call.transfers
    assert (t.token, t.quantity, t.sender, t.receiver) == ("US-STOCK", 131, "bank-a", "bank-b")
    assert call.gap_after == Fraction(6610) - 131 * Fraction("50.40")
    (closed,) = result.closes
    assert closed.date == date(2024, 1, 4)
    assert closed.returned == {"US-STOCK": 22_275 - 131}


def test_shipped_example_file_matches() -> None:
    result = run_scenario(load_scenario(SCENARIOS / "cross-currency-example.yaml"))
    assert result.calls[0].transfers[0].quantity == 131


def test_engine_ledger_implements_the_interface_and_is_idempotent() -> None:
    ledger = EngineLedger()
    assert isinstance(ledger, Ledger)
    result = run_scenario(parse_scenario(EXAMPLE), ledger)
    again = ledger.margin_call("A1", date(2024, 1, 3))
    assert again == result.calls[0]
    assert ledger.call_records("A1") == list(result.calls)
    # Balances after the close: everything back where it started.
    assert ledger.balance("bank-b", "US-STOCK") == 22_275
    assert ledger.balance("bank-a", "DE-BUND") == 1_000_000


def test_fill_convention_changes_weekend_prices() -> None:
    spec = load_scenario(SCENARIOS / "tx4-st-st-cross-currency.yaml")
    assert spec.fill is Fill.CARRY_FORWARD
    every_day = dataclasses.replace(spec, checks=Checks.EVERY_DAY)
    carry = {c.date: c for c in run_scenario(every_day).calls}
    next_day = dataclasses.replace(every_day, fill=Fill.NEXT_TRADING_DAY)
    nxt = {c.date: c for c in run_scenario(next_day).calls}
    saturday = date(2023, 3, 4)
    # Carry forward: Saturday repeats Friday's prices, so V_L is Friday's.
    assert carry[saturday].v_l == carry[date(2023, 3, 3)].v_l
    # Next trading day: Saturday already uses Monday's closes.
    assert nxt[saturday].v_l == nxt[date(2023, 3, 6)].v_l
    assert nxt[saturday].v_l != carry[saturday].v_l


@pytest.mark.parametrize(
    ("name", "pair"),
    [
        ("tx1-st-ct-same-currency.yaml", None),
        ("tx2-st-ct-cross-currency.yaml", "JPY"),
        ("tx3-st-st-same-currency.yaml", None),
        ("tx4-st-st-cross-currency.yaml", "EUR"),
    ],
)
def test_transaction_types(name: str, pair: str | None) -> None:
    result = run_scenario(load_scenario(SCENARIOS / name))
    assert result.total.checked_days == 42  # weekdays strictly between 2023-03-01 and 05-01
    assert result.total.margin_calls > 10
    assert any(c.date == date(2023, 3, 31) for c in result.calls)  # a month end is checked
    if pair is not None:
        rates = {c.fx[pair] for c in result.calls}
        assert len(rates) > 30  # the calls follow the real daily FX moves
    # After each completed call the collateral covers the loan, up to the threshold.
    (terms,) = [o.terms for o in result.opens]
    for c in result.calls:
        assert c.gap_after >= -terms.threshold * c.v_l


@pytest.mark.parametrize("lag", [0, 1, 2])
def test_lagged_runs_value_settled_positions_and_conserve_tokens(lag: int) -> None:
    from tanpo.scenarios.paper import CASES, MODELS, paper_scenario

    spec = paper_scenario(CASES[3], MODELS[1])
    (agreement,) = spec.agreements
    spec = dataclasses.replace(spec, agreements=(dataclasses.replace(agreement, lag=lag),))
    ledger = EngineLedger()
    result = run_scenario(spec, ledger)
    for call in result.calls:
        if lag:
            assert call.v_c_before == call.v_c_after  # nothing of the day's call has settled
            assert all(t.settle_date and t.settle_date > call.date for t in call.transfers)
    # Every token unit is somewhere: issued + minted == sum of balances. After the close the
    # borrower has its cash back with the lender, and the lender keeps only the CT1 shares minted
    # to it by auto-issue (its negative CT1 position was delivered back at the close).
    minted: dict[str, int] = {}
    for call in result.calls:
        for m in call.issuances:
            minted[m.token] = minted.get(m.token, 0) + m.quantity
    opened = result.opens[0].terms
    for token, qty in opened.collateral:
        issued = qty + spec.balances["bank-b"][token] + minted.get(token, 0)
        total = sum(h.get(token, 0) for h in ledger.balances.values())
        assert total == issued
        lender_minted = sum(
            m.quantity
            for c in result.calls
            for m in c.issuances
            if m.token == token and m.role == "lender"
        )
        assert ledger.balance("bank-a", token) == lender_minted
    if lag == 0:  # model 1 of case 3: the lender runs out of MUFG on 21 days
        assert sum(1 for c in result.calls if c.issued_for("lender")) == 21
    assert ledger.balance("bank-a", "JPY") == opened.loan_quantity
    assert ledger.balance("bank-b", "JPY") == 0
