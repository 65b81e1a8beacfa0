"""`tanpo margin …` and `tanpo prices …` with click's CliRunner and a fake ledger session."""

from __future__ import annotations

import json
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import grpc
import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tanpo.client.cli_margin import show_value
from tanpo.client.errors import (
    CommitInterrupted,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    SubmitError,
)
from tanpo.client.models import Token
from tanpo.client.profile import ProfileError
from tests.fakes import POSTED_BY, FakeNetwork
from tests.fakes import margin_record as record
from tests.fakes import margin_transfer as transfer

D = date.fromisoformat
DAY = D("2024-01-03")
Json = dict[str, Any]


@pytest.fixture
def ledger(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    fake = FakeNetwork(versions={DAY: [{
        "date": DAY.isoformat(), "version": 1, "kind": "initial", "postedBy": POSTED_BY,
        "postedAt": "2024-01-04T00:00:00Z", "prices": {"DE-BUND": "101", "US-STOCK": "50.4"},
        "fx": {"EURUSD": "1.105"}, "priceNotes": {"US-STOCK": {"asOf": "2024-01-02"}},
        "fxNotes": {}}]})
    fake.set_active("AGR-1", "AGR-2")
    return fake.install(monkeypatch)


def tanpo(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def identities(fake: FakeNetwork) -> list[tuple[str, str]]:
    return fake.opened


# ---- margin run -----------------------------------------------------------------------------


def test_the_root_command_registers_margin_and_prices() -> None:
    out = tanpo("--help")
    assert out.exit_code == 0
    assert "margin" in out.output and "prices" in out.output


def test_a_sweep_acts_as_the_oracle_and_records_the_day(ledger: FakeNetwork) -> None:
    ledger.set_active(*(f"AGR-{i}" for i in range(5)))
    # --page-size is still accepted: it is the batch size now
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--page-size", "2", "--json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert identities(ledger) == [("operator", "User1")]
    assert (doc["pages"], doc["complete"], doc["lastSweptDate"]) == (3, True, DAY.isoformat())
    assert [(o["agreement"], o["status"]) for o in doc["outcomes"]] == [
        (f"AGR-{i}", "called") for i in range(5)]
    # the oracle gets compact outcomes only: the records are private to each pair of banks
    assert all("call" not in o for o in doc["outcomes"])
    assert ledger.batch_sizes == [2]
    assert ledger.disconnected == 1
    default = tanpo("margin", "run", "--date", DAY.isoformat(), "--batch-size", "1000", "--json")
    assert default.exit_code == 0 and ledger.batch_sizes == [2, 1000]

    again = json.loads(tanpo("margin", "run", "--date", DAY.isoformat(), "--json").output)
    assert {o["status"] for o in again["outcomes"]} == {"replayed"}


def test_a_party_sweeps_as_itself(ledger: FakeNetwork) -> None:
    out = tanpo("--as", "bank-b/User2", "margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert identities(ledger) == [("bank-b", "User2")]
    assert "2 called, 0 replayed, 0 skipped, 0 failed in 1 transaction(s)" in out.output


def test_one_agreement_acts_as_bank_a_by_default_and_replays(ledger: FakeNetwork) -> None:
    first = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    second = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    assert first.exit_code == second.exit_code == 0
    assert identities(ledger) == [("bank-a", "User1")] * 2
    (o1,), (o2,) = json.loads(first.output)["outcomes"], json.loads(second.output)["outcomes"]
    assert (o1["status"], o2["status"]) == ("called", "replayed")
    assert o2["call"] == {**o1["call"], "replayed": True}
    assert ledger.calls() == [("margin_call", "AGR-1", DAY)] * 2


def test_json_values_are_exact_and_quantities_integers(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1", "--json")
    call = json.loads(out.output)["outcomes"][0]["call"]
    assert (call["vl"], call["vcBefore"], call["gapBefore"]) == ("1116050", "1122660", "6610")
    assert (call["vcAfter"], call["gapAfter"]) == ("5580288/5", "38/5")
    assert call["transfers"] == [{
        "token": "US-STOCK", "quantity": 131, "direction": "lender->borrower",
        "from": "bank-a", "to": "bank-b", "value": "33012/5", "marketValue": "33012/5",
        "tradeDate": "2024-01-03", "settleDate": "2024-01-03"}]
    assert call["held"] == {"US-STOCK": 22144}
    assert call["prices"] == {"DE-BUND": "101", "US-STOCK": "252/5"}
    assert call["fx"] == {"EUR": "221/200", "USD": "1"}
    assert call["triggered"] is True and call["replayed"] is False


def test_the_table_prints_values_exactly(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1")
    assert out.exit_code == 0, out.output
    for text in ("1,116,050", "1,122,660", "1,116,057.6", "7.6", "131 US-STOCK",
                 "bank-a→bank-b", "6,602.4", "called"):
        assert text in out.output, text


def test_values_without_a_finite_decimal_are_rounded_for_display_only(
    ledger: FakeNetwork,
) -> None:
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY, vcAfter="3349150/3",
                                            gapAfter="1000/3")
    table = tanpo("margin", "show", "AGR-1").output
    assert "≈1,116,383.333333" in table and "≈333.333333" in table
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    assert (doc["calls"][0]["vcAfter"], doc["calls"][0]["gapAfter"]) == ("3349150/3",
                                                                         "1000/3")


def test_a_lagged_transfer_shows_when_it_settles(ledger: FakeNetwork) -> None:
    later = DAY + timedelta(days=1)
    lagged = transfer("US-STOCK", 40, "borrower->lender", "2016", DAY, later)
    earlier = transfer("US-STOCK", 7, "borrower->lender", "352.8", DAY - timedelta(days=1), DAY)
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY, transfers=[lagged], pending=[lagged],
                                            settled=[earlier])
    out = tanpo("margin", "show", "AGR-1", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert "40 US-STOCK bank-b→bank-a (settles 2024-01-04)" in out.output
    assert "pending" in out.output and "settled (earlier call)" in out.output
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    (call,) = doc["calls"]
    assert call["pending"][0]["settleDate"] == "2024-01-04"
    assert call["settled"][0]["tradeDate"] == "2024-01-02"


def test_issuance_required_and_mints_are_shown(ledger: FakeNetwork) -> None:
    ledger.records[("AGR-1", DAY)] = record(
        "AGR-1", DAY,
        issuanceRequired=[{"party": "bank-b", "role": "borrower", "token": "JP8306",
                           "value": "376700"}],
        mints=[{"party": "bank-b", "role": "borrower", "token": "JP8306", "quantity": "6407",
                "supply": "26407"}])
    out = tanpo("margin", "show", "AGR-1")
    assert "bank-b (borrower) 376,700" in out.output
    assert "minted 6,407 JP8306 to bank-b" in out.output
    call = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)["calls"][0]
    assert call["issuanceRequired"] == [{"party": "bank-b", "role": "borrower",
                                         "token": "JP8306", "value": "376700"}]
    assert call["mints"] == [{"party": "bank-b", "role": "borrower", "token": "JP8306",
                              "quantity": 6407, "supply": 26407}]


# ---- exit codes -----------------------------------------------------------------------------


def test_a_refusal_exits_3_with_the_chaincode_message(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "run", "--date", "2024-01-05", "--agreement", "AGR-1")
    assert out.exit_code == 3
    assert "refused: no prices posted for 2024-01-05" in out.output
    out = tanpo("margin", "run", "--date", "2024-01-05", "--agreement", "AGR-1", "--json")
    assert out.exit_code == 3
    doc = json.loads(out.stdout)
    assert doc["error"]["kind"] == "refused"
    assert doc["error"]["message"].startswith("no prices posted for 2024-01-05")
    assert ledger.disconnected == len(ledger.opened) == 2, "a refused command disconnects too"


def test_a_failed_call_is_shown_with_the_others_and_exits_6(ledger: FakeNetwork) -> None:
    """Issue 16 item 4: calls committed beside a failed one are "partly done" (6), not
    "refused, nothing changed" (3)."""
    ledger.set_active("AGR-1", "AGR-2", "AGR-3")
    ledger.fail_ids = {"AGR-2"}
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--json")
    assert out.exit_code == 6
    doc = json.loads(out.stdout)
    assert doc["complete"] is False and doc["lastSweptDate"] == ""
    assert [(o["agreement"], o["status"]) for o in doc["outcomes"]] == [
        ("AGR-1", "called"), ("AGR-2", "failed"), ("AGR-3", "called")]
    assert "no price for JP8306" in doc["outcomes"][1]["reason"]
    assert all("call" not in o for o in doc["outcomes"])  # the oracle reads no record
    assert doc["error"]["kind"] == "partial"
    assert doc["error"]["message"] == (
        f"cannot finish the sweep of {DAY}: 1 active agreements have no margin call for it "
        "yet\n2 margin call(s) committed; the failed ones are retried by sweeping again")
    # again: the two are replayed (nothing changes), the failed one fails: 3
    out = tanpo("margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 3
    assert "AGR-2" in out.output and "missing_price" in out.output
    assert "0 called, 2 replayed, 0 skipped, 1 failed" in out.output


def test_a_sweep_that_fails_mid_way_says_what_committed(ledger: FakeNetwork) -> None:
    """Issue 16 item 4: a multi-batch sweep whose later batch fails after earlier ones
    committed exits 6 naming what committed, not 4 ("nothing changed")."""
    ledger.set_active(*(f"AGR-{i}" for i in range(5)))
    ledger.sweep_fail_after = 1
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--batch-size", "2")
    assert out.exit_code == 6, out.output
    assert "partial: failed to collect enough transaction endorsements" in out.output
    assert "already committed before that: 2 margin call(s) of 2024-01-03 (AGR-0, AGR-1)" \
        in out.output
    ledger.records.clear()
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--batch-size", "2", "--json")
    assert out.exit_code == 6
    doc = json.loads(out.stdout)
    assert doc["error"]["kind"] == "partial"
    assert [o["agreement"] for o in doc["outcomes"]] == ["AGR-0", "AGR-1"]


def test_a_sweep_without_prices_is_refused(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "run", "--date", "2024-01-05")
    assert out.exit_code == 3
    assert "refused: no prices posted for 2024-01-05" in out.output


def test_a_transport_failure_exits_4(ledger: FakeNetwork) -> None:
    ledger.fail = EndorseError("failed to connect to all addresses",
                               grpc.StatusCode.UNAVAILABLE)
    out = tanpo("margin", "run", "--date", DAY.isoformat())
    assert out.exit_code == 4
    assert "failed: failed to connect to all addresses" in out.output


def test_no_network_exits_4(ledger: FakeNetwork) -> None:
    ledger.fail_open = ProfileError("no connection profile at .state/network: is the network up?")
    out = tanpo("prices", "show", "--date", DAY.isoformat(), "--json")
    assert out.exit_code == 4
    assert json.loads(out.stdout)["error"] == {
        "kind": "failed",
        "message": "no connection profile at .state/network: is the network up?"}


@pytest.mark.parametrize("args", [
    ["margin", "run", "--date", "2024-13-01"],
    ["margin", "run"],
    ["margin", "show", "AGR-1", "--date", "yesterday"],
    ["margin", "run", "--date", "2024-01-03", "--page-size", "0"],
    ["prices", "show", "--date", "2024-01-03", "--version", "0"],
    ["--as", "/User2", "margin", "show", "AGR-1"],
])
def test_bad_usage_exits_2(ledger: FakeNetwork, args: list[str]) -> None:
    out = tanpo(*args)
    assert out.exit_code == 2, out.output
    assert not ledger.calls()


# ---- margin show ----------------------------------------------------------------------------


def test_show_lists_the_calls_in_date_order(ledger: FakeNetwork) -> None:
    day2 = DAY + timedelta(days=1)
    ledger.records[("AGR-1", day2)] = record("AGR-1", day2, transfers=[], settled=[])
    ledger.records[("AGR-1", DAY)] = record("AGR-1", DAY)
    doc = json.loads(tanpo("margin", "show", "AGR-1", "--json").output)
    assert doc["agreement"] == "AGR-1"
    assert [c["date"] for c in doc["calls"]] == ["2024-01-03", "2024-01-04"]
    one = json.loads(tanpo("margin", "show", "AGR-1", "--date", "2024-01-04", "--json").output)
    assert [c["date"] for c in one["calls"]] == ["2024-01-04"]
    table = tanpo("margin", "show", "AGR-1").output
    assert "2024-01-03" in table and "2024-01-04" in table and "values in USD" in table
    assert identities(ledger)[0] == ("bank-a", "User1")


def test_show_of_a_date_without_a_call_is_refused(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "show", "AGR-1", "--date", "2024-01-09")
    assert out.exit_code == 3
    assert "no margin call of agreement AGR-1 on 2024-01-09" in out.output


def test_show_without_calls(ledger: FakeNetwork) -> None:
    out = tanpo("margin", "show", "AGR-2")
    assert out.exit_code == 0 and "no margin calls recorded for AGR-2" in out.output
    assert json.loads(tanpo("margin", "show", "AGR-2", "--json").output)["calls"] == []


# ---- prices ---------------------------------------------------------------------------------


def test_post_builds_one_batch_as_the_oracle(ledger: FakeNetwork) -> None:
    out = tanpo("prices", "post", "--date", "2024-01-05", "--price", "DE-BUND=101.00",
                "--price", "US-STOCK=50.40", "--fx", "EURUSD=1.1050", "--source", "desk")
    assert out.exit_code == 0, out.output
    assert identities(ledger) == [("operator", "User1")]
    (name, _, batch), = [c for c in ledger.calls() if c[0].startswith("post")]
    assert name == "post_batch_json"
    # the move check read the earlier dates (read-only) before the one post
    assert {c[0] for c in ledger.calls()} <= {"prices", "token", "post_batch_json"}
    assert batch == {"date": "2024-01-05", "source": "desk",
                     "prices": {"DE-BUND": "101.00", "US-STOCK": "50.40"},
                     "fx": {"EURUSD": "1.1050"}}
    assert "posted 2024-01-05: version 1 (initial), 2 price(s), 1 FX rate(s)" in out.output


def test_post_again_is_no_change_and_a_different_value_is_refused(ledger: FakeNetwork) -> None:
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101",
                "--json")
    assert out.exit_code == 0
    assert json.loads(out.output)["changed"] is False
    assert "no change" in tanpo("prices", "post", "--date", DAY.isoformat(),
                                "--price", "DE-BUND=101").output
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=102")
    assert out.exit_code == 3
    assert "use CorrectPrices with a reason" in out.output


def test_post_applies_the_oracles_move_limits(ledger: FakeNetwork) -> None:
    """Issue 16 item 2: what the oracle would hold back, prices post refuses before sending,
    unless --force --reason; limits per asset class (--max-move)."""
    ledger.tokens["DE-BUND"] = Token("DE-BUND", "ST", "EUR", "percent-of-par",
                                     "government-bond", isin="DE0001102580")
    ledger.tokens["US-STOCK"] = Token("US-STOCK", "ST", "USD", "per-unit", "equity",
                                      ticker="XYZ")
    nxt = (DAY + timedelta(days=2)).isoformat()  # DAY holds DE-BUND 101, US-STOCK 50.4
    out = tanpo("prices", "post", "--date", nxt, "--price", "DE-BUND=107",
                "--price", "US-STOCK=60", "--fx", "EURUSD=1.2")
    assert out.exit_code == 2, out.output
    assert "held back, nothing was sent" in out.output
    assert "DE-BUND moved +5.94% from 101 to 107, limit ±5.00%" in out.output
    assert "EURUSD moved +8.60%" in out.output and "US-STOCK" not in out.output  # +19 % < 25 %
    assert "--force --reason" in out.output
    assert not [c for c in ledger.calls() if c[0].startswith(("post", "correct"))]
    # a wider limit for bonds and FX lets it through
    out = tanpo("prices", "post", "--date", nxt, "--price", "DE-BUND=107", "--fx",
                "EURUSD=1.2", "--max-move", "bond=0.1", "--max-move", "fx=0.1")
    assert out.exit_code == 0, out.output
    # --force needs a reason, and records it with each value
    nxt2 = (DAY + timedelta(days=3)).isoformat()
    out = tanpo("prices", "post", "--date", nxt2, "--price", "DE-BUND=150", "--force")
    assert out.exit_code == 2 and "--force needs --reason" in out.output
    out = tanpo("prices", "post", "--date", nxt2, "--price", "DE-BUND=150", "--force",
                "--reason", "issuer restructured")
    assert out.exit_code == 0, out.output
    (_, _, sent), = [c for c in ledger.calls() if c[0] == "post_batch_json"][-1:]
    assert sent["prices"]["DE-BUND"] == {"value": "150",
                                         "confirmedBy": "operator:forced: issuer restructured"}
    assert tanpo("prices", "post", "--date", nxt2, "--price", "DE-BUND=1",
                 "--max-move", "gold=1").exit_code == 2


def test_a_reason_makes_a_correction(ledger: FakeNetwork) -> None:
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=102",
                "--reason", "vendor restated the close", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["kind"] == "correction"
    assert ledger.calls()[-1][0] == "correct_batch_json"
    assert ledger.calls()[-1][3] == "vendor restated the close"


def test_post_from_a_file_keeps_values_exact(ledger: FakeNetwork, tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text('{"date": "2024-01-05", "source": "file", "prices": {"A": 101.25, '
                     '"B": {"value": "7.10", "asOf": "2024-01-04"}, "C": 1e2}, '
                     '"fx": {"USDJPY": "141.5"}}')
    out = tanpo("prices", "post", "--date", "2024-01-05", "--file", str(batch),
                "--price", "D=3", "--fx", "EURUSD=1.1")
    assert out.exit_code == 0, out.output
    (_, _, sent), = [c for c in ledger.calls() if c[0] == "post_batch_json"]
    assert sent == {"date": "2024-01-05", "source": "file",
                    "prices": {"A": "101.25", "B": {"value": "7.10", "asOf": "2024-01-04"},
                               "C": "100", "D": "3"},
                    "fx": {"USDJPY": "141.5", "EURUSD": "1.1"}}


@pytest.mark.parametrize(("content", "extra", "message"), [
    ('{"date": "2024-01-06", "prices": {"A": "1"}}', [], "is for 2024-01-06"),
    ('{"prices": {"A": "1"}}', ["--price", "A=2"], "A is 1 in --file but 2 here"),
    ('{"prices": {"A": "-1"}}', [], "is not a decimal number"),
    ('{"prices": {"A": true}}', [], "is not a decimal number"),
    ('{"prices": ["A"]}', [], "prices must be an object"),
    ('{"prices": {}, "when": 1}', [], "unknown key(s) when"),
    ("not json", [], "is not JSON"),
])
def test_a_bad_batch_file_exits_2(ledger: FakeNetwork, tmp_path: Path, content: str,
                                  extra: list[str], message: str) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(content)
    out = tanpo("prices", "post", "--date", "2024-01-05", "--file", str(batch), *extra)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not ledger.calls()


@pytest.mark.parametrize(("args", "message"), [
    (["--price", "DE-BUND"], "expected KEY=VALUE"),
    (["--price", "DE-BUND=1e2"], "is not a decimal number"),
    (["--price", "DE-BUND=1", "--price", "DE-BUND=2"], "DE-BUND is given twice"),
    (["--fx", "EUR=1.1"], "not a market pair"),
    ([], "nothing to post"),
    (["--price", "A=1", "--reason", " "], "a correction needs a reason"),
])
def test_bad_price_options_exit_2(ledger: FakeNetwork, args: list[str], message: str) -> None:
    out = tanpo("prices", "post", "--date", "2024-01-05", *args)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert not ledger.calls()


def test_prices_show_table_and_json(ledger: FakeNetwork) -> None:
    tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "JP8306=602.5")
    out = tanpo("prices", "show", "--date", DAY.isoformat())
    assert out.exit_code == 0, out.output
    assert "version 2 of 2 (addition)" in out.output
    assert "posted by OperatorMSP User1@operator.tanpo.net" in out.output
    for text in ("DE-BUND", "101", "US-STOCK", "50.4", "2024-01-02", "EURUSD", "1.105",
                 "JP8306", "602.5"):
        assert text in out.output, text
    doc = json.loads(tanpo("prices", "show", "--date", DAY.isoformat(), "--version", "1",
                           "--json").output)
    assert doc["version"] == 1 and "JP8306" not in doc["prices"]
    assert doc["prices"]["US-STOCK"] == "50.4"
    assert identities(ledger)[-1] == ("bank-a", "User1")


def test_prices_show_of_a_date_without_prices_is_refused(ledger: FakeNetwork) -> None:
    out = tanpo("prices", "show", "--date", "2024-02-01")
    assert out.exit_code == 3 and "no prices posted for 2024-02-01" in out.output


# ---- display --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (Fraction(1_116_050), "1,116,050"),
    (Fraction("1116057.6"), "1,116,057.6"),
    (Fraction(-38, 5), "-7.6"),
    (Fraction(1, 8), "0.125"),
    (Fraction(-1_000_000, 3), "≈-333,333.333333"),
    (Fraction(2, 3), "≈0.666667"),
    (0, "0"),
])
def test_show_value(value: Fraction, text: str) -> None:
    assert show_value(value) == text


# ---- interrupts and unknown outcomes (issue 16 item 4) ----------------------------------------

TXID = "ab" * 32


def test_ctrl_c_while_waiting_for_the_commit_reports_the_transaction(
        ledger: FakeNetwork) -> None:
    ledger.fail = CommitInterrupted(TXID)
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101")
    assert out.exit_code == 5
    assert "Aborted!" not in out.output
    assert f"unknown: interrupted while transaction {TXID} was submitted: it may still " \
           "commit" in out.output
    assert f"tanpo tx status {TXID}" in out.output
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101",
                "--json")
    assert json.loads(out.stdout)["error"]["kind"] == "unknown"


