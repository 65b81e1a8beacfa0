"""Lending fees, cash rebates and monthly invoices in scenario runs: the loader's checks, the
off-chain accrual (the chaincode's rule), invoices and the reports."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanpo.client.cli_main import main
from tanpo.client.models import InvoiceLine
from tanpo.scenarios.accrual import invoice_record, month_ended, next_month
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.ledger import AccrualLine, CallRecord, InvoiceRecord, StepRecord
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.model import Economics
from tanpo.scenarios.prices import PriceBook
from tanpo.scenarios.report import economics, run_json
from tanpo.scenarios.runner import RunResult, run_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CRASH = SCENARIOS / "crash-lifecycle.yaml"

_DAYS = [date(2024, 11, 25) + timedelta(days=i) for i in range(12)]
_PRICES = "".join(f'  {d}: {{STOCK: "50", BOND: "100"}}\n' for d in _DAYS)


def _scenario(economics: str = "", extra: str = "", second: str = "") -> str:
    """1,000 STOCK (50 USD) lent against auto-sized cash (haircut 10%: 55,556 USD, so the calls
    move nothing), margined on weekdays from 2024-11-27 to 2024-12-04: calls on Nov 28 and 29
    and Dec 2 and 3, the close on Dec 4. ``economics`` is indented under the agreement."""
    return f"""\
base_currency: USD
checks: weekdays
tokens:
  - {{id: STOCK, kind: ST, currency: USD}}
  - {{id: BOND, kind: ST, currency: USD}}
  - {{id: USD, kind: CT, currency: USD}}
