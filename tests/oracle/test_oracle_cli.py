"""``tanpo oracle`` through click's CliRunner, end to end on the in-memory ledger."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tanpo.oracle.cli import LEDGER_FACTORIES, register_ledger
from tanpo.oracle.ledger import Ledger
from tanpo.oracle.memledger import FakeAgreement, MemoryLedger

FIXTURES = Path(__file__).parents[1] / "fixtures" / "oracle"
MARKET = str(FIXTURES / "market")
MADE: list[MemoryLedger] = []


def recording_factory(ctx: click.Context) -> Ledger:
    """A factory loaded with ``--ledger module:function``."""
    ledger = MemoryLedger.demo([("JP8306", "JPY")])
    MADE.append(ledger)
    return ledger


def tanpo(tmp_path: Path, *args: str, ledger: str = "memory") -> Result:
    runner = CliRunner()
    return runner.invoke(main, ["oracle", "--ledger", ledger, "--state-dir",
                                str(tmp_path / "state"), *args])


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_oracle_is_part_of_the_tanpo_command() -> None:
    result = CliRunner().invoke(main, ["oracle", "--help"])
    assert result.exit_code == 0
    for command in ("run", "replay", "status", "confirm", "config"):
        assert command in result.output


def test_replay_a_window(tmp_path: Path) -> None:
    result = tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-10",
                   "--source", MARKET, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "posted 8 date(s)" in result.stdout
    assert "calls 40" in result.stdout
    logs = json_lines(result.stderr)
    assert logs[0]["event"] == "config"
    assert sum(1 for e in logs if e["event"] == "posted") == 8
    assert sum(1 for e in logs if e["event"] == "swept") == 8


def test_replay_with_a_progress_bar_and_text_logs(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["oracle", "--ledger", "memory", "--log-format", "text",
                                  "--state-dir", str(tmp_path / "s"), "replay", "--from",
                                  "2009-07-01", "--to", "2009-07-02", "--source", MARKET])
    assert result.exit_code == 0, result.output
    assert "posted date=" in result.stderr


def test_refusal_status_confirm_and_replay_again(tmp_path: Path) -> None:
    window = ["replay", "--from", "2008-10-01", "--to", "2008-10-10", "--source", MARKET,
              "--no-progress"]
    first = tanpo(tmp_path, *window)
    # the date posts without the two pairs (the JPY book uses neither) and the replay goes on,
    # but says something was held back
    assert first.exit_code == 3
    assert "held back: 2008-10-08" in first.stderr
    assert "posted 8 date(s)" in first.stdout
    refused = [e for e in json_lines(first.stderr) if e["event"] == "held-back"]
    assert {(e["instrument"], e["date"], e["rule"]) for e in refused} == {
        ("USDJPY", "2008-10-08", "move"), ("EURUSD", "2008-10-08", "move")}

    status = tanpo(tmp_path, "status")
    assert status.exit_code == 0
    doc = json.loads(tanpo(tmp_path, "status", "--json").stdout)
    assert doc["blocked"] is None and doc["ledger"]["last_swept"] == "2008-10-10"
    assert {(r["date"], r["instrument"]) for r in doc["refusal_log"]} == {
        ("2008-10-08", "USDJPY"), ("2008-10-08", "EURUSD")}

    wrong = tanpo(tmp_path, "confirm", "2008-10-08", "USDJPY", "--value", "99.73")
    assert wrong.exit_code == 2 and "add --manual" in wrong.output
    for pair, value in (("USDJPY", "99.73"), ("EURUSD", "1.3680")):
        ok = tanpo(tmp_path, "confirm", "2008-10-08", pair, "--value", value, "--manual",
                   "--by", "ops", "--note", "FRED noon rate")
        assert ok.exit_code == 0, ok.output
        assert f"manual value: {pair} {value} for 2008-10-08 by ops" in ok.stdout
    assert "confirmation on file: USDJPY 99.73 by ops (manual)" in tanpo(
        tmp_path, "status").stdout

    second = tanpo(tmp_path, *window)  # (the memory ledger starts empty on every command)
    assert second.exit_code == 0, second.output
    assert "posted 8 date(s)" in second.stdout


def test_confirm_the_held_back_value(tmp_path: Path) -> None:
    window = ["replay", "--from", "2008-10-01", "--to", "2008-10-10", "--source", MARKET,
              "--no-progress"]
    assert tanpo(tmp_path, *window).exit_code == 3
    ok = tanpo(tmp_path, "confirm", "2008-10-08", "EURUSD")
    assert ok.exit_code == 0 and "confirmed: EURUSD 1.49571" in ok.stdout
    confirmations = json.loads((tmp_path / "state" / "confirmations.json").read_text())
    assert confirmations[0]["value"] == "1.49571" and confirmations[0]["manual"] is False
    # USDJPY is still held back from 2008-10-08; EURUSD now posts
    again = tanpo(tmp_path, *window)
    assert again.exit_code == 3
    held = [e for e in json_lines(again.stderr) if e["event"] == "held-back"]
    assert [e["instrument"] for e in held if e["date"] == "2008-10-08"] == ["USDJPY"]


@pytest.mark.parametrize(("args", "message"), [
    (["2008-10-08", "XAUUSD"], "not a configured token or FX pair"),
    (["08/10/2008", "USDJPY"], "expected YYYY-MM-DD"),
    (["2008-10-08", "USDJPY"], "no held-back value is on record"),
    (["2008-10-08", "USDJPY", "--value", "abc"], "not a decimal number"),
    (["2008-10-08", "USDJPY", "--value", "-1", "--manual"], "must be positive"),
    (["2008-10-08", "USDJPY", "--manual"], "--manual needs --value"),
])
def test_confirm_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = tanpo(tmp_path, "confirm", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "state" / "confirmations.json").exists()


def test_run_once_posts_what_is_due(tmp_path: Path) -> None:
    result = tanpo(tmp_path, "run", "--once", "--source", MARKET, "--at",
                   "2009-07-02T23:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert "2009-07-02 posted: 5 agreements, 5 calls" in result.stdout
    doc = json.loads(tanpo(tmp_path, "status", "--json").stdout)
    assert doc["mode"] == "live" and doc["ledger"]["last_posted"] == "2009-07-02"
    assert doc["next"]["date"] == "2009-07-03"


def test_run_once_before_the_close_has_nothing_due(tmp_path: Path) -> None:
    result = tanpo(tmp_path, "run", "--once", "--source", MARKET, "--at", "2009-07-06T12:00")
    assert result.exit_code == 0
    assert "2009-07-03 posted" in result.stdout  # Friday's date, the latest due on Monday noon


def test_unknown_ledger_name_is_a_clear_error(tmp_path: Path) -> None:
    assert "fabric" in LEDGER_FACTORIES  # the default ledger is registered
    result = tanpo(tmp_path, "run", "--once", ledger="no-such-ledger")
    assert result.exit_code == 2
    assert "no ledger named 'no-such-ledger'" in result.output and "fabric" in result.output


def test_ledger_factory_hooks(tmp_path: Path) -> None:
    MADE.clear()
    result = tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-01",
                   "--source", MARKET, "--no-progress",
                   ledger=f"{__name__}:recording_factory")
    assert result.exit_code == 0, result.output
    (ledger,) = MADE
    assert ledger.last_swept_date() is not None
    register_ledger("test-registered", recording_factory)
    try:
        assert tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-01",
                     "--source", MARKET, "--no-progress",
                     ledger="test-registered").exit_code == 0
        assert len(MADE) == 2
    finally:
        LEDGER_FACTORIES.pop("test-registered")
    bad = tanpo(tmp_path, "status", "--json", ledger="no.such.module:factory")
    assert bad.exit_code == 0  # status reads the status file only; it never needs a ledger
    bad = tanpo(tmp_path, "run", "--once", ledger="no.such.module:factory")
    assert bad.exit_code == 2 and "cannot load ledger factory" in bad.output


def test_status_before_anything_ran(tmp_path: Path) -> None:
    result = tanpo(tmp_path, "status")
    assert result.exit_code == 0 and "no status yet" in result.stdout


def test_corrupt_status_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "status.json").write_text("{not json")
    result = tanpo(tmp_path, "status")
    assert result.exit_code == 1 and "is not valid JSON" in result.output


def test_config_command_and_bad_config(tmp_path: Path) -> None:
    shown = tanpo(tmp_path, "config")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["fx"][0]["pair"] == "USDJPY"
    bad = tmp_path / "bad.yaml"
    bad.write_text("limits: {max_move: lots}")
    result = CliRunner().invoke(main, ["oracle", "--config", str(bad), "config"])
    assert result.exit_code == 1 and "limits.max_move" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2009-07-10", "--to", "2009-07-01"], "is before --from"),
    (["--from", "2009-7-1", "--to", "2009-07-01"], "expected YYYY-MM-DD"),
    (["--from", "2009-07-01", "--to", "2009-07-02", "--days", "some-days"], "unknown valuation"),
])
def test_replay_argument_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = tanpo(tmp_path, "replay", *args, "--source", MARKET, "--no-progress")
    assert result.exit_code == 2 and message in result.output


def test_replay_source_errors_are_clear(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-02",
                   "--source", str(empty), "--no-progress")
    assert result.exit_code == 1 and "no market data file for '8306.T'" in result.output


def poisoned_factory(ctx: click.Context) -> Ledger:
    """The demo book plus an agreement whose collateral no source prices."""
    ledger = MemoryLedger.demo([("JP8306", "JPY")])
    bad = FakeAgreement("BAD-1", "bank-a", "bank-b", "JPY", "JP9999", 100, "JPY")
    return MemoryLedger(agreements=[*ledger.agreements, bad],
                        token_currency={**ledger.token_currency, "JP9999": "JPY"})


def failing_factory(ctx: click.Context) -> Ledger:
    ledger = MemoryLedger.demo([("JP8306", "JPY")])
    ledger.fail_after_calls = 2
    return ledger


def test_calls_that_fail_alone_exit_6_and_show_in_the_status(tmp_path: Path) -> None:
    """Issue 16 items 1 and 5: the replay goes to the end, says what failed, exits 6."""
    result = tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-03",
                   "--source", MARKET, "--no-progress", ledger=f"{__name__}:poisoned_factory")
    assert result.exit_code == 6, result.output
    assert "posted 3 date(s)" in result.stdout and "failed calls 3" in result.stdout
    assert "margin calls failed alone: 1 agreement(s)" in result.stderr
    status = tanpo(tmp_path, "status")
    assert "oracle degraded" in status.stdout and "BAD-1" in status.stdout
    doc = json.loads(tanpo(tmp_path, "status", "--json").stdout)
    (failure,) = doc["failures"]
    assert (failure["agreement"], failure["since"], failure["attempts"]) == (
        "BAD-1", "2009-07-01", 3)


def test_a_failed_replay_leaves_the_error_in_the_status(tmp_path: Path) -> None:
    result = tanpo(tmp_path, "replay", "--from", "2009-07-01", "--to", "2009-07-03",
                   "--source", MARKET, "--no-progress", ledger=f"{__name__}:failing_factory")
    assert result.exit_code == 1 and "peer went away mid-sweep" in result.output
    status = tanpo(tmp_path, "status")
    assert "oracle error" in status.stdout and "peer went away mid-sweep" in status.stdout
