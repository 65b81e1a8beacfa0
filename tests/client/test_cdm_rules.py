"""CDM rule checks (`tanpo.client.cdm.rules`): every CDM document tanpo writes passes them, each
rule fires on a document broken for it, and the FINOS securities-lending samples break exactly the
rules listed here."""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import replace
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tanpo.client import cdm
from tanpo.client.models import Agreement, CollateralLeg, HistoryEntry, Invoice, Terms
from tests.client.cdm_life import TERMS, TOKENS, life, margin_call
from tests.fakes import invoice_record

Json = dict[str, Any]
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "cdm" / "finos-sec-lending"
DELETE = object()

LENDING = replace(TERMS, collateral=(CollateralLeg("JPY", 600_000), CollateralLeg(
    "DE-BUND", 5_000, Fraction(1, 8))), end_date=date(2024, 3, 29), threshold=Fraction(2, 100))


def rules(doc: Any) -> list[str]:
    return [v.rule for v in cdm.violations(cdm.loads(cdm.dumps(doc)))]


# ---- tanpo's own documents pass --------------------------------------------------------------


@pytest.mark.parametrize("terms", [
    LENDING,
    replace(LENDING, collateral=(CollateralLeg("JPY", 5), CollateralLeg("USD", 5))),
    replace(LENDING, collateral=(CollateralLeg("DE-BUND", 5_000),), mode="single"),
    replace(LENDING, loan_token="DE-BUND", collateral=(CollateralLeg("JP8306", 500),)),
    replace(LENDING, haircut=Fraction(0), threshold=Fraction(0), end_date=None),
    replace(LENDING, haircut=Fraction(999, 1000)),
], ids=["cash-and-bond", "all-cash", "bond", "bond-loan", "no-haircut-open", "haircut-0.999"])
def test_terms_exports_pass(terms: Terms) -> None:
    assert rules(cdm.terms_to_cdm(terms, TOKENS)) == []


@pytest.mark.parametrize(("status", "note"), [
    ("PROPOSED", ""), ("ACTIVE", ""), ("MATURED", ""), ("CLOSED", "maturity"),
    ("CLOSED", "early-termination"), ("CLOSED", "returned"), ("REJECTED", "no"),
    ("WITHDRAWN", ""),
])
def test_agreement_exports_pass_in_every_status(status: str, note: str) -> None:
    history = (HistoryEntry("PROPOSED", "PROPOSED", "bank-a", "t1", "2024-01-02T01:00:00Z"),
               HistoryEntry(status, status, "bank-b", "t2", "2024-02-01T09:00:00Z", note))
    agreement = Agreement("AGR-1", status, replace(LENDING, id=""), "bank-a", history)
    assert rules(cdm.agreement_to_cdm(agreement, TOKENS)) == []


def test_invoice_exports_pass() -> None:
    assert rules(cdm.invoice_to_cdm(Invoice.from_json(invoice_record()))) == []
    raw = invoice_record()
    raw["lines"][1].update(rebate="10000", net="-19139/5")
    assert rules(cdm.invoice_to_cdm(Invoice.from_json(raw))) == []


def test_events_and_the_workflow_pass() -> None:
    for event in cdm.agreement_events(life(), TOKENS, [margin_call()]):
        assert rules(event) == [], event[cdm.EXTENSION]["action"]
    assert rules(cdm.agreement_workflow(life(), TOKENS, [margin_call()])) == []
    declined = Agreement("AGR-8", "REJECTED", TERMS, "bank-a", (
        HistoryEntry("PROPOSED", "PROPOSED", "bank-a", "t1", "2024-01-02T01:00:00Z"),
        HistoryEntry("REJECTED", "REJECTED", "bank-b", "t2", "2024-01-03T01:00:00Z")))
    assert rules(cdm.agreement_workflow(declined, TOKENS)) == []


