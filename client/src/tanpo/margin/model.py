"""Domain values of the margin engine: tokens, agreement terms, positions.

Plain frozen dataclasses in, a validated :class:`Agreement` out. Validation order is fixed (and the
same in the Go engine) so that an input with several defects reports the same error kind in both.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.rational import INT64_MAX, Number, to_fraction

#: Longest settlement lag accepted, in calendar days (keeps settle dates far from calendar limits).
MAX_LAG_DAYS = 366

_TOKEN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class TokenKind(StrEnum):
    """ST = security token (bond, stock); CT = cash token (price is always 1)."""

    ST = "ST"
    CT = "CT"


class Quote(StrEnum):
    """How a token's price is quoted."""

    #: price is per token unit (stocks, cash)
    PER_UNIT = "per-unit"
    #: price is per 100 of face value, a token unit being 1 of face (bonds): quote factor 1/100
    PERCENT_OF_PAR = "percent-of-par"


class Mode(StrEnum):
    """Adjustment mode: only CT1 moves (``single``) or CT1…CTn in priority order (``multi``)."""

    SINGLE = "single"
    MULTI = "multi"


class Party(StrEnum):
    BORROWER = "borrower"
    LENDER = "lender"


class Direction(StrEnum):
    #: collateral delivered by the borrower into the agreement (shortfall)
    BORROWER_TO_LENDER = "borrower->lender"
    #: collateral returned by the lender out of the agreement (excess)
    LENDER_TO_BORROWER = "lender->borrower"
    #: collateral held under the agreement that the lender keeps outright (buy-in); no token moves
    KEPT = "kept"


@dataclass(frozen=True, slots=True)
class Token:
    """A token definition, reduced to what valuation and eligibility need.

    ``asset_class`` ("cash", "equity", "bond"…), ``rating`` (one of :data:`RATINGS`, "" =
    unrated) and ``issuer`` are optional; an eligibility schedule reads them.
    """

    id: str
    kind: TokenKind | str
    currency: str
    quote: Quote | str = Quote.PER_UNIT
    asset_class: str = ""
    rating: str = ""
    issuer: str = ""

    @property
    def quote_factor(self) -> Fraction:
        return _PAR if self.quote == Quote.PERCENT_OF_PAR else _ONE


_ONE = Fraction(1)
_PAR = Fraction(1, 100)


@dataclass(frozen=True, slots=True)
class LoanLeg:
    """What the lender delivered and the borrower owes: ``quantity`` units of ``token``."""

    token: str
    quantity: int


#: The rating scale, best first (S&P style); "" means unrated.
RATINGS = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
           "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D")
RATING_RANK = {r: i for i, r in enumerate(RATINGS)}
#: Cap groupings
CAP_BY = ("issuer", "assetClass", "token")
#: The asset class exempt from the minimum-rating rule
CASH_CLASS = "cash"


@dataclass(frozen=True, slots=True)
class Cap:
    """A concentration limit: the group's share of the held collateral's market value may not
    exceed ``max`` (a fraction in (0, 1]). ``by`` is "issuer", "assetClass" or "token"; ``key``
    names the group ("" = every group of that kind)."""

    by: str
    key: str = ""
    max: Number = "1"


@dataclass(frozen=True, slots=True)
class Schedule:
    """An agreement's eligibility schedule. Empty lists mean "any". ``haircuts`` maps
    ``"token:<id>"`` or ``"class:<assetClass>"`` to a haircut in [0, 1)."""

    asset_classes: Sequence[str] = ()
    currencies: Sequence[str] = ()
    min_rating: str = ""
    haircuts: Mapping[str, Number] = field(default_factory=dict)
    caps: Sequence[Cap] = ()


@dataclass(frozen=True, slots=True)
class CapGroup:
    """One group of one cap: the collateral indexes it contains."""

    by: str
    key: str
    max: Fraction
    members: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    """A validated schedule: the reason each collateral token is ineligible ("" = eligible), the
    cap groups (caps in list order, a cap's groups in key order), and the groups of each token."""

    reasons: tuple[str, ...]
    groups: tuple[CapGroup, ...]
    token_groups: tuple[tuple[int, ...], ...]


@dataclass(frozen=True, slots=True)
class Terms:
    """Agreement terms that the margin engine uses.

    ``collateral`` is the priority order CT1…CTn. ``haircut`` is the agreement's α; ``haircuts``
    overrides it per collateral token (an eligibility schedule). ``threshold`` is β (a fraction of
    V_L). ``min_transfer`` is the minimum transfer amount in the base currency. Numbers may be
    given as Fractions, ints or exact decimal strings.
    """

    base: str
    loan: LoanLeg
    collateral: Sequence[str]
    mode: Mode | str
    haircut: Number = "0"
    haircuts: Mapping[str, Number] = field(default_factory=dict)
    threshold: Number = "0"
    min_transfer: Number = "0"
    lag_days: int = 0
    auto_issue: bool = False
    #: optional eligibility schedule (None: every collateral token eligible, nothing capped)
    schedule: Schedule | None = None


