"""The JSON case format of ``vectors/`` (see ``vectors/README.md``): load, run, serialise.

The same format feeds the golden-vector tests of both engines and the Go ``margin-vectors``
command used by the differential test, so :func:`run_case` mirrors Go's ``margin.RunCase`` exactly,
including the order in which input problems are found:

1. shape: JSON types, unknown keys, integer literals (``invalid_input``); ``null`` means absent;
2. every integer must fit 64 bits (``overflow``);
3. tokens and terms, then starting positions (case-level error: no day runs);
4. each day in turn: its market, then the book's day (a failing day is reported and skipped,
   and the book carries on unchanged).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tanpo.margin.book import AgreementBook, DayResult, PendingTransfer
from tanpo.margin.call import CallResult, Transfer
from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import Market
from tanpo.margin.model import (
    Agreement,
    Cap,
    LoanLeg,
    Positions,
    Schedule,
    Terms,
    Token,
    make_agreement,
)
from tanpo.margin.rational import INT64_MAX, INT64_MIN

JSON = Any

_CASE_KEYS = {"name", "description", "tokens", "terms", "positions", "days", "expectError"}
_TOKEN_KEYS = {"id", "kind", "currency", "quote", "assetClass", "rating", "issuer"}
_TERMS_KEYS = {
    "base", "loan", "collateral", "haircut", "haircuts", "threshold", "mode", "lagDays",
    "autoIssue", "minTransfer", "schedule",
}
_SCHEDULE_KEYS = {"assetClasses", "currencies", "minRating", "haircuts", "caps"}
_CAP_KEYS = {"by", "key", "max"}
_LOAN_KEYS = {"token", "quantity"}
_POSITION_KEYS = {"held", "borrowerFree", "lenderFree"}
_DAY_KEYS = {"date", "prices", "fx", "expect", "expectError"}


def _bad(message: str) -> MarginError:
    return MarginError(ErrorKind.INVALID_INPUT, message)


def _obj(value: JSON, what: str, keys: set[str]) -> dict[str, JSON]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise _bad(f"{what}: unknown field {unknown[0]!r}")
    return value


def _str(value: JSON, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(f"{what} must be a string")
    return value


def _bool(value: JSON, what: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(f"{what} must be true or false")
    return value


def _int(value: JSON, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{what} must be an integer")
    return value


def _list(value: JSON, what: str) -> list[JSON]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(f"{what} must be a JSON array")
    return value


def _str_map(value: JSON, what: str) -> dict[str, str]:
    return {k: _str(v, f"{what}[{k}]") for k, v in _map(value, what).items()}


def _map(value: JSON, what: str) -> dict[str, JSON]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{what} must be a JSON object")
    return value


def _int_map(value: JSON, what: str) -> dict[str, int | None]:
    return {k: _int(v, f"{what}[{k}]") for k, v in _map(value, what).items()}


@dataclass(frozen=True, slots=True)
class DaySpec:
    date: str
    prices: dict[str, str]
    fx: dict[str, str]


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """A shape-checked case: types are right, numbers are still strings, ints still unchecked."""

    name: str
    tokens: list[Token]
    base: str
    loan_token: str
    loan_quantity: int | None
    collateral: list[str]
    haircut: str
    haircuts: dict[str, str]
    threshold: str
    min_transfer: str
    mode: str
    lag_days: int | None
    auto_issue: bool
    schedule: Schedule | None
    held: dict[str, int | None]
    borrower_free: dict[str, int | None]
    lender_free: dict[str, int | None]
    days: list[DaySpec]


def parse_setup(case: dict[str, JSON], days: list[DaySpec]) -> CaseSpec:
    """Shape of a case's ``name``, ``tokens``, ``terms`` and ``positions`` (``case`` is an object
    whose keys were already checked); integers are not range-checked yet."""
    name = _str(case.get("name"), "name")
    _str(case.get("description"), "description")
    tokens = []
    for i, raw in enumerate(_list(case.get("tokens"), "tokens")):
        t = _obj(raw, f"tokens[{i}]", _TOKEN_KEYS)
        tokens.append(
            Token(
                _str(t.get("id"), "token id"),
                _str(t.get("kind"), "token kind"),
                _str(t.get("currency"), "token currency"),
                _str(t.get("quote"), "token quote"),
                _str(t.get("assetClass"), "token assetClass"),
                _str(t.get("rating"), "token rating"),
                _str(t.get("issuer"), "token issuer"),
            )
        )
    terms = _obj(case.get("terms"), "terms", _TERMS_KEYS)
    loan = _obj(terms.get("loan"), "terms.loan", _LOAN_KEYS)
    schedule = _schedule(terms.get("schedule"))
    positions = _obj(case.get("positions"), "positions", _POSITION_KEYS)
    return CaseSpec(
        name=name,
        tokens=tokens,
        base=_str(terms.get("base"), "terms.base"),
        loan_token=_str(loan.get("token"), "terms.loan.token"),
        loan_quantity=_int(loan.get("quantity"), "terms.loan.quantity"),
        collateral=[_str(c, "terms.collateral[]") for c in _list(terms.get("collateral"),
                                                                "terms.collateral")],
        haircut=_str(terms.get("haircut"), "terms.haircut"),
        haircuts=_str_map(terms.get("haircuts"), "terms.haircuts"),
        threshold=_str(terms.get("threshold"), "terms.threshold"),
        min_transfer=_str(terms.get("minTransfer"), "terms.minTransfer"),
        mode=_str(terms.get("mode"), "terms.mode"),
        lag_days=_int(terms.get("lagDays"), "terms.lagDays"),
        auto_issue=_bool(terms.get("autoIssue"), "terms.autoIssue"),
        schedule=schedule,
        held=_int_map(positions.get("held"), "positions.held"),
        borrower_free=_int_map(positions.get("borrowerFree"), "positions.borrowerFree"),
        lender_free=_int_map(positions.get("lenderFree"), "positions.lenderFree"),
        days=days,
    )


def _schedule(value: JSON) -> Schedule | None:
    """Shape of ``terms.schedule`` (``null`` or absent: no schedule)."""
    if value is None:
        return None
    s = _obj(value, "terms.schedule", _SCHEDULE_KEYS)
    caps = []
    for i, raw in enumerate(_list(s.get("caps"), "terms.schedule.caps")):
        c = _obj(raw, f"terms.schedule.caps[{i}]", _CAP_KEYS)
        caps.append(Cap(_str(c.get("by"), "cap by"), _str(c.get("key"), "cap key"),
                        _str(c.get("max"), "cap max")))
    return Schedule(
        asset_classes=[_str(c, "terms.schedule.assetClasses[]")
                       for c in _list(s.get("assetClasses"), "terms.schedule.assetClasses")],
        currencies=[_str(c, "terms.schedule.currencies[]")
                    for c in _list(s.get("currencies"), "terms.schedule.currencies")],
        min_rating=_str(s.get("minRating"), "terms.schedule.minRating"),
        haircuts=_str_map(s.get("haircuts"), "terms.schedule.haircuts"),
        caps=caps,
    )


def setup_ints(spec: CaseSpec) -> list[tuple[str, int | None]]:
    """The integer fields of a case's setup, in the order both engines check them."""
    ints: list[tuple[str, int | None]] = [
        ("terms.loan.quantity", spec.loan_quantity),
        ("terms.lagDays", spec.lag_days),
    ]
    for what, mapping in (
        ("positions.held", spec.held),
        ("positions.borrowerFree", spec.borrower_free),
        ("positions.lenderFree", spec.lender_free),
    ):
        ints.extend((f"{what}[{k}]", v) for k, v in mapping.items())
    return ints


