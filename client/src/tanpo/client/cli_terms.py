"""Strict parsing of what a participant types or files, before anything reaches the network.

Quantities are whole token units written in digits (``1000``: no sign, separator, decimal point or
exponent, no leading zero), as the chaincode takes them; amounts and rates are plain decimals
(``0.05``, ``1000.5``). A malformed value is refused here with a message naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

from tanpo.client.models import (
    CAP_BY,
    DAY_COUNTS,
    MAX_TOKEN_IDENTIFIERS,
    TOKEN_IDENTIFIER_TYPES,
    Cap,
    CollateralLeg,
    FeeTerms,
    RebateTerms,
    Schedule,
    Terms,
    json_text,
)

MAX_QUANTITY = 2**63 - 1
MAX_LAG_DAYS = 30
MAX_NOTICE_DAYS = 366
_QUANTITY = re.compile(r"0|[1-9][0-9]*")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SIGNED_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_BENCHMARK = re.compile(r"[A-Z][A-Z0-9]{1,15}")
_TERMS_KEYS = {"id", "reference", "lender", "borrower", "loan", "collateral", "baseCurrency",
               "haircut", "threshold", "mode", "settlementLagDays", "autoIssue",
               "minimumTransferAmount", "tradeDate", "startDate", "endDate",
               "noticeDays", "substitutionPreAuthorised", "noEarlyReturn",
               "fee", "rebate", "dayCount", "schedule", "scheduleId", "cdmExtras"}
_SCHEDULE_KEYS = {"assetClasses", "currencies", "minRating", "haircuts", "caps"}
#: The S&P rating scale a schedule's minimum rating is on (the chaincode's margin.Ratings).
RATINGS = ("AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-", "BB+", "BB", "BB-",
           "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D")
_ATTR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class InputError(ValueError):
    """Malformed input, found before anything was sent."""


# ---- token identifiers and CDM extras (as the chaincode checks them) --------------------------

_GENERIC_ID = (re.compile(r"[A-Za-z0-9.\-:/]{1,32}"), "1 to 32 characters from A-Z a-z 0-9 . - : /")
_FIGI = (re.compile(r"BBG[0-9A-Z]{9}"),
         '12 capital letters or digits starting with BBG, such as "BBG000BB7XD0"')
#: The format of each identifier type (the chaincode's tokenids.go).
_IDENTIFIER_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "SEDOL": (re.compile(r"[0-9A-Z]{7}"), '7 capital letters or digits, such as "6335171"'),
    "CUSIP": (re.compile(r"[0-9A-Z]{9}"), '9 capital letters or digits, such as "037833100"'),
    "FIGI": _FIGI,
    "BBGID": _FIGI,
    "BBGTICKER": (re.compile(r"[A-Za-z0-9.\-:/]+( [A-Za-z0-9.\-:/]+)*"),
                  "up to 32 characters from A-Z a-z 0-9 . - : / in words separated by single "
                  'spaces, such as "8306 JT Equity"'),
    "RIC": (re.compile(r"[A-Za-z0-9.\-:/=]{1,32}"),
            '1 to 32 characters from A-Z a-z 0-9 . - : / =, such as "8306.T"'),
    "Wertpapier": (re.compile(r"[0-9A-Z]{6}"), '6 capital letters or digits, such as "840400"'),
    "ExchangeCode": _GENERIC_ID,
    "ClearingCode": _GENERIC_ID,
}
assert tuple(sorted(_IDENTIFIER_RULES)) == TOKEN_IDENTIFIER_TYPES
#: Bounds of terms' cdmExtras (the chaincode's cdmextras.go).
MAX_CDM_EXTRAS_BYTES = 16384
MAX_CDM_EXTRAS_DEPTH = 16


def check_token_identifier(kind: str, value: str, token_id: str) -> None:
    """Refuse an identifier the chaincode would refuse: an unknown type, ISIN (the token's
    ``isin`` field holds it), or a value not in the type's format."""
    if kind not in _IDENTIFIER_RULES:
        if kind.upper() == "ISIN":
            raise InputError(f"invalid identifier type {kind!r} for token {token_id}: give the "
                             "ISIN in the isin field (--isin), not as an identifier")
        hint = next((f" (did you mean {k}?)" for k in TOKEN_IDENTIFIER_TYPES
                     if k.lower() == kind.lower()), "")
        raise InputError(f"invalid identifier type {kind[:40]!r} for token {token_id}{hint}: "
                         f"expected one of {', '.join(TOKEN_IDENTIFIER_TYPES)}")
    pattern, expected = _IDENTIFIER_RULES[kind]
    if len(value) > 32 or not pattern.fullmatch(value):
        raise InputError(f"invalid {kind} {value[:40]!r} for token {token_id}: expected "
                         f"{expected}")