@dataclass(frozen=True, slots=True)
class Positions:
    """Quantities by token id: held by the lender under this agreement (may be negative after an
    auto-issued return in ``single`` mode), and the borrower's and lender's free balances."""

    held: Mapping[str, int] = field(default_factory=dict)
    borrower_free: Mapping[str, int] = field(default_factory=dict)
    lender_free: Mapping[str, int] = field(default_factory=dict)


_pricing_keys: dict[tuple[object, ...], int] = {}
_pricing_counter = itertools.count(1)


@dataclass(frozen=True, slots=True, eq=False)
class Agreement:
    """Validated, parsed terms; build it with :func:`make_agreement`.

    ``collateral`` and ``haircuts`` are parallel tuples in priority order; ``pricing_key`` is a
    small integer shared by every agreement with the same tokens, base and haircuts, so one day's
    unit values are computed once for all of them.
    """

    base: str
    loan: Token
    loan_quantity: int
    collateral: tuple[Token, ...]
    haircuts: tuple[Fraction, ...]
    threshold: Fraction
    min_transfer: Fraction
    mode: Mode
    lag_days: int
    auto_issue: bool
    pricing_key: int
    index: Mapping[str, int]
    #: collateral indexes the borrower delivers from (CT1…CTn, or CT1 only in single mode)
    shortfall_order: tuple[int, ...]
    #: collateral indexes the lender returns from (CTn…CT1, or CT1 only in single mode)
    excess_order: tuple[int, ...]
    #: collateral token ids in priority order
    collateral_ids: tuple[str, ...]
    #: β and the minimum transfer amount as integers (numerator, denominator), for the hot path
    threshold_num: int = 0
    threshold_den: int = 1
    min_transfer_num: int = 0
    min_transfer_den: int = 1
    #: the parsed eligibility schedule, None without one
    schedule: ParsedSchedule | None = None


def _fail(message: str, kind: ErrorKind = ErrorKind.INVALID_INPUT) -> MarginError:
    return MarginError(kind, message)


def check_token(token: Token) -> Token:
    """Validate one token definition and return it with enum-typed kind and quote."""
    if not isinstance(token.id, str) or not _TOKEN_ID.fullmatch(token.id):
        raise _fail(f"token id {token.id!r} is not 1-64 characters of A-Z a-z 0-9 . _ : / -")
    if token.kind not in (TokenKind.ST, TokenKind.CT):
        raise _fail(f"token {token.id}: kind {token.kind!r} is not ST or CT")
    if not isinstance(token.currency, str) or not _CURRENCY.fullmatch(token.currency):
        raise _fail(f"token {token.id}: currency {token.currency!r} is not a 3-letter code")
    quote = token.quote if token.quote != "" else Quote.PER_UNIT
    if quote not in (Quote.PER_UNIT, Quote.PERCENT_OF_PAR):
        raise _fail(f"token {token.id}: quote {token.quote!r} is not per-unit or percent-of-par")
    _check_attr(token.asset_class, f"token {token.id}: asset class")
    if token.rating != "" and token.rating not in RATING_RANK:
        raise _fail(f"token {token.id}: rating {token.rating!r} is not on the rating scale")
    _check_attr(token.issuer, f"token {token.id}: issuer")
    return Token(token.id, TokenKind(token.kind), token.currency, Quote(quote),
                 token.asset_class, token.rating, token.issuer)


_ATTR = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


def _check_attr(value: str, what: str) -> None:
    """An asset class, issuer or cap key: "" or 1-128 characters without control characters (an
    issuer's name has spaces)."""
    if not isinstance(value, str) or (value != "" and not _ATTR.fullmatch(value)):
        raise _fail(f"{what} {value!r} is not 1-128 characters without control characters")


def _attr_of(token: Token, by: str) -> str:
    if by == "issuer":
        return token.issuer
    if by == "assetClass":
        return token.asset_class
    return token.id


