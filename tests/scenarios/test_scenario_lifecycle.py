"""Life-cycle events in scenario files: the loader's checks, the off-chain runs and the reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanpo.client.cli_main import main
from tanpo.scenarios.engine_ledger import EngineLedger
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import StepRecord
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.model import LifecycleEvent, Scenario
from tanpo.scenarios.prices import PriceBook
from tanpo.scenarios.runner import RunResult, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CRASH = SCENARIOS / "crash-lifecycle.yaml"

# A small agreement with inline prices: 1,000 STOCK lent against cash, BOND eligible too.
_PRICES = "".join(
    f'  {date(2024, 1, 2) + timedelta(days=i)}: {{STOCK: "50", BOND: "100"}}\n' for i in range(9)
)
BASE = f"""\
base_currency: USD
tokens:
  - {{id: STOCK, kind: ST, currency: USD}}
  - {{id: BOND, kind: ST, currency: USD}}
  - {{id: USD, kind: CT, currency: USD}}
prices:
{_PRICES}balances:
  bank-b: {{BOND: 1000, USD: 100000}}
agreements:
  - id: A1
    lender: bank-a
    borrower: bank-b
    loan: {{STOCK: 1000}}
    collateral: {{USD: 60000}}
    priority: [USD, BOND]
    haircut: "0.1"
    mode: multi
    start: 2024-01-02
    end: 2024-01-10
