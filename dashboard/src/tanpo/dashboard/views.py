"""What each page shows, built from the ledger as one identity reads it (pure: no web, no I/O
beyond the reader's calls).

The reader is the SDK's participant API (``GatewayLedger`` in the app, a fake in unit tests);
every value comes from its reads, so a page shows exactly what the chaincode gives that identity.
A refused read becomes a ``Refused`` note with the chaincode's own words, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any, Protocol, TypeVar

from tanpo.client.errors import GatewayError
from tanpo.client.models import (
    OPEN_LOAN_STATUSES,
    Agreement,
    Balance,
    Cap,
    CollateralReport,
    Invoice,
    MarginCall,
    MarginTransfer,
    PriceSet,
    Request,
    Schedule,
    Token,
)
from tanpo.client.net import NetView, effective_transfers, net_positions
from tanpo.client.sweep import PlanItem

ZERO = Fraction(0)
T = TypeVar("T")


class Reader(Protocol):
    """The reads the pages make, as the SDK's participant API offers them."""

    @property
    def party(self) -> str: ...

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]: ...
    def agreement(self, agreement_id: str) -> Agreement: ...
    def collateral_report(self, agreement_id: str) -> CollateralReport: ...
    def margin_calls(self, agreement_id: str) -> list[MarginCall]: ...
    def tokens(self) -> list[Token]: ...
    def balances(self, party: str = "") -> list[Balance]: ...
    def requests(self, party: str = "", status: str = "") -> list[Request]: ...
    def prices(self, day: date, version: int | None) -> PriceSet: ...
    def last_posted_date(self) -> date | None: ...
    def last_swept_date(self) -> date | None: ...
    def business_date(self) -> date: ...
    def invoice(self, month: str, currency: str, counterparty: str) -> Invoice: ...
    def schedule(self, counterparty: str, schedule_id: str) -> Schedule: ...
    def sweep_plan(self, day: date) -> list[PlanItem]: ...


@dataclass(frozen=True)
class Refused:
    """A read the chaincode refused to this identity, in its own words."""

    what: str
    message: str


def attempt(what: str, read: Callable[[], T], refused: list[Refused]) -> T | None:
    """``read()``, or None with the refusal noted when the chaincode refuses it."""
    try:
        return read()
    except GatewayError as exc:
        if exc.refusal is None:
            raise
        refused.append(Refused(what, exc.refusal))
        return None


# ---- one participant's book, read once per ledger change ---------------------------------------


