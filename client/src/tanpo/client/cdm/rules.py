"""CDM data rules checked in code: cardinalities and conditions of the CDM types tanpo reads and
writes, so that an export can be shown to pass them (and a foreign document to break them).

The rules follow the CDM's Rosetta model (the ``*.rosetta`` type definitions of
finos/common-domain-model); each check names its type and condition (or, for a cardinality, its
type and attribute) as ``Type.name``. They are a subset: the types and attributes tanpo writes,
and the conditions that apply to them. `violations` takes a parsed CDM document (`loads`), finds
its root type from ``@type`` (or, for the untyped function inputs of the CDM samples, from its
keys), and returns every broken rule with the JSON path where it breaks. The ``tanpoExtension``
object is not CDM and is not looked into.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_ROOTS = ("TradeState", "Trade", "BusinessEvent", "WorkflowStep", "Workflow",
          "SecurityLendingInvoice", "BillingInstruction", "ExecutionInstruction",
          "EventInstruction")


@dataclass(frozen=True)
class Violation:
    """A broken rule: where (JSON path), which (``Type.condition`` or ``Type.attribute``), why."""

    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}: {self.message}"


def violations(doc: Any) -> list[Violation]:
    """Every CDM rule ``doc`` breaks (empty when it passes them all), in document order."""
    check = _Checker()
    root = root_type(doc)
    if root is None:
        check.add("$", "document", "not a CDM document this checker knows (expected one of "
                  + ", ".join(_ROOTS) + ")")
    else:
        _CHECKS[root](check, doc, "$")
    return check.found


def root_type(doc: Any) -> str | None:
    """The CDM type a document holds: its ``@type``'s last name, else guessed from its keys."""
    if not isinstance(doc, dict):
        return None
    declared = doc.get("@type")
    if isinstance(declared, str):
        name = declared.rsplit(".", 1)[-1]
        return name if name in _CHECKS else None
    for key, name in (("trade", "TradeState"), ("steps", "Workflow"),
                      ("billingRecord", "SecurityLendingInvoice"),
                      ("tradeState", "ReturnInput")):
        if key in doc:
            return name
    if "instruction" in doc or "eventDate" in doc:
        return "EventInstruction"
    return None


# ---- reading CDM JSON ------------------------------------------------------------------------

def _unwrap(value: Any) -> Any:
    """A value without its CDM metadata wrapper (``{"@data": x}``, ``{"value": x}``)."""
    if isinstance(value, dict):
        if "@data" in value:
            return value["@data"]
        if "value" in value and set(value) <= {"value", "meta"}:
            return value["value"]
    return value


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def _items(obj: dict[str, Any], key: str, path: str) -> Iterator[tuple[Any, str]]:
    value = obj.get(key)
    if value is None:
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield item, f"{path}.{key}[{i}]"
    else:
        yield value, f"{path}.{key}"


