"""Typed views of what the tanpo chaincode stores and returns.

The chaincode speaks JSON with every quantity and decimal as a string; here quantities become
`int`, decimals and engine values (`"n"` or `"n/d"`) become `Fraction`, and dates `datetime.date`.
Each dataclass keeps the original JSON in `raw` for anything not modelled.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

Json = dict[str, Any]


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON text with exact numbers: a `Decimal` (a CDM figure kept in ``cdmExtras``) is written
    digit for digit and a `Fraction` as its exact decimal, never through a float. Compact without
    ``indent``."""
    return _json(value, indent, 0)


def _json(value: Any, indent: int | None, level: int) -> str:
    def each(items: list[str], opening: str, closing: str) -> str:
        if not items:
            return opening + closing
        if indent is None:
            return opening + ",".join(items) + closing
        pad, inner = " " * (indent * level), " " * (indent * (level + 1))
        return opening + "\n" + ",\n".join(inner + i for i in items) + "\n" + pad + closing

    if isinstance(value, Mapping):
        colon = ":" if indent is None else ": "
        return each([f"{json.dumps(str(k), ensure_ascii=False)}{colon}"
                     f"{_json(v, indent, level + 1)}" for k, v in value.items()], "{", "}")
    if isinstance(value, list | tuple):
        return each([_json(v, indent, level + 1) for v in value], "[", "]")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        return format(value, "f") if -40 <= value.adjusted() <= 40 else str(value)
    if isinstance(value, Fraction):
        return decimal_string(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def decode(raw: bytes | str) -> Any:
    """The chaincode's JSON: its decimals are strings, and a JSON number with a fraction (a CDM
    figure in ``cdmExtras``) is read exactly, as a Decimal."""
    return json.loads(raw, parse_float=Decimal)


def frac(value: object) -> Fraction:
    """An exact value from the chaincode's decimal or rational strings ("101.25", "131/4")."""
    if value in (None, ""):
        return Fraction(0)
    return Fraction(str(value))


def opt_date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


#: The types of a token's other market identifiers (``Token.identifiers`` keys), as the chaincode
#: accepts them: the ISDA CDM's AssetIdTypeEnum names. The ISIN and the ticker have their own
#: fields (``Token.isin``, ``Token.ticker``).
TOKEN_IDENTIFIER_TYPES = ("BBGID", "BBGTICKER", "CUSIP", "ClearingCode", "ExchangeCode", "FIGI",
                          "RIC", "SEDOL", "Wertpapier")
#: At most this many identifiers per token.
MAX_TOKEN_IDENTIFIERS = 8


@dataclass(frozen=True)
class Token:
    id: str
    kind: str  # ST | CT
    currency: str
    quote_convention: str
    asset_class: str = ""
    credit_rating: str = ""
    isin: str = ""
    ticker: str = ""
    name: str = ""
    raw: Json = field(default_factory=dict, repr=False, compare=False)
    minimal_unit: str = ""  # "" = the chaincode's default ("1")
    issuer: str = ""
    #: other market identifiers by type (`TOKEN_IDENTIFIER_TYPES`: SEDOL, CUSIP, FIGI, …)
    identifiers: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, d: Json) -> Token:
        return cls(
            id=d["id"], kind=d["kind"], currency=d["currency"],
            quote_convention=d.get("quoteConvention", "per-unit"),
            asset_class=d.get("assetClass", ""), credit_rating=d.get("creditRating", ""),
            isin=d.get("isin", ""), ticker=d.get("ticker", ""), name=d.get("name", ""), raw=d,
            minimal_unit=d.get("minimalUnit", ""), issuer=d.get("issuer", ""),
            identifiers={str(k): str(v) for k, v in (d.get("identifiers") or {}).items()},
        )

    def to_spec(self) -> Json:
        spec: Json = {
            "id": self.id, "kind": self.kind, "currency": self.currency,
            "quoteConvention": self.quote_convention, "assetClass": self.asset_class,
        }
        for key, value in (("creditRating", self.credit_rating), ("isin", self.isin),
                           ("ticker", self.ticker), ("name", self.name),
                           ("minimalUnit", self.minimal_unit), ("issuer", self.issuer)):
            if value:
                spec[key] = value
        if self.identifiers:
            spec["identifiers"] = dict(sorted(self.identifiers.items()))
        return spec

    def identifier(self, kind: str) -> str:
        """The token's identifier of a type, "" when it has none: ``"ISIN"`` is the isin,
        ``"ticker"`` the ticker, ``"ExchangeCode"`` the ExchangeCode identifier or else the
        ticker, any other type (``"SEDOL"``, ``"CUSIP"``, ``"FIGI"`` …) its identifier."""
        if kind == "ISIN":
            return self.isin
        if kind == "ticker":
            return self.ticker
        if kind == "ExchangeCode":
            return self.identifiers.get("ExchangeCode") or self.ticker
        return self.identifiers.get(kind, "")


@dataclass(frozen=True)
class Balance:
    party: str
    token: str
    quantity: int


@dataclass(frozen=True)
class Request:
    id: str
    kind: str  # issuance | redemption
    token: str
    party: str
    quantity: int
    reference: str
    status: str  # PENDING | APPROVED | REJECTED
    reason: str = ""
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Request:
        return cls(d["id"], d["kind"], d["token"], d["party"], int(d["quantity"]),
                   d.get("reference", ""), d["status"], d.get("reason", ""), d)


@dataclass(frozen=True)
class CollateralLeg:
    token: str
    quantity: int
    haircut: Fraction | None = None


