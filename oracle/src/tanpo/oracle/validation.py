"""Validation before posting: what may go on the ledger for one valuation date.

Pure functions: the source's closes, the previous posted batch (read from the ledger), the
operator's confirmations and the limits go in; a :class:`Assessment` comes out with either the
batch to post or the reasons nothing may be posted. A date with any refusal posts nothing.

Rules, per instrument or FX pair (``key``):

* **malformed** - the latest close is not a decimal number (or is infinite). Not confirmable;
  the operator may enter a manual value (``tanpo oracle confirm D KEY --value V --manual``).
* **non-positive** - the close (after rounding to the tick) is zero or negative. Same.
* **missing / stale** - the value used is the latest close on or before D, from the source or,
  failing that, the previous posted batch (carried forward, marked by ``as_of < D``). A market
  holiday is not a missing close. Trading sessions of the key's market after ``as_of`` up to D
  are missing closes: while waiting for the carry deadline the date is *waiting*; after it up
  to ``max_carry_days`` sessions are carried (with a warning); beyond, it is refused as
  *stale* (confirmable: the operator accepts carrying the value). No value at all: *missing*.
* **move** - a fresh close differs from the previous posted value by more than ``max_move``
  (relative). Held back unless a second source agrees within ``second_source_tolerance`` or the
  operator confirmed this exact value for this date.
* **cross** - three FX pairs forming a triangle (EURUSD, USDJPY, EURJPY) must agree: the last
  configured pair of the triangle against the product of the other two, within
  ``cross_tolerance``. Confirmable (on that pair's value).

Benchmark fixings (``is_rate``: SOFR, ESTR, TONA…, percent per annum) follow the rules of an FX
pair on its calendar (malformed, missing, stale) with two exceptions: any sign is a valid fixing
(no non-positive rule; a manual value may be zero or negative too), and there is no move rule (a
relative move means nothing for a rate near zero).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction
from typing import Any

from tanpo.oracle.calendars import MarketCalendar
from tanpo.oracle.config import LimitsConfig
from tanpo.oracle.ledger import PriceBatch, Quote

__all__ = [
    "Assessment",
    "Confirmation",
    "MalformedCloseError",
    "Note",
    "Observation",
    "Refusal",
    "Rule",
    "assess",
    "to_decimal",
]

_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# No real close is longer or beyond 1e±30; an exponent such as "1e100000000" would otherwise
# overflow the context or build a huge exact fraction in the move and cross checks.
_MAX_CLOSE_TEXT = 60
_MAX_CLOSE_EXPONENT = 30


class Rule(StrEnum):
    MISSING = "missing"
    STALE = "stale"
    MALFORMED = "malformed"
    NON_POSITIVE = "non-positive"
    MOVE = "move"
    CROSS = "cross"


class MalformedCloseError(ValueError):
    """A close that is not a finite decimal number."""


def to_decimal(text: str, tick: Decimal | None = None) -> Decimal:
    """Exact decimal of a close's text, rounded half-even to a multiple of ``tick``.

    ``to_decimal("96.62000274658203", Decimal("0.001")) == Decimal("96.620")``. Ticks need not
    be powers of ten (a 5-yen tick rounds to multiples of 5). Signs are kept, so a negative
    close reaches the non-positive rule.
    """
    t = text.strip()
    if len(t) > _MAX_CLOSE_TEXT or not _DECIMAL_RE.match(t):
        raise MalformedCloseError(f"not a decimal number: {text[:_MAX_CLOSE_TEXT]!r}")
    with localcontext(Context(prec=60)):
        try:
            value = Decimal(t)
            if abs(value.adjusted()) > _MAX_CLOSE_EXPONENT:
                raise MalformedCloseError(
                    f"not a decimal number in range: {text!r} is beyond 1e±{_MAX_CLOSE_EXPONENT}")
            if tick is None:
                return value
            steps = (value / tick).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
            return steps * tick
        except ArithmeticError as exc:  # InvalidOperation, Overflow, ...
            raise MalformedCloseError(f"not a decimal number: {text!r}") from exc


@dataclass(frozen=True)
class Observation:
    """What the source said about one key around a valuation date."""

    key: str
    symbol: str
    calendar: MarketCalendar
    closes: Mapping[date, str]
    tick: Decimal | None = None
    max_move: Decimal = Decimal("0.25")
    is_fx: bool = False
    is_rate: bool = False  # a benchmark fixing: any sign, no move rule


@dataclass(frozen=True)
class Refusal:
    """Why ``key`` stops ``valuation_date`` from being posted."""

    valuation_date: date
    key: str
    symbol: str
    rule: Rule
    reason: str
    value: str | None = None
    previous: str | None = None
    confirmable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.valuation_date.isoformat(),
            "instrument": self.key,
            "symbol": self.symbol,
            "rule": str(self.rule),
            "reason": self.reason,
            "value": self.value,
            "previous": self.previous,
            "confirmable": self.confirmable,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Refusal:
        return cls(
            date.fromisoformat(str(raw["date"])), str(raw["instrument"]), str(raw["symbol"]),
            Rule(str(raw["rule"])), str(raw["reason"]), raw.get("value"), raw.get("previous"),
            bool(raw.get("confirmable", False)),
        )


@dataclass(frozen=True)
class Confirmation:
    """An operator's word on one key for one date.

    ``manual`` False: the operator accepts ``value`` as held back by a confirmable rule.
    ``manual`` True: the operator supplies ``value`` instead of the source's.
    """

    valuation_date: date
    key: str
    value: Decimal
    by: str
    manual: bool = False
    note: str = ""
    at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.valuation_date.isoformat(), "instrument": self.key,
                "value": str(self.value), "by": self.by, "manual": self.manual,
                "note": self.note, "at": self.at}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Confirmation:
        value = to_decimal(str(raw["value"]))
        return cls(date.fromisoformat(str(raw["date"])), str(raw["instrument"]), value,
                   str(raw.get("by", "")), bool(raw.get("manual", False)),
                   str(raw.get("note", "")), str(raw.get("at", "")))


@dataclass(frozen=True)
class Note:
    """Something worth logging about an accepted value (carried, confirmed, manual)."""

    key: str
    kind: str
    message: str


@dataclass(frozen=True)
class Assessment:
    valuation_date: date
    batch: PriceBatch | None
    refusals: tuple[Refusal, ...] = ()
    waiting: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()
    quotes: Mapping[str, Quote] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.batch is not None


def assess(
    valuation_date: date,
    observations: Sequence[Observation],
    previous: PriceBatch | None,
    confirmations: Sequence[Confirmation],
    limits: LimitsConfig,
    *,
    carry_missing: bool = True,
    second: Mapping[str, str] | None = None,
    second_label: str = "second",
    source_label: str = "",
) -> Assessment:
    """Validate one date. ``second`` maps keys to a second source's close text on the date."""
    d = valuation_date
    refusals: list[Refusal] = []
    waiting: list[str] = []
    notes: list[Note] = []
    quotes: dict[str, Quote] = {}
    mine = [c for c in confirmations if c.valuation_date == d]
    for obs in observations:
        prev = _previous_quote(previous, obs)
        verdict = _one(d, obs, prev, [c for c in mine if c.key == obs.key], limits,
                       carry_missing, (second or {}).get(obs.key), second_label)
        refusals.extend(verdict.refusals)
        notes.extend(verdict.notes)
        if verdict.waiting:
            waiting.append(obs.key)
        if verdict.quote is not None:
            quotes[obs.key] = verdict.quote
    fx_obs = [o for o in observations if o.is_fx]
    refusals.extend(_crosses(d, fx_obs, quotes, mine, limits.cross_tolerance, notes))
    if refusals or waiting:
        return Assessment(d, None, tuple(refusals), tuple(waiting), tuple(notes), quotes)
    batch = PriceBatch(
        d,
        {o.key: quotes[o.key] for o in observations if not o.is_fx and not o.is_rate},
        {o.key: quotes[o.key] for o in observations if o.is_fx},
        source_label,
        {o.key: quotes[o.key] for o in observations if o.is_rate},
    )
    return Assessment(d, batch, (), (), tuple(notes), quotes)


