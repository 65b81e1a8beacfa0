"""Property tests of the parsers: malformed input gives the module's own error, never another.

* the scenario loader: any text, structurally random documents, random edits of every shipped
  scenario file, wrong encodings, deep nesting and absurd numbers give a ``Scenario`` or a
  ``ScenarioError`` that names the file; a scenario that loads also runs (or refuses with a
  ``ScenarioError``/``MarginError``);
* the margin engine: numbers, dates, FX pairs, a day's market, terms and whole vector cases give
  a value or a ``MarginError`` with its kind, and the case runner never raises;
* the oracle: close texts give a ``Decimal`` or ``MalformedCloseError``; market-data files give
  closes or a ``SourceError``; validation of any closes gives an assessment.

Each hypothesis test is bounded (``max_examples``) and deterministic (``derandomize``), so CI runs
the same cases every time; the whole file takes a few seconds.
"""

from __future__ import annotations

import contextlib
import json
import re
import string
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tanpo.margin import (
    ErrorKind,
    LoanLeg,
    MarginError,
    Market,
    Terms,
    Token,
    make_agreement,
    parse_date,
    parse_decimal,
    parse_pair,
    run_case_line,
    run_lifecycle_case_line,
)
from tanpo.oracle.calendars import get_calendar
from tanpo.oracle.config import ConfigError, LimitsConfig, parse_config
from tanpo.oracle.sources import FileSource, SourceError
from tanpo.oracle.validation import MalformedCloseError, Observation, assess, to_decimal
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import load_scenario, parse_scenario
from tanpo.scenarios.runner import run_scenario
from tests.scenarios.test_scenario_loader import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
VECTORS = sorted((ROOT / "vectors").glob("*.json"))

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# text that exercises parsers: digits of other scripts, signs, exponents, separators, controls
_TRICKY = ["", " ", "0", "-0", "+1", "1e3", "1E+400", "1e100000000", "1e-100000000", "nan", "inf",
           "١٢٣", "１２", "1_000", "1,5", "0x10", "1/3", "1/0", ".5", "5.", "\x00", "\ufeff",
           "9" * 60, "0." + "0" * 60 + "1", "2024-02-30", "2024-1-1", "9999-12-31", "0000-01-01"]
tricky_text = st.one_of(st.sampled_from(_TRICKY), st.text(max_size=40),
                        st.from_regex(r"-?[0-9]{1,30}(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?",
                                      fullmatch=True))


# ---- the scenario loader (on the loader tests' EXAMPLE, DESIGN's scenario) ------------------


def _parse_or_error(text: str, name: str = "h.yaml") -> Any:
    """parse_scenario, requiring any failure to be a ScenarioError that names the file."""
    try:
        return parse_scenario(text, Path(name))
    except ScenarioError as err:
        assert str(err).startswith(name), str(err)
        assert err.message
        return None


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_gives_a_scenario_or_a_scenario_error(text: str) -> None:
    _parse_or_error(text)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(_TRICKY),
                     st.text(max_size=12), st.dates(), st.floats(allow_nan=True))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(doc)]
    return doc  # an earlier edit replaced this path's parent: nothing left to replace


_EXAMPLE_DOC = yaml.safe_load(EXAMPLE)
_EXAMPLE_PATHS = _paths(_EXAMPLE_DOC)


@PROPERTY
@given(edits=st.lists(st.tuples(st.sampled_from(_EXAMPLE_PATHS), _values), min_size=1,
                      max_size=3),
       run=st.booleans())
def test_structural_edits_give_a_scenario_or_a_scenario_error(
        edits: list[tuple[tuple[Any, ...], Any]], run: bool) -> None:
    """Any node of the example replaced by any YAML value; what loads also runs."""
    doc = _EXAMPLE_DOC
    for path, value in edits:
        doc = _replace(doc, path, value)
    scenario = _parse_or_error(yaml.safe_dump(doc, allow_unicode=True))
    if scenario is not None and run:
        with contextlib.suppress(ScenarioError, MarginError):
            run_scenario(scenario)