prices:
{_PRICES}{extra}agreements:
  - id: A1
    lender: bank-a
    borrower: bank-b
    loan: {{STOCK: 1000}}
    collateral: {{USD: auto}}
    haircut: "0.1"
    start: 2024-11-27
    end: 2024-12-04
{economics}{second}"""


FEE = '    fee: {bps: "40"}\n'
AGREEMENTS_LINE = _scenario().splitlines().index("agreements:") + 1


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, Path("bad.yaml"))
    return err.value


def _run(text: str, data: Path | None = None) -> RunResult:
    spec = parse_scenario(text, data / "s.yaml" if data else None)
    return run_scenario(spec)


# -- loader ---------------------------------------------------------------------------------------


def test_the_loader_reads_fee_rebate_and_day_count() -> None:
    s = parse_scenario(_scenario(
        '    fee: {bps: "40", minimum: "500"}\n'
        '    rebate: {benchmark: SOFR, spread_bps: "-5"}\n'
        "    day_count: ACT/365F\n",
        extra='rates:\n  2024-11-25: {SOFR: "-0.25"}\n',
    ))
    assert s.agreements[0].economics == Economics(
        fee_bps=Fraction(40), minimum_fee=Fraction(500), rebate_benchmark="SOFR",
        rebate_spread_bps=Fraction(-5), day_count="ACT/365F",
    )
    assert s.rates == {date(2024, 11, 25): {"SOFR": Fraction(-1, 4)}}
    assert s.benchmarks == ("SOFR",)
    plain = parse_scenario(_scenario())
    assert plain.agreements[0].economics is None
    assert plain.benchmarks == ()


A1_LINE = AGREEMENTS_LINE + 1  # "- id: A1"
ECON_LINE = AGREEMENTS_LINE + 9  # the first economics line


@pytest.mark.parametrize(
    ("economics", "line", "key", "fragment"),
    [
        ('    fee: {minimum: "500"}\n', ECON_LINE, "agreements[0].fee",
         "missing required key 'bps'"),
        ('    fee: {bps: "-1"}\n', ECON_LINE, "agreements[0].fee.bps",
         'expected a fee in basis points per annum of "0" or more'),
        ('    fee: {bps: "40", minimum: "-1"}\n', ECON_LINE, "agreements[0].fee.minimum",
         "a minimum fee per monthly invoice"),
        ('    fee: {bps: "40", cap: "1"}\n', ECON_LINE, "agreements[0].fee.cap",
         "unknown key 'cap'"),
        ('    rebate: {fixed: "0.1", benchmark: SOFR}\n', ECON_LINE, "agreements[0].rebate",
         "either fixed or a benchmark plus a spread, not both"),
        ('    rebate: {fixed: "0.1", spread_bps: "5"}\n', ECON_LINE,
         "agreements[0].rebate.spread_bps", "a rebate spread needs a rebate benchmark"),
        ('    rebate: {spread_bps: "5"}\n', ECON_LINE, "agreements[0].rebate",
         "expected a rebate {fixed: ...} or {benchmark: ..., spread_bps: ...}"),
        ("    rebate: {benchmark: sofr}\n", ECON_LINE, "agreements[0].rebate.benchmark",
         "a benchmark name of 1-16 characters"),
        ("    rebate: {fixed: lots}\n", ECON_LINE, "agreements[0].rebate.fixed",
         "a rebate rate in percent per annum"),
        ('    fee: {bps: "40"}\n    day_count: 30/360\n', ECON_LINE + 1,
         "agreements[0].day_count", "expected one of 'ACT/365F', 'ACT/360'"),
        ("    day_count: ACT/360\n", ECON_LINE, "agreements[0].day_count",
         "the agreement has no fee or rebate to accrue"),
        ('    fee: {bps: "40"}\n    base_currency: CHF\n', A1_LINE, "agreements[0]",
         "no day-count convention is known for CHF"),
    ],
)
def test_economics_refusals_name_line_and_key(
    economics: str, line: int, key: str, fragment: str
) -> None:
    text = _scenario(economics)
    if "CHF" in economics:
        text = _with_chf(text)
        line += 1  # the extra token line
    err = _error(text)
    assert (err.line, err.key) == (line, key), str(err)
    assert fragment in str(err)


def _with_chf(text: str) -> str:
    """The scenario with a CHF cash token and a USDCHF rate (a currency without a known day
    count)."""
    text = text.replace("  - {id: USD, kind: CT, currency: USD}",
                        "  - {id: USD, kind: CT, currency: USD}\n"
                        "  - {id: CHF, kind: CT, currency: CHF}")
    return text.replace(f"  {_DAYS[0]}: {{", f'  {_DAYS[0]}: {{USDCHF: "0.9", ')


def test_a_known_day_count_makes_any_base_currency_accrue() -> None:
    text = _with_chf(
        _scenario('    fee: {bps: "40"}\n    base_currency: CHF\n    day_count: ACT/360\n'))
    spec = parse_scenario(text)
    assert spec.agreements[0].economics is not None
    assert spec.agreements[0].economics.day_count == "ACT/360"


def test_rates_must_name_a_rebate_benchmark() -> None:
    text = _scenario('    rebate: {benchmark: SOFR}\n',
                     extra='rates:\n  2024-11-25: {SOFR: "4.5", SOFT: "4.5"}\n')
    err = _error(text)
    rates_line = text.splitlines().index("rates:") + 2
    assert (err.line, err.key) == (rates_line, "rates.2024-11-25.SOFT"), str(err)
    assert "'SOFT' is not the rebate benchmark of any agreement (SOFR)" in str(err)
    bad = _error(_scenario('    rebate: {benchmark: SOFR}\n',
                           extra="rates:\n  2024-11-25: {SOFR: high}\n"))
    assert bad.key == "rates.2024-11-25.SOFR"
    assert "a fixing in percent per annum" in str(bad)
    day = _error(_scenario('    rebate: {benchmark: SOFR}\n',
                           extra='rates:\n  someday: {SOFR: "1"}\n'))
    assert day.key == "rates.someday" and "a date YYYY-MM-DD" in str(day)


def test_a_benchmark_without_fixings_names_the_csv_it_looked_for(tmp_path: Path) -> None:
    spec = parse_scenario(_scenario("    rebate: {benchmark: TONA}\n"), tmp_path / "s.yaml")
    with pytest.raises(ScenarioError) as err:
        PriceBook(spec)
    assert "rebate benchmark TONA" in str(err.value)
    assert "rates/TONA.csv" in str(err.value)


# -- the accrual rule, off-chain ------------------------------------------------------------------

V_L = Fraction(50_000)
CASH = Fraction(55_556)  # ceil(50,000 / 0.9)


def test_periods_split_at_month_ends_and_the_first_is_valued_at_the_first_call() -> None:
    result = _run(_scenario(FEE + '    rebate: {fixed: "0.1"}\n'))
    calls = result.calls_of("A1")
    assert [c.date for c in calls] == [date(2024, 11, d) for d in (28, 29)] + [
        date(2024, 12, d) for d in (2, 3)]
    assert all(not c.transfers for c in calls)
    spans = [[(a.from_, a.to, a.days) for a in c.accruals] for c in calls]
    assert spans == [
        [(date(2024, 11, 27), date(2024, 11, 28), 1)],  # from the start, at the first call's values
        [(date(2024, 11, 28), date(2024, 11, 29), 1)],
        # Friday to Monday, split at the month end
        [(date(2024, 11, 29), date(2024, 12, 1), 2), (date(2024, 12, 1), date(2024, 12, 2), 1)],
        [(date(2024, 12, 2), date(2024, 12, 3), 1)],
    ]
    (close,) = result.closes
    assert [(a.from_, a.to) for a in close.accruals] == [(date(2024, 12, 3), date(2024, 12, 4))]
    # USD: ACT/360; fee 40 bp of 50,000, rebate 0.1 % of 55,556
    for a in result.accruals_of("A1"):
        assert (a.loan_value, a.cash_value) == (V_L, CASH)
        assert (a.fee_rate, a.rebate_rate) == (Fraction(4, 1000), Fraction(1, 1000))
        assert a.fee == V_L * Fraction(4, 1000) * a.days / 360
        assert a.rebate == CASH * Fraction(1, 1000) * a.days / 360
    assert sum(a.days for a in result.accruals_of("A1")) == 7  # 27 Nov .. 4 Dec


def test_only_months_ended_in_the_window_are_invoiced_and_the_minimum_applies() -> None:
    result = _run(_scenario('    fee: {bps: "40", minimum: "500"}\n    rebate: {fixed: "0.1"}\n'))
    (inv,) = result.invoices  # December has not ended by the window's end (4 Dec)
    assert (inv.pair, inv.month, inv.currency) == ("pair-bank-a-bank-b", "2024-11", "USD")
    (line,) = inv.lines
    fee = V_L * Fraction(4, 1000) * 4 / 360  # 27 .. 30 November: 4 days
    rebate = CASH * Fraction(1, 1000) * 4 / 360
    assert line == InvoiceLine(
        agreement="A1", lender="bank-a", borrower="bank-b", days=4, fee_accrued=fee,
        minimum_top_up=500 - fee, fee_charged=Fraction(500), rebate=rebate, net=500 - rebate,
    )
    assert (inv.payer, inv.payee) == ("bank-b", "bank-a")
    assert inv.net == 500 - rebate and inv.amount == 499  # 499.38...
    (e,) = economics(result)
    assert e.days == 7 and e.minimum_top_up == 500 - fee
    assert e.fee_income == sum((a.fee for a in result.accruals_of("A1")), Fraction(0)) + 500 - fee


def test_a_negative_benchmark_rebate_is_paid_by_the_borrower(tmp_path: Path) -> None:
    """TONA from a CSV as the oracle reads it (rates/TONA.csv), any sign, filled to calendar days;
    the rebate is the fixing found at each period's start plus the spread."""
    (tmp_path / "rates").mkdir()
    (tmp_path / "rates" / "TONA.csv").write_text(
        "date,value\n2024-11-25,-0.10\n2024-11-28,-0.10\n2024-11-29,-0.20\n2024-12-02,0\n"
        "2024-12-06,0.05\n", encoding="utf-8")
    text = _scenario('    rebate: {benchmark: TONA, spread_bps: "-5"}\n    day_count: ACT/365F\n')
    text = f"data: {tmp_path}\n" + text
    result = _run(text, tmp_path)
    rates = {a.from_: a.rebate_rate for a in result.accruals_of("A1")}
    assert rates[date(2024, 11, 27)] == Fraction(-15, 10000)  # the 28 Nov call's fixing (-0.10)
    assert rates[date(2024, 11, 29)] == Fraction(-25, 10000)  # 29 Nov: -0.20 - 0.05
    assert rates[date(2024, 12, 1)] == Fraction(-25, 10000)  # the same period, split
    assert rates[date(2024, 12, 2)] == Fraction(-5, 10000)  # 0 - 0.05
    (inv,) = result.invoices
    (line,) = inv.lines
    assert line.fee_charged == 0 and line.rebate < 0 and line.net == -line.rebate
    assert line.rebate == CASH * (Fraction(-15, 10000) * 2 + Fraction(-25, 10000) * 2) / 365
    # the lender is owed the negative rebate: the borrower pays
    assert (inv.payer, inv.payee) == ("bank-b", "bank-a")
    inline = _run(_scenario(
        '    rebate: {benchmark: TONA, spread_bps: "-5"}\n    day_count: ACT/365F\n',
        extra='rates:\n  2024-11-25: {TONA: "-0.10"}\n  2024-11-28: {TONA: "-0.10"}\n'
              '  2024-11-29: {TONA: "-0.20"}\n  2024-12-02: {TONA: "0"}\n'
              '  2024-12-06: {TONA: "0.05"}\n'))
    assert inline.invoices == result.invoices