def _previous_quote(previous: PriceBatch | None, obs: Observation) -> Quote | None:
    if previous is None:
        return None
    return (previous.rates if obs.is_rate else previous.fx if obs.is_fx
            else previous.prices).get(obs.key)


@dataclass
class _Verdict:
    quote: Quote | None = None
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    waiting: bool = False


def _pct(x: Fraction | Decimal) -> str:
    return f"{float(x) * 100:+.2f}%"


def _one(
    d: date,
    obs: Observation,
    prev: Quote | None,
    confirms: Sequence[Confirmation],
    limits: LimitsConfig,
    carry_missing: bool,
    second_text: str | None,
    second_label: str,
) -> _Verdict:
    v = _Verdict()

    def refuse(rule: Rule, reason: str, value: str | None = None,
               confirmable: bool = False) -> _Verdict:
        v.refusals.append(Refusal(d, obs.key, obs.symbol, rule, reason, value,
                                  None if prev is None else str(prev.value), confirmable))
        return v

    manual = next((c for c in reversed(confirms) if c.manual), None)
    if manual is not None:
        if not manual.value.is_finite() or (manual.value <= 0 and not obs.is_rate):
            return refuse(Rule.NON_POSITIVE, f"manual value {manual.value} is not positive",
                          str(manual.value))
        v.quote = Quote(manual.value, d, f"operator:{manual.by}", obs.is_rate)
        v.notes.append(Note(obs.key, "manual", f"manual value {manual.value} by {manual.by}"))
        return v

    def confirmed(value: Decimal) -> Confirmation | None:
        return next((c for c in reversed(confirms) if not c.manual and c.value == value), None)

    earliest = d - timedelta(days=limits.lookback_days)
    dated = sorted(k for k in obs.closes if earliest <= k <= d)
    value: Decimal | None = None
    as_of: date | None = None
    if prev is not None and (not dated or prev.as_of >= dated[-1]):
        # nothing newer than what the ledger holds: carry the ledger's value (a source's later
        # revision of an already-posted close is a correction, not a new observation)
        value, as_of = prev.value, prev.as_of
    elif dated:
        as_of = dated[-1]
        text = obs.closes[as_of]
        try:
            value = to_decimal(text, obs.tick)
        except MalformedCloseError:
            return refuse(Rule.MALFORMED,
                          f"close {text!r} on {as_of} is not a decimal number", text)
        if value <= 0 and not obs.is_rate:
            return refuse(Rule.NON_POSITIVE,
                          f"close {text!r} on {as_of} is not positive", str(value))
    if value is None or as_of is None:
        return refuse(Rule.MISSING, f"no close for {obs.symbol} since {earliest} and no "
                                    f"earlier value on the ledger")
    fresh = prev is None or as_of > prev.as_of
    confirmed_by: str | None = None

    missing = obs.calendar.sessions_between(as_of + timedelta(days=1), d) if as_of < d else []
    if missing:
        if not carry_missing:
            v.waiting = True
            return v
        span = f"{missing[0]}..{missing[-1]}" if len(missing) > 1 else str(missing[0])
        if len(missing) > limits.max_carry_days:
            ok = confirmed(value)
            if ok is None:
                return refuse(
                    Rule.STALE,
                    f"no close since {as_of}: {len(missing)} trading session(s) missing "
                    f"({span}), carry limit {limits.max_carry_days}",
                    str(value), confirmable=True)
            confirmed_by = f"operator:{ok.by}"
            v.notes.append(Note(obs.key, "confirmed",
                                f"stale value {value} of {as_of} confirmed by {ok.by}"))
        else:
            v.notes.append(Note(obs.key, "carried",
                                f"close missing on {span}; carried {value} of {as_of}"))
    elif as_of < d:
        v.notes.append(Note(obs.key, "closed", f"market closed; last close {value} of {as_of}"))

    if prev is not None and fresh and not obs.is_rate:
        change = Fraction(value) / Fraction(prev.value) - 1
        if abs(change) > obs.max_move:
            agreed = _second_agrees(second_text, value, obs.tick, limits.second_source_tolerance)
            ok = confirmed(value)
            if agreed is not None:
                confirmed_by = f"source:{second_label}"
                v.notes.append(Note(obs.key, "confirmed",
                                    f"move {_pct(change)} confirmed by {second_label} ({agreed})"))
            elif ok is not None:
                confirmed_by = f"operator:{ok.by}"
                v.notes.append(Note(obs.key, "confirmed",
                                    f"move {_pct(change)} confirmed by {ok.by}"))
            else:
                return refuse(
                    Rule.MOVE,
                    f"moved {_pct(change)} from {prev.value} ({prev.as_of}) to {value} "
                    f"({as_of}), limit ±{float(obs.max_move) * 100:.2f}%",
                    str(value), confirmable=True)
    v.quote = Quote(value, as_of, confirmed_by, obs.is_rate)
    return v