_NUMERIC_FIELDS = ["haircut", "threshold", "lag", "min_transfer"]


@PROPERTY
@given(field=st.sampled_from([*_NUMERIC_FIELDS, "loan", "price", "quantity"]),
       text=tricky_text)
def test_numeric_fields_take_any_text(field: str, text: str) -> None:
    """Every number of the example replaced by any text (quoted or not): quick, and clean."""
    quoted = json.dumps(text)
    if field == "loan":
        edited = EXAMPLE.replace("{DE-BUND: 1000000}", f"{{DE-BUND: {quoted}}}")
    elif field == "price":
        edited = EXAMPLE.replace('US-STOCK: "50.40", EURUSD: "1.1050"}',
                                 f'US-STOCK: {quoted}, EURUSD: "1.1050"}}', 1)
    elif field == "quantity":
        edited = EXAMPLE.replace("{US-STOCK: auto}", f"{{US-STOCK: {quoted}}}")
    else:
        edited = EXAMPLE.replace("    mode: single\n", f"    mode: single\n    {field}: {quoted}\n")
        edited = re.sub(rf"    {field}: \"0\"\n", "", edited, count=1)
    scenario = _parse_or_error(edited)
    if scenario is not None:
        with contextlib.suppress(ScenarioError, MarginError):
            run_scenario(scenario)


@PROPERTY
@given(data=st.data())
def test_random_edits_of_the_shipped_scenarios(data: st.DataObject) -> None:
    """Characters inserted, deleted or replaced anywhere in a shipped scenario file."""
    path = data.draw(st.sampled_from(SHIPPED), label="file")
    text = path.read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        cut = data.draw(st.integers(0, 6), label="cut")
        insert = data.draw(st.sampled_from(["", ":", "-", " ", "\n", "\t", "[", "{", "}", "]",
                                            "'", '"', "#", "&x", "*x", "!!str ", "0", "9" * 9,
                                            "\n  - ", "\u00e9"]), label="insert")
        text = text[:at] + insert + text[at + cut:]
    _parse_or_error(text, path.name)


@pytest.mark.parametrize("payload", [
    "base_currency: USD\n".encode("utf-16"),
    b"base_currency: \xff\xfe USD\n",
    "base_currency: 円\n".encode("shift_jis"),
    bytes(range(256)),
], ids=["utf-16", "latin-1-bytes", "shift-jis", "binary"])
def test_files_in_a_wrong_encoding_are_a_scenario_error(tmp_path: Path, payload: bytes) -> None:
    f = tmp_path / "bad.yaml"
    f.write_bytes(payload)
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert str(err.value).startswith(str(f))


@pytest.mark.parametrize("text", ["[" * 5000, "a: " + "{b: " * 3000, "- " * 4000 + "x"],
                         ids=["lists", "mappings", "block-lists"])
def test_deeply_nested_yaml_is_a_scenario_error(text: str) -> None:
    with pytest.raises(ScenarioError, match=r"h\.yaml"):
        parse_scenario(text, Path("h.yaml"))


@pytest.mark.timeout(20)
@pytest.mark.parametrize("number", ["1e100000000", "1e-100000000", "9" * 5000, "1E+999999"],
                         ids=["1e1e8", "1e-1e8", "5000-digits", "1e999999"])
@pytest.mark.parametrize("field", ["haircut", "lag", "min_transfer"])
def test_absurd_numbers_are_refused_quickly(field: str, number: str) -> None:
    text = EXAMPLE.replace("    mode: single\n", f"    mode: single\n    {field}: {number}\n")
    with pytest.raises(ScenarioError, match=rf"h.yaml:\d+: agreements\[0\]\.{field}: "):
        parse_scenario(text, Path("h.yaml"))


# ---- the margin engine's parsing ------------------------------------------------------------


@PROPERTY
@given(tricky_text)
def test_engine_numbers(text: str) -> None:
    try:
        value = parse_decimal(text, "x")
    except MarginError as err:
        assert err.kind is ErrorKind.INVALID_NUMBER and "x" in err.message
        return
    assert parse_decimal(str(value), "x") == value