def test_invoices_net_the_pair_in_both_directions() -> None:
    second = """\
  - id: B1
    lender: bank-b
    borrower: bank-a
    loan: {STOCK: 2000}
    collateral: {BOND: auto}
    haircut: "0.1"
    start: 2024-11-27
    end: 2024-12-04
"""
    a_wins = _run(_scenario('    fee: {bps: "40"}\n', second=second + '    fee: {bps: "10"}\n'))
    (inv,) = a_wins.invoices
    assert [x.agreement for x in inv.lines] == ["A1", "B1"]  # bank-a's loans first
    a1, b1 = inv.lines
    assert a1.net == 50_000 * Fraction(40, 10000) * 4 / 360
    assert b1.net == 100_000 * Fraction(10, 10000) * 4 / 360
    assert inv.net == a1.net - b1.net > 0
    assert (inv.payer, inv.payee) == ("bank-b", "bank-a")
    b_wins = _run(_scenario('    fee: {bps: "10"}\n', second=second + '    fee: {bps: "40"}\n'))
    (inv,) = b_wins.invoices
    a1, b1 = inv.lines
    assert inv.net == b1.net - a1.net > 0
    assert (inv.payer, inv.payee) == ("bank-a", "bank-b")


def _line(agreement: str, lender: str, net: Fraction) -> InvoiceLine:
    borrower = "bank-b" if lender == "bank-a" else "bank-a"
    return InvoiceLine(agreement, lender, borrower, 30, net, Fraction(0), net, Fraction(0), net)