class Book:
    """The identity's agreements and their calls, read on first use and kept until the next
    chaincode event (the app makes a new one then): every page of one state agrees."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self._agreements: list[Agreement] | None = None
        self._calls: dict[str, list[MarginCall]] = {}
        self._tokens: dict[str, Token] | None = None
        self.refused: list[Refused] = []

    @property
    def party(self) -> str:
        return self.reader.party

    @property
    def operator(self) -> bool:
        return self.party == "operator"

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]:
        if self._agreements is None:
            got = attempt("agreements", lambda: self.reader.agreements(""),
                          self.refused)
            # the chaincode lists a bank's own agreements only; kept so whatever the reader
            mine = [a for a in got or [] if self.party in (a.terms.lender, a.terms.borrower)]
            self._agreements = sorted(mine, key=lambda a: a.id)
        return [a for a in self._agreements if not status or a.status == status]

    def margin_calls(self, agreement_id: str) -> list[MarginCall]:
        if agreement_id not in self._calls:
            got = attempt(f"margin calls of {agreement_id}",
                          lambda: self.reader.margin_calls(agreement_id), self.refused)
            self._calls[agreement_id] = sorted(got or [], key=lambda c: c.date)
        return self._calls[agreement_id]

    def tokens(self) -> dict[str, Token]:
        if self._tokens is None:
            got = attempt("tokens", self.reader.tokens, self.refused)
            self._tokens = {t.id: t for t in got or []}
        return self._tokens


# ---- agreement rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementRow:
    agreement: Agreement
    role: str  # lender | borrower
    counterparty: str
    latest: MarginCall | None
    todo: tuple[str, ...]  # what waits for this bank

    @property
    def id(self) -> str:
        return self.agreement.id

    @property
    def status(self) -> str:
        return self.agreement.status

    @property
    def currency(self) -> str:
        return self.agreement.terms.base_currency

    @property
    def vl(self) -> Fraction | None:
        return self.latest.vl if self.latest else None

    @property
    def vc(self) -> Fraction | None:
        return self.latest.vc_now if self.latest else None

    @property
    def gap(self) -> Fraction | None:
        return self.latest.vc_now - self.latest.vl if self.latest else None


def role_of(a: Agreement, me: str) -> tuple[str, str]:
    """(my role, the counterparty) in ``a``."""
    t = a.terms
    return ("lender", t.borrower) if me == t.lender else ("borrower", t.lender)


def todo(a: Agreement, me: str, calls: Sequence[MarginCall], today: date) -> tuple[str, ...]:
    """What waits for ``me`` on ``a``: the decisions the dashboard offers as actions."""
    role, _ = role_of(a, me)
    out = []
    if a.status == "PROPOSED" and a.proposer != me:
        out.append("approve or reject the proposal")
    termination = a.raw.get("termination") or {}
    if termination and termination.get("requestedBy") not in ("", me, None):
        out.append("accept or decline the termination request")
    if a.substitution is not None and role == "lender":
        out.append("approve the substitution")
    if role == "borrower":
        for r in a.recalls:
            if r.status in ("OPEN", "FAILED") and r.unreturned:
                late = "overdue" if r.due < today else f"due {r.due.isoformat()}"
                out.append(f"return {r.unreturned:,} {a.terms.loan_token} ({r.id}, {late})")
    for c in calls:
        if c.dispute is not None and c.dispute.open:
            out.append(f"open dispute of the {c.date.isoformat()} call")
    return tuple(out)


def agreement_rows(book: Book, today: date) -> list[AgreementRow]:
    rows = []
    for a in book.agreements():
        role, other = role_of(a, book.party)
        calls = book.margin_calls(a.id) if a.status not in ("PROPOSED", "REJECTED",
                                                            "WITHDRAWN") else []
        rows.append(AgreementRow(a, role, other, calls[-1] if calls else None,
                                 todo(a, book.party, calls, today)))
    return rows


SORT_KEYS: dict[str, Callable[[AgreementRow], Any]] = {
    "id": lambda r: r.id,
    "status": lambda r: (r.status, r.id),
    "counterparty": lambda r: (r.counterparty, r.id),
    "role": lambda r: (r.role, r.id),
    "start": lambda r: (r.agreement.terms.start_date or date.min, r.id),
    "end": lambda r: (r.agreement.terms.end_date or date.max, r.id),
    "vl": lambda r: (r.currency, r.vl if r.vl is not None else ZERO, r.id),
    "gap": lambda r: (r.currency, r.gap if r.gap is not None else ZERO, r.id),
    "called": lambda r: (r.latest.date if r.latest else date.min, r.id),
}


def filter_rows(rows: Sequence[AgreementRow], status: str = "", counterparty: str = "",
                text: str = "", sort: str = "id", descending: bool = False
                ) -> list[AgreementRow]:
    text = text.strip().lower()
    out = [r for r in rows
           if (not status or r.status == status)
           and (not counterparty or r.counterparty == counterparty)
           and (not text or text in r.id.lower()
                or text in r.agreement.terms.reference.lower()
                or text in r.agreement.terms.loan_token.lower())]
    return sorted(out, key=SORT_KEYS.get(sort, SORT_KEYS["id"]), reverse=descending)


# ---- today ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallLine:
    """One margin call of the day, from this bank's side."""

    agreement: Agreement
    counterparty: str
    call: MarginCall
    direction: str  # "you deliver", "you receive", "no movement"
    amount: Fraction  # haircut value moved, base currency
    tokens: tuple[tuple[str, int], ...]
    outcome: str

    @property
    def currency(self) -> str:
        return self.agreement.terms.base_currency