def test_the_departures_are_the_cash_loan_and_a_missing_id() -> None:
    # a cash loan is an AssetPayout on Cash: the one departure from CDM's rules
    cash_loan = Terms("bank-b", "bank-c", "USD", 1_000_000, (CollateralLeg("JP8306", 20_000),),
                      "USD", id="AGR-2", trade_date=date(2024, 5, 1), start_date=date(2024, 5, 1))
    found = cdm.violations(cdm.terms_to_cdm(cash_loan, TOKENS))
    assert [(v.path, v.rule) for v in found] == [
        ("$.trade.product.economicTerms.payout[0].underlier", "AssetPayout.UnderlierNotCash")]
    # terms not yet proposed have no id, which CDM requires
    assert rules(cdm.terms_to_cdm(replace(LENDING, id=""), TOKENS)) == ["Trade.tradeIdentifier"]


# ---- each rule fires -------------------------------------------------------------------------


def put(doc: Json, path: str, value: Any) -> Json:
    """``doc`` with the value at ``path`` (dots and [i]) replaced, or deleted with DELETE."""
    doc = copy.deepcopy(doc)
    keys: list[Any] = [int(k) if k.isdigit() else k
                       for k in re.findall(r"[^.\[\]]+", path)]
    at: Any = doc
    for key in keys[:-1]:
        at = at[key]
    if value is DELETE:
        del at[keys[-1]]
    else:
        at[keys[-1]] = value
    return doc


PAYOUT = "trade.product.economicTerms.payout[0]"
COLL = "trade.product.economicTerms.collateral"
ELIGIBLE = f"{COLL}.collateralProvisions.eligibleCollateral[0]"
VALUATION = f"{ELIGIBLE}.treatment.valuationTreatment"
POSITION = f"{COLL}.collateralPortfolio[0].collateralPosition"
CASH = {"@type": "cdm.base.staticdata.asset.common.Cash", "assetType": "Cash",
        "identifier": [{"identifier": {"@data": "JPY"}, "identifierType": "CurrencyCode"}]}
PARTIES = [{"@ref:external": "bank-a"}, {"@ref:external": "bank-b"}]
GMSLA = {"documentation": [{
    "agreementDate": "2024-01-02", "contractualParty": PARTIES,
    "legalAgreementIdentification": {"agreementName": {
        "agreementType": "MasterAgreement", "masterAgreementType": {"@data": "GMSLA"}},
        "publisher": "ISLA"}}]}
NAME = "trade.contractDetails.documentation[0].legalAgreementIdentification.agreementName"