def test_invoice_netting_rounds_half_away_from_zero() -> None:
    inv = invoice_record("bank-a", "bank-b", "2024-11", "USD", [
        _line("Z", "bank-b", Fraction(5)), _line("A", "bank-a", Fraction(5, 2)),
    ])
    assert [x.agreement for x in inv.lines] == ["A", "Z"]
    assert (inv.payer, inv.payee, inv.net, inv.amount) == ("bank-a", "bank-b", Fraction(5, 2), 3)
    inv = invoice_record("bank-a", "bank-b", "2024-11", "USD", [
        _line("A", "bank-a", Fraction(-7, 2))])  # a rebate larger than the fee: lender pays
    assert (inv.payer, inv.payee, inv.net, inv.amount) == ("bank-a", "bank-b", Fraction(7, 2), 4)
    inv = invoice_record("bank-a", "bank-b", "2024-11", "USD", [
        _line("A", "bank-a", Fraction(3)), _line("B", "bank-b", Fraction(3))])
    assert (inv.payer, inv.payee, inv.net, inv.amount) == ("bank-b", "bank-a", Fraction(0), 0)


def test_month_helpers() -> None:
    assert next_month(date(2008, 12, 31)) == date(2009, 1, 1)
    assert month_ended("2008-11", date(2008, 12, 1))
    assert not month_ended("2008-12", date(2008, 12, 31))