def check_int64_fields(ints: list[tuple[str, int | None]]) -> None:
    """Phase 2: every integer given must fit 64 bits (``overflow``)."""
    for what, value in ints:
        if value is not None and not INT64_MIN <= value <= INT64_MAX:
            raise MarginError(ErrorKind.OVERFLOW, f"{what}: {value} does not fit 64 bits")


def parse_case(obj: JSON) -> CaseSpec:
    """Phase 1 and 2: JSON shape, then 64-bit range of every integer."""
    case = _obj(obj, "case", _CASE_KEYS)
    days = []
    for i, raw in enumerate(_list(case.get("days"), "days")):
        d = _obj(raw, f"days[{i}]", _DAY_KEYS)
        days.append(
            DaySpec(
                _str(d.get("date"), "date"),
                _str_map(d.get("prices"), "prices"),
                _str_map(d.get("fx"), "fx"),
            )
        )
    spec = parse_setup(case, days)
    check_int64_fields(setup_ints(spec))
    return spec


def _quantities(mapping: dict[str, int | None], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in sorted(mapping):
        v = mapping[k]
        if v is None:
            raise _bad(f"{what}[{k}] must be an integer, not null")
        out[k] = v
    return out


def agreement_of(spec: CaseSpec) -> Agreement:
    """Phase 3a: the agreement of a parsed case (loan quantity present, then make_agreement)."""
    if spec.loan_quantity is None:
        raise _bad("terms.loan.quantity is missing")
    return make_agreement(
        spec.tokens,
        Terms(
            base=spec.base,
            loan=LoanLeg(spec.loan_token, spec.loan_quantity),
            collateral=spec.collateral,
            mode=spec.mode,
            haircut=spec.haircut,
            haircuts=spec.haircuts,
            threshold=spec.threshold,
            min_transfer=spec.min_transfer,
            lag_days=spec.lag_days or 0,
            auto_issue=spec.auto_issue,
            schedule=spec.schedule,
        ),
    )


def positions_of(spec: CaseSpec) -> Positions:
    """Phase 3b: the starting positions of a parsed case (no null quantity)."""
    return Positions(
        _quantities(spec.held, "positions.held"),
        _quantities(spec.borrower_free, "positions.borrowerFree"),
        _quantities(spec.lender_free, "positions.lenderFree"),
    )


def run_case(obj: JSON) -> dict[str, JSON]:
    """Run one case; returns ``{"name", "days": [...]}`` or ``{"name", "error": {...}}``.

    Never raises :class:`MarginError`: failures become ``{"kind", "message"}`` error objects.
    """
    name = obj.get("name") if isinstance(obj, dict) and isinstance(obj.get("name"), str) else ""
    try:
        spec = parse_case(obj)
        book = AgreementBook(agreement_of(spec), positions_of(spec))
    except MarginError as err:
        return {"name": name, "error": error_to_json(err)}
    days: list[JSON] = []
    for day in spec.days:
        try:
            market = Market.parse(day.date, day.prices, day.fx)
            days.append(day_result_to_json(book.apply_day(market)))
        except MarginError as err:
            days.append({"error": error_to_json(err)})
    return {"name": spec.name, "days": days}


def _no_duplicate_keys(pairs: list[tuple[str, JSON]]) -> dict[str, JSON]:
    out: dict[str, JSON] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def run_case_line(line: str) -> dict[str, JSON]:
    """:func:`run_case` on one JSON text, as the Go ``margin-vectors`` command reads it: text that
    is not a single JSON value, or repeats a key in an object, is an ``invalid_input`` case error
    (with an empty name)."""
    return run_line(line, run_case)


def run_line(line: str, run: Callable[[JSON], dict[str, JSON]]) -> dict[str, JSON]:
    """``run`` on the case in one JSON text; text that is not a single JSON value, or repeats a
    key in an object, is an ``invalid_input`` case error (with an empty name)."""
    try:
        obj = json.loads(line, object_pairs_hook=_no_duplicate_keys)
    except ValueError as err:
        return {"name": "", "error": {"kind": ErrorKind.INVALID_INPUT.value, "message": str(err)}}
    return run(obj)


def error_to_json(err: MarginError) -> dict[str, JSON]:
    return {"kind": err.kind.value, "message": err.message}


def transfer_to_json(t: Transfer | PendingTransfer) -> dict[str, JSON]:
    out: dict[str, JSON] = {
        "token": t.token,
        "quantity": t.quantity,
        "direction": t.direction.value,
        "value": str(t.value),
        "marketValue": str(t.market_value),
    }
    if isinstance(t, PendingTransfer):
        out["tradeDate"] = t.trade_date
        out["settleDate"] = t.settle_date
    return out


def call_result_to_json(r: CallResult) -> dict[str, JSON]:
    return {
        "date": r.date,
        "prices": {k: str(v) for k, v in sorted(r.prices.items())},
        "fx": {k: str(v) for k, v in sorted(r.fx.items())},
        "vl": str(r.vl),
        "vcBefore": str(r.vc_before),
        "gapBefore": str(r.gap_before),
        "triggered": r.triggered,
        "transfers": [transfer_to_json(t) for t in r.transfers],
        "issuanceRequired": [
            {"party": i.party.value, "value": str(i.value)} for i in r.issuance_required
        ],
        "mints": [
            {"party": m.party.value, "token": m.token, "quantity": m.quantity} for m in r.mints
        ],
        "skipped": [{"token": k.token, "reason": k.reason} for k in r.skipped],
        "breaches": [
            {"by": b.by, "key": b.key, "share": str(b.share), "max": str(b.max)}
            for b in r.breaches
        ],
        "vcAfter": str(r.vc_after),
        "gapAfter": str(r.gap_after),
    }


def positions_to_json(p: Positions) -> dict[str, JSON]:
    return {
        "held": dict(sorted(p.held.items())),
        "borrowerFree": dict(sorted(p.borrower_free.items())),
        "lenderFree": dict(sorted(p.lender_free.items())),
    }


def day_result_to_json(d: DayResult) -> dict[str, JSON]:
    out = call_result_to_json(d.call)
    out["settled"] = [transfer_to_json(t) for t in d.settled]
    out["pending"] = [transfer_to_json(t) for t in d.pending]
    out["positions"] = positions_to_json(d.positions)
    return out


#: Keys every ``expect`` object of a golden vector must give (the others are optional).
REQUIRED_EXPECT_KEYS = (
    "vl", "vcBefore", "gapBefore", "triggered", "transfers", "issuanceRequired", "mints",
    "vcAfter", "gapAfter",
)


#: ``format`` of the margin-call vector files (the life-cycle and accrual files have their own,
#: see :mod:`tanpo.margin.lifecycle_vectors` and :mod:`tanpo.margin.accrual_vectors`).
MARGIN_FORMAT = "tanpo-margin-vectors/1"
KNOWN_FORMATS = (MARGIN_FORMAT, "tanpo-lifecycle-vectors/1", "tanpo-accrual-vectors/1")


def iter_vector_cases(
    directory: Path, fmt: str = MARGIN_FORMAT
) -> Iterator[tuple[str, JSON]]:
    """``(file name, case object)`` for every case of every ``*.json`` file of format ``fmt``, in
    name order. A file of an unknown format is an error (a typo must not hide a file)."""
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") not in KNOWN_FORMATS:
            raise ValueError(f"{path.name}: unknown vector format {doc.get('format')!r}")
        if doc["format"] != fmt:
            continue
        for case in doc["cases"]:
            yield path.name, case


def check_expectations(case: Mapping[str, JSON], output: Mapping[str, JSON]) -> list[str]:
    """Differences between a vector case's expectations and :func:`run_case`'s output."""
    problems: list[str] = []
    want_error = case.get("expectError")
    if want_error is not None:
        got = output.get("error")
        if not isinstance(got, dict):
            return [f"expected case error {want_error}, got a result"]
        return _error_problems("case", want_error, got)
    if "error" in output:
        return [f"unexpected case error {output['error']}"]
    days_in, days_out = case.get("days", []), output["days"]
    for i, (day, got) in enumerate(zip(days_in, days_out, strict=True)):
        where = f"day {i} ({day.get('date')})"
        if day.get("expectError") is not None:
            if "error" not in got:
                problems.append(f"{where}: expected error {day['expectError']}, got a result")
            else:
                problems.extend(_error_problems(where, day["expectError"], got["error"]))
            continue
        if "error" in got:
            problems.append(f"{where}: unexpected error {got['error']}")
            continue
        expect = day.get("expect")
        if expect is None:
            problems.append(f"{where}: vector day has neither expect nor expectError")
            continue
        missing = [k for k in REQUIRED_EXPECT_KEYS if k not in expect]
        if missing:
            problems.append(f"{where}: vector lacks required expect keys {missing}")
        for key, value in expect.items():
            if key not in got:
                problems.append(f"{where}: unknown expect key {key!r}")
            elif got[key] != value:
                problems.append(f"{where}: {key}: expected {value!r}, got {got[key]!r}")
    return problems


def _error_problems(where: str, want: Mapping[str, JSON], got: Mapping[str, JSON]) -> list[str]:
    problems = []
    if got.get("kind") != want.get("kind"):
        problems.append(f"{where}: expected error kind {want.get('kind')}, got {got}")
    needle = want.get("messageContains")
    if needle is not None and needle not in str(got.get("message", "")):
        problems.append(f"{where}: error message {got.get('message')!r} lacks {needle!r}")
    return problems


def expected_result(
    case: Mapping[str, JSON], output: Mapping[str, JSON], required: Sequence[str]
) -> tuple[dict[str, JSON], dict[str, JSON], list[str], bool]:
    """What every vector format shares: an expected error against the output's error, or a result
    and an ``expect`` holding every required key. ``done`` says the problems are final; otherwise
    the caller compares ``expect`` with the result ``got`` further."""
    want_error = case.get("expectError")
    if want_error is not None:
        err = output.get("error")
        if not isinstance(err, dict):
            return {}, {}, [f"expected error {want_error}, got a result"], True
        return {}, {}, _error_problems("case", want_error, err), True
    if "error" in output:
        return {}, {}, [f"unexpected error {output['error']}"], True
    expect = case.get("expect")
    if not isinstance(expect, dict):
        return {}, {}, ["vector has neither expect nor expectError"], True
    problems = []
    missing = [k for k in required if k not in expect]
    if missing:
        problems.append(f"vector lacks required expect keys {missing}")
    return expect, output["result"], problems, False