def outcome(call: MarginCall) -> str:
    parts = []
    if not call.triggered:
        parts.append("not triggered")
    elif call.pending:
        parts.append("pending settlement")
    elif call.transfers:
        parts.append("settled")
    else:
        parts.append("called, nothing to move")
    if call.issuance_required:
        parts.append("issuance required")
    if call.fails:
        parts.append("settlement fail")
    if call.dispute is not None:
        parts.append("disputed" if call.dispute.open else
                     f"dispute resolved ({call.dispute.resolution})")
    if call.adjustments:
        parts.append("adjusted at corrected prices")
    if call.breaches:
        parts.append("concentration limit exceeded")
    return "; ".join(parts)


def call_line(a: Agreement, me: str, call: MarginCall) -> CallLine:
    _, other = role_of(a, me)
    moved: list[MarginTransfer] = effective_transfers(call)
    delivered = sum((t.value for t in moved if t.sender == me), ZERO)
    received = sum((t.value for t in moved if t.receiver == me), ZERO)
    direction = ("you deliver" if delivered > received else
                 "you receive" if received > delivered else "no movement")
    tokens: dict[str, int] = {}
    for t in moved:
        sign = 1 if t.receiver == me else -1
        tokens[t.token] = tokens.get(t.token, 0) + sign * t.quantity
    return CallLine(a, other, call, direction, abs(received - delivered),
                    tuple(sorted(tokens.items())), outcome(call))


@dataclass(frozen=True)
class Today:
    day: date | None  # the latest date with a margin call
    business_date: date | None
    calls: tuple[CallLine, ...]
    fails: tuple[tuple[Agreement, str], ...]
    issuance: tuple[tuple[Agreement, MarginCall, dict[str, Any]], ...]
    disputes: tuple[tuple[Agreement, MarginCall], ...]
    recalls: tuple[tuple[Agreement, Any], ...]  # (agreement, Recall) open or failed
    decisions: tuple[AgreementRow, ...]
    requests: tuple[Request, ...]  # pending issuance/redemption requests this identity sees
    plan: tuple[PlanItem, ...] = ()  # the operator's sweep plan of the day
    refused: tuple[Refused, ...] = ()


def today_view(book: Book) -> Today:
    reader = book.reader
    refused: list[Refused] = []
    business = attempt("the business date", reader.business_date, refused)
    requests = tuple(attempt("token requests", lambda: reader.requests("", "PENDING"),
                             refused) or ())
    if book.operator:
        day = attempt("the last posted date", reader.last_posted_date, refused)
        plan: tuple[PlanItem, ...] = ()
        if day is not None:
            posted = day
            plan = tuple(attempt("the sweep plan", lambda: reader.sweep_plan(posted),
                                 refused) or ())
        book.agreements()  # the operator is refused: its refusal is shown
        return Today(day, business, (), (), (), (), (), (), requests, plan,
                     tuple(refused + book.refused))
    me = book.party
    rows = agreement_rows(book, business or date.today())
    dated = [c for r in rows for c in book.margin_calls(r.id)]
    day = max((c.date for c in dated), default=None)
    lines, fails, issuance, disputes, recalls = [], [], [], [], []
    for r in rows:
        a = r.agreement
        for c in book.margin_calls(a.id):
            if c.date == day:
                lines.append(call_line(a, me, c))
                issuance += [(a, c, dict(x)) for x in c.issuance_required]
            if c.dispute is not None and c.dispute.open:
                disputes.append((a, c))
            if c.date == day:
                fails += [(a, f"{c.date.isoformat()}: {f.quantity:,} {f.token} from {f.sender} "
                              f"to {f.receiver} could not settle ({f.missing:,} missing)")
                          for f in c.fails]
        fails += [(a, f"{f.date.isoformat()}: {f.step} by {f.party}: {f.quantity:,} {f.token} "
                      f"needed, {f.missing:,} missing") for f in a.fails]
        fails += [(a, f"recall {x.id} failed on {x.due.isoformat()}: {x.unreturned:,} "
                      f"{a.terms.loan_token} not returned") for x in a.recalls
                  if x.status == "FAILED"]
        recalls += [(a, x) for x in a.recalls if x.status in ("OPEN", "FAILED")]
    recalls.sort(key=lambda ar: ar[1].due)
    return Today(day, business, tuple(lines), tuple(fails), tuple(issuance), tuple(disputes),
                 tuple(recalls), tuple(r for r in rows if r.todo), requests, (),
                 tuple(refused + book.refused))