#: Day counts the chaincode accrues fees and rebates with (default: the base currency's,
#: ACT/365F for JPY and GBP, ACT/360 for USD and EUR).
DAY_COUNTS = ("ACT/365F", "ACT/360")


@dataclass(frozen=True)
class FeeTerms:
    """The lending fee the borrower pays: ``bps`` per annum on the loan's market value, with an
    optional ``minimum`` per monthly invoice (base currency)."""

    bps: Fraction
    minimum: Fraction | None = None

    def to_json(self) -> Json:
        out: Json = {"bps": decimal_string(self.bps)}
        if self.minimum is not None:
            out["minimum"] = decimal_string(self.minimum)
        return out

    @classmethod
    def from_json(cls, d: Json) -> FeeTerms:
        return cls(frac(d.get("bps")), frac(d["minimum"]) if d.get("minimum") else None)


@dataclass(frozen=True)
class RebateTerms:
    """The rebate the lender pays on cash collateral: ``fixed`` percent per annum, or the
    ``benchmark``'s fixing (posted by the oracle with the prices) plus ``spread_bps``. Any sign."""

    fixed: Fraction | None = None
    benchmark: str = ""
    spread_bps: Fraction | None = None

    def to_json(self) -> Json:
        out: Json = {}
        if self.fixed is not None:
            out["fixed"] = decimal_string(self.fixed)
        if self.benchmark:
            out["benchmark"] = self.benchmark
        if self.spread_bps is not None:
            out["spreadBps"] = decimal_string(self.spread_bps)
        return out

    @classmethod
    def from_json(cls, d: Json) -> RebateTerms:
        return cls(frac(d["fixed"]) if d.get("fixed") else None, str(d.get("benchmark") or ""),
                   frac(d["spreadBps"]) if d.get("spreadBps") else None)


#: Cap groupings of a schedule's concentration limits.
CAP_BY = ("issuer", "assetClass", "token")


@dataclass(frozen=True)
class Cap:
    """A concentration limit: the share of the held collateral's market value one group may have
    (``by`` issuer, assetClass or token; ``key`` names the group, "" = every group of that kind;
    ``max`` in (0, 1])."""

    by: str
    key: str = ""
    max: Fraction = Fraction(1)

    def to_json(self) -> Json:
        out: Json = {"by": self.by}
        if self.key:
            out["key"] = self.key
        out["max"] = decimal_string(self.max)
        return out

    @classmethod
    def from_json(cls, d: Json) -> Cap:
        return cls(str(d.get("by", "")), str(d.get("key") or ""), frac(d.get("max")))


@dataclass(frozen=True)
class Schedule:
    """An eligibility schedule (the chaincode's ``margin.Schedule``): eligible asset classes and
    currencies (empty: any), a minimum credit rating (S&P scale; cash exempt), haircuts by
    ``token:<id>`` or ``class:<assetClass>``, and concentration caps. Each part is left out of
    the JSON when empty, as the chaincode writes it."""

    asset_classes: tuple[str, ...] = ()
    currencies: tuple[str, ...] = ()
    min_rating: str = ""
    haircuts: Mapping[str, Fraction] = field(default_factory=dict)
    caps: tuple[Cap, ...] = ()

    def to_json(self) -> Json:
        out: Json = {}
        if self.asset_classes:
            out["assetClasses"] = list(self.asset_classes)
        if self.currencies:
            out["currencies"] = list(self.currencies)
        if self.min_rating:
            out["minRating"] = self.min_rating
        if self.haircuts:
            out["haircuts"] = {k: decimal_string(v) for k, v in self.haircuts.items()}
        if self.caps:
            out["caps"] = [c.to_json() for c in self.caps]
        return out

    @classmethod
    def from_json(cls, d: Json) -> Schedule:
        return cls(
            asset_classes=tuple(str(x) for x in d.get("assetClasses") or []),
            currencies=tuple(str(x) for x in d.get("currencies") or []),
            min_rating=str(d.get("minRating") or ""),
            haircuts={str(k): frac(v) for k, v in (d.get("haircuts") or {}).items()},
            caps=tuple(Cap.from_json(c) for c in d.get("caps") or []),
        )