def test_scenarios_without_fees_accrue_nothing() -> None:
    result = _run(_scenario())
    assert result.invoices == ()
    assert not result.has_economics
    assert all(c.accruals == () for c in result.calls)
    assert "invoices" not in run_json(result) and "economics" not in run_json(result)


# -- the shipped crash scenario: October 2008 by hand --------------------------------------------


@pytest.fixture(scope="module")
def crash() -> RunResult:
    return run_scenario(load_scenario(CRASH))


def _timeline(result: RunResult) -> list[tuple[date, Fraction, Fraction]]:
    """(date, loan value, cash held) of every value the agreement's accrual is found at — each
    return and substitution (after it), then each call (after its transfers) — built from the
    records' V_L and the JPY movements only, not from the accrual lines."""
    (opened,) = result.opens
    cash = Fraction(dict(opened.terms.collateral)["JPY"])
    events: list[tuple[date, int, StepRecord | CallRecord]] = []
    events += [(s.date, 0, s) for s in result.steps if s.action != "recall"]
    events += [(c.date, 1, c) for c in result.calls]
    out = []
    for day, _, record in sorted(events, key=lambda e: (e[0], e[1])):
        if isinstance(record, StepRecord):
            moves = [(t, q, d) for t, q, d in record.movements]
        else:
            moves = [(t.token, t.quantity, t.direction) for t in record.transfers]
        for token, qty, direction in moves:
            if token == "JPY":
                cash += qty if direction == "borrower->lender" else -qty
        out.append((day, Fraction(record.v_l), cash))
    return out


def _month_by_hand(result: RunResult, month: str) -> tuple[Fraction, Fraction, int]:
    """Fee (40 bp) and rebate (0.1 %) of a month, ACT/365F, each period at the values found at
    its start, the first from the start date at the first values found."""
    timeline = _timeline(result)
    start = result.opens[0].terms.start
    periods: list[tuple[date, date, Fraction, Fraction]] = []
    prev = (start, timeline[0][1], timeline[0][2])
    for day, v_l, cash in timeline:
        if day > prev[0]:
            periods.append((prev[0], day, prev[1], prev[2]))
        prev = (day, v_l, cash)
    periods.append((prev[0], result.closes[0].date, prev[1], prev[2]))
    fee = rebate = Fraction(0)
    days = 0
    first = date.fromisoformat(month + "-01")
    end = next_month(first)
    for a, b, v_l, cash in periods:
        n = (min(b, end) - max(a, first)).days
        if n > 0:
            fee += v_l * Fraction(40, 10000) * n / 365
            rebate += cash * Fraction(1, 1000) * n / 365
            days += n
    return fee, rebate, days


def test_crash_october_2008_invoice_by_hand(crash: RunResult) -> None:
    """The worked figures of October 2008 (23 periods from 1 to 31 October):

    * Σ V_L x days = 41,160,000,000,000 JPY-days, so the fee is 41.16e12 x 0.004 / 365
      = 32,928,000/73 = 451,068.49 JPY (above the 50,000 minimum: no top-up);
    * Σ cash x days = 42,895,263,170 x 1,000 JPY-days (the cash held falls from 1,886 million to
      944 million as the calls return it and the substitutions swap it for shares), so the
      rebate is that x 0.001 / 365 = 4,289,526,317/36,500 = 117,521.27 JPY;
    * the line's net is 451,068.49 - 117,521.27 = 12,174,473,683/36,500 = 333,547.22: bank-b (the
      borrower) pays bank-a 333,547 JPY.
    """
    fee, rebate, days = _month_by_hand(crash, "2008-10")
    assert days == 31
    assert fee == Fraction(32_928_000, 73)
    assert rebate == Fraction(4_289_526_317, 36_500)
    october, november = crash.invoices
    assert (october.month, october.currency, october.pair) == ("2008-10", "JPY",
                                                                "pair-bank-a-bank-b")
    assert october.lines == (InvoiceLine(
        agreement="sl-mufg", lender="bank-a", borrower="bank-b", days=31, fee_accrued=fee,
        minimum_top_up=Fraction(0), fee_charged=fee, rebate=rebate, net=fee - rebate,
    ),)
    assert october.net == Fraction(12_174_473_683, 36_500)
    assert (october.payer, october.payee, october.amount) == ("bank-b", "bank-a", 333_547)
    n_fee, n_rebate, n_days = _month_by_hand(crash, "2008-11")
    (line,) = november.lines
    assert (line.days, line.fee_accrued, line.rebate) == (n_days, n_fee, n_rebate) == (
        30, Fraction(14_210_080, 73), Fraction(186_974_737, 3_650))
    assert november.amount == 143_433