# ---- one agreement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    token: str
    held: int
    priority: int
    price: Fraction | None  # the latest call's price of the token
    value: Fraction | None  # market value in the base currency at that price


@dataclass(frozen=True)
class Step:
    """One life-cycle action or margin call, for the agreement's history table."""

    when: str  # ISO date or timestamp, for ordering
    what: str
    by: str
    detail: str
    tx_id: str = ""


@dataclass(frozen=True)
class AgreementPage:
    row: AgreementRow
    report: CollateralReport | None
    holdings: tuple[Holding, ...]
    calls: tuple[MarginCall, ...]
    steps: tuple[Step, ...]
    concentration: tuple[Concentration, ...]
    refused: tuple[Refused, ...] = ()


def unit_value(token: Token | None, token_id: str, call: MarginCall, base: str) -> Fraction | None:
    """A token's market value per unit in the base currency at the call's prices, or None when
    the call does not say."""
    prices: dict[str, Any] = call.raw.get("prices") or {}
    fx: dict[str, Any] = call.raw.get("fx") or {}
    if token is not None and token.kind == "CT":
        price = Fraction(1)
    elif token_id in prices:
        price = Fraction(str(prices[token_id]))
        if token is not None and token.quote_convention == "percent-of-par":
            price /= 100
    else:
        return None
    currency = token.currency if token is not None else base
    if currency == base:
        return price
    rate = fx.get(currency) or fx.get(f"{currency}{base}")
    return price * Fraction(str(rate)) if rate is not None else None


@dataclass(frozen=True)
class Concentration:
    """One concentration limit of the agreement's eligibility schedule and the held collateral's
    share of it at the latest call's prices (``share`` None when it cannot be valued)."""

    by: str
    key: str
    limit: Fraction
    share: Fraction | None

    @property
    def breached(self) -> bool:
        return self.share is not None and self.share > self.limit


def concentration(caps: Sequence[Cap], holdings: Sequence[Holding],
                  tokens: dict[str, Token]) -> list[Concentration]:
    total = sum((h.value for h in holdings if h.value is not None and h.held > 0), ZERO)
    out = []
    for cap in caps:
        groups: dict[str, Fraction] = {}
        unknown = False
        for h in holdings:
            if h.held <= 0:
                continue
            if h.value is None:
                unknown = True
                continue
            t = tokens.get(h.token)
            key = (h.token if cap.by == "token" else
                   (t.asset_class if t else "") if cap.by == "assetClass" else
                   (t.issuer if t else ""))
            groups[key] = groups.get(key, ZERO) + h.value
        keys = [cap.key] if cap.key else sorted(groups) or [""]
        for key in keys:
            share = (None if unknown or not total else groups.get(key, ZERO) / total)
            out.append(Concentration(cap.by, key or "(every group)", cap.max, share))
    return out