TRADE_STATE_CASES: list[tuple[str, Any, set[str]]] = [
    ("trade.tradeIdentifier", DELETE, {"Trade.tradeIdentifier"}),
    ("trade.tradeIdentifier[0].issuer", DELETE, {"Identifier.IssuerChoice"}),
    ("trade.tradeIdentifier[0].assignedIdentifier", [], {"Identifier.assignedIdentifier"}),
    ("trade.tradeIdentifier[0].assignedIdentifier[0].identifier", DELETE,
     {"AssignedIdentifier.identifier"}),
    ("trade.tradeDate", DELETE, {"Trade.tradeDate"}),
    ("trade.counterparty", [{"role": "Party1", "partyReference": PARTIES[0]}],
     {"TradableProduct.counterparty"}),
    ("trade.counterparty[1].role", "Party1", {"Counterparty.role"}),
    ("trade.counterparty[0].partyReference", DELETE, {"Counterparty.partyReference"}),
    ("trade.partyRole[0].role", DELETE, {"PartyRole.role"}),
    ("trade.partyRole[1].partyReference", DELETE, {"PartyRole.partyReference"}),
    ("trade.party[0].partyId", [], {"Party.partyId"}),
    ("trade.party[1].partyId[0].identifier", DELETE, {"PartyIdentifier.identifier"}),
    ("trade.product", DELETE, {"TradableProduct.product"}),
    ("trade.product.economicTerms", DELETE, {"NonTransferableProduct.economicTerms"}),
    ("trade.product.economicTerms.payout", [], {"EconomicTerms.payout"}),
    ("trade.tradeLot", [], {"TradableProduct.tradeLot"}),
    ("trade.tradeLot[0].priceQuantity", [], {"TradeLot.priceQuantity"}),
    (f"{PAYOUT}.payerReceiver", DELETE, {"PayoutBase.payerReceiver"}),
    (f"{PAYOUT}.payerReceiver.receiver", DELETE, {"PayerReceiver.receiver"}),
    (f"{PAYOUT}.assetLeg", [], {"AssetPayout.assetLeg"}),
    (f"{PAYOUT}.assetLeg[1].settlementDate", DELETE, {"AssetLeg.settlementDate"}),
    (f"{PAYOUT}.assetLeg[0].deliveryMethod", DELETE, {"AssetLeg.deliveryMethod"}),
    (f"{PAYOUT}.underlier", DELETE, {"AssetPayout.underlier"}),
    (f"{PAYOUT}.underlier", [CASH, CASH], {"AssetPayout.underlier"}),
    (f"{PAYOUT}.underlier", CASH, {"AssetPayout.UnderlierNotCash"}),
    (f"{PAYOUT}.priceQuantity", DELETE, {"AssetPayout.Quantity"}),
    (f"{PAYOUT}.settlementTerms", DELETE, {"AssetPayout.SettlementCentreRequired"}),
    (f"{PAYOUT}.settlementTerms.cashSettlementCentre", DELETE,
     {"AssetPayout.SettlementCentreRequired"}),
    (f"{PAYOUT}.settlementTerms.securitySettlementCentre", "Custodian",
     {"SettlementBase.SecuritySettlementCentre"}),
    (f"{PAYOUT}.settlementTerms.cashSettlementCentre", "Registrar",
     {"SettlementBase.CashSettlementCentre"}),
    (f"{PAYOUT}.settlementTerms.settlementType", DELETE, {"SettlementBase.settlementType"}),
    (f"{COLL}.collateralPortfolio", DELETE, {"Collateral.CollateralExists"}),
    (f"{COLL}.collateralProvisions", DELETE, {"Collateral.CollateralProvisions"}),
    (f"{COLL}.portfolioIdentifier", [{"issuer": "x", "assignedIdentifier": [{"identifier": "p"}]}],
     {"Collateral.Collateralchoice"}),
    (f"{COLL}.collateralProvisions.collateralType", DELETE,
     {"CollateralProvisions.collateralType"}),
    (f"{ELIGIBLE}.collateralCriteria", DELETE, {"EligibleCollateralCriteria.collateralCriteria"}),
    (f"{ELIGIBLE}.treatment", DELETE, {"EligibleCollateralCriteria.treatment"}),
    (f"{ELIGIBLE}.treatment.isIncluded", DELETE, {"CollateralTreatment.isIncluded"}),
    (f"{VALUATION}.haircutPercentage", 1, {"CollateralValuationTreatment.HaircutPercentage"}),
    (f"{VALUATION}.haircutPercentage", -0.01, {"CollateralValuationTreatment.HaircutPercentage"}),
    (f"{VALUATION}.haircutPercentage", "0.1", {"CollateralValuationTreatment.HaircutPercentage"}),
    (VALUATION, {"marginPercentage": 0.02}, {"CollateralValuationTreatment.MarginPercentage"}),
    (VALUATION, {"marginPercentage": 1.02}, set()),
    (VALUATION, {"haircutPercentage": 0.1, "marginPercentage": 1.02},
     {"CollateralValuationTreatment.HaircutPercentageOrMarginPercentage"}),
    (VALUATION, {}, {"CollateralValuationTreatment.HaircutPercentageOrMarginPercentage"}),
    (VALUATION, {"haircutPercentage": 0.1, "fxHaircutPercentage": 0},
     {"CollateralValuationTreatment.FxHaircutPercentage"}),
    (VALUATION, {"haircutPercentage": 0.1, "additionalHaircutPercentage": 1},
     {"CollateralValuationTreatment.AdditionalHaircutPercentage"}),
    (VALUATION, {"haircutPercentage": 0.1, "fxHaircutPercentage": 0.08,
                 "additionalHaircutPercentage": 0.02}, set()),
    (f"{POSITION}[1].treatment.valuationTreatment.haircutPercentage", 1.5,
     {"CollateralValuationTreatment.HaircutPercentage"}),
    (f"{POSITION}[0].priceQuantity", [], {"PositionBase.priceQuantity"}),
    (f"{POSITION}[0].asset", DELETE, {"PositionBase.ProductOrAsset"}),
    ("state", {"positionState": "Closed"}, {"State.ClosedStateExists"}),
    ("state", {"positionState": "Closed", "closedState": {"state": "Matured"}},
     {"ClosedState.activityDate"}),
    # the legal agreement tanpo wrote before: a LegalAgreement without its terms
    ("trade.contractDetails", GMSLA, {"LegalAgreement.AgreementType"}),
]
LEGAL_CASES: list[tuple[str, Any, set[str]]] = [
    ("trade.contractDetails.documentation[0].agreementDate", DELETE,
     {"ContractDetails.ExecutedAgreement"}),
    ("trade.contractDetails.documentation[0].contractualParty", PARTIES[:1],
     {"LegalAgreementBase.contractualParty"}),
    (f"{NAME}", DELETE, {"LegalAgreementIdentification.agreementName"}),
    (f"{NAME}.agreementType", DELETE, {"AgreementName.agreementType"}),
    (f"{NAME}.otherAgreement", "x", {"AgreementName.AgreementType"}),
    (NAME, {"agreementType": "Other", "otherAgreement": "x", "masterAgreementType": "GMSLA"},
     {"AgreementName.AgreementType"}),
    (NAME, {"agreementType": "CreditSupportAgreement"}, {"AgreementName.CreditSupportAgreement"}),
    (f"{NAME}.masterConfirmationAnnexType", "x", {"AgreementName.MasterConfirmation"}),
    (f"{NAME}.creditSupportAgreementMarginType", "Variation", {"AgreementName.CSAMarginType"}),
]


