"""CDM export and import (`tanpo.client.cdm`): where each term goes, the round trip (examples and a
hypothesis property), the other JSON forms CDM writers use, and refusals that name the path."""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpo.client import cdm
from tanpo.client.cdm import CdmError
from tanpo.client.models import (
    Agreement,
    CollateralLeg,
    FeeTerms,
    HistoryEntry,
    RebateTerms,
    Schedule,
    Terms,
    Token,
)

Json = dict[str, Any]

TOKENS = {t.id: t for t in (
    Token("JP8306", "ST", "JPY", "per-unit", "equity", isin="JP3902900004", ticker="8306"),
    Token("JP8604", "ST", "JPY", "per-unit", "equity", ticker="8604"),
    Token("DE-BUND", "ST", "EUR", "percent-of-par", "government-bond", isin="DE0001102333"),
    Token("JPY", "CT", "JPY", "per-unit", "cash"),
    Token("USD", "CT", "USD", "per-unit", "cash"),
)}

LENDING = Terms(
    id="AGR-1", lender="bank-a", borrower="bank-b", loan_token="JP8306", loan_quantity=1_000_000,
    collateral=(CollateralLeg("JPY", 600_000_000), CollateralLeg("DE-BUND", 5_000, Fraction(1, 8))),
    base_currency="JPY", haircut=Fraction(5, 100), threshold=Fraction(2, 100), mode="multi",
    settlement_lag_days=1, auto_issue=True, minimum_transfer_amount=Fraction(10001, 10),
    trade_date=date(2024, 1, 2), start_date=date(2024, 1, 3), end_date=date(2024, 3, 29),
)
CASH_LOAN = Terms(
    id="", lender="bank-b", borrower="bank-c", loan_token="USD", loan_quantity=1_113_750,
    collateral=(CollateralLeg("JP8306", 22_275),), base_currency="USD",
    trade_date=date(2024, 5, 1), start_date=date(2024, 5, 1), end_date=None,
)
ET = "$.trade.product.economicTerms"
COLL = f"{ET}.collateral"


def export(terms: Terms = LENDING, status: str = "ACTIVE") -> Json:
    # through the text form, as a file would carry it
    return cdm.loads(cdm.dumps(cdm.terms_to_cdm(terms, TOKENS, status)))


def refusal(doc: Json, tokens: dict[str, Token] | None = TOKENS) -> CdmError:
    with pytest.raises(CdmError) as info:
        cdm.terms_from_cdm(doc, tokens)
    return info.value


# ---- where each term goes ------------------------------------------------------------------


def test_parties_roles_and_counterparties() -> None:
    trade = export()["trade"]
    assert [p["partyId"][0]["identifier"] for p in trade["party"]] == [
        {"@data": "bank-a", "@scheme": "tanpo:party"},
        {"@data": "bank-b", "@scheme": "tanpo:party"}]
    assert trade["partyRole"] == [
        {"partyReference": {"@ref:external": "bank-a"}, "role": "Lender"},
        {"partyReference": {"@ref:external": "bank-b"}, "role": "Borrower"}]
    assert trade["counterparty"] == [
        {"role": "Party1", "partyReference": {"@ref:external": "bank-a"}},
        {"role": "Party2", "partyReference": {"@ref:external": "bank-b"}}]
    assert trade["tradeIdentifier"][0]["assignedIdentifier"][0]["identifier"] == {
        "@data": "AGR-1"}
    assert trade["tradeDate"] == {"@data": "2024-01-02"}