@dataclass(frozen=True)
class Terms:
    """An agreement's terms, as proposed. Collateral order is the priority order CT1..CTn."""

    lender: str
    borrower: str
    loan_token: str
    loan_quantity: int
    collateral: tuple[CollateralLeg, ...]
    base_currency: str
    haircut: Fraction = Fraction(0)
    threshold: Fraction = Fraction(0)
    mode: str = "single"
    settlement_lag_days: int = 0
    auto_issue: bool = False
    minimum_transfer_amount: Fraction = Fraction(0)
    trade_date: date | None = None
    start_date: date | None = None
    end_date: date | None = None
    id: str = ""  # public (events and receipts name it): leave it out for an opaque one
    reference: str = ""  # the parties' own trade reference, private like every other term
    #: life cycle: days of notice that end an open loan (``GiveNotice``), substitutions settled
    #: without the lender's approval, and a term loan that cannot be returned before its end date
    notice_days: int = 0
    substitution_pre_authorised: bool = False
    no_early_return: bool = False
    #: economics: the lending fee, the rebate on cash collateral, and the day count they accrue
    #: with ("" = the base currency's)
    fee: FeeTerms | None = None
    rebate: RebateTerms | None = None
    day_count: str = ""
    #: eligibility: the terms' own schedule, or the id of one the pair defined
    #: (``Party.define_schedule``); not both
    schedule: Schedule | None = None
    schedule_id: str = ""
    #: what a CDM record says that no term holds (dividend terms, delivery method, settlement
    #: dates, the trade price, a principal …), kept verbatim for a CDM export: a JSON object
    #: (None: none); the chaincode refuses one over 16384 bytes or nested over 16 levels
    cdm_extras: Mapping[str, Any] | None = field(default=None, hash=False)

    def to_json(self) -> Json:
        def dec(x: Fraction) -> str:
            return decimal_string(x)

        out: Json = {
            "lender": self.lender,
            "borrower": self.borrower,
            "loan": {"token": self.loan_token, "quantity": str(self.loan_quantity)},
            "collateral": [
                {"token": c.token, "quantity": str(c.quantity),
                 **({"haircut": exact_string(c.haircut)} if c.haircut is not None else {})}
                for c in self.collateral
            ],
            "baseCurrency": self.base_currency,
            "haircut": exact_string(self.haircut),
            "threshold": dec(self.threshold),
            "mode": self.mode,
            "settlementLagDays": self.settlement_lag_days,
            "autoIssue": self.auto_issue,
            "minimumTransferAmount": dec(self.minimum_transfer_amount),
            # The chaincode's dates are business dates (Asia/Tokyo by default): default so too.
            "tradeDate": (self.trade_date or self.start_date or business_today()).isoformat(),
            "startDate": (self.start_date or self.trade_date or business_today()).isoformat(),
            "endDate": self.end_date.isoformat() if self.end_date else "",
        }
        if self.id:
            out["id"] = self.id
        if self.reference:
            out["reference"] = self.reference
        # omitted when default, as the chaincode writes them (omitempty)
        if self.notice_days:
            out["noticeDays"] = self.notice_days
        if self.substitution_pre_authorised:
            out["substitutionPreAuthorised"] = True
        if self.no_early_return:
            out["noEarlyReturn"] = True
        if self.fee is not None:
            out["fee"] = self.fee.to_json()
        if self.rebate is not None:
            out["rebate"] = self.rebate.to_json()
        if self.day_count:
            out["dayCount"] = self.day_count
        if self.schedule is not None:
            out["schedule"] = self.schedule.to_json()
        if self.schedule_id:
            out["scheduleId"] = self.schedule_id
        if self.cdm_extras is not None:
            out["cdmExtras"] = dict(self.cdm_extras)
        return out

    @classmethod
    def from_json(cls, d: Json) -> Terms:
        return cls(
            id=d.get("id", ""),
            reference=d.get("reference", ""),
            lender=d["lender"],
            borrower=d["borrower"],
            loan_token=d["loan"]["token"],
            loan_quantity=int(d["loan"]["quantity"]),
            collateral=tuple(
                CollateralLeg(c["token"], int(c["quantity"]),
                              frac(c["haircut"]) if c.get("haircut") else None)
                for c in d.get("collateral", [])
            ),
            base_currency=d["baseCurrency"],
            haircut=frac(d.get("haircut")),
            threshold=frac(d.get("threshold")),
            mode=d.get("mode", "single"),
            settlement_lag_days=int(d.get("settlementLagDays", 0)),
            auto_issue=bool(d.get("autoIssue", False)),
            minimum_transfer_amount=frac(d.get("minimumTransferAmount")),
            trade_date=opt_date(d.get("tradeDate")),
            start_date=opt_date(d.get("startDate")),
            end_date=opt_date(d.get("endDate")),
            notice_days=int(d.get("noticeDays") or 0),
            substitution_pre_authorised=bool(d.get("substitutionPreAuthorised", False)),
            no_early_return=bool(d.get("noEarlyReturn", False)),
            fee=FeeTerms.from_json(d["fee"]) if d.get("fee") else None,
            rebate=RebateTerms.from_json(d["rebate"]) if d.get("rebate") else None,
            day_count=str(d.get("dayCount") or ""),
            schedule=Schedule.from_json(d["schedule"]) if d.get("schedule") is not None else None,
            schedule_id=str(d.get("scheduleId") or ""),
            cdm_extras=dict(d["cdmExtras"]) if isinstance(d.get("cdmExtras"), dict) else None,
        )


#: The platform's default business time zone (the chaincode's, unless its operator set another):
#: a fixed offset, as the chaincode uses, so no zone database is needed.
BUSINESS_TZ = timezone(timedelta(hours=9), "Asia/Tokyo")


def business_today() -> date:
    """Today in the default business time zone (Asia/Tokyo), the date trade and start dates
    default to; ``TanpoClient.business_date`` asks the ledger for its own."""
    return datetime.now(BUSINESS_TZ).date()


def settlement_due(day: date, days: int = 2) -> date:
    """``days`` business days (Monday to Friday) after ``day``: the default due date of a recall,
    the loan security's settlement cycle (T+2). Market holidays are not known to the client: where
    one falls in between, give the due date yourself (``due=``, ``--due``)."""
    if days < 0:
        raise ValueError(f"days must be 0 or more, got {days}")
    due = day
    while days:
        due += timedelta(days=1)
        if due.weekday() < 5:
            days -= 1
    return due


