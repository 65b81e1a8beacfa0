"""CDM trades read into tanpo terms: tanpo's own exports and the industry's records alike.

A trade is a CDM ``Trade`` (in a ``TradeState``) or an ``ExecutionInstruction``; `read_trade` maps
it and records in the `At` reader every field it used, so `cdm check` can list what it understood
and account for the rest. What cannot be mapped is refused with a `CdmError` naming the JSON path
and what would be needed.

Economics: the AssetPayout's prices (``priceQuantity.priceSchedule``) give the lending fee (an
InterestRate price, per annum: 0.01 = 100 bps) and the trade price (an AssetPrice, kept in
``cdmExtras``); ``minimumFee`` is the fee's minimum when it is in the base currency (else kept);
the rebate is the cash collateral position's InterestRatePayout (fixed: its rate, 0.01 = 1 % per
annum; floating: the benchmark of its rate option, e.g. GBP-SONIA → SONIA, plus its spread in
bps), with its ``dayCountFraction``. The collateral amount is the position's quantity, or the
rebate leg's quantity when the position has none; a portfolio given only by an identifier names an
eligibility schedule (``scheduleId``). Dividend terms, delivery methods and settlement dates, the
trade price, the trade's own identifiers and the rebate's payment schedule are kept verbatim in
``cdmExtras``.

Haircut: CDM's ``marginPercentage`` r is the collateralisation ratio (1.02 = collateral worth 102 %
of the loan) and ``haircutPercentage`` h discounts the collateral. tanpo counts collateral at
(1 − α) of its value, so h maps to α = h and r to α = 1 − 1/r (and back, r = 1/(1 − α)); a ratio
such as 1.02 gives α = 1/51, kept exact. A marginPercentage below 1, which CDM's own condition
forbids but real records carry (0.02 for "2 % margin"), is read as the margin over 100 % (r = 1.02)
and said so in the notes. No haircut and no margin ratio is a haircut of 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from tanpo.client.cdm.export import (
    REFERENCE_ISSUER,
    SETTLEMENT_TERMS,
    derived_asset_legs,
    derived_portfolio,
)
from tanpo.client.cdm.jsontext import (
    EXTENSION,
    EXTENSION_SCHEMA,
    TOKEN_SCHEME,
    TRADE_ID_ISSUER,
    At,
    CdmError,
    Json,
    show,
    walk,
)
from tanpo.client.cdm.parties import PartyMap, resolve_roles
from tanpo.client.models import (
    CollateralLeg,
    FeeTerms,
    RebateTerms,
    Schedule,
    Terms,
    Token,
    decimal_string,
)

_MAX_QUANTITY = 2**63 - 1
_MAX_LAG_DAYS = 30
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
_EXTENSION_KEYS = {"schema", "collateralPriority", "adjustmentMode", "settlementLagDays",
                   "autoIssue", "minimumTransferAmount", "baseCurrency", "threshold",
                   "masterAgreement", "noticeDays", "substitutionPreAuthorised", "noEarlyReturn",
                   "schedule", "dayCount", "haircut", "tokenHaircuts", "cdmExtras"}
_BENCHMARK = re.compile(r"[A-Z€][A-Z0-9€]{0,15}")
#: CDM dayCountFraction → tanpo day count
_DAY_COUNTS = {"ACT/365.FIXED": "ACT/365F", "ACT/365F": "ACT/365F", "ACT/360": "ACT/360"}
#: security identifier types a token definition may list (the token's isin/ticker or identifiers)
SECURITY_ID_TYPES = ("ISIN", "SEDOL", "CUSIP", "FIGI", "ExchangeCode", "BBGTICKER", "RIC")


@dataclass
class Reading:
    """What a reading knows (token definitions, the party map) and what it found on the way."""

    tokens: Mapping[str, Token] | None = None
    parties: PartyMap = field(default_factory=PartyMap.empty)
    notes: list[str] = field(default_factory=list)
    #: a fully returned or closed trade may have a loan quantity of 0
    allow_zero: bool = False


def terms_from_cdm(doc: Any, tokens: Mapping[str, Token] | None = None,
                   parties: PartyMap | None = None, reading: Reading | None = None,
                   seen: set[str] | None = None) -> Terms:
    """The tanpo terms a CDM document describes (a TradeState, a Trade, or ``{"trade": …}``).

    With ``tokens`` (the ledger's token definitions), assets may be identified by ISIN, SEDOL,
    CUSIP, FIGI, ticker or currency, and kinds, units and collateral type are checked against
    them. ``parties`` maps the trade's parties (LEI, name or key) to tanpo parties.
    """
    root = At(doc, "$", seen if seen is not None else set())
    root.obj()
    trade = root.get("trade") or root
    if trade.get("tradeDate") is None and trade.get("product") is None:
        raise CdmError("$", "expected a CDM TradeState (with trade) or Trade")
    r = reading or Reading(tokens, parties or PartyMap.empty())
    return read_trade(trade, r, extension(root))


def read_trade(trade: At, r: Reading, ext: Mapping[str, Any] | None = None) -> Terms:
    """The terms of a Trade or an ExecutionInstruction."""
    ext = ext if ext is not None else extension(None)
    extras: dict[str, Any] = {}
    quantities, prices, observables = _price_quantities(trade)
    economic = trade.need("product", "the product").need(
        "economicTerms", "the economic terms (payout, collateral, dates)")
    payout = _asset_payout(economic)
    roles = resolve_roles(trade, payout.get("payerReceiver"), r.parties)
    if payout.get("payerReceiver") is not None:
        payout.need("payerReceiver", "").mark()
    if roles.principal is not None:
        extras["principal"] = roles.principal
    if roles.how != "partyRole Lender and Borrower":
        r.notes.append(f"roles from {roles.how}")

    underlier = payout.need("underlier", "the lent asset (a Security, or Cash for a cash loan)")
    loan = _token_of(underlier, r.tokens)
    loan_quantity = _loan_quantity(payout, loan, quantities, observables, r)

    fee_bps: Fraction | None = None
    for price in _referenced(walk(payout, "priceQuantity.priceSchedule"), prices):
        kind = price.get("priceType")
        kind_name = kind.scalar() if kind is not None else ""
        if kind_name == "InterestRate":
            fee_bps = _decimal(price.need("value", "the fee rate"), "a rate") * 10000
            price.mark()
        elif kind_name == "AssetPrice":
            extras["price"] = price.mark().value
        else:
            raise CdmError(price.path, f"a {show(kind_name)} price on the loan cannot be mapped: "
                           "expected the lending fee (InterestRate) or the trade price "
                           "(AssetPrice)")

    base = ext["baseCurrency"]
    if base is None:
        known = r.tokens.get(loan) if r.tokens is not None else None
        if known is None:
            raise CdmError(f"$.{EXTENSION}.baseCurrency",
                           "missing; CDM has no valuation currency for the trade: give it here "
                           "(or import with the token definitions to take the loan's currency)")
        base = known.currency

    minimum: Fraction | None = None
    minimum_at = payout.get("minimumFee")
    if minimum_at is not None:
        amount = _decimal(minimum_at.need("value", "the minimum fee"), "an amount")
        currency = walk(minimum_at, "unit.currency")
        code = currency.scalar() if currency is not None else base
        if code == base:
            minimum = amount
        elif amount:
            extras["minimumFee"] = minimum_at.mark().value
            r.notes.append(f"minimum fee {amount} {code} is not in the base currency {base}: "
                           "kept, not applied")
        else:
            minimum_at.mark()  # a zero minimum in any currency is no minimum
    for key in ("dividendTerms", "tradeType", "settlementTerms"):
        found = payout.get(key)
        if found is not None:
            extras[key] = found.mark().value
    legs_at = payout.get("assetLeg")
    if legs_at is not None:
        extras["assetLeg"] = legs_at.mark().value

    collateral = economic.get("collateral") or trade.get("collateral")
    if collateral is None:
        raise CdmError(f"{economic.path}.collateral", "missing; expected the collateral "
                       "(collateralPortfolio with collateralPosition, collateralProvisions)")
    legs, rebate, day_count, schedule_id = _collateral(collateral, quantities, prices,
                                                       observables, r, extras)
    # what the trade lots hold that no payout refers to: the fee and the trade price beside the
    # loan, and the loan's value
    seen = trade.seen if trade.seen is not None else set()
    for price in prices.values():
        if price.path in seen:
            continue
        kind = walk(price, "priceType")
        if kind is not None and kind.scalar() == "InterestRate" and fee_bps is None:
            fee_bps = _decimal(price.need("value", "the fee rate"), "a rate") * 10000
            price.mark()
        elif kind is not None and kind.scalar() == "AssetPrice" and "price" not in extras:
            extras["price"] = price.mark().value
        else:
            raise CdmError(price.path, "a price no payout refers to, and not the loan's fee or "
                           "price: cannot be mapped")
    for quantity in quantities.values():
        if quantity.path not in seen and walk(quantity, "unit.currency") is not None:
            extras.setdefault("loanValue", quantity.mark().value)
    haircut = _valuation(collateral, r)
    _check_collateral_type(collateral, [token for token, _, _ in legs], r.tokens)

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

    agreement_id, reference = _trade_ids(trade, extras)
    fee = None
    if fee_bps is not None or minimum:
        fee = FeeTerms(fee_bps or Fraction(0), minimum or None)
    # what an export derives from the terms is not kept: only what the record adds
    if extras.get("assetLeg") == derived_asset_legs(start, end):
        del extras["assetLeg"]
    if extras.get("tradeType") == "SecurityLending":
        del extras["tradeType"]
    if extras.get("settlementTerms") == SETTLEMENT_TERMS:
        del extras["settlementTerms"]
    if schedule_id and extras.get("portfolioIdentifier") == derived_portfolio(schedule_id):
        del extras["portfolioIdentifier"]
    extras.update(ext["cdmExtras"])
    if ext["haircut"] is not None:
        haircut = ext["haircut"]
    exact = ext["tokenHaircuts"]
    legs = [(token, q, exact.get(token, h)) for token, q, h in legs]
    day_count = day_count or ext["dayCount"]
    return Terms(
        id=agreement_id,
        reference=reference,
        lender=roles.lender,
        borrower=roles.borrower,
        loan_token=loan,
        loan_quantity=loan_quantity,
        collateral=tuple(CollateralLeg(token, q, h) for token, q, h in legs),
        base_currency=base,
        haircut=haircut,
        threshold=ext["threshold"],
        mode=mode,
        settlement_lag_days=ext["settlementLagDays"],
        auto_issue=ext["autoIssue"],
        minimum_transfer_amount=ext["minimumTransferAmount"],
        trade_date=trade_date,
        start_date=start,
        end_date=end,
        fee=fee,
        rebate=rebate,
        day_count=day_count if (fee is not None or rebate is not None) else "",
        schedule=ext["schedule"],
        schedule_id=schedule_id,
        notice_days=ext["noticeDays"],
        substitution_pre_authorised=ext["substitutionPreAuthorised"],
        no_early_return=ext["noEarlyReturn"],
        cdm_extras=extras or None,
    )


def extension(root: At | None) -> dict[str, Any]:
    """The tanpo extension's terms (defaults without one)."""
    out: dict[str, Any] = {"collateralPriority": None, "adjustmentMode": None,
                           "settlementLagDays": 0, "autoIssue": False,
                           "minimumTransferAmount": Fraction(0), "baseCurrency": None,
                           "threshold": Fraction(0), "noticeDays": 0,
                           "substitutionPreAuthorised": False, "noEarlyReturn": False,
                           "schedule": None, "dayCount": "", "haircut": None,
                           "tokenHaircuts": {}, "cdmExtras": {}}
    ext = root.get(EXTENSION) if root is not None else None
    if ext is None:
        return out
    ext.mark()
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
    threshold = ext.get("threshold")
    if threshold is not None:
        out["threshold"] = _fraction01(threshold, "threshold")
    for key in ("noticeDays", "substitutionPreAuthorised", "noEarlyReturn", "dayCount",
                "masterAgreement"):
        found = ext.get(key)
        if found is not None:
            out[key] = found.value
    schedule = ext.get("schedule")
    if schedule is not None:
        try:
            out["schedule"] = Schedule.from_json(schedule.obj())
        except (KeyError, TypeError, ValueError) as exc:
            raise CdmError(schedule.path, f"not an eligibility schedule: {exc}") from None
    haircut = ext.get("haircut")
    if haircut is not None:
        out["haircut"] = _exact01(haircut, "haircut")
    token_haircuts = ext.get("tokenHaircuts")
    if token_haircuts is not None:
        out["tokenHaircuts"] = {k: _exact01(token_haircuts.need(k, ""), f"haircut of {k}")
                                for k in token_haircuts.obj()}
    kept = ext.get("cdmExtras")
    if kept is not None:
        out["cdmExtras"] = dict(kept.obj())
    base = ext.get("baseCurrency")
    if base is not None:
        code = base.text("an ISO 4217 currency code such as \"JPY\"")
        if not _CURRENCY.fullmatch(code):
            raise CdmError(base.path, f'expected an ISO 4217 currency code such as "JPY", '
                           f"got {show(code)}")
        out["baseCurrency"] = code
    return out


def _trade_ids(trade: At, extras: dict[str, Any]) -> tuple[str, str]:
    """(tanpo agreement id, the parties' own reference): tanpo's identifier gives the id, the
    reference identifier tanpo writes gives the reference; another issuer's identifier is the
    reference too, and the identifiers are kept for the export."""
    ids = trade.get("tradeIdentifier")
    agreement_id = reference = ""
    others: list[Any] = []
    for ident in ids.items() if ids is not None else []:
        issuer = ident.get("issuer")
        assigned = ident.need("assignedIdentifier", "the trade id").first("the trade id")
        value = assigned.need("identifier", "the trade id").text("a trade id")
        name = issuer.scalar() if issuer is not None else ""
        ident.mark()
        if name == TRADE_ID_ISSUER:
            agreement_id = value
        elif name == REFERENCE_ISSUER:
            reference = value
        else:
            reference = reference or value[:64]
            others.append(ident.value)
    if others:
        extras["tradeIdentifier"] = others
    return agreement_id, reference


# -- price quantities --


def _price_quantities(trade: At) -> tuple[dict[str, At], dict[str, At], dict[str, At]]:
    """Every keyed quantity, price and observable of the trade lots (or an instruction's own
    ``priceQuantity``), by scoped key."""
    quantities: dict[str, At] = {}
    prices: dict[str, At] = {}
    observables: dict[str, At] = {}
    pqs: list[At] = []
    lots = trade.get("tradeLot")
    for lot in lots.items() if lots is not None else []:
        found = lot.get("priceQuantity")
        pqs += found.items() if found is not None else []
    own = trade.get("priceQuantity")
    pqs += own.items() if own is not None else []
    for n, pq in enumerate(pqs):
        for name, into in (("quantity", quantities), ("price", prices)):
            found = pq.get(name)
            for item in found.items() if found is not None else []:
                into[_scoped_key(item.obj()) or f"#{name}{n}"] = item
        observable = pq.get("observable")
        if observable is not None:
            observables[_scoped_key(observable.obj()) or f"#observable{n}"] = observable
            inner = observable.value.get("@data") if isinstance(observable.value, dict) else None
            if isinstance(inner, dict) and _scoped_key(inner):  # an index keyed inside @data
                observables[str(_scoped_key(inner))] = observable
    return quantities, prices, observables


def _referenced(refs: At | None, keyed: Mapping[str, At]) -> Iterator[At]:
    for ref in refs.items() if refs is not None else []:
        key = _scoped_ref(ref.obj())
        if key is None or key not in keyed:
            raise CdmError(ref.path, f"refers to {key!r}, which no priceQuantity defines")
        yield keyed[key]


def _the_one(ref: At | None, keyed: Mapping[str, At], what: str, where: str = "") -> At:
    """What a reference names, which must be exactly one."""
    found = list(_referenced(ref, keyed))
    if len(found) != 1:
        raise CdmError(ref.path if ref is not None else where,
                       f"expected a reference to {what}, found {len(found)}")
    return found[0]


def _unwrap(observable: At) -> At:
    """An observable's asset or index, through CDM's ``@data`` wrappers."""
    at = observable
    while isinstance(at.value, dict) and "@data" in at.value and isinstance(
            at.value["@data"], dict):
        at = at.child(at.value["@data"], f"{at.path}.@data")
    return at


def _loan_quantity(payout: At, loan: str, quantities: Mapping[str, At],
                   observables: Mapping[str, At], r: Reading) -> int:
    schedule = walk(payout, "priceQuantity.quantitySchedule")
    found: At | None = None
    if schedule is not None:
        obj = schedule.obj()
        if "value" in obj and not _scoped_ref(obj):
            found = schedule
        else:
            found = _the_one(schedule, quantities, "the loan quantity")
    if found is None:
        raise CdmError(f"{payout.path}.priceQuantity", "missing; expected the loan quantity "
                       "(priceQuantity.quantitySchedule referring to a trade lot quantity)")
    # the trade lot's observable of the loan must be the lent asset
    for observable in observables.values():
        asset = _unwrap(observable)
        kind = asset.obj().get("@type", "")
        if isinstance(kind, str) and kind.endswith(("InterestRateIndex", "FloatingRateIndex")):
            continue
        if _token_of(asset, r.tokens) != loan:
            raise CdmError(observable.path, f"observes {_token_of(asset, r.tokens)}, but the "
                           f"loan is {loan}")
    _check_unit(found, loan, r.tokens)
    quantity = _whole(found.need("value", "the loan quantity"), allow_zero=r.allow_zero)
    found.mark()
    return quantity


# -- payout, collateral, valuation --


def _asset_payout(economic: At) -> At:
    payouts = economic.need("payout", "an AssetPayout (the loan leg)")
    found: list[At] = []
    for item in payouts.items():
        obj = item.obj()
        if isinstance(obj.get("@type"), str):
            name = str(obj["@type"]).rsplit(".", 1)[-1]
            item.child(obj["@type"], f"{item.path}.@type").mark()
        elif len(obj) == 1 and isinstance(next(iter(obj.values())), dict | list):
            name = next(iter(obj))
            item = item.child(obj[name], f"{item.path}.{name}").first("the payout")
        else:
            name = "AssetPayout" if "underlier" in obj else "?"
        if name != "AssetPayout":
            raise CdmError(item.path, f"a {name} cannot be the loan leg: expected one "
                           "AssetPayout (the rebate is read from the cash collateral position)")
        found.append(item)
    if len(found) != 1:
        raise CdmError(payouts.path, f"expected exactly one AssetPayout (the loan leg), "
                       f"found {len(found)}")
    return found[0]


def _collateral(collateral: At, quantities: Mapping[str, At], prices: Mapping[str, At],
                observables: Mapping[str, At], r: Reading, extras: dict[str, Any]
                ) -> tuple[list[tuple[str, int, Fraction | None]], RebateTerms | None, str, str]:
    """(legs, rebate, day count, schedule id) of the collateral."""
    portfolios = collateral.need(
        "collateralPortfolio", "one collateral portfolio with the collateral positions").items()
    if len(portfolios) != 1:
        raise CdmError(f"{collateral.path}.collateralPortfolio",
                       f"expected one portfolio, found {len(portfolios)}")
    portfolio = portfolios[0]
    schedule_id = ""
    ident = walk(portfolio, "portfolioIdentifier")
    if ident is not None:
        value = ident.need("assignedIdentifier", "the schedule id").first("the schedule id")
        schedule_id = value.need("identifier", "the schedule id").text("a schedule id")
        extras["portfolioIdentifier"] = ident.mark().value
    positions = portfolio.get("collateralPosition")
    if positions is None or not positions.items():
        if schedule_id:
            r.notes.append(f"collateral from schedule {schedule_id}: no positions, so the "
                           "collateral tokens are chosen from the schedule at the first call")
            _collateral_value(quantities, r, extras)
            return [], None, "", schedule_id
        raise CdmError(f"{portfolio.path}.collateralPosition",
                       "missing; expected one position per collateral token (or a "
                       "portfolioIdentifier naming an eligibility schedule)")
    legs: list[tuple[str, int, Fraction | None]] = []
    rebate: RebateTerms | None = None
    day_count = ""
    for position in positions.items():
        product = position.get("asset") or position.need("product", "the collateral asset")
        asset = product.get("asset") or product
        if isinstance(product.value, dict) and isinstance(product.value.get("@type"), str):
            product.need("@type", "").mark()
        token = _token_of(asset, r.tokens)
        if any(token == t for t, _, _ in legs):
            raise CdmError(asset.path, f"collateral token {token} is listed twice")
        quantity: At | None = None
        pqs = position.get("priceQuantity")
        for pq in pqs.items() if pqs is not None else []:
            if pq.get("quantity") is not None:
                if quantity is not None:
                    raise CdmError(pq.path, "a second collateral quantity")
                quantity = pq.need("quantity", "").first("the collateral quantity")
            rates = pq.get("price")
            for price in rates.items() if rates is not None else []:
                price.mark()  # the rebate rate again: the rebate leg refers to the lot's copy
            if pq.get("observable") is not None:
                pq.need("observable", "").mark()  # the rebate's benchmark, as in the rate option
        leg_rebate, leg_quantity, leg_days = _rebate_leg(product, quantities, prices,
                                                         observables, r, extras)
        if leg_rebate is not None:
            if rebate is not None:
                raise CdmError(product.path, "a second rebate: tanpo takes one per agreement")
            rebate, day_count = leg_rebate, leg_days
        quantity = quantity or leg_quantity
        if quantity is None:
            raise CdmError(f"{position.path}.priceQuantity", "missing; expected the collateral "
                           "quantity (here or in the position's rebate leg)")
        _check_unit(quantity, token, r.tokens)
        qty = _whole(quantity.need("value", "the collateral quantity"), allow_zero=True)
        haircut: Fraction | None = None
        valuation = walk(position, "treatment.valuationTreatment")
        if valuation is not None:
            haircut = _haircut(valuation, r)
        legs.append((token, qty, haircut))
    return legs, rebate, day_count, schedule_id


def _collateral_value(quantities: Mapping[str, At], r: Reading, extras: dict[str, Any]) -> None:
    """A schedule-based trade's collateral value (its cash-valued trade lot quantity), kept."""
    for quantity in quantities.values():
        if walk(quantity, "unit.currency") is not None:
            extras["loanValue"] = quantity.mark().value
            r.notes.append(f"collateral value {quantity.value.get('value')} "
                           f"{walk(quantity, 'unit.currency').scalar()}")  # type: ignore[union-attr]
            return


def _rebate_leg(product: At, quantities: Mapping[str, At], prices: Mapping[str, At],
                observables: Mapping[str, At], r: Reading, extras: dict[str, Any]
                ) -> tuple[RebateTerms | None, At | None, str]:
    """(rebate, collateral quantity, day count) of a cash position's InterestRatePayout."""
    payouts = walk(product, "economicTerms.payout")
    if payouts is None:
        return None, None, ""
    economic = product.need("economicTerms", "")
    for key in ("effectiveDate", "terminationDate"):
        found = economic.get(key)
        if found is not None:
            extras.setdefault("rebateDates", {})[key] = found.mark().value
    rebate: RebateTerms | None = None
    quantity: At | None = None
    day_count = ""
    for payout in payouts.items():
        kind = str(payout.obj().get("@type", "")).rsplit(".", 1)[-1]
        if kind != "InterestRatePayout":
            raise CdmError(payout.path, f"a {kind or 'payout'} on collateral cannot be mapped: "
                           "expected the rebate (an InterestRatePayout)")
        payout.need("@type", "").mark()
        if payout.get("payerReceiver") is not None:
            payout.need("payerReceiver", "").mark()
        schedule = walk(payout, "priceQuantity.quantitySchedule")
        if schedule is not None:
            quantity = _the_one(schedule, quantities, "the collateral quantity")
        spec = payout.get("rateSpecification")
        spec_kind = str(spec.obj().get("@type", "")).rsplit(".", 1)[-1] if spec else ""
        if spec is None:  # a fixed rate given only as the payout's price
            rates = list(_referenced(walk(payout, "priceQuantity.priceSchedule"), prices))
            if len(rates) != 1:
                raise CdmError(f"{payout.path}.rateSpecification", "missing; expected the "
                               "rebate rate (a rate specification or one InterestRate price)")
            rebate = RebateTerms(fixed=_signed(rates[0].need("value", "the rate")) * 100)
            rates[0].mark()
        elif spec_kind == "FixedRateSpecification":
            spec.need("@type", "the rate kind").mark()
            price = _the_one(walk(spec, "rateSchedule.price"), prices, "the rebate rate",
                             f"{spec.path}.rateSchedule.price")
            rebate = RebateTerms(fixed=_signed(price.need("value", "the rate")) * 100)
            price.mark()
        elif spec_kind == "FloatingRateSpecification":
            spec.need("@type", "the rate kind").mark()
            option = _the_one(spec.need("rateOption", "the benchmark"), observables,
                              "the benchmark")
            index = _unwrap(option.mark())
            name = index.need("floatingRateIndex", "the benchmark").text("a benchmark")
            benchmark = name.split("-", 1)[1] if re.fullmatch(r"[A-Z]{3}-.+", name) else name
            if not _BENCHMARK.fullmatch(benchmark):
                raise CdmError(f"{index.path}.floatingRateIndex", f"benchmark {name!r}: tanpo "
                               "names a benchmark in capitals and digits, e.g. SONIA")
            index.mark()
            spread = Fraction(0)
            spread_at = walk(spec, "spreadSchedule.price")
            if spread_at is not None:
                price = _the_one(spread_at, prices, "the spread")
                spread = _signed(price.need("value", "the spread")) * 10000
                price.mark()
            rebate = RebateTerms(benchmark=benchmark, spread_bps=spread)
            if benchmark != name:
                r.notes.append(f"rebate benchmark {name} read as {benchmark}")
        else:
            raise CdmError(f"{payout.path}.rateSpecification", f"a {spec_kind or 'rate'} cannot "
                           "be mapped: expected a fixed or floating rate")
        days = payout.get("dayCountFraction")
        if days is not None:
            text = days.text("a day count")
            if text not in _DAY_COUNTS:
                raise CdmError(days.path, f"day count {text!r}: tanpo accrues ACT/365F or "
                               "ACT/360")
            day_count = _DAY_COUNTS[text]
        for key in ("paymentDates", "calculationPeriodDates"):
            found = payout.get(key)
            if found is not None:
                extras.setdefault("rebateSchedule", {})[key] = found.mark().value
    return rebate, quantity, day_count


def _haircut(valuation: At, r: Reading) -> Fraction | None:
    """α of a CollateralValuationTreatment: haircutPercentage h is α = h, marginPercentage r is
    α = 1 − 1/r."""
    for key in ("fxHaircutPercentage", "additionalHaircutPercentage"):
        if valuation.get(key) is not None:
            raise CdmError(f"{valuation.path}.{key}", "cannot be mapped: tanpo applies one "
                           "haircut per token (give it as haircutPercentage)")
    h = valuation.get("haircutPercentage")
    m = valuation.get("marginPercentage")
    if h is not None and m is not None:
        raise CdmError(m.path, "both a haircut and a margin ratio: CDM requires one of them")
    if h is not None:
        return _fraction01(h, "haircut")
    if m is None:
        return None
    ratio = _decimal(m, "a margin ratio such as 1.02 (collateral worth 102 % of the loan)")
    if ratio == 0:
        raise CdmError(m.path, "a margin ratio of 0: expected e.g. 1.02")
    if ratio < 1:
        r.notes.append(f"marginPercentage {m.scalar()} is below 1, which CDM's MarginPercentage "
                       f"condition forbids: read as the margin over 100 % (ratio "
                       f"{decimal_string(1 + ratio)})")
        ratio += 1
    return margin_ratio_to_haircut(ratio)


def margin_ratio_to_haircut(ratio: Fraction) -> Fraction:
    """tanpo's haircut α for a CDM margin ratio r (collateral ≥ r × loan ⇔ (1 − α) = 1/r)."""
    if ratio < 1:
        raise ValueError(f"a margin ratio is at least 1, got {ratio}")
    return 1 - 1 / ratio


def haircut_to_margin_ratio(haircut: Fraction) -> Fraction:
    """The CDM margin ratio r for tanpo's haircut α: r = 1 / (1 − α)."""
    if not 0 <= haircut < 1:
        raise ValueError(f"a haircut is in [0, 1), got {haircut}")
    return 1 / (1 - haircut)


def _valuation(collateral: At, r: Reading) -> Fraction:
    provisions = collateral.need("collateralProvisions", "collateralType (and eligibleCollateral "
                                 "with the haircut)")
    eligible = provisions.get("eligibleCollateral")
    haircut: Fraction | None = None
    for entry in eligible.items() if eligible is not None else []:
        criteria = entry.get("collateralCriteria") or entry.get("criteria")
        if criteria is not None:
            criteria.mark()  # tanpo's criteria name the collateral tokens, as the positions do
        treatment = entry.need("treatment", "the collateral treatment")
        included = treatment.get("isIncluded")
        if included is not None and included.scalar() is False:
            raise CdmError(included.path, "exclusion criteria cannot be mapped: tanpo's "
                           "collateral is the listed positions")
        valuation = treatment.get("valuationTreatment")
        if valuation is None:
            continue
        found = _haircut(valuation, r)
        if found is not None:
            if haircut is not None and found != haircut:
                raise CdmError(valuation.path, "a second agreement-wide haircut: tanpo takes one "
                               "(give per-token haircuts on collateralPosition[].treatment)")
            haircut = found
    return haircut if haircut is not None else Fraction(0)


def _check_collateral_type(collateral: At, legs: list[str],
                           tokens: Mapping[str, Token] | None) -> None:
    at = walk(collateral, "collateralProvisions.collateralType")
    if at is None:
        raise CdmError(f"{collateral.path}.collateralProvisions.collateralType",
                       "missing; expected Cash, NonCash or CashPool")
    kind = at.scalar()
    if kind not in ("Cash", "NonCash", "CashPool"):
        raise CdmError(at.path, f"expected Cash, NonCash or CashPool, got {show(kind)}")
    if tokens is None or not legs:
        return
    all_cash = all(tokens[t].kind == "CT" for t in legs if t in tokens)
    if kind in ("Cash", "CashPool") and not all_cash:
        securities = [t for t in legs if t in tokens and tokens[t].kind == "ST"]
        raise CdmError(at.path, f"{kind}, but collateral {', '.join(securities)} is a security: "
                       "expected NonCash")
    if kind == "NonCash" and all_cash:
        raise CdmError(at.path, "NonCash, but every collateral token is cash: expected Cash")


# -- assets --


def _token_of(at: At, tokens: Mapping[str, Token] | None) -> str:
    """The tanpo token an Asset (or a TransferableProduct holding one) stands for."""
    if isinstance(at.value, dict) and "asset" in at.value and "identifier" not in at.value:
        at = at.need("asset", "the asset")
    kind, body = _asset_kind(at)
    if isinstance(at.value, dict):
        for key in ("@type", "assetType", "securityType"):
            if key in at.value:
                at.child(at.value[key], f"{at.path}.{key}").mark()
    if kind not in ("Security", "Cash"):
        raise CdmError(at.path, f"a {kind} cannot be a tanpo token: expected a Security or Cash")
    by_type: dict[str, list[tuple[At, str, str]]] = {}
    for ident in body.need("identifier", "the asset's identifiers").items():
        value_at = ident.need("identifier", "an identifier")
        value = value_at.text("an identifier")
        scheme = value_at.value.get("@scheme", "") if isinstance(value_at.value, dict) else ""
        id_type = ident.need("identifierType", "an identifier type").scalar()
        by_type.setdefault(str(id_type), []).append((value_at, value, str(scheme)))

    own = [o for o in by_type.get("Other", []) if o[2] == TOKEN_SCHEME]
    if not own and tokens is None:
        own = by_type.get("Other", [])
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
        given = ", ".join(f"{t} {v}" for t, vs in by_type.items() for _, v, _ in vs)
        raise CdmError(where, f"no token definition lists {given or 'these identifiers'}: "
                       "define the token with that identifier (tanpo token define "
                       "--identifier TYPE=VALUE) and read with the token definitions")
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
    lookups = ("CurrencyCode",) if kind == "Cash" else SECURITY_ID_TYPES
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
    return token.kind == "ST" and token.identifier(id_type) == value


def _exact01(at: At, what: str) -> Fraction:
    """An exact value in [0, 1) written as a decimal or a ratio "n/d"."""
    text = at.scalar()
    try:
        value = Fraction(str(text)) if isinstance(text, str) and text else None
    except (ValueError, ZeroDivisionError):
        value = None
    if value is None or not 0 <= value < 1:
        raise CdmError(at.path, f"expected the exact {what} in [0, 1) such as \"1/51\", "
                       f"got {show(text)}")
    return value


def _signed(at: At) -> Fraction:
    value = at.scalar()
    text = str(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else ""
    negative = text.startswith("-")
    body = At(Decimal(text[1:]) if negative else value, at.path)
    magnitude = _decimal(body, "a rate such as 0.01")
    return -magnitude if negative else magnitude


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
    if unit is not None:
        unit.mark()  # checked against the token's definition when there is one
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