@pytest.mark.parametrize(("path", "value", "expected"), TRADE_STATE_CASES)
def test_trade_state_rules_fire(path: str, value: Any, expected: set[str]) -> None:
    doc = cdm.terms_to_cdm(LENDING, TOKENS, "ACTIVE")
    assert set(rules(put(doc, path, value))) == expected


@pytest.mark.parametrize(("path", "value", "expected"), LEGAL_CASES)
def test_legal_agreement_rules_fire(path: str, value: Any, expected: set[str]) -> None:
    # on a documentation that otherwise breaks only AgreementType (it has no agreementTerms)
    doc = put(cdm.terms_to_cdm(LENDING, TOKENS, "ACTIVE"), "trade.contractDetails", GMSLA)
    assert set(rules(put(doc, path, value))) == expected | {"LegalAgreement.AgreementType"}


def test_the_older_json_form_of_choices_is_read_too() -> None:
    doc = cdm.terms_to_cdm(LENDING, TOKENS, "ACTIVE")
    payout = doc["trade"]["product"]["economicTerms"]["payout"][0]
    del payout["@type"]
    older = put(doc, PAYOUT, {"AssetPayout": {**payout, "underlier": {"Cash": CASH}}})
    assert [(v.path, v.rule) for v in cdm.violations(older)] == [
        (f"$.{PAYOUT}.AssetPayout.underlier", "AssetPayout.UnderlierNotCash")]


