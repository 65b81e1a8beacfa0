"""``tanpo agreement`` life-cycle commands over the fake ledger: recall, return, notice,
substitute, approve-substitution, cancel-substitution, buy-in; `show` with the records they
leave; `propose` with the life-cycle terms; the sweep and events with the cycle's new outcomes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tanpo.client.events import ChaincodeEvent
from tanpo.client.models import Agreement, SweepOutcome
from tanpo.client.sweep import SweepRun
from tests.fakes import ACTIVE_TERMS, FakeNetwork, margin_record

Json = dict[str, Any]
AGR = "AGR-1"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork().install(monkeypatch)
    net.set_active(AGR)
    return net


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def step(world: FakeNetwork, party: str, name: str) -> tuple[Any, ...]:
    """The arguments of the last call of step ``name`` made as ``party``."""
    return [c for c in world.calls(party) if c[0] == name][-1][1:]


def as_borrower(*args: str) -> Result:
    return run("--as", "bank-b", "agreement", *args)


def as_lender(*args: str) -> Result:
    return run("--as", "bank-a", "agreement", *args)


def test_the_new_commands_are_listed_with_the_exit_codes() -> None:
    listing = run("agreement", "--help").output
    for name in ("recall", "return", "notice", "substitute", "approve-substitution",
                 "cancel-substitution", "buy-in"):
        assert f"  {name} " in listing, name
        assert "3  refused by the chaincode" in run("agreement", name, "--help").output


def test_recall_defaults_and_prints_the_due_date(world: FakeNetwork) -> None:
    result = as_lender("recall", AGR, "1000", "--note", "dividend")
    assert result.exit_code == 0, result.output
    assert "recalled AGR-1: now ACTIVE" in result.output
    # the fake's business date 2024-01-04 is a Thursday: due Monday 2024-01-08
    assert "R1: 1,000 JPY due 2024-01-08" in result.output
    assert "tanpo --as bank-b agreement return AGR-1 1000" in result.output
    assert step(world, "bank-a", "recall") == (AGR, 1000, None, None, "dividend")


def test_recall_with_dates_and_json(world: FakeNetwork) -> None:
    result = as_lender("recall", AGR, "10", "--date", "2024-01-03", "--due", "2024-01-05",
                       "--json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["recalls"][0] == {"id": "R1", "date": "2024-01-03", "due": "2024-01-05",
                                 "quantity": "10", "returned": "0", "status": "OPEN",
                                 "txId": "tx-R1"}
    assert step(world, "bank-a", "recall") == (AGR, 10, date(2024, 1, 3),
                                         date(2024, 1, 5), "")


@pytest.mark.parametrize("args", [
    ["recall", AGR, "0"], ["recall", AGR, "1.5"], ["recall", AGR, "10", "--date", "2024-13-01"],
    ["recall", AGR, "10", "--due", "tomorrow"], ["return", AGR, "-1"],
    ["substitute", AGR, "--out", "JP8306", "--in", "JPY=1"],
    ["substitute", AGR, "--out", "JP8306=1", "--out", "JP8306=2", "--in", "JPY=1"],
    ["substitute", AGR, "--out", "JP8306=1"],
    ["buy-in", "not an id"],
])
def test_malformed_input_never_reaches_the_ledger(world: FakeNetwork, args: list[str]) -> None:
    result = as_lender(*args)
    assert result.exit_code == 2, result.output
    assert world.calls() == []


def test_a_refusal_exits_3_with_the_chaincodes_words(world: FakeNetwork) -> None:
    result = as_borrower("recall", AGR, "10")
    assert result.exit_code == 3
    assert "only the lender bank-a can recall" in result.output
    refused = as_lender("recall", AGR, "2000000", "--json")
    assert refused.exit_code == 3
    assert json.loads(refused.stdout)["error"]["kind"] == "refused"


def test_part_return_then_full_return(world: FakeNetwork) -> None:
    as_lender("recall", AGR, "400000")
    part = as_borrower("return", AGR, "400000")
    assert part.exit_code == 0, part.output
    assert "returned 400,000 under AGR-1: now ACTIVE" in part.output
    assert "400,000" in part.output and "bank-b → bank-a" in part.output
    assert step(world, "bank-b", "return_loan") == (AGR, 400000, None)
    a = world.agreements[AGR]
    assert a.terms.loan_quantity == 600_000 and a.recalls[0].status == "SETTLED"
    full = as_borrower("return", AGR, "600000", "--date", "2024-01-03", "--json")
    assert full.exit_code == 0 and json.loads(full.output)["status"] == "CLOSED"
    assert step(world, "bank-b", "return_loan") == (AGR, 600000, date(2024, 1, 3))


def test_notice_on_an_open_agreement(world: FakeNetwork) -> None:
    term = as_borrower("notice", AGR)
    assert term.exit_code == 3 and "notice applies to open loans" in term.output
    a = world.agreements[AGR]
    world.agreements[AGR] = Agreement.from_json(
        {**a.raw, "terms": replace(a.terms, end_date=None, notice_days=10).to_json()})
    result = as_borrower("notice", AGR, "--note", "book closing")
    assert result.exit_code == 0, result.output
    assert "gave notice on AGR-1: now ACTIVE" in result.output
    assert "ends on 2024-01-14" in result.output
    shown = as_lender("show", AGR).output
    assert "notice given" in shown and "by bank-b on 2024-01-04, ends on 2024-01-14" in shown
    assert "(book closing)" in shown and "10 day(s)" in shown


def test_substitution_waits_for_the_lender_then_settles(world: FakeNetwork) -> None:
    result = as_borrower("substitute", AGR, "--out", "JP8306=10", "--in", "JP8604=30",
                         "--in", "JPY=1000")
    assert result.exit_code == 0, result.output
    assert "tanpo --as bank-a agreement approve-substitution AGR-1" in result.output
    assert step(world, "bank-b", "substitute") == (AGR, {"JP8306": 10},
                                         {"JP8604": 30, "JPY": 1000}, None)
    shown = as_lender("show", AGR).output
    assert "substitution pending" in shown
    assert "out 10 JP8306; in 30 JP8604, 1,000 JPY on 2024-01-04: waiting for bank-a" in shown
    again = as_borrower("substitute", AGR, "--out", "JP8306=1", "--in", "JPY=1")
    assert again.exit_code == 3 and "approved or cancelled first" in again.output
    approved = as_lender("approve-substitution", AGR)
    assert approved.exit_code == 0
    assert "substituted collateral under AGR-1" in approved.output
    assert "30" in approved.output and "JP8604" in approved.output
    assert world.agreements[AGR].substitution is None
    assert as_lender("approve-substitution", AGR).exit_code == 3


def test_a_pre_authorised_substitution_settles_at_once(world: FakeNetwork) -> None:
    a = world.agreements[AGR]
    world.agreements[AGR] = Agreement.from_json(
        {**a.raw, "terms": replace(a.terms, substitution_pre_authorised=True).to_json()})
    result = as_borrower("substitute", AGR, "--out", "JP8306=10", "--in", "JPY=1000",
                         "--date", "2024-01-03")
    assert result.exit_code == 0 and "substituted (pre-authorised)" in result.output
    assert world.agreements[AGR].substitution is None


def test_cancel_substitution_with_a_reason(world: FakeNetwork) -> None:
    as_borrower("substitute", AGR, "--out", "JP8306=10", "--in", "JPY=1000")
    result = as_lender("cancel-substitution", AGR, "--reason", "not eligible", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert "substitution" not in doc
    assert doc["history"][-1]["action"] == "SUBSTITUTION_CANCELLED"
    assert step(world, "bank-a", "cancel_substitution") == (AGR, "not eligible")


def _fail_recall(world: FakeNetwork) -> None:
    a = world.agreements[AGR]
    recall = {"id": "R1", "date": "2024-01-02", "due": "2024-01-03", "quantity": "300000",
              "returned": "100000", "status": "FAILED", "failedOn": "2024-01-03",
              "txId": "tx-R1"}
    world.agreements[AGR] = Agreement.from_json({**a.raw, "recalls": [recall]})


def test_buy_in_of_a_failed_recall(world: FakeNetwork) -> None:
    nothing = as_lender("buy-in", AGR)
    assert nothing.exit_code == 3 and "nothing to buy in" in nothing.output
    _fail_recall(world)
    result = as_lender("buy-in", AGR)
    assert result.exit_code == 0, result.output
    assert "bought in under AGR-1: now ACTIVE" in result.output
    assert "200,000 JPY bought in on 2024-01-04: owed 1,000.5 JPY, uncovered 0" in (
        result.output)
    a = world.agreements[AGR]
    assert a.terms.loan_quantity == 800_000 and a.recalls[0].status == "BOUGHT_IN"
    assert as_borrower("buy-in", AGR).exit_code == 3  # the lender's step


def test_show_lists_recalls_with_the_age_of_failed_ones_buy_ins_and_fails(
        world: FakeNetwork) -> None:
    _fail_recall(world)
    a = world.agreements[AGR]
    fails = [{"date": "2024-01-04", "step": "close", "party": "bank-b", "token": "JPY",
              "quantity": "1000000", "missing": "250000"}]
    world.agreements[AGR] = Agreement.from_json({**a.raw, "status": "MATURED", "fails": fails})
    shown = as_lender("show", AGR)
    assert shown.exit_code == 0
    out = shown.output
    for text in ("MATURED", "recalls of JPY", "R1", "2024-01-03", "300,000", "100,000",
                 "FAILED", "1 day(s)", "settlement fails", "close", "250,000",
                 "with the lender's approval", "allowed"):
        assert text in out, text
    # the age counts from the ledger's business date
    assert ("platform_settings",) in world.calls("bank-a")
    bought = as_lender("buy-in", AGR)  # MATURED: the whole loan
    assert bought.exit_code == 0 and "now CLOSED" in bought.output
    shown = as_lender("show", AGR).output
    assert "buy-ins" in shown and "10 JP8306" in shown and "BOUGHT_IN" in shown
    doc = json.loads(as_lender("show", AGR, "--json").output)
    assert doc["buyIns"][0]["quantity"] == "1000000" and doc["fails"] == fails


def test_list_filters_on_matured(world: FakeNetwork) -> None:
    a = world.agreements[AGR]
    world.agreements[AGR] = Agreement.from_json({**a.raw, "status": "MATURED"})
    result = run("agreement", "list", "--status", "MATURED")
    assert result.exit_code == 0 and AGR in result.output


def test_history_of_a_matured_agreement_includes_its_margin_calls(world: FakeNetwork) -> None:
    a = world.agreements[AGR]
    world.agreements[AGR] = Agreement.from_json({**a.raw, "status": "MATURED"})
    world.records[(AGR, date(2024, 1, 4))] = margin_record(AGR, date(2024, 1, 4))
    entries = json.loads(run("agreement", "history", AGR, "--json").output)
    assert [e["action"] for e in entries] == ["MARGIN_CALL"]


# ---- propose with the life-cycle terms -------------------------------------------------------


PROPOSE = ["agreement", "propose", "--lender", "bank-a", "--borrower", "bank-b", "--loan",
           "JP8306=1000", "--collateral", "JPY=600000", "--base", "JPY", "--trade-date",
           "2024-01-02", "--id", "AGR-2"]


def test_propose_with_life_cycle_flags(world: FakeNetwork) -> None:
    dry = run(*PROPOSE, "--open", "--notice-days", "5", "--substitution-pre-authorised",
              "--dry-run")
    assert dry.exit_code == 0, dry.output
    doc = json.loads(dry.output)
    assert (doc["noticeDays"], doc["substitutionPreAuthorised"]) == (5, True)
    assert "noEarlyReturn" not in doc
    result = run(*PROPOSE, "--end-date", "2024-03-29", "--no-early-return")
    assert result.exit_code == 0, result.output
    terms = world.agreements["AGR-2"].terms
    assert terms.no_early_return and not terms.substitution_pre_authorised
    assert terms.notice_days == 0
    shown = as_lender("show", "AGR-2").output
    assert "not before the end date" in shown


def test_propose_without_the_flags_sends_no_new_keys(world: FakeNetwork) -> None:
    doc = json.loads(run(*PROPOSE, "--open", "--dry-run").output)
    assert not {"noticeDays", "substitutionPreAuthorised", "noEarlyReturn"} & set(doc)


def test_propose_refuses_notice_days_out_of_range(world: FakeNetwork) -> None:
    result = run(*PROPOSE, "--open", "--notice-days", "367")
    assert result.exit_code == 2 and world.calls() == []


def test_a_terms_file_takes_the_new_keys(world: FakeNetwork, tmp_path: Path) -> None:
    terms = replace(ACTIVE_TERMS, id="AGR-3", end_date=None, notice_days=3,
                    substitution_pre_authorised=True, no_early_return=True)
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(terms.to_json()))
    result = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == terms.to_json()
    for key, bad in (("noticeDays", "3"), ("noticeDays", 400), ("noEarlyReturn", "yes"),
                     ("substitutionPreAuthorised", 1)):
        path.write_text(json.dumps({**terms.to_json(), key: bad}))
        refused = run("agreement", "propose", "--file", str(path), "--dry-run")
        assert refused.exit_code == 2 and key in refused.output, (key, refused.output)


def test_a_cdm_export_warns_that_life_cycle_terms_are_not_carried(world: FakeNetwork) -> None:
    a = world.agreements[AGR]
    world.agreements[AGR] = Agreement.from_json(
        {**a.raw, "terms": replace(a.terms, id=AGR, no_early_return=True).to_json()})
    result = CliRunner().invoke(main, ["agreement", "export", AGR, "--cdm"],
                                catch_exceptions=False)
    assert result.exit_code == 0
    assert "does not carry the life-cycle terms" in result.output


# ---- the daily cycle's new outcomes and events ----------------------------------------------


def test_events_watch_summarises_life_cycle_events_and_the_cycles_lists(
        world: FakeNetwork) -> None:
    world.events = [
        ChaincodeEvent(5, "t1", "tanpo", "RecallRequested", json.dumps(
            {"type": "RecallRequested", "txId": "t1", "agreement": AGR, "status": "ACTIVE",
             "party": "bank-a", "recall": "R1"}).encode()),
        ChaincodeEvent(6, "t2", "tanpo", "MarginBatch", json.dumps(
            {"type": "MarginBatch", "txId": "t2", "date": "2024-01-04", "calls": ["A"],
             "replayed": [], "skipped": [], "failed": [], "closed": ["B"], "matured": ["C"],
             "recallsFailed": ["A"], "settlementFails": []}).encode()),
    ]
    out = run("events", "watch", "--from-block", "0", "--count", "2").output
    assert "AGR-1 ACTIVE by bank-a (R1)" in out
    assert "closed at maturity: B" in out and "matured, not closed: C" in out
    assert "recall(s) failed: A" in out and "settlement fail" not in out


def test_events_watch_warns_of_an_unknown_type(world: FakeNetwork) -> None:
    result = run("events", "watch", "--type", "LoanReturned", "--type", "Nonsense",
                 "--count", "1")
    assert "no chaincode event is named 'Nonsense'" in result.output
    assert "'LoanReturned'" not in result.output


def test_a_sweep_counts_agreements_closed_at_maturity(world: FakeNetwork,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import FakeLedger

    day = date(2024, 1, 4)

    def sweep(self: FakeLedger, d: date, batch_size: int, *, on_batch: Any = None) -> SweepRun:
        outcomes = (SweepOutcome("A", "called", triggered=True),
                    SweepOutcome("B", "closed", "maturity"))
        if on_batch is not None:
            on_batch(outcomes)
        return SweepRun(d, outcomes, transactions=1, swept=True, last_swept_date=d)

    monkeypatch.setattr(FakeLedger, "sweep", sweep)
    result = run("margin", "run", "--date", day.isoformat())
    assert result.exit_code == 0, result.output
    assert "1 called, 0 replayed, 1 closed at maturity, 0 skipped, 0 failed" in result.output
    doc = json.loads(run("margin", "run", "--date", day.isoformat(), "--json").output)
    assert {"agreement": "B", "status": "closed", "reason": "maturity"} in doc["outcomes"]


def test_margin_show_lists_settlement_fails(world: FakeNetwork) -> None:
    day = date(2024, 1, 4)
    world.records[(AGR, day)] = margin_record(AGR, day, fails=[
        {"token": "JP8306", "quantity": "131", "direction": "lender->borrower",
         "from": "bank-a", "to": "bank-b", "dueDate": "2024-01-03", "missing": "31"}])
    shown = run("margin", "show", AGR)
    assert shown.exit_code == 0
    assert "settlement fails" in shown.output and "2024-01-03" in shown.output
    doc = json.loads(run("margin", "show", AGR, "--json").output)
    assert doc["calls"][0]["fails"] == [{"token": "JP8306", "quantity": 131,
                                         "direction": "lender->borrower", "from": "bank-a",
                                         "to": "bank-b", "dueDate": "2024-01-03",
                                         "missing": 31}]
