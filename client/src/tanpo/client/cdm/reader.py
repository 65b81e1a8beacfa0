"""CDM documents read into tanpo terms, refusing what cannot be mapped with the JSON path."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tanpo.client.cdm.jsontext import (
    EXTENSION,
    EXTENSION_SCHEMA,
    PARTY_SCHEME,
    TOKEN_SCHEME,
    TRADE_ID_ISSUER,
    At,
    CdmError,
    Json,
    show,
    walk,
)
from tanpo.client.models import CollateralLeg, Terms, Token

_MAX_QUANTITY = 2**63 - 1
_MAX_LAG_DAYS = 30
_BANK_PARTY = re.compile(r"bank-[a-z0-9]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
_EXTENSION_KEYS = {"schema", "collateralPriority", "adjustmentMode", "settlementLagDays",
                   "autoIssue", "minimumTransferAmount", "baseCurrency"}


def terms_from_cdm(doc: Any, tokens: Mapping[str, Token] | None = None) -> Terms:
    """The tanpo terms a CDM document describes (a TradeState, a Trade, or ``{"trade": …}``).

    With ``tokens`` (the ledger's token definitions), assets may also be identified by ISIN,
    ticker or currency, and kinds, units and collateral type are checked against the definitions.
    """
    root = At(doc, "$")
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
                           f"got {show(priority)}")
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


def _extension(root: At) -> dict[str, Any]:
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
        raise CdmError(schema.path, f"expected {EXTENSION_SCHEMA!r}, got {show(schema.value)}")
    priority = ext.get("collateralPriority")
    if priority is not None:
        out["collateralPriority"] = [p.text("a token id") for p in priority.items()]
    mode = ext.get("adjustmentMode")
    if mode is not None:
        if mode.value not in ("single", "multi"):
            raise CdmError(mode.path, f'expected "single" or "multi", got {show(mode.value)}')
        out["adjustmentMode"] = mode.value
    lag = ext.get("settlementLagDays")
    if lag is not None:
        if type(lag.value) is not int or not 0 <= lag.value <= _MAX_LAG_DAYS:
            raise CdmError(lag.path, f"expected a whole number of days 0..{_MAX_LAG_DAYS}, "
                           f"got {show(lag.value)}")
        out["settlementLagDays"] = lag.value
    auto = ext.get("autoIssue")
    if auto is not None:
        if not isinstance(auto.value, bool):
            raise CdmError(auto.path, f"expected true or false, got {show(auto.value)}")
        out["autoIssue"] = auto.value
    mta = ext.get("minimumTransferAmount")
    if mta is not None:
        out["minimumTransferAmount"] = _decimal(mta, "a non-negative amount such as \"1000\"")
    base = ext.get("baseCurrency")
    if base is not None:
        code = base.text("an ISO 4217 currency code such as \"JPY\"")
        if not _CURRENCY.fullmatch(code):
            raise CdmError(base.path, f'expected an ISO 4217 currency code such as "JPY", '
                           f"got {show(code)}")
        out["baseCurrency"] = code
    return out


def _trade_id(trade: At) -> str:
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


def _party_key(party: At) -> str | None:
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


def _party_id(party: At) -> str:
    ids = party.need("partyId", "the party's identifiers").items()
    candidates: list[tuple[At, str]] = []
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


def _reference(ref: At, keyed: Mapping[str, str]) -> str:
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


def _parties(trade: At) -> dict[str, str]:
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


def _asset_kind(at: At) -> tuple[str, At]:
    """("Security" | "Cash" | other kind, the asset's body) of an Asset, in either JSON form."""
    obj = at.obj()
    typed = obj.get("@type")
    if isinstance(typed, str):
        return typed.rsplit(".", 1)[-1], at
    if len(obj) == 1 and next(iter(obj)) in _ASSET_CHOICES:
        name = next(iter(obj))
        inner = At(obj[name], f"{at.path}.{name}")
        return _asset_kind(inner) if name == "Instrument" else (name, inner)
    asset_type = obj.get("assetType")
    if asset_type in ("Cash", "Security"):
        return str(asset_type), at
    idents = obj.get("identifier")
    if isinstance(idents, list) and any(
            isinstance(i, dict) and i.get("identifierType") == "CurrencyCode" for i in idents):
        return "Cash", at
    return "Security", at


def _token_of(at: At, tokens: Mapping[str, Token] | None) -> str:
    """The tanpo token an Asset (or a TransferableProduct holding one) stands for."""
    if isinstance(at.value, dict) and "asset" in at.value and "identifier" not in at.value:
        at = at.need("asset", "the asset")
    kind, body = _asset_kind(at)
    if kind not in ("Security", "Cash"):
        raise CdmError(at.path, f"a {kind} cannot be a tanpo token: expected a Security or Cash")
    by_type: dict[str, list[tuple[At, str, str]]] = {}
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


def _resolve(by_type: Mapping[str, list[tuple[At, str, str]]], tokens: Mapping[str, Token],
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


def _whole(at: At, allow_zero: bool) -> int:
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
        raise CdmError(at.path, f"expected {expected}, got {show(value)}")
    whole = int(number)
    if not least <= whole <= _MAX_QUANTITY:
        raise CdmError(at.path, f"expected {expected} and ≤ {_MAX_QUANTITY}, got {whole}")
    return whole


def _check_unit(quantity: At, token_id: str, tokens: Mapping[str, Token] | None) -> None:
    unit = quantity.get("unit")
    token = tokens.get(token_id) if tokens is not None else None
    if unit is None or token is None:
        return
    currency = unit.get("currency")
    if currency is not None:
        code = currency.scalar()
        if code != token.currency:
            raise CdmError(currency.path, f"token {token_id} is in {token.currency}, "
                           f"not {show(code)}")
    elif unit.get("financialUnit") is not None and token.kind == "CT":
        raise CdmError(unit.path, f"token {token_id} is cash: expected a currency unit "
                       f"({token.currency})")


def _keyed_quantities(trade: At) -> Iterator[tuple[str | None, At, At | None]]:
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


def _loan_quantity(trade: At, payout: At, loan: str,
                   tokens: Mapping[str, Token] | None) -> int:
    schedule = walk(payout, "priceQuantity.quantitySchedule")
    found: At | None = None
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


def _asset_payout(economic: At) -> At:
    payouts = economic.need("payout", "an AssetPayout (the loan leg)")
    found: list[At] = []
    if isinstance(payouts.value, dict) and not payouts.value.get("@type"):
        entries = [(name, At(v, f"{payouts.path}.{name}"))
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
                for inner in At(obj[name], f"{item.path}.{name}").items():
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


def _typed_payout(item: At, name: str) -> At:
    if name != "AssetPayout":
        raise CdmError(item.path, f"a {name} cannot be mapped: tanpo agreements have one "
                       "AssetPayout (the loan) and no fee, rebate or interest legs")
    return item


def _collateral_legs(collateral: At, tokens: Mapping[str, Token] | None
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
                asset = At(product[name], f"{asset.path}.{name}").need("asset", "the asset")
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
        valuation = walk(position, "treatment.valuationTreatment")
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


def _valuation(collateral: At) -> tuple[Fraction, Fraction]:
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
                               f"e.g. 1.02), got {show(m.scalar())}")
            threshold = ratio - 1
    if haircut is None:
        raise CdmError(f"{eligible.path}[*].treatment.valuationTreatment.haircutPercentage",
                       "missing; expected the agreement's haircut (0 for none)")
    return haircut, threshold if threshold is not None else Fraction(0)


def _check_collateral_type(collateral: At, legs: Sequence[str],
                           tokens: Mapping[str, Token] | None) -> None:
    at = walk(collateral, "collateralProvisions.collateralType")
    if at is None:
        raise CdmError(f"{collateral.path}.collateralProvisions.collateralType",
                       "missing; expected Cash, NonCash or CashPool")
    kind = at.scalar()
    if kind not in ("Cash", "NonCash", "CashPool"):
        raise CdmError(at.path, f"expected Cash, NonCash or CashPool, got {show(kind)}")
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


def _decimal(at: At, expected: str) -> Fraction:
    value = at.scalar()
    if isinstance(value, bool):
        value = None
    if isinstance(value, str):
        value = Decimal(value) if _DECIMAL_TEXT.fullmatch(value) else None
    if isinstance(value, int):
        value = Decimal(value)
    if (not isinstance(value, Decimal) or not value.is_finite() or value < 0
            or not -40 <= value.adjusted() <= 40):
        raise CdmError(at.path, f"expected {expected}, got {show(at.scalar())}")
    try:
        return Fraction(value)
    except (ValueError, InvalidOperation):  # pragma: no cover - finite decimals always convert
        raise CdmError(at.path, f"expected {expected}") from None


def _fraction01(at: At, what: str) -> Fraction:
    value = _decimal(at, f"a {what} in [0, 1) such as 0.05")
    if value >= 1:
        raise CdmError(at.path, f"expected a {what} in [0, 1) such as 0.05, "
                       f"got {show(at.scalar())}")
    return value


def _date(at: At) -> date:
    text = at.scalar()
    if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise CdmError(at.path, f"expected a date YYYY-MM-DD, got {show(text)}")


def _adjustable_date(at: At) -> date:
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