def test_a_violation_names_path_rule_and_problem() -> None:
    doc = put(cdm.terms_to_cdm(LENDING, TOKENS), VALUATION, {"marginPercentage": 0.02})
    (found,) = cdm.violations(cdm.loads(cdm.dumps(doc)))
    assert found.path == f"$.{VALUATION}.marginPercentage"
    assert str(found) == (f"$.{VALUATION}.marginPercentage: CollateralValuationTreatment."
                          "MarginPercentage: must be a number at least 1, found 0.02")


EVENTS = {e[cdm.EXTENSION]["action"]: e for e in cdm.agreement_events(life(), TOKENS)}
PRIMITIVE = "instruction[0].primitiveInstruction"
TRANSFER = f"{PRIMITIVE}.transfer.transferState[0]"
EVENT_CASES: list[tuple[str, str, Any, set[str]]] = [
    ("APPROVED", "eventDate", DELETE, {"BusinessEvent.EventDate"}),
    ("APPROVED", "after", DELETE, {"BusinessEvent.after"}),
    ("APPROVED", "instruction[0].before", DELETE, {"Instruction.NewTrade"}),
    ("PROPOSED", "instruction[0].before", EVENTS["APPROVED"]["after"][0],
     {"Instruction.NewTrade"}),
    ("APPROVED", f"{PRIMITIVE}.split", {"breakdown": [{}]},
     {"Instruction.ExclusiveSplitPrimitive"}),
    ("RECALL_FAILED", "instruction[0].primitiveInstruction", {"split": {"breakdown": []}},
     {"SplitInstruction.breakdown"}),
    ("RETURNED", f"{PRIMITIVE}.quantityChange.direction", DELETE,
     {"QuantityChangeInstruction.direction"}),
    ("RETURNED", f"{PRIMITIVE}.quantityChange.change", [], {"QuantityChangeInstruction.change"}),
    ("APPROVED", f"{TRANSFER}.transfer", DELETE, {"TransferState.transfer"}),
    ("APPROVED", f"{TRANSFER}.transfer.asset", DELETE, {"AssetFlowBase.asset"}),
    ("APPROVED", f"{TRANSFER}.transfer.quantity", DELETE, {"AssetFlowBase.quantity"}),
    ("APPROVED", f"{TRANSFER}.transfer.settlementDate", DELETE, {"AssetFlowBase.settlementDate"}),
    ("APPROVED", f"{TRANSFER}.transfer.payerReceiver", DELETE, {"TransferBase.payerReceiver"}),
    ("APPROVED", f"{TRANSFER}.transfer.payerReceiver.receiverPartyReference", DELETE,
     {"PartyReferencePayerReceiver.receiverPartyReference"}),
    ("APPROVED", f"{TRANSFER}.transfer.@type", "cdm.event.common.ScheduledTransfer",
     {"ScheduledTransfer.transferType"}),
    ("NOTICE_GIVEN", f"{PRIMITIVE}.termsChange", {"adjustment": None},
     {"TermsChangeInstruction.AtLeastOneOf"}),
    ("SUBSTITUTION_REQUESTED", PRIMITIVE,
     {"partyChange": {"counterparty": {"role": "Party2", "partyReference": PARTIES[1]}}},
     {"PartyChangeInstruction.tradeId"}),
    ("PROPOSED", f"{PRIMITIVE}.execution.executionDetails", DELETE,
     {"ExecutionInstruction.executionDetails"}),
    ("PROPOSED", f"{PRIMITIVE}.execution.executionDetails", {"executionType": "Electronic"},
     {"ExecutionDetails.ExecutionVenue"}),
    ("PROPOSED", f"{PRIMITIVE}.execution.parties", [{"partyId": [{"identifier": "x"}]}],
     {"ExecutionInstruction.parties"}),
    ("PROPOSED", f"{PRIMITIVE}.execution.tradeIdentifier", DELETE,
     {"ExecutionInstruction.tradeIdentifier"}),
    ("APPROVED", f"{PRIMITIVE}.contractFormation", {"legalAgreement": [{"identifier": []}]},
     {"ContractFormationInstruction.ExecutedAgreements"}),
    ("APPROVED", "corporateActionIntent", "StockSplit", {"EventInstruction.CorporateAction"}),
]