def test_crash_steps_accrue_up_to_their_date(crash: RunResult) -> None:
    by_date = {c.date: c for c in crash.calls}
    first_return = crash.steps[1]
    assert (first_return.action, first_return.date) == ("return", date(2008, 10, 16))
    (line,) = first_return.accruals
    before = by_date[date(2008, 10, 15)]
    assert (line.from_, line.to, line.days) == (date(2008, 10, 15), date(2008, 10, 16), 1)
    assert line.loan_value == before.v_l  # at the values the 15 October call found
    assert line.fee == before.v_l * Fraction(4, 1000) / 365
    # the call the same day accrues nothing more; the next period starts at its values
    assert by_date[date(2008, 10, 16)].accruals == ()
    nxt = by_date[date(2008, 10, 17)].accruals[0]
    assert nxt.from_ == date(2008, 10, 16) and nxt.loan_value == by_date[date(2008, 10, 16)].v_l
    assert crash.steps[0].accruals == ()  # a recall changes nothing the fee accrues on
    # the close accrues up to the end date; every day of the loan accrues once
    (close,) = crash.closes
    assert close.accruals[-1].to == date(2008, 12, 1)
    lines: list[AccrualLine] = crash.accruals_of("sl-mufg")
    assert sum(a.days for a in lines) == 61
    assert all(a.to == b.from_ for a, b in itertools.pairwise(lines))


# -- reports --------------------------------------------------------------------------------------