def decimal_string(x: Fraction) -> str:
    """A Fraction as an exact decimal string; refuses values with no finite decimal form."""
    if x.denominator == 1:
        return str(x.numerator)
    den, twos, fives = x.denominator, 0, 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        raise ValueError(f"{x} has no finite decimal representation")
    places = max(twos, fives)
    scaled = x * 10**places
    sign = "-" if scaled < 0 else ""
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def exact_string(x: Fraction) -> str:
    """A Fraction as its exact decimal string, or as a reduced ratio ``"n/d"`` when it has no finite
    decimal form (a haircut of 1/51, from a CDM margin ratio of 1.02)."""
    try:
        return decimal_string(x)
    except ValueError:
        return f"{x.numerator}/{x.denominator}"


@dataclass(frozen=True)
class AccrualLine:
    """One accrued period of an agreement's fee and rebate (a margin call's, a step's or the
    close's): ``days`` from ``from_`` to ``to`` (exclusive) at the values found at its start, the
    annual rates (fractions: 0.0025 is 25 bp) and the exact amounts in the base currency."""

    from_: date
    to: date
    days: int
    loan_value: Fraction
    cash_value: Fraction
    fee_rate: Fraction
    rebate_rate: Fraction
    fee: Fraction
    rebate: Fraction

    @classmethod
    def from_json(cls, d: Json) -> AccrualLine:
        return cls(date.fromisoformat(d["from"]), date.fromisoformat(d["to"]),
                   int(d.get("days") or 0), frac(d.get("loanValue")), frac(d.get("cashValue")),
                   frac(d.get("feeRate")), frac(d.get("rebateRate")), frac(d.get("fee")),
                   frac(d.get("rebate")))

    def to_json(self) -> Json:
        """As the chaincode writes it: exact rational strings ("n" or "n/d")."""
        return {"from": self.from_.isoformat(), "to": self.to.isoformat(), "days": self.days,
                "loanValue": str(self.loan_value), "cashValue": str(self.cash_value),
                "feeRate": str(self.fee_rate), "rebateRate": str(self.rebate_rate),
                "fee": str(self.fee), "rebate": str(self.rebate)}


def accrual_lines(raw: Any) -> tuple[AccrualLine, ...]:
    return tuple(AccrualLine.from_json(a) for a in raw or [])


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    status: str
    party: str
    tx_id: str
    timestamp: str
    note: str = ""
    #: fees and rebates accrued up to a step that changed what they accrue on (returns,
    #: substitutions, buy-ins, the close)
    accruals: tuple[AccrualLine, ...] = ()


#: Every status an agreement can have. MATURED: it reached its end date (or its notice's effective
#: date) and the closing exchange could not settle; it is margined every day until it closes (a
#: return, the daily cycle) or is bought in.
AGREEMENT_STATUSES = ("PROPOSED", "ACTIVE", "MATURED", "CLOSED", "REJECTED", "WITHDRAWN")

#: Statuses of an agreement whose loan is still out (margined, returns and buy-ins possible).
OPEN_LOAN_STATUSES = ("ACTIVE", "MATURED")

#: Recall statuses: due and not returned in full, returned in full, not returned by its due date,
#: closed out by a buy-in.
RECALL_STATUSES = ("OPEN", "SETTLED", "FAILED", "BOUGHT_IN")


@dataclass(frozen=True)
class Recall:
    """The lender's call for the return of part or all of the loan by a due date."""

    id: str  # R1, R2, … within the agreement
    date: date
    due: dt.date
    quantity: int
    returned: int
    status: str  # OPEN | SETTLED | FAILED | BOUGHT_IN
    failed_on: dt.date | None = None  # the due date it failed on: its age counts from there
    tx_id: str = ""
    note: str = ""
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def unreturned(self) -> int:
        return self.quantity - self.returned

    def age_days(self, today: dt.date) -> int | None:
        """Days since the recall failed (its due date) when FAILED, else None."""
        if self.status != "FAILED" or self.failed_on is None:
            return None
        return (today - self.failed_on).days

    @classmethod
    def from_json(cls, d: Json) -> Recall:
        return cls(
            id=d.get("id", ""), date=date.fromisoformat(d["date"]),
            due=date.fromisoformat(d["due"]), quantity=int(d.get("quantity") or 0),
            returned=int(d.get("returned") or 0), status=d.get("status", ""),
            failed_on=opt_date(d.get("failedOn")), tx_id=d.get("txId", ""),
            note=d.get("note", ""), raw=d,
        )


@dataclass(frozen=True)
class Notice:
    """A party's notice ending an open agreement on its effective date (the notice's date plus
    the terms' notice days)."""

    by: str
    date: date
    effective: dt.date
    tx_id: str = ""
    note: str = ""

    @classmethod
    def from_json(cls, d: Json) -> Notice:
        return cls(d.get("by", ""), date.fromisoformat(d["date"]),
                   date.fromisoformat(d["effective"]), d.get("txId", ""), d.get("note", ""))


def _legs(legs: Any) -> dict[str, int]:
    return {str(leg["token"]): int(leg["quantity"]) for leg in legs or []}


def substitution_json(out: Mapping[str, int], in_: Mapping[str, int]) -> Json:
    """The chaincode's substitution argument: ``out`` comes back to the borrower, ``in_`` is
    delivered (token -> quantity, in the order given)."""
    return {"out": [{"token": t, "quantity": str(q)} for t, q in out.items()],
            "in": [{"token": t, "quantity": str(q)} for t, q in in_.items()]}


@dataclass(frozen=True)
class SubstitutionRequest:
    """A collateral substitution waiting for the lender's approval: ``out`` comes back to the
    borrower, ``in_`` is delivered (token -> quantity), valued at ``date``'s prices."""

    out: dict[str, int]
    in_: dict[str, int]
    date: date
    tx_id: str = ""

    @classmethod
    def from_json(cls, d: Json) -> SubstitutionRequest:
        return cls(_legs(d.get("out")), _legs(d.get("in")), date.fromisoformat(d["date"]),
                   d.get("txId", ""))


