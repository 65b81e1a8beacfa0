"""`net_positions` and ``tanpo net``: a bank's net view per counterparty, on crafted records
whose figures are worked out by hand."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tanpo.client import net_positions
from tanpo.client.cli_main import main
from tanpo.client.models import Agreement, CollateralLeg
from tanpo.client.net import NetMovement
from tests.fakes import ACTIVE_TERMS, FakeNetwork, margin_record, margin_transfer

Json = dict[str, Any]
D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


def agreement(agreement_id: str, lender: str, borrower: str, base: str = "JPY",
              status: str = "ACTIVE") -> Agreement:
    terms = replace(ACTIVE_TERMS, id=agreement_id, lender=lender, borrower=borrower,
                    base_currency=base, collateral=(CollateralLeg("JP8306", 1000),))
    return Agreement.from_json({"id": agreement_id, "status": status, "proposer": lender,
                                "history": [], "terms": terms.to_json()})


def transfer(token: str, qty: int, sender: str, receiver: str, value: str, day: date) -> Json:
    t = margin_transfer(token, qty, "lender->borrower", value, day)
    return {**t, "from": sender, "to": receiver}


def call(agreement_id: str, day: date, lender: str, borrower: str, vl: str, vc: str,
         transfers: list[Json] | None = None, **over: Any) -> Json:
    return margin_record(agreement_id, day, lender=lender, borrower=borrower, vl=vl,
                         vcAfter=vc, transfers=transfers or [], settled=transfers or [], **over)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    """bank-a's book:

    * AGR-1 lends to bank-b (JPY): 01-03 V_L 1000, V_C 1050; 01-04 V_L 1000, V_C 1040 after
      returning 10 JP8306 to bank-b (worth 10);
    * AGR-2 borrows from bank-b (JPY): 01-04 V_L 500, V_C 1051/2 after delivering 5 JP8604;
    * AGR-3 lends to bank-c (USD): 01-02 V_L 200, V_C 190 (under-collateralised by 10);
    * AGR-4 lends to bank-b, no call yet; AGR-5 is CLOSED (left out); AGR-6 is bank-b's with
      bank-c (not bank-a's: left out).
    """
    net = FakeNetwork().install(monkeypatch)
    net.agreements.clear()
    for a in (agreement("AGR-1", "bank-a", "bank-b"), agreement("AGR-2", "bank-b", "bank-a"),
              agreement("AGR-3", "bank-a", "bank-c", "USD"),
              agreement("AGR-4", "bank-a", "bank-b"),
              agreement("AGR-5", "bank-a", "bank-b", status="CLOSED"),
              agreement("AGR-6", "bank-b", "bank-c")):
        net.agreements[a.id] = a
    net.records[("AGR-1", D2)] = call("AGR-1", D2, "bank-a", "bank-b", "1000", "1050")
    net.records[("AGR-1", D3)] = call("AGR-1", D3, "bank-a", "bank-b", "1000", "1040", [
        transfer("JP8306", 10, "bank-a", "bank-b", "10", D3)])
    net.records[("AGR-2", D3)] = call("AGR-2", D3, "bank-b", "bank-a", "500", "1051/2", [
        transfer("JP8604", 5, "bank-a", "bank-b", "25/2", D3)])
    net.records[("AGR-3", D1)] = call("AGR-3", D1, "bank-a", "bank-c", "200", "190")
    net.records[("AGR-5", D3)] = call("AGR-5", D3, "bank-a", "bank-b", "9999", "1")
    net.records[("AGR-6", D3)] = call("AGR-6", D3, "bank-b", "bank-c", "7777", "1")
    return net


def test_positions_per_counterparty_and_currency_from_the_latest_calls(
        world: FakeNetwork) -> None:
    view = net_positions(world.as_("bank-a"))
    assert view.day == D3  # the latest date of the calls it is valued at
    b = view.position("bank-b", "JPY")
    assert b is not None
    assert (b.loans_out, b.collateral_received, b.loans_in, b.collateral_posted) == (
        1000, 1040, 500, Fraction(1051, 2))
    # (1000 − 1040) + (525.5 − 500) = −40 + 25.5: bank-a is over-collateralised by 14.5
    assert b.exposure == Fraction(-29, 2) and b.agreements == 2
    c = view.position("bank-c", "USD")
    assert c is not None and c.exposure == 10 and c.loans_in == 0
    assert [(p.counterparty, p.currency) for p in view.positions] == [("bank-b", "JPY"),
                                                                       ("bank-c", "USD")]
    assert view.not_margined == ("AGR-4",)
    assert dict(view.as_of) == {"AGR-1": D3, "AGR-2": D3, "AGR-3": D1}
    # the day's movements: bank-a delivered 10 JP8306 and 5 JP8604 to bank-b
    assert view.movements == (NetMovement("bank-b", "JP8306", -10),
                              NetMovement("bank-b", "JP8604", -5))


def test_the_counterparty_sees_the_mirror_image(world: FakeNetwork) -> None:
    view = net_positions(world.as_("bank-b"), D3)
    a = view.position("bank-a", "JPY")
    assert a is not None and a.exposure == Fraction(29, 2)
    assert (a.loans_out, a.loans_in) == (500, 1000)
    assert NetMovement("bank-a", "JP8306", 10) in view.movements
    # its agreement with bank-c counts for bank-b only: 7777 − 1 as the lender
    c = view.position("bank-c", "JPY")
    assert c is not None and c.exposure == 7776


def test_on_an_earlier_date_the_calls_on_or_before_it(world: FakeNetwork) -> None:
    view = net_positions(world.as_("bank-a"), D2)
    b = view.position("bank-b", "JPY")
    assert b is not None and (b.loans_out, b.collateral_received, b.exposure) == (1000, 1050,
                                                                                   -50)
    assert view.not_margined == ("AGR-2", "AGR-4")
    assert view.movements == ()  # the call of 01-03 moved nothing
    assert net_positions(world.as_("bank-a"), date(2024, 1, 1)).positions == ()


def test_a_held_back_part_and_a_correction_change_the_figures(world: FakeNetwork) -> None:
    rec = world.records[("AGR-1", D3)]
    held = transfer("JP8306", 4, "bank-a", "bank-b", "4", D3)
    rec["dispute"] = {"by": "bank-a", "agreedValue": "6", "disputedValue": "4",
                      "heldBack": [held], "status": "OPEN", "txId": "t"}
    view = net_positions(world.as_("bank-a"), D3)
    b = view.position("bank-b", "JPY")
    assert b is not None and b.collateral_received == 1044  # kept 4 of the 10 returned
    assert NetMovement("bank-b", "JP8306", -6) in view.movements
    # a correction re-ran the call: the gap is the adjusted one, and its transfers count
    rec["dispute"].update(status="RESOLVED", resolution="correction")
    rec["adjustments"] = [{"priceVersion": 3, "gapBefore": "44", "gapAfter": "-20",
                           "transfers": [transfer("JP8306", 3, "bank-b", "bank-a", "3", D3)],
                           "txId": "t2"}]
    view = net_positions(world.as_("bank-a"), D3)
    b = view.position("bank-b", "JPY")
    assert b is not None and b.collateral_received == 980
    assert NetMovement("bank-b", "JP8306", -3) in view.movements  # −10, 4 held back, +3


# ---- tanpo net ----------------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_net_prints_a_table_per_currency(world: FakeNetwork) -> None:
    result = run("--as", "bank-a", "net")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "net positions of bank-a in JPY (as of 2024-01-04)" in out
    assert "net positions of bank-a in USD" in out
    assert "1,040" in out and "525.5" in out and "-14.5" in out
    assert "net movements on 2024-01-04" in out and "-10" in out
    assert "not yet margined: AGR-4" in out


def test_net_json_is_exact(world: FakeNetwork) -> None:
    result = run("--as", "bank-a", "net", "--date", "2024-01-04", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["date"] == "2024-01-04" and doc["notMargined"] == ["AGR-4"]
    (b, c) = doc["positions"]
    assert b == {"counterparty": "bank-b", "currency": "JPY", "agreements": 2,
                 "loansOut": "1000", "collateralReceived": "1040", "loansIn": "500",
                 "collateralPosted": "1051/2", "exposure": "-29/2"}
    assert c["exposure"] == "10"
    assert doc["movements"][0] == {"counterparty": "bank-b", "token": "JP8306", "quantity": -10}


def test_net_help_defines_the_exposure_and_a_bad_date_is_usage() -> None:
    text = " ".join(run("net", "--help").output.split())
    assert "net credit amount of all transactions" in text and "positive: you are exposed" in text
    assert run("net", "--date", "2024-13-01").exit_code == 2


def test_net_refused_is_exit_3(world: FakeNetwork) -> None:
    from tests.fakes import chaincode_refusal

    world.fail = chaincode_refusal("access denied: the operator does not see bilateral "
                                   "agreements", evaluate=True)
    assert run("--as", "operator", "net").exit_code == 3