def test_ctrl_c_before_anything_was_submitted_changed_nothing(ledger: FakeNetwork) -> None:
    ledger.fail = KeyboardInterrupt()
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1")
    assert out.exit_code == 130
    assert "Aborted!" not in out.output
    assert "interrupted before anything was submitted: nothing changed" in out.output


def test_a_commit_status_timeout_is_an_unknown_outcome(ledger: FakeNetwork) -> None:
    ledger.fail = CommitStatusError("context deadline exceeded",
                                    grpc.StatusCode.DEADLINE_EXCEEDED, transaction_id=TXID)
    out = tanpo("margin", "run", "--date", DAY.isoformat(), "--agreement", "AGR-1")
    assert out.exit_code == 5
    assert f"transaction {TXID} was submitted but its commit was not confirmed" in out.output


def test_tx_status(ledger: FakeNetwork) -> None:
    ledger.committed[TXID] = (0, 7)
    out = tanpo("tx", "status", TXID)
    assert out.exit_code == 0 and "committed, valid, in block 7" in out.output
    ledger.committed[TXID] = (11, 8)  # MVCC_READ_CONFLICT
    out = tanpo("tx", "status", TXID)
    assert out.exit_code == 3 and "MVCC_READ_CONFLICT" in out.output
    out = tanpo("tx", "status", "cd" * 32, "--wait", "1")
    assert out.exit_code == 5 and "has not committed within 1 s" in out.output
    assert tanpo("tx", "status", "nope").exit_code == 2