def agreement_page(book: Book, agreement_id: str, today: date) -> AgreementPage | Refused:
    refused: list[Refused] = []
    a = attempt(f"agreement {agreement_id}", lambda: book.reader.agreement(agreement_id),
                refused)
    if a is None:
        return refused[0]
    calls = book.margin_calls(a.id) if a.status not in ("PROPOSED", "REJECTED",
                                                        "WITHDRAWN") else []
    role, other = role_of(a, book.party)
    row = AgreementRow(a, role, other, calls[-1] if calls else None,
                       todo(a, book.party, calls, today))
    report = (attempt("collateral held", lambda: book.reader.collateral_report(a.id), refused)
              if a.status != "PROPOSED" else None)
    tokens = book.tokens()
    latest = calls[-1] if calls else None
    holdings = []
    for p in report.positions if report else ():
        unit = (unit_value(tokens.get(p.token), p.token, latest, a.terms.base_currency)
                if latest else None)
        prices: dict[str, Any] = latest.raw.get("prices") or {} if latest else {}
        price = Fraction(str(prices[p.token])) if p.token in prices else None
        holdings.append(Holding(p.token, p.held, p.priority, price,
                                unit * p.held if unit is not None else None))
    schedule = a.terms.schedule
    if schedule is None and a.terms.schedule_id:
        schedule = attempt(f"schedule {a.terms.schedule_id}",
                           lambda: book.reader.schedule(other, a.terms.schedule_id), refused)
    caps = schedule.caps if schedule is not None else ()
    return AgreementPage(row, report, tuple(holdings), tuple(calls), tuple(steps(a, calls)),
                         tuple(concentration(caps, holdings, tokens)), tuple(refused))


def steps(a: Agreement, calls: Sequence[MarginCall]) -> list[Step]:
    """Every life-cycle action and margin call, oldest first."""
    out = [Step(h.timestamp, h.action.replace("_", " ").lower(), h.party, h.note, h.tx_id)
           for h in a.history]
    recorded = {h.tx_id for h in a.history if h.tx_id}  # steps the history already names
    for c in calls:
        prices = c.raw.get("prices") or {}
        fx = c.raw.get("fx") or {}
        used = ", ".join([f"{k} {v}" for k, v in sorted(prices.items())]
                         + [f"{k} {v}" for k, v in sorted(fx.items())])
        moved = ", ".join(f"{t.quantity:,} {t.token} {t.sender}→{t.receiver}"
                          for t in c.transfers) or "no transfer"
        detail = (f"prices v{c.price_version}: {used or '-'}; "
                  f"{'triggered' if c.triggered else 'not triggered'}; {moved}")
        out.append(Step(c.date.isoformat(), "margin call", str(c.raw.get("calledBy", "")), detail,
                        c.tx_id))
        if c.dispute is not None and c.dispute.tx_id not in recorded:
            d = c.dispute
            out.append(Step(c.date.isoformat(), "call disputed", d.by,
                            f"agreed {d.agreed_value}, disputed {d.disputed_value}; {d.status}"
                            + (f" ({d.resolution})" if d.resolution else ""), d.tx_id))
        for adj in (x for x in c.adjustments if x.tx_id not in recorded):
            out.append(Step(c.date.isoformat(), "call adjusted", "",
                            f"prices v{adj.price_version}: gap {adj.gap_before} → "
                            f"{adj.gap_after}", adj.tx_id))
    for r in a.recalls:
        out.append(Step(r.date.isoformat(), f"recall {r.id}", a.terms.lender,
                        f"{r.quantity:,} due {r.due.isoformat()}, returned {r.returned:,}: "
                        f"{r.status}", r.tx_id))
    for b in a.buy_ins:
        out.append(Step(b.date.isoformat(), "buy-in", a.terms.lender,
                        f"{b.quantity:,} bought in, owed {b.owed}", b.tx_id))
    # value dates and timestamps: by day, then the day's actions before its calls
    return sorted(out, key=lambda s: (s.when[:10], 0 if "T" in s.when else 1, s.when))


# ---- counterparties ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counterparties:
    view: NetView | None
    breaches: tuple[tuple[Agreement, Concentration], ...]
    refused: tuple[Refused, ...] = ()