@PROPERTY
@given(tricky_text, st.text(max_size=8))
def test_engine_dates_and_pairs(text: str, pair: str) -> None:
    for parse, arg in ((parse_date, text), (parse_pair, pair), (parse_pair, text)):
        try:
            parse(arg)
        except MarginError as err:
            assert err.kind is ErrorKind.INVALID_INPUT


_number_like = st.one_of(tricky_text, st.integers(-10, 10**20), st.booleans(),
                         st.fractions(), st.floats(allow_nan=True), st.none())


@PROPERTY
@given(day=tricky_text,
       prices=st.dictionaries(st.text(max_size=6), _number_like, max_size=3),
       fx=st.dictionaries(st.one_of(st.text(max_size=7), st.sampled_from(["USDJPY", "EURUSD"])),
                          _number_like, max_size=3))
def test_engine_market(day: str, prices: dict[str, Any], fx: dict[str, Any]) -> None:
    try:
        market = Market.parse(day, prices, fx)
    except MarginError:
        return
    for ccy in ("USD", "JPY", "EUR"):
        try:
            assert market.rate(ccy, "JPY") > 0
        except MarginError as err:
            assert err.kind is ErrorKind.MISSING_FX


@PROPERTY
@given(qty=st.integers(-(2**64), 2**64), haircut=tricky_text, threshold=tricky_text,
       mta=tricky_text, lag=st.integers(-5, 10**6), mode=st.sampled_from(["single", "multi", ""]),
       base=st.sampled_from(["JPY", "USD", "jpy", "", "YEN"]),
       collateral=st.lists(st.sampled_from(["C1", "C2", "LOAN", "X"]), max_size=3))
def test_engine_terms(qty: int, haircut: str, threshold: str, mta: str, lag: int, mode: str,
                      base: str, collateral: list[str]) -> None:
    tokens = [Token("LOAN", "ST", "USD"), Token("C1", "ST", "JPY"), Token("C2", "CT", "JPY")]
    try:
        make_agreement(tokens, Terms(base=base, loan=LoanLeg("LOAN", qty),
                                     collateral=tuple(collateral), mode=mode,  # type: ignore[arg-type]
                                     haircut=haircut, threshold=threshold, min_transfer=mta,
                                     lag_days=lag))
    except MarginError as err:
        assert err.kind in set(ErrorKind)


def _vector_cases(fmt: str) -> list[Any]:
    cases: list[Any] = []
    for f in VECTORS:
        doc = json.loads(f.read_text())
        if doc["format"] == fmt:
            cases += doc["cases"]
    return cases


_CASES = _vector_cases("tanpo-margin-vectors/1")
_LIFECYCLE_CASES = _vector_cases("tanpo-lifecycle-vectors/1")
_JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
              st.sampled_from(_TRICKY), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=2),
                            st.dictionaries(st.text(max_size=6), inner, max_size=2)),
    max_leaves=4)


@PROPERTY
@given(case=st.sampled_from(_CASES), data=st.data())
def test_mutated_vector_cases_never_raise(case: Any, data: st.DataObject) -> None:
    """Golden vector cases with any leaf replaced by any JSON value: the runner reports, never
    raises, and reports the same thing twice."""
    paths = _paths(case)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(paths), label="path")
        value = data.draw(st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                      st.sampled_from(_TRICKY), st.text(max_size=8)),
            lambda inner: st.one_of(st.lists(inner, max_size=2),
                                    st.dictionaries(st.text(max_size=6), inner, max_size=2)),
            max_leaves=4), label="value")
        case = _replace(case, path, value)
    line = json.dumps(case)
    out = run_case_line(line)
    assert isinstance(out, dict) and "name" in out
    assert run_case_line(line) == out
    if "error" in out:
        assert out["error"]["kind"] in {k.value for k in ErrorKind}