def test_the_sdk_turns_ctrl_c_after_the_submit_into_commit_interrupted() -> None:
    from tanpo.client.gateway import Contract

    class Submitted:
        transaction_id = TXID

        def wait(self, timeout: float | None = None) -> None:
            raise KeyboardInterrupt

    class Timeouts:
        commit_status = 1.0

    class Net:
        class gateway:
            timeouts = Timeouts()

    contract = Contract.__new__(Contract)
    object.__setattr__(contract, "retries", ())
    object.__setattr__(contract, "network", Net())
    object.__setattr__(contract, "_endorse_and_submit", lambda *a, **k: Submitted())
    with pytest.raises(CommitInterrupted) as caught:
        contract.submit("Ping", "hi")
    assert caught.value.transaction_id == TXID and caught.value.sent
    assert isinstance(caught.value, KeyboardInterrupt)


def test_ctrl_c_while_the_commands_load_is_one_line_and_exit_130(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16 item 4: no traceback (nor a bare "Aborted!") on Ctrl-C during start-up."""
    from tanpo.client import cli_main

    def interrupted(root: click.Group) -> None:
        raise KeyboardInterrupt

    root = cli_main.TanpoRoot(callback=lambda: None)
    monkeypatch.setattr(cli_main, "_register", interrupted)
    out = CliRunner().invoke(root, ["token", "list"])
    assert out.exit_code == 130
    assert out.output.strip() == "interrupted (Ctrl-C)"
    assert "Traceback" not in out.output


def test_an_unreachable_orderer_is_named_with_what_to_run(ledger: FakeNetwork) -> None:
    """Issue 16 item 5: not "cannot reach the peer", nor a bare "Deadline Exceeded"."""
    refused = ('rpc error: code = Unavailable desc = connection error: desc = "transport: '
               'Error while dialing: dial tcp 127.0.0.1:17050: connect: connection refused"')
    ledger.fail = SubmitError("no orderers could successfully process transaction",
                              grpc.StatusCode.UNAVAILABLE,
                              (ErrorDetail("127.0.0.1:17050", "OrdererMSP", refused),), TXID)
    assert ledger.fail.orderer_unavailable and not ledger.fail.refused
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101")
    assert out.exit_code == 4
    assert "orderer unreachable, the transaction was not ordered: 127.0.0.1:17050 " \
           "(OrdererMSP)" in out.output and "connection refused" in out.output
    assert "tanpo network up" in out.output and "cannot reach the peer" not in out.output
    # the orderer silent until the deadline: it may have the transaction
    ledger.fail = SubmitError("context deadline exceeded", grpc.StatusCode.DEADLINE_EXCEEDED,
                              (), TXID)
    out = tanpo("prices", "post", "--date", DAY.isoformat(), "--price", "DE-BUND=101")
    assert out.exit_code == 5
    assert f"transaction {TXID} was sent to the ordering service, which did not answer" \
        in out.output


def test_ctrl_c_after_the_commit_never_says_nothing_changed(
        ledger: FakeNetwork, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import FakeLedger

    def interrupted(self: FakeLedger, timeout: float | None = None) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(FakeLedger, "settle", interrupted)
    out = CliRunner().invoke(main, ["--as", "bank-b", "token", "issue-request", "JP8306", "10",
                                    "--reference", "deposit-1"])
    assert out.exit_code == 0, out.output
    assert "committed; interrupted while waiting for every peer" in out.output
    assert "nothing changed" not in out.output and "requested ISS-" in out.output