def _parse_schedule(
    schedule: Schedule, collateral: Sequence[Token], index: Mapping[str, int]
) -> tuple[ParsedSchedule, list[Fraction | None]]:
    """Validate ``schedule`` (asset classes, currencies, minimum rating, haircuts by sorted key,
    caps in list order: by, key, max) and return it parsed with each collateral token's schedule
    haircut (None where it sets none)."""
    for c in schedule.asset_classes:
        if c == "":
            raise _fail("schedule: empty asset class")
        _check_attr(c, "schedule: asset class")
    for c in schedule.currencies:
        if not isinstance(c, str) or not _CURRENCY.fullmatch(c):
            raise _fail(f"schedule: currency {c!r} is not a 3-letter code")
    rated = schedule.min_rating != ""
    min_rank = 0
    if rated:
        if schedule.min_rating not in RATING_RANK:
            raise _fail(
                f"schedule: minimum rating {schedule.min_rating!r} is not on the rating scale"
            )
        min_rank = RATING_RANK[schedule.min_rating]
    by_token: dict[str, Fraction] = {}
    by_class: dict[str, Fraction] = {}
    for k in sorted(schedule.haircuts):
        if k.startswith("token:"):
            name = k[len("token:"):]
            if name not in index:
                raise _fail(f"schedule haircut {k!r}: {name!r} is not a collateral token")
            target = by_token
        elif k.startswith("class:") and _ATTR.fullmatch(k[len("class:"):]):
            name = k[len("class:"):]
            target = by_class
        else:
            raise _fail(f"schedule haircut key {k!r} is not token:<id> or class:<assetClass>")
        target[name] = _fraction_in(schedule.haircuts[k], f"schedule haircut {k}",
                                    upper_open=_ONE)
    groups: list[CapGroup] = []
    token_groups: list[list[int]] = [[] for _ in collateral]
    for n, cap in enumerate(schedule.caps):
        if cap.by not in CAP_BY:
            raise _fail(f"schedule cap {n}: by {cap.by!r} is not issuer, assetClass or token")
        if cap.by == "token" and cap.key != "":
            if cap.key not in index:
                raise _fail(f"schedule cap {n}: {cap.key!r} is not a collateral token")
        else:
            _check_attr(cap.key, "schedule cap key")
        limit = to_fraction(cap.max, "schedule cap max")
        if limit <= 0 or limit > 1:
            raise _fail(f"schedule cap {n}: max {limit} is outside (0, 1]",
                        ErrorKind.OUT_OF_RANGE)
        members: dict[str, list[int]] = {}
        for i, t in enumerate(collateral):
            k = _attr_of(t, cap.by)
            if k != "" and (cap.key == "" or k == cap.key):
                members.setdefault(k, []).append(i)
        if cap.key != "":
            members.setdefault(cap.key, [])
        for k in sorted(members):
            for i in members[k]:
                token_groups[i].append(len(groups))
            groups.append(CapGroup(cap.by, k, limit, tuple(members[k])))
    classes = set(schedule.asset_classes)
    currencies = set(schedule.currencies)
    reasons: list[str] = []
    haircuts: list[Fraction | None] = []
    for t in collateral:
        reason = ""
        exempt = t.asset_class == CASH_CLASS
        if classes and t.asset_class not in classes:
            reason = "asset-class"
        elif currencies and t.currency not in currencies:
            reason = "currency"
        elif rated and not exempt and t.rating == "":
            reason = "unrated"
        elif rated and not exempt and RATING_RANK[t.rating] > min_rank:
            reason = "rating"
        reasons.append(reason)
        if t.id in by_token:
            haircuts.append(by_token[t.id])
        elif t.asset_class != "" and t.asset_class in by_class:
            haircuts.append(by_class[t.asset_class])
        else:
            haircuts.append(None)
    parsed = ParsedSchedule(tuple(reasons), tuple(groups), tuple(tuple(g) for g in token_groups))
    return parsed, haircuts