@dataclass(frozen=True)
class StepTransfer:
    """A collateral movement of a life-cycle step, with its values on the step's date."""

    token: str
    quantity: int
    direction: str  # borrower->lender | lender->borrower
    value: Fraction  # after haircut, base currency
    market_value: Fraction

    @classmethod
    def from_json(cls, d: Json) -> StepTransfer:
        return cls(d["token"], int(d["quantity"]), d.get("direction", ""), frac(d.get("value")),
                   frac(d.get("marketValue")))


@dataclass(frozen=True)
class BuyIn:
    """A buy-in: the lender kept collateral worth the unreturned ``quantity`` at ``date``'s prices
    (``owed``, base currency, exact); ``uncovered`` is what the collateral did not cover."""

    date: date
    quantity: int
    owed: Fraction
    uncovered: Fraction
    kept: tuple[StepTransfer, ...] = ()
    tx_id: str = ""

    @classmethod
    def from_json(cls, d: Json) -> BuyIn:
        return cls(date.fromisoformat(d["date"]), int(d.get("quantity") or 0),
                   frac(d.get("owed")), frac(d.get("uncovered")),
                   tuple(StepTransfer.from_json(k) for k in d.get("kept") or []),
                   d.get("txId", ""))


@dataclass(frozen=True)
class Fail:
    """A settlement of the daily cycle that could not complete because ``party`` lacked tokens
    (the closing exchange at maturity, retried every cycle)."""

    date: date
    step: str  # close
    party: str
    token: str
    quantity: int  # needed
    missing: int  # needed minus available

    @classmethod
    def from_json(cls, d: Json) -> Fail:
        return cls(date.fromisoformat(d["date"]), d.get("step", ""), d.get("party", ""),
                   d.get("token", ""), int(d.get("quantity") or 0), int(d.get("missing") or 0))


@dataclass(frozen=True)
class Agreement:
    id: str
    status: str
    terms: Terms
    proposer: str
    history: tuple[HistoryEntry, ...]
    raw: Json = field(default_factory=dict, repr=False, compare=False)
    recalls: tuple[Recall, ...] = ()
    notice: Notice | None = None
    substitution: SubstitutionRequest | None = None  # pending the lender's approval
    buy_ins: tuple[BuyIn, ...] = ()
    fails: tuple[Fail, ...] = ()

    @property
    def open_loan(self) -> bool:
        """The loan is still out (ACTIVE or MATURED)."""
        return self.status in OPEN_LOAN_STATUSES

    @classmethod
    def from_json(cls, d: Json) -> Agreement:
        return cls(
            id=d["id"], status=d["status"], terms=Terms.from_json(d["terms"]),
            proposer=d.get("proposer", ""),
            history=tuple(
                HistoryEntry(h.get("action", ""), h.get("status", ""), h.get("party", ""),
                             h.get("txId", ""), h.get("timestamp", ""), h.get("note", ""),
                             accrual_lines(h.get("accruals")))
                for h in d.get("history", [])
            ),
            raw=d,
            recalls=tuple(Recall.from_json(r) for r in d.get("recalls") or []),
            notice=Notice.from_json(d["notice"]) if d.get("notice") else None,
            substitution=(SubstitutionRequest.from_json(d["substitution"])
                          if d.get("substitution") else None),
            buy_ins=tuple(BuyIn.from_json(b) for b in d.get("buyIns") or []),
            fails=tuple(Fail.from_json(f) for f in d.get("fails") or []),
        )


@dataclass(frozen=True)
class Position:
    token: str
    held: int
    priority: int


@dataclass(frozen=True)
class MarginTransfer:
    token: str
    quantity: int
    direction: str  # borrower->lender | lender->borrower
    sender: str
    receiver: str
    value: Fraction  # haircut value moved, in the base currency
    settle_date: date | None
    market_value: Fraction = Fraction(0)  # before haircut
    trade_date: date | None = None

    @classmethod
    def from_json(cls, d: Json) -> MarginTransfer:
        return cls(d["token"], int(d["quantity"]), d["direction"], d.get("from", ""),
                   d.get("to", ""), frac(d.get("value")), opt_date(d.get("settleDate")),
                   frac(d.get("marketValue") or d.get("value")), opt_date(d.get("tradeDate")))


@dataclass(frozen=True)
class CollateralReport:
    """What the lender holds under one agreement (per token, in priority order), and the lagged
    margin transfers computed but not settled yet."""

    agreement: str
    status: str
    lender: str
    borrower: str
    positions: tuple[Position, ...]
    pending: tuple[MarginTransfer, ...]
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> CollateralReport:
        return cls(
            agreement=d["agreement"], status=d.get("status", ""), lender=d.get("lender", ""),
            borrower=d.get("borrower", ""),
            positions=tuple(Position(p["token"], int(p["held"]), int(p.get("priority", 0)))
                            for p in d.get("positions") or []),
            pending=tuple(MarginTransfer.from_json(t) for t in d.get("pending") or []),
            raw=d,
        )