events:
"""
EVENTS_LINE = BASE.count("\n") + 1  # the first event's line


def _with(*events: str) -> str:
    return BASE + "".join(f"  - {e}\n" for e in events)


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, Path("bad.yaml"))
    return err.value


# -- loader ---------------------------------------------------------------------------------------


def test_a_good_file_round_trips() -> None:
    s = parse_scenario(
        _with(
            "{date: 2024-01-03, agreement: A1, recall: {quantity: 400, due: 2024-01-05}}",
            "{date: 2024-01-03, agreement: A1, recall: {quantity: 100}}",
            "{date: 2024-01-05, agreement: A1, return: {quantity: 400}}",
            "{date: 2024-01-08, agreement: A1, substitute: {out: {USD: 20000}, in: {BOND: 250}}}",
        )
    )
    assert s.events == (
        LifecycleEvent(date(2024, 1, 3), "A1", "recall", 400, date(2024, 1, 5)),
        LifecycleEvent(date(2024, 1, 3), "A1", "recall", 100, None),
        LifecycleEvent(date(2024, 1, 5), "A1", "return", 400),
        LifecycleEvent(
            date(2024, 1, 8), "A1", "substitute", out=(("USD", 20000),), in_=(("BOND", 250),)
        ),
    )
    assert parse_scenario(BASE.replace("events:\n", "")).events == ()


@pytest.mark.parametrize(
    ("event", "offset", "key", "fragment"),
    [
        (
            "{date: 2024-01-03, agreement: A2, recall: {quantity: 1}}",
            0,
            "events[0].agreement",
            "unknown agreement 'A2'; agreements: A1",
        ),
        (
            "{date: 2024-01-02, agreement: A1, recall: {quantity: 1}}",
            0,
            "events[0].date",
            "2024-01-02 is not strictly between the start 2024-01-02 and the end 2024-01-10 "
            "of agreement 'A1'",
        ),
        (
            "{date: 2024-01-10, agreement: A1, return: {quantity: 1}}",
            0,
            "events[0].date",
            "2024-01-10 is not strictly between the start",
        ),
        (
            "{date: 2024-02-01, agreement: A1, return: {quantity: 1}}",
            0,
            "events[0].date",
            "2024-02-01 is not strictly between the start",
        ),
        (
            "{date: 2024-01-03, agreement: A1, substitute: {out: {STOCK: 1}, in: {BOND: 1}}}",
            0,
            "events[0].substitute.out.STOCK",
            "'STOCK' is not a collateral token of agreement 'A1' (USD, BOND)",
        ),
        (
            "{date: 2024-01-03, agreement: A1, substitute: {out: {USD: 1}, in: {GOLD: 1}}}",
            0,
            "events[0].substitute.in.GOLD",
            "'GOLD' is not a collateral token of agreement 'A1'",
        ),
        (
            "{date: 2024-01-03, agreement: A1, recall: {quantity: 0}}",
            0,
            "events[0].recall.quantity",
            "a positive whole quantity of the loan token",
        ),
        (
            "{date: 2024-01-03, agreement: A1, return: {quantity: -5}}",
            0,
            "events[0].return.quantity",
            "a positive whole quantity of the loan token",
        ),
        (
            "{date: 2024-01-03, agreement: A1, substitute: {out: {USD: 1}, in: {BOND: 0}}}",
            0,
            "events[0].substitute.in.BOND",
            "a positive whole quantity",
        ),
        (
            "{date: 2024-01-03, agreement: A1, substitute: {out: {USD: -1}, in: {BOND: 1}}}",
            0,
            "events[0].substitute.out.USD",
            "a positive whole quantity",
        ),
        (
            "{date: 2024-01-03, agreement: A1, recall: {quantity: 1}, return: {quantity: 1}}",
            0,
            "events[0]",
            "exactly one of recall, return or substitute",
        ),
        (
            "{date: 2024-01-03, agreement: A1}",
            0,
            "events[0]",
            "exactly one of recall, return or substitute",
        ),
        (
            "{date: 2024-01-05, agreement: A1, recall: {quantity: 1, due: 2024-01-04}}",
            0,
            "events[0].recall.due",
            "the due date 2024-01-04 is before the recall's date 2024-01-05",
        ),
        (
            "{date: 2024-01-03, agreement: A1, substitute: {out: {USD: 1, BOND: 1}, "
            "in: {BOND: 2}}}",
            0,
            "events[0].substitute",
            "token 'BOND' is both taken out and delivered",
        ),
    ],
)
def test_event_refusals_name_line_and_key(event: str, offset: int, key: str, fragment: str) -> None:
    err = _error(_with(event))
    line = EVENTS_LINE + offset
    assert (err.line, err.key) == (line, key), str(err)
    assert str(err).startswith(f"bad.yaml:{line}: {key}: ")
    assert fragment in str(err)


def test_events_out_of_date_order_are_refused() -> None:
    err = _error(
        _with(
            "{date: 2024-01-05, agreement: A1, recall: {quantity: 1}}",
            "{date: 2024-01-04, agreement: A1, return: {quantity: 1}}",
        )
    )
    assert (err.line, err.key) == (EVENTS_LINE + 1, "events[1]"), str(err)
    assert "events are in date order; 2024-01-04 comes after 2024-01-05" in str(err)


def test_substitute_needs_out_and_in() -> None:
    err = _error(_with("{date: 2024-01-03, agreement: A1, substitute: {out: {USD: 1}}}"))
    assert (err.line, err.key) == (EVENTS_LINE, "events[0].substitute"), str(err)
    assert "missing required key 'in'" in str(err)


# -- the shipped crash scenario, off-chain -------------------------------------------------------


@pytest.fixture(scope="module")
def crash() -> tuple[Scenario, RunResult, EngineLedger, PriceBook]:
    spec = load_scenario(CRASH)
    ledger = EngineLedger()
    book = PriceBook(spec)
    return spec, run_scenario(spec, ledger, book), ledger, book


def _units(spec: Scenario, book: PriceBook, day: date) -> dict[str, Fraction]:
    """Value in JPY of one unit of every token on ``day`` (all tokens are JPY-denominated)."""
    prices = book.on(day).prices
    return {
        t.id: Fraction(1) if t.kind == "CT" else Fraction(prices[t.id]) * t.quote_factor
        for t in spec.tokens
    }


def _sub(held: Mapping[str, int], moves: tuple[tuple[str, int], ...], sign: int) -> dict[str, int]:
    out = dict(held)
    for token, qty in moves:
        out[token] = out.get(token, 0) + sign * qty
    return out


def test_crash_steps_in_order(crash: tuple[Scenario, RunResult, EngineLedger, PriceBook]) -> None:
    spec, result, _, _ = crash
    assert [(s.date, s.action) for s in result.steps] == [
        (date(2008, 10, 14), "recall"),
        (date(2008, 10, 16), "return"),
        (date(2008, 10, 22), "substitute"),
        (date(2008, 10, 24), "substitute"),
        (date(2008, 11, 5), "return"),
        (date(2008, 11, 12), "recall"),
        (date(2008, 11, 14), "return"),
    ]
    assert [(s.date, s.action) for s in result.steps] == [(e.date, e.action) for e in spec.events]
    assert all(s.agreement == "sl-mufg" and not s.closed for s in result.steps)


def test_crash_steps_move_exactly_what_they_should(
    crash: tuple[Scenario, RunResult, EngineLedger, PriceBook],
) -> None:
    """Replay the held collateral independently (opening, call transfers, step movements) and
    check every step against it and against the day's market prices."""
    spec, result, _, book = crash
    agreement = spec.agreement("sl-mufg")
    terms = result.terms("sl-mufg")
    (opened,) = result.opens
    haircut = {t: agreement.haircut_of(t) for t in agreement.priority}
    held = {t: 0 for t in agreement.priority} | dict(opened.terms.collateral)
    loan = terms.loan_quantity
    steps = {s.date: s for s in result.steps}
    events = {e.date: e for e in spec.events}
    calls = {c.date: c for c in result.calls}
    day = opened.date
    checked_returns = 0
    while day <= agreement.end:
        step: StepRecord | None = steps.get(day)
        if step is not None:
            event = events[day]
            units = _units(spec, book, day)
            hu = {t: units[t] * (1 - haircut[t]) for t in agreement.priority}
            before = dict(held)
            if step.action == "recall":
                assert step.movements == ()
                assert step.loan_quantity == loan
                assert dict(step.held) == before
            elif step.action == "substitute":
                assert step.loan_quantity == loan
                assert step.movements == (
                    *((t, q, "lender->borrower") for t, q in event.out),
                    *((t, q, "borrower->lender") for t, q in event.in_),
                )
                assert dict(step.held) == _sub(_sub(before, event.out, -1), event.in_, +1)
            else:
                assert step.loan_quantity == loan - event.quantity
                loan = step.loan_quantity
                released = [t for t, _, d in step.movements]
                assert step.movements and all(
                    d == "lender->borrower" for _, _, d in step.movements
                )
                # only held tokens, in reverse priority order, each at most what was held
                order = list(reversed(agreement.priority))
                assert released == sorted(released, key=order.index)
                for token, qty, _ in step.movements:
                    assert 0 < qty <= before[token]
                # tokens ahead of the last one released went back in full
                last = released[-1]
                for token in order[: order.index(last)]:
                    assert step.held[token] == 0
                assert dict(step.held) == _sub(before, tuple((t, q) for t, q, _ in step.movements),
                                               -1)
                v_l = loan * units[terms.loan_token]
                v_c = sum(q * hu[t] for t, q in step.held.items())
                assert v_c >= v_l
                assert v_c - v_l < hu[last]  # the release rounds down
                checked_returns += 1
            v_l = step.loan_quantity * units[terms.loan_token]
            assert step.v_l == v_l
            assert step.v_c == sum(q * hu[t] for t, q in step.held.items())
            held = dict(step.held)
        call = calls.get(day)
        if call is not None:
            for t in call.transfers:
                assert t.settle_date == day
                held[t.token] += t.quantity if t.sender == terms.borrower else -t.quantity
        day += timedelta(days=1)
    assert checked_returns == 3
    # the closing exchange returns what is held
    (close,) = result.closes
    assert close.date == date(2008, 12, 1)
    assert dict(close.returned) == held


