"""tanpo agreements as ISDA/ISLA Common Domain Model (CDM) JSON, both ways.

`agreement_to_cdm` writes an agreement as a CDM ``TradeState`` (CDM 7 structure, the ``@type`` /
``@data`` / ``@key`` JSON form of the CDM's own sample files); `terms_from_cdm` reads such a
document back into `Terms`, refusing what it cannot map with a `CdmError` that names the JSON path
and what was expected. Export then import reproduces the same terms.

Mapping (paths below ``trade.``; ``ET`` = ``product.economicTerms``, ``C`` = ``ET.collateral``):

=========================  ========================================================================
tanpo term                 CDM
=========================  ========================================================================
id                         ``tradeIdentifier[issuer "tanpo"].assignedIdentifier[0].identifier``
lender                     ``party[]`` (partyId scheme ``tanpo:party``) with ``partyRole`` Lender
                           and ``counterparty`` Party1
borrower                   the same with ``partyRole`` Borrower and ``counterparty`` Party2
tradeDate                  ``tradeDate``
startDate                  ``ET.effectiveDate.adjustableDate.unadjustedDate`` (and the near
                           ``assetLeg``'s settlement date)
endDate                    ``ET.terminationDate.adjustableDate.unadjustedDate``; absent = open
                           (and the far ``assetLeg``)
loan token                 ``ET.payout[0]``, an ``AssetPayout`` (payer Party2 = borrower, receiver
                           Party1 = lender): its ``underlier`` is a ``Security`` (an ST) or
                           ``Cash`` (a CT) identified by the tanpo token id (``identifierType``
                           Other, scheme ``tanpo:token``) and, when defined, its ISIN, ticker
                           (ExchangeCode) or currency (CurrencyCode)
loan quantity              ``tradeLot[0].priceQuantity[0].quantity`` (referenced by the payout's
                           ``priceQuantity.quantitySchedule``)
collateral legs            ``C.collateralPortfolio[0].collateralPosition[i]``: ``asset`` and
                           ``priceQuantity[0].quantity``, in priority order
per-token haircut          ``collateralPosition[i].treatment.valuationTreatment.haircutPercentage``
collateral kind            ``C.collateralProvisions.collateralType``: Cash (all CTs) or NonCash
haircut α                  ``C.collateralProvisions.eligibleCollateral[0]`` (criteria: the
                           collateral tokens) ``.treatment.valuationTreatment.haircutPercentage``
threshold β                ``C.collateralProvisions.eligibleCollateral[1]``
                           ``.treatment.valuationTreatment.marginPercentage`` = **1 + β**
legal agreement            ``contractDetails.documentation[0]``: MasterAgreement GMSLA (ISLA)
status                     ``state.positionState`` (export only)
=========================  ========================================================================

Two CDM rules shape the haircut and threshold: ``haircutPercentage`` and ``marginPercentage`` are a
*required choice* in one ``CollateralValuationTreatment`` (hence two eligible-collateral entries),
and ``marginPercentage`` must be at least 1 (a margin ratio: 1.02 = 102 %), hence 1 + β. Note that
CDM means a collateralisation ratio there, while tanpo's β is the tolerance band of the margin call
trigger (``|g| > β·V_L``); readers outside tanpo should take it as documented here.

**The tanpo extension.** What CDM has no field for lives in one object at the document root,
``"tanpoExtension"`` (the only key that is not CDM; drop it before handing the document to a strict
CDM reader): ``collateralPriority`` (the token ids CT1…CTn), ``adjustmentMode`` (single | multi),
``settlementLagDays``, ``autoIssue``, ``minimumTransferAmount`` (a decimal string) and
``baseCurrency`` (the valuation currency). Without it, an import takes the positions' order as the
priority, lag 0, no auto-issue, MTA 0 and the loan token's currency as the base; the mode is single
with one collateral token, and a trade with several is refused without ``adjustmentMode``.

Known departures from CDM's data rules (the structure follows CDM 7, but the output has not been
run through CDM's Java validators): a cash loan (a CT loan leg) is written as an ``AssetPayout``
on ``Cash``, which CDM's ``UnderlierNotCash`` condition forbids (CDM models a cash loan as a repo
whose AssetPayout underlier is the collateral security); an ST underlier carries no
``settlementTerms`` settlement centres (the ledger settles); the GMSLA documentation names the
agreement without ``agreementTerms``.

Import is strict: fees and rebates (other payouts, ``minimumFee``, ``dividendTerms``), collateral
given only by a schedule reference, relative dates, fractional quantities, and other asset kinds are
refused. Both JSON forms of metadata are read (``{"@data": x}`` and the older ``{"value": x}``), as
are both forms of choice types (``{"@type": "…Security", …}`` and ``{"Security": {…}}``).
Numbers are exact: JSON numbers are read as decimals, and written digit for digit.

**Invoices.** `invoice_to_cdm` writes a pair's monthly invoice (``tanpo billing export --cdm``) as
a CDM ``SecurityLendingInvoice`` (export only):

=========================  ========================================================================
tanpo invoice              CDM
=========================  ========================================================================
payee (owed the net)       ``sendingParty`` (it sends the invoice)
payer                      ``receivingParty``
month                      ``billingStartDate`` (its first day), ``billingEndDate`` (its last)
each line                  ``billingRecord[i]``: ``tradeState`` a reference to the agreement's
                           TradeState (``@ref:external`` naming the agreement id, the tanpo
                           ``tradeIdentifier`` of ``agreement export --cdm``),
                           ``recordStartDate`` / ``recordEndDate`` (the month), ``minimumFee``
                           (the line's top-up to the terms' minimum fee, as Money) and
                           ``recordTransfer``: the line's net as Money in ``quantity``, paid by
                           the borrower to the lender when positive (``payerReceiver``; the
                           other way when negative)
the net                    ``billingSummary[0]``: ``summaryAmountType`` GrandTotal,
                           ``summaryTransfer`` the invoice's net from payer to payee, settling
                           on the due date
=========================  ========================================================================

Amounts are decimals in the invoice's currency, written digit for digit; a line's exact value with
no finite decimal form (a day count's 1/365) is rounded to 10 decimal places, and the exact
invoice stays in ``tanpoExtension`` (``invoice``: id, pair, amount in whole units of the cash
token, due date, status and each line's exact fee, rebate and net).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tanpo.client.models import (
    Agreement,
    CollateralLeg,
    Invoice,
    Terms,
    Token,
    decimal_string,
)

Json = dict[str, Any]

CDM_VERSION = "7.0.0"
EXTENSION = "tanpoExtension"
EXTENSION_SCHEMA = "tanpo.cdm-extension/1"
PARTY_SCHEME = "tanpo:party"
TOKEN_SCHEME = "tanpo:token"
TRADE_ID_ISSUER = "tanpo"
LOAN_QUANTITY_KEY = "LoanQuantity-1"

_ASSET_TYPES = "cdm.base.staticdata.asset.common."
_PAYOUT_TYPE = "cdm.product.template.AssetPayout"
_MAX_QUANTITY = 2**63 - 1
_MAX_LAG_DAYS = 30
_BANK_PARTY = re.compile(r"bank-[a-z0-9]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
_EXTENSION_KEYS = {"schema", "collateralPriority", "adjustmentMode", "settlementLagDays",
                   "autoIssue", "minimumTransferAmount", "baseCurrency"}


class CdmError(ValueError):
    """A CDM document that cannot be mapped: where in the JSON, and what was expected."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# ---- export ---------------------------------------------------------------------------------


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
        "underlier": _asset(loan),
    }
    if loan.kind == "ST":
        payout["tradeType"] = "SecurityLending"

    criteria = _criteria([t for _, t in legs])
    provisions: Json = {
        "collateralType": "Cash" if all_cash else "NonCash",
        "eligibleCollateral": [
            {"collateralCriteria": criteria,
             "treatment": {"valuationTreatment": {"haircutPercentage": _number(terms.haircut)},
                           "isIncluded": True}},
            {"collateralCriteria": criteria,
             "treatment": {"valuationTreatment":
                           {"marginPercentage": _number(1 + terms.threshold)},
                           "isIncluded": True}},
        ],
    }
    positions = []
    for leg, token in legs:
        position: Json = {
            "priceQuantity": [{"quantity": _quantity(leg.quantity, token)}],
            "asset": _asset(token),
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

    loan_quantity = _quantity(terms.loan_quantity, loan)
    trade: Json = {}
    if terms.id:
        trade["tradeIdentifier"] = [{
            "issuer": {"@data": TRADE_ID_ISSUER},
            "assignedIdentifier": [{"identifier": {"@data": terms.id}}],
        }]
    trade.update({
        "tradeDate": {"@data": terms.trade_date.isoformat()},
        "party": [_party(terms.lender), _party(terms.borrower)],
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
            "observable": _asset(loan),
        }]}],
        "contractDetails": {"documentation": [{
            "agreementDate": terms.trade_date.isoformat(),
            "legalAgreementIdentification": {
                "agreementName": {"agreementType": "MasterAgreement",
                                  "masterAgreementType": {"@data": "GMSLA"}},
                "publisher": "ISLA",
            },
            "contractualParty": [{"@ref:external": terms.lender},
                                 {"@ref:external": terms.borrower}],
        }]},
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
    }
    return doc


