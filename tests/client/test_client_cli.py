"""The participant CLI (`tanpo token|balance|transfer|agreement|events …`) with click's CliRunner
and an in-memory ledger in place of the network: parsing, identities, output, exit codes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import grpc
import pytest
from click.testing import CliRunner, Result

from tanpo.client import cdm
from tanpo.client.cli_main import main
from tanpo.client.errors import EndorseError, EvaluateError
from tanpo.client.events import ChaincodeEvent
from tanpo.client.models import CollateralLeg, Terms
from tanpo.client.profile import ProfileError
from tests.fakes import TOKENS, FakeNetwork, chaincode_refusal, margin_record

Json = dict[str, Any]


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    return FakeNetwork().install(monkeypatch)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


TERMS = Terms(
    id="AGR-1", lender="bank-a", borrower="bank-b", loan_token="JP8306", loan_quantity=1000,
    collateral=(CollateralLeg("JPY", 600000), CollateralLeg("JP8604", 50, Fraction(1, 10))),
    base_currency="JPY", haircut=Fraction(5, 100), threshold=Fraction(2, 100), mode="multi",
    settlement_lag_days=1, auto_issue=True, minimum_transfer_amount=Fraction(1000),
    trade_date=date(2024, 1, 2), start_date=date(2024, 1, 3), end_date=date(2024, 3, 29),
)
PROPOSE_FLAGS = ["--lender", "bank-a", "--borrower", "bank-b", "--loan", "JP8306=1000",
                 "--collateral", "JPY=600000", "--collateral", "JP8604=50",
                 "--token-haircut", "JP8604=0.1", "--base", "JPY", "--haircut", "0.05",
                 "--threshold", "0.02", "--mode", "multi", "--lag", "1", "--auto-issue",
                 "--mta", "1000", "--trade-date", "2024-01-02", "--start-date", "2024-01-03",
                 "--end-date", "2024-03-29", "--id", "AGR-1"]


# ---- help and exit codes -----------------------------------------------------------------


@pytest.mark.parametrize("command", [["token"], ["token", "issue-request"], ["balance"],
                                     ["transfer"], ["agreement"], ["agreement", "propose"],
                                     ["events", "watch"]])
def test_help_documents_the_exit_codes(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    for code in ("0  done", "2  bad usage", "3  refused by the chaincode", "4  failed"):
        assert code in result.output


def test_every_listed_command_exists() -> None:
    tokens = run("token", "--help").output
    for name in ("define", "list", "show", "issue-request", "issue", "reject",
                 "redeem-request", "redeem", "requests", "supply"):
        assert f"  {name} " in tokens
    agreements = run("agreement", "--help").output
    for name in ("propose", "approve", "reject", "withdraw", "close", "terminate",
                 "accept-termination", "cancel-termination", "show", "list", "history",
                 "collateral", "export"):
        assert f"  {name} " in agreements


# ---- identities --------------------------------------------------------------------------


def test_token_administration_defaults_to_the_operator(world: FakeNetwork) -> None:
    result = run("token", "define", "JP9984", "--kind", "ST", "--currency", "JPY",
                 "--ticker", "9984", "--asset-class", "equity")
    assert result.exit_code == 0, result.output
    assert world.opened == [("operator", "User1")]
    assert "defined JP9984: ST, JPY, per-unit, equity" in result.output
    token = world.calls("operator")[0][1]
    assert token.ticker == "9984" and token.quote_convention == "per-unit"


def test_party_commands_default_to_bank_a_and_take_as(world: FakeNetwork) -> None:
    assert run("balance").exit_code == 0
    assert run("--as", "bank-b/User2", "balance").exit_code == 0
    assert world.opened == [("bank-a", "User1"), ("bank-b", "User2")]


def test_a_bad_as_is_usage(world: FakeNetwork) -> None:
    result = run("--as", "/User1", "balance")
    assert result.exit_code == 2 and "--as" in result.output


# ---- tokens ------------------------------------------------------------------------------


def test_issue_request_then_issue_then_balance(world: FakeNetwork) -> None:
    result = run("--as", "bank-b", "token", "issue-request", "JPY", "5000", "--reference", "d1")
    assert result.exit_code == 0, result.output
    request_id = next(iter(world.requests))
    assert f"requested {request_id} (issuance of 5,000 JPY for bank-b, PENDING)" in result.output
    assert f"tanpo token issue {request_id}" in result.output
    assert world.settled == 1  # waited for every peer after the submit

    result = run("token", "issue", request_id)
    assert result.exit_code == 0 and "issued 5,000 JPY to bank-b" in result.output

    result = run("--as", "bank-b", "balance", "--json")
    assert json.loads(result.output) == {
        "party": "bank-b", "balances": [{"party": "bank-b", "token": "JPY", "quantity": "5000"}]}
    table = run("--as", "bank-b", "balance").output
    assert "free balances of bank-b" in table and "5,000" in table


@pytest.mark.parametrize("quantity", ["1e3", "-5", "1.5", "1,000", "0", "007", "",
                                      "9223372036854775808", "ten"])
def test_malformed_quantities_never_reach_the_ledger(world: FakeNetwork, quantity: str) -> None:
    result = run("token", "issue-request", "JPY", quantity, "--reference", "x")
    assert result.exit_code == 2
    assert "QTY" in result.output
    assert world.opened == []


def test_reject_picks_issuance_or_redemption_by_id(world: FakeNetwork) -> None:
    bank = world.as_("bank-a")
    iss = bank.request_issuance("JPY", 5, "r")
    red = bank.request_redemption("JPY", 5, "r")
    assert run("token", "reject", iss.id, "--reason", "no deposit").exit_code == 0
    assert run("token", "reject", red.id, "--reason", "no").exit_code == 0
    names = [c[0] for c in world.calls("operator")]
    assert names == ["reject_issuance", "reject_redemption"]


def test_token_list_show_supply_requests(world: FakeNetwork) -> None:
    world.free[("bank-a", "JP8306")] = 1234
    listing = run("token", "list").output
    assert "JP3902900004" in listing and "JP8604" in listing
    shown = run("token", "show", "JP8306").output
    assert "total supply" in shown and "1,234" in shown
    assert json.loads(run("token", "supply", "JP8306", "--json").output) == [
        {"token": "JP8306", "supply": "1234"}]
    assert json.loads(run("token", "show", "JP8306", "--json").output)["supply"] == "1234"
    assert run("token", "requests").output.strip() == "no requests"


def test_define_needs_an_isin_or_ticker_for_a_security(world: FakeNetwork) -> None:
    result = run("token", "define", "X", "--kind", "ST", "--currency", "JPY")
    assert result.exit_code == 2 and "--isin or --ticker" in result.output
    result = run("token", "define", "X", "--kind", "CT", "--currency", "yen")
    assert result.exit_code == 2 and "ISO 4217" in result.output
    assert world.opened == []


def test_define_from_a_file(world: FakeNetwork, tmp_path: Path) -> None:
    spec = tmp_path / "t.json"
    spec.write_text(json.dumps({"id": "USD", "kind": "CT", "currency": "USD"}))
    result = run("token", "define", "--file", str(spec), "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["id"] == "USD"


# ---- transfer and refusals ---------------------------------------------------------------


def test_transfer_and_a_refused_transfer(world: FakeNetwork) -> None:
    world.free[("bank-a", "JPY")] = 100
    ok = run("transfer", "JPY", "60", "--to", "bank-b")
    assert ok.exit_code == 0 and "transferred 60 JPY bank-a → bank-b" in ok.output
    short = run("transfer", "JPY", "60", "--to", "bank-b")
    assert short.exit_code == 3
    assert "refused: insufficient balance: bank-a needs 60 JPY but has 40 free" in short.output
    assert "hint:" in short.output
    assert world.free[("bank-a", "JPY")] == 40


def test_refusal_in_json_mode_prints_an_error_document(world: FakeNetwork) -> None:
    result = run("agreement", "show", "NOPE", "--json")
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc == {"error": {"kind": "refused", "message": "access denied: agreement NOPE does "
                                                       "not exist or bank-a is not a party to it"}}


def test_an_unregistered_identity_gets_a_hint(world: FakeNetwork) -> None:
    world.fail = chaincode_refusal("access denied: the caller (MSP BankAMSP, subject CN=Admin"
                                       ") is not registered in the role registry")
    result = run("--as", "bank-a/Admin", "balance")
    assert result.exit_code == 3
    assert "act as a registered user" in result.output


def test_unreachable_network_is_a_failure_with_what_to_do(world: FakeNetwork) -> None:
    world.fail = EvaluateError("failed to connect to all addresses",
                                             grpc.StatusCode.UNAVAILABLE)
    result = run("balance")
    assert result.exit_code == 4
    assert "failed: failed to connect to all addresses" in result.output
    assert "tanpo network status" in result.output


def test_no_profile_is_a_failure_that_says_run_network_up(world: FakeNetwork) -> None:
    world.fail_open = ProfileError("no connection profile at x: is the network up? "
                                   "(run `tanpo network up`)")
    result = run("balance", "--json")
    assert result.exit_code == 4
    assert json.loads(result.stdout)["error"]["kind"] == "failed"
    assert "tanpo network up" in result.output


def test_a_timeout_is_a_failure(world: FakeNetwork) -> None:
    world.fail = EndorseError("deadline", grpc.StatusCode.DEADLINE_EXCEEDED)
    result = run("transfer", "JPY", "1", "--to", "bank-b")
    assert result.exit_code == 4 and "timed out" in result.output


# ---- agreements: propose -----------------------------------------------------------------


def test_propose_from_flags_sends_exact_terms(world: FakeNetwork) -> None:
    result = run("agreement", "propose", *PROPOSE_FLAGS)
    assert result.exit_code == 0, result.output
    sent = world.calls("bank-a")[0]
    assert sent[0] == "propose" and sent[1] == TERMS
    assert "proposed AGR-1 (PROPOSED): bank-a lends 1,000 JP8306 to bank-b" in result.output
    assert "tanpo --as bank-b agreement approve AGR-1" in result.output


def test_propose_dry_run_prints_terms_without_connecting(world: FakeNetwork) -> None:
    result = run("agreement", "propose", *PROPOSE_FLAGS, "--dry-run")
    assert result.exit_code == 0
    assert json.loads(result.output) == TERMS.to_json()
    assert world.opened == []


@pytest.mark.parametrize(("change", "message"), [
    (("--haircut", "5%"), "invalid --haircut '5%'"),
    (("--haircut", "1.2"), "fraction in [0, 1)"),
    (("--threshold", "-0.1"), "invalid --threshold"),
    (("--loan", "JP8306=1.5"), "no decimal point"),
    (("--loan", "JP8306"), "expected TOKEN=VALUE"),
    (("--mta", "1e3"), "invalid --mta"),
    (("--end-date", "2024-02-30"), "expected a date YYYY-MM-DD"),
    (("--end-date", "2023-12-31"), "before the start date"),
    (("--lag", "31"), "0 to 30"),
    (("--base", "yen"), "ISO 4217"),
])
def test_propose_refuses_malformed_terms_before_connecting(
        world: FakeNetwork, change: tuple[str, str], message: str) -> None:
    flags = list(PROPOSE_FLAGS)
    flags[flags.index(change[0]) + 1] = change[1]
    result = run("agreement", "propose", *flags)
    assert result.exit_code == 2
    assert message in result.output
    assert world.opened == []


def test_propose_collateral_quantity_is_checked(world: FakeNetwork) -> None:
    flags = list(PROPOSE_FLAGS)
    flags[flags.index("JPY=600000")] = "JPY=6e5"
    result = run("agreement", "propose", *flags)
    assert result.exit_code == 2 and "collateral quantity of JPY" in result.output


def test_propose_needs_an_end_date_or_open(world: FakeNetwork) -> None:
    flags = [f for f in PROPOSE_FLAGS if f not in ("--end-date", "2024-03-29")]
    result = run("agreement", "propose", *flags)
    assert result.exit_code == 2 and "--open" in result.output
    result = run("agreement", "propose", *flags, "--open", "--dry-run")
    assert result.exit_code == 0 and json.loads(result.output)["endDate"] == ""


def test_propose_from_file_and_flags_are_exclusive(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(TERMS.to_json()))
    result = run("agreement", "propose", "--file", str(path), "--lender", "bank-a")
    assert result.exit_code == 2 and "drop --lender" in result.output


def test_propose_from_a_terms_file(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(TERMS.to_json()))
    result = run("agreement", "propose", "--file", str(path), "--id", "AGR-2")
    assert result.exit_code == 0, result.output
    assert world.calls("bank-a")[0][1] == replace(TERMS, id="AGR-2")


@pytest.mark.parametrize(("edit", "message"), [
    ({"loan": {"token": "JP8306", "quantity": 1000}}, "loan.quantity must be a string"),
    ({"loan": {"token": "JP8306", "quantity": "1000.0"}}, "invalid loan.quantity"),
    ({"haircut": "0.05x"}, "invalid haircut"),
    ({"settlementLagDays": "1"}, "settlementLagDays must be a whole number"),
    ({"extra": 1}, "unknown key 'extra'"),
    ({"collateral": []}, "collateral must be a non-empty list"),
])
def test_a_bad_terms_file_names_the_field(world: FakeNetwork, tmp_path: Path, edit: Json,
                                          message: str) -> None:
    path = tmp_path / "terms.json"
    path.write_text(json.dumps({**TERMS.to_json(), **edit}))
    result = run("agreement", "propose", "--file", str(path))
    assert result.exit_code == 2
    assert message in result.output and "terms.json" in result.output
    assert world.opened == []


def test_propose_from_cdm_reproduces_the_terms(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "trade.json"
    path.write_text(cdm.dumps(cdm.terms_to_cdm(TERMS, TOKENS, "ACTIVE")))
    result = run("agreement", "propose", "--cdm", str(path), "--id", "AGR-COPY", "--json")
    assert result.exit_code == 0, result.output
    sent = next(c for c in world.calls("bank-a") if c[0] == "propose")[1]
    assert sent == replace(TERMS, id="AGR-COPY")
    assert json.loads(result.output)["id"] == "AGR-COPY"


def test_propose_from_unmappable_cdm_says_where(world: FakeNetwork, tmp_path: Path) -> None:
    doc = cdm.terms_to_cdm(TERMS, TOKENS)
    doc["trade"]["product"]["economicTerms"]["collateral"]["collateralPortfolio"][0][
        "collateralPosition"][0]["priceQuantity"][0]["quantity"]["value"] = "12.5"
    path = tmp_path / "trade.json"
    path.write_text(cdm.dumps(doc))
    result = run("agreement", "propose", "--cdm", str(path))
    assert result.exit_code == 2
    assert ("$.trade.product.economicTerms.collateral.collateralPortfolio[0]."
            "collateralPosition[0].priceQuantity[0].quantity.value") in result.output
    assert "whole number of token units" in result.output
    assert not any(c[0] == "propose" for c in world.calls("bank-a"))


def test_propose_a_finos_trade_with_a_party_map(world: FakeNetwork, tmp_path: Path) -> None:
    # the FINOS block trade (agent lender KTKL, borrower CP001), its security defined with its SEDOL
    from tanpo.client.cli_cdm import load_tokens

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "cdm"
    for token in load_tokens(fixtures / "tokens.yaml").values():
        world.tokens[token.id] = token
    trade = fixtures / "finos-sec-lending" / "block-execution-trade-state.json"
    result = run("agreement", "propose", "--cdm", str(trade), "--json")
    assert result.exit_code == 2
    assert "no tanpo party for the borrower" in result.output and "--parties" in result.output
    result = run("agreement", "propose", "--cdm", str(trade), "--parties",
                 str(fixtures / "parties.yaml"), "--json")
    assert result.exit_code == 0, result.output
    sent = next(c for c in world.calls("bank-a") if c[0] == "propose")[1]
    assert (sent.lender, sent.borrower, sent.loan_token, sent.loan_quantity) == (
        "bank-a", "bank-b", "ST001", 200_000)
    assert sent.haircut == Fraction(1, 51) and sent.reference == "0266001"
    assert run("agreement", "propose", "--parties", str(fixtures / "parties.yaml"),
               *PROPOSE_FLAGS).exit_code == 2


# ---- agreements: lifecycle and reads -----------------------------------------------------


@pytest.fixture
def proposed(world: FakeNetwork) -> str:
    assert run("agreement", "propose", *PROPOSE_FLAGS).exit_code == 0
    return "AGR-1"


def test_approve_prints_the_opening_exchange(world: FakeNetwork, proposed: str) -> None:
    own = run("agreement", "approve", proposed)
    assert own.exit_code == 3 and "only the counterparty" in own.output
    result = run("--as", "bank-b", "agreement", "approve", proposed)
    assert result.exit_code == 0
    assert "approved AGR-1: now ACTIVE" in result.output
    assert "bank-a → bank-b" in result.output and "600,000" in result.output
    assert "(held under the agreement)" in result.output


def test_lifecycle_commands_call_the_ledger(world: FakeNetwork, proposed: str) -> None:
    assert run("--as", "bank-b", "agreement", "approve", proposed).exit_code == 0
    assert run("agreement", "terminate", proposed, "--note", "early").exit_code == 0
    assert run("--as", "bank-b", "agreement", "cancel-termination", proposed).exit_code == 0
    assert run("agreement", "terminate", proposed).exit_code == 0
    done = run("--as", "bank-b", "agreement", "accept-termination", proposed, "--json")
    assert done.exit_code == 0 and json.loads(done.output)["status"] == "CLOSED"
    names = [c[0] for c in world.calls("bank-a")] + [c[0] for c in world.calls("bank-b")]
    for name in ("request_termination", "cancel_termination", "accept_termination"):
        assert name in names


def test_show_list_history_collateral(world: FakeNetwork, proposed: str) -> None:
    run("--as", "bank-b", "agreement", "approve", proposed)
    shown = run("agreement", "show", proposed).output
    for text in ("ACTIVE", "bank-a", "1,000 JP8306", "5%", "2%", "multi", "1 day(s)",
                 "2024-01-02 / 2024-01-03 / 2024-03-29", "CT1", "CT2", "10%",
                 "5% (agreement)"):
        assert text in shown, text
    assert json.loads(run("agreement", "show", proposed, "--json").output)["status"] == "ACTIVE"
    listing = run("agreement", "list").output
    assert "AGR-1" in listing and "600,000 JPY, 50 JP8604" in listing
    hist = run("agreement", "history", proposed)
    assert "PROPOSED" in hist.output and "APPROVED" in hist.output
    assert [h["action"] for h in json.loads(run("agreement", "history", proposed,
                                                "--json").output)] == ["PROPOSED", "APPROVED"]
    held = run("agreement", "collateral", proposed).output
    assert "collateral held by bank-a" in held and "600,000" in held


def test_history_includes_the_margin_calls(world: FakeNetwork, proposed: str) -> None:
    """`agreement history` promises every action: the margin calls (records of their own on the
    ledger) come in time order with the life-cycle actions, each with its date, trigger and
    transaction id."""
    run("--as", "bank-b", "agreement", "approve", proposed)
    later = margin_record(proposed, date(2024, 1, 5), timestamp="2024-01-05T09:00:00Z",
                          triggered=False, transfers=[], calledBy="bank-b")
    first = margin_record(proposed, date(2024, 1, 4), timestamp="2024-01-04T09:00:00Z")
    world.records[(proposed, date(2024, 1, 5))] = later
    world.records[(proposed, date(2024, 1, 4))] = first
    out = run("agreement", "history", proposed, "--json")
    assert out.exit_code == 0
    entries = json.loads(out.output)
    assert [h["action"] for h in entries] == ["PROPOSED", "APPROVED", "MARGIN_CALL", "MARGIN_CALL"]
    assert [(h["date"], h["triggered"], h["txId"], h["party"]) for h in entries[2:]] == [
        ("2024-01-04", True, f"tx-{proposed}-2024-01-04", "operator"),
        ("2024-01-05", False, f"tx-{proposed}-2024-01-05", "bank-b")]
    assert entries[2]["transfers"][0]["quantity"] == "131"
    table = run("agreement", "history", proposed)
    assert table.exit_code == 0
    for text in ("MARGIN_CALL", "2024-01-04: triggered", "2024-01-05: not triggered",
                 "131 US-STOCK"):
        assert text in table.output, text


def test_export_terms_and_cdm(world: FakeNetwork, proposed: str, tmp_path: Path) -> None:
    terms = run("agreement", "export", proposed)
    assert json.loads(terms.output) == TERMS.to_json()
    out = tmp_path / "trade.json"
    result = run("agreement", "export", proposed, "--cdm", "--out", str(out))
    assert result.exit_code == 0
    doc = cdm.loads(out.read_text())
    assert doc["@type"] == "cdm.event.common.TradeState"
    assert cdm.terms_from_cdm(doc, TOKENS) == TERMS


# ---- events ------------------------------------------------------------------------------


def _event(block: int, tx: str, name: str, payload: Json) -> ChaincodeEvent:
    return ChaincodeEvent(block, tx, "tanpo", name,
                          json.dumps({"type": name, "txId": tx, **payload}).encode())


@pytest.fixture
def streamed(world: FakeNetwork) -> FakeNetwork:
    world.events += [
        _event(3, "t1", "TokenDefined", {"token": {"id": "JPY", "kind": "CT",
                                                   "currency": "JPY"}}),
        _event(4, "t2", "Transfer", {"transfer": {"token": "JPY", "quantity": "5",
                                                  "from": "bank-a", "to": "bank-b"}}),
        _event(4, "t3", "AgreementApproved", {"agreement": "AGR-1", "status": "ACTIVE",
                                              "party": "bank-b", "transfers": [
                                                  {"token": "JP8306", "quantity": "1000",
                                                   "from": "bank-a", "to": "bank-b"}]}),
    ]
    return world


def test_events_watch_prints_one_line_per_event(world: FakeNetwork, streamed: FakeNetwork) -> None:
    result = run("events", "watch", "--from-block", "0", "--count", "3")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "block 3 tx t1 TokenDefined: JPY (CT, JPY)"
    assert lines[1] == "block 4 tx t2 Transfer: 5 JPY bank-a→bank-b"
    assert lines[2] == ("block 4 tx t3 AgreementApproved: AGR-1 ACTIVE by bank-b: "
                        "1,000 JP8306 bank-a→bank-b")
    assert ("events", 0, None) in streamed.calls("bank-a")


def test_events_watch_json_filter_and_checkpoint(world: FakeNetwork, streamed: FakeNetwork,
                                                 tmp_path: Path) -> None:
    checkpoint = tmp_path / "events.checkpoint"
    first = run("events", "watch", "--from-block", "0", "--count", "1", "--json",
                "--type", "Transfer", "--checkpoint", str(checkpoint))
    assert first.exit_code == 0
    event = json.loads(first.output)
    assert event["name"] == "Transfer" and event["block"] == 4 and event["txId"] == "t2"
    assert json.loads(checkpoint.read_text()) == {"block_number": 4, "transaction_id": "t2"}
    again = run("events", "watch", "--count", "1", "--checkpoint", str(checkpoint))
    assert again.output.startswith("block 4 tx t3 AgreementApproved")


# ---- malformed input is refused before anything is sent (issue 16 item 4) ---------------------


@pytest.mark.parametrize(("args", "message"), [
    (["token", "define", "XS1", "--kind", "ST", "--currency", "EUR", "--isin", "JP3902900005"],
     "its check digit is wrong"),
    (["token", "define", "XS1", "--kind", "ST", "--currency", "EUR", "--isin", "JP39029"],
     "is not an ISIN"),
    (["token", "define", "bad id", "--kind", "CT", "--currency", "EUR"], "not a valid token id"),
    (["token", "define", "X1", "--kind", "ST", "--currency", "EUR", "--ticker", "A",
      "--name", "Acme\x1b[31m"], "contains a control character"),
    (["--as", "bank-b", "token", "issue-request", "JP8306", "10", "--reference", "dep\x00osit"],
     "contains a control character"),
    (["--as", "bank-b", "token", "issue-request", "JP 8306", "10", "--reference", "d"],
     "not a valid token id"),
    (["token", "issue", "ISS 12"], "is not a request id"),
    (["token", "issue", "AGR-1"], "is not a request id"),
    (["token", "reject", "RED-1", "--reason", "no\nway"], "contains a control character"),
    (["transfer", "JPY", "100", "--to", "bank z"], "is not a party id"),
    (["margin", "show", "AGR/../1"], "not a valid agreement id"),
    (["margin", "run", "--date", "2024-01-03", "--agreement", "AGR 1"],
     "not a valid agreement id"),
    (["prices", "post", "--date", "2024-01-03", "--price", "DE BUND=1"], "not a valid token id"),
    (["prices", "post", "--date", "2024-01-03", "--price", "X=1", "--source", "a\tb"],
     "contains a control character"),
])
def test_malformed_input_is_refused_before_sending(world: FakeNetwork, args: list[str],
                                                   message: str) -> None:
    out = run(*args)
    assert out.exit_code == 2, out.output
    assert message in out.output
    assert world.log == [] and world.opened == [], "nothing reached the ledger"


def test_a_valid_isin_passes_the_check_digit() -> None:
    from tanpo.client.cli_common import isin_check_digit_ok

    for isin in ("JP3902900004", "US0378331005", "DE0001102580", "XS2310118976"):
        assert isin_check_digit_ok(isin), isin
    assert not isin_check_digit_ok("US0378331006")


# ---- platform settings ------------------------------------------------------------------------


def test_platform_show_and_set_the_business_time_zone(world: FakeNetwork) -> None:
    shown = run("platform", "show")
    assert shown.exit_code == 0, shown.output
    assert "business time zone Asia/Tokyo (UTC+09:00); business date 2024-01-04" in shown.output
    assert world.opened[-1] == ("bank-a", "User1")

    changed = run("platform", "set-time-zone", "UTC", "--json")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.output)["timeZone"] == "UTC"
    assert world.opened[-1] == ("operator", "Admin"), "the operator's admin by default"
    assert world.time_zone == "UTC" and world.settled >= 1


def test_only_the_operators_admin_sets_the_time_zone(world: FakeNetwork) -> None:
    refused = run("--as", "bank-a", "platform", "set-time-zone", "UTC")
    assert refused.exit_code == 3
    assert "only the operator's admin" in refused.output
    assert world.time_zone == "Asia/Tokyo"
    bad = run("platform", "set-time-zone", "Europe/London")
    assert bad.exit_code == 3 and world.time_zone == "Asia/Tokyo"


def test_a_time_zone_change_reads_in_the_event_stream() -> None:
    from tanpo.client.cli import event_summary

    text = event_summary("PlatformSettingsChanged", {
        "previousTimeZone": "Asia/Tokyo", "settings": {"timeZone": "UTC", "utcOffset": "+00:00"}})
    assert text == "business time zone Asia/Tokyo → UTC (UTC+00:00)"


def test_propose_keeps_the_parties_reference_in_the_terms(world: FakeNetwork, tmp_path: Path
                                                          ) -> None:
    result = run("agreement", "propose", *PROPOSE_FLAGS, "--reference", "GMSLA-2026-0042",
                 "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {**TERMS.to_json(), "reference": "GMSLA-2026-0042"}
    # a terms file carries it as well, and the flag replaces it
    path = tmp_path / "terms.json"
    path.write_text(json.dumps({**TERMS.to_json(), "reference": "from the file"}))
    result = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert json.loads(result.output)["reference"] == "from the file"
    result = run("agreement", "propose", "--file", str(path), "--reference", "desk 7", "--dry-run")
    assert json.loads(result.output)["reference"] == "desk 7"