def check_token_identifiers(identifiers: Mapping[str, str], token_id: str) -> dict[str, str]:
    """A token's identifiers, each checked (`check_token_identifier`), at most
    `MAX_TOKEN_IDENTIFIERS`; returned in type order."""
    if len(identifiers) > MAX_TOKEN_IDENTIFIERS:
        raise InputError(f"token {token_id} has {len(identifiers)} identifiers; at most "
                         f"{MAX_TOKEN_IDENTIFIERS}")
    for kind in sorted(identifiers):
        value = identifiers[kind]
        if not isinstance(value, str):
            raise InputError(f"invalid {kind} for token {token_id}: expected a string, got "
                             f"{json.dumps(value)}")
        check_token_identifier(kind, value, token_id)
    return {k: identifiers[k] for k in sorted(identifiers)}


def parse_token_identifiers(items: Sequence[str], token_id: str) -> dict[str, str]:
    """``TYPE=VALUE`` items (``--identifier SEDOL=6335171``), each type at most once."""
    out: dict[str, str] = {}
    for item in items:
        kind, sep, value = item.partition("=")
        kind, value = kind.strip(), value.strip()
        if not sep or not kind or not value:
            raise InputError(f"invalid --identifier {item!r}: expected TYPE=VALUE, such as "
                             "SEDOL=6335171")
        if kind in out:
            raise InputError(f"--identifier {kind} is given twice")
        out[kind] = value
    return check_token_identifiers(out, token_id)


def check_cdm_extras(value: Any, where: str = "cdmExtras") -> dict[str, Any]:
    """Terms' cdmExtras as the chaincode takes them: a JSON object of at most
    `MAX_CDM_EXTRAS_BYTES` (compact, as the SDK sends it), nested at most
    `MAX_CDM_EXTRAS_DEPTH` levels (the object itself is level 1)."""
    if not isinstance(value, Mapping):
        got = ("null" if value is None else "true or false" if isinstance(value, bool)
               else "a string" if isinstance(value, str) else "an array"
               if isinstance(value, list | tuple) else "a number"
               if isinstance(value, int | float) else type(value).__name__)
        raise InputError(f"invalid {where}: expected a JSON object, got {got}")
    try:
        size = len(json_text(value).encode())
    except (TypeError, ValueError) as exc:
        raise InputError(f"invalid {where}: not JSON ({exc})") from None
    if size > MAX_CDM_EXTRAS_BYTES:
        raise InputError(f"invalid {where}: {size} bytes; at most {MAX_CDM_EXTRAS_BYTES}")

    def walk(v: Any, depth: int, path: str) -> None:
        if not isinstance(v, Mapping | list):
            return
        if depth > MAX_CDM_EXTRAS_DEPTH:
            raise InputError(f"invalid {where}: nested more than {MAX_CDM_EXTRAS_DEPTH} levels "
                             f"deep at {path[:120]}")
        items = v.items() if isinstance(v, Mapping) else ((f"[{i}]", x) for i, x in enumerate(v))
        for k, x in items:
            walk(x, depth + 1, f"{path}{k}" if isinstance(v, list) else f"{path}.{k}")

    walk(value, 1, "cdmExtras")
    return dict(value)