@pytest.mark.parametrize(("action", "path", "value", "expected"), EVENT_CASES)
def test_event_rules_fire(action: str, path: str, value: Any, expected: set[str]) -> None:
    assert set(rules(put(EVENTS[action], path, value))) == expected


WORKFLOW_CASES: list[tuple[str, Any, set[str]]] = [
    ("steps", [], {"Workflow.steps"}),
    ("steps[0].timestamp", DELETE, {"WorkflowStep.timestamp"}),
    ("steps[0].eventIdentifier", DELETE, {"WorkflowStep.eventIdentifier"}),
    ("steps[0].proposedEvent", {"intent": "ContractFormation"},
     {"WorkflowStep.CounterpartyPositionBusinessEventOrBusinessEventOrProposedEventChoice"}),
    ("steps[0].rejected", True, {"WorkflowStep.WorkflowStepStatus"}),
    ("steps[1].businessEvent.eventDate", DELETE, {"BusinessEvent.EventDate"}),
]


@pytest.mark.parametrize(("path", "value", "expected"), WORKFLOW_CASES)
def test_workflow_rules_fire(path: str, value: Any, expected: set[str]) -> None:
    workflow = cdm.agreement_workflow(life(), TOKENS)
    assert set(rules(put(workflow, path, value))) == expected


INVOICE_CASES: list[tuple[str, Any, set[str]]] = [
    ("sendingParty", DELETE, {"SecurityLendingInvoice.sendingParty"}),
    ("billingEndDate", DELETE, {"SecurityLendingInvoice.billingEndDate"}),
    ("billingRecord", [], {"SecurityLendingInvoice.billingRecord"}),
    ("billingSummary", DELETE, {"SecurityLendingInvoice.billingSummary"}),
    ("billingRecord[0].recordTransfer", DELETE, {"BillingRecord.recordTransfer"}),
    ("billingRecord[0].tradeState", DELETE, {"BillingRecord.tradeState"}),
    ("billingRecord[1].recordTransfer.transferType", DELETE, {"ScheduledTransfer.transferType"}),
    ("billingSummary[0].summaryAmountType", DELETE, {"BillingSummary.summaryAmountType"}),
    ("billingSummary[0].summaryAmountType", "GrandTotal", {"BillingSummary.GrandTotal"}),
    ("billingSummary[0].summaryAmountType", "AccountTotal", {"BillingSummary.AccountTotal"}),
    ("billingSummary[0].summaryTransfer.payerReceiver", DELETE,
     {"BillingSummary.ParentTotal", "TransferBase.payerReceiver"}),
    ("receivingParty.partyId", [], {"Party.partyId"}),
]


@pytest.mark.parametrize(("path", "value", "expected"), INVOICE_CASES)
def test_invoice_rules_fire(path: str, value: Any, expected: set[str]) -> None:
    invoice = cdm.invoice_to_cdm(Invoice.from_json(invoice_record()))
    assert set(rules(put(invoice, path, value))) == expected


def test_what_is_not_a_known_cdm_document_is_said_so() -> None:
    for doc in ([], {"@type": "cdm.event.common.Nothing"}, {"hello": 1}):
        (found,) = cdm.violations(doc)
        assert (found.path, found.rule) == ("$", "document")


# ---- the FINOS samples -----------------------------------------------------------------------

# Every trade state of the samples breaks the same five rules: the security underlier has no
# settlement centres, the collateral position is given as a product without priceQuantity, the
# eligible collateral has no criteria nor isIncluded, and its marginPercentage is 0.02.
STATE = {"AssetPayout.SettlementCentreRequired": 1, "PositionBase.priceQuantity": 1,
         "EligibleCollateralCriteria.collateralCriteria": 1, "CollateralTreatment.isIncluded": 1,
         "CollateralValuationTreatment.MarginPercentage": 1}


