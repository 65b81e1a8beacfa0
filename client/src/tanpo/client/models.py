"""Typed views of what the tanpo chaincode stores and returns.

The chaincode speaks JSON with every quantity and decimal as a string; here quantities become
`int`, decimals and engine values (`"n"` or `"n/d"`) become `Fraction`, and dates `datetime.date`.
Each dataclass keeps the original JSON in `raw` for anything not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

Json = dict[str, Any]


def frac(value: object) -> Fraction:
    """An exact value from the chaincode's decimal or rational strings ("101.25", "131/4")."""
    if value in (None, ""):
        return Fraction(0)
    return Fraction(str(value))


def opt_date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


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

    @classmethod
    def from_json(cls, d: Json) -> Token:
        return cls(
            id=d["id"], kind=d["kind"], currency=d["currency"],
            quote_convention=d.get("quoteConvention", "per-unit"),
            asset_class=d.get("assetClass", ""), credit_rating=d.get("creditRating", ""),
            isin=d.get("isin", ""), ticker=d.get("ticker", ""), name=d.get("name", ""), raw=d,
            minimal_unit=d.get("minimalUnit", ""), issuer=d.get("issuer", ""),
        )

    def to_spec(self) -> Json:
        spec = {
            "id": self.id, "kind": self.kind, "currency": self.currency,
            "quoteConvention": self.quote_convention, "assetClass": self.asset_class,
        }
        for key, value in (("creditRating", self.credit_rating), ("isin", self.isin),
                           ("ticker", self.ticker), ("name", self.name),
                           ("minimalUnit", self.minimal_unit), ("issuer", self.issuer)):
            if value:
                spec[key] = value
        return spec


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

    def to_json(self) -> Json:
        def dec(x: Fraction) -> str:
            return decimal_string(x)

        out: Json = {
            "lender": self.lender,
            "borrower": self.borrower,
            "loan": {"token": self.loan_token, "quantity": str(self.loan_quantity)},
            "collateral": [
                {"token": c.token, "quantity": str(c.quantity),
                 **({"haircut": dec(c.haircut)} if c.haircut is not None else {})}
                for c in self.collateral
            ],
            "baseCurrency": self.base_currency,
            "haircut": dec(self.haircut),
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
        )


#: The platform's default business time zone (the chaincode's, unless its operator set another):
#: a fixed offset, as the chaincode uses, so no zone database is needed.
BUSINESS_TZ = timezone(timedelta(hours=9), "Asia/Tokyo")


def business_today() -> date:
    """Today in the default business time zone (Asia/Tokyo), the date trade and start dates
    default to; ``TanpoClient.business_date`` asks the ledger for its own."""
    return datetime.now(BUSINESS_TZ).date()


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


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    status: str
    party: str
    tx_id: str
    timestamp: str
    note: str = ""


@dataclass(frozen=True)
class Agreement:
    id: str
    status: str
    terms: Terms
    proposer: str
    history: tuple[HistoryEntry, ...]
    raw: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Json) -> Agreement:
        return cls(
            id=d["id"], status=d["status"], terms=Terms.from_json(d["terms"]),
            proposer=d.get("proposer", ""),
            history=tuple(
                HistoryEntry(h.get("action", ""), h.get("status", ""), h.get("party", ""),
                             h.get("txId", ""), h.get("timestamp", ""), h.get("note", ""))
                for h in d.get("history", [])
            ),
            raw=d,
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
        )


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

    @classmethod
    def from_json(cls, d: Json) -> PriceSet:
        return cls(
            date=date.fromisoformat(d["date"]), version=int(d["version"]),
            latest_version=int(d.get("latestVersion") or d["version"]),
            prices={k: frac(v) for k, v in (d.get("prices") or {}).items()},
            fx={k: frac(v) for k, v in (d.get("fx") or {}).items()},
            kind=d.get("kind", ""), reason=d.get("reason", ""), raw=d,
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


SWEEP_STATUSES = ("called", "replayed", "skipped", "failed")


@dataclass(frozen=True)
class SweepOutcome:
    """One agreement's outcome in a sweep (``margin:SweepAgreements``): what its call decided, or
    why it was skipped (the date does not apply to it) or failed (its changes undone). The full
    record is ``GetMarginCall``; transfers here carry token, quantity, direction, parties and
    value, not their settlement dates."""

    agreement: str
    status: str  # called | replayed | skipped | failed
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
