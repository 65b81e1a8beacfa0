"""The JSON case format of ``vectors/accrual.json`` (see ``vectors/README.md``): run, serialise,
check.

A case is accrual ``terms`` and ``periods`` billed as one billing period.
:func:`run_accrual_case` mirrors Go's ``margin.RunAccrualCase`` exactly, including the order in
which problems are found:

1. shape: JSON types, unknown keys, repeated keys, at least one period (``invalid_input``);
   ``null`` means absent;
2. the terms (:func:`~tanpo.margin.accrual.new_accrual_terms`'s order);
3. each period in list order (:meth:`~tanpo.margin.accrual.Accruer.accrue`'s order); the first
   failure is the case's error;
4. the bill.
"""

from __future__ import annotations

from collections.abc import Mapping

from tanpo.margin.accrual import Accrual, AccrualTerms, Bill, Period, new_accrual_terms
from tanpo.margin.errors import MarginError
from tanpo.margin.vectors import (
    JSON,
    _bad,
    _list,
    _obj,
    _str,
    error_to_json,
    expected_result,
    run_line,
)

ACCRUAL_FORMAT = "tanpo-accrual-vectors/1"

_CASE_KEYS = {"name", "description", "terms", "periods", "expect", "expectError"}
_TERMS_KEYS = {"currency", "dayCount", "feeBps", "rebate", "minimumFee"}
_REBATE_KEYS = {"fixed", "benchmark", "spreadBps"}
_PERIOD_KEYS = {"from", "to", "loanValue", "cashValue", "fixing"}

#: Keys every ``expect`` object of an accrual vector must give.
REQUIRED_ACCRUAL_EXPECT_KEYS = (
    "accruals", "feeAccrued", "feeCharged", "minimumTopUp", "rebate", "net", "netUnits",
)
#: Keys every expected accrual must give (``from`` and ``to`` are optional).
REQUIRED_ACCRUAL_KEYS = ("days", "feeRate", "rebateRate", "fee", "rebate")


def _parse(obj: JSON) -> tuple[str, AccrualTerms, list[Period]]:
    case = _obj(obj, "case", _CASE_KEYS)
    name = _str(case.get("name"), "name")
    _str(case.get("description"), "description")
    terms = _obj(case.get("terms"), "terms", _TERMS_KEYS)
    rebate = _obj(terms.get("rebate"), "terms.rebate", _REBATE_KEYS)
    accrual_terms = AccrualTerms(
        currency=_str(terms.get("currency"), "terms.currency"),
        day_count=_str(terms.get("dayCount"), "terms.dayCount"),
        fee_bps=_str(terms.get("feeBps"), "terms.feeBps"),
        rebate_fixed=_str(rebate.get("fixed"), "terms.rebate.fixed"),
        rebate_benchmark=_str(rebate.get("benchmark"), "terms.rebate.benchmark"),
        rebate_spread_bps=_str(rebate.get("spreadBps"), "terms.rebate.spreadBps"),
        minimum_fee=_str(terms.get("minimumFee"), "terms.minimumFee"),
    )
    periods = []
    for i, raw in enumerate(_list(case.get("periods"), "periods")):
        p = _obj(raw, f"periods[{i}]", _PERIOD_KEYS)
        periods.append(Period(
            from_=_str(p.get("from"), f"periods[{i}].from"),
            to=_str(p.get("to"), f"periods[{i}].to"),
            loan_value=_str(p.get("loanValue"), f"periods[{i}].loanValue"),
            cash_value=_str(p.get("cashValue"), f"periods[{i}].cashValue"),
            fixing=_str(p.get("fixing"), f"periods[{i}].fixing"),
        ))
    if not periods:
        raise _bad("periods must list at least one period")
    return name, accrual_terms, periods


def run_accrual_case(obj: JSON) -> dict[str, JSON]:
    """Run one accrual case; returns ``{"name", "result": {...}}`` or ``{"name", "error"}``.

    Never raises :class:`MarginError`: failures become ``{"kind", "message"}`` error objects.
    """
    name = obj.get("name") if isinstance(obj, dict) and isinstance(obj.get("name"), str) else ""
    try:
        name, terms, periods = _parse(obj)
        accruer = new_accrual_terms(terms)
        accruals = [accruer.accrue(p) for p in periods]
    except MarginError as err:
        return {"name": name, "error": error_to_json(err)}
    return {"name": name, "result": accrual_result_to_json(accruals, accruer.bill(accruals))}


def run_accrual_case_line(line: str) -> dict[str, JSON]:
    """:func:`run_accrual_case` on one JSON text: text that is not a single JSON value, or repeats
    a key in an object, is an ``invalid_input`` case error (with an empty name)."""
    return run_line(line, run_accrual_case)


def accrual_to_json(a: Accrual) -> dict[str, JSON]:
    return {
        "from": a.from_,
        "to": a.to,
        "days": a.days,
        "feeRate": str(a.fee_rate),
        "rebateRate": str(a.rebate_rate),
        "fee": str(a.fee),
        "rebate": str(a.rebate),
    }


def accrual_result_to_json(accruals: list[Accrual], bill: Bill) -> dict[str, JSON]:
    return {
        "accruals": [accrual_to_json(a) for a in accruals],
        "feeAccrued": str(bill.fee_accrued),
        "feeCharged": str(bill.fee_charged),
        "minimumTopUp": str(bill.minimum_top_up),
        "rebate": str(bill.rebate),
        "net": str(bill.net),
        "netUnits": str(bill.net_units),
    }


def check_accrual_expectations(case: Mapping[str, JSON], output: Mapping[str, JSON]) -> list[str]:
    """Differences between an accrual vector's expectations and :func:`run_accrual_case`'s
    output."""
    expect, got, problems, done = expected_result(case, output, REQUIRED_ACCRUAL_EXPECT_KEYS)
    if done:
        return problems
    for key, value in expect.items():
        if key not in got:
            problems.append(f"unknown expect key {key!r}")
        elif key == "accruals":
            problems.extend(_accrual_problems(value, got[key]))
        elif got[key] != value:
            problems.append(f"{key}: expected {value!r}, got {got[key]!r}")
    return problems


def _accrual_problems(want: JSON, got: list[dict[str, JSON]]) -> list[str]:
    if not isinstance(want, list) or len(want) != len(got):
        return [f"accruals: expected {want!r}, got {got!r}"]
    problems = []
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        if not isinstance(w, dict):
            problems.append(f"accruals[{i}]: expected an object, got {w!r}")
            continue
        missing = [k for k in REQUIRED_ACCRUAL_KEYS if k not in w]
        if missing:
            problems.append(f"accruals[{i}]: vector lacks required keys {missing}")
        for key, value in w.items():
            if key not in g:
                problems.append(f"accruals[{i}]: unknown key {key!r}")
            elif g[key] != value:
                problems.append(f"accruals[{i}].{key}: expected {value!r}, got {g[key]!r}")
    return problems