def parse_quantity(text: str, what: str, allow_zero: bool = False) -> int:
    """A token quantity: whole units in decimal digits, 1..2^63-1 (or 0 when allowed)."""
    text = text.strip()
    if not _QUANTITY.fullmatch(text):
        hint = ""
        if re.fullmatch(r"0[0-9]+", text):
            hint = " (no leading zeros)"
        elif re.fullmatch(r"[0-9,_]+", text):
            hint = " (no thousands separators)"
        elif re.fullmatch(r"[0-9]*\.[0-9]*", text):
            hint = " (tokens are indivisible: no decimal point)"
        raise InputError(f"invalid {what} {text!r}: expected a whole number of token units in "
                         f"digits, such as 1000{hint}")
    value = int(text)
    if value == 0 and not allow_zero:
        raise InputError(f"invalid {what} 0: must be greater than zero")
    if value > MAX_QUANTITY:
        raise InputError(f"invalid {what} {text}: more than the maximum {MAX_QUANTITY}")
    return value


def parse_decimal(text: str, what: str) -> Fraction:
    """A non-negative exact decimal such as ``0.05`` or ``1000``."""
    text = text.strip()
    if len(text) > 40 or not _DECIMAL.fullmatch(text):
        raise InputError(f"invalid {what} {text!r}: expected a decimal number such as 0.05 "
                         "(digits, an optional fraction; no sign, percent or exponent)")
    return Fraction(text)


def parse_signed_decimal(text: str, what: str) -> Fraction:
    """An exact decimal of any sign such as ``5.31`` or ``-0.57`` (fixings, rebates, spreads)."""
    text = text.strip()
    if len(text) > 40 or not _SIGNED_DECIMAL.fullmatch(text):
        raise InputError(f"invalid {what} {text!r}: expected a decimal number such as 5.31 or "
                         "-0.57 (no percent sign or exponent)")
    return Fraction(text)


def parse_benchmark(text: str, what: str) -> str:
    """A benchmark rate's name, as the oracle posts its fixings: SOFR, ESTR, TONA, SONIA."""
    text = text.strip()
    if not _BENCHMARK.fullmatch(text):
        raise InputError(f"invalid {what} {text!r}: expected 2-16 capital letters and digits "
                         "such as SOFR")
    return text


def parse_cap(text: str, what: str = "--cap") -> Cap:
    """A concentration cap ``BY[:KEY]=MAX``: ``issuer=0.5`` (every issuer at most half the
    collateral's market value), ``assetClass:equity=0.3``, ``token:JP8306=0.25``."""
    group, sep, limit = text.partition("=")
    by, _, key = group.strip().partition(":")
    if not sep or by not in CAP_BY:
        raise InputError(f"invalid {what} {text!r}: expected BY[:KEY]=MAX with BY one of "
                         f"{', '.join(CAP_BY)}, such as issuer=0.5")
    if key and not _ATTR.fullmatch(key):
        raise InputError(f"invalid {what} {text!r}: {key!r} is not a group name")
    value = parse_decimal(limit, what)
    if not 0 < value <= 1:
        raise InputError(f"invalid {what} {text!r}: the maximum share is in (0, 1], such as 0.5")
    return Cap(by, key, value)