def test_economic_terms_dates_and_the_asset_payout() -> None:
    economic = export()["trade"]["product"]["economicTerms"]
    assert economic["effectiveDate"] == {"adjustableDate": {"unadjustedDate": "2024-01-03"}}
    assert economic["terminationDate"] == {"adjustableDate": {"unadjustedDate": "2024-03-29"}}
    (payout,) = economic["payout"]
    assert payout["@type"] == "cdm.product.template.AssetPayout"
    assert payout["payerReceiver"] == {"payer": "Party2", "receiver": "Party1"}
    assert payout["tradeType"] == "SecurityLending"
    underlier = payout["underlier"]
    assert underlier["@type"] == "cdm.base.staticdata.asset.common.Security"
    assert underlier["securityType"] == "Equity"
    assert {(i["identifierType"], i["identifier"]["@data"]) for i in underlier["identifier"]} == {
        ("Other", "JP8306"), ("ISIN", "JP3902900004"), ("ExchangeCode", "8306")}
    assert [leg["settlementDate"]["adjustableDate"]["unadjustedDate"]
            for leg in payout["assetLeg"]] == ["2024-01-03", "2024-03-29"]


def test_loan_quantity_is_a_trade_lot_the_payout_refers_to() -> None:
    trade = export()["trade"]
    ref = trade["product"]["economicTerms"]["payout"][0]["priceQuantity"]["quantitySchedule"]
    (pq,) = trade["tradeLot"][0]["priceQuantity"]
    assert pq["quantity"]["@key:scoped"] == ref["@ref:scoped"]
    assert pq["quantity"]["value"] == 1_000_000
    assert pq["quantity"]["unit"] == {"financialUnit": "Share"}


def test_collateral_type_positions_haircut_and_margin() -> None:
    collateral = export()["trade"]["product"]["economicTerms"]["collateral"]
    provisions = collateral["collateralProvisions"]
    assert provisions["collateralType"] == "NonCash"
    # the haircut only: CDM's marginPercentage is a collateralisation ratio, not the threshold
    (haircut,) = provisions["eligibleCollateral"]
    assert haircut["treatment"] == {"valuationTreatment": {"haircutPercentage": Decimal("0.05")},
                                    "isIncluded": True}
    assert [c["AssetIdentifier"]["identifier"]["@data"]
            for c in haircut["collateralCriteria"]["AnyCriteria"]["anyCriteria"]] == [
        "JPY", "DE-BUND"]
    cash, bund = collateral["collateralPortfolio"][0]["collateralPosition"]
    assert cash["asset"]["@type"].endswith(".Cash")
    assert cash["asset"]["identifier"][0] == {"identifier": {"@data": "JPY"},
                                              "identifierType": "CurrencyCode"}
    assert cash["priceQuantity"][0]["quantity"] == {"value": 600_000_000,
                                                    "unit": {"currency": {"@data": "JPY"}}}
    assert "treatment" not in cash
    assert bund["asset"]["securityType"] == "Debt"
    assert bund["priceQuantity"][0]["quantity"]["unit"] == {"currency": {"@data": "EUR"}}
    assert bund["treatment"]["valuationTreatment"] == {"haircutPercentage": Decimal("0.125")}


def test_all_cash_collateral_is_cash() -> None:
    terms = replace(LENDING, collateral=(CollateralLeg("JPY", 5), CollateralLeg("USD", 5)))
    provisions = export(terms)["trade"]["product"]["economicTerms"]["collateral"][
        "collateralProvisions"]
    assert provisions["collateralType"] == "Cash"


def test_gmsla_is_named_in_the_extension() -> None:
    # a CDM LegalAgreement must carry its elections (condition AgreementType), which tanpo has not
    doc = export()
    assert "contractDetails" not in doc["trade"]
    assert doc[cdm.EXTENSION]["masterAgreement"] == "ISLA GMSLA"


def test_a_security_loan_names_its_settlement_centres() -> None:
    payout = export()["trade"]["product"]["economicTerms"]["payout"][0]
    assert payout["settlementTerms"] == {"settlementType": "Physical",
                                         "securitySettlementCentre": "SecuritySettlementCentre",
                                         "cashSettlementCentre": "CashSettlementCentre"}
    cash = export(CASH_LOAN)["trade"]["product"]["economicTerms"]["payout"][0]
    assert "settlementTerms" not in cash