@dataclass(frozen=True)
class SettlementFail:
    """A lagged margin settlement due on a margin call's date that could not settle (the sender
    lacked the tokens): kept pending and retried at the next cycle."""

    token: str
    quantity: int
    direction: str  # borrower->lender | lender->borrower
    sender: str
    receiver: str
    due_date: date | None
    missing: int  # needed minus available

    @classmethod
    def from_json(cls, d: Json) -> SettlementFail:
        return cls(d.get("token", ""), int(d.get("quantity") or 0), d.get("direction", ""),
                   d.get("from", ""), d.get("to", ""), opt_date(d.get("dueDate")),
                   int(d.get("missing") or 0))


@dataclass(frozen=True)
class SkippedToken:
    """A token a top-up passed over: ``ineligible`` under the schedule, or held back by a
    ``cap``."""

    token: str
    reason: str  # ineligible | cap

    @classmethod
    def from_json(cls, d: Json) -> SkippedToken:
        return cls(str(d.get("token", "")), str(d.get("reason", "")))


@dataclass(frozen=True)
class Breach:
    """A concentration cap still exceeded after a call (prices moved): the group's ``share`` of
    the held collateral's market value against its ``max``. Exact."""

    by: str
    key: str
    share: Fraction
    max: Fraction

    @classmethod
    def from_json(cls, d: Json) -> Breach:
        return cls(str(d.get("by", "")), str(d.get("key", "")), frac(d.get("share")),
                   frac(d.get("max")))

    def to_json(self) -> Json:
        """As the chaincode writes it: exact rational strings."""
        return {"by": self.by, "key": self.key, "share": str(self.share), "max": str(self.max)}


#: Dispute statuses, and how a dispute was resolved.
DISPUTE_STATUSES = ("OPEN", "RESOLVED")
DISPUTE_RESOLUTIONS = ("call", "dispute", "correction")


@dataclass(frozen=True)
class CallDispute:
    """The delivering party's dispute of a margin call: it agreed to deliver ``agreed_value``
    (haircut value, base currency); ``disputed_value`` (the rest) was held back as ``held_back``
    in whole units. Resolved by ``call`` (the disputing party accepted the call: the held-back
    part was delivered), ``dispute`` (the other party accepted the disputed figure) or
    ``correction`` (a price correction re-ran the call)."""

    by: str
    agreed_value: Fraction
    disputed_value: Fraction
    held_back: tuple[MarginTransfer, ...]
    status: str  # OPEN | RESOLVED
    note: str = ""
    resolution: str = ""  # call | dispute | correction
    tx_id: str = ""
    resolved_tx: str = ""

    @property
    def open(self) -> bool:
        return self.status == "OPEN"

    @classmethod
    def from_json(cls, d: Json) -> CallDispute:
        return cls(
            by=str(d.get("by", "")), agreed_value=frac(d.get("agreedValue")),
            disputed_value=frac(d.get("disputedValue")),
            held_back=tuple(MarginTransfer.from_json(t) for t in d.get("heldBack") or []),
            status=str(d.get("status", "")), note=str(d.get("note") or ""),
            resolution=str(d.get("resolution") or ""), tx_id=str(d.get("txId", "")),
            resolved_tx=str(d.get("resolvedTx") or ""),
        )


@dataclass(frozen=True)
class CallAdjustment:
    """A re-run of a call at corrected prices (``price_version``): the gap before and after and
    what it moved, settled at once."""

    price_version: int
    gap_before: Fraction
    gap_after: Fraction
    transfers: tuple[MarginTransfer, ...]
    tx_id: str = ""

    @classmethod
    def from_json(cls, d: Json) -> CallAdjustment:
        return cls(int(d.get("priceVersion") or 0), frac(d.get("gapBefore")),
                   frac(d.get("gapAfter")),
                   tuple(MarginTransfer.from_json(t) for t in d.get("transfers") or []),
                   str(d.get("txId", "")))


@dataclass(frozen=True)
class MarginCall:
    """One recorded margin call of one agreement for one valuation date."""

    agreement: str
    date: date
    triggered: bool
    vl: Fraction
    vc_before: Fraction
    vc_after: Fraction
    transfers: tuple[MarginTransfer, ...]
    settled: tuple[MarginTransfer, ...]
    pending: tuple[MarginTransfer, ...]
    issuance_required: tuple[Json, ...]
    mints: tuple[Json, ...]
    replayed: bool
    price_version: int
    tx_id: str
    raw: Json = field(default_factory=dict, repr=False, compare=False)
    fails: tuple[SettlementFail, ...] = ()
    #: fees and rebates accrued since the previous call (split at month ends)
    accruals: tuple[AccrualLine, ...] = ()
    #: eligibility: tokens the top-up passed over, caps still exceeded after the call
    skipped: tuple[SkippedToken, ...] = ()
    breaches: tuple[Breach, ...] = ()
    #: the delivering party's dispute, and re-runs at corrected prices
    dispute: CallDispute | None = None
    adjustments: tuple[CallAdjustment, ...] = ()

    @property
    def gap_before(self) -> Fraction:
        return self.vc_before - self.vl

    @property
    def gap_after(self) -> Fraction:
        return self.vc_after - self.vl

    @classmethod
    def from_json(cls, d: Json) -> MarginCall:
        return cls(
            agreement=d["agreement"], date=date.fromisoformat(d["date"]),
            triggered=bool(d["triggered"]), vl=frac(d["vl"]), vc_before=frac(d["vcBefore"]),
            vc_after=frac(d["vcAfter"]),
            transfers=tuple(MarginTransfer.from_json(t) for t in d.get("transfers") or []),
            settled=tuple(MarginTransfer.from_json(t) for t in d.get("settled") or []),
            pending=tuple(MarginTransfer.from_json(t) for t in d.get("pending") or []),
            issuance_required=tuple(d.get("issuanceRequired") or []),
            mints=tuple(d.get("mints") or []), replayed=bool(d.get("replayed", False)),
            price_version=int(d.get("priceVersion") or 0), tx_id=d.get("txId", ""), raw=d,
            fails=tuple(SettlementFail.from_json(f) for f in d.get("fails") or []),
            accruals=accrual_lines(d.get("accruals")),
            skipped=tuple(SkippedToken.from_json(x) for x in d.get("skipped") or []),
            breaches=tuple(Breach.from_json(x) for x in d.get("breaches") or []),
            dispute=CallDispute.from_json(d["dispute"]) if d.get("dispute") else None,
            adjustments=tuple(CallAdjustment.from_json(x) for x in d.get("adjustments") or []),
        )

    @property
    def vc_now(self) -> Fraction:
        """V_C after the call and what followed on its date: after a correction, V_L plus the
        latest adjustment's gap (the adjustment records the gap at the corrected prices, not
        V_L); else ``vc_after`` less the part a dispute held back, unless the disputing party
        accepted the call's figure (which delivered it)."""
        if self.adjustments:
            return self.vl + self.adjustments[-1].gap_after
        vc = self.vc_after
        d = self.dispute
        if d is not None and d.resolution != "call":
            held = sum((t.value for t in d.held_back), Fraction(0))
            to_lender = bool(d.held_back) and d.held_back[0].direction == "borrower->lender"
            vc += -held if to_lender else held
        return vc