def parse_schedule_haircut(text: str, what: str = "--haircut") -> tuple[str, Fraction]:
    """A schedule haircut ``token:<id>=H`` or ``class:<assetClass>=H``, H in [0, 1)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    kind, _, name = key.partition(":")
    if not sep or kind not in ("token", "class") or not _ATTR.fullmatch(name):
        raise InputError(f"invalid {what} {text!r}: expected token:<id>=H or "
                         "class:<assetClass>=H, such as class:equity=0.15")
    return key, parse_rate(value, f"{what} {key}")


def schedule_from_parts(*, asset_classes: Sequence[str] = (), currencies: Sequence[str] = (),
                        min_rating: str = "", haircuts: Sequence[str] = (),
                        caps: Sequence[str] = ()) -> Schedule:
    """A schedule from the `agreement schedule define` flags, checked as the chaincode checks
    them (that token haircuts and caps name collateral tokens is the terms' check)."""
    for c in asset_classes:
        if not _ATTR.fullmatch(c):
            raise InputError(f"invalid --asset-class {c!r}: expected a name such as equity")
    for c in currencies:
        parse_currency(c, "--currency")
    if min_rating and min_rating not in RATINGS:
        raise InputError(f"invalid --min-rating {min_rating!r}: expected a rating on the S&P "
                         "scale such as A- or BBB")
    cuts: dict[str, Fraction] = {}
    for h in haircuts:
        key, value = parse_schedule_haircut(h)
        if key in cuts:
            raise InputError(f"--haircut {key} is given twice")
        cuts[key] = value
    return Schedule(tuple(asset_classes), tuple(currencies), min_rating, cuts,
                    tuple(parse_cap(c) for c in caps))


def schedule_from_json(data: Any, source: str) -> Schedule:
    """A schedule from JSON as the chaincode takes it (``assetClasses``, ``currencies``,
    ``minRating``, ``haircuts``, ``caps``; any ``id`` is the caller's to check)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: a schedule is a JSON object")
    unknown = sorted(set(data) - _SCHEDULE_KEYS - {"id"})
    if unknown:
        raise InputError(f"{source}: unknown schedule key {unknown[0]!r}; expected "
                         f"{', '.join(sorted(_SCHEDULE_KEYS))}")

    def strings(key: str) -> list[str]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{source}: {key} must be a list of strings")
        return value

    rating = data.get("minRating") or ""
    if not isinstance(rating, str):
        raise InputError(f"{source}: minRating must be a string such as \"A-\"")
    cuts = data.get("haircuts") or {}
    if not isinstance(cuts, Mapping) or not all(isinstance(v, str) for v in cuts.values()):
        raise InputError(f"{source}: haircuts must map token:<id> or class:<assetClass> to a "
                         'decimal string such as "0.15"')
    caps = data.get("caps") or []
    if not isinstance(caps, list):
        raise InputError(f"{source}: caps must be a list of {{by, key?, max}}")
    cap_texts = []
    for i, c in enumerate(caps):
        if (not isinstance(c, Mapping) or set(c) - {"by", "key", "max"}
                or not all(isinstance(c.get(k, ""), str) for k in ("by", "key", "max"))):
            raise InputError(f"{source}: caps[{i}] must be {{\"by\", \"key\"?, \"max\"}} "
                             "with string values")
        key = c.get("key") or ""
        cap_texts.append(f"{c.get('by', '')}{':' + key if key else ''}={c.get('max', '')}")
    try:
        return schedule_from_parts(
            asset_classes=strings("assetClasses"), currencies=strings("currencies"),
            min_rating=rating, haircuts=[f"{k}={v}" for k, v in cuts.items()],
            caps=cap_texts)
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def economics(*, fee_bps: str | None, minimum_fee: str | None, rebate: str | None,
              rebate_benchmark: str | None, rebate_spread_bps: str | None,
              day_count: str | None) -> tuple[FeeTerms | None, RebateTerms | None, str]:
    """The fee, rebate and day count of the `agreement propose` flags, checked as the chaincode
    checks them (the engine's own limits are left to it)."""
    fee = None
    if fee_bps is not None:
        fee = FeeTerms(parse_decimal(fee_bps, "--fee-bps"),
                       parse_decimal(minimum_fee, "--minimum-fee")
                       if minimum_fee is not None else None)
    elif minimum_fee is not None:
        raise InputError("--minimum-fee needs --fee-bps (the fee it is the minimum of)")
    if rebate is not None and rebate_benchmark is not None:
        raise InputError("give --rebate (a fixed rate) or --rebate-benchmark, not both")
    if rebate_spread_bps is not None and rebate_benchmark is None:
        raise InputError("--rebate-spread-bps needs --rebate-benchmark NAME")
    cash = None
    if rebate is not None:
        cash = RebateTerms(fixed=parse_signed_decimal(rebate, "--rebate"))
    elif rebate_benchmark is not None:
        cash = RebateTerms(benchmark=parse_benchmark(rebate_benchmark, "--rebate-benchmark"),
                           spread_bps=parse_signed_decimal(rebate_spread_bps,
                                                           "--rebate-spread-bps")
                           if rebate_spread_bps is not None else None)
    if day_count is not None:
        if day_count not in DAY_COUNTS:
            raise InputError(f"invalid --day-count {day_count!r}: expected "
                             f"{' or '.join(DAY_COUNTS)}")
        if fee is None and cash is None:
            raise InputError("--day-count needs a fee or a rebate to accrue")
    return fee, cash, day_count or ""


def parse_rate(text: str, what: str) -> Fraction:
    """A haircut or threshold: a decimal in [0, 1) (``0.05`` is 5 %)."""
    value = parse_decimal(text, what)
    if value >= 1:
        raise InputError(f"invalid {what} {text.strip()!r}: expected a fraction in [0, 1) such "
                         "as 0.05 for 5%")
    return value


def parse_date(text: str, what: str) -> date:
    text = text.strip()
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InputError(f"invalid {what} {text!r}: expected a date YYYY-MM-DD")


def parse_currency(text: str, what: str) -> str:
    if not _CURRENCY.fullmatch(text):
        raise InputError(f"invalid {what} {text!r}: expected an ISO 4217 code such as JPY")
    return text


def parse_pair(text: str, what: str) -> tuple[str, str]:
    """``TOKEN=VALUE`` -> (TOKEN, VALUE)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise InputError(f"invalid {what} {text!r}: expected TOKEN=VALUE, such as JP8306=1000")
    return key.strip(), value.strip()


# ---- terms from flags -----------------------------------------------------------------------


def terms_from_flags(*, lender: str, borrower: str, loan: str, collateral: Sequence[str],
                     token_haircuts: Sequence[str], base: str, haircut: str, threshold: str,
                     mode: str, lag: int, auto_issue: bool, mta: str,
                     trade_date: str | None, start_date: str | None, end_date: str | None,
                     open_ended: bool, agreement_id: str, today: date,
                     notice_days: int = 0, substitution_pre_authorised: bool = False,
                     no_early_return: bool = False, fee: FeeTerms | None = None,
                     rebate: RebateTerms | None = None, day_count: str = "") -> Terms:
    """Terms from the `agreement propose` flags, every value checked (the economics by
    `economics`)."""
    loan_token, loan_qty = parse_pair(loan, "--loan")
    if not collateral:
        raise InputError("give the collateral with --collateral TOKEN=QTY (repeat it for each "
                         "token, in priority order CT1, CT2, …)")
    per_token: dict[str, Fraction] = {}
    for item in token_haircuts:
        token, value = parse_pair(item, "--token-haircut")
        if token in per_token:
            raise InputError(f"--token-haircut {token} is given twice")
        per_token[token] = parse_rate(value, f"haircut of {token}")
    legs: list[CollateralLeg] = []
    for item in collateral:
        token, value = parse_pair(item, "--collateral")
        if any(leg.token == token for leg in legs):
            raise InputError(f"--collateral {token} is given twice")
        legs.append(CollateralLeg(token, parse_quantity(value, f"collateral quantity of {token}",
                                                        allow_zero=True),
                                  per_token.pop(token, None)))
    if per_token:
        raise InputError(f"--token-haircut {', '.join(per_token)}: not a collateral token")
    if end_date is not None and open_ended:
        raise InputError("give either --end-date or --open, not both")
    if end_date is None and not open_ended:
        raise InputError("give --end-date YYYY-MM-DD, or --open for an agreement with no end "
                         "date (closed by early termination)")
    traded = parse_date(trade_date, "--trade-date") if trade_date else today
    started = parse_date(start_date, "--start-date") if start_date else traded
    ends = parse_date(end_date, "--end-date") if end_date else None
    _check_dates(traded, started, ends)
    if not 0 <= lag <= MAX_LAG_DAYS:
        raise InputError(f"invalid --lag {lag}: expected 0 to {MAX_LAG_DAYS} days")
    if not 0 <= notice_days <= MAX_NOTICE_DAYS:
        raise InputError(f"invalid --notice-days {notice_days}: expected 0 to {MAX_NOTICE_DAYS}")
    return Terms(
        id=agreement_id, lender=lender, borrower=borrower, loan_token=loan_token,
        loan_quantity=parse_quantity(loan_qty, f"loan quantity of {loan_token}"),
        collateral=tuple(legs), base_currency=parse_currency(base, "--base"),
        haircut=parse_rate(haircut, "--haircut"), threshold=parse_rate(threshold, "--threshold"),
        mode=mode, settlement_lag_days=lag, auto_issue=auto_issue,
        minimum_transfer_amount=parse_decimal(mta, "--mta"),
        trade_date=traded, start_date=started, end_date=ends, notice_days=notice_days,
        substitution_pre_authorised=substitution_pre_authorised, no_early_return=no_early_return,
        fee=fee, rebate=rebate, day_count=day_count,
    )


def _check_dates(traded: date, started: date, ends: date | None) -> None:
    if started < traded:
        raise InputError(f"the start date {started} is before the trade date {traded}")
    if ends is not None and ends < started:
        raise InputError(f"the end date {ends} is before the start date {started}")


# ---- terms from a file (the chaincode's terms JSON, as `agreement export` writes it) ----------


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"{path} is not JSON: {exc}") from None


def terms_from_json(data: Any, source: str) -> Terms:
    """Terms from the chaincode's terms JSON, checked field by field (``source`` names the file
    in messages)."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source}: expected a JSON object with the agreement terms")
    unknown = sorted(set(data) - _TERMS_KEYS)
    if unknown:
        raise InputError(f"{source}: unknown key {unknown[0]!r}; expected "
                         f"{', '.join(sorted(_TERMS_KEYS))}")

    def text(key: str, required: bool = True) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                raise InputError(f"{source}: {key} is missing")
            return ""
        if not isinstance(value, str):
            raise InputError(f"{source}: {key} must be a string, got {json.dumps(value)}")
        return value

    def leg(value: Any, where: str, allow_zero: bool) -> tuple[str, int, Fraction | None]:
        if not isinstance(value, Mapping):
            raise InputError(f"{source}: {where} must be an object with token and quantity")
        extra = sorted(set(value) - {"token", "quantity", "haircut"})
        if extra or (not allow_zero and "haircut" in value):
            raise InputError(f"{source}: {where}: unexpected key {(extra or ['haircut'])[0]!r}")
        token, quantity = value.get("token"), value.get("quantity")
        if not isinstance(token, str) or not token:
            raise InputError(f"{source}: {where}.token must be a token id")
        if not isinstance(quantity, str):
            raise InputError(f"{source}: {where}.quantity must be a string of digits such as "
                             f'"1000", got {json.dumps(quantity)}')
        q = parse_quantity(quantity, f"{where}.quantity", allow_zero=allow_zero)
        haircut = value.get("haircut")
        if haircut is None or haircut == "":
            return token, q, None
        if not isinstance(haircut, str):
            raise InputError(f"{source}: {where}.haircut must be a decimal string such as "
                             f'"0.05", got {json.dumps(haircut)}')
        return token, q, parse_rate(haircut, f"{where}.haircut")

    try:
        loan_token, loan_qty, _ = leg(data.get("loan"), "loan", allow_zero=False)
        raw_legs = data.get("collateral")
        if not isinstance(raw_legs, list) or not raw_legs:
            raise InputError(f"{source}: collateral must be a non-empty list of legs")
        legs = [leg(v, f"collateral[{i}]", allow_zero=True) for i, v in enumerate(raw_legs)]
        lag = data.get("settlementLagDays", 0)
        if type(lag) is not int or not 0 <= lag <= MAX_LAG_DAYS:
            raise InputError(f"{source}: settlementLagDays must be a whole number 0..30, got "
                             f"{json.dumps(lag)}")
        auto = data.get("autoIssue", False)
        if not isinstance(auto, bool):
            raise InputError(f"{source}: autoIssue must be true or false")
        notice = data.get("noticeDays", 0)
        if type(notice) is not int or not 0 <= notice <= MAX_NOTICE_DAYS:
            raise InputError(f"{source}: noticeDays must be a whole number 0..{MAX_NOTICE_DAYS}, "
                             f"got {json.dumps(notice)}")
        flags: dict[str, bool] = {}
        for key in ("substitutionPreAuthorised", "noEarlyReturn"):
            flags[key] = data.get(key, False)
            if not isinstance(flags[key], bool):
                raise InputError(f"{source}: {key} must be true or false")
        fee, cash, day_count = _economics_json(data, source)
        schedule = (schedule_from_json(data["schedule"], "schedule")
                    if data.get("schedule") is not None else None)
        schedule_id = text("scheduleId", required=False)
        if schedule is not None and schedule_id:
            raise InputError(f"{source}: give schedule or scheduleId, not both")
        extras = check_cdm_extras(data["cdmExtras"]) if "cdmExtras" in data else None
        mode = text("mode", required=False) or "single"
        if mode not in ("single", "multi"):
            raise InputError(f"{source}: mode must be single or multi, got {mode!r}")
        traded = parse_date(text("tradeDate"), "tradeDate")
        started = parse_date(text("startDate", required=False) or traded.isoformat(),
                             "startDate")
        end_text = text("endDate", required=False)
        ends = parse_date(end_text, "endDate") if end_text else None
        _check_dates(traded, started, ends)
        return Terms(
            id=text("id", required=False), reference=text("reference", required=False),
            lender=text("lender"), borrower=text("borrower"),
            loan_token=loan_token, loan_quantity=loan_qty,
            collateral=tuple(CollateralLeg(t, q, h) for t, q, h in legs),
            base_currency=parse_currency(text("baseCurrency"), "baseCurrency"),
            haircut=parse_rate(text("haircut"), "haircut"),
            threshold=parse_rate(text("threshold", required=False) or "0", "threshold"),
            mode=mode, settlement_lag_days=lag, auto_issue=auto,
            minimum_transfer_amount=parse_decimal(
                text("minimumTransferAmount", required=False) or "0", "minimumTransferAmount"),
            trade_date=traded, start_date=started, end_date=ends, notice_days=notice,
            substitution_pre_authorised=flags["substitutionPreAuthorised"],
            no_early_return=flags["noEarlyReturn"], fee=fee, rebate=cash, day_count=day_count,
            schedule=schedule, schedule_id=schedule_id, cdm_extras=extras,
        )
    except InputError as exc:
        message = str(exc)
        raise InputError(message if message.startswith(source) else f"{source}: {message}"
                         ) from None