def test_tanpo_only_terms_are_in_the_extension() -> None:
    doc = export()
    assert doc[cdm.EXTENSION] == {
        "schema": "tanpo.cdm-extension/1", "collateralPriority": ["JPY", "DE-BUND"],
        "adjustmentMode": "multi", "settlementLagDays": 1, "autoIssue": True,
        "minimumTransferAmount": "1000.1", "baseCurrency": "JPY", "threshold": "0.02",
        "masterAgreement": "ISLA GMSLA"}
    assert [k for k in doc if not k.startswith("@")] == ["trade", "state", cdm.EXTENSION]


def test_a_cash_loan_open_and_without_id() -> None:
    doc = export(CASH_LOAN, status="PROPOSED")
    trade = doc["trade"]
    assert "tradeIdentifier" not in trade and "state" not in doc
    economic = trade["product"]["economicTerms"]
    assert "terminationDate" not in economic and "taxonomy" not in trade["product"]
    payout = economic["payout"][0]
    assert payout["underlier"]["@type"].endswith(".Cash") and "tradeType" not in payout
    assert len(payout["assetLeg"]) == 1
    assert trade["tradeLot"][0]["priceQuantity"][0]["quantity"]["unit"] == {
        "currency": {"@data": "USD"}}
    assert cdm.terms_from_cdm(doc, TOKENS) == CASH_LOAN


@pytest.mark.parametrize(("status", "state"), [
    ("ACTIVE", {"positionState": "Settled"}),
    ("WITHDRAWN", {"positionState": "Cancelled"}),
    ("CLOSED", {"positionState": "Closed",
                "closedState": {"state": "Terminated", "activityDate": "2024-02-01"}}),
])
def test_agreement_status_becomes_the_trade_state(status: str, state: Json) -> None:
    history = (HistoryEntry("PROPOSED", "PROPOSED", "bank-a", "t1", "2024-01-02T01:00:00Z"),
               HistoryEntry("CLOSED", "CLOSED", "bank-b", "t2", "2024-02-01T09:00:00Z",
                            "early-termination"))
    agreement = Agreement("AGR-1", status, LENDING, "bank-a", history)
    assert cdm.agreement_to_cdm(agreement, TOKENS)["state"] == state


def test_numbers_are_written_digit_for_digit() -> None:
    terms = replace(LENDING, haircut=Fraction(123456789012345678901, 10**21),
                    minimum_transfer_amount=Fraction(1, 10**30))
    text = cdm.dumps(cdm.terms_to_cdm(terms, TOKENS))
    assert '"haircutPercentage": 0.123456789012345678901' in text
    assert '"threshold": "0.02"' in text and "marginPercentage" not in text
    assert cdm.terms_from_cdm(cdm.loads(text), TOKENS) == terms
    json.loads(text)  # still plain JSON for any reader


def test_export_needs_every_token_defined() -> None:
    with pytest.raises(ValueError, match="collateral token DE-BUND is not defined"):
        cdm.terms_to_cdm(LENDING, {k: v for k, v in TOKENS.items() if k != "DE-BUND"})


# ---- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("terms", [LENDING, CASH_LOAN, replace(LENDING, haircut=Fraction(0),
                                                                threshold=Fraction(0))])
@pytest.mark.parametrize("with_tokens", [True, False])
def test_round_trip_examples(terms: Terms, with_tokens: bool) -> None:
    doc = export(terms)
    if not with_tokens and terms is CASH_LOAN:
        doc[cdm.EXTENSION]["baseCurrency"] = "USD"
    assert cdm.terms_from_cdm(doc, TOKENS if with_tokens else None) == terms


_decimals = st.builds(lambda n, places: Fraction(n, 10**places),
                      st.integers(0, 10**12), st.integers(0, 12))
_rates = st.builds(lambda n, places: Fraction(n, 10**places),
                   st.integers(0, 999), st.integers(3, 8))
_quantity = st.integers(1, 2**63 - 1)
_day = st.dates(date(1990, 1, 1), date(2090, 1, 1))


