"""``tanpo billing``, the economics flags of ``agreement propose``/``show``, the accruals of
``margin show`` and the fixings of ``prices post``/``show``, over the fake ledger."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tanpo.client import cdm
from tanpo.client.cli import event_summary
from tanpo.client.cli_main import main
from tanpo.client.models import Agreement, FeeTerms, Invoice, RebateTerms
from tests.fakes import ACTIVE_TERMS, FakeNetwork, invoice_record, margin_record

Json = dict[str, Any]
PAIR = "pair-bank-a-bank-b"
KEY = (PAIR, "2024-01", "JPY")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork().install(monkeypatch)
    net.billable[KEY] = invoice_record()
    return net


@pytest.fixture
def issued(world: FakeNetwork) -> FakeNetwork:
    world.invoices[KEY] = world.billable.pop(KEY)
    return world


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def billing(party: str, *args: str) -> Result:
    return run("--as", party, "billing", *args)


def calls(world: FakeNetwork, name: str) -> list[tuple[Any, ...]]:
    return [c[1:] for c in world.calls() if c[0] == name]


# ---- billing ---------------------------------------------------------------------------------


def test_the_commands_are_listed_with_the_exit_codes() -> None:
    listing = run("billing", "--help").output
    for name in ("issue", "show", "pay", "query", "export"):
        assert f"  {name} " in listing, name
        assert "3  refused by the chaincode" in run("billing", name, "--help").output


def test_a_bank_issues_naming_its_counterparty(world: FakeNetwork) -> None:
    result = billing("bank-b", "issue", "2024-01", "--with", "bank-a")
    assert result.exit_code == 0, result.output
    assert f"issued INV-2024-01-JPY in {PAIR} (ISSUED), transaction tx-issue" in result.output
    assert "tanpo billing show 2024-01 --with bank-a --currency JPY" in result.output
    assert calls(world, "issue_invoice") == [("2024-01", "JPY", "bank-a", "")]
    assert world.settled == 1


def test_the_oracle_issues_naming_both_banks(world: FakeNetwork) -> None:
    result = run("--as", "operator/User1", "billing", "issue", "2024-01", "--with", "bank-b",
                 "--with", "bank-a", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"invoice": "INV-2024-01-JPY", "status": "ISSUED",
                                         "txId": "tx-issue"}
    assert calls(world, "issue_invoice") == [("2024-01", "JPY", "", PAIR)]


def test_the_oracle_must_name_both_banks(world: FakeNetwork) -> None:
    result = run("--as", "operator/User1", "billing", "issue", "2024-01", "--with", "bank-a")
    assert result.exit_code == 2 and "give --with twice" in result.output
    assert not calls(world, "issue_invoice")


def test_issuing_twice_is_refused_exit_3(issued: FakeNetwork) -> None:
    result = billing("bank-a", "issue", "2024-01", "--with", "bank-b", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["kind"] == "refused"
    assert "already issued" in result.output


def test_nothing_to_invoice_is_refused_exit_3(world: FakeNetwork) -> None:
    result = billing("bank-a", "issue", "2024-02", "--with", "bank-b")
    assert result.exit_code == 3 and "nothing to invoice for 2024-02" in result.output


@pytest.mark.parametrize("args", [
    ["issue", "2024-1", "--with", "bank-b"],
    ["issue", "2024-13", "--with", "bank-b"],
    ["issue", "2024-01", "--with", "bank b"],
    ["issue", "2024-01", "--with", "bank-b", "--currency", "yen"],
    ["issue", "2024-01", "--with", "bank-a"],  # yourself
    ["issue", "2024-01", "--with", "bank-b", "--with", "bank-c", "--with", "bank-d"],
    ["issue", "2024-01"],
    ["show", "2024-01"],
    ["pay", "2024-01", "--with", "bank-b"],
    ["pay", "2024-01", "--with", "bank-b", "--token", "J P Y"],
    ["query", "2024-01", "AGR-1", "--with", "bank-b"],
    ["query", "2024-01", "AGR-1", "--with", "bank-b", "--note", " "],
    ["query", "2024-01", "AGR 1", "--with", "bank-b", "--note", "x"],
])
def test_malformed_input_exits_2_and_sends_nothing(world: FakeNetwork, args: list[str]) -> None:
    result = billing("bank-a", *args)
    assert result.exit_code == 2, result.output
    assert not [c for c in world.calls() if "invoice" in c[0]]


def test_show_prints_the_lines_total_parties_and_status(issued: FakeNetwork) -> None:
    result = billing("bank-a", "show", "2024-01", "--with", "bank-b")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "invoice INV-2024-01-JPY" in out
    assert "bank-b → bank-a" in out
    assert "5,672.2 JPY" in out  # the exact net
    assert "5,672 JPY (whole units)" in out
    assert "2024-02-10" in out and "ISSUED" in out
    # a line's exact value with no finite decimal form is rounded for display and marked
    assert "≈849.315068" in out and "≈150.684932" in out
    assert "6,172.2" in out and "1,500" in out and "4,672.2" in out
    assert "total" in out
    assert calls(issued, "invoice") == [("2024-01", "JPY", "bank-b")]


def test_show_json_is_the_stored_invoice(issued: FakeNetwork) -> None:
    result = billing("bank-b", "show", "2024-01", "--with", "bank-a", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output) == issued.invoices[KEY]


def test_the_operator_may_not_read_an_invoice(issued: FakeNetwork) -> None:
    result = run("--as", "operator/User1", "billing", "show", "2024-01", "--with", "bank-a")
    assert result.exit_code == 3 and "access denied" in result.output


def test_an_unknown_invoice_is_refused(world: FakeNetwork) -> None:
    result = billing("bank-a", "show", "2024-01", "--with", "bank-b", "--currency", "USD")
    assert result.exit_code == 3 and "no invoice of pair-bank-a-bank-b for 2024-01 in USD" \
        in result.output


def test_the_payer_pays_with_a_cash_token(issued: FakeNetwork) -> None:
    issued.free[("bank-b", "JPY")] = 10_000
    result = billing("bank-b", "pay", "2024-01", "--with", "bank-a", "--token", "JPY")
    assert result.exit_code == 0, result.output
    assert "paid INV-2024-01-JPY with JPY (PAID), transaction tx-pay" in result.output
    assert issued.free[("bank-a", "JPY")] == 5672 and issued.free[("bank-b", "JPY")] == 4328
    shown = billing("bank-a", "show", "2024-01", "--with", "bank-b").output
    assert "PAID" in shown and "with JPY in tx-pay" in shown
    again = billing("bank-b", "pay", "2024-01", "--with", "bank-a", "--token", "JPY")
    assert again.exit_code == 3 and "is PAID" in again.output


@pytest.mark.parametrize("who, token, message", [
    ("bank-a", "JPY", "only the payer bank-b"),
    ("bank-b", "JP8306", "needs a cash token in JPY"),
    ("bank-b", "JPY", "insufficient balance"),
])
def test_payment_refusals_exit_3(issued: FakeNetwork, who: str, token: str,
                                 message: str) -> None:
    other = "bank-a" if who == "bank-b" else "bank-b"
    result = billing(who, "pay", "2024-01", "--with", other, "--token", token)
    assert result.exit_code == 3 and message in result.output
    assert issued.invoices[KEY]["status"] == "ISSUED"


def test_either_bank_queries_a_line(issued: FakeNetwork) -> None:
    result = billing("bank-b", "query", "2024-01", "AGR-1", "--with", "bank-a", "--note",
                     "why the minimum?")
    assert result.exit_code == 0, result.output
    assert "queried the line of AGR-1 in INV-2024-01-JPY" in result.output
    assert calls(issued, "query_invoice_line") == [
        ("2024-01", "JPY", "AGR-1", "why the minimum?", "bank-a")]
    shown = billing("bank-a", "show", "2024-01", "--with", "bank-b").output
    assert "bank-b: why the minimum?" in shown
    assert "1 line(s) queried: AGR-1 by bank-b (why the minimum?)" in shown
    missing = billing("bank-b", "query", "2024-01", "AGR-9", "--with", "bank-a", "--note", "x")
    assert missing.exit_code == 3 and "no line for agreement AGR-9" in missing.output


def test_export_cdm_is_a_security_lending_invoice(issued: FakeNetwork, tmp_path: Path) -> None:
    result = billing("bank-a", "export", "2024-01", "--with", "bank-b", "--cdm")
    assert result.exit_code == 0, result.output
    doc = cdm.loads(result.output)
    assert doc["sendingParty"]["partyId"][0]["identifier"]["@data"] == "bank-a"  # the payee
    assert doc["receivingParty"]["name"]["@data"] == "bank-b"
    assert (doc["billingStartDate"], doc["billingEndDate"]) == ("2024-01-01", "2024-01-31")
    first, second = doc["billingRecord"]
    assert first["tradeState"] == {"@ref:external": "AGR-1"}
    assert (first["recordStartDate"], first["recordEndDate"]) == ("2024-01-01", "2024-01-31")
    assert first["minimumFee"] == {"value": Decimal("150.6849315068"),
                                   "unit": {"currency": {"@data": "JPY"}}}
    assert first["recordTransfer"]["quantity"]["value"] == 1000
    assert second["recordTransfer"] == {
        "@type": "cdm.event.common.ScheduledTransfer",
        "quantity": {"value": Decimal("4672.2"), "unit": {"currency": {"@data": "JPY"}}},
        "asset": {"@type": "cdm.base.staticdata.asset.common.Cash",
                  "identifier": [{"identifier": {"@data": "JPY"},
                                  "identifierType": "CurrencyCode"}],
                  "assetType": "Cash"},
        "settlementDate": {"adjustedDate": "2024-02-10"},
        "payerReceiver": {"payerPartyReference": {"@ref:external": "bank-b"},
                          "receiverPartyReference": {"@ref:external": "bank-a"}},
        "transferType": "NetInterest"}
    (summary,) = doc["billingSummary"]
    # the pair's total (CDM's GrandTotal would need a transfer without payer and receiver)
    assert summary["summaryAmountType"] == "ParentTotal"
    assert summary["summaryTransfer"]["quantity"]["value"] == Decimal("5672.2")
    assert summary["summaryTransfer"]["settlementDate"] == {"adjustedDate": "2024-02-10"}
    ext = doc[cdm.EXTENSION]["invoice"]
    assert (ext["id"], ext["net"], ext["amount"]) == ("INV-2024-01-JPY", "28361/5", "5672")
    assert ext["lines"][0]["feeAccrued"] == "62000/73"
    # written to a file; without --cdm the stored invoice
    out = tmp_path / "inv.json"
    assert billing("bank-a", "export", "2024-01", "--with", "bank-b", "--out",
                   str(out)).exit_code == 0
    assert json.loads(out.read_text()) == issued.invoices[KEY]


def test_a_negative_line_is_paid_by_the_lender_in_cdm() -> None:
    raw = invoice_record()
    raw["lines"][1].update(rebate="10000", net="-19139/5")
    doc = cdm.invoice_to_cdm(Invoice.from_json(raw))
    transfer = doc["billingRecord"][1]["recordTransfer"]
    assert transfer["quantity"]["value"] == Decimal("3827.8")
    assert transfer["payerReceiver"]["payerPartyReference"] == {"@ref:external": "bank-a"}


def test_billing_events_are_summarised() -> None:
    assert event_summary("InvoicePaid", {"type": "InvoicePaid", "invoice": "INV-2024-01-JPY",
                                         "pair": PAIR, "status": "PAID"}) == \
        f"INV-2024-01-JPY in {PAIR}: PAID"
    text = event_summary("PricesPosted", {"date": "2024-01-04", "version": 1, "prices": {},
                                          "fx": {}, "rates": {"SOFR": "5.31"}})
    assert text.endswith("1 fixing(s)")


# ---- agreement propose / show: the economics ---------------------------------------------------


BASE = ["agreement", "propose", "--lender", "bank-a", "--borrower", "bank-b", "--loan",
        "JP8306=1000", "--collateral", "JPY=1100000", "--base", "JPY", "--end-date",
        "2030-12-31", "--trade-date", "2024-01-02", "--dry-run"]


@pytest.mark.parametrize("flags, expected", [
    (["--fee-bps", "25"], {"fee": {"bps": "25"}}),
    (["--fee-bps", "37.5", "--minimum-fee", "1000", "--day-count", "ACT/360"],
     {"fee": {"bps": "37.5", "minimum": "1000"}, "dayCount": "ACT/360"}),
    (["--rebate", "-0.25"], {"rebate": {"fixed": "-0.25"}}),
    (["--rebate-benchmark", "TONA"], {"rebate": {"benchmark": "TONA"}}),
    (["--rebate-benchmark", "SOFR", "--rebate-spread-bps", "-15", "--fee-bps", "10"],
     {"rebate": {"benchmark": "SOFR", "spreadBps": "-15"}, "fee": {"bps": "10"}}),
])
def test_propose_economics_flags(flags: list[str], expected: Json) -> None:
    result = run(*BASE, *flags)
    assert result.exit_code == 0, result.output
    terms = json.loads(result.output)
    assert {k: terms[k] for k in ("fee", "rebate", "dayCount") if k in terms} == expected


@pytest.mark.parametrize("flags, message", [
    (["--minimum-fee", "1000"], "--minimum-fee needs --fee-bps"),
    (["--rebate", "1", "--rebate-benchmark", "SOFR"], "not both"),
    (["--rebate-spread-bps", "10"], "needs --rebate-benchmark"),
    (["--day-count", "ACT/360"], "needs a fee or a rebate"),
    (["--fee-bps", "-1"], "invalid --fee-bps"),
    (["--rebate", "4%"], "invalid --rebate"),
    (["--rebate-benchmark", "sofr"], "invalid --rebate-benchmark"),
    (["--fee-bps", "1", "--day-count", "30/360"], "Invalid value for '--day-count'"),
])
def test_propose_economics_malformed_exits_2(flags: list[str], message: str) -> None:
    result = run(*BASE, *flags)
    assert result.exit_code == 2 and message in result.output


def test_propose_file_with_economics(tmp_path: Path, world: FakeNetwork) -> None:
    raw = {**ACTIVE_TERMS.to_json(), "fee": {"bps": "25", "minimum": "500"},
           "rebate": {"benchmark": "TONA", "spreadBps": "-5"}, "dayCount": "ACT/365F"}
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(raw))
    result = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == raw
    path.write_text(json.dumps({**raw, "fee": {"minimum": "500"}}))
    bad = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert bad.exit_code == 2 and "fee.bps is missing" in bad.output
    path.write_text(json.dumps({**raw, "rebate": {"fixed": 4.5}}))
    bad = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert bad.exit_code == 2 and "rebate.fixed must be a string" in bad.output


def _with_terms(world: FakeNetwork, **economics: Any) -> None:
    terms = replace(ACTIVE_TERMS, id="AGR-1", **economics)
    world.agreements["AGR-1"] = Agreement.from_json(
        {"id": "AGR-1", "status": "ACTIVE", "proposer": "bank-a", "history": [],
         "terms": terms.to_json()})


def test_show_lists_fee_rebate_and_day_count(world: FakeNetwork) -> None:
    from fractions import Fraction

    _with_terms(world, fee=FeeTerms(Fraction(75, 2), Fraction(1000)),
                rebate=RebateTerms(benchmark="TONA", spread_bps=Fraction(-5)))
    out = run("agreement", "show", "AGR-1").output
    assert "37.5 bp p.a. on the loan's market value" in out and "minimum 1,000 JPY" in out
    assert "TONA fixing - 5 bp p.a. on cash collateral" in out
    assert "ACT/365F (JPY's default)" in out
    _with_terms(world, rebate=RebateTerms(fixed=Fraction(9, 2)), day_count="ACT/360")
    out = run("agreement", "show", "AGR-1").output
    assert "4.5% p.a. fixed" in out and "ACT/360" in out
    _with_terms(world)
    assert "fees and rebates" in run("agreement", "show", "AGR-1").output


# ---- margin show: accruals -------------------------------------------------------------------


ACCRUALS = [
    {"from": "2024-01-30", "to": "2024-02-01", "days": 2, "loanValue": "1000000",
     "cashValue": "1050000", "feeRate": "1/400", "rebateRate": "531/10000", "fee": "10/73",
     "rebate": "11151/3650"},
    {"from": "2024-02-01", "to": "2024-02-02", "days": 1, "loanValue": "1000000",
     "cashValue": "1050000", "feeRate": "1/400", "rebateRate": "531/10000", "fee": "5/73",
     "rebate": "11151/7300"},
]


def test_margin_show_lists_the_accruals(world: FakeNetwork) -> None:
    world.set_active("AGR-1")
    day = date(2024, 2, 2)
    world.records[("AGR-1", day)] = margin_record("AGR-1", day, accruals=ACCRUALS)
    result = run("margin", "show", "AGR-1")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "fees and rebates accrued (USD)" in out
    assert "2024-01-30 → 2024-02-01" in out and "2024-02-01 → 2024-02-02" in out
    assert "25 bp" in out and "531 bp" in out
    assert "≈0.136986" in out and "≈3.055068" in out  # exact values, rounded for display
    assert "≈0.205479" in out  # the total fee, 15/73
    doc = json.loads(run("margin", "show", "AGR-1", "--json").output)
    assert doc["calls"][0]["accruals"] == ACCRUALS
    world.records[("AGR-1", day)] = margin_record("AGR-1", day)
    assert "accrued" not in run("margin", "show", "AGR-1").output
    assert "accruals" not in json.loads(run("margin", "show", "AGR-1", "--json").output
                                        )["calls"][0]


# ---- prices: fixings ---------------------------------------------------------------------------


def test_post_fixings_by_hand(world: FakeNetwork) -> None:
    result = run("prices", "post", "--date", "2024-01-04", "--price", "JP8306=1000",
                 "--rate", "SOFR=5.31", "--rate", "ESTR=-0.57")
    assert result.exit_code == 0, result.output
    assert "1 price(s), 0 FX rate(s), 2 fixing(s)" in result.output
    (_, batch), = calls(world, "post_batch_json")
    assert batch["rates"] == {"SOFR": "5.31", "ESTR": "-0.57"}
    shown = run("prices", "show", "--date", "2024-01-04").output
    assert "SOFR" in shown and "fixing" in shown and "-0.57" in shown
    only = run("prices", "post", "--date", "2024-01-05", "--rate", "TONA=0.1")
    assert only.exit_code == 0 and "1 fixing(s)" in only.output


def test_a_batch_without_fixings_has_no_rates_key(world: FakeNetwork) -> None:
    assert run("prices", "post", "--date", "2024-01-04", "--price", "JP8306=1000").exit_code == 0
    (_, batch), = calls(world, "post_batch_json")
    assert "rates" not in batch


def test_post_fixings_from_a_file(world: FakeNetwork, tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text('{"prices": {"JP8306": 1000}, "rates": {"SOFR": 5.31, '
                    '"ESTR": {"value": "-0.57", "asOf": "2024-01-03"}}}')
    result = run("prices", "post", "--date", "2024-01-04", "--file", str(path), "--rate",
                 "SOFR=5.31")
    assert result.exit_code == 0, result.output
    (_, batch), = calls(world, "post_batch_json")
    assert batch["rates"] == {"SOFR": "5.31", "ESTR": {"value": "-0.57", "asOf": "2024-01-03"}}


@pytest.mark.parametrize("args", [
    ["--rate", "sofr=5.31"],
    ["--rate", "SOFR=5,31"],
    ["--rate", "SOFR=+5.31"],
    ["--rate", "SOFR"],
    ["--rate", "SOFR=5.31", "--rate", "SOFR=5.30"],
])
def test_malformed_fixings_exit_2(world: FakeNetwork, args: list[str]) -> None:
    result = run("prices", "post", "--date", "2024-01-04", *args)
    assert result.exit_code == 2, result.output
    assert not calls(world, "post_batch_json")


def test_a_forced_post_confirms_fixings_too(world: FakeNetwork) -> None:
    result = run("prices", "post", "--date", "2024-01-04", "--rate", "SOFR=5.31", "--force",
                 "--reason", "desk")
    assert result.exit_code == 0, result.output
    (_, batch), = calls(world, "post_batch_json")
    assert batch["rates"]["SOFR"] == {"value": "5.31", "confirmedBy": "operator:forced: desk"}
