"""Terms and agreements written as a CDM TradeState (the mapping is in the package's notes).

What the export writes passes the CDM rules of `tanpo.client.cdm.rules` (zero violations) but one:
a cash loan (a CT loan leg) is an ``AssetPayout`` on ``Cash``, which breaks its condition
``UnderlierNotCash`` (CDM would model it as a repo of the collateral security, which tanpo's terms
do not describe). Three choices follow from the rules:

- the haircut α is the only valuation treatment (``haircutPercentage``); CDM's
  ``marginPercentage`` is a collateralisation ratio r, the same requirement as α (α = 1 − 1/r),
  and tanpo's threshold β (the margin call trigger band) has no CDM field: it is the extension's
  ``threshold`` (a decimal string);
- a security loan's payout has ``settlementTerms`` naming the settlement-centre roles
  (``SettlementCentreRequired``);
- the master agreement is named in the extension (``masterAgreement``), not as
  ``contractDetails.documentation``: a CDM ``LegalAgreement`` must carry its terms (elections)
  or an umbrella agreement (its condition ``AgreementType``), which tanpo does not hold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from tanpo.client.cdm.jsontext import (
    CDM_VERSION,
    EXTENSION,
    EXTENSION_SCHEMA,
    LOAN_QUANTITY_KEY,
    PARTY_SCHEME,
    TOKEN_SCHEME,
    TRADE_ID_ISSUER,
    Json,
)
from tanpo.client.models import BUSINESS_TZ, Agreement, Terms, Token, decimal_string

_ASSET_TYPES = "cdm.base.staticdata.asset.common."
#: The settlement terms of a security loan's payout: settled on the ledger, both legs.
SETTLEMENT_TERMS: Json = {"settlementType": "Physical",
                          "securitySettlementCentre": "SecuritySettlementCentre",
                          "cashSettlementCentre": "CashSettlementCentre"}
#: The master agreement tanpo's agreements are made under, named in the extension: CDM's
#: ``contractDetails.documentation`` is a LegalAgreement, which must carry the agreement's terms
#: (its condition AgreementType: agreementTerms or umbrellaAgreement), elections tanpo does not
#: hold.
MASTER_AGREEMENT = "ISLA GMSLA"
_PAYOUT_TYPE = "cdm.product.template.AssetPayout"


def agreement_to_cdm(agreement: Agreement, tokens: Mapping[str, Token]) -> Json:
    """An agreement (terms and status) as a CDM TradeState with the tanpo extension."""
    terms = agreement.terms if agreement.terms.id else _with_id(agreement.terms, agreement.id)
    closed_on, reason = _closing(agreement)
    return terms_to_cdm(terms, tokens, agreement.status, closed_on, reason)


def terms_to_cdm(terms: Terms, tokens: Mapping[str, Token], status: str = "",
                 closed_on: date | None = None, close_reason: str = "") -> Json:
    """Terms as a CDM TradeState. ``tokens`` must define the loan and every collateral token."""
    if terms.trade_date is None or terms.start_date is None:
        raise ValueError("terms need a trade date and a start date to be written as CDM")
    loan = _token(tokens, terms.loan_token, "the loan")
    legs = [(leg, _token(tokens, leg.token, "collateral")) for leg in terms.collateral]
    all_cash = all(t.kind == "CT" for _, t in legs)

    asset_legs = [_asset_leg(terms.start_date)]
    if terms.end_date is not None:
        asset_legs.append(_asset_leg(terms.end_date))
    payout: Json = {
        "@type": _PAYOUT_TYPE,
        "payerReceiver": {"payer": "Party2", "receiver": "Party1"},
        "priceQuantity": {"quantitySchedule": {"@ref:scoped": LOAN_QUANTITY_KEY}},
        "assetLeg": asset_legs,
        "underlier": asset_json(loan),
    }
    if loan.kind == "ST":
        payout["tradeType"] = "SecurityLending"
        # AssetPayout condition SettlementCentreRequired: the ledger settles both the security
        # and the cash (roles, not named centres: the enum values the condition asks for)
        payout["settlementTerms"] = dict(SETTLEMENT_TERMS)

    # One eligible-collateral entry: the haircut α as haircutPercentage. CDM's marginPercentage
    # is a collateralisation ratio r (1.02 = post 102 %), not tanpo's threshold β; tanpo's α
    # and r are the same requirement (α = 1 − 1/r), so only α is written, and β goes to the
    # extension.
    provisions: Json = {
        "collateralType": "Cash" if all_cash else "NonCash",
        "eligibleCollateral": [
            {"collateralCriteria": _criteria([t for _, t in legs]),
             "treatment": {"valuationTreatment": {"haircutPercentage": _number(terms.haircut)},
                           "isIncluded": True}},
        ],
    }
    positions = []
    for leg, token in legs:
        position: Json = {
            "priceQuantity": [{"quantity": quantity_json(leg.quantity, token)}],
            "asset": asset_json(token),
        }
        if leg.haircut is not None:
            position["treatment"] = {
                "valuationTreatment": {"haircutPercentage": _number(leg.haircut)},
                "isIncluded": True,
            }
        positions.append(position)

    economic: Json = {"effectiveDate": _adjustable(terms.start_date)}
    if terms.end_date is not None:
        economic["terminationDate"] = _adjustable(terms.end_date)
    economic["payout"] = [payout]
    economic["collateral"] = {
        "collateralPortfolio": [{"collateralPosition": positions}],
        "collateralProvisions": provisions,
    }
    product: Json = {"economicTerms": economic}
    if loan.kind == "ST":
        taxonomy = {"source": "ISDA", "value": {"name": {"@data": "SecurityLending"}}}
        product = {"taxonomy": [taxonomy], **product}

    loan_quantity = quantity_json(terms.loan_quantity, loan)
    trade: Json = {}
    if terms.id:
        trade["tradeIdentifier"] = [{
            "issuer": {"@data": TRADE_ID_ISSUER},
            "assignedIdentifier": [{"identifier": {"@data": terms.id}}],
        }]
    trade.update({
        "tradeDate": {"@data": terms.trade_date.isoformat()},
        "party": [party_json(terms.lender), party_json(terms.borrower)],
        "partyRole": [
            {"partyReference": {"@ref:external": terms.lender}, "role": "Lender"},
            {"partyReference": {"@ref:external": terms.borrower}, "role": "Borrower"},
        ],
        "counterparty": [
            {"role": "Party1", "partyReference": {"@ref:external": terms.lender}},
            {"role": "Party2", "partyReference": {"@ref:external": terms.borrower}},
        ],
        "product": product,
        "tradeLot": [{"priceQuantity": [{
            "quantity": {"@key:scoped": LOAN_QUANTITY_KEY, **loan_quantity},
            "observable": asset_json(loan),
        }]}],
    })
    doc: Json = {"@model": "cdm", "@type": "cdm.event.common.TradeState",
                 "@version": CDM_VERSION, "trade": trade}
    state = _state(status, closed_on, close_reason)
    if state:
        doc["state"] = state
    doc[EXTENSION] = {
        "schema": EXTENSION_SCHEMA,
        "collateralPriority": [leg.token for leg in terms.collateral],
        "adjustmentMode": terms.mode,
        "settlementLagDays": terms.settlement_lag_days,
        "autoIssue": terms.auto_issue,
        "minimumTransferAmount": decimal_string(terms.minimum_transfer_amount),
        "baseCurrency": terms.base_currency,
        "threshold": decimal_string(terms.threshold),
        "masterAgreement": MASTER_AGREEMENT,
    }
    return doc


def _with_id(terms: Terms, agreement_id: str) -> Terms:
    from dataclasses import replace

    return replace(terms, id=agreement_id)


#: Close reasons (the chaincode's) that end a loan at its term: CDM's closed state Matured. The
#: others (early-termination, returned, buy-in) end it before: Terminated.
MATURITY_REASONS = ("maturity", "end-date")


def close_reason(note: str) -> str:
    """The reason of a CLOSED history entry: its note up to the first colon."""
    return note.split(":", 1)[0].strip()


def business_date(timestamp: str) -> date | None:
    """The business date (the platform's default zone) of a ledger timestamp."""
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(BUSINESS_TZ).date()


def _closing(agreement: Agreement) -> tuple[date | None, str]:
    for entry in reversed(agreement.history):
        if entry.action == "CLOSED":
            return business_date(entry.timestamp), close_reason(entry.note)
    return None, ""


def _state(status: str, closed_on: date | None, reason: str) -> Json:
    if status in ("ACTIVE", "MATURED"):  # MATURED: past maturity, the loan still out
        return {"positionState": "Settled"}
    if status in ("REJECTED", "WITHDRAWN"):
        return {"positionState": "Cancelled"}
    if status == "CLOSED" and closed_on is not None:
        return {"positionState": "Closed",
                "closedState": {"state": "Matured" if reason in MATURITY_REASONS
                                else "Terminated",
                                "activityDate": closed_on.isoformat()}}
    return {}


def _token(tokens: Mapping[str, Token], token_id: str, what: str) -> Token:
    try:
        return tokens[token_id]
    except KeyError:
        raise ValueError(f"{what} token {token_id} is not defined on the ledger") from None


def _security_type(token: Token) -> str:
    asset_class = token.asset_class.lower()
    if token.quote_convention == "percent-of-par" or any(
            word in asset_class for word in ("bond", "debt", "bill", "note")):
        return "Debt"
    if "fund" in asset_class or "etf" in asset_class:
        return "Fund"
    return "Equity"


def _identifier(value: str, kind: str, scheme: str = "") -> Json:
    ident: Json = {"@data": value}
    if scheme:
        ident["@scheme"] = scheme
    return {"identifier": ident, "identifierType": kind}


def asset_json(token: Token) -> Json:
    """A token as a CDM Asset: Cash (a CT) or Security (an ST), with its identifiers."""
    own = _identifier(token.id, "Other", TOKEN_SCHEME)
    if token.kind == "CT":
        return {"@type": _ASSET_TYPES + "Cash",
                "identifier": [_identifier(token.currency, "CurrencyCode"), own],
                "assetType": "Cash"}
    identifiers = [own]
    if token.isin:
        identifiers.append(_identifier(token.isin, "ISIN"))
    if token.ticker:
        identifiers.append(_identifier(token.ticker, "ExchangeCode"))
    return {"@type": _ASSET_TYPES + "Security", "identifier": identifiers,
            "assetType": "Security", "securityType": _security_type(token)}


def _criteria(tokens: Sequence[Token]) -> Json:
    each = [{"AssetIdentifier": _identifier(t.id, "Other", TOKEN_SCHEME)} for t in tokens]
    return each[0] if len(each) == 1 else {"AnyCriteria": {"anyCriteria": each}}


def quantity_json(quantity: int, token: Token) -> Json:
    """A quantity of a token with its CDM unit."""
    # Shares count in units; cash and bonds (face amount) in their currency.
    if token.kind == "ST" and token.quote_convention != "percent-of-par":
        return {"value": quantity, "unit": {"financialUnit": "Share"}}
    return {"value": quantity, "unit": {"currency": {"@data": token.currency}}}


def _adjustable(day: date) -> Json:
    return {"adjustableDate": {"unadjustedDate": day.isoformat()}}


def _asset_leg(day: date) -> Json:
    return {"settlementDate": _adjustable(day), "deliveryMethod": "FreeOfPayment"}


def party_json(party: str) -> Json:
    return {"@key:external": party,
            "partyId": [{"identifier": {"@data": party, "@scheme": PARTY_SCHEME}}],
            "name": {"@data": party}}


def _number(x: Fraction) -> Decimal:
    return Decimal(decimal_string(x))