@PROPERTY
@given(case=st.sampled_from(_LIFECYCLE_CASES), data=st.data())
def test_mutated_lifecycle_cases_never_raise(case: Any, data: st.DataObject) -> None:
    """Life-cycle vector cases with any leaf replaced by any JSON value: the runner reports,
    never raises, and reports the same thing twice."""
    paths = _paths(case)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(paths), label="path")
        case = _replace(case, path, data.draw(_JSON_VALUES, label="value"))
    line = json.dumps(case)
    out = run_lifecycle_case_line(line)
    assert isinstance(out, dict) and "name" in out
    assert ("error" in out) != ("result" in out)
    assert run_lifecycle_case_line(line) == out
    if "error" in out:
        assert out["error"]["kind"] in {k.value for k in ErrorKind}


@PROPERTY
@given(st.text(max_size=200))
def test_any_text_as_a_vector_case(text: str) -> None:
    out = run_case_line(text)
    assert isinstance(out, dict)


# ---- the oracle -----------------------------------------------------------------------------


@PROPERTY
@pytest.mark.timeout(60)
@given(text=tricky_text, tick=st.sampled_from([None, Decimal("0.1"), Decimal("0.001"),
                                               Decimal("5")]))
def test_close_texts(text: str, tick: Decimal | None) -> None:
    try:
        value = to_decimal(text, tick)
    except MalformedCloseError as err:
        assert repr(text) in str(err)
        return
    assert value.is_finite() and abs(value.adjusted()) <= 31
    if tick is not None:
        assert (Fraction(value) / Fraction(tick)).denominator == 1


_CSV_CELLS = st.one_of(st.sampled_from([*_TRICKY, "date", "close", "symbol", "2024-01-04",
                                         "2024-01-05", "1300.5", "X"]),
                       st.text(alphabet=string.printable, max_size=8))


@PROPERTY
@given(rows=st.lists(st.lists(_CSV_CELLS, min_size=0, max_size=4), max_size=6),
       header=st.sampled_from(["date,close", "date,symbol,close", "Date,Close,Volume", "", "x"]),
       long_table=st.booleans())
def test_market_data_files(tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]],
                           header: str, long_table: bool) -> None:
    root = tmp_path_factory.mktemp("md")
    body = header + "\n" + "\n".join(",".join(r) for r in rows) + "\n"
    target = root / ("closes.csv" if long_table else "X.csv")
    target.write_text(body, encoding="utf-8")
    src = FileSource(target if long_table else root)
    try:
        got = src.closes(["X"], date(2024, 1, 1), date(2024, 12, 31))
    except SourceError as err:
        assert target.name in str(err) or "X" in str(err)
        return
    assert set(got) == {"X"}
    for d, text in got["X"].items():
        assert isinstance(d, date) and isinstance(text, str)


_LIMITS = LimitsConfig()
_XTKS = get_calendar("XTKS")


@PROPERTY
@given(closes=st.dictionaries(st.dates(date(2024, 1, 1), date(2024, 1, 31)), tricky_text,
                              max_size=6),
       tick=st.sampled_from([None, Decimal("0.1")]))
def test_validation_of_any_closes(closes: dict[date, str], tick: Decimal | None) -> None:
    """assess() turns any source text into a batch or refusals, never an exception."""
    obs = Observation("JP8306", "8306.T", _XTKS, closes, tick)
    for d in (date(2024, 1, 15), date(2024, 1, 31)):
        result = assess(d, [obs], None, [], _LIMITS)
        assert result.ok or result.refusals or result.waiting
        for r in result.refusals:
            assert r.key == "JP8306" and r.reason


@PROPERTY
@given(_values)
def test_oracle_config_of_any_shape(raw: Any) -> None:
    try:
        parse_config(raw, origin="oracle.yaml")
    except ConfigError as err:
        assert "oracle.yaml" in str(err)


@PROPERTY
@given(st.sampled_from(["instruments", "fx", "limits", "schedule", "sweep", "source", "http"]),
       _values)
def test_oracle_config_sections_of_any_shape(section: str, value: Any) -> None:
    try:
        parse_config({section: value}, origin="oracle.yaml")
    except ConfigError as err:
        assert "oracle.yaml" in str(err)