def test_crash_conserves_tokens_and_counts_calls(
    crash: tuple[Scenario, RunResult, EngineLedger, PriceBook],
) -> None:
    spec, result, ledger, _ = crash
    issued: dict[str, int] = {}
    for holding in spec.balances.values():
        for token, qty in holding.items():
            issued[token] = issued.get(token, 0) + qty
    for o in result.opens:
        issued[o.terms.loan_token] = issued.get(o.terms.loan_token, 0) + o.terms.loan_quantity
        for token, qty in o.terms.collateral:
            issued[token] = issued.get(token, 0) + qty
    for c in result.calls:
        for i in c.issuances:
            issued[i.token] += i.quantity
    for token in (t.id for t in spec.tokens):
        total = sum(h.get(token, 0) for h in ledger.balances.values())
        assert total == issued.get(token, 0), token
    # after the close everything is back with its owner
    assert ledger.balance("bank-a", "JP8306") == 2_000_000
    assert ledger.balance("bank-b", "JP8306") == 0
    for token in ("JPY", "JP4901", "JP8031"):
        assert ledger.balance("bank-a", token) == 0
    # weekdays strictly between 2008-10-01 and 2008-12-01: 22 in October, 20 in November
    m = result.metrics["sl-mufg"]
    assert m.checked_days == 42
    assert m.margin_calls == len([c for c in result.calls if c.triggered])
    assert m.margin_calls > 0
    assert m.risk_max >= m.risk_mean >= 0
    assert result.total.checked_days == 42


# -- runner edge cases ----------------------------------------------------------------------------


def _run(*events: str, extra: str = "") -> tuple[RunResult, EngineLedger]:
    ledger = EngineLedger()
    text = _with(*events).replace("bank-b: {BOND: 1000", "bank-b: {" + extra + "BOND: 1000")
    return run_scenario(parse_scenario(text), ledger), ledger


def test_a_full_return_closes_the_agreement() -> None:
    result, ledger = _run("{date: 2024-01-05, agreement: A1, return: {quantity: 1000}}")
    (step,) = result.steps
    assert step.closed and step.loan_quantity == 0
    # everything held goes back: the opening 60,000 less what the calls released
    released = sum(t.quantity for c in result.calls for t in c.transfers)
    assert step.movements == (("USD", 60000 - released, "lender->borrower"),)
    assert dict(step.held) == {"USD": 0, "BOND": 0}
    assert step.v_l == 0
    assert [c.date for c in result.calls] == [date(2024, 1, 3), date(2024, 1, 4)]
    assert result.closes == ()
    assert ledger.balance("bank-a", "STOCK") == 1000
    assert ledger.balance("bank-b", "USD") == 160000
    assert ledger.balance("bank-a", "USD") == 0
    with pytest.raises(ScenarioError, match="returned in full already"):
        _run(
            "{date: 2024-01-05, agreement: A1, return: {quantity: 1000}}",
            "{date: 2024-01-08, agreement: A1, recall: {quantity: 1}}",
        )