def _second_agrees(text: str | None, value: Decimal, tick: Decimal | None,
                   tolerance: Decimal) -> Decimal | None:
    if text is None:
        return None
    try:
        other = to_decimal(text, tick)
    except MalformedCloseError:
        return None
    if other <= 0:
        return None
    return other if abs(Fraction(value) / Fraction(other) - 1) <= tolerance else None


def _rate(quotes: Mapping[str, Quote], base: str, quote: str) -> Fraction | None:
    if base + quote in quotes:
        return Fraction(quotes[base + quote].value)
    if quote + base in quotes:
        return 1 / Fraction(quotes[quote + base].value)
    return None


def _crosses(
    d: date,
    fx: Sequence[Observation],
    quotes: Mapping[str, Quote],
    confirms: Sequence[Confirmation],
    tolerance: Decimal,
    notes: list[Note],
) -> list[Refusal]:
    out: list[Refusal] = []
    for trio in itertools.combinations(fx, 3):
        currencies = {c for o in trio for c in (o.key[:3], o.key[3:])}
        pairs = {frozenset((o.key[:3], o.key[3:])) for o in trio}
        if len(currencies) != 3 or len(pairs) != 3:
            continue
        if any(o.key not in quotes for o in trio):
            continue
        cross, legs = trio[2], trio[:2]
        base, quote = cross.key[:3], cross.key[3:]
        (via,) = currencies - {base, quote}
        leg_quotes = {o.key: quotes[o.key] for o in legs}
        first, second = _rate(leg_quotes, base, via), _rate(leg_quotes, via, quote)
        if first is None or second is None:  # pragma: no cover - a triangle always has both
            continue
        implied = first * second
        actual = Fraction(quotes[cross.key].value)
        gap = actual / implied - 1
        if abs(gap) <= tolerance:
            continue
        value = quotes[cross.key].value
        ok = next((c for c in reversed(confirms)
                   if c.key == cross.key and c.value == value), None)
        if ok is not None:
            notes.append(Note(cross.key, "confirmed",
                              f"cross gap {_pct(gap)} confirmed by {ok.by}"))
            continue
        shown = Decimal(implied.numerator) / Decimal(implied.denominator)
        out.append(Refusal(
            d, cross.key, cross.symbol, Rule.CROSS,
            f"{cross.key} {value} vs {legs[0].key} {quotes[legs[0].key].value} × "
            f"{legs[1].key} {quotes[legs[1].key].value} (inverted as needed) = "
            f"{shown:.6g}: off by {_pct(gap)}, tolerance ±{float(tolerance) * 100:.2f}%",
            str(value), None, confirmable=True))
    return out