@st.composite
def terms_strategy(draw: st.DrawFn) -> Terms:
    ids = sorted(TOKENS)
    loan = draw(st.sampled_from(ids))
    legs_ids = draw(st.lists(st.sampled_from([i for i in ids if i != loan]), min_size=1,
                             max_size=4, unique=True))
    legs = tuple(CollateralLeg(t, draw(st.integers(0, 2**63 - 1)),
                               draw(st.none() | _rates)) for t in legs_ids)
    trade = draw(_day)
    start = trade + timedelta(days=draw(st.integers(0, 30)))
    end = draw(st.none() | st.integers(0, 400).map(lambda d: start + timedelta(days=d)))
    lender, borrower = draw(st.lists(st.sampled_from(["bank-a", "bank-b", "bank-c", "bank-z9"]),
                                     min_size=2, max_size=2, unique=True))
    return Terms(
        id=draw(st.sampled_from(["", "AGR-1", "MT-XYZ-9", "AGR-0123456789abcdef"])),
        lender=lender, borrower=borrower, loan_token=loan, loan_quantity=draw(_quantity),
        collateral=legs, base_currency=draw(st.sampled_from(["JPY", "USD", "EUR"])),
        haircut=draw(_rates), threshold=draw(_rates),
        mode=draw(st.sampled_from(["single", "multi"])),
        settlement_lag_days=draw(st.integers(0, 30)), auto_issue=draw(st.booleans()),
        minimum_transfer_amount=draw(_decimals), trade_date=trade, start_date=start,
        end_date=end,
    )


@settings(max_examples=200, deadline=None)
@given(terms=terms_strategy(), with_tokens=st.booleans())
def test_round_trip_property(terms: Terms, with_tokens: bool) -> None:
    text = cdm.dumps(cdm.terms_to_cdm(terms, TOKENS))
    assert cdm.terms_from_cdm(cdm.loads(text), TOKENS if with_tokens else None) == terms


@settings(max_examples=100, deadline=None)
@given(terms=terms_strategy())
def test_terms_survive_the_chaincode_json_too(terms: Terms) -> None:
    # what `propose --cdm` sends is what `agreement export` (terms JSON) would write
    again = Terms.from_json(json.loads(json.dumps(terms.to_json())))
    assert cdm.terms_from_cdm(cdm.loads(cdm.dumps(cdm.terms_to_cdm(again, TOKENS))),
                              TOKENS) == terms


# ---- other CDM writers' forms ----------------------------------------------------------------