def _check_int(value: object, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{what} must be an integer")
    if value < -INT64_MAX - 1 or value > INT64_MAX:
        raise _fail(f"{what} {value} does not fit 64 bits", ErrorKind.OVERFLOW)


def _fraction_in(value: Number, what: str, *, upper_open: Fraction | None) -> Fraction:
    if isinstance(value, str) and value == "":
        return Fraction(0)
    parsed = to_fraction(value, what)
    if parsed < 0 or (upper_open is not None and parsed >= upper_open):
        bound = f"[0, {upper_open})" if upper_open is not None else ">= 0"
        raise _fail(f"{what} {parsed} is outside {bound}", ErrorKind.OUT_OF_RANGE)
    return parsed


def make_agreement(tokens: Sequence[Token], terms: Terms) -> Agreement:
    """Validate tokens and terms (in the documented order); return a parsed :class:`Agreement`."""
    defs: dict[str, Token] = {}
    for token in tokens:
        checked = check_token(token)
        if checked.id in defs:
            raise _fail(f"token {checked.id} is defined twice")
        defs[checked.id] = checked

    if not isinstance(terms.base, str) or not _CURRENCY.fullmatch(terms.base):
        raise _fail(f"base currency {terms.base!r} is not a 3-letter code")
    loan = defs.get(terms.loan.token)
    if loan is None:
        raise _fail(f"loan token {terms.loan.token!r} is not among the token definitions")
    _check_int(terms.loan.quantity, "loan quantity")
    if terms.loan.quantity <= 0:
        raise _fail(
            f"loan quantity {terms.loan.quantity} must be positive", ErrorKind.OUT_OF_RANGE
        )
    if len(terms.collateral) == 0:
        raise _fail("collateral priority list is empty")
    collateral: list[Token] = []
    index: dict[str, int] = {}
    for token_id in terms.collateral:
        found = defs.get(token_id)
        if found is None:
            raise _fail(f"collateral token {token_id!r} is not among the token definitions")
        if token_id in index:
            raise _fail(f"collateral token {token_id} is listed twice")
        if token_id == loan.id:
            raise _fail(f"token {token_id} cannot be both the loan and a collateral token")
        index[token_id] = len(collateral)
        collateral.append(found)

    alpha = _fraction_in(terms.haircut, "haircut", upper_open=_ONE)
    per_token: dict[str, Fraction] = {}
    for token_id in sorted(terms.haircuts):
        if token_id not in index:
            raise _fail(f"haircut given for {token_id!r}, which is not a collateral token")
        per_token[token_id] = _fraction_in(
            terms.haircuts[token_id], f"haircut of {token_id}", upper_open=_ONE
        )
    threshold = _fraction_in(terms.threshold, "threshold", upper_open=None)
    min_transfer = _fraction_in(terms.min_transfer, "minimum transfer amount", upper_open=None)
    if terms.mode not in (Mode.SINGLE, Mode.MULTI):
        raise _fail(f"mode {terms.mode!r} is not single or multi")
    _check_int(terms.lag_days, "lag days")
    if not isinstance(terms.auto_issue, bool):
        raise _fail("autoIssue must be true or false")
    if terms.lag_days < 0 or terms.lag_days > MAX_LAG_DAYS:
        raise _fail(
            f"lag of {terms.lag_days} days is outside 0..{MAX_LAG_DAYS}", ErrorKind.OUT_OF_RANGE
        )

    parsed: ParsedSchedule | None = None
    scheduled: list[Fraction | None] = [None] * len(collateral)
    if terms.schedule is not None:
        parsed, scheduled = _parse_schedule(terms.schedule, collateral, index)
    haircuts = tuple(
        per_token.get(t.id, alpha if s is None else s)
        for t, s in zip(collateral, scheduled, strict=True)
    )
    order = (0,) if terms.mode == Mode.SINGLE else tuple(range(len(collateral)))
    key = (terms.base, loan, tuple(collateral), haircuts)
    pricing_key = _pricing_keys.get(key)
    if pricing_key is None:
        pricing_key = next(_pricing_counter)
        _pricing_keys[key] = pricing_key
    return Agreement(
        base=terms.base,
        loan=loan,
        loan_quantity=terms.loan.quantity,
        collateral=tuple(collateral),
        haircuts=haircuts,
        threshold=threshold,
        min_transfer=min_transfer,
        mode=Mode(terms.mode),
        lag_days=terms.lag_days,
        auto_issue=terms.auto_issue,
        pricing_key=pricing_key,
        index=index,
        shortfall_order=order,
        excess_order=order[::-1],
        collateral_ids=tuple(t.id for t in collateral),
        threshold_num=threshold.numerator,
        threshold_den=threshold.denominator,
        min_transfer_num=min_transfer.numerator,
        min_transfer_den=min_transfer.denominator,
        schedule=parsed,
    )


def position_vectors(
    agreement: Agreement, positions: Positions
) -> tuple[list[int], list[int], list[int]]:
    """Check ``positions`` against the agreement and return them as lists in priority order.

    Keys must be collateral tokens (checked in sorted order: held, borrower free, lender free);
    free balances must not be negative; held positions may be (see :class:`Positions`).
    """
    out: list[list[int]] = []
    for name, mapping, free in (
        ("held", positions.held, False),
        ("borrowerFree", positions.borrower_free, True),
        ("lenderFree", positions.lender_free, True),
    ):
        vec = [0] * len(agreement.collateral)
        for token_id in sorted(mapping):
            i = agreement.index.get(token_id)
            if i is None:
                raise _fail(f"{name}: {token_id!r} is not a collateral token of the agreement")
            qty = mapping[token_id]
            _check_int(qty, f"{name}[{token_id}]")
            if free and qty < 0:
                raise _fail(f"{name}[{token_id}]: free balance {qty} is negative",
                            ErrorKind.OUT_OF_RANGE)
            vec[i] = qty
        out.append(vec)
    return out[0], out[1], out[2]