@dataclass(frozen=True)
class PriceSet:
    date: date
    version: int
    latest_version: int
    prices: dict[str, Fraction]
    fx: dict[str, Fraction]
    kind: str = ""
    reason: str = ""
    raw: Json = field(default_factory=dict, repr=False, compare=False)
    #: benchmark fixings (SOFR, ESTR, TONA…), percent per annum, any sign
    rates: dict[str, Fraction] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Json) -> PriceSet:
        return cls(
            date=date.fromisoformat(d["date"]), version=int(d["version"]),
            latest_version=int(d.get("latestVersion") or d["version"]),
            prices={k: frac(v) for k, v in (d.get("prices") or {}).items()},
            fx={k: frac(v) for k, v in (d.get("fx") or {}).items()},
            kind=d.get("kind", ""), reason=d.get("reason", ""), raw=d,
            rates={k: frac(v) for k, v in (d.get("rates") or {}).items()},
        )


@dataclass(frozen=True)
class IssuanceRequired:
    """A party ran out of adjustment tokens in a margin call: ``value`` (base currency, after
    haircut) stays uncovered (the borrower) or unreturned (the lender) until tokens are issued."""

    party: str
    token: str
    value: Fraction
    role: str = ""  # borrower | lender

    @classmethod
    def from_json(cls, d: Json) -> IssuanceRequired:
        return cls(str(d.get("party", "")), str(d.get("token", "")), frac(d.get("value")),
                   str(d.get("role", "")))


#: A sweep outcome's status. ``closed``: the agreement matured and the sweep closed it (reason
#: ``maturity``); ``called`` with reason ``close_failed``: it matured but the closing exchange
#: could not settle, so it is MATURED and was margined.
SWEEP_STATUSES = ("called", "replayed", "closed", "skipped", "failed")


@dataclass(frozen=True)
class SweepOutcome:
    """One agreement's outcome in a sweep (``margin:SweepAgreements``): what its call decided, or
    why it was skipped (the date does not apply to it) or failed (its changes undone). The full
    record is ``GetMarginCall``; transfers here carry token, quantity, direction, parties and
    value, not their settlement dates."""

    agreement: str
    status: str  # called | replayed | closed | skipped | failed
    reason: str = ""
    triggered: bool = False
    transfers: tuple[MarginTransfer, ...] = ()
    issuance_required: tuple[IssuanceRequired, ...] = ()
    mints: tuple[Json, ...] = ()
    tx_id: str = ""  # replayed: the transaction that made the call
    lender: str = ""
    borrower: str = ""
    #: whether the outcome says what the call decided (trigger, transfers, issuance required):
    #: the chaincode's sweep answer does not, since it is in the block; the parties read the
    #: record (``GetMarginCall``)
    detailed: bool = True

    @property
    def replayed(self) -> bool:
        return self.status == "replayed"

    @property
    def has_call(self) -> bool:
        """Called now or before: the ledger holds its record for the date."""
        return self.status in ("called", "replayed")

    @property
    def closed(self) -> bool:
        """The agreement matured and the sweep closed it."""
        return self.status == "closed"

    @property
    def close_failed(self) -> bool:
        """The agreement matured but its closing exchange could not settle: MATURED, margined."""
        return self.status == "called" and self.reason == "close_failed"

    @classmethod
    def from_json(cls, d: Json, day: date, parties: Any = None) -> SweepOutcome:
        """From the chaincode's compact outcome; ``parties`` (anything with ``lender`` and
        ``borrower``, e.g. the plan's item) names who sends and receives each transfer."""
        lender = str(getattr(parties, "lender", "") or "")
        borrower = str(getattr(parties, "borrower", "") or "")
        transfers = []
        for t in d.get("transfers") or []:
            to_lender = t.get("direction") == "borrower->lender"
            transfers.append(MarginTransfer(
                token=t["token"], quantity=int(t["quantity"]), direction=t["direction"],
                sender=borrower if to_lender else lender,
                receiver=lender if to_lender else borrower,
                value=frac(t.get("value")), settle_date=None, trade_date=day))
        return cls(
            agreement=d["agreement"], status=d["status"], reason=d.get("reason", ""),
            triggered=bool(d.get("triggered", False)), transfers=tuple(transfers),
            issuance_required=tuple(IssuanceRequired.from_json(r)
                                    for r in d.get("issuanceRequired") or []),
            mints=tuple(d.get("mints") or []), tx_id=d.get("txId", ""),
            lender=lender, borrower=borrower, detailed="triggered" in d,
        )


