"""The JSON case format of ``vectors/lifecycle.json`` (see ``vectors/README.md``): run, serialise,
check.

A case is a margin-vector setup (``tokens``, ``terms``, ``positions``), one ``market`` and one
``action`` (``return``, ``substitute`` or ``buyIn``). :func:`run_lifecycle_case` mirrors Go's
``margin.RunLifecycleCase`` exactly, including the order in which problems are found:

1. shape: JSON types, unknown keys, integer literals, exactly one action (``invalid_input``);
   ``null`` means absent;
2. every integer must fit 64 bits (``overflow``);
3. tokens and terms; starting positions (no null quantity); the action's quantities (no null);
4. the market; then the step itself (positions against the agreement, prices, the step's checks).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tanpo.margin.errors import MarginError
from tanpo.margin.lifecycle import Move, StepResult, buy_in, return_loan, substitute
from tanpo.margin.market import Market
from tanpo.margin.vectors import (
    JSON,
    _bad,
    _int,
    _list,
    _obj,
    _str,
    _str_map,
    agreement_of,
    check_int64_fields,
    error_to_json,
    expected_result,
    parse_setup,
    positions_of,
    run_line,
    setup_ints,
    transfer_to_json,
)

LIFECYCLE_FORMAT = "tanpo-lifecycle-vectors/1"

_CASE_KEYS = {
    "name", "description", "tokens", "terms", "positions", "market", "action", "expect",
    "expectError",
}
_MARKET_KEYS = {"date", "prices", "fx"}
_ACTION_KEYS = {"return", "substitute", "buyIn"}
_QUANTITY_KEYS = {"quantity"}
_SUBSTITUTE_KEYS = {"out", "in"}
_MOVE_KEYS = {"token", "quantity"}

#: Keys every ``expect`` object of a life-cycle vector must give (``date``, ``prices`` and ``fx``
#: are optional).
REQUIRED_LIFECYCLE_EXPECT_KEYS = (
    "loanBefore", "loanAfter", "vl", "vcBefore", "vcAfter", "gapAfter", "transfers", "kept",
    "owed", "uncovered", "heldAfter",
)

ActionKind = Literal["return", "substitute", "buyIn"]


@dataclass(frozen=True, slots=True)
class _ActionSpec:
    kind: ActionKind
    quantity: int | None
    out: list[tuple[str, int | None]]
    in_: list[tuple[str, int | None]]

    def ints(self) -> list[tuple[str, int | None]]:
        if self.kind != "substitute":
            return [(f"action.{self.kind}.quantity", self.quantity)]
        return [
            *((f"action.substitute.out[{i}].quantity", q) for i, (_, q) in enumerate(self.out)),
            *((f"action.substitute.in[{i}].quantity", q) for i, (_, q) in enumerate(self.in_)),
        ]


def _moves(value: JSON, what: str) -> list[tuple[str, int | None]]:
    out = []
    for i, raw in enumerate(_list(value, what)):
        mv = _obj(raw, f"{what}[{i}]", _MOVE_KEYS)
        out.append((_str(mv.get("token"), f"{what}[{i}].token"),
                    _int(mv.get("quantity"), f"{what}[{i}].quantity")))
    return out


def _parse_action(value: JSON) -> _ActionSpec:
    action = _obj(value, "action", _ACTION_KEYS)
    given = [k for k in ("return", "substitute", "buyIn") if action.get(k) is not None]
    if len(given) != 1:
        raise _bad("action must give exactly one of return, substitute, buyIn")
    kind: ActionKind = "return" if given[0] == "return" else (
        "buyIn" if given[0] == "buyIn" else "substitute")
    if kind == "substitute":
        sub = _obj(action["substitute"], "action.substitute", _SUBSTITUTE_KEYS)
        return _ActionSpec(kind, None, _moves(sub.get("out"), "action.substitute.out"),
                           _moves(sub.get("in"), "action.substitute.in"))
    qty = _obj(action[kind], f"action.{kind}", _QUANTITY_KEYS)
    return _ActionSpec(kind, _int(qty.get("quantity"), f"action.{kind}.quantity"), [], [])


def _present(pairs: list[tuple[str, int | None]]) -> list[int]:
    out = []
    for what, value in pairs:
        if value is None:
            raise _bad(f"{what} must be an integer, not null")
        out.append(value)
    return out


def run_lifecycle_case(obj: JSON) -> dict[str, JSON]:
    """Run one life-cycle case; returns ``{"name", "result": {...}}`` or ``{"name", "error"}``.

    Never raises :class:`MarginError`: failures become ``{"kind", "message"}`` error objects.
    """
    name = obj.get("name") if isinstance(obj, dict) and isinstance(obj.get("name"), str) else ""
    try:
        case = _obj(obj, "case", _CASE_KEYS)
        spec = parse_setup(case, [])
        market_obj = _obj(case.get("market"), "market", _MARKET_KEYS)
        date = _str(market_obj.get("date"), "market.date")
        prices = _str_map(market_obj.get("prices"), "market.prices")
        fx = _str_map(market_obj.get("fx"), "market.fx")
        action = _parse_action(case.get("action"))
        check_int64_fields(setup_ints(spec) + action.ints())
        agreement = agreement_of(spec)
        positions = positions_of(spec)
        quantities = _present(action.ints())
        market = Market.parse(date, prices, fx)
        if action.kind == "return":
            result = return_loan(agreement, market, positions, quantities[0])
        elif action.kind == "buyIn":
            result = buy_in(agreement, market, positions, quantities[0])
        else:
            n = len(action.out)
            result = substitute(
                agreement, market, positions,
                [Move(t, q) for (t, _), q in zip(action.out, quantities[:n], strict=True)],
                [Move(t, q) for (t, _), q in zip(action.in_, quantities[n:], strict=True)],
            )
    except MarginError as err:
        return {"name": name, "error": error_to_json(err)}
    return {"name": spec.name, "result": step_result_to_json(result)}


def run_lifecycle_case_line(line: str) -> dict[str, JSON]:
    """:func:`run_lifecycle_case` on one JSON text: text that is not a single JSON value, or
    repeats a key in an object, is an ``invalid_input`` case error (with an empty name)."""
    return run_line(line, run_lifecycle_case)


def step_result_to_json(r: StepResult) -> dict[str, JSON]:
    return {
        "date": r.date,
        "prices": {k: str(v) for k, v in sorted(r.prices.items())},
        "fx": {k: str(v) for k, v in sorted(r.fx.items())},
        "loanBefore": r.loan_before,
        "loanAfter": r.loan_after,
        "vl": str(r.vl),
        "vcBefore": str(r.vc_before),
        "vcAfter": str(r.vc_after),
        "gapAfter": str(r.gap_after),
        "transfers": [transfer_to_json(t) for t in r.transfers],
        "kept": [transfer_to_json(t) for t in r.kept],
        "owed": str(r.owed),
        "uncovered": str(r.uncovered),
        "heldAfter": dict(sorted(r.held_after.items())),
    }


def check_lifecycle_expectations(
    case: Mapping[str, JSON], output: Mapping[str, JSON]
) -> list[str]:
    """Differences between a life-cycle vector's expectations and :func:`run_lifecycle_case`'s
    output."""
    expect, got, problems, done = expected_result(case, output, REQUIRED_LIFECYCLE_EXPECT_KEYS)
    if done:
        return problems
    for key, value in expect.items():
        if key not in got:
            problems.append(f"unknown expect key {key!r}")
        elif got[key] != value:
            problems.append(f"{key}: expected {value!r}, got {got[key]!r}")
    return problems
