"""Reports: as-of stability, comparison after corrections, diversification, JSON, files, CLI."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanpo.risk import AgreementHolding, MemoryFactors, MemorySource, Regime, RiskError, compare
from tanpo.risk.cli import risk, set_ledger_source_factory
from tanpo.risk.output import write_all

from .test_risk_var import DAY, cash, equity, report, series, window_of

N = 40


def _factors() -> MemoryFactors:
    return MemoryFactors(
        {
            "price:A": series("A", [100 + (i * 7) % 13 - (i // 9) for i in range(N)]),
            "price:B": series("B", [60 + (i * 5) % 11 + (i // 7) for i in range(N)]),
        }
    )


def _source() -> MemorySource:
    source = MemorySource(
        [cash("USD"), equity("A"), equity("B")],
        [
            # bank-a lends A to fund-1 against B; bank-a lends cash to fund-2 against A
            AgreementHolding("G1", "bank-a", "fund-1", "USD", {"A": 10_000}, {"B": 17_000}),
            AgreementHolding("G2", "bank-a", "fund-2", "USD", {"USD": 900_000}, {"A": 9_500}),
        ],
    )
    source.post(DAY, {"A": Fraction("100.25"), "B": Fraction("60.10")})
    return source


def test_same_date_and_version_give_byte_identical_json() -> None:
    first = report(_source(), _factors(), window_of(N)).to_json()
    second = report(_source(), _factors(), window_of(N)).to_json()
    assert first == second
    doc = json.loads(first)
    assert doc["data_version"] == "1"
    assert doc["inputs_digest"].startswith("sha256:")
    assert list(doc) == sorted(doc)
    assert first == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    # exact decimals as strings
    g1 = doc["counterparties"][0]
    assert g1["figures"]["lent"] == {"exact": "1002500", "rounded": "1002500.00"}
    assert g1["figures"]["collateral"]["exact"] == "1021700"


def test_corrected_price_gives_new_version_and_compare_names_the_changes() -> None:
    source = _source()
    old = report(source, _factors(), window_of(N))
    version = source.correct(DAY, {"B": Fraction("58.90")})
    assert version == "2"
    new = report(source, _factors(), window_of(N))
    assert new.data_version == "2"
    assert new.to_json() != old.to_json()
    # the old version can still be re-run exactly
    again = report(source, _factors(), window_of(N), version="1")
    assert again.to_json() == old.to_json()

    diff = compare(old, new)
    assert (diff.old_version, diff.new_version) == ("1", "2")
    assert [(c.kind, c.name, c.old, c.new) for c in diff.inputs] == [("price", "B", "60.1", "58.9")]
    changed = {(c.scope, c.figure) for c in diff.figures}
    # B is fund-1's collateral only: its figures change, fund-2's do not
    assert ("bank-a->fund-1", "collateral") in changed
    assert ("bank-a->fund-1", "net") in changed
    assert ("bank-a->fund-1", "var") in changed
    assert ("total", "collateral") in changed
    assert not any(scope == "bank-a->fund-2" for scope, _ in changed)
    coll = next(c for c in diff.figures if (c.scope, c.figure) == ("bank-a->fund-1", "collateral"))
    assert coll.delta == 17_000 * (Fraction("58.90") - Fraction("60.10"))
    # comparing JSON documents read back from files gives the same answer
    assert compare(json.loads(old.to_json()), json.loads(new.to_json())) == diff
    assert compare(old, again).unchanged


def test_unknown_version_is_refused() -> None:
    with pytest.raises(RiskError, match=r"no price version '7'"):
        report(_source(), _factors(), window_of(N), version="7")


def test_diversification_across_counterparties() -> None:
    r = report(_source(), _factors(), window_of(N))
    t = r.total
    vars_ = [cp.figures.var for cp in r.counterparties]
    assert t.var_undiversified == sum(vars_)
    assert t.diversification == t.var_undiversified - t.var
    # fund-1's exposure rises when A rises, fund-2's when A falls: they offset
    assert t.diversification is not None and t.diversification > 0
    assert t.capital == sum(cp.figures.capital for cp in r.counterparties)
    assert t.exposure == sum(cp.figures.exposure for cp in r.counterparties)


def test_files_and_cli_with_ledger_factory(tmp_path: Path) -> None:
    r = report(_source(), _factors(), window_of(N), Regime.BASEL2)
    paths = write_all(r, tmp_path)
    assert [p.name for p in paths] == [
        "risk-2023-04-28-basel2.json",
        "risk-2023-04-28-basel2.csv",
        "risk-2023-04-28-basel2.png",
    ]
    rows = list(csv.DictReader(paths[1].open()))
    assert [row["lender"] for row in rows] == ["bank-a", "bank-a", "TOTAL"]
    assert rows[-1]["var_undiversified"] != ""
    assert paths[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    runner = CliRunner()
    # Without a running network, --ledger says how to get one.
    result = runner.invoke(risk, ["report", "--ledger", "--date", "2023-04-28"],
                           env={"TANPO_STATE_DIR": str(tmp_path / "no-network")})
    assert result.exit_code != 0
    assert "tanpo network up" in result.output
    set_ledger_source_factory(_source)
    try:
        result = runner.invoke(
            risk,
            ["report", "--ledger", "--date", "2023-04-28", "--regime", "economic", "--json"],
        )
    finally:
        set_ledger_source_factory(None)
    # the memory source's prices exist, but its tokens have no history in data/market
    assert result.exit_code != 0
    assert "no history for risk factor price:A" in result.output


def test_cli_compare(tmp_path: Path) -> None:
    source = _source()
    old = tmp_path / "old.json"
    new = tmp_path / "new.json"
    old.write_text(report(source, _factors(), window_of(N)).to_json())
    source.correct(DAY, {"A": Fraction("101")})
    new.write_text(report(source, _factors(), window_of(N)).to_json())
    result = CliRunner().invoke(risk, ["compare", str(old), str(new), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["inputs"] == [{"kind": "price", "name": "A", "new": "101", "old": "100.25"}]
    scopes = {c["scope"] for c in doc["figures"]}
    assert scopes == {"bank-a->fund-1", "bank-a->fund-2", "total"}
    text = CliRunner().invoke(risk, ["compare", str(old), str(new)])
    assert text.exit_code == 0 and "data version 1 -> 2" in text.output
