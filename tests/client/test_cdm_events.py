"""An agreement's life as CDM BusinessEvents (`tanpo.client.cdm.events`): what each tanpo action
becomes, the quantities and positions the events carry, the margin calls merged in, the Workflow
form and ``agreement export --cdm --events``."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner

from tanpo.client import cdm
from tanpo.client.cli_main import main
from tanpo.client.models import Agreement, HistoryEntry
from tests.client.cdm_life import TERMS, TOKENS, life, margin_call
from tests.fakes import FakeNetwork

Json = dict[str, Any]


def events(with_calls: bool = False) -> list[Json]:
    # through the text form, as a file would carry them
    docs = cdm.agreement_events(life(), TOKENS, [margin_call()] if with_calls else [])
    return [cdm.loads(cdm.dumps(d)) for d in docs]


def primitives(event: Json) -> list[str]:
    return list(event["instruction"][0].get("primitiveInstruction", {}))


def loan_after(event: Json) -> Any:
    return event["after"][0]["trade"]["tradeLot"][0]["priceQuantity"][0]["quantity"]["value"]


def positions(event: Json) -> list[Any]:
    collateral = event["after"][0]["trade"]["product"]["economicTerms"]["collateral"]
    return [p["priceQuantity"][0]["quantity"]["value"]
            for p in collateral["collateralPortfolio"][0]["collateralPosition"]]


def transfers(event: Json) -> list[Json]:
    return event["instruction"][0]["primitiveInstruction"]["transfer"]["transferState"]


def test_each_action_maps_to_its_cdm_construct() -> None:
    got = [(e[cdm.EXTENSION]["action"], e.get("intent"), primitives(e), loan_after(e),
            positions(e), e["after"][0].get("state", {}).get("positionState"))
           for e in events()]
    assert got == [
        ("PROPOSED", None, ["execution"], 1000, [1_100_000, 0], None),
        ("APPROVED", "ContractFormation", ["contractFormation", "transfer"], 1000,
         [1_100_000, 0], "Settled"),
        ("RECALLED", None, ["transfer"], 1000, [1_100_000, 0], "Settled"),
        ("RETURNED", "Decrease", ["quantityChange", "transfer"], 600, [660_000, 0], "Settled"),
        ("SUBSTITUTION_REQUESTED", None, [], 600, [660_000, 0], "Settled"),
        ("SUBSTITUTED", None, ["transfer"], 600, [560_000, 1000], "Settled"),
        ("NOTICE_GIVEN", None, ["termsChange"], 600, [560_000, 1000], "Settled"),
        ("RECALLED", None, ["transfer"], 600, [560_000, 1000], "Settled"),
        ("RECALL_FAILED", None, [], 600, [560_000, 1000], "Settled"),
        ("BOUGHT_IN", "Decrease", ["quantityChange", "transfer"], 500, [445_000, 1000],
         "Settled"),
        ("CLOSED", None, ["quantityChange", "transfer"], 0, [-20_000, 0], "Closed"),
    ]


def test_with_the_margin_calls_the_positions_close_at_zero() -> None:
    evs = events(with_calls=True)
    actions = [e[cdm.EXTENSION]["action"] for e in evs]
    # the call of 2024-01-20 falls between the return (01-12) and the substitution request
    assert actions[3:6] == ["RETURNED", "MARGIN_CALL", "SUBSTITUTION_REQUESTED"]
    call = evs[4]
    assert call["eventDate"] == "2024-01-20" and primitives(call) == ["transfer"]
    assert call[cdm.EXTENSION]["marginCallDate"] == "2024-01-20"
    (moved,) = transfers(call)
    assert moved["transferStatus"] == "Settled"
    assert moved["transfer"]["quantity"] == {"value": 20_000,
                                             "unit": {"currency": {"@data": "JPY"}}}
    assert moved["transfer"]["payerReceiver"] == {
        "payerPartyReference": {"@ref:external": "bank-b"},
        "receiverPartyReference": {"@ref:external": "bank-a"}}
    assert positions(call) == [680_000, 0]
    assert positions(evs[-1]) == [0, 0]


def test_a_call_on_the_date_of_a_step_is_ordered_by_the_ledger_timestamps() -> None:
    def order(timestamp: str) -> list[str]:
        call = replace(margin_call(), date=date(2024, 1, 12),
                       raw={**margin_call().raw, "timestamp": timestamp})
        return [e[cdm.EXTENSION]["action"] for e in cdm.agreement_events(life(), TOKENS, [call])]

    # the return was recorded at 2024-01-12T01:00:00Z
    assert order("2024-01-12T00:30:00Z")[3:5] == ["MARGIN_CALL", "RETURNED"]
    assert order("2024-01-12T09:00:00Z")[3:5] == ["RETURNED", "MARGIN_CALL"]
    assert cdm.agreement_events(life(), TOKENS, [replace(
        margin_call(), raw={**margin_call().raw, "timestamp": "2024-01-20T08:00:00Z"})])[4][
        cdm.EXTENSION]["timestamp"] == "2024-01-20T08:00:00Z"


@pytest.mark.parametrize("action", cdm.events.STATE_ONLY)
def test_actions_that_change_nothing_carry_the_state_only(action: str) -> None:
    agreement = Agreement("AGR-9", "ACTIVE", TERMS, "bank-a", (
        HistoryEntry("APPROVED", "ACTIVE", "bank-b", "t2", "2024-01-04T01:00:00Z"),
        HistoryEntry(action, "ACTIVE", "bank-b", "t3", "2024-01-05T01:00:00Z", "why")))
    approved, event = cdm.agreement_events(agreement, TOKENS)
    assert primitives(event) == [] and "intent" not in event
    assert event["instruction"][0]["before"] == event["after"][0]
    # the same trade and state as after the approval (whose transfers it does not repeat)
    assert event["after"][0] == {k: v for k, v in approved["after"][0].items()
                                 if k != "transferHistory"}
    assert (event[cdm.EXTENSION]["action"], event[cdm.EXTENSION]["note"]) == (action, "why")


def test_the_opening_exchange_is_contract_formation_with_both_legs() -> None:
    approved = events()[1]
    loan, cash = transfers(approved)
    assert loan["transfer"]["@type"] == "cdm.event.common.UnscheduledTransfer"
    assert loan["transfer"]["asset"]["@type"].endswith(".Security")
    assert {"identifier": {"@data": "JP3902900004"}, "identifierType": "ISIN"} in \
        loan["transfer"]["asset"]["identifier"]
    assert loan["transfer"]["quantity"] == {"value": 1000, "unit": {"financialUnit": "Share"}}
    assert loan["transfer"]["payerReceiver"]["payerPartyReference"] == {"@ref:external": "bank-a"}
    assert cash["transfer"]["asset"]["@type"].endswith(".Cash")
    assert cash["transfer"]["settlementDate"] == {"adjustedDate": "2024-01-04"}
    assert {loan["transferStatus"], cash["transferStatus"]} == {"Settled"}
    # the transfers are the after state's transfer history
    assert approved["after"][0]["transferHistory"] == transfers(approved)
    assert "before" in approved["instruction"][0]


def test_a_recall_is_a_pending_recall_transfer_of_the_loan() -> None:
    recall = events()[2]
    (due,) = transfers(recall)
    assert due["transferStatus"] == "Pending"
    assert due["transfer"]["transferType"] == "Recall"
    assert due["transfer"]["quantity"]["value"] == 400
    assert due["transfer"]["settlementDate"] == {"adjustedDate": "2024-01-12"}
    assert due["transfer"]["payerReceiver"] == {
        "payerPartyReference": {"@ref:external": "bank-b"},
        "receiverPartyReference": {"@ref:external": "bank-a"}}
    assert recall[cdm.EXTENSION]["recall"] == "R1"


def test_a_part_return_decreases_the_quantity_and_moves_both_ways() -> None:
    ret = events()[3]
    change = ret["instruction"][0]["primitiveInstruction"]["quantityChange"]
    assert change == {"change": [{"quantity": {"value": 400, "unit": {"financialUnit": "Share"}}}],
                      "direction": "Decrease"}
    loan, released = transfers(ret)
    assert loan["transfer"]["transferType"] == "Return"
    assert released["transfer"]["payerReceiver"]["payerPartyReference"] == {
        "@ref:external": "bank-a"}
    assert loan_after({"after": [ret["instruction"][0]["before"]]}) == 1000


def test_a_substitution_moves_collateral_both_ways() -> None:
    sub = events()[5]
    assert [(t["transfer"]["asset"]["identifier"][0]["identifier"]["@data"],
             t["transfer"]["payerReceiver"]["payerPartyReference"]["@ref:external"])
            for t in transfers(sub)] == [("USD", "bank-b"), ("JPY", "bank-a")]


def test_notice_changes_the_termination_date_from_then_on() -> None:
    evs = events()
    notice = evs[6]
    product = notice["instruction"][0]["primitiveInstruction"]["termsChange"]["product"]
    assert product["economicTerms"]["terminationDate"] == {
        "adjustableDate": {"unadjustedDate": "2024-02-15"}}
    assert "terminationDate" not in evs[5]["after"][0]["trade"]["product"]["economicTerms"]
    assert all("terminationDate" in e["after"][0]["trade"]["product"]["economicTerms"]
               for e in evs[6:])


def test_a_buy_in_decreases_the_loan_and_the_kept_collateral_leaves() -> None:
    buy_in = events()[9]
    change = buy_in["instruction"][0]["primitiveInstruction"]["quantityChange"]
    assert change["change"][0]["quantity"]["value"] == 100
    assert buy_in[cdm.EXTENSION]["kept"] == [{"token": "JPY", "quantity": "110000"}]


def test_the_close_is_a_closed_state_with_the_loan_at_zero() -> None:
    close = events()[-1]
    assert close["after"][0]["state"] == {
        "positionState": "Closed",
        "closedState": {"state": "Matured", "activityDate": "2024-02-15"}}
    change = close["instruction"][0]["primitiveInstruction"]["quantityChange"]
    assert change["change"][0]["quantity"]["value"] == 500
    assert [t["transfer"].get("transferType") for t in transfers(close)] == [
        "Return", None, None]


def test_every_event_has_its_date_the_trade_id_parties_and_its_history_index() -> None:
    for index, event in enumerate(events()):
        assert event["@type"] == "cdm.event.common.BusinessEvent"
        assert event["eventDate"][:4] == "2024"
        trade = event["after"][0]["trade"]
        assert trade["tradeIdentifier"][0]["assignedIdentifier"][0]["identifier"] == {
            "@data": "AGR-7"}
        assert [p["@key:external"] for p in trade["party"]] == ["bank-a", "bank-b"]
        ext = event[cdm.EXTENSION]
        assert (ext["agreement"], ext["historyIndex"], ext["txId"]) == ("AGR-7", index,
                                                                        f"tx{index}")
    proposed = events()[0]
    execution = proposed["instruction"][0]["primitiveInstruction"]["execution"]
    assert "before" not in proposed["instruction"][0]
    assert execution["tradeIdentifier"] == proposed["after"][0]["trade"]["tradeIdentifier"]
    assert execution["executionDetails"] == {"executionType": "OffFacility"}


def test_event_dates_are_business_dates() -> None:
    assert cdm.events.business_date("2024-02-08T16:00:00Z").isoformat() == "2024-02-09"
    assert cdm.events.business_date("2024-02-08T10:00:00+09:00").isoformat() == "2024-02-08"
    assert cdm.events.business_date("soon") is None


def test_numbers_stay_exact() -> None:
    text = cdm.dumps(cdm.agreement_events(life(), TOKENS)[1])
    assert '"haircutPercentage": 0.05' in text and '"threshold": "0.01"' in text
    assert isinstance(cdm.loads(text)["after"][0]["trade"]["product"]["economicTerms"][
        "collateral"]["collateralProvisions"]["eligibleCollateral"][0]["treatment"][
        "valuationTreatment"]["haircutPercentage"], Decimal)


@pytest.mark.parametrize(("action", "state"), [
    ("REJECTED", {"positionState": "Cancelled"}), ("WITHDRAWN", {"positionState": "Cancelled"})])
def test_a_proposal_declined_is_cancelled(action: str, state: Json) -> None:
    agreement = Agreement("AGR-8", action, TERMS, "bank-a", (
        HistoryEntry("PROPOSED", "PROPOSED", "bank-a", "t1", "2024-01-02T01:00:00Z"),
        HistoryEntry(action, action, "bank-b", "t2", "2024-01-03T01:00:00Z", "no")))
    proposed, declined = cdm.agreement_events(agreement, TOKENS)
    assert primitives(declined) == [] and declined["after"][0]["state"] == state
    assert declined["instruction"][0]["before"] == proposed["after"][0]
    assert declined[cdm.EXTENSION]["note"] == "no"


def test_without_the_raw_history_the_exchanges_follow_the_terms() -> None:
    open_terms = replace(TERMS, end_date=None)
    agreement = Agreement("AGR-9", "CLOSED", open_terms, "bank-a", (
        HistoryEntry("PROPOSED", "PROPOSED", "bank-a", "t1", "2024-01-02T01:00:00Z"),
        HistoryEntry("APPROVED", "ACTIVE", "bank-b", "t2", "2024-01-04T01:00:00Z"),
        HistoryEntry("NOTICE_GIVEN", "ACTIVE", "bank-a", "t3", "2024-01-05T01:00:00Z",
                     "ends on 2024-01-19"),
        HistoryEntry("CLOSED", "CLOSED", "bank-b", "t4", "2024-01-19T01:00:00Z", "maturity")))
    _, approved, notice, closed = cdm.agreement_events(agreement, TOKENS)
    assert positions(approved) == [1_100_000, 0]
    assert [t["transfer"]["quantity"]["value"] for t in transfers(approved)] == [1000, 1_100_000]
    assert notice["after"][0]["trade"]["product"]["economicTerms"]["terminationDate"] == {
        "adjustableDate": {"unadjustedDate": "2024-01-19"}}
    # the closing exchange gives everything back
    assert [(t["transfer"]["quantity"]["value"], t["transfer"].get("transferType"))
            for t in transfers(closed)] == [(1000, "Return"), (1_100_000, None)]
    assert positions(closed) == [0, 0] and loan_after(closed) == 0
    assert closed["after"][0]["state"]["closedState"] == {"state": "Matured",
                                                          "activityDate": "2024-01-19"}


def test_the_workflow_chains_one_step_per_event() -> None:
    workflow = cdm.loads(cdm.dumps(cdm.agreement_workflow(life(), TOKENS, [margin_call()])))
    assert workflow["@type"] == "cdm.event.workflow.Workflow"
    steps = workflow["steps"]
    assert len(steps) == 12
    assert [s["@key"] for s in steps[:2]] == ["AGR-7-1", "AGR-7-2"]
    assert "previousWorkflowStep" not in steps[0]
    assert steps[1]["previousWorkflowStep"] == {"@ref": "AGR-7-1"}
    assert steps[1]["timestamp"] == [{"dateTime": "2024-01-04T01:00:00Z",
                                      "qualification": "eventCreationDateTime"}]
    # a call recorded without its timestamp: the start of its business day
    assert steps[4]["timestamp"][0]["dateTime"] == "2024-01-20T00:00:00+09:00"
    assert steps[0]["eventIdentifier"] == [{"issuer": {"@data": "tanpo"},
                                            "assignedIdentifier": [{"identifier": {
                                                "@data": "AGR-7-1"}}]}]
    assert steps[1]["businessEvent"]["intent"] == "ContractFormation"
    assert "@type" not in steps[1]["businessEvent"]


def test_an_undefined_token_is_refused() -> None:
    with pytest.raises(ValueError, match="USD is not defined"):
        cdm.agreement_events(life(), {k: v for k, v in TOKENS.items() if k != "USD"})


# ---- the CLI -------------------------------------------------------------------------------


def test_export_events_writes_the_workflow(monkeypatch: pytest.MonkeyPatch) -> None:
    world = FakeNetwork().install(monkeypatch)
    a = life()
    world.agreements["AGR-7"] = a
    for token in TOKENS.values():
        world.tokens[token.id] = token
    result = CliRunner().invoke(main, ["agreement", "export", "AGR-7", "--cdm", "--events"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    doc = cdm.loads(result.stdout)
    assert doc["@type"] == "cdm.event.workflow.Workflow" and len(doc["steps"]) == 11
    assert cdm.violations(doc) == []
    refused = CliRunner().invoke(main, ["agreement", "export", "AGR-7", "--events"])
    assert refused.exit_code == 2 and "--events needs --cdm" in refused.output
    json.loads(result.stdout)  # plain JSON for any reader


def test_export_events_of_a_proposal_asks_for_no_margin_calls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = FakeNetwork().install(monkeypatch)
    world.agreements["AGR-8"] = Agreement("AGR-8", "PROPOSED", replace(TERMS, id="AGR-8"),
                                          "bank-a", (HistoryEntry(
                                              "PROPOSED", "PROPOSED", "bank-a", "t1",
                                              "2024-01-02T01:00:00Z"),))
    for token in TOKENS.values():
        world.tokens[token.id] = token
    result = CliRunner().invoke(main, ["agreement", "export", "AGR-8", "--cdm", "--events"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert not [c for c in world.calls() if c[0] == "margin_calls"]


@pytest.mark.parametrize(("note", "state"), [
    ("maturity", "Matured"), ("end-date", "Matured"), ("early-termination", "Terminated"),
    ("returned", "Terminated"), ("buy-in: 500 JP8306 bought in on 2024-02-01", "Terminated"),
    ("early-termination: agreed", "Terminated"),
])
def test_the_close_reason_decides_matured_or_terminated(note: str, state: str) -> None:
    agreement = Agreement("AGR-9", "CLOSED", TERMS, "bank-a", (
        HistoryEntry("CLOSED", "CLOSED", "bank-b", "t3", "2024-01-31T16:00:00Z", note),))
    # the activity date is the business date of the close (Tokyo: already 1 February)
    assert cdm.agreement_to_cdm(agreement, TOKENS)["state"]["closedState"] == {
        "state": state, "activityDate": "2024-02-01"}