def test_a_substitution_that_leaves_the_agreement_short_is_refused() -> None:
    with pytest.raises(ScenarioError, match="shortfall") as err:
        _run("{date: 2024-01-03, agreement: A1, substitute: {out: {USD: 60000}, in: {BOND: 1}}}")
    assert "substitute of 'A1' on 2024-01-03" in str(err.value)
    assert "would leave the agreement short" in str(err.value)


def test_a_return_above_the_loan_is_refused() -> None:
    # the borrower holds only the 1,000 lent
    with pytest.raises(ScenarioError, match="return of 'A1' on 2024-01-04: bank-b holds 1000"):
        _run("{date: 2024-01-04, agreement: A1, return: {quantity: 1001}}")
    # with more in hand, the loan is the limit
    with pytest.raises(ScenarioError, match="expected 1 to the loan's 1000"):
        _run("{date: 2024-01-04, agreement: A1, return: {quantity: 1001}}", extra="STOCK: 500, ")
    with pytest.raises(ScenarioError, match="expected 1 to the loan's 600"):
        _run(
            "{date: 2024-01-04, agreement: A1, return: {quantity: 400}}",
            "{date: 2024-01-05, agreement: A1, return: {quantity: 601}}",
            extra="STOCK: 500, ",
        )


def test_recalls_outstanding_cannot_exceed_the_loan() -> None:
    with pytest.raises(ScenarioError, match="so at most 1000"):
        _run("{date: 2024-01-04, agreement: A1, recall: {quantity: 1001}}")
    with pytest.raises(ScenarioError, match="400 are already recalled, so at most 600"):
        _run(
            "{date: 2024-01-03, agreement: A1, recall: {quantity: 400}}",
            "{date: 2024-01-04, agreement: A1, recall: {quantity: 601}}",
        )
    # a return counts against the recall: the loan is 600, nothing outstanding
    result, _ = _run(
        "{date: 2024-01-03, agreement: A1, recall: {quantity: 400}}",
        "{date: 2024-01-04, agreement: A1, return: {quantity: 400}}",
        "{date: 2024-01-05, agreement: A1, recall: {quantity: 600}}",
    )
    assert [s.loan_quantity for s in result.steps] == [1000, 600, 600]


# -- reports --------------------------------------------------------------------------------------


def test_run_json_lists_the_steps() -> None:
    result = CliRunner().invoke(main, ["scenario", "run", str(CRASH), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) >= {"scenario", "backend", "agreements", "calls", "closes", "metrics", "steps"}
    steps = doc["steps"]
    assert [s["action"] for s in steps] == [
        "recall", "return", "substitute", "substitute", "return", "recall", "return",
    ]
    first_return = steps[1]
    assert first_return == {
        "date": "2008-10-16",
        "agreement": "sl-mufg",
        "action": "return",
        "loan_quantity": 1_500_000,
        "held": {"JPY": 1_170_000_000, "JP4901": 0, "JP8031": 0},
        "movements": [{"token": "JPY", "quantity": 558_421_053, "direction": "lender->borrower"}],
        "v_l": "1111500000",
        "v_c": "1111500000",
        "closed": False,
        # the return accrues the day since the 2008-10-15 call at that call's values
        "accruals": [{
            "from": "2008-10-15", "to": "2008-10-16", "days": 1, "loan_value": "1642000000",
            "cash_value": "1728421053", "fee_rate": "1/250", "rebate_rate": "1/1000",
            "fee": "1313600/73", "rebate": "1728421053/365000",
        }],
    }
    assert "accruals" not in steps[0]  # a recall accrues nothing
    assert steps[0]["v_c"] == "16200000001/10"  # exact, not rounded


def test_run_json_of_a_scenario_without_events_has_no_steps() -> None:
    result = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["steps"] == []


def test_run_prints_the_steps_table() -> None:
    result = CliRunner().invoke(main, ["scenario", "run", str(CRASH)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Life-cycle steps" in out
    assert out.index("Margin calls of sl-mufg") < out.index("Life-cycle steps")
    assert out.index("Life-cycle steps") < out.index("sl-mufg closed 2008-12-01")
    assert "558,421,053 JPY lender→borrower" in out
    assert "1,111,500,000" in out
    plain = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml")]
    )
    assert plain.exit_code == 0, plain.output
    assert "Life-cycle steps" not in plain.output
