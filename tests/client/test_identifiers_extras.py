"""A token's market identifiers (``Token.identifiers``, ``token define --identifier``) and terms'
CDM extras (``Terms.cdm_extras``, ``cdmExtras`` in terms JSON): model round trips, the checks
made before anything is sent, and the CLI over the fake ledger."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tanpo.client.cli_terms import (
    InputError,
    check_cdm_extras,
    check_token_identifiers,
    parse_token_identifiers,
    terms_from_json,
)
from tanpo.client.models import TOKEN_IDENTIFIER_TYPES, Agreement, Terms, Token
from tests.fakes import ACTIVE_TERMS, FakeNetwork

EXTRAS: dict[str, Any] = {
    "dividendTerms": {"manufacturedIncomeRequirement": {"totalRatio": 1.0}},
    "deliveryMethod": "DeliveryVersusPayment",
    "price": {"value": 1234.5, "unit": {"currency": "JPY"}},
    "settlementDates": ["2024-01-03", "2024-03-29"],
}


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    return FakeNetwork().install(monkeypatch)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# ---- models ----------------------------------------------------------------------------------


def test_token_identifiers_round_trip() -> None:
    raw = {"id": "JP8306", "kind": "ST", "currency": "JPY", "quoteConvention": "per-unit",
           "assetClass": "equity", "isin": "JP3902900004", "ticker": "8306",
           "identifiers": {"SEDOL": "6335171", "FIGI": "BBG000BQWNP4"}}
    token = Token.from_json(raw)
    assert token.identifiers == {"SEDOL": "6335171", "FIGI": "BBG000BQWNP4"}
    spec = token.to_spec()
    assert list(spec["identifiers"]) == ["FIGI", "SEDOL"]  # in order, as the chaincode stores
    assert Token.from_json(spec) == token
    assert hash(token) == hash(replace(token, identifiers={}))  # still hashable
    assert token != replace(token, identifiers={"SEDOL": "6335171"})
    plain = Token("JPY", "CT", "JPY", "per-unit", "cash")
    assert plain.identifiers == {} and "identifiers" not in plain.to_spec()
    assert Token.from_json(plain.to_spec()).identifiers == {}


def test_token_identifier_by_type() -> None:
    token = Token("JP8306", "ST", "JPY", "per-unit", "equity", isin="JP3902900004",
                  ticker="8306", identifiers={"SEDOL": "6335171"})
    assert token.identifier("ISIN") == "JP3902900004"
    assert token.identifier("ticker") == "8306"
    assert token.identifier("ExchangeCode") == "8306"  # the ticker, with no explicit one
    assert token.identifier("SEDOL") == "6335171"
    assert token.identifier("CUSIP") == ""
    explicit = replace(token, identifiers={"ExchangeCode": "XTKS:8306"})
    assert explicit.identifier("ExchangeCode") == "XTKS:8306"
    assert explicit.identifier("ticker") == "8306"
    assert Token("X", "ST", "JPY", "per-unit").identifier("ISIN") == ""


def test_terms_cdm_extras_round_trip() -> None:
    terms = replace(ACTIVE_TERMS, id="AGR-X", cdm_extras=EXTRAS)
    doc = terms.to_json()
    assert doc["cdmExtras"] == EXTRAS
    back = Terms.from_json(json.loads(json.dumps(doc)))
    assert back == terms and back.cdm_extras == EXTRAS
    assert "cdmExtras" not in ACTIVE_TERMS.to_json()
    assert Terms.from_json(ACTIVE_TERMS.to_json()).cdm_extras is None
    empty = replace(ACTIVE_TERMS, cdm_extras={})
    assert empty.to_json()["cdmExtras"] == {}
    assert Terms.from_json(empty.to_json()) == empty != ACTIVE_TERMS
    assert terms != replace(terms, cdm_extras={**EXTRAS, "deliveryMethod": "FreeOfPayment"})
    assert hash(terms) == hash(replace(terms, cdm_extras=None))  # still hashable
    agreement = Agreement.from_json({"id": "AGR-X", "status": "ACTIVE", "terms": doc,
                                     "proposer": "bank-a", "history": []})
    assert agreement.terms.cdm_extras == EXTRAS


# ---- checks before sending ---------------------------------------------------------------------


def test_identifier_checks_mirror_the_chaincode() -> None:
    assert sorted(TOKEN_IDENTIFIER_TYPES) == list(TOKEN_IDENTIFIER_TYPES)  # as messages list them
    ok = {"SEDOL": "6335171", "CUSIP": "037833100", "FIGI": "BBG000B9XRY4",
          "BBGTICKER": "8306 JT Equity", "RIC": "JP10YT=RR", "Wertpapier": "865985",
          "ExchangeCode": "XTKS:8306", "ClearingCode": "A-1/2"}
    assert list(check_token_identifiers(ok, "X")) == sorted(ok)
    refused = [
        ({"ISIN": "JP3902900004"}, "give the ISIN in the isin field"),
        ({"sedol": "6335171"}, "(did you mean SEDOL?)"),
        ({"Ticker": "8306"}, "expected one of BBGID, BBGTICKER, CUSIP"),
        ({"SEDOL": "633517"}, 'invalid SEDOL \'633517\' for token X: expected 7 capital'),
        ({"CUSIP": "03783310a"}, "invalid CUSIP"),
        ({"FIGI": "XYZ000B9XRY4"}, "starting with BBG"),
        ({"BBGTICKER": "8306  JT"}, "single spaces"),
        ({"ExchangeCode": "a b"}, "1 to 32 characters"),
        ({"ExchangeCode": "x" * 33}, "1 to 32 characters"),
        ({**ok, "BBGID": "BBG000B9XRY4"}, "token X has 9 identifiers; at most 8"),
    ]
    for ids, message in refused:
        with pytest.raises(InputError) as exc:
            check_token_identifiers(ids, "X")
        assert message in str(exc.value), (ids, str(exc.value))
    assert parse_token_identifiers(["SEDOL=6335171", " FIGI = BBG000B9XRY4 "], "X") == {
        "FIGI": "BBG000B9XRY4", "SEDOL": "6335171"}
    for items, message in ((["SEDOL"], "expected TYPE=VALUE"), (["=1"], "expected TYPE=VALUE"),
                           (["SEDOL=6335171", "SEDOL=6335172"], "given twice")):
        with pytest.raises(InputError) as exc:
            parse_token_identifiers(items, "X")
        assert message in str(exc.value)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_cdm_extras_checks_mirror_the_chaincode() -> None:
    assert check_cdm_extras(nested(16)) == nested(16)
    big = {"x": "y" * (16384 - 8)}
    assert len(json.dumps(big, separators=(",", ":"))) == 16384
    check_cdm_extras(big)
    for value, message in (
        ([1], "expected a JSON object, got an array"),
        ("x", "expected a JSON object, got a string"),
        (None, "expected a JSON object, got null"),
        (True, "expected a JSON object, got true or false"),
        (3, "expected a JSON object, got a number"),
        ({"x": "y" * (16384 - 7)}, "16385 bytes; at most 16384"),
        ({"x": "é" * 8200}, "16408 bytes; at most 16384"),  # as sent: UTF-8, 2 bytes each
        (nested(17), "nested more than 16 levels deep at cdmExtras" + ".a" * 16),
        ({"l": [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}, "deep at cdmExtras.l" + "[0]" * 15),
        ({"x": float("nan")}, "not JSON"),
    ):
        with pytest.raises(InputError) as exc:
            check_cdm_extras(value)
        assert message in str(exc.value), (value if not isinstance(value, dict) else "", exc.value)


def test_a_terms_file_carries_cdm_extras() -> None:
    doc = replace(ACTIVE_TERMS, id="AGR-X", cdm_extras=EXTRAS).to_json()
    assert terms_from_json(doc, "t.json").cdm_extras == EXTRAS
    assert terms_from_json({**doc, "cdmExtras": {}}, "t.json").cdm_extras == {}
    for bad, message in (([], "got an array"), (None, "got null"), (nested(17), "16 levels")):
        with pytest.raises(InputError) as exc:
            terms_from_json({**doc, "cdmExtras": bad}, "t.json")
        assert str(exc.value).startswith("t.json: invalid cdmExtras") and message in str(exc.value)


# ---- the command line --------------------------------------------------------------------------


def test_token_define_takes_identifiers(world: FakeNetwork) -> None:
    result = run("token", "define", "JP9984", "--kind", "ST", "--currency", "JPY",
                 "--ticker", "9984", "--asset-class", "equity",
                 "--identifier", "SEDOL=6770620", "--identifier", "FIGI=BBG000CLY9H4", "--json")
    assert result.exit_code == 0, result.output
    sent = world.calls("operator")[0][1]
    assert sent.identifiers == {"FIGI": "BBG000CLY9H4", "SEDOL": "6770620"}
    assert sent.to_spec()["identifiers"] == {"FIGI": "BBG000CLY9H4", "SEDOL": "6770620"}
    assert json.loads(result.output)["identifiers"] == {"FIGI": "BBG000CLY9H4",
                                                         "SEDOL": "6770620"}
    shown = run("token", "show", "JP9984").output
    assert "SEDOL" in shown and "6770620" in shown and "BBG000CLY9H4" in shown


@pytest.mark.parametrize(("identifier", "message"), [
    ("SEDOL", "expected TYPE=VALUE"),
    ("ISIN=JP3902900004", "give the ISIN in the isin field"),
    ("SEDOL=12", "invalid SEDOL"),
    ("Bloomberg=X", "expected one of"),
])
def test_token_define_refuses_bad_identifiers_before_sending(world: FakeNetwork,
                                                             identifier: str,
                                                             message: str) -> None:
    result = run("token", "define", "X1", "--kind", "ST", "--currency", "JPY", "--ticker", "X",
                 "--identifier", identifier)
    assert result.exit_code == 2, result.output
    assert message in result.output and "--identifier" in result.output
    assert world.log == [] and world.opened == []


def test_token_define_from_a_file_with_identifiers(world: FakeNetwork, tmp_path: Path) -> None:
    spec = tmp_path / "t.json"
    body = {"id": "US-AAPL", "kind": "ST", "currency": "USD", "quoteConvention": "per-unit",
            "assetClass": "equity", "ticker": "AAPL", "identifiers": {"CUSIP": "037833100"}}
    spec.write_text(json.dumps(body))
    result = run("token", "define", "--file", str(spec), "--json")
    assert result.exit_code == 0, result.output
    assert world.calls("operator")[0][1].identifiers == {"CUSIP": "037833100"}
    spec.write_text(json.dumps({**body, "identifiers": {"CUSIP": "0378"}}))
    bad = run("token", "define", "--file", str(spec))
    assert bad.exit_code == 2 and "invalid CUSIP" in bad.output
    spec.write_text(json.dumps({**body, "identifiers": ["CUSIP"]}))
    assert run("token", "define", "--file", str(spec)).exit_code == 2
    assert run("token", "define", "--file", str(spec), "--identifier",
               "SEDOL=6335171").exit_code == 2
    assert len(world.calls("operator")) == 1


def test_cdm_extras_through_propose_show_and_export(world: FakeNetwork, tmp_path: Path) -> None:
    terms = replace(ACTIVE_TERMS, id="AGR-X", cdm_extras=EXTRAS)
    path = tmp_path / "terms.json"
    path.write_text(json.dumps(terms.to_json()))
    dry = run("agreement", "propose", "--file", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["cdmExtras"] == EXTRAS
    done = run("agreement", "propose", "--file", str(path))
    assert done.exit_code == 0, done.output
    assert world.agreements["AGR-X"].terms.cdm_extras == EXTRAS
    shown = run("agreement", "show", "AGR-X").output
    assert "CDM extras" in shown and "deliveryMethod, dividendTerms, price" in shown
    assert json.loads(run("agreement", "show", "AGR-X", "--json").output)["terms"][
        "cdmExtras"] == EXTRAS
    exported = tmp_path / "out.json"
    assert run("agreement", "export", "AGR-X", "--out", str(exported)).exit_code == 0
    assert json.loads(exported.read_text())["cdmExtras"] == EXTRAS
    again = run("agreement", "propose", "--file", str(exported), "--dry-run")
    assert json.loads(again.output) == terms.to_json()
    path.write_text(json.dumps({**terms.to_json(), "cdmExtras": ["not", "an", "object"]}))
    refused = run("agreement", "propose", "--file", str(path))
    assert refused.exit_code == 2 and "invalid cdmExtras" in refused.output


def test_the_bounds_are_the_chaincodes() -> None:
    import re

    from tanpo.client import cli_terms
    from tanpo.client.models import MAX_TOKEN_IDENTIFIERS

    contracts = Path(__file__).resolve().parents[2] / "chaincode" / "contracts"
    ids = (contracts / "tokenids.go").read_text(encoding="utf-8")
    rules = ids[ids.index("tokenIdentifierRules = map"):ids.index("tokenIdentifierTypes =")]
    assert sorted(re.findall(r'^\s+"(\w+)":', rules, re.M)) == list(TOKEN_IDENTIFIER_TYPES)
    assert f"maxTokenIdentifiers = {MAX_TOKEN_IDENTIFIERS}\n" in ids
    extras = (contracts / "cdmextras.go").read_text(encoding="utf-8")
    assert re.search(rf"maxCdmExtrasBytes = {cli_terms.MAX_CDM_EXTRAS_BYTES}\n", extras)
    assert re.search(rf"maxCdmExtrasDepth = {cli_terms.MAX_CDM_EXTRAS_DEPTH}\n", extras)