def states(n: int, **more: int) -> dict[str, int]:
    out = {rule: count * n for rule, count in STATE.items()}
    for rule, count in more.items():
        out[rule.replace("__", ".")] = count
    return out


# An execution's trade (cash collateral with a rebate leg) breaks only the settlement centres.
CENTRES = "AssetPayout.SettlementCentreRequired"
FINOS: dict[str, dict[str, int]] = {
    "allocation-sec-lending-func-input.json": states(1),
    "allocation-sec-lending-func-output.json": states(4),
    "block-execution-instruction.json": states(1, ExecutionInstruction__executionDetails=1),
    "block-execution-trade-state.json": states(1),
    # invoices: no billing summary; transfers without asset, quantity, payer and receiver, or
    # the transfer type a ScheduledTransfer needs
    "create-security-lending-invoice-func-input.json": states(
        3, AssetFlowBase__asset=4, ScheduledTransfer__transferType=8),
    "create-security-lending-invoice-func-output.json": states(
        3, AssetFlowBase__asset=7, AssetFlowBase__quantity=3, ScheduledTransfer__transferType=11,
        SecurityLendingInvoice__billingSummary=1, TransferBase__payerReceiver=3),
    "execution-cash-benchmark-input.json": {CENTRES: 1},
    "execution-cash-benchmark-output.json": {CENTRES: 2},
    "execution-cash-input.json": {CENTRES: 1},
    "execution-cash-output.json": {CENTRES: 2},
    "execution-noncash-portfolio-input.json": {CENTRES: 1},
    "execution-noncash-portfolio-output.json": {CENTRES: 2},
    "full-return-settlement-workflow-func-input.json": states(
        1, AssetFlowBase__asset=1, ScheduledTransfer__transferType=2),
    # workflows: event identifiers without issuer; a Closed position without its closed state
    # (or, in the last step, without the closed state's activity date)
    "full-return-settlement-workflow-func-output.json": states(
        4, AssetFlowBase__asset=7, ScheduledTransfer__transferType=14,
        Identifier__IssuerChoice=3, State__ClosedStateExists=3, ClosedState__activityDate=1),
    "new-settlement-workflow-func-input.json": states(1, ExecutionInstruction__executionDetails=1),
    "new-settlement-workflow-func-output.json": states(
        5, AssetFlowBase__asset=3, ScheduledTransfer__transferType=6, Identifier__IssuerChoice=3,
        ExecutionInstruction__executionDetails=1),
    "part-return-settlement-workflow-func-input.json": states(
        1, AssetFlowBase__asset=1, ScheduledTransfer__transferType=2),
    "part-return-settlement-workflow-func-output.json": states(
        4, AssetFlowBase__asset=7, ScheduledTransfer__transferType=14,
        Identifier__IssuerChoice=3),
    "reallocation-pre-settled-func-input.json": states(1),
    "reallocation-pre-settled-func-output.json": states(3),
}


def test_every_sample_is_listed() -> None:
    on_disk = {p.name for p in SAMPLES.glob("*.json")} - {"sec-lending-execution-descriptor.json"}
    assert on_disk == set(FINOS)


@pytest.mark.parametrize("name", sorted(FINOS))
def test_the_finos_samples_break_exactly_these_rules(name: str) -> None:
    doc = cdm.loads((SAMPLES / name).read_text())
    assert dict(Counter(v.rule for v in cdm.violations(doc))) == FINOS[name]


def test_the_samples_margin_percentage_is_a_ratio_below_one() -> None:
    doc = cdm.loads((SAMPLES / "block-execution-trade-state.json").read_text())
    (found,) = [v for v in cdm.violations(doc)
                if v.rule == "CollateralValuationTreatment.MarginPercentage"]
    assert found.path.endswith("eligibleCollateral[0].treatment.valuationTreatment"
                               ".marginPercentage")
    assert found.message.endswith("found 0.02")
