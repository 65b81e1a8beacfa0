"""The `tanpo scenario` commands."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tanpo.client.cli_main import main

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_run_json_has_stable_keys() -> None:
    result = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml"), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert set(doc) >= {"calls", "metrics"}
    (call,) = doc["calls"]
    assert set(call) >= {
        "date",
        "agreement",
        "triggered",
        "transfers",
        "gap_before",
        "gap_after",
        "issuances",
    }
    assert call["transfers"] == [
        {
            "token": "US-STOCK",
            "quantity": 131,
            "from": "bank-a",
            "to": "bank-b",
            "value": "33012/5",
            "settles": "2024-01-03",
        }
    ]
    assert call["gap_before"] == "6610"
    assert doc["metrics"]["A1"]["margin_calls"] == 1


def test_run_prints_tables() -> None:
    example = str(SCENARIOS / "cross-currency-example.yaml")
    result = CliRunner().invoke(main, ["scenario", "run", example])
    assert result.exit_code == 0, result.output
    assert "131 US-STOCK bank-a→bank-b" in result.output
    assert "margin calls" in result.output


def test_on_chain_without_a_network_says_how_to_start_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["scenario", "run", str(SCENARIOS / "cross-currency-example.yaml"), "--on-chain"],
        env={"TANPO_STATE_DIR": str(tmp_path / "none")},
    )
    assert result.exit_code != 0
    assert "tanpo network up" in result.output


def test_bad_file_reports_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (SCENARIOS / "cross-currency-example.yaml").read_text().replace("mode: single", "mode: x")
    )
    for args in (["run", str(bad)], ["validate", str(bad)]):
        result = CliRunner().invoke(main, ["scenario", *args])
        assert result.exit_code == 1
        assert f"{bad}:23: agreements[0].mode: expected one of 'single', 'multi'" in result.output


def test_paper_json_and_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["scenario", "paper", "--case", "1", "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    case = doc["cases"]["1"]
    assert case["loan_jpy"] == 6_983_450_000
    assert set(case["models"]) == {"0", "1", "2", "3", "4"}
    assert case["models"]["0"]["issuances"] == case["models"]["0"]["margin_calls"] == 60
    assert {p.name for p in tmp_path.iterdir()} == {"case1.png", "case1_daily.csv", "summary.csv"}


def test_paper_tables() -> None:
    result = CliRunner().invoke(
        main, ["scenario", "paper", "--case", "2", "--model", "3", "--no-files"]
    )
    assert result.exit_code == 0, result.output
    assert "% of model 0" in " ".join(result.output.split())
    assert "31 / 0" in result.output


def test_compare_json() -> None:
    result = CliRunner().invoke(main, ["scenario", "compare", "--window", "normal", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)["normal"]["runs"]
    assert [r["collaterals"] for r in runs] == [1, 1, 5, 5]
    assert runs[0]["margin_calls_index"] == "1.0000"
    assert runs[1]["margin_calls"] < runs[0]["margin_calls"]
    assert runs[0]["loan_jpy"] == runs[2]["loan_jpy"] == 6_983_450_000


def test_compare_names_the_net_credit_amount_once() -> None:
    """The indexed exposure is the study's net credit amount (before each call), not the
    after-call rounding residual that an earlier version indexed under a similar name."""
    result = CliRunner().invoke(main, ["scenario", "compare", "--window", "normal"],
                                terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "net credit exposure" not in text
    assert text.count("1.00 = net credit amount") == 1
    assert "before its margin call" in text