def _with_id(terms: Terms, agreement_id: str) -> Terms:
    from dataclasses import replace

    return replace(terms, id=agreement_id)


def _closing(agreement: Agreement) -> tuple[date | None, str]:
    for entry in reversed(agreement.history):
        if entry.action == "CLOSED":
            try:
                day = date.fromisoformat(entry.timestamp[:10])
            except ValueError:
                day = None
            return day, entry.note
    return None, ""


def _state(status: str, closed_on: date | None, reason: str) -> Json:
    if status in ("ACTIVE", "MATURED"):  # MATURED: past maturity, the loan still out
        return {"positionState": "Settled"}
    if status in ("REJECTED", "WITHDRAWN"):
        return {"positionState": "Cancelled"}
    if status == "CLOSED" and closed_on is not None:
        return {"positionState": "Closed",
                "closedState": {"state": "Terminated" if reason == "early-termination"
                                else "Matured",
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


def _asset(token: Token) -> Json:
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


def _quantity(quantity: int, token: Token) -> Json:
    # Shares count in units; cash and bonds (face amount) in their currency.
    if token.kind == "ST" and token.quote_convention != "percent-of-par":
        return {"value": quantity, "unit": {"financialUnit": "Share"}}
    return {"value": quantity, "unit": {"currency": {"@data": token.currency}}}


def _adjustable(day: date) -> Json:
    return {"adjustableDate": {"unadjustedDate": day.isoformat()}}


def _asset_leg(day: date) -> Json:
    return {"settlementDate": _adjustable(day), "deliveryMethod": "FreeOfPayment"}


def _party(party: str) -> Json:
    return {"@key:external": party,
            "partyId": [{"identifier": {"@data": party, "@scheme": PARTY_SCHEME}}],
            "name": {"@data": party}}


def _number(x: Fraction) -> Decimal:
    return Decimal(decimal_string(x))


def dumps(doc: Any, indent: int = 2) -> str:
    """JSON text with exact numbers: a Decimal is written digit for digit, never as a float."""
    return _dump(doc, indent, 0) + "\n"


def _dump(value: Any, indent: int, level: int) -> str:
    pad, inner = " " * (indent * level), " " * (indent * (level + 1))
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: "
                 f"{_dump(v, indent, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return ("[\n" + ",\n".join(inner + _dump(v, indent, level + 1) for v in value)
                + "\n" + pad + "]")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Fraction):
        return decimal_string(value)
    return json.dumps(value, ensure_ascii=False)


# ---- import ---------------------------------------------------------------------------------


def loads(text: str) -> Any:
    """Parse CDM JSON text, reading every number exactly (as int or Decimal)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise CdmError("$", f"not JSON: {exc}") from None


@dataclass(frozen=True)
class _At:
    """A JSON value and the path that leads to it, for messages that say where."""

    value: Any
    path: str

    def get(self, key: str) -> _At | None:
        obj = self.obj()
        return _At(obj[key], f"{self.path}.{key}") if obj.get(key) is not None else None

    def need(self, key: str, expected: str) -> _At:
        found = self.get(key)
        if found is None:
            raise CdmError(f"{self.path}.{key}", f"missing; expected {expected}")
        return found

    def obj(self) -> Json:
        if not isinstance(self.value, dict):
            raise CdmError(self.path, f"expected a JSON object, got {_show(self.value)}")
        return self.value

    def items(self) -> list[_At]:
        """A list's elements; a single object counts as a list of one (CDM writers differ)."""
        if isinstance(self.value, dict):
            return [self]
        if not isinstance(self.value, list):
            raise CdmError(self.path, f"expected a JSON array, got {_show(self.value)}")
        return [_At(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def first(self, expected: str) -> _At:
        """The only (or first) element of a list, or a single object."""
        found = self.items()
        if not found:
            raise CdmError(self.path, f"empty; expected {expected}")
        return found[0]

    def scalar(self) -> Any:
        """A field value, unwrapped from CDM metadata (``{"@data": x}`` or ``{"value": x}``)."""
        value = self.value
        if isinstance(value, dict):
            if "@data" in value:
                value = value["@data"]
            elif "value" in value and set(value) <= {"value", "meta"}:
                value = value["value"]
        return value

    def text(self, expected: str = "a string") -> str:
        value = self.scalar()
        if not isinstance(value, str) or not value:
            raise CdmError(self.path, f"expected {expected}, got {_show(value)}")
        return value


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _walk(root: _At, path: str) -> _At | None:
    at: _At | None = root
    for key in path.split("."):
        if at is None:
            return None
        at = at.get(key)
    return at


def terms_from_cdm(doc: Any, tokens: Mapping[str, Token] | None = None) -> Terms:
    """The tanpo terms a CDM document describes (a TradeState, a Trade, or ``{"trade": …}``).

    With ``tokens`` (the ledger's token definitions), assets may also be identified by ISIN,
    ticker or currency, and kinds, units and collateral type are checked against the definitions.
    """
    root = _At(doc, "$")
    root.obj()
    trade = root.get("trade") or root
    if trade.get("tradeDate") is None and trade.get("product") is None:
        raise CdmError("$", "expected a CDM TradeState (with trade) or Trade")
    ext = _extension(root)

    parties = _parties(trade)
    economic = trade.need("product", "the product").need(
        "economicTerms", "the economic terms (payout, collateral, dates)")
    payout = _asset_payout(economic)
    underlier = payout.need("underlier", "the lent asset (a Security, or Cash for a cash loan)")
    loan = _token_of(underlier, tokens)
    loan_quantity = _loan_quantity(trade, payout, loan, tokens)

    collateral = economic.get("collateral") or trade.get("collateral")
    if collateral is None:
        raise CdmError(f"{economic.path}.collateral", "missing; expected the collateral "
                       "(collateralPortfolio with collateralPosition, collateralProvisions)")
    legs = _collateral_legs(collateral, tokens)
    haircut, threshold = _valuation(collateral)
    _check_collateral_type(collateral, [token for token, _, _ in legs], tokens)

    order = [token for token, _, _ in legs]
    priority = ext["collateralPriority"]
    if priority is not None:
        if sorted(priority) != sorted(order) or len(set(priority)) != len(priority):
            raise CdmError(f"$.{EXTENSION}.collateralPriority",
                           f"expected each collateral token once ({', '.join(order)}), "
                           f"got {_show(priority)}")
        by_token = {token: (token, q, h) for token, q, h in legs}
        legs = [by_token[t] for t in priority]

    # CDM has no field for the adjustment mode: with one collateral token both modes are the
    # same rule; with several, guessing one would change the margin calls, so ask for it.
    mode = ext["adjustmentMode"]
    if mode is None:
        if len(legs) > 1:
            raise CdmError(f"$.{EXTENSION}.adjustmentMode",
                           f"missing; the trade has {len(legs)} collateral tokens and CDM has no "
                           'field for how a margin call spreads over them: give "single" or '
                           '"multi" here')
        mode = "single"

    base = ext["baseCurrency"]
    if base is None:
        known = tokens.get(loan) if tokens is not None else None
        if known is None:
            raise CdmError(f"$.{EXTENSION}.baseCurrency",
                           "missing; CDM has no valuation currency for the trade: give it here "
                           "(or import with the token definitions to take the loan's currency)")
        base = known.currency

    trade_date = _date(trade.need("tradeDate", "the trade date (YYYY-MM-DD)"))
    start = _adjustable_date(economic.need("effectiveDate", "the start date"))
    end_at = economic.get("terminationDate")
    end = _adjustable_date(end_at) if end_at is not None else None
    if start < trade_date:
        raise CdmError(f"{economic.path}.effectiveDate",
                       f"the start date {start} is before the trade date {trade_date}")
    if end is not None and end < start:
        raise CdmError(f"{economic.path}.terminationDate",
                       f"the end date {end} is before the start date {start}")

    return Terms(
        id=_trade_id(trade),
        lender=parties["Lender"],
        borrower=parties["Borrower"],
        loan_token=loan,
        loan_quantity=loan_quantity,
        collateral=tuple(CollateralLeg(token, q, h) for token, q, h in legs),
        base_currency=base,
        haircut=haircut,
        threshold=threshold,
        mode=mode,
        settlement_lag_days=ext["settlementLagDays"],
        auto_issue=ext["autoIssue"],
        minimum_transfer_amount=ext["minimumTransferAmount"],
        trade_date=trade_date,
        start_date=start,
        end_date=end,
    )


def _extension(root: _At) -> dict[str, Any]:
    out: dict[str, Any] = {"collateralPriority": None, "adjustmentMode": None,
                           "settlementLagDays": 0, "autoIssue": False,
                           "minimumTransferAmount": Fraction(0), "baseCurrency": None}
    ext = root.get(EXTENSION)
    if ext is None:
        return out
    unknown = sorted(set(ext.obj()) - _EXTENSION_KEYS)
    if unknown:
        raise CdmError(f"{ext.path}.{unknown[0]}",
                       f"unknown key; expected only {', '.join(sorted(_EXTENSION_KEYS))}")
    schema = ext.get("schema")
    if schema is not None and schema.value != EXTENSION_SCHEMA:
        raise CdmError(schema.path, f"expected {EXTENSION_SCHEMA!r}, got {_show(schema.value)}")
    priority = ext.get("collateralPriority")
    if priority is not None:
        out["collateralPriority"] = [p.text("a token id") for p in priority.items()]
    mode = ext.get("adjustmentMode")
    if mode is not None:
        if mode.value not in ("single", "multi"):
            raise CdmError(mode.path, f'expected "single" or "multi", got {_show(mode.value)}')
        out["adjustmentMode"] = mode.value
    lag = ext.get("settlementLagDays")
    if lag is not None:
        if type(lag.value) is not int or not 0 <= lag.value <= _MAX_LAG_DAYS:
            raise CdmError(lag.path, f"expected a whole number of days 0..{_MAX_LAG_DAYS}, "
                           f"got {_show(lag.value)}")
        out["settlementLagDays"] = lag.value
    auto = ext.get("autoIssue")
    if auto is not None:
        if not isinstance(auto.value, bool):
            raise CdmError(auto.path, f"expected true or false, got {_show(auto.value)}")
        out["autoIssue"] = auto.value
    mta = ext.get("minimumTransferAmount")
    if mta is not None:
        out["minimumTransferAmount"] = _decimal(mta, "a non-negative amount such as \"1000\"")
    base = ext.get("baseCurrency")
    if base is not None:
        code = base.text("an ISO 4217 currency code such as \"JPY\"")
        if not _CURRENCY.fullmatch(code):
            raise CdmError(base.path, f'expected an ISO 4217 currency code such as "JPY", '
                           f"got {_show(code)}")
        out["baseCurrency"] = code
    return out


def _trade_id(trade: _At) -> str:
    ids = trade.get("tradeIdentifier")
    if ids is None:
        return ""
    for ident in ids.items():
        issuer = ident.get("issuer")
        if issuer is not None and issuer.scalar() == TRADE_ID_ISSUER:
            assigned = ident.need("assignedIdentifier", "the agreement id").first(
                "the agreement id")
            return assigned.need("identifier", "the agreement id").text("an agreement id")
    return ""  # someone else's trade id: the ledger assigns one


# -- parties --


def _party_key(party: _At) -> str | None:
    obj = party.obj()
    for key in ("@key:external", "@key"):
        if isinstance(obj.get(key), str):
            return str(obj[key])
    meta = obj.get("meta")
    if isinstance(meta, dict):
        for key in ("externalKey", "globalKey"):
            if isinstance(meta.get(key), str):
                return str(meta[key])
    return None


def _party_id(party: _At) -> str:
    ids = party.need("partyId", "the party's identifiers").items()
    candidates: list[tuple[_At, str]] = []
    for ident in ids:
        at = ident.need("identifier", "a party identifier")
        value = at.text("a party identifier")
        scheme = at.value.get("@scheme") if isinstance(at.value, dict) else None
        if scheme == PARTY_SCHEME:
            candidates.insert(0, (at, value))
        else:
            candidates.append((at, value))
    for _, value in candidates:
        if _BANK_PARTY.fullmatch(value):
            return value
    where = candidates[0][0].path if candidates else f"{party.path}.partyId"
    raise CdmError(where, "expected a tanpo party id such as \"bank-a\" (partyId scheme "
                   f"{PARTY_SCHEME!r}); got {', '.join(repr(v) for _, v in candidates) or 'none'}")


def _reference(ref: _At, keyed: Mapping[str, str]) -> str:
    obj = ref.obj()
    if "partyId" in obj:  # the party itself, inline
        return _party_id(ref)
    key = None
    for name in ("@ref:external", "@ref", "externalReference", "globalReference"):
        if isinstance(obj.get(name), str):
            key = str(obj[name])
            break
    if key is None:
        raise CdmError(ref.path, "expected a party reference (@ref:external) or a party")
    if key not in keyed:
        raise CdmError(ref.path, f"refers to party {key!r}, which trade.party does not define")
    return keyed[key]


def _parties(trade: _At) -> dict[str, str]:
    keyed: dict[str, str] = {}
    party_list = trade.get("party")
    if party_list is not None:
        for party in party_list.items():
            key = _party_key(party)
            if key is not None:
                keyed[key] = _party_id(party)
    roles: dict[str, str] = {}
    role_list = trade.need("partyRole", "partyRole entries naming the Lender and the Borrower")
    for entry in role_list.items():
        role = entry.need("role", "a party role").scalar()
        if role in ("Lender", "Borrower"):
            who = _reference(entry.need("partyReference", "the party"), keyed)
            if role in roles and roles[role] != who:
                raise CdmError(entry.path, f"a second {role} ({who}; already {roles[role]})")
            roles[role] = who
    for role in ("Lender", "Borrower"):
        if role not in roles:
            raise CdmError(role_list.path, f"no party has the role {role}; expected partyRole "
                           "entries naming the Lender and the Borrower")
    if roles["Lender"] == roles["Borrower"]:
        raise CdmError(role_list.path, f"the lender and the borrower are both {roles['Lender']}")
    return roles


# -- assets and quantities --


_ASSET_CHOICES = ("Cash", "Commodity", "DigitalAsset", "Instrument", "Security", "Loan",
                  "ListedDerivative")


def _asset_kind(at: _At) -> tuple[str, _At]:
    """("Security" | "Cash" | other kind, the asset's body) of an Asset, in either JSON form."""
    obj = at.obj()
    typed = obj.get("@type")
    if isinstance(typed, str):
        return typed.rsplit(".", 1)[-1], at
    if len(obj) == 1 and next(iter(obj)) in _ASSET_CHOICES:
        name = next(iter(obj))
        inner = _At(obj[name], f"{at.path}.{name}")
        return _asset_kind(inner) if name == "Instrument" else (name, inner)
    asset_type = obj.get("assetType")
    if asset_type in ("Cash", "Security"):
        return str(asset_type), at
    idents = obj.get("identifier")
    if isinstance(idents, list) and any(
            isinstance(i, dict) and i.get("identifierType") == "CurrencyCode" for i in idents):
        return "Cash", at
    return "Security", at


def _token_of(at: _At, tokens: Mapping[str, Token] | None) -> str:
    """The tanpo token an Asset (or a TransferableProduct holding one) stands for."""
    if isinstance(at.value, dict) and "asset" in at.value and "identifier" not in at.value:
        at = at.need("asset", "the asset")
    kind, body = _asset_kind(at)
    if kind not in ("Security", "Cash"):
        raise CdmError(at.path, f"a {kind} cannot be a tanpo token: expected a Security or Cash")
    by_type: dict[str, list[tuple[_At, str, str]]] = {}
    for ident in body.need("identifier", "the asset's identifiers").items():
        value_at = ident.need("identifier", "an identifier")
        value = value_at.text("an identifier")
        scheme = value_at.value.get("@scheme", "") if isinstance(value_at.value, dict) else ""
        id_type = ident.need("identifierType", "an identifier type").scalar()
        by_type.setdefault(str(id_type), []).append((value_at, value, str(scheme)))

    own = by_type.get("Other", [])
    own = [o for o in own if o[2] == TOKEN_SCHEME] or own
    token_id: str | None = None
    where = f"{body.path}.identifier"
    if len(own) > 1:
        raise CdmError(where, "more than one identifier of type Other: expected one naming the "
                       "tanpo token")
    if own:
        where, token_id = own[0][0].path, own[0][1]
    elif tokens is not None:
        token_id, where = _resolve(by_type, tokens, kind, where)
    if token_id is None:
        raise CdmError(where, "no tanpo token id: expected an identifier with identifierType "
                       '"Other" naming the token (or import with the token definitions to '
                       "resolve an ISIN, ticker or currency)")
    if tokens is not None:
        token = tokens.get(token_id)
        if token is None:
            raise CdmError(where, f"unknown token {token_id}: define it first (tanpo token "
                           "define) or name a defined token")
        if (kind == "Cash") != (token.kind == "CT"):
            raise CdmError(at.path, f"a {kind} asset, but token {token_id} is a "
                           f"{'cash' if token.kind == 'CT' else 'security'} token ({token.kind})")
    return token_id


def _resolve(by_type: Mapping[str, list[tuple[_At, str, str]]], tokens: Mapping[str, Token],
             kind: str, where: str) -> tuple[str | None, str]:
    lookups = ("CurrencyCode",) if kind == "Cash" else ("ISIN", "ExchangeCode", "BBGTICKER")
    for id_type in lookups:
        for value_at, value, _ in by_type.get(id_type, []):
            found = sorted(t.id for t in tokens.values() if _matches(id_type, t, value))
            if len(found) == 1:
                return found[0], value_at.path
            if len(found) > 1:
                raise CdmError(value_at.path, f"{id_type} {value} matches tokens "
                               f"{', '.join(found)}: add an identifier with identifierType "
                               '"Other" naming the tanpo token')
    return None, where


def _matches(id_type: str, token: Token, value: str) -> bool:
    if id_type == "CurrencyCode":
        return token.kind == "CT" and token.currency == value
    if id_type == "ISIN":
        return token.kind == "ST" and token.isin == value
    return token.kind == "ST" and token.ticker == value


def _whole(at: _At, allow_zero: bool) -> int:
    value = at.scalar()
    if isinstance(value, bool):
        number: Decimal | int | None = None
    elif isinstance(value, int | Decimal):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"[0-9]+(\.0*)?", value):
        number = Decimal(value)
    else:
        number = None
    least = 0 if allow_zero else 1
    expected = f"a whole number of token units ≥ {least}"
    if isinstance(number, Decimal) and (not number.is_finite() or number.adjusted() > 19):
        number = None  # far beyond any quantity (and no huge integers from 1E+999999)
    if number is None or (isinstance(number, Decimal) and number != number.to_integral_value()):
        raise CdmError(at.path, f"expected {expected}, got {_show(value)}")
    whole = int(number)
    if not least <= whole <= _MAX_QUANTITY:
        raise CdmError(at.path, f"expected {expected} and ≤ {_MAX_QUANTITY}, got {whole}")
    return whole


def _check_unit(quantity: _At, token_id: str, tokens: Mapping[str, Token] | None) -> None:
    unit = quantity.get("unit")
    token = tokens.get(token_id) if tokens is not None else None
    if unit is None or token is None:
        return
    currency = unit.get("currency")
    if currency is not None:
        code = currency.scalar()
        if code != token.currency:
            raise CdmError(currency.path, f"token {token_id} is in {token.currency}, "
                           f"not {_show(code)}")
    elif unit.get("financialUnit") is not None and token.kind == "CT":
        raise CdmError(unit.path, f"token {token_id} is cash: expected a currency unit "
                       f"({token.currency})")


def _keyed_quantities(trade: _At) -> Iterator[tuple[str | None, _At, _At | None]]:
    """(scoped key, quantity, observable) of every price-quantity in the trade lots."""
    lots = trade.get("tradeLot")
    for lot in lots.items() if lots is not None else []:
        pqs = lot.get("priceQuantity")
        for pq in pqs.items() if pqs is not None else []:
            quantity = pq.get("quantity")
            if quantity is None:
                continue
            for q in quantity.items():
                yield _scoped_key(q.obj()), q, pq.get("observable")


def _scoped_key(obj: Json) -> str | None:
    if isinstance(obj.get("@key:scoped"), str):
        return str(obj["@key:scoped"])
    meta = obj.get("meta")
    if isinstance(meta, dict):
        for loc in meta.get("location") or []:
            if isinstance(loc, dict) and isinstance(loc.get("value"), str):
                return str(loc["value"])
    return None


def _scoped_ref(obj: Json) -> str | None:
    if isinstance(obj.get("@ref:scoped"), str):
        return str(obj["@ref:scoped"])
    address = obj.get("address")
    if isinstance(address, dict) and isinstance(address.get("value"), str):
        return str(address["value"])
    return None


def _loan_quantity(trade: _At, payout: _At, loan: str,
                   tokens: Mapping[str, Token] | None) -> int:
    schedule = _walk(payout, "priceQuantity.quantitySchedule")
    found: _At | None = None
    if schedule is not None:
        obj = schedule.obj()
        if "value" in obj and not _scoped_ref(obj):
            found = schedule
        else:
            ref = _scoped_ref(obj)
            for key, q, _ in _keyed_quantities(trade):
                if ref is not None and key == ref:
                    found = q
                    break
            if found is None:
                raise CdmError(schedule.path, f"refers to quantity {ref!r}, which no "
                               "trade.tradeLot[].priceQuantity[].quantity defines")
    else:
        for _, q, observable in _keyed_quantities(trade):
            if observable is not None and _token_of(observable, tokens) == loan:
                found = q
                break
    if found is None:
        raise CdmError(f"{payout.path}.priceQuantity", "missing; expected the loan quantity "
                       "(priceQuantity.quantitySchedule, or a trade lot quantity observing the "
                       "lent asset)")
    _check_unit(found, loan, tokens)
    return _whole(found.need("value", "the loan quantity"), allow_zero=False)


# -- payout, collateral, valuation --


def _asset_payout(economic: _At) -> _At:
    payouts = economic.need("payout", "an AssetPayout (the loan leg)")
    found: list[_At] = []
    if isinstance(payouts.value, dict) and not payouts.value.get("@type"):
        entries = [(name, _At(v, f"{payouts.path}.{name}"))
                   for name, v in payouts.value.items()]
        for name, at in entries:
            for item in at.items():
                found.append(_typed_payout(item, name))
    else:
        for item in payouts.items():
            obj = item.obj()
            if isinstance(obj.get("@type"), str):
                found.append(_typed_payout(item, str(obj["@type"]).rsplit(".", 1)[-1]))
            elif len(obj) == 1:
                name = next(iter(obj))
                for inner in _At(obj[name], f"{item.path}.{name}").items():
                    found.append(_typed_payout(inner, name))
            else:
                found.append(_typed_payout(item, "AssetPayout" if "underlier" in obj else "?"))
    if len(found) != 1:
        raise CdmError(payouts.path, f"expected exactly one AssetPayout (the loan leg), "
                       f"found {len(found)}")
    payout = found[0]
    for key, what in (("minimumFee", "a minimum fee"), ("dividendTerms", "dividend terms")):
        if payout.get(key) is not None:
            raise CdmError(f"{payout.path}.{key}", f"tanpo agreements carry no fees or income "
                           f"terms: {what} cannot be mapped (remove it to import)")
    return payout


def _typed_payout(item: _At, name: str) -> _At:
    if name != "AssetPayout":
        raise CdmError(item.path, f"a {name} cannot be mapped: tanpo agreements have one "
                       "AssetPayout (the loan) and no fee, rebate or interest legs")
    return item


def _collateral_legs(collateral: _At, tokens: Mapping[str, Token] | None
                     ) -> list[tuple[str, int, Fraction | None]]:
    portfolios = collateral.need(
        "collateralPortfolio", "one collateral portfolio with the collateral positions").items()
    if len(portfolios) != 1:
        raise CdmError(f"{collateral.path}.collateralPortfolio",
                       f"expected one portfolio, found {len(portfolios)}")
    portfolio = portfolios[0]
    positions = portfolio.get("collateralPosition")
    if positions is None or not positions.items():
        hint = (" (it names a schedule by portfolioIdentifier: tanpo needs each token and "
                "quantity)" if portfolio.get("portfolioIdentifier") is not None else "")
        raise CdmError(f"{portfolio.path}.collateralPosition",
                       f"missing; expected one position per collateral token{hint}")
    legs: list[tuple[str, int, Fraction | None]] = []
    for position in positions.items():
        asset = position.get("asset") or position.get("product")
        if asset is None:
            raise CdmError(f"{position.path}.asset", "missing; expected the collateral asset")
        if asset.path.endswith(".product"):
            product = asset.obj()
            if isinstance(product.get("@type"), str) or "asset" in product:
                asset = asset.need("asset", "the collateral asset")
            elif len(product) == 1:  # {"TransferableProduct": {...}}
                name = next(iter(product))
                asset = _At(product[name], f"{asset.path}.{name}").need("asset", "the asset")
        token = _token_of(asset, tokens)
        if any(token == t for t, _, _ in legs):
            raise CdmError(asset.path, f"collateral token {token} is listed twice")
        pqs = position.need("priceQuantity", "the collateral quantity").items()
        quantities = [pq.get("quantity") for pq in pqs]
        present = [q for q in quantities if q is not None]
        if len(present) != 1:
            raise CdmError(f"{position.path}.priceQuantity",
                           f"expected one quantity, found {len(present)}")
        quantity = present[0].first("the collateral quantity")
        _check_unit(quantity, token, tokens)
        qty = _whole(quantity.need("value", "the collateral quantity"), allow_zero=True)
        haircut: Fraction | None = None
        valuation = _walk(position, "treatment.valuationTreatment")
        if valuation is not None:
            if valuation.get("marginPercentage") is not None:
                raise CdmError(f"{valuation.path}.marginPercentage",
                               "a per-token margin percentage cannot be mapped: tanpo has one "
                               "threshold per agreement (collateralProvisions.eligibleCollateral)")
            found = valuation.get("haircutPercentage")
            if found is not None:
                haircut = _fraction01(found, "haircut")
        legs.append((token, qty, haircut))
    return legs


def _valuation(collateral: _At) -> tuple[Fraction, Fraction]:
    provisions = collateral.need("collateralProvisions",
                                 "collateralType and eligibleCollateral with the haircut")
    eligible = provisions.need("eligibleCollateral",
                               "entries whose treatment.valuationTreatment gives the haircut "
                               "(haircutPercentage) and the threshold (marginPercentage)")
    haircut: Fraction | None = None
    threshold: Fraction | None = None
    for entry in eligible.items():
        treatment = entry.need("treatment", "the collateral treatment")
        included = treatment.get("isIncluded")
        if included is not None and included.value is False:
            raise CdmError(included.path, "exclusion criteria cannot be mapped: tanpo's "
                           "collateral is the listed positions")
        valuation = treatment.get("valuationTreatment")
        if valuation is None:
            continue
        for key in ("fxHaircutPercentage", "additionalHaircutPercentage"):
            if valuation.get(key) is not None:
                raise CdmError(f"{valuation.path}.{key}", "cannot be mapped: tanpo applies one "
                               "haircut per token (give it as haircutPercentage)")
        h = valuation.get("haircutPercentage")
        if h is not None:
            if haircut is not None:
                raise CdmError(h.path, "a second agreement-wide haircut: tanpo takes one (give "
                               "per-token haircuts on collateralPosition[].treatment)")
            haircut = _fraction01(h, "haircut")
        m = valuation.get("marginPercentage")
        if m is not None:
            if threshold is not None:
                raise CdmError(m.path, "a second marginPercentage: tanpo takes one threshold")
            ratio = _decimal(m, "a margin ratio in [1, 2) (1 + the threshold, e.g. 1.02)")
            if not 1 <= ratio < 2:
                raise CdmError(m.path, "expected a margin ratio in [1, 2) (1 + the threshold, "
                               f"e.g. 1.02), got {_show(m.scalar())}")
            threshold = ratio - 1
    if haircut is None:
        raise CdmError(f"{eligible.path}[*].treatment.valuationTreatment.haircutPercentage",
                       "missing; expected the agreement's haircut (0 for none)")
    return haircut, threshold if threshold is not None else Fraction(0)


def _check_collateral_type(collateral: _At, legs: Sequence[str],
                           tokens: Mapping[str, Token] | None) -> None:
    at = _walk(collateral, "collateralProvisions.collateralType")
    if at is None:
        raise CdmError(f"{collateral.path}.collateralProvisions.collateralType",
                       "missing; expected Cash, NonCash or CashPool")
    kind = at.scalar()
    if kind not in ("Cash", "NonCash", "CashPool"):
        raise CdmError(at.path, f"expected Cash, NonCash or CashPool, got {_show(kind)}")
    if tokens is None:
        return
    all_cash = all(tokens[t].kind == "CT" for t in legs if t in tokens)
    if kind in ("Cash", "CashPool") and not all_cash:
        securities = [t for t in legs if t in tokens and tokens[t].kind == "ST"]
        raise CdmError(at.path, f"{kind}, but collateral {', '.join(securities)} is a security: "
                       "expected NonCash")
    if kind == "NonCash" and all_cash:
        raise CdmError(at.path, "NonCash, but every collateral token is cash: expected Cash")


# -- values --


def _decimal(at: _At, expected: str) -> Fraction:
    value = at.scalar()
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        value = Decimal(value) if _DECIMAL_TEXT.fullmatch(value) else None
    if isinstance(value, int):
        value = Decimal(value)
    if (not isinstance(value, Decimal) or not value.is_finite() or value < 0
            or not -40 <= value.adjusted() <= 40):
        raise CdmError(at.path, f"expected {expected}, got {_show(at.scalar())}")
    try:
        return Fraction(value)
    except (ValueError, InvalidOperation):  # pragma: no cover - finite decimals always convert
        raise CdmError(at.path, f"expected {expected}") from None


def _fraction01(at: _At, what: str) -> Fraction:
    value = _decimal(at, f"a {what} in [0, 1) such as 0.05")
    if value >= 1:
        raise CdmError(at.path, f"expected a {what} in [0, 1) such as 0.05, "
                       f"got {_show(at.scalar())}")
    return value


def _date(at: _At) -> date:
    text = at.scalar()
    if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise CdmError(at.path, f"expected a date YYYY-MM-DD, got {_show(text)}")


def _adjustable_date(at: _At) -> date:
    obj = at.obj()
    if "adjustableDate" not in obj:
        other = ", ".join(sorted(obj)) or "nothing"
        raise CdmError(at.path, f"expected adjustableDate.unadjustedDate (a fixed date), "
                       f"got {other}: relative dates cannot be mapped")
    adjustable = at.need("adjustableDate", "a fixed date")
    for key in ("unadjustedDate", "adjustedDate"):
        found = adjustable.get(key)
        if found is not None:
            return _date(found)
    raise CdmError(f"{adjustable.path}.unadjustedDate", "missing; expected a date YYYY-MM-DD")


# ---- invoices (export only) ------------------------------------------------------------------

INVOICE_PLACES = 10


def _amount(x: Fraction) -> Decimal:
    """An amount as a decimal: exact when it has a finite decimal form, else rounded."""
    try:
        return Decimal(decimal_string(x))
    except ValueError:
        return Decimal(decimal_string(Fraction(round(x * 10**INVOICE_PLACES),
                                               10**INVOICE_PLACES)))


def _money(x: Fraction, currency: str) -> Json:
    return {"value": _amount(x), "unit": {"currency": {"@data": currency}}}


def _payer_receiver(payer: str, receiver: str) -> Json:
    return {"payerPartyReference": {"@ref:external": payer},
            "receiverPartyReference": {"@ref:external": receiver}}


def invoice_to_cdm(invoice: Invoice) -> Json:
    """A pair's invoice as a CDM SecurityLendingInvoice (the mapping in the module's notes)."""
    start, end = invoice.start.isoformat(), invoice.end.isoformat()
    records = []
    for line in invoice.lines:
        payer, receiver = ((line.borrower, line.lender) if line.net >= 0
                           else (line.lender, line.borrower))
        records.append({
            "tradeState": {"@ref:external": line.agreement},
            "recordTransfer": {"quantity": _money(abs(line.net), invoice.currency),
                               "payerReceiver": _payer_receiver(payer, receiver)},
            "recordStartDate": start,
            "recordEndDate": end,
            "minimumFee": _money(line.minimum_top_up, invoice.currency),
        })
    return {
        "sendingParty": _party(invoice.payee),
        "receivingParty": _party(invoice.payer),
        "billingStartDate": start,
        "billingEndDate": end,
        "billingRecord": records,
        "billingSummary": [{
            "summaryTransfer": {"quantity": _money(invoice.net, invoice.currency),
                                "payerReceiver": _payer_receiver(invoice.payer, invoice.payee),
                                "settlementDate": {"adjustedDate": invoice.due_date.isoformat()}},
            "summaryAmountType": "GrandTotal",
        }],
        EXTENSION: {
            "schema": EXTENSION_SCHEMA,
            "invoice": {
                "id": invoice.id, "pair": invoice.pair, "currency": invoice.currency,
                "net": str(invoice.net), "amount": str(invoice.amount),
                "dueDate": invoice.due_date.isoformat(), "status": invoice.status,
                "lines": [{"agreement": x.agreement, "days": x.days,
                           "feeAccrued": str(x.fee_accrued), "feeCharged": str(x.fee_charged),
                           "rebate": str(x.rebate), "net": str(x.net)}
                          for x in invoice.lines],
            },
        },
    }