@dataclass(frozen=True)
class MarginBatch:
    """The public event of one ``SweepAgreements`` batch: agreement ids per outcome, never terms
    or amounts. ``matured``: reached maturity and could not close (MATURED); ``recalls_failed``:
    a recall failed on its due date; ``settlement_fails``: a lagged settlement could not
    settle."""

    date: date
    calls: tuple[str, ...] = ()
    replayed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    closed: tuple[str, ...] = ()
    matured: tuple[str, ...] = ()
    recalls_failed: tuple[str, ...] = ()
    settlement_fails: tuple[str, ...] = ()
    tx_id: str = ""
    #: a concentration cap is exceeded after the call
    breaches: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, d: Json) -> MarginBatch:
        def ids(key: str) -> tuple[str, ...]:
            return tuple(str(x) for x in d.get(key) or [])

        return cls(date.fromisoformat(d["date"]), ids("calls"), ids("replayed"), ids("skipped"),
                   ids("failed"), ids("closed"), ids("matured"), ids("recallsFailed"),
                   ids("settlementFails"), d.get("txId", ""), ids("breaches"))


# ---- billing ---------------------------------------------------------------------------------

#: Invoice statuses.
INVOICE_STATUSES = ("ISSUED", "PAID")


@dataclass(frozen=True)
class InvoiceQuery:
    """A bank's question about an invoice line."""

    by: str
    note: str
    tx_id: str = ""

    @classmethod
    def from_json(cls, d: Json) -> InvoiceQuery:
        return cls(str(d.get("by", "")), str(d.get("note", "")), str(d.get("txId", "")))


@dataclass(frozen=True)
class InvoiceLine:
    """One agreement's month: the fee the borrower owes the lender (accrued, raised to the
    terms' minimum by ``minimum_top_up``) less the rebate the lender owes the borrower; ``net``
    is owed by the borrower to the lender when positive. Exact, base currency."""

    agreement: str
    lender: str
    borrower: str
    days: int
    fee_accrued: Fraction
    minimum_top_up: Fraction
    fee_charged: Fraction
    rebate: Fraction
    net: Fraction
    query: InvoiceQuery | None = None

    @classmethod
    def from_json(cls, d: Json) -> InvoiceLine:
        return cls(
            agreement=d["agreement"], lender=d.get("lender", ""), borrower=d.get("borrower", ""),
            days=int(d.get("days") or 0), fee_accrued=frac(d.get("feeAccrued")),
            minimum_top_up=frac(d.get("minimumTopUp")), fee_charged=frac(d.get("feeCharged")),
            rebate=frac(d.get("rebate")), net=frac(d.get("net")),
            query=InvoiceQuery.from_json(d["query"]) if d.get("query") else None,
        )


@dataclass(frozen=True)
class Invoice:
    """A pair's invoice for one month and currency: the lines net into what ``payer`` owes
    ``payee`` (``net``, exact), settled as ``amount`` whole units of a cash token by
    ``due_date``."""

    id: str  # INV-<month>-<currency>, unique in the pair
    pair: str
    month: str  # YYYY-MM
    currency: str
    lines: tuple[InvoiceLine, ...]
    net: Fraction
    amount: int
    payer: str
    payee: str
    due_date: date
    status: str  # ISSUED | PAID
    issued_by: str = ""
    issue_tx: str = ""
    paid_with: str = ""
    paid_tx: str = ""
    updated_at: str = ""
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def queries(self) -> tuple[tuple[str, InvoiceQuery], ...]:
        """(agreement, query) of every queried line."""
        return tuple((line.agreement, line.query) for line in self.lines
                     if line.query is not None)

    @property
    def start(self) -> date:
        """The first day of the invoiced month."""
        return date.fromisoformat(self.month + "-01")

    @property
    def end(self) -> date:
        """The last day of the invoiced month."""
        first = self.start
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return following - timedelta(days=1)

    @classmethod
    def from_json(cls, d: Json) -> Invoice:
        return cls(
            id=d["id"], pair=d.get("pair", ""), month=d["month"], currency=d["currency"],
            lines=tuple(InvoiceLine.from_json(x) for x in d.get("lines") or []),
            net=frac(d.get("net")), amount=int(frac(d.get("amount"))), payer=d.get("payer", ""),
            payee=d.get("payee", ""), due_date=date.fromisoformat(d["dueDate"]),
            status=d.get("status", ""), issued_by=d.get("issuedBy", ""),
            issue_tx=d.get("issueTx", ""), paid_with=d.get("paidWith", ""),
            paid_tx=d.get("paidTx", ""), updated_at=d.get("updatedAt", ""), raw=d,
        )


@dataclass(frozen=True)
class InvoiceReceipt:
    """What the billing submits return: the invoice, its status, the transaction (the figures
    are the pair's: read them with ``Party.invoice``)."""

    invoice: str
    status: str
    tx_id: str

    @classmethod
    def from_json(cls, d: Json) -> InvoiceReceipt:
        return cls(str(d.get("invoice", "")), str(d.get("status", "")), str(d.get("txId", "")))
