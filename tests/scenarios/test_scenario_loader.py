"""Scenario files: the schema, and errors that name the file, the line and the key."""
# ruff: noqa: E501  (EXAMPLE is DESIGN's scenario text verbatim, including its long comment line)

from __future__ import annotations

from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tanpo.marketdata import Fill
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.model import AUTO, Checks

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

EXAMPLE = """\
base_currency: USD
tokens:
  - {id: DE-BUND, kind: ST, currency: EUR, quote: percent-of-par}
  - {id: US-STOCK, kind: ST, currency: USD, quote: per-unit}
prices:
  2024-01-02: {DE-BUND: "101.25", US-STOCK: "50.00", EURUSD: "1.1000"}
  2024-01-03: {DE-BUND: "101.00", US-STOCK: "50.40", EURUSD: "1.1050"}
  2024-01-04: {DE-BUND: "101.00", US-STOCK: "50.40", EURUSD: "1.1050"}
agreements:
  - id: A1
    lender: bank-a
    borrower: bank-b
    loan: {DE-BUND: 1000000}
    collateral: {US-STOCK: auto}      # sized to cover the loan on the start date
    priority: [US-STOCK]
    haircut: "0"
    threshold: "0"
    mode: single
    start: 2024-01-02
    end: 2024-01-04                   # opens on the start date, checked on 01-03, settles on the end date
"""


def test_the_design_example_parses() -> None:
    s = parse_scenario(EXAMPLE)
    assert s.base_currency == "USD"
    assert [t.id for t in s.tokens] == ["DE-BUND", "US-STOCK"]
    assert s.token("DE-BUND").quote_factor == Fraction(1, 100)
    (a,) = s.agreements
    assert a.loan == (("DE-BUND", 1_000_000),)
    assert a.collateral == (("US-STOCK", AUTO),)
    assert (a.start, a.end, a.mode, a.lag, a.auto_issue) == (
        date(2024, 1, 2),
        date(2024, 1, 4),
        "single",
        0,
        False,
    )
    assert s.prices[date(2024, 1, 3)]["EURUSD"] == Fraction("1.1050")
    assert s.parties == ("bank-a", "bank-b")
    assert (s.window_start, s.window_end, s.fill, s.checks) == (
        date(2024, 1, 2),
        date(2024, 1, 4),
        Fill.NEXT_TRADING_DAY,
        Checks.EVERY_DAY,
    )


def test_unquoted_decimals_are_exact() -> None:
    s = parse_scenario(EXAMPLE.replace('haircut: "0"', "haircut: 0.05"))
    assert s.agreements[0].haircut == Fraction(1, 20)


def _error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, Path("bad.yaml"))
    return err.value


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "fragment"),
    [
        ('haircut: "0"', 'haircut: "abc"', 16, "agreements[0].haircut", "expected a haircut"),
        ('haircut: "0"', 'haircut: "1"', 16, "agreements[0].haircut", "up to (not incl.)"),
        ('haircut: "0"', 'hair_cut: "0"', 16, "agreements[0].hair_cut", "unknown key 'hair_cut'"),
        ("mode: single", "mode: both", 18, "agreements[0].mode", "'single', 'multi'"),
        ("end: 2024-01-04", "end: 2024-01-01", 20, "agreements[0].end", "is before the start date"),
        ("start: 2024-01-02", "start: 2024-02-30", 19, "agreements[0].start", "a date YYYY-MM-DD"),
        (
            "{US-STOCK: auto}",
            "{US-STOCK: -5}",
            14,
            "agreements[0].collateral.US-STOCK",
            "positive whole quantity",
        ),
        (
            "{US-STOCK: auto}",
            "{US-BOND: 5}",
            14,
            "agreements[0].collateral.US-BOND",
            "unknown token 'US-BOND'",
        ),
        (
            "loan: {DE-BUND: 1000000}",
            "loan: {DE-BUND: auto}",
            14,
            "agreements[0].collateral",
            "only one quantity can be auto",
        ),
        ("    lender: bank-a\n", "", 10, "agreements[0]", "missing required key 'lender'"),
        ('EURUSD: "1.1000"', 'EURUSD: "-1"', 6, "prices.2024-01-02.EURUSD", "positive price"),
        (
            'US-STOCK: "50.40", EURUSD',
            'US-STOK: "50.40", EURUSD',
            7,
            "prices.2024-01-03.US-STOK",
            "unknown name 'US-STOK'",
        ),
        ("kind: ST, currency: EUR", "kind: XX, currency: EUR", 3, "tokens[0].kind", "'ST', 'CT'"),
        ("currency: EUR", "currency: euro", 3, "tokens[0].currency", "three-letter"),
    ],
)
def test_errors_name_line_and_key(old: str, new: str, line: int, key: str, fragment: str) -> None:
    assert old in EXAMPLE
    err = _error(EXAMPLE.replace(old, new, 1))
    assert (err.line, err.key) == (line, key), str(err)
    assert str(err).startswith(f"bad.yaml:{line}: {key}: ")
    assert fragment in str(err)


def test_missing_fx_rate_is_reported_on_the_agreement() -> None:
    text = EXAMPLE.replace(', EURUSD: "1.1000"', "").replace(', EURUSD: "1.1050"', "")
    err = _error(text)
    assert err.line == 10
    assert "no FX rate converts EUR" in str(err)


