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
from tanpo.client.models import (
    BUSINESS_TZ,
    Agreement,
    Terms,
    Token,
    decimal_string,
    exact_string,
)

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
#: The issuer of a trade identifier carrying the parties' own reference (``Terms.reference``).
REFERENCE_ISSUER = "tanpo:reference"
FEE_KEY, REBATE_KEY, SPREAD_KEY, INDEX_KEY = "LendingFee-1", "RebateRate-1", "Spread-1", "Index-1"
#: tanpo day count → CDM dayCountFraction
DAY_COUNT_FRACTIONS = {"ACT/365F": "ACT/365.FIXED", "ACT/360": "ACT/360"}


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

    extras = dict(terms.cdm_extras or {})
    loan_pq: Json = {"quantity": {"@key:scoped": LOAN_QUANTITY_KEY,
                                  **quantity_json(terms.loan_quantity, loan)},
                     "observable": asset_json(loan)}
    lot = [loan_pq]
    payout: Json = {
        "@type": _PAYOUT_TYPE,
        "payerReceiver": {"payer": "Party2", "receiver": "Party1"},
        "priceQuantity": {"quantitySchedule": {"@ref:scoped": LOAN_QUANTITY_KEY}},
        "assetLeg": extras.pop("assetLeg", None) or derived_asset_legs(terms.start_date,
                                                                       terms.end_date),
        "underlier": asset_json(loan),
    }
    prices = _loan_prices(terms, extras)
    if prices:
        loan_pq["price"] = prices
        keys = [p["@key:scoped"] for p in prices if "@key:scoped" in p]
        if keys:
            payout["priceQuantity"]["priceSchedule"] = [{"@ref:scoped": k} for k in keys]
    minimum = extras.pop("minimumFee", None)
    if terms.fee is not None and terms.fee.minimum:
        minimum = money_json(terms.fee.minimum, terms.base_currency)
    if minimum is not None:
        payout["minimumFee"] = minimum
    if "dividendTerms" in extras:
        payout["dividendTerms"] = extras.pop("dividendTerms")
    trade_type = extras.pop("tradeType", None)
    if trade_type is not None:
        payout["tradeType"] = trade_type
    if loan.kind == "ST":
        payout.setdefault("tradeType", "SecurityLending")
        # AssetPayout condition SettlementCentreRequired: the ledger settles both the security
        # and the cash (roles, not named centres: the enum values the condition asks for)
        payout["settlementTerms"] = dict(SETTLEMENT_TERMS)
    if "settlementTerms" in extras:
        payout["settlementTerms"] = extras.pop("settlementTerms")

    # One eligible-collateral entry: the haircut α as haircutPercentage. CDM's marginPercentage
    # is a collateralisation ratio r (1.02 = post 102 %), not tanpo's threshold β; tanpo's α
    # and r are the same requirement (α = 1 − 1/r), so only α is written, and β goes to the
    # extension.
    provisions: Json = {
        "collateralType": "Cash" if all_cash else "NonCash",
        "eligibleCollateral": [
            {"collateralCriteria": _criteria([t for _, t in legs]),
             "treatment": {"valuationTreatment": valuation_json(terms.haircut),
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
                "valuationTreatment": valuation_json(leg.haircut),
                "isIncluded": True,
            }
        positions.append(position)
    rebate_on = next((i for i, (_, t) in enumerate(legs) if t.kind == "CT"), None)
    if terms.rebate is not None:
        if rebate_on is None:
            raise ValueError("a rebate is paid on cash collateral: the terms have no cash leg to "
                             "write it on as CDM")
        leg_token = legs[rebate_on][1]
        positions[rebate_on] = {
            "priceQuantity": positions[rebate_on]["priceQuantity"],
            "product": {"@type": "cdm.product.template.TransferableProduct",
                        "asset": positions[rebate_on].pop("asset"),
                        "economicTerms": _rebate_terms(terms, leg_token, extras, lot)},
            **{k: v for k, v in positions[rebate_on].items() if k == "treatment"},
        }

    economic: Json = {"effectiveDate": _adjustable(terms.start_date)}
    if terms.end_date is not None:
        economic["terminationDate"] = _adjustable(terms.end_date)
    economic["payout"] = [payout]
    portfolio: Json = {"collateralPosition": positions} if positions else {}
    if terms.schedule_id:
        portfolio["portfolioIdentifier"] = extras.pop("portfolioIdentifier", None) or (
            derived_portfolio(terms.schedule_id))
    economic["collateral"] = {
        "collateralPortfolio": [portfolio],
        "collateralProvisions": provisions,
    }
    for key in ("loanValue",):
        if key in extras:
            lot.append({"quantity": extras.pop(key)})
    product: Json = {"economicTerms": economic}
    if loan.kind == "ST":
        taxonomy = {"source": "ISDA", "value": {"name": {"@data": "SecurityLending"}}}
        product = {"taxonomy": [taxonomy], **product}

    trade: Json = {}
    identifiers = list(extras.pop("tradeIdentifier", None) or [])
    if terms.reference and not identifiers:
        identifiers.append({"issuer": {"@data": REFERENCE_ISSUER},
                            "assignedIdentifier": [{"identifier": {"@data": terms.reference}}]})
    if terms.id:
        identifiers.insert(0, {
            "issuer": {"@data": TRADE_ID_ISSUER},
            "assignedIdentifier": [{"identifier": {"@data": terms.id}}],
        })
    if identifiers:
        trade["tradeIdentifier"] = identifiers
    parties = [party_json(terms.lender), party_json(terms.borrower)]
    roles = [{"partyReference": {"@ref:external": terms.lender}, "role": "Lender"},
             {"partyReference": {"@ref:external": terms.borrower}, "role": "Borrower"}]
    lender_key = terms.lender
    principal = extras.pop("principal", None)
    if isinstance(principal, dict) and isinstance(principal.get("@key:external"), str):
        # the lender's tanpo party lends as agent for this principal (a fund)
        lender_key = principal["@key:external"]
        parties.insert(0, principal)
        roles = [{"partyReference": {"@ref:external": lender_key}, "role": "Lender"},
                 {"partyReference": {"@ref:external": terms.lender}, "role": "AgentLender"},
                 roles[1]]
    trade.update({
        "tradeDate": {"@data": terms.trade_date.isoformat()},
        "party": parties,
        "partyRole": roles,
        "counterparty": [
            {"role": "Party1", "partyReference": {"@ref:external": lender_key}},
            {"role": "Party2", "partyReference": {"@ref:external": terms.borrower}},
        ],
        "product": product,
        "tradeLot": [{"priceQuantity": lot}],
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
        **tanpo_only(terms),
    }
    # the exact α where CDM's percentage could only round it
    if _rounded(terms.haircut):
        doc[EXTENSION]["haircut"] = exact_string(terms.haircut)
    exact = {leg.token: exact_string(leg.haircut) for leg in terms.collateral
             if leg.haircut is not None and _rounded(leg.haircut)}
    if exact:
        doc[EXTENSION]["tokenHaircuts"] = exact
    if extras:  # what has no place in the document above, kept for the next import
        doc[EXTENSION]["cdmExtras"] = extras
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


def derived_asset_legs(start: date, end: date | None) -> list[Json]:
    """The asset legs an export writes for the dates alone (no CDM record to give them back)."""
    return [_asset_leg(day) for day in (start, end) if day is not None]


def derived_portfolio(schedule_id: str) -> Json:
    return {"assignedIdentifier": [{"identifier": {"@data": schedule_id}}]}


def valuation_json(haircut: Fraction) -> Json:
    """A haircut α as CDM's valuation treatment: ``haircutPercentage`` α when it is a finite
    decimal; else ``marginPercentage`` r = 1/(1 − α) when that one is (α = 1/51 is r = 1.02);
    else α rounded to 10 places, the exact α then in the extension."""
    try:
        return {"haircutPercentage": Decimal(decimal_string(haircut))}
    except ValueError:
        pass
    try:
        return {"marginPercentage": Decimal(decimal_string(1 / (1 - haircut)))}
    except ValueError:
        return {"haircutPercentage": round(Decimal(haircut.numerator) / haircut.denominator, 10)}


def _rounded(haircut: Fraction) -> bool:
    """Whether `valuation_json` can only round the haircut."""
    value = valuation_json(haircut)
    return "marginPercentage" not in value and Fraction(value["haircutPercentage"]) != haircut


def tanpo_only(terms: Terms) -> Json:
    """The extension's part for terms CDM has no field for, as the terms JSON writes them."""
    full = terms.to_json()
    out: Json = {key: full[key] for key in ("noticeDays", "substitutionPreAuthorised",
                                             "noEarlyReturn", "schedule") if key in full}
    if terms.day_count and terms.rebate is None:  # with a rebate, its leg carries it
        out["dayCount"] = terms.day_count
    return out


#: decimal places of an amount with no finite decimal form (a day count's 1/365), rounded there
MONEY_PLACES = 10


def money_json(x: Fraction, currency: str) -> Json:
    """An amount as CDM Money: exact when it has a finite decimal form, else rounded."""
    try:
        value = Decimal(decimal_string(x))
    except ValueError:
        value = Decimal(decimal_string(Fraction(round(x * 10**MONEY_PLACES), 10**MONEY_PLACES)))
    return {"value": value, "unit": {"currency": {"@data": currency}}}


def _rate_price(key: str, rate: Fraction, currency: str) -> Json:
    """A per-annum rate (a fraction: 0.01 = 1 %) as a CDM InterestRate price."""
    return {"@key:scoped": key, "value": Decimal(decimal_string(rate)),
            "unit": {"currency": {"@data": currency}},
            "perUnitOf": {"currency": {"@data": currency}}, "priceType": "InterestRate"}


def _loan_prices(terms: Terms, extras: dict[str, object]) -> list[Json]:
    """The loan's prices: the lending fee (an InterestRate) and the trade price (kept)."""
    prices: list[Json] = []
    if terms.fee is not None and terms.fee.bps:
        prices.append(_rate_price(FEE_KEY, terms.fee.bps / 10000, terms.base_currency))
    price = extras.pop("price", None)
    if isinstance(price, dict):
        prices.append(price)
    return prices


def _rebate_terms(terms: Terms, cash: Token, extras: dict[str, object], lot: list[Json]) -> Json:
    """The cash collateral's economic terms: the rebate, an InterestRatePayout the lender pays."""
    rebate = terms.rebate
    assert rebate is not None
    payout: Json = {"@type": "cdm.product.asset.InterestRatePayout",
                    "payerReceiver": {"payer": "Party1", "receiver": "Party2"}}
    if rebate.fixed is not None:
        lot.append({"price": [_rate_price(REBATE_KEY, rebate.fixed / 100, cash.currency)]})
        payout["rateSpecification"] = {"@type": "cdm.product.asset.FixedRateSpecification",
                                       "rateSchedule": {"price": {"@ref:scoped": REBATE_KEY}}}
    else:
        index = {"@type": "cdm.observable.asset.FloatingRateIndex",
                 "floatingRateIndex": {"@data": f"{cash.currency}-{rebate.benchmark}"},
                 "assetClass": "InterestRate"}
        pq: Json = {"observable": {"@data": {"@type": "cdm.observable.asset.InterestRateIndex",
                                             "@key:scoped": INDEX_KEY, "@data": index}}}
        spec: Json = {"@type": "cdm.product.asset.FloatingRateSpecification",
                      "rateOption": {"@ref:scoped": INDEX_KEY}}
        if rebate.spread_bps:
            spread = _rate_price(SPREAD_KEY, rebate.spread_bps / 10000, cash.currency)
            pq["price"] = [{**spread, "arithmeticOperator": "Add"}]
            spec["spreadSchedule"] = {"price": {"@ref:scoped": SPREAD_KEY}}
        lot.append(pq)
        payout["rateSpecification"] = spec
    if terms.day_count:
        payout["dayCountFraction"] = {"@data": DAY_COUNT_FRACTIONS[terms.day_count]}
    schedule = extras.pop("rebateSchedule", None)
    if isinstance(schedule, dict):
        payout.update(schedule)
    economic: Json = {}
    dates = extras.pop("rebateDates", None)
    if isinstance(dates, dict):
        economic.update(dates)
    economic["payout"] = [payout]
    return economic

