"""``agreement schedule define``, the schedule options of ``agreement propose``/``show``,
``margin dispute``/``resolve``/``adjust`` and what ``margin show`` adds, over the fake ledger."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tests.fakes import FakeNetwork, margin_record

Json = dict[str, Any]
PAIR = "pair-bank-a-bank-b"
DAY = date(2024, 1, 4)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    return FakeNetwork().install(monkeypatch)


@pytest.fixture
def called(world: FakeNetwork) -> FakeNetwork:
    """AGR-1 (bank-a lends to bank-b) with its call of DAY: 131 US-STOCK returned to bank-b
    (lender->borrower, worth 33012/5), at price version 2 of 2."""
    world.set_active("AGR-1")
    world.versions[DAY] = [{"date": DAY.isoformat(), "version": 1, "prices": {}, "fx": {},
                            "priceNotes": {}, "fxNotes": {}}] * 2
    world.records[("AGR-1", DAY)] = margin_record("AGR-1", DAY)
    return world


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def calls(world: FakeNetwork, name: str) -> list[tuple[Any, ...]]:
    return [c[1:] for c in world.calls() if c[0] == name]


# ---- schedules ------------------------------------------------------------------------------


def test_define_a_schedule_from_flags(world: FakeNetwork) -> None:
    result = run("--as", "bank-b", "agreement", "schedule", "define", "--with", "bank-a",
                 "--id", "GOV-A", "--asset-class", "bond", "--asset-class", "cash",
                 "--min-rating", "A-", "--haircut", "class:bond=0.02", "--cap", "issuer=0.5",
                 "--cap", "token:JGB10=0.25")
    assert result.exit_code == 0, result.output
    assert "defined schedule GOV-A for bank-b and bank-a" in result.output
    assert "cap: each issuer at most 50% of the collateral's market value" in result.output
    assert world.schedules[(PAIR, "GOV-A")] == {
        "id": "GOV-A", "assetClasses": ["bond", "cash"], "minRating": "A-",
        "haircuts": {"class:bond": "0.02"},
        "caps": [{"by": "issuer", "max": "0.5"}, {"by": "token", "key": "JGB10",
                                                  "max": "0.25"}]}


def test_define_a_schedule_from_a_file_and_dry_run(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"id": "EQ", "assetClasses": ["equity"],
                                "caps": [{"by": "assetClass", "key": "equity", "max": "0.8"}]}))
    dry = run("agreement", "schedule", "define", "--with", "bank-b", "--id", "EQ", str(path),
              "--dry-run")
    assert dry.exit_code == 0 and json.loads(dry.output)["caps"][0]["key"] == "equity"
    assert world.calls() == []
    done = run("agreement", "schedule", "define", "--with", "bank-b", "--id", "EQ", str(path),
               "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["txId"] == "tx-schedule-EQ"
    # immutable: defining it again is the chaincode's refusal
    again = run("agreement", "schedule", "define", "--with", "bank-b", "--id", "EQ", str(path))
    assert again.exit_code == 3 and "schedules do not change" in again.output


@pytest.mark.parametrize("args", [
    ["--cap", "country=0.5"], ["--cap", "issuer=1.5"], ["--cap", "issuer"],
    ["--min-rating", "AAAA"], ["--haircut", "bond=0.1"], ["--haircut", "class:bond=1"],
    ["--currency", "yen"], ["--id", "bad id"], ["--with", "bank_b"],
])
def test_a_malformed_schedule_is_usage_and_nothing_is_sent(world: FakeNetwork,
                                                           args: list[str]) -> None:
    base = {"--with": "bank-b", "--id": "S1"}
    for k in ("--with", "--id"):
        if k in args:
            base.pop(k)
    flat = [x for kv in base.items() for x in kv]
    result = run("agreement", "schedule", "define", *flat, *args)
    assert result.exit_code == 2, result.output
    assert world.calls() == []


def test_a_schedule_file_with_another_id_or_key_is_usage(world: FakeNetwork,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"id": "OTHER"}))
    assert run("agreement", "schedule", "define", "--with", "bank-b", "--id", "S1",
               str(path)).exit_code == 2
    path.write_text(json.dumps({"eligible": ["bond"]}))
    assert run("agreement", "schedule", "define", "--with", "bank-b", "--id", "S1",
               str(path)).exit_code == 2
    assert run("agreement", "schedule", "define", "--with", "bank-b", "--id", "S1",
               str(path), "--cap", "issuer=0.5").exit_code == 2
    assert world.calls() == []


PROPOSE = ["agreement", "propose", "--lender", "bank-a", "--borrower", "bank-b",
           "--loan", "JPY=1000000", "--collateral", "JP8306=1000", "--base", "JPY",
           "--haircut", "0.05", "--trade-date", "2024-01-02", "--end-date", "2024-12-30"]


def test_propose_names_a_defined_schedule_and_show_prints_it(world: FakeNetwork) -> None:
    refused = run(*PROPOSE, "--schedule-id", "GOV-A")
    assert refused.exit_code == 3 and "no schedule GOV-A defined" in refused.output
    world.schedules[(PAIR, "GOV-A")] = {"id": "GOV-A"}
    done = run(*PROPOSE, "--schedule-id", "GOV-A", "--id", "AGR-9")
    assert done.exit_code == 0, done.output
    assert world.agreements["AGR-9"].terms.schedule_id == "GOV-A"
    assert run(*PROPOSE, "--id", "AGR-7").exit_code == 0
    assert "any collateral leg (no schedule)" in run("agreement", "show", "AGR-7").output
    shown = run("agreement", "show", "AGR-9")
    assert "schedule GOV-A (defined for the pair)" in shown.output
    raw = json.loads(run("agreement", "show", "AGR-9", "--json").output)
    assert raw["terms"]["scheduleId"] == "GOV-A" and "schedule" not in raw["terms"]


def test_propose_with_its_own_schedule(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"minRating": "BBB", "caps": [{"by": "issuer", "max": "0.4"}]}))
    dry = run(*PROPOSE, "--schedule", str(path), "--dry-run")
    assert json.loads(dry.output)["schedule"] == {"minRating": "BBB",
                                                  "caps": [{"by": "issuer", "max": "0.4"}]}
    assert run(*PROPOSE, "--schedule", str(path), "--id", "AGR-8").exit_code == 0
    shown = run("agreement", "show", "AGR-8").output
    assert "minimum rating: BBB" in shown and "cap: each issuer at most 40%" in shown
    both = run(*PROPOSE, "--schedule", str(path), "--schedule-id", "X")
    assert both.exit_code == 2
    path.write_text(json.dumps({"caps": [{"by": "issuer", "max": 0.4}]}))
    assert run(*PROPOSE, "--schedule", str(path)).exit_code == 2


def test_terms_files_carry_the_schedule(world: FakeNetwork, tmp_path: Path) -> None:
    dry = json.loads(run(*PROPOSE, "--schedule-id", "GOV-A", "--dry-run").output)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(dry))
    again = json.loads(run("agreement", "propose", "--file", str(path), "--dry-run").output)
    assert again["scheduleId"] == "GOV-A"
    path.write_text(json.dumps({**dry, "schedule": {"minRating": "A"}}))
    assert run("agreement", "propose", "--file", str(path), "--dry-run").exit_code == 2


# ---- disputes -------------------------------------------------------------------------------


def test_the_delivering_party_disputes_and_the_other_accepts(called: FakeNetwork) -> None:
    # bank-a returns 131 US-STOCK worth 6602.4 under the call: it delivers, it may dispute
    result = run("--as", "bank-a", "margin", "dispute", "AGR-1", "2024-01-04", "--agreed",
                 "5000", "--note", "stale close")
    assert result.exit_code == 0, result.output
    assert "disputed the margin call of AGR-1 on 2024-01-04: OPEN" in result.output
    # 6602.4 − 5000 = 1602.4 disputed, at 50.4 a share: 31 whole shares held back
    assert "disputed 1,602.4, held back 31 US-STOCK; OPEN; note: stale close" in result.output
    assert calls(called, "dispute_call") == [("AGR-1", DAY, "5000", "stale close")]
    refused = run("--as", "bank-a", "margin", "resolve", "AGR-1", "2024-01-04", "--accept",
                  "dispute")
    assert refused.exit_code == 3 and "only the counterparty" in refused.output
    done = run("--as", "bank-b", "margin", "resolve", "AGR-1", "2024-01-04", "--accept",
               "dispute", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["dispute"]["resolution"] == "dispute"
    shown = run("--as", "bank-b", "margin", "show", "AGR-1").output
    assert "disputed by bank-a: agreed 5,000" in shown and "RESOLVED (dispute figure)" in shown


def test_the_receiving_party_cannot_dispute(called: FakeNetwork) -> None:
    result = run("--as", "bank-b", "margin", "dispute", "AGR-1", "2024-01-04", "--agreed", "1")
    assert result.exit_code == 3 and "only bank-a" in result.output


@pytest.mark.parametrize("agreed", ["-5", "1e3", "abc", "5000%"])
def test_a_malformed_agreed_value_is_usage(called: FakeNetwork, agreed: str) -> None:
    result = run("margin", "dispute", "AGR-1", "2024-01-04", "--agreed", agreed)
    assert result.exit_code == 2
    assert calls(called, "dispute_call") == []


def test_a_bad_date_or_figure_is_usage(called: FakeNetwork) -> None:
    assert run("margin", "dispute", "AGR-1", "04/01/2024", "--agreed", "1").exit_code == 2
    assert run("margin", "resolve", "AGR-1", "2024-01-04", "--accept", "both").exit_code == 2
    assert called.calls() == []


def test_margin_show_prints_skipped_breaches_and_adjustments(called: FakeNetwork) -> None:
    rec = called.records[("AGR-1", DAY)]
    rec["skipped"] = [{"token": "JP8604", "reason": "ineligible"}]
    rec["breaches"] = [{"by": "issuer", "key": "MUFG", "share": "3/5", "max": "1/2"}]
    rec["adjustments"] = [{"priceVersion": 3, "gapBefore": "38/5", "gapAfter": "-12",
                           "transfers": [], "txId": "t"}]
    out = run("margin", "show", "AGR-1").output
    assert "skipped JP8604 (ineligible)" in out
    assert "concentration caps breached" in out and "MUFG" in out and "60%" in out
    assert "adjusted at price version 3: gap 7.6 → -12; nothing moved" in out
    doc = json.loads(run("margin", "show", "AGR-1", "--json").output)
    (c,) = doc["calls"]
    assert c["skipped"] == rec["skipped"] and c["breaches"] == rec["breaches"]
    assert c["adjustments"][0]["gapAfter"] == "-12"


# ---- adjust -----------------------------------------------------------------------------------


def test_the_oracle_adjusts_after_a_correction(called: FakeNetwork) -> None:
    same = run("margin", "adjust", "2024-01-04", "--json")
    assert same.exit_code == 0, same.output
    assert json.loads(same.output)["outcomes"] == [
        {"agreement": "AGR-1", "status": "unaffected", "reason": "no_correction"}]
    assert called.calls("operator")[0][0] == "adjust"  # the oracle acts without --as
    called.versions[DAY] = [*called.versions[DAY], called.versions[DAY][0]]  # version 3
    called.records[("AGR-1", DAY)]["dispute"] = {"by": "bank-a", "agreedValue": "1",
                                                 "disputedValue": "2", "heldBack": [],
                                                 "status": "OPEN", "txId": "t"}
    done = run("margin", "adjust", "2024-01-04")
    assert done.exit_code == 0, done.output
    assert "1 adjusted, 0 unaffected, 0 failed" in done.output
    rec = called.records[("AGR-1", DAY)]
    assert rec["dispute"]["resolution"] == "correction"
    assert rec["adjustments"][0]["priceVersion"] == 3


def test_a_bank_adjusts_its_pair_and_failures_are_reported(called: FakeNetwork) -> None:
    called.set_active("AGR-1", "AGR-2")
    called.records[("AGR-2", DAY)] = margin_record("AGR-2", DAY)
    called.versions[DAY] = [*called.versions[DAY], called.versions[DAY][0]]
    called.fail_ids = {"AGR-2"}
    result = run("--as", "bank-a", "margin", "adjust", "2024-01-04", "--with", "bank-b")
    assert result.exit_code == 6, result.output  # one adjusted, one failed: partly done
    assert "1 adjusted, 0 unaffected, 1 failed" in result.output
    assert calls(called, "adjust") == [(DAY, "bank-b", 1000)]
    called.records[("AGR-1", DAY)].pop("adjustments")
    called.records[("AGR-1", DAY)]["priceVersion"] = 3
    only_failed = run("--as", "bank-a", "margin", "adjust", "2024-01-04", "--json")
    assert only_failed.exit_code == 3
    assert json.loads(only_failed.stdout)["error"]["kind"] == "refused"


def test_the_oracle_names_no_pair(called: FakeNetwork) -> None:
    assert run("margin", "adjust", "2024-01-04", "--with", "bank-b").exit_code == 2
    assert run("margin", "adjust", "2024-01-04", "--with", "bank_b").exit_code == 2


def test_the_events_summarise_schedules_disputes_and_adjustments() -> None:
    from tanpo.client.cli import event_summary

    def summary(name: str, payload: Json) -> str:
        return event_summary(name, {"type": name, **payload})

    assert summary("ScheduleDefined", {"schedule": "GOV-A", "pair": PAIR}) == (
        f"schedule GOV-A in {PAIR}")
    assert summary("CallDisputed", {"agreement": "AGR-1", "date": "2024-01-04",
                                    "status": "OPEN"}) == "AGR-1 on 2024-01-04: OPEN"
    assert summary("CallsAdjusted", {"date": "2024-01-04", "version": 3,
                                     "adjusted": ["A", "B"]}) == (
        "2024-01-04 at price version 3: 2 call(s) adjusted (A, B)")
    assert "cap(s) breached: B" in summary("MarginBatch", {"date": "2024-01-04",
                                                           "calls": ["A", "B"],
                                                           "breaches": ["B"]})