def test_duplicate_keys_and_yaml_syntax() -> None:
    err = _error(EXAMPLE.replace("    mode: single\n", "    mode: single\n    mode: multi\n"))
    assert (err.line, err.key) == (19, "agreements[0].mode")
    assert "duplicate key (first given on line 18)" in str(err)
    err = _error(EXAMPLE.replace("tokens:\n", "tokens: [\n", 1))
    assert str(err).startswith("bad.yaml:") and "invalid YAML" in str(err)
    assert _error("").line == 1
    err = _error("- just a list\n")
    assert "expected a mapping of scenario keys, found a list" in str(err)


def test_token_without_prices_is_refused() -> None:
    err = _error(
        EXAMPLE.replace(', DE-BUND: "101.25"', "")
        .replace("{DE-BUND:", "{X:", 0)
        .replace('{DE-BUND: "101.25", ', "{")
        .replace('{DE-BUND: "101.00", ', "{")
    )
    assert err.line == 3 and "token 'DE-BUND' has no prices" in str(err)


def test_shipped_scenario_files_load() -> None:
    files = sorted(SCENARIOS.glob("*.yaml"))
    assert len(files) >= 9
    for path in files:
        s = load_scenario(path)
        assert s.agreements, path
        assert s.path == path


_LINES = EXAMPLE.splitlines()


@settings(max_examples=300, deadline=None)
@given(
    line=st.integers(min_value=0, max_value=len(_LINES) - 1),
    junk=st.sampled_from(
        [
            "",
            "x",
            "-1",
            "1.5",
            "auto",
            "[]",
            "{}",
            "null",
            "2024-13-01",
            ": :",
            "[1, 2",
            "'",
            "&a",
            "*a",
            "~",
            "9" * 30,
            "true",
            "{US-STOCK: auto, DE-BUND: auto}",
            "- id: A1",
        ]
    ),
    mode=st.sampled_from(["replace-value", "drop", "duplicate"]),
)
def test_any_edit_gives_a_scenario_or_a_scenario_error(line: int, junk: str, mode: str) -> None:
    """Mutated files never crash the loader with anything but a ScenarioError."""
    lines = list(_LINES)
    if mode == "drop":
        del lines[line]
    elif mode == "duplicate":
        lines.insert(line, lines[line])
    else:
        key, sep, _ = lines[line].partition(":")
        lines[line] = f"{key}{sep} {junk}" if sep else junk
    try:
        parse_scenario("\n".join(lines) + "\n", Path("fuzz.yaml"))
    except ScenarioError as err:
        assert str(err).startswith("fuzz.yaml")


def test_intraday_trade_opens_and_closes_on_its_start_date() -> None:
    """The DLT study evaluates intraday trades too: end == start is a valid agreement."""
    from tanpo.scenarios.runner import run_scenario

    text = EXAMPLE.replace("end: 2024-01-04 ", "end: 2024-01-02 ")
    scenario = parse_scenario(text)
    assert scenario.agreements[0].end == scenario.agreements[0].start == date(2024, 1, 2)
    result = run_scenario(scenario)
    assert [(o.agreement, o.date) for o in result.opens] == [("A1", date(2024, 1, 2))]
    assert [(c.agreement, c.date) for c in result.closes] == [("A1", date(2024, 1, 2))]
    assert result.calls == ()


def test_end_before_start_is_refused() -> None:
    err = _error(EXAMPLE.replace("end: 2024-01-04 ", "end: 2024-01-01 "))
    assert err.key == "agreements[0].end"
    assert "before the start date" in str(err)


def test_token_identifiers() -> None:
    text = EXAMPLE.replace(
        "quote: per-unit}",
        'quote: per-unit, identifiers: {SEDOL: "2046251", CUSIP: 037833100, RIC: AAPL.O}}',
    )
    s = parse_scenario(text)
    assert s.token("US-STOCK").identifiers == (
        ("CUSIP", "037833100"),
        ("RIC", "AAPL.O"),
        ("SEDOL", "2046251"),
    )
    assert s.token("DE-BUND").identifiers == ()
    for ids, key, fragment in (
        ("{ISIN: US0378331005}", "tokens[1].identifiers.ISIN", "give the ISIN in the isin field"),
        ("{SEDOL: 12}", "tokens[1].identifiers.SEDOL", "expected 7 capital letters or digits"),
        ("{Sedol: 2046251}", "tokens[1].identifiers.Sedol", "did you mean SEDOL?"),
        ("[SEDOL]", "tokens[1].identifiers", "a mapping of identifier type to value"),
    ):
        err = _error(EXAMPLE.replace("quote: per-unit}", f"quote: per-unit, identifiers: {ids}}}"))
        assert (err.line, err.key) == (4, key), str(err)
        assert fragment in str(err)


def test_the_on_chain_run_defines_tokens_with_their_identifiers() -> None:
    from tanpo.client.models import Token
    from tanpo.scenarios import fabric_ledger as fl
    from tanpo.scenarios.model import TokenSpec

    defined: list[Token] = []

    class Admin:
        def define_token(self, token: Token) -> Token:
            defined.append(token)
            return token

    class Session:
        def settle(self) -> None:
            pass

    ledger = fl.FabricLedger.__new__(fl.FabricLedger)
    ledger.session, ledger.tokens, ledger._specs = Session(), {}, {}  # type: ignore[assignment]
    ledger._admin = Admin  # type: ignore[assignment,method-assign]
    ledger.define_tokens([
        TokenSpec("US-STOCK", "ST", "USD", identifiers=(("CUSIP", "037833100"),)),
        TokenSpec("USD", "CT", "USD"),
    ])
    assert [t.identifiers for t in defined] == [{"CUSIP": "037833100"}, {}]
    assert defined[0].to_spec()["identifiers"] == {"CUSIP": "037833100"}