def _older_form(value: Any) -> Any:
    """The pre-7 JSON form: {"value": x} instead of {"@data": x}, choices as keys."""
    if isinstance(value, list):
        return [_older_form(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) <= {"@data", "@scheme"} and "@data" in value:
        return {"value": value["@data"], "meta": {"scheme": value.get("@scheme", "")}}
    out = {k: _older_form(v) for k, v in value.items() if k != "@type"}
    typed = value.get("@type", "")
    if typed.endswith(".Security"):
        return {"Instrument": {"Security": out}}
    if typed.endswith(".Cash"):
        return {"Cash": out}
    if typed.endswith(".AssetPayout"):
        return {"AssetPayout": out}
    return out


def test_reads_the_older_json_form() -> None:
    doc = _older_form(export())
    for party in doc["trade"]["party"]:
        party["meta"] = {"externalKey": party.pop("@key:external")}
    for role in doc["trade"]["partyRole"]:
        role["partyReference"] = {"externalReference": role["partyReference"]["@ref:external"]}
    assert cdm.terms_from_cdm(doc, TOKENS) == LENDING


def test_reads_a_bare_trade_and_inline_parties() -> None:
    trade = export()["trade"]
    parties = {p["@key:external"]: p for p in trade.pop("party")}
    for role in trade["partyRole"]:
        role["partyReference"] = parties[role["partyReference"]["@ref:external"]]
    doc = {**trade, cdm.EXTENSION: export()[cdm.EXTENSION]}
    assert cdm.terms_from_cdm(doc, TOKENS) == LENDING


def test_resolves_isin_ticker_and_currency_with_the_token_definitions() -> None:
    doc = export()

    def strip_own(asset: Json) -> None:
        asset["identifier"] = [i for i in asset["identifier"] if i["identifierType"] != "Other"]

    economic = doc["trade"]["product"]["economicTerms"]
    strip_own(economic["payout"][0]["underlier"])
    for position in economic["collateral"]["collateralPortfolio"][0]["collateralPosition"]:
        strip_own(position["asset"])
    assert cdm.terms_from_cdm(doc, TOKENS) == LENDING
    error = refusal(doc, None)
    assert error.path == f"{ET}.payout[0].underlier.identifier"
    assert "no token definition lists" in error.problem and "ISIN" in error.problem


def test_without_the_extension_defaults_apply() -> None:
    doc = export(CASH_LOAN)
    del doc[cdm.EXTENSION]
    assert cdm.terms_from_cdm(doc, TOKENS) == CASH_LOAN  # base = the loan token's currency
    error = refusal(doc, None)
    assert error.path == "$.tanpoExtension.baseCurrency"


def test_several_collateral_tokens_without_a_mode_are_refused_not_made_single() -> None:
    """CDM has no field for the adjustment mode: a multi-token trade must not silently become a
    single-token one when the extension is missing."""
    doc = export(LENDING)
    del doc[cdm.EXTENSION]["adjustmentMode"]
    error = refusal(doc)
    assert error.path == "$.tanpoExtension.adjustmentMode"
    assert "2 collateral tokens" in error.problem
    doc[cdm.EXTENSION]["adjustmentMode"] = "multi"
    assert cdm.terms_from_cdm(doc, TOKENS).mode == "multi"


# ---- refusals: which path, what was expected --------------------------------------------------


_DELETE = object()


def _set(doc: Json, path: str, value: Any) -> Json:
    """A copy of doc with the value at a dotted path (list indexes as [i]) replaced."""
    out = copy.deepcopy(doc)
    node: Any = out
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    last = parts[-1]
    if value is _DELETE:
        del node[last]
    elif last.startswith("["):
        node[int(last[1:-1])] = value
    else:
        node[last] = value
    return out


POS0 = "trade.product.economicTerms.collateral.collateralPortfolio[0].collateralPosition[0]"
ELIGIBLE = "trade.product.economicTerms.collateral.collateralProvisions.eligibleCollateral"


@pytest.mark.parametrize(("path", "value", "where", "words"), [
    (f"{POS0}.priceQuantity[0].quantity.value", Decimal("12.5"),
     f"$.{POS0}.priceQuantity[0].quantity.value", "whole number of token units"),
    ("trade.tradeLot[0].priceQuantity[0].quantity.value", 0,
     "$.trade.tradeLot[0].priceQuantity[0].quantity.value", "≥ 1"),
    ("trade.tradeLot[0].priceQuantity[0].quantity.value", Decimal("1E+999999"),
     "$.trade.tradeLot[0].priceQuantity[0].quantity.value", "whole number"),
    (f"{ELIGIBLE}[0].treatment.valuationTreatment.haircutPercentage", Decimal("1.5"),
     f"$.{ELIGIBLE}[0].treatment.valuationTreatment.haircutPercentage", "[0, 1)"),
    (f"{ELIGIBLE}[0].treatment.valuationTreatment", {"marginPercentage": 0},
     f"$.{ELIGIBLE}[0].treatment.valuationTreatment.marginPercentage", "a margin ratio of 0"),
    (f"{ELIGIBLE}[0].treatment.valuationTreatment",
     {"marginPercentage": Decimal("1.02"), "haircutPercentage": Decimal("0.05")},
     f"$.{ELIGIBLE}[0].treatment.valuationTreatment.marginPercentage",
     "both a haircut and a margin ratio"),
    ("trade.product.economicTerms.effectiveDate", {"relativeDate": {"periodMultiplier": 2}},
     f"{ET}.effectiveDate", "relative dates cannot be mapped"),
    ("trade.tradeDate", {"@data": "2024-02-30"}, "$.trade.tradeDate", "YYYY-MM-DD"),
    ("trade.partyRole[0].partyReference", {"@ref:external": "nobody"},
     "$.trade.partyRole[0].partyReference", "which the trade does not define"),
    ("trade.party[0].partyId[0].identifier", {"@data": "529900T8BM49AURSDO55"},
     "$.trade.party[0]", "no tanpo party for the lender 'bank-a' id 529900T8BM49AURSDO55"),
    ("trade.product.economicTerms.collateral.collateralProvisions.collateralType", "Cash",
     f"{COLL}.collateralProvisions.collateralType", "DE-BUND is a security"),
    ("trade.product.economicTerms.collateral.collateralProvisions.collateralType", "Gold",
     f"{COLL}.collateralProvisions.collateralType", "Cash, NonCash or CashPool"),
    (f"{POS0}.asset.identifier[1].identifier", {"@data": "NOPE", "@scheme": "tanpo:token"},
     f"$.{POS0}.asset.identifier[1].identifier", "unknown token NOPE"),
    (f"{POS0}.asset.@type", "cdm.base.staticdata.asset.common.Commodity",
     f"$.{POS0}.asset", "a Commodity cannot be a tanpo token"),
    (f"{POS0}.asset.identifier[1].identifier", {"@data": "JP8306", "@scheme": "tanpo:token"},
     f"$.{POS0}.asset", "token JP8306 is a security"),
    (f"{POS0}.priceQuantity[0].quantity.unit", {"currency": {"@data": "USD"}},
     f"$.{POS0}.priceQuantity[0].quantity.unit.currency", "JPY, not \"USD\""),
    ("tanpoExtension.mode", "single", "$.tanpoExtension.mode", "unknown key"),
    ("tanpoExtension.adjustmentMode", "both", "$.tanpoExtension.adjustmentMode", "single"),
    ("tanpoExtension.settlementLagDays", 31, "$.tanpoExtension.settlementLagDays", "0..30"),
    ("tanpoExtension.autoIssue", "yes", "$.tanpoExtension.autoIssue", "true or false"),
    ("tanpoExtension.minimumTransferAmount", "-1", "$.tanpoExtension.minimumTransferAmount",
     "non-negative amount"),
    ("tanpoExtension.collateralPriority", ["JPY"], "$.tanpoExtension.collateralPriority",
     "each collateral token once"),
    ("trade.product.economicTerms.payout[0].minimumFee", {"value": "ten"},
     f"{ET}.payout[0].minimumFee.value", "an amount"),
    ("trade.product.economicTerms.terminationDate",
     {"adjustableDate": {"unadjustedDate": "2024-01-01"}}, f"{ET}.terminationDate",
     "before the start date"),
])
def test_refusals_name_the_path(path: str, value: Any, where: str, words: str) -> None:
    error = refusal(_set(export(), path, value))
    assert error.path == where, str(error)
    assert words in error.problem, str(error)
    assert str(error) == f"{where}: {error.problem}"


def test_a_second_payout_is_refused_and_a_schedule_reference_maps() -> None:
    doc = export()
    payouts = doc["trade"]["product"]["economicTerms"]["payout"]
    payouts.append({"@type": "cdm.product.asset.InterestRatePayout", "payerReceiver": {}})
    error = refusal(doc)
    assert error.path == f"{ET}.payout[1]"
    assert "InterestRatePayout cannot be the loan leg" in error.problem
    assert "rebate is read from the cash collateral position" in error.problem

    # collateral given only by a schedule: the schedule's id, the tokens chosen at the first call
    doc = export()
    doc["trade"]["product"]["economicTerms"]["collateral"]["collateralPortfolio"] = [
        {"portfolioIdentifier": {"assignedIdentifier": [{"identifier": {"@data": "S1"}}]}}]
    del doc[cdm.EXTENSION]["collateralPriority"]
    terms = cdm.terms_from_cdm(doc, TOKENS)
    assert terms.schedule_id == "S1" and terms.collateral == ()
    doc["trade"]["product"]["economicTerms"]["collateral"]["collateralPortfolio"] = [{}]
    error = refusal(doc)
    assert error.path == f"{COLL}.collateralPortfolio[0].collateralPosition"
    assert "portfolioIdentifier naming an eligibility schedule" in error.problem


def test_refuses_what_is_not_a_trade() -> None:
    assert refusal({"hello": 1}).path == "$"
    assert refusal([1, 2]).path == "$"  # type: ignore[arg-type]
    with pytest.raises(CdmError, match="not JSON"):
        cdm.loads("{")
    doc = export()
    del doc["trade"]["product"]["economicTerms"]["collateral"]
    error = refusal(doc)
    assert error.path == f"{ET}.collateral" and "missing" in error.problem


@pytest.mark.parametrize("mutation", ["drop", "null", "list", "number", "text", "true",
                                      "object"])
def test_never_crashes_on_damaged_documents(mutation: str) -> None:
    """Every node of an export, damaged one way: a CdmError (or the same terms), never a crash."""
    base = export()
    paths: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append(f"{path}.{k}" if path else k)
                walk(v, paths[-1])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append(f"{path}[{i}]")
                walk(v, paths[-1])

    walk(base, "")
    value = {"drop": _DELETE, "null": None, "list": [], "number": 7, "text": "x", "true": True,
             "object": {}}[mutation]
    for path in paths:
        if path.endswith("]") and value is _DELETE:
            continue
        damaged = _set(base, path, value)
        for tokens in (TOKENS, None):
            with contextlib.suppress(CdmError):
                cdm.terms_from_cdm(damaged, tokens)


def test_every_term_travels_through_cdm_and_back() -> None:
    """The economics, the life-cycle terms, an own schedule, the reference and haircuts with no
    finite decimal form: written where CDM has a field, in the extension where it has none."""
    terms = replace(
        LENDING, reference="GMSLA-7741", haircut=Fraction(1, 51),
        collateral=(CollateralLeg("JPY", 600_000_000), CollateralLeg("DE-BUND", 5_000,
                                                                      Fraction(1, 7))),
        fee=FeeTerms(Fraction(40), Fraction(50_000)),
        rebate=RebateTerms(benchmark="TONA", spread_bps=Fraction(-5)), day_count="ACT/365F",
        notice_days=5, substitution_pre_authorised=True, no_early_return=True,
        schedule=Schedule(asset_classes=("cash", "government-bond"),
                          haircuts={"token:DE-BUND": Fraction(1, 8)}),
        cdm_extras={"dividendTerms": {"manufacturedIncomeRequirement": {"totalRatio": 1}}})
    doc = export(terms)
    valuation = doc["trade"]["product"]["economicTerms"]["collateral"]["collateralProvisions"][
        "eligibleCollateral"][0]["treatment"]["valuationTreatment"]
    assert valuation == {"marginPercentage": Decimal("1.02")}  # α = 1/51 is r = 1.02, exact
    payout = doc["trade"]["product"]["economicTerms"]["payout"][0]
    assert payout["minimumFee"] == {"value": 50000, "unit": {"currency": {"@data": "JPY"}}}
    assert payout["dividendTerms"] == {"manufacturedIncomeRequirement": {"totalRatio": 1}}
    assert doc[cdm.EXTENSION]["tokenHaircuts"] == {"DE-BUND": "1/7"}  # a percentage would round
    assert cdm.terms_from_cdm(doc, TOKENS) == terms
    assert cdm.violations(doc) == []  # and the document keeps to CDM's data rules