def _count(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else 1


def _choice(value: Any) -> str:
    """The option a CDM choice value takes: from ``@type`` or from its one wrapping key."""
    value = _unwrap(value) if isinstance(value, dict) and "@data" in value else value
    if not isinstance(value, dict):
        return ""
    declared = value.get("@type")
    if isinstance(declared, str):
        return declared.rsplit(".", 1)[-1]
    keys = [str(k) for k in value if not str(k).startswith("@")]
    if len(keys) == 1 and keys[0][:1].isupper():
        return keys[0]
    return ""


def _number(value: Any) -> Decimal | None:
    value = _unwrap(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


class _Checker:
    def __init__(self) -> None:
        self.found: list[Violation] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.found.append(Violation(path, rule, message))

    def obj(self, value: Any, path: str, rule: str) -> dict[str, Any] | None:
        value = _unwrap(value) if isinstance(value, dict) and "@data" in value else value
        if isinstance(value, dict):
            return value
        self.add(path, rule, "expected an object")
        return None

    def card(self, obj: dict[str, Any], path: str, type_: str, key: str, low: int,
             high: int | None) -> None:
        """The cardinality ``(low..high)`` of ``Type.key``; ``None`` for ``*``."""
        n = _count(obj, key)
        if n < low or (high is not None and n > high):
            bounds = f"({low}..{'*' if high is None else high})"
            self.add(f"{path}.{key}", f"{type_}.{key}",
                     f"cardinality {bounds}, found {n}")

    def cards(self, obj: dict[str, Any], path: str, type_: str,
              spec: dict[str, tuple[int, int | None]]) -> None:
        for key, (low, high) in spec.items():
            self.card(obj, path, type_, key, low, high)


# ---- trade state and trade -------------------------------------------------------------------

def _trade_state(c: _Checker, doc: Any, path: str) -> None:
    # TradeState: trade (1..1), state (0..1), transferHistory TransferState (0..*)
    ts = c.obj(doc, path, "TradeState")
    if ts is None or _is_reference(ts):
        return
    c.card(ts, path, "TradeState", "trade", 1, 1)
    for trade, at in _items(ts, "trade", path):
        _trade(c, trade, at)
    for state, at in _items(ts, "state", path):
        _state(c, state, at)
    for transfer_state, at in _items(ts, "transferHistory", path):
        _transfer_state(c, transfer_state, at)


def _is_reference(obj: dict[str, Any]) -> bool:
    return any(k.startswith("@ref") for k in obj) and not any(
        not k.startswith("@") for k in obj)


def _trade(c: _Checker, doc: Any, path: str) -> None:
    trade = c.obj(doc, path, "Trade")
    if trade is None:
        return
    # Trade: tradeIdentifier (1..*), tradeDate (1..1); TradableProduct: product (1..1),
    # tradeLot (1..*), counterparty (2..2)
    c.cards(trade, path, "Trade", {"tradeIdentifier": (1, None), "tradeDate": (1, 1)})
    c.cards(trade, path, "TradableProduct",
            {"product": (1, 1), "tradeLot": (1, None), "counterparty": (2, 2)})
    for ident, at in _items(trade, "tradeIdentifier", path):
        _identifier(c, ident, at, "TradeIdentifier")
    _counterparties(c, trade, path)
    for party, at in _items(trade, "party", path):
        _party(c, party, at)
    for role, at in _items(trade, "partyRole", path):
        # PartyRole: partyReference (1..1), role (1..1)
        role_obj = c.obj(role, at, "PartyRole")
        if role_obj is not None:
            c.cards(role_obj, at, "PartyRole", {"partyReference": (1, 1), "role": (1, 1)})
    for product, at in _items(trade, "product", path):
        _product(c, product, at)
    for lot, at in _items(trade, "tradeLot", path):
        # TradeLot: priceQuantity (1..*)
        lot_obj = c.obj(lot, at, "TradeLot")
        if lot_obj is not None:
            c.card(lot_obj, at, "TradeLot", "priceQuantity", 1, None)
    for details, at in _items(trade, "contractDetails", path):
        _contract_details(c, details, at)


def _counterparties(c: _Checker, holder: dict[str, Any], path: str) -> None:
    roles = []
    for cp, at in _items(holder, "counterparty", path):
        # Counterparty: role (1..1), partyReference (1..1)
        obj = c.obj(cp, at, "Counterparty")
        if obj is None:
            continue
        c.cards(obj, at, "Counterparty", {"role": (1, 1), "partyReference": (1, 1)})
        roles.append(_unwrap(obj.get("role")))
    if len(roles) == 2 and roles[0] == roles[1]:
        c.add(f"{path}.counterparty", "Counterparty.role",
              f"the two counterparties must be Party1 and Party2, both are {roles[0]}")


def _party(c: _Checker, doc: Any, path: str) -> None:
    party = c.obj(doc, path, "Party")
    if party is None or _is_reference(party):
        return
    # Party: partyId PartyIdentifier (1..*); PartyIdentifier: identifier (1..1)
    c.card(party, path, "Party", "partyId", 1, None)
    for pid, at in _items(party, "partyId", path):
        obj = c.obj(pid, at, "PartyIdentifier")
        if obj is not None:
            c.card(obj, at, "PartyIdentifier", "identifier", 1, 1)


def _identifier(c: _Checker, doc: Any, path: str, type_: str) -> None:
    ident = c.obj(doc, path, type_)
    if ident is None:
        return
    # Identifier: assignedIdentifier (1..*); condition IssuerChoice: required choice
    # issuerReference, issuer; AssignedIdentifier: identifier (1..1)
    c.card(ident, path, "Identifier", "assignedIdentifier", 1, None)
    if _present(ident.get("issuer")) == _present(ident.get("issuerReference")):
        c.add(path, "Identifier.IssuerChoice", "exactly one of issuer and issuerReference")
    for assigned, at in _items(ident, "assignedIdentifier", path):
        obj = c.obj(assigned, at, "AssignedIdentifier")
        if obj is not None:
            c.card(obj, at, "AssignedIdentifier", "identifier", 1, 1)


def _state(c: _Checker, doc: Any, path: str) -> None:
    state = c.obj(doc, path, "State")
    if state is None:
        return
    # State condition ClosedStateExists: positionState Closed needs closedState
    if _unwrap(state.get("positionState")) == "Closed" and not _present(state.get("closedState")):
        c.add(path, "State.ClosedStateExists", "positionState Closed needs a closedState")
    for closed, at in _items(state, "closedState", path):
        # ClosedState: state (1..1), activityDate (1..1)
        obj = c.obj(closed, at, "ClosedState")
        if obj is not None:
            c.cards(obj, at, "ClosedState", {"state": (1, 1), "activityDate": (1, 1)})


def _product(c: _Checker, doc: Any, path: str) -> None:
    product = c.obj(doc, path, "NonTransferableProduct")
    if product is None:
        return
    # NonTransferableProduct: economicTerms (1..1); EconomicTerms: payout (1..*)
    c.card(product, path, "NonTransferableProduct", "economicTerms", 1, 1)
    for terms, at in _items(product, "economicTerms", path):
        economic = c.obj(terms, at, "EconomicTerms")
        if economic is None:
            continue
        c.card(economic, at, "EconomicTerms", "payout", 1, None)
        for payout, pat in _items(economic, "payout", at):
            _payout(c, payout, pat)
        for collateral, cat in _items(economic, "collateral", at):
            _collateral(c, collateral, cat)


def _payout(c: _Checker, doc: Any, path: str) -> None:
    payout = c.obj(doc, path, "Payout")
    if payout is None:
        return
    kind = _choice(payout)
    if kind and "@type" not in payout and isinstance(payout.get(kind), dict):
        payout, path = payout[kind], f"{path}.{kind}"  # the older form {"AssetPayout": {…}}
    # PayoutBase: payerReceiver (1..1); PayerReceiver: payer (1..1), receiver (1..1)
    c.card(payout, path, "PayoutBase", "payerReceiver", 1, 1)
    for pr, at in _items(payout, "payerReceiver", path):
        obj = c.obj(pr, at, "PayerReceiver")
        if obj is not None:
            c.cards(obj, at, "PayerReceiver", {"payer": (1, 1), "receiver": (1, 1)})
    if kind == "AssetPayout":
        _asset_payout(c, payout, path)


def _asset_payout(c: _Checker, payout: dict[str, Any], path: str) -> None:
    # AssetPayout: assetLeg (1..*), underlier Asset (1..1)
    c.cards(payout, path, "AssetPayout", {"assetLeg": (1, None), "underlier": (1, 1)})
    for leg, at in _items(payout, "assetLeg", path):
        # AssetLeg: settlementDate (1..1), deliveryMethod (1..1)
        obj = c.obj(leg, at, "AssetLeg")
        if obj is not None:
            c.cards(obj, at, "AssetLeg", {"settlementDate": (1, 1), "deliveryMethod": (1, 1)})
    # AssetPayout condition Quantity: priceQuantity exists
    if not _present(payout.get("priceQuantity")):
        c.add(f"{path}.priceQuantity", "AssetPayout.Quantity", "the payout needs priceQuantity")
    underlier = payout.get("underlier")
    kind = _choice(underlier) if not isinstance(underlier, list) else ""
    # AssetPayout condition UnderlierNotCash: underlier as Cash is absent
    if kind == "Cash":
        c.add(f"{path}.underlier", "AssetPayout.UnderlierNotCash",
              "the purchased (lent) asset of an AssetPayout must not be Cash")
    # AssetPayout condition SettlementCentreRequired: a Security underlier needs
    # settlementTerms.securitySettlementCentre and settlementTerms.cashSettlementCentre
    if kind == "Security":
        terms = payout.get("settlementTerms")
        terms = terms if isinstance(terms, dict) else {}
        missing = [k for k in ("securitySettlementCentre", "cashSettlementCentre")
                   if not _present(terms.get(k))]
        if missing:
            c.add(f"{path}.settlementTerms", "AssetPayout.SettlementCentreRequired",
                  "a Security underlier needs settlementTerms." + " and ".join(missing))
    for terms_doc, at in _items(payout, "settlementTerms", path):
        _settlement_terms(c, terms_doc, at)


def _settlement_terms(c: _Checker, doc: Any, path: str) -> None:
    terms = c.obj(doc, path, "SettlementTerms")
    if terms is None:
        return
    # SettlementBase: settlementType (1..1); conditions SecuritySettlementCentre and
    # CashSettlementCentre: when present, the centre is the enum value of the same name
    c.card(terms, path, "SettlementBase", "settlementType", 1, 1)
    for key, condition in (("securitySettlementCentre", "SecuritySettlementCentre"),
                           ("cashSettlementCentre", "CashSettlementCentre")):
        value = _unwrap(terms.get(key))
        if value is not None and value != condition:
            c.add(f"{path}.{key}", f"SettlementBase.{condition}",
                  f"must be {condition}, found {value!r}")


# ---- collateral ------------------------------------------------------------------------------

def _collateral(c: _Checker, doc: Any, path: str) -> None:
    coll = c.obj(doc, path, "Collateral")
    if coll is None:
        return
    has = {k: _present(coll.get(k)) for k in
           ("independentAmount", "portfolioIdentifier", "collateralPortfolio",
            "collateralProvisions")}
    # Collateral condition CollateralExists: independentAmount exists or collateralPortfolio exists
    if not (has["independentAmount"] or has["collateralPortfolio"]):
        c.add(path, "Collateral.CollateralExists",
              "needs an independentAmount or a collateralPortfolio")
    # Collateral condition CollateralProvisions: a portfolio needs provisions
    if has["collateralPortfolio"] and not has["collateralProvisions"]:
        c.add(path, "Collateral.CollateralProvisions",
              "a collateralPortfolio needs collateralProvisions")
    # Collateral condition Collateralchoice: optional choice independentAmount,
    # portfolioIdentifier, collateralPortfolio
    if sum(has[k] for k in ("independentAmount", "portfolioIdentifier",
                            "collateralPortfolio")) > 1:
        c.add(path, "Collateral.Collateralchoice", "at most one of independentAmount, "
              "portfolioIdentifier and collateralPortfolio")
    for portfolio, at in _items(coll, "collateralPortfolio", path):
        obj = c.obj(portfolio, at, "CollateralPortfolio")
        if obj is None or _is_reference(obj):
            continue
        for position, pat in _items(obj, "collateralPosition", at):
            _collateral_position(c, position, pat)
    for provisions, at in _items(coll, "collateralProvisions", path):
        obj = c.obj(provisions, at, "CollateralProvisions")
        if obj is None:
            continue
        # CollateralProvisions: collateralType (1..1)
        c.card(obj, at, "CollateralProvisions", "collateralType", 1, 1)
        for eligible, eat in _items(obj, "eligibleCollateral", at):
            # EligibleCollateralCriteria: collateralCriteria (1..1), treatment (1..1)
            crit = c.obj(eligible, eat, "EligibleCollateralCriteria")
            if crit is None:
                continue
            c.cards(crit, eat, "EligibleCollateralCriteria",
                    {"collateralCriteria": (1, 1), "treatment": (1, 1)})
            for treatment, tat in _items(crit, "treatment", eat):
                _treatment(c, treatment, tat)


def _collateral_position(c: _Checker, doc: Any, path: str) -> None:
    position = c.obj(doc, path, "CollateralPosition")
    if position is None:
        return
    # PositionBase: priceQuantity (1..*); condition ProductOrAsset: one of product, asset
    c.card(position, path, "PositionBase", "priceQuantity", 1, None)
    if _present(position.get("product")) == _present(position.get("asset")):
        c.add(path, "PositionBase.ProductOrAsset", "exactly one of product and asset")
    for treatment, at in _items(position, "treatment", path):
        _treatment(c, treatment, at)


def _treatment(c: _Checker, doc: Any, path: str) -> None:
    treatment = c.obj(doc, path, "CollateralTreatment")
    if treatment is None:
        return
    # CollateralTreatment: isIncluded (1..1)
    c.card(treatment, path, "CollateralTreatment", "isIncluded", 1, 1)
    for valuation, at in _items(treatment, "valuationTreatment", path):
        _valuation(c, valuation, at)


def _valuation(c: _Checker, doc: Any, path: str) -> None:
    valuation = c.obj(doc, path, "CollateralValuationTreatment")
    if valuation is None:
        return
    rule = "CollateralValuationTreatment."
    checks: tuple[tuple[str, str, Callable[[Decimal], bool], str], ...] = (
        # condition HaircutPercentage: 0 <= haircutPercentage < 1
        ("haircutPercentage", "HaircutPercentage", lambda x: 0 <= x < 1, "in [0, 1)"),
        # condition MarginPercentage: marginPercentage >= 1
        ("marginPercentage", "MarginPercentage", lambda x: x >= 1, "at least 1"),
        # condition FxHaircutPercentage: 0 < fxHaircutPercentage < 1
        ("fxHaircutPercentage", "FxHaircutPercentage", lambda x: 0 < x < 1, "in (0, 1)"),
        # condition AdditionalHaircutPercentage: 0 < additionalHaircutPercentage < 1
        ("additionalHaircutPercentage", "AdditionalHaircutPercentage",
         lambda x: 0 < x < 1, "in (0, 1)"),
    )
    for key, condition, ok, bounds in checks:
        if valuation.get(key) is None:
            continue
        value = _number(valuation[key])
        if value is None or not ok(value):
            c.add(f"{path}.{key}", rule + condition,
                  f"must be a number {bounds}, found {_unwrap(valuation[key])}")
    # condition HaircutPercentageOrMarginPercentage: required choice haircutPercentage,
    # marginPercentage
    if (valuation.get("haircutPercentage") is None) == (valuation.get("marginPercentage")
                                                        is None):
        c.add(path, rule + "HaircutPercentageOrMarginPercentage",
              "exactly one of haircutPercentage and marginPercentage")


# ---- legal agreements ------------------------------------------------------------------------

def _contract_details(c: _Checker, doc: Any, path: str) -> None:
    details = c.obj(doc, path, "ContractDetails")
    if details is None:
        return
    for agreement, at in _items(details, "documentation", path):
        obj = c.obj(agreement, at, "LegalAgreement")
        if obj is None or _is_reference(obj):
            continue
        # ContractDetails condition ExecutedAgreement: documentation -> agreementDate exists
        if not _present(obj.get("agreementDate")):
            c.add(f"{at}.agreementDate", "ContractDetails.ExecutedAgreement",
                  "a trade's documentation must be an executed agreement (agreementDate)")
        _legal_agreement(c, obj, at)


def _legal_agreement(c: _Checker, agreement: dict[str, Any], path: str) -> None:
    # LegalAgreementBase: legalAgreementIdentification (1..1), contractualParty (2..2)
    c.cards(agreement, path, "LegalAgreementBase",
            {"legalAgreementIdentification": (1, 1), "contractualParty": (2, 2)})
    # LegalAgreement condition AgreementType: required choice agreementTerms, umbrellaAgreement
    if _present(agreement.get("agreementTerms")) == _present(agreement.get("umbrellaAgreement")):
        c.add(path, "LegalAgreement.AgreementType",
              "exactly one of agreementTerms and umbrellaAgreement")
    for ident, at in _items(agreement, "legalAgreementIdentification", path):
        obj = c.obj(ident, at, "LegalAgreementIdentification")
        if obj is None:
            continue
        # LegalAgreementIdentification: agreementName (1..1)
        c.card(obj, at, "LegalAgreementIdentification", "agreementName", 1, 1)
        for name, nat in _items(obj, "agreementName", at):
            _agreement_name(c, name, nat)


def _agreement_name(c: _Checker, doc: Any, path: str) -> None:
    name = c.obj(doc, path, "AgreementName")
    if name is None:
        return
    # AgreementName: agreementType (1..1)
    c.card(name, path, "AgreementName", "agreementType", 1, 1)
    kind = _unwrap(name.get("agreementType"))
    has = {k: _present(name.get(k)) for k in name}
    rule = "AgreementName.AgreementType"
    # condition AgreementType, an if / else-if chain read as written: the first test that
    # holds decides, so only an agreement of type Other gets past the first branch (and then
    # masterAgreementType must be absent, since Other is not MasterAgreement)
    if kind != "Other":
        if has.get("otherAgreement"):
            c.add(path, rule, f"otherAgreement is for agreementType Other, not {kind}")
    elif has.get("masterAgreementType"):
        c.add(path, rule, "masterAgreementType is for agreementType MasterAgreement")
    # condition CreditSupportAgreement: that type needs creditSupportAgreementType
    if kind == "CreditSupportAgreement" and not has.get("creditSupportAgreementType"):
        c.add(path, "AgreementName.CreditSupportAgreement",
              "agreementType CreditSupportAgreement needs creditSupportAgreementType")
    # condition MasterConfirmation: an annex type needs a master confirmation type
    if has.get("masterConfirmationAnnexType") and not has.get("masterConfirmationType"):
        c.add(path, "AgreementName.MasterConfirmation",
              "masterConfirmationAnnexType needs masterConfirmationType")
    # condition CSAMarginType: a margin type needs a credit support agreement type
    if has.get("creditSupportAgreementMarginType") and not has.get("creditSupportAgreementType"):
        c.add(path, "AgreementName.CSAMarginType",
              "creditSupportAgreementMarginType needs creditSupportAgreementType")


# ---- transfers -------------------------------------------------------------------------------

def _transfer_state(c: _Checker, doc: Any, path: str) -> None:
    state = c.obj(doc, path, "TransferState")
    if state is None:
        return
    # TransferState: transfer (1..1)
    c.card(state, path, "TransferState", "transfer", 1, 1)
    for transfer, at in _items(state, "transfer", path):
        _transfer(c, transfer, at)


def _transfer(c: _Checker, doc: Any, path: str) -> None:
    transfer = c.obj(doc, path, "Transfer")
    if transfer is None:
        return
    kind = _choice(transfer)
    if kind in ("ScheduledTransfer", "UnscheduledTransfer", "ContingentTransfer") and \
            "@type" not in transfer and isinstance(transfer.get(kind), dict):
        transfer, path = transfer[kind], f"{path}.{kind}"
    # AssetFlowBase: quantity (1..1), asset (1..1), settlementDate (1..1); TransferBase:
    # payerReceiver PartyReferencePayerReceiver (1..1); ScheduledTransfer: transferType (1..1)
    c.cards(transfer, path, "AssetFlowBase",
            {"quantity": (1, 1), "asset": (1, 1), "settlementDate": (1, 1)})
    c.card(transfer, path, "TransferBase", "payerReceiver", 1, 1)
    if kind == "ScheduledTransfer":
        c.card(transfer, path, "ScheduledTransfer", "transferType", 1, 1)
    for pr, at in _items(transfer, "payerReceiver", path):
        obj = c.obj(pr, at, "PartyReferencePayerReceiver")
        if obj is not None:
            c.cards(obj, at, "PartyReferencePayerReceiver",
                    {"payerPartyReference": (1, 1), "receiverPartyReference": (1, 1)})


# ---- events ----------------------------------------------------------------------------------

def _business_event(c: _Checker, doc: Any, path: str) -> None:
    event = c.obj(doc, path, "BusinessEvent")
    if event is None:
        return
    # BusinessEvent condition EventDate: eventDate exists
    if not _present(event.get("eventDate")):
        c.add(f"{path}.eventDate", "BusinessEvent.EventDate", "a business event needs its date")
    _event_instruction(c, event, path)
    for state, at in _items(event, "after", path):
        _trade_state(c, state, at)
    # Not a Rosetta condition but what CDM's Create_BusinessEvent produces: an execution or
    # any other trade-changing instruction has an after trade state
    if _count(event, "instruction") and not _present(event.get("after")):
        c.add(f"{path}.after", "BusinessEvent.after",
              "a business event carries the trade state(s) its instructions create")


def _event_instruction(c: _Checker, event: dict[str, Any], path: str) -> None:
    # EventInstruction condition CorporateAction
    if _present(event.get("corporateActionIntent")) and \
            _unwrap(event.get("intent")) != "CorporateActionAdjustment":
        c.add(path, "EventInstruction.CorporateAction",
              "corporateActionIntent needs intent CorporateActionAdjustment")
    for instruction, at in _items(event, "instruction", path):
        _instruction(c, instruction, at)


def _instruction(c: _Checker, doc: Any, path: str) -> None:
    instruction = c.obj(doc, path, "Instruction")
    if instruction is None:
        return
    primitive = instruction.get("primitiveInstruction")
    primitive = primitive if isinstance(primitive, dict) else {}
    execution = _present(primitive.get("execution"))
    before = _present(instruction.get("before"))
    # Instruction condition NewTrade: an execution has no before state, and vice versa
    if execution and before:
        c.add(path, "Instruction.NewTrade", "an execution has no before trade state")
    if not execution and not before:
        c.add(path, "Instruction.NewTrade", "without an execution, the before state is needed")
    # Instruction condition ExclusiveSplitPrimitive: split only exists
    if _present(primitive.get("split")) and sum(_present(v) for v in primitive.values()) > 1:
        c.add(f"{path}.primitiveInstruction", "Instruction.ExclusiveSplitPrimitive",
              "a split cannot be combined with other primitives")
    if before:
        _trade_state(c, instruction["before"], f"{path}.before")
    if primitive:
        _primitive(c, primitive, f"{path}.primitiveInstruction")


def _primitive(c: _Checker, primitive: dict[str, Any], path: str) -> None:
    for execution, at in _items(primitive, "execution", path):
        _execution(c, execution, at)
    for change, at in _items(primitive, "quantityChange", path):
        # QuantityChangeInstruction: change (1..*), direction (1..1)
        obj = c.obj(change, at, "QuantityChangeInstruction")
        if obj is not None:
            c.cards(obj, at, "QuantityChangeInstruction",
                    {"change": (1, None), "direction": (1, 1)})
    for transfer, at in _items(primitive, "transfer", path):
        obj = c.obj(transfer, at, "TransferInstruction")
        for state, sat in _items(obj or {}, "transferState", at):
            _transfer_state(c, state, sat)
    for terms, at in _items(primitive, "termsChange", path):
        obj = c.obj(terms, at, "TermsChangeInstruction")
        # TermsChangeInstruction condition AtLeastOneOf
        if obj is not None and not any(_present(obj.get(k)) for k in
                                       ("product", "ancillaryParty", "adjustment")):
            c.add(at, "TermsChangeInstruction.AtLeastOneOf",
                  "needs a product, an ancillaryParty or an adjustment")
        for product, pat in _items(obj or {}, "product", at):
            _product(c, product, pat)
    for change, at in _items(primitive, "partyChange", path):
        # PartyChangeInstruction: counterparty (1..1), tradeId (1..*)
        obj = c.obj(change, at, "PartyChangeInstruction")
        if obj is not None:
            c.cards(obj, at, "PartyChangeInstruction",
                    {"counterparty": (1, 1), "tradeId": (1, None)})
    for split, at in _items(primitive, "split", path):
        # SplitInstruction: breakdown (1..*)
        obj = c.obj(split, at, "SplitInstruction")
        if obj is not None:
            c.card(obj, at, "SplitInstruction", "breakdown", 1, None)
            for branch, bat in _items(obj, "breakdown", at):
                if isinstance(branch, dict):
                    _primitive(c, branch, bat)
    for formation, at in _items(primitive, "contractFormation", path):
        obj = c.obj(formation, at, "ContractFormationInstruction")
        # ContractFormationInstruction condition ExecutedAgreements
        for agreement, aat in _items(obj or {}, "legalAgreement", at):
            if isinstance(agreement, dict) and not _present(agreement.get("agreementDate")):
                c.add(aat, "ContractFormationInstruction.ExecutedAgreements",
                      "a formed contract's legal agreement needs its agreementDate")


def _execution(c: _Checker, doc: Any, path: str) -> None:
    execution = c.obj(doc, path, "ExecutionInstruction")
    if execution is None:
        return
    # ExecutionInstruction: product (1..1), priceQuantity (1..*), counterparty (2..2),
    # parties (2..*), executionDetails (1..1), tradeDate (1..1), tradeIdentifier (1..*)
    c.cards(execution, path, "ExecutionInstruction", {
        "product": (1, 1), "priceQuantity": (1, None), "counterparty": (2, 2),
        "parties": (2, None), "executionDetails": (1, 1), "tradeDate": (1, 1),
        "tradeIdentifier": (1, None)})
    _counterparties(c, execution, path)
    for party, at in _items(execution, "parties", path):
        _party(c, party, at)
    for ident, at in _items(execution, "tradeIdentifier", path):
        _identifier(c, ident, at, "TradeIdentifier")
    for product, at in _items(execution, "product", path):
        _product(c, product, at)
    for details, at in _items(execution, "executionDetails", path):
        obj = c.obj(details, at, "ExecutionDetails")
        if obj is None:
            continue
        # ExecutionDetails: executionType (1..1); condition ExecutionVenue
        c.card(obj, at, "ExecutionDetails", "executionType", 1, 1)
        if _unwrap(obj.get("executionType")) == "Electronic" and \
                not _present(obj.get("executionVenue")):
            c.add(at, "ExecutionDetails.ExecutionVenue",
                  "an Electronic execution needs its executionVenue")


def _workflow_step(c: _Checker, doc: Any, path: str) -> None:
    step = c.obj(doc, path, "WorkflowStep")
    if step is None:
        return
    # WorkflowStep: timestamp (1..*), eventIdentifier (1..*)
    c.cards(step, path, "WorkflowStep", {"timestamp": (1, None), "eventIdentifier": (1, None)})
    has = {k: _present(step.get(k)) for k in ("businessEvent", "proposedEvent", "rejected",
                                              "counterpartyPositionBusinessEvent",
                                              "previousWorkflowStep")}
    next_instruction = isinstance(step.get("nextEvent"), dict) and _present(
        step["nextEvent"].get("instruction"))
    # WorkflowStep condition WorkflowStepStatus
    if not ((has["businessEvent"] and not next_instruction and not has["rejected"])
            or (next_instruction and not has["businessEvent"] and not has["rejected"])
            or (has["rejected"] and not has["businessEvent"] and not _present(
                step.get("nextEvent")))
            or (has["proposedEvent"] and not _present(step.get("nextEvent"))
                and not has["rejected"])
            or (has["previousWorkflowStep"] and _unwrap(step.get("action")) == "Cancel")):
        c.add(path, "WorkflowStep.WorkflowStepStatus",
              "a step is accepted (businessEvent), proposed, next-event, rejected or a cancel")
    # condition CounterpartyPositionBusinessEventOrBusinessEventOrProposedEventChoice
    if sum(has[k] for k in ("counterpartyPositionBusinessEvent", "businessEvent",
                            "proposedEvent")) != 1:
        c.add(path, "WorkflowStep.CounterpartyPositionBusinessEventOrBusinessEventOr"
              "ProposedEventChoice",
              "exactly one of counterpartyPositionBusinessEvent, businessEvent, proposedEvent")
    for ident, at in _items(step, "eventIdentifier", path):
        _identifier(c, ident, at, "Identifier")
    for event, at in _items(step, "businessEvent", path):
        _business_event(c, event, at)
    for proposed, at in _items(step, "proposedEvent", path):
        obj = c.obj(proposed, at, "EventInstruction")
        if obj is not None:
            _event_instruction(c, obj, at)


def _workflow(c: _Checker, doc: Any, path: str) -> None:
    workflow = c.obj(doc, path, "Workflow")
    if workflow is None:
        return
    # Workflow: steps (1..*)
    c.card(workflow, path, "Workflow", "steps", 1, None)
    for step, at in _items(workflow, "steps", path):
        _workflow_step(c, step, at)


def _event_input(c: _Checker, doc: Any, path: str) -> None:
    """An EventInstruction (the CDM samples' function inputs)."""
    event = c.obj(doc, path, "EventInstruction")
    if event is not None:
        _event_instruction(c, event, path)


def _return_input(c: _Checker, doc: Any, path: str) -> None:
    """The sample return workflows' input: a trade state, a return instruction and a date."""
    obj = c.obj(doc, path, "ReturnInput")
    if obj is None:
        return
    for state, at in _items(obj, "tradeState", path):
        _trade_state(c, state, at)
    for ret, at in _items(obj, "returnInstruction", path):
        # ReturnInstruction: quantity (1..*)
        inner = c.obj(ret, at, "ReturnInstruction")
        if inner is not None:
            c.card(inner, at, "ReturnInstruction", "quantity", 1, None)


# ---- invoices --------------------------------------------------------------------------------

def _invoice(c: _Checker, doc: Any, path: str) -> None:
    invoice = c.obj(doc, path, "SecurityLendingInvoice")
    if invoice is None:
        return
    # SecurityLendingInvoice: sendingParty, receivingParty, billingStartDate, billingEndDate
    # (1..1), billingRecord (1..*), billingSummary (1..*)
    c.cards(invoice, path, "SecurityLendingInvoice", {
        "sendingParty": (1, 1), "receivingParty": (1, 1), "billingStartDate": (1, 1),
        "billingEndDate": (1, 1), "billingRecord": (1, None), "billingSummary": (1, None)})
    for key in ("sendingParty", "receivingParty"):
        for party, at in _items(invoice, key, path):
            _party(c, party, at)
    for record, at in _items(invoice, "billingRecord", path):
        obj = c.obj(record, at, "BillingRecord")
        if obj is None:
            continue
        # BillingRecord: tradeState, recordTransfer, recordStartDate, recordEndDate (1..1)
        c.cards(obj, at, "BillingRecord", {"tradeState": (1, 1), "recordTransfer": (1, 1),
                                           "recordStartDate": (1, 1), "recordEndDate": (1, 1)})
        for state, sat in _items(obj, "tradeState", at):
            _trade_state(c, state, sat)
        for transfer, tat in _items(obj, "recordTransfer", at):
            _transfer(c, transfer, tat)
    for summary, at in _items(invoice, "billingSummary", path):
        _billing_summary(c, summary, at)


def _billing_instruction(c: _Checker, doc: Any, path: str) -> None:
    instruction = c.obj(doc, path, "BillingInstruction")
    if instruction is None:
        return
    # BillingInstruction: sendingParty, receivingParty, billingStartDate, billingEndDate (1..1),
    # billingRecordInstruction (1..*)
    c.cards(instruction, path, "BillingInstruction", {
        "sendingParty": (1, 1), "receivingParty": (1, 1), "billingStartDate": (1, 1),
        "billingEndDate": (1, 1), "billingRecordInstruction": (1, None)})
    for record, at in _items(instruction, "billingRecordInstruction", path):
        obj = c.obj(record, at, "BillingRecordInstruction")
        if obj is None:
            continue
        # BillingRecordInstruction: tradeState (1..1), observation (1..*), recordStartDate,
        # recordEndDate, settlementDate (1..1)
        c.cards(obj, at, "BillingRecordInstruction", {
            "tradeState": (1, 1), "observation": (1, None), "recordStartDate": (1, 1),
            "recordEndDate": (1, 1), "settlementDate": (1, 1)})
        for state, sat in _items(obj, "tradeState", at):
            _trade_state(c, state, sat)


def _billing_summary(c: _Checker, doc: Any, path: str) -> None:
    summary = c.obj(doc, path, "BillingSummary")
    if summary is None:
        return
    # BillingSummary: summaryAmountType (1..1)
    c.card(summary, path, "BillingSummary", "summaryAmountType", 1, 1)
    kind = _unwrap(summary.get("summaryAmountType"))
    transfer = summary.get("summaryTransfer")
    inner = transfer if isinstance(transfer, dict) else {}
    pr = inner.get("payerReceiver")
    pr = pr if isinstance(pr, dict) else {}
    if kind == "GrandTotal" and (transfer is None or _present(pr)):
        # condition GrandTotal: summaryTransfer exists and its payerReceiver is absent
        c.add(path, "BillingSummary.GrandTotal",
              "a GrandTotal has a summaryTransfer without payerReceiver")
    if kind == "ParentTotal" and (not _present(pr) or _present(pr.get("payerAccountReference"))
                                  or _present(pr.get("receiverAccountReference"))):
        # condition ParentTotal: payerReceiver exists, without account references
        c.add(path, "BillingSummary.ParentTotal",
              "a ParentTotal's summaryTransfer has a payerReceiver without account references")
    if kind == "AccountTotal" and not (_present(pr.get("payerAccountReference"))
                                       and _present(pr.get("receiverAccountReference"))):
        # condition AccountTotal: both account references exist
        c.add(path, "BillingSummary.AccountTotal",
              "an AccountTotal's summaryTransfer names both accounts")
    if transfer is not None:
        _transfer(c, transfer, f"{path}.summaryTransfer")


_CHECKS: dict[str, Callable[[_Checker, Any, str], None]] = {
    "TradeState": _trade_state,
    "Trade": _trade,
    "BusinessEvent": _business_event,
    "WorkflowStep": _workflow_step,
    "Workflow": _workflow,
    "SecurityLendingInvoice": _invoice,
    "BillingInstruction": _billing_instruction,
    "ExecutionInstruction": _execution,
    "EventInstruction": _event_input,
    "ReturnInput": _return_input,
}

__all__ = ["Violation", "root_type", "violations"]
