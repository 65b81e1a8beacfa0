"""The CDM conformance suite: the FINOS CDM securities-lending samples (tests/fixtures/cdm), read
as a new user reads them, with a party map and token definitions.

Every sample maps, every field of every sample is either mapped or ignored with a reason, and the
figures the samples' own descriptions give are the ones tanpo reads.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tanpo.client import cdm
from tanpo.client.cdm.check import Report, check, leaves
from tanpo.client.cdm.documents import Finding, proposed_terms
from tanpo.client.cdm.jsontext import CdmError
from tanpo.client.cdm.parties import PartyMap
from tanpo.client.cdm.reader import Reading, haircut_to_margin_ratio, margin_ratio_to_haircut
from tanpo.client.cli_cdm import load_tokens
from tanpo.client.cli_main import main as tanpo_main
from tanpo.client.models import FeeTerms, RebateTerms

HERE = Path(__file__).resolve().parents[1] / "fixtures" / "cdm"
SUITE = HERE / "finos-sec-lending"
PARTIES = PartyMap.load(HERE / "parties.yaml")
TOKENS = load_tokens(HERE / "tokens.yaml")


def _samples() -> list[str]:
    """Every sample the FINOS descriptor lists (input and expected output), and the block trade."""
    listed = json.loads((SUITE / "sec-lending-execution-descriptor.json").read_text())
    names = {Path(p).name for entry in listed
             for p in (entry["inputFile"], entry["expectedOutputFile"])}
    names |= {"block-execution-instruction.json", "block-execution-trade-state.json"}
    return sorted(names)


SAMPLES = _samples()


def _check(name: str, parties: PartyMap = PARTIES) -> Report:
    return check(cdm.loads((SUITE / name).read_text()), name, TOKENS, parties)


def _findings(name: str, kind: str) -> list[Finding]:
    return [f for f in _check(name).findings if f.kind == kind]


def test_the_suite_is_complete() -> None:
    assert len(SAMPLES) == 20
    assert all((SUITE / name).is_file() for name in SAMPLES)
    assert (SUITE / "LICENSE.md").is_file() and (SUITE / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_maps_and_every_field_is_accounted_for(name: str) -> None:
    report = _check(name)
    assert report.refusal is None
    assert [f.refusal for f in report.findings if f.refusal] == []
    assert report.unaccounted == []
    doc = json.loads((SUITE / name).read_text())
    every = [path for path, _ in leaves(doc)]
    assert sorted(report.mapped + list(report.ignored)) == sorted(every)
    assert report.findings, "a sample maps to at least one trade state or event"
    assert report.ok
    # ignoring is the exception: most of each document is understood
    assert len(report.mapped) > 3 * len(report.ignored)


def test_cdm_check_exits_0_on_the_whole_suite() -> None:
    result = CliRunner().invoke(tanpo_main, [
        "cdm", "check", *[str(SUITE / n) for n in SAMPLES],
        "--parties", str(HERE / "parties.yaml"), "--tokens", str(HERE / "tokens.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    reports = json.loads(result.output)
    assert [r["source"].rsplit("/", 1)[-1] for r in reports] == SAMPLES
    assert all(r["ok"] and r["unaccounted"] == [] for r in reports)


def test_without_a_party_map_the_check_refuses_and_says_what_is_needed() -> None:
    result = CliRunner().invoke(tanpo_main, [
        "cdm", "check", str(SUITE / "execution-cash-input.json"),
        "--tokens", str(HERE / "tokens.yaml"), "--json"])
    assert result.exit_code == 3
    (report,) = json.loads(result.output)
    (item,) = report["items"]
    assert item["refusal"]["path"].endswith("partyReference") or "part" in item["refusal"]["path"]
    assert "no tanpo party for the borrower 'UK Broker'" in item["refusal"]["problem"]
    assert "FM1LEI11111111111111" in item["refusal"]["problem"]
    assert "--parties" in item["refusal"]["problem"]


def test_without_token_definitions_an_isin_is_refused_with_the_identifier() -> None:
    report = check(cdm.loads((SUITE / "execution-cash-input.json").read_text()), "x", None,
                   PARTIES)
    (finding,) = report.findings
    assert finding.refusal is not None
    assert "ISIN GB00BDR05C01" in finding.refusal.problem
    assert "--identifier" in finding.refusal.problem


def test_a_field_tanpo_does_not_know_fails_the_check_with_its_path() -> None:
    doc = cdm.loads((SUITE / "execution-cash-input.json").read_text())
    execution = doc["instruction"][0]["primitiveInstruction"]["execution"]
    execution["product"]["economicTerms"]["payout"][0]["recallNoticeDays"] = 3
    report = check(doc, "x", TOKENS, PARTIES)
    assert report.unaccounted == [
        "$.instruction[0].primitiveInstruction.execution.product.economicTerms.payout[0]"
        ".recallNoticeDays"]
    assert not report.ok


def test_ignored_fields_each_carry_a_reason() -> None:
    report = _check("part-return-settlement-workflow-func-output.json")
    assert report.ignored
    assert all(why for why in report.ignored.values())
    keys = [p for p in report.ignored if p.endswith(".@key")]
    assert keys and all("metadata" in report.ignored[p] for p in keys)
    stamps = [p for p in report.ignored if ".timestamp[" in p]
    assert stamps and all("timestamps" in report.ignored[p] for p in stamps)


# ---- the figures the samples describe ---------------------------------------------------------


def test_execution_against_cash_with_a_fixed_rebate() -> None:
    # execution-cash.md: 1,000,000 shares of GB00BDR05C01 lent at 9.8011 GBP, 9,997,122 GBP of
    # collateral (2 % margin), a rebate of 1 % on the cash, DVP settlement on 2025-05-16
    (finding,) = _findings("execution-cash-input.json", "ExecutionInstruction")
    t = finding.terms
    assert t is not None
    assert (t.lender, t.borrower) == ("bank-a", "bank-b")  # UK Lender, UK Broker
    assert (t.loan_token, t.loan_quantity) == ("GB-BDR05C0", 1_000_000)
    assert [(c.token, c.quantity) for c in t.collateral] == [("GBP", 9_997_122)]
    assert t.rebate == RebateTerms(fixed=Fraction(1))
    assert t.fee is None  # a minimum fee of 0 (in USD) is no fee
    assert t.base_currency == "GBP"
    assert (t.trade_date, t.start_date, t.end_date) == (date(2025, 5, 15), date(2025, 5, 15),
                                                        None)
    assert t.reference == "20445678220"
    extras = t.cdm_extras or {}
    assert extras["price"]["value"] == cdm.loads("9.8011")
    assert extras["assetLeg"][0]["deliveryMethod"] == "DeliveryVersusPayment"
    assert extras["assetLeg"][0]["settlementDate"]["adjustableDate"]["adjustedDate"][
        "@data"] == "2025-05-16"
    # the collateral is the 102 % the description says: 1,000,000 × 9.8011 × 1.02
    assert Fraction(t.collateral[0].quantity) == 1_000_000 * Fraction("9.8011") * Fraction(
        "1.02")


def test_execution_with_a_benchmark_rebate() -> None:
    (finding,) = _findings("execution-cash-benchmark-input.json", "ExecutionInstruction")
    t = finding.terms
    assert t is not None
    assert t.rebate == RebateTerms(benchmark="SONIA", spread_bps=Fraction(300))
    assert "rebate benchmark GBP-SONIA read as SONIA" in finding.notes


def test_execution_against_a_collateral_schedule_with_a_fee() -> None:
    (finding,) = _findings("execution-noncash-portfolio-input.json", "ExecutionInstruction")
    t = finding.terms
    assert t is not None
    assert t.schedule_id == "CollateralSchedule001"
    assert t.collateral == ()
    assert t.fee == FeeTerms(Fraction(100))  # 1 % a year
    extras = t.cdm_extras or {}
    assert extras["minimumFee"] == {"value": 10, "unit": {"currency": {"@data": "USD"}}}
    assert extras["loanValue"]["value"] == 9_997_122
    assert any("not in the base currency GBP" in n for n in finding.notes)


def test_margin_percentage_below_one_is_read_as_the_margin_and_said_so() -> None:
    (finding,) = _findings("block-execution-instruction.json", "ExecutionInstruction")
    t = finding.terms
    assert t is not None
    # 0.02 ("2 % margin") is the ratio 1.02: collateral worth 102 % of the loan
    assert t.haircut == Fraction(1, 51)
    assert haircut_to_margin_ratio(t.haircut) == Fraction(102, 100)
    assert any("ratio 1.02" in n for n in finding.notes)
    assert (t.cdm_extras or {})["dividendTerms"] == {
        "manufacturedIncomeRequirement": {"totalRatio": 1}}
    assert t.day_count == "ACT/360"


def test_allocation_books_each_fund_through_its_agent_lender() -> None:
    report = _check("allocation-sec-lending-func-output.json")
    afters = [f for f in report.findings if f.kind == "TradeState (after)"]
    assert [f.terms.loan_quantity for f in afters if f.terms] == [120_000, 80_000, 200_000]
    fund1, fund2, block = afters
    for finding, fund in ((fund1, "Fund 1"), (fund2, "Fund 2")):
        assert finding.action == "agreement propose (the new allocation)"
        assert finding.terms is not None and finding.terms.lender == "bank-a"
        assert (finding.terms.cdm_extras or {})["principal"]["name"]["@data"] == fund
    assert "closed as allocated" in block.action
    splits = [f for f in report.findings if f.kind == "SplitInstruction breakdown"]
    assert [f.details["quantities"] for f in splits] == [[120_000], [80_000], [0]]


def test_reallocation_moves_part_of_an_allocation_to_another_fund() -> None:
    report = _check("reallocation-pre-settled-func-output.json")
    afters = [f for f in report.findings if f.kind == "TradeState (after)"]
    assert [(f.terms.loan_quantity if f.terms else 0) for f in afters] == [20_000, 60_000]
    assert afters[0].action == "agreement propose (the new allocation)"
    assert afters[1].action.startswith("agreement withdraw")


@pytest.mark.parametrize(("name", "returned", "full"), [
    ("part-return-settlement-workflow-func-input.json", 50_000, False),
    ("full-return-settlement-workflow-func-input.json", 200_000, True),
])
def test_returns_map_to_the_ledger_return(name: str, returned: int, full: bool) -> None:
    (finding,) = _findings(name, "ReturnInstruction")
    assert finding.details["returned"] == returned
    assert finding.action.startswith("agreement return on 2020-")
    assert ("full" in finding.action) is full


def test_the_full_return_closes_the_trade_with_quantity_zero() -> None:
    report = _check("full-return-settlement-workflow-func-output.json")
    closed = [f for f in report.findings if f.action.startswith("agreement closed")]
    # the return's trade state, the state each settlement step applies to, and the settled state
    assert len(closed) == 4
    assert all(f.terms is not None and f.terms.loan_quantity == 0 for f in closed)


def test_settlement_workflows_list_their_transfers_between_tanpo_parties() -> None:
    report = _check("new-settlement-workflow-func-output.json")
    transfers = [t for f in report.findings for t in f.details.get("transfers", [])]
    assert transfers
    assert any("ST001 bank-a → bank-b" in t for t in transfers)
    assert any("USD bank-b → bank-a" in t for t in transfers)


@pytest.mark.parametrize("name", ["create-security-lending-invoice-func-input.json",
                                  "create-security-lending-invoice-func-output.json"])
def test_billing_maps_to_the_pairs_monthly_invoice(name: str) -> None:
    report = _check(name)
    (bill,) = [f for f in report.findings if f.kind in ("BillingInstruction",
                                                         "SecurityLendingInvoice")]
    assert bill.action.startswith("billing issue 2020-10 --with bank-b (as bank-a)")
    assert bill.details["lines"] == 3
    lines = [f for f in report.findings if f.kind == "TradeState (billed)"]
    assert [f.terms.loan_quantity for f in lines if f.terms] == [200_000, 150_000, 150_000]
    assert all("benchmark fixings" in f.details["fixings"] for f in lines)


# ---- the margin ratio and the haircut, both ways ---------------------------------------------


def test_margin_ratio_and_haircut_examples() -> None:
    assert margin_ratio_to_haircut(Fraction("1.02")) == Fraction(1, 51)
    assert margin_ratio_to_haircut(Fraction(1)) == 0
    assert margin_ratio_to_haircut(Fraction("1.25")) == Fraction("0.2")
    assert haircut_to_margin_ratio(Fraction("0.2")) == Fraction("1.25")
    assert haircut_to_margin_ratio(Fraction("0.05")) == Fraction(20, 19)
    with pytest.raises(ValueError):
        margin_ratio_to_haircut(Fraction("0.99"))
    with pytest.raises(ValueError):
        haircut_to_margin_ratio(Fraction(1))


@given(ratio=st.fractions(min_value=1, max_value=5, max_denominator=10**6),
       loan=st.integers(min_value=1, max_value=10**12),
       collateral=st.integers(min_value=0, max_value=10**13))
def test_margin_ratio_and_haircut_are_the_same_requirement(ratio: Fraction, loan: int,
                                                           collateral: int) -> None:
    haircut = margin_ratio_to_haircut(ratio)
    assert 0 <= haircut < 1
    assert haircut_to_margin_ratio(haircut) == ratio
    # CDM: collateral ≥ r × loan; tanpo: collateral × (1 − α) ≥ loan
    assert (collateral >= ratio * loan) == (collateral * (1 - haircut) >= loan)


def test_a_margin_ratio_reads_as_the_exact_haircut() -> None:
    doc: Any = cdm.loads((SUITE / "block-execution-trade-state.json").read_text())
    path = doc["trade"]["product"]["economicTerms"]["collateral"]["collateralProvisions"]
    path["eligibleCollateral"][0]["treatment"]["valuationTreatment"] = {
        "marginPercentage": cdm.loads("1.05")}
    (finding,) = check(doc, "x", TOKENS, PARTIES).findings
    assert finding.terms is not None and finding.terms.haircut == Fraction(1, 21)
    assert not any("below 1" in n for n in finding.notes)
    haircut = copy.deepcopy(doc)
    haircut["trade"]["product"]["economicTerms"]["collateral"]["collateralProvisions"][
        "eligibleCollateral"][0]["treatment"]["valuationTreatment"] = {
        "haircutPercentage": cdm.loads("0.05")}
    (finding,) = check(haircut, "x", TOKENS, PARTIES).findings
    assert finding.terms is not None and finding.terms.haircut == Fraction(1, 20)


# ---- round trip: import → export → import keeps every understood field --------------------


def _trade_findings() -> list[tuple[str, Finding]]:
    return [(name, f) for name in SAMPLES for f in _check(name).findings if f.terms is not None]


@pytest.mark.parametrize(("name", "finding"), _trade_findings(),
                         ids=lambda x: x if isinstance(x, str) else x.path)
def test_round_trip_keeps_every_understood_field(name: str, finding: Finding) -> None:
    terms = finding.terms
    assert terms is not None
    closed = terms.loan_quantity == 0  # fully returned: a closed trade state
    doc = (cdm.terms_to_cdm(terms, TOKENS, "CLOSED", terms.end_date, "returned") if closed
           else cdm.terms_to_cdm(terms, TOKENS))
    exported = cdm.loads(cdm.dumps(doc))
    # the export names tanpo's parties and tokens: no party map is needed to read it back
    again = cdm.terms_from_cdm(exported, TOKENS,
                               reading=Reading(TOKENS, allow_zero=closed))
    assert again == terms
    assert again.to_json() == terms.to_json()
    # and the export itself keeps to CDM's data rules and is fully accounted for
    assert cdm.violations(exported) == []
    report = check(exported, name, TOKENS)
    assert report.ok, (report.unaccounted, [f.refusal for f in report.findings])


def test_the_round_trip_suite_covers_the_economics() -> None:
    found = [f.terms for _, f in _trade_findings() if f.terms is not None]
    assert len(found) > 30
    assert any(t.rebate is not None and t.rebate.benchmark for t in found)
    assert any(t.rebate is not None and t.rebate.fixed is not None for t in found)
    assert any(t.fee is not None for t in found)
    assert any(t.schedule_id for t in found)
    assert any((t.cdm_extras or {}).get("principal") for t in found)
    assert any(t.haircut == Fraction(1, 51) for t in found)


def test_propose_takes_the_one_trade_a_document_proposes() -> None:
    def doc(name: str) -> Any:
        return cdm.loads((SUITE / name).read_text())

    # an execution event: the instruction and the trade state after it are the same trade
    terms = proposed_terms(doc("execution-cash-output.json"), TOKENS, PARTIES)
    assert (terms.loan_token, terms.loan_quantity, terms.reference) == (
        "GB-BDR05C0", 1_000_000, "20445678220")
    # an allocation proposes one trade per fund: each from its own file
    with pytest.raises(CdmError) as info:
        proposed_terms(doc("allocation-sec-lending-func-output.json"), TOKENS, PARTIES)
    assert "proposes 2 different trades" in info.value.problem
    assert "$.after[0]" in info.value.problem


# ---- damaged documents: a report, never a crash ----------------------------------------------

_DAMAGE = (None, 7, "text", True, [], {}, [{"x": 1}])


def _paths(doc: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*path, i))
    return out


@pytest.mark.parametrize("name", ["execution-cash-benchmark-output.json",
                                  "allocation-sec-lending-func-input.json",
                                  "part-return-settlement-workflow-func-input.json",
                                  "create-security-lending-invoice-func-output.json"])
def test_a_damaged_sample_gets_a_report_not_a_crash(name: str) -> None:
    original = cdm.loads((SUITE / name).read_text())
    paths = _paths(original)[1:]
    # every third node of the document, damaged in each way in turn
    for n, path in enumerate(paths[::3]):
        doc = copy.deepcopy(original)
        at = doc
        for key in path[:-1]:
            at = at[key]
        at[path[-1]] = _DAMAGE[n % len(_DAMAGE)]
        report = check(doc, name, TOKENS, PARTIES)  # raises nothing but a finding's refusal
        assert isinstance(report, Report)
        if not report.ok:
            assert report.refusal or report.unaccounted or any(f.refusal for f in report.findings)


@pytest.mark.parametrize(("kind", "value"), [
    ("SEDOL", "BDR05C0"), ("CUSIP", "037833100"), ("FIGI", "BBG000B9XRY4"),
    ("ExchangeCode", "AAPL"), ("RIC", "AAPL.OQ"), ("ISIN", "US0378331005"),
])
def test_a_security_is_found_by_any_identifier_its_token_lists(kind: str, value: str) -> None:
    from tanpo.client.models import Token

    doc: Any = cdm.loads((SUITE / "block-execution-trade-state.json").read_text())
    underlier = doc["trade"]["product"]["economicTerms"]["payout"][0]["underlier"]
    underlier["identifier"] = [{"identifier": {"@data": value}, "identifierType": kind}]
    observable = doc["trade"]["tradeLot"][0]["priceQuantity"][0]["observable"]["@data"]
    observable["identifier"] = underlier["identifier"]
    listed = {"isin": value} if kind == "ISIN" else {"identifiers": {kind: value}}
    other = {"isin": "GB00BDR05C01"} if kind != "ISIN" else {"identifiers": {"SEDOL": "ST001"}}
    tokens = {**TOKENS,
              "AAPL": Token.from_json({"id": "AAPL", "kind": "ST", "currency": "USD", **listed}),
              "OTHER": Token.from_json({"id": "OTHER", "kind": "ST", "currency": "USD", **other})}
    (finding,) = check(doc, "x", tokens, PARTIES).findings
    assert finding.terms is not None and finding.terms.loan_token == "AAPL"
    # the same identifier on two tokens is refused, not guessed
    tokens["TWIN"] = Token.from_json({"id": "TWIN", "kind": "ST", "currency": "USD", **listed})
    (finding,) = check(doc, "x", tokens, PARTIES).findings
    assert finding.refusal is not None and "matches tokens AAPL, TWIN" in finding.refusal.problem


def test_party_maps_read_as_json_or_yaml_and_say_what_is_wrong(tmp_path: Path) -> None:
    as_json = tmp_path / "parties.json"
    as_json.write_text(json.dumps({"parties": dict(PARTIES.entries)}))
    assert PartyMap.load(as_json) == PARTIES
    for text, words in (('{"parties": {"X": "Bank A"}}', "expected a tanpo party such as bank-a"),
                        ('{"party": {}}', "a 'parties' mapping"), ("{", "is not JSON")):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(ValueError, match=words):
            PartyMap.load(bad)
    sample = str(SUITE / "execution-cash-input.json")
    result = CliRunner().invoke(tanpo_main, ["cdm", "check", sample, "--parties",
                                             str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "is not JSON" in result.output