def counterparties_view(book: Book, today: date) -> Counterparties:
    if book.operator:
        book.agreements()
        return Counterparties(None, (), tuple(book.refused))
    view = net_positions(book)
    breaches = []
    for a in book.agreements():
        if a.status not in OPEN_LOAN_STATUSES:
            continue
        if a.terms.schedule is None and not a.terms.schedule_id:
            continue
        page = agreement_page(book, a.id, today)
        if isinstance(page, AgreementPage):
            breaches += [(a, c) for c in page.concentration]
    return Counterparties(view, tuple(breaches), tuple(book.refused))


# ---- prices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    business_date: date | None
    last_posted: date | None
    last_swept: date | None
    latest: PriceSet | None
    oracle: dict[str, Any] | None  # the daemon's status document (the operator's dashboard)
    held: tuple[dict[str, Any], ...]  # held-back quotes waiting for a confirmation
    refused: tuple[Refused, ...] = ()

    @property
    def health(self) -> str:
        """``ok``, ``behind`` (prices older than the business date's eve) or the daemon's
        state when its status is known."""
        if self.oracle is not None:
            return str(self.oracle.get("state", "unknown"))
        if self.last_posted is None:
            return "no prices yet"
        behind = (self.business_date - self.last_posted).days if self.business_date else 0
        if behind > 4:
            return f"behind: last prices {behind} days before the business date"
        return "ok"


def prices_view(book: Book, oracle: dict[str, Any] | None = None) -> Prices:
    reader = book.reader
    refused: list[Refused] = []
    business = attempt("the business date", reader.business_date, refused)
    last = attempt("the last posted date", reader.last_posted_date, refused)
    swept = attempt("the last swept date", reader.last_swept_date, refused)
    latest = attempt(f"prices of {last}", lambda: reader.prices(last, None),
                     refused) if last else None
    held = tuple((oracle or {}).get("held_back") or ())
    return Prices(business, last, swept, latest, oracle, held, tuple(refused))


# ---- billing -------------------------------------------------------------------------------------


def invoice_candidates(book: Book) -> list[tuple[str, str, str]]:
    """(month, currency, counterparty) of every month this bank's agreements accrued fees or
    rebates in: where an invoice may exist."""
    out: set[tuple[str, str, str]] = set()
    for a in book.agreements():
        if a.status in ("PROPOSED", "REJECTED", "WITHDRAWN"):
            continue
        _, other = role_of(a, book.party)
        for c in book.margin_calls(a.id):
            for line in c.accruals:
                out.add((line.from_.strftime("%Y-%m"), a.terms.base_currency, other))
    return sorted(out)


@dataclass(frozen=True)
class Billing:
    invoices: tuple[Invoice, ...]
    not_invoiced: tuple[tuple[str, str, str], ...]
    cash_tokens: dict[str, list[str]] = field(default_factory=dict)  # currency -> CT ids
    refused: tuple[Refused, ...] = ()


def billing_view(book: Book, known: Sequence[tuple[str, str, str]] = ()) -> Billing:
    """The invoices of this bank's pairs: those named by the billing events seen, and those of
    every month its agreements accrued in (an unknown invoice is simply not issued yet)."""
    if book.operator:
        book.agreements()
        return Billing((), (), {}, tuple(book.refused))
    found, missing = [], []
    for month, currency, other in sorted(set(invoice_candidates(book)) | set(known)):
        try:
            found.append(book.reader.invoice(month, currency, other))
        except GatewayError as exc:
            if exc.refusal is None:
                raise
            missing.append((month, currency, other))
    cash: dict[str, list[str]] = {}
    for t in book.tokens().values():
        if t.kind == "CT":
            cash.setdefault(t.currency, []).append(t.id)
    return Billing(tuple(sorted(found, key=lambda i: (i.month, i.currency, i.pair))),
                   tuple(missing), cash, tuple(book.refused))