def test_run_prints_fee_income_and_the_invoices() -> None:
    result = CliRunner().invoke(main, ["scenario", "run", str(CRASH)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Fee income and rebate cost (JPY)" in out
    assert "645,727" in out and "168,747" in out  # fee income, rebate cost over the loan
    assert "Invoices" in out
    assert "bank-b → bank-a" in out
    assert "333,547" in out and "143,433" in out
    plain = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml")])
    assert plain.exit_code == 0
    assert "Fee income" not in plain.output and "Invoices" not in plain.output


def test_run_json_has_the_economics_and_invoices() -> None:
    result = CliRunner().invoke(main, ["scenario", "run", str(CRASH), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["economics"]["sl-mufg"] == {
        "currency": "JPY", "days": 61, "fee_accrued": "47138080/73", "minimum_top_up": "0",
        "fee_income": "47138080/73", "rebate_cost": "6159273687/36500",
        "net": "17409766313/36500",
    }
    october = doc["invoices"][0]
    assert {k: october[k] for k in ("month", "currency", "payer", "payee", "net", "amount")} == {
        "month": "2008-10", "currency": "JPY", "payer": "bank-b", "payee": "bank-a",
        "net": "12174473683/36500", "amount": 333547,
    }
    assert october["lines"][0]["fee_charged"] == "32928000/73"
    assert doc["calls"][0]["accruals"][0]["from"] == "2008-10-01"
    assert doc["closes"][0]["accruals"][-1]["to"] == "2008-12-01"
    plain = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml"), "--json"])
    plain_doc = json.loads(plain.output)
    assert "invoices" not in plain_doc and "economics" not in plain_doc
    assert "accruals" not in plain_doc["calls"][0]


# -- the on-chain ledger's mapping (no network: the chaincode's JSON, built here) ----------------


def _invoice_json(record: InvoiceRecord, tag: str) -> dict[str, object]:
    """The invoice as ``billing:GetInvoice`` returns it, the agreements under their ledger ids."""
    return {
        "id": f"INV-{record.month}-{record.currency}", "pair": record.pair,
        "month": record.month, "currency": record.currency, "net": str(record.net),
        "amount": str(record.amount), "payer": record.payer, "payee": record.payee,
        "dueDate": "2008-11-10", "status": "ISSUED",
        "lines": [
            {"agreement": f"{tag}-{x.agreement}", "lender": x.lender, "borrower": x.borrower,
             "days": x.days, "feeAccrued": str(x.fee_accrued),
             "minimumTopUp": str(x.minimum_top_up), "feeCharged": str(x.fee_charged),
             "rebate": str(x.rebate), "net": str(x.net)}
            for x in reversed(record.lines)
        ],
    }


def test_the_on_chain_ledger_reads_accruals_and_invoices_as_the_chaincode_stores_them(
    crash: RunResult,
) -> None:
    from tanpo.client.models import Invoice, MarginCall, Terms
    from tanpo.scenarios import fabric_ledger as fl

    (opened,) = crash.opens
    assert opened.terms.economics is not None
    terms = Terms("bank-a", "bank-b", "JP8306", 2_000_000, (), "JPY")
    chain = fl._with_economics(terms, opened.terms.economics).to_json()
    assert (chain["fee"], chain["rebate"]) == ({"bps": "40", "minimum": "50000"},
                                               {"fixed": "0.1"})
    assert "dayCount" not in chain
    # a call record's accrual lines, as the chaincode writes them
    call = crash.calls[0]
    raw = {"agreement": "t-sl-mufg", "date": call.date.isoformat(), "triggered": call.triggered,
           "vl": str(call.v_l), "vcBefore": str(call.v_c_before), "vcAfter": str(call.v_c_after),
           "accruals": [a.to_json() for a in call.accruals]}
    record = fl._record("sl-mufg", opened.terms, MarginCall.from_json(raw))
    assert record.accruals == call.accruals != ()

    # IssueInvoice as the oracle, then the pair's invoice read back by a bank
    issued: list[tuple[str, str, str]] = []
    october = crash.invoices[0]
    two_lines = invoice_record("bank-a", "bank-b", "2008-10", "JPY", [
        october.lines[0],
        InvoiceLine("sl-b", "bank-b", "bank-a", 5, Fraction(7), Fraction(0), Fraction(7),
                    Fraction(0), Fraction(7)),
    ])

    class Oracle:
        def issue_invoice(self, month: str, currency: str, *, pair: str) -> None:
            issued.append((month, currency, pair))

    class Bank:
        def invoice(self, month: str, currency: str, counterparty: str) -> Invoice:
            assert counterparty == "bank-b"
            return Invoice.from_json(_invoice_json(two_lines, "t"))

    class Session:
        def settle(self) -> None:
            pass

    ledger = fl.FabricLedger.__new__(fl.FabricLedger)
    ledger.run_tag, ledger.session = "t", Session()  # type: ignore[assignment]
    ledger._oracle = Oracle  # type: ignore[assignment,method-assign]
    ledger._party = lambda name: Bank()  # type: ignore[assignment,method-assign,return-value]
    got = ledger.issue_invoice("bank-b", "bank-a", "2008-10", "JPY")
    assert issued == [("2008-10", "JPY", "pair-bank-a-bank-b")]
    assert got == two_lines  # scenario ids, the canonical line order, the ledger's figures


def test_a_full_return_accrues_up_to_its_date_and_closes() -> None:
    result = _run(_scenario(
        FEE, second="events:\n  - {date: 2024-11-29, agreement: A1, return: {quantity: 1000}}\n"))
    (step,) = result.steps
    assert step.closed and result.closes == ()
    assert [(a.from_, a.to) for a in step.accruals] == [(date(2024, 11, 28), date(2024, 11, 29))]
    (inv,) = result.invoices
    (line,) = inv.lines
    assert line.days == 2 and line.fee_accrued == V_L * Fraction(4, 1000) * 2 / 360
    assert [c.date for c in result.calls] == [date(2024, 11, 28)]