def _economics_json(data: Mapping[str, Any], source: str
                    ) -> tuple[FeeTerms | None, RebateTerms | None, str]:
    """The fee, rebate and day count of terms JSON (``fee {bps, minimum?}``, ``rebate {fixed}``
    or ``{benchmark, spreadBps?}``, ``dayCount``), checked like the flags."""

    def section(key: str, allowed: set[str]) -> dict[str, str | None]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise InputError(f"{source}: {key} must be an object")
        extra = sorted(set(value) - allowed)
        if extra:
            raise InputError(f"{source}: {key}: unexpected key {extra[0]!r}; expected "
                             f"{', '.join(sorted(allowed))}")
        out: dict[str, str | None] = {}
        for k in allowed:
            v = value.get(k)
            if v is not None and not isinstance(v, str):
                raise InputError(f"{source}: {key}.{k} must be a string, got {json.dumps(v)}")
            out[k] = v or None
        return out

    fee = section("fee", {"bps", "minimum"})
    if data.get("fee") is not None and fee.get("bps") is None:
        raise InputError(f"{source}: fee.bps is missing")
    rebate = section("rebate", {"fixed", "benchmark", "spreadBps"})
    if data.get("rebate") is not None and not (rebate.get("fixed") or rebate.get("benchmark")):
        raise InputError(f"{source}: rebate needs fixed or benchmark")
    day_count = data.get("dayCount")
    if day_count is not None and not isinstance(day_count, str):
        raise InputError(f"{source}: dayCount must be a string such as \"ACT/360\"")
    return economics(fee_bps=fee.get("bps"), minimum_fee=fee.get("minimum"),
                     rebate=rebate.get("fixed"), rebate_benchmark=rebate.get("benchmark"),
                     rebate_spread_bps=rebate.get("spreadBps"), day_count=day_count or None)
