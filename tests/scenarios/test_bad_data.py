"""Bad market data and bad files through the oracle's file source and the CLI.

Each case is a clear error naming the input (file, line or instrument and date) and nothing is
written: no price batch from the bad date on, no sweep. What ``test_oracle_sources.py`` and
``test_oracle_validation.py`` already cover (an empty file, a missing close column, a bad date
format, a duplicated date in a per-symbol file, a short row, a missing file, path-like symbols,
malformed and non-positive closes, stale and moving prices) is not repeated here; this file adds
wrong encodings, NUL bytes, long tables with missing columns or duplicated rows, impossible
dates, absurd prices, unknown tokens and symbols, and bad configuration and scenario files,
end to end through ``tanpo oracle replay`` and ``tanpo scenario``.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path
from typing import ClassVar

import click
import pytest
from click.testing import CliRunner, Result

from tanpo.client.cli_main import main
from tanpo.oracle.config import ConfigError, load_config
from tanpo.oracle.ledger import Ledger, LedgerError, PriceBatch
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.sources import FileSource, SourceError
from tanpo.scenarios.errors import ScenarioError
from tanpo.scenarios.loader import load_scenario

FIXTURES = Path(__file__).parents[1] / "fixtures" / "oracle" / "market"
D = date.fromisoformat
WINDOW = ["--from", "2009-07-01", "--to", "2009-07-10"]

# ---- a ledger the CLI builds through --ledger tests.unit.test_bad_data:<factory> --------------

MADE: list[MemoryLedger] = []


class StrictLedger(MemoryLedger):
    """The in-memory ledger, refusing instruments it has no token for, in the chaincode's words."""

    known: ClassVar[frozenset[str]] = frozenset({"JP8306", "JP8604", "JP4901", "JP7013", "JP8031"})

    def post_prices(self, batch: PriceBatch) -> None:
        for token in batch.prices:
            if token not in self.known:
                raise LedgerError(f"unknown instrument {token}: no token with that id")
        super().post_prices(batch)


def recording_factory(ctx: click.Context) -> Ledger:
    ledger = MemoryLedger.demo([("JP8306", "JPY"), ("JP8604", "JPY"), ("JP4901", "JPY"),
                                ("JP7013", "JPY"), ("JP8031", "JPY")])
    MADE.append(ledger)
    return ledger


def strict_factory(ctx: click.Context) -> Ledger:
    demo = recording_factory(ctx)
    MADE.pop()
    ledger = StrictLedger()
    ledger.__dict__.update(demo.__dict__)
    MADE.append(ledger)
    return ledger


def replay(tmp_path: Path, market: Path, *extra: str, factory: str = "recording_factory",
           config: Path | None = None) -> tuple[Result, MemoryLedger]:
    args = ["oracle", "--ledger", f"{__name__}:{factory}", "--state-dir", str(tmp_path / "state")]
    if config is not None:
        args[1:1] = ["--config", str(config)]
    MADE.clear()
    result = CliRunner().invoke(main, [*args, "replay", *WINDOW, "--source", str(market),
                                       "--no-progress", *extra])
    assert len(MADE) == 1, result.output
    return result, MADE[0]


def nothing_from(ledger: MemoryLedger, day: date) -> None:
    """No batch is posted and no margin call is made on or after ``day``."""
    assert all(d < day for d in ledger.batches), sorted(ledger.batches)
    assert all(d < day for (_, d) in ledger.calls)
    assert all(d < day for d in ledger.swept)


def held_back_on(ledger: MemoryLedger, day: date, key: str) -> None:
    """``day`` is posted without ``key`` (held back); only the agreements on it miss their call,
    and the window goes on past it."""
    posted = ledger.batches[day]
    assert key not in {*posted.prices, *posted.fx}
    users = {a.agreement_id for a in ledger.agreements if key in (a.collateral_token,
                                                                  a.base_currency)}
    for a in ledger.agreements:
        assert ((a.agreement_id, day) in ledger.calls) == (a.agreement_id not in users)
    assert max(ledger.batches) > day


def refusals(result: Result) -> list[dict[str, object]]:
    return [e for e in (json.loads(line) for line in result.stderr.splitlines()
                        if line.startswith("{")) if e.get("event") in ("refused", "held-back")]


@pytest.fixture
def market(tmp_path: Path) -> Path:
    """A copy of the fixture market data the test may spoil."""
    root = tmp_path / "market"
    shutil.copytree(FIXTURES, root)
    return root


def test_the_clean_window_posts(tmp_path: Path, market: Path) -> None:
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 0, result.output
    assert len(ledger.batches) == 8 and not refusals(result)


# ---- unreadable files: the error names the file and the position; nothing is posted ---------

ENCODINGS = {
    "utf-16": "date,close\n2009-07-01,602\n".encode("utf-16"),
    "latin-1": "date,close\n2009-07-01,602\n2009-07-02,59\xe9\n".encode("latin-1"),
    "shift-jis": "日付,終値\n2009-07-01,602\n".encode("shift_jis"),
    "binary": bytes(range(256)) * 4,
}


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_a_file_in_another_encoding(tmp_path: Path, market: Path, name: str) -> None:
    (market / "8604.T.csv").write_bytes(ENCODINGS[name])
    with pytest.raises(SourceError, match=r"cannot read .*8604\.T\.csv: .* in position \d+"):
        FileSource(market).closes(["8604.T"], D("2009-07-01"), D("2009-07-10"))
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 1
    assert "8604.T.csv" in result.stderr and "position" in result.stderr
    nothing_from(ledger, D("2009-07-01"))


def test_nul_bytes(tmp_path: Path, market: Path) -> None:
    """A NUL inside a close is a malformed close; inside a date, a bad line of the file."""
    spoil(market, "8306.T", "2009-07-06", "602\x00")
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 3
    assert [(r["instrument"], r["date"], r["rule"]) for r in refusals(result)] == [
        ("JP8306", "2009-07-06", "malformed")]
    held_back_on(ledger, D("2009-07-06"), "JP8306")
    f = market / "8604.T.csv"
    f.write_text(f.read_text().replace("2009-07-02,", "2009-07-02\x00,", 1))
    with pytest.raises(SourceError, match=r"8604\.T\.csv:\d+: date must be YYYY-MM-DD, "
                                          r"found '2009-07-02\\x00'"):
        FileSource(market).closes(["8604.T"], D("2009-07-01"), D("2009-07-10"))


def test_a_utf8_byte_order_mark_is_fine(market: Path) -> None:
    f = market / "8306.T.csv"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    got = FileSource(market).closes(["8306.T"], D("2009-07-01"), D("2009-07-01"))
    assert got["8306.T"] == {D("2009-07-01"): "602.0"}


# ---- missing columns, duplicated and impossible dates ----------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    ("date,close\n2009-07-01,1\n", r"closes\.csv:1: a long table needs columns date,symbol,close"),
    ("date,symbol\n2009-07-01,8306.T\n", r"closes\.csv:1: no 'close' column"),
    ("date,symbol,close\n2009-07-01,8306.T,1\n2009-07-02,8306.T\n",
     r"closes\.csv:3: expected 3 columns, found 2"),
    ("date,symbol,close\n2009-07-01,8306.T,1\n2009-07-01,8604.T,2\n2009-07-01,8306.T,1\n",
     r"closes\.csv:4: 8306\.T 2009-07-01 appears twice"),
    ("date,symbol,close\n2009-02-30,8306.T,1\n",
     r"closes\.csv:2: date must be YYYY-MM-DD, found '2009-02-30'"),
    ("symbol,close\n8306.T,1\n", r"closes\.csv:2: date must be YYYY-MM-DD, found '8306\.T'"),
])
def test_long_table_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    table = tmp_path / "closes.csv"
    table.write_text(content)
    with pytest.raises(SourceError, match=message):
        FileSource(table).closes(["8306.T"], D("2009-07-01"), D("2009-07-31"))


@pytest.mark.parametrize(("rows", "message"), [
    ("2009-07-01,602\n2009-07-02,596\n2009-07-02,597\n",
     r"8306\.T\.csv:4: date 2009-07-02 appears twice"),
    ("2009-07-01,602\n2009-06-31,596\n",
     r"8306\.T\.csv:3: date must be YYYY-MM-DD, found '2009-06-31'"),
    ("2009-07-01\n", r"8306\.T\.csv:2: expected 2 columns, found 1"),
])
def test_per_symbol_file_errors_through_the_cli(tmp_path: Path, market: Path, rows: str,
                                                message: str) -> None:
    (market / "8306.T.csv").write_text("date,close\n" + rows)
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    nothing_from(ledger, D("2009-07-01"))


# ---- negative, absurd and malformed prices: refused by rule, naming instrument and date --------


def spoil(market: Path, symbol: str, day: str, text: str) -> None:
    """Replace the close of ``symbol`` (a stock, or an FX file under fx/) on ``day``."""
    f = market / f"{symbol}.csv"
    if not f.is_file():
        f = market / "fx" / f"{symbol}.csv"
    lines = f.read_text().splitlines()
    col = lines[0].split(",").index("close")
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        if cells[0] == day:
            cells[col] = text
        out.append(",".join(cells))
    f.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize(("text", "rule"), [
    ("-602", "non-positive"),
    ("0", "non-positive"),
    ("0.00001", "non-positive"),       # zero at the 0.1 tick: what would be posted is not positive
    ("602000", "move"),                # a thousandfold jump
    ("6.02", "move"),
    ("1e400", "malformed"),
    ("1e100000000", "malformed"),      # used to escape as decimal.Overflow and stop the daemon
    ("9" * 80, "malformed"),
    ('"602,0"', "malformed"),    # a quoted cell with a decimal comma
    ("N/A!", "malformed"),
    ("0x25A", "malformed"),
])
def test_bad_closes_are_refused_and_held_back(tmp_path: Path, market: Path, text: str,
                                                      rule: str) -> None:
    spoil(market, "8306.T", "2009-07-06", text)
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 3, result.output
    (refused,) = refusals(result)
    assert (refused["instrument"], refused["date"], refused["rule"]) == (
        "JP8306", "2009-07-06", rule)
    assert "2009-07-06" in result.stderr and "JP8306" in result.stderr
    held_back_on(ledger, D("2009-07-06"), "JP8306")
    assert len(ledger.batches) == 8  # the window goes on: only JP8306's agreements wait


def test_bad_fx_fixing(tmp_path: Path, market: Path) -> None:
    spoil(market, "USDJPY", "2009-07-07", "-96.5")
    result, ledger = replay(tmp_path, market)
    assert result.exit_code == 3
    assert ("USDJPY", "2009-07-07", "non-positive") in {
        (r["instrument"], r["date"], r["rule"]) for r in refusals(result)}
    held_back_on(ledger, D("2009-07-07"), "USDJPY")


# ---- unknown tokens and symbols ---------------------------------------------------------------


def config_with(tmp_path: Path, extra: str) -> Path:
    cfg = tmp_path / "oracle.yaml"
    cfg.write_text("source: {kind: file, path: unused}\ninstruments:\n"
                   "  JP8306: {symbol: 8306.T, market: XTKS, currency: JPY, tick: '0.1'}\n"
                   + extra + "fx: {}\n")
    return cfg


def test_an_instrument_the_ledger_does_not_know(tmp_path: Path, market: Path) -> None:
    """The chaincode refuses a price for a token it does not define; the oracle stops there."""
    shutil.copy(market / "8306.T.csv", market / "9999.T.csv")
    cfg = config_with(tmp_path, "  JP9999: {symbol: 9999.T, market: XTKS, currency: JPY, "
                                "tick: '0.1'}\n")
    result, ledger = replay(tmp_path, market, factory="strict_factory", config=cfg)
    assert result.exit_code == 1
    assert "unknown instrument JP9999: no token with that id" in result.stderr
    nothing_from(ledger, D("2009-07-01"))


def test_an_instrument_without_a_market_data_file(tmp_path: Path, market: Path) -> None:
    cfg = config_with(tmp_path, "  JP9999: {symbol: 9999.T, market: XTKS, currency: JPY}\n")
    result, ledger = replay(tmp_path, market, config=cfg)
    assert result.exit_code == 1
    assert "no market data file for '9999.T'" in result.stderr
    assert "tried 9999.T.csv" in result.stderr
    nothing_from(ledger, D("2009-07-01"))


# ---- bad configuration and scenario files --------------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    (b"limits: {max_move: \xff}\n", r"oracle\.yaml: not UTF-8 text \(byte 0xff at offset 19\)"),
    ("limits: {max_move: 0.2}".encode("utf-16"), r"oracle\.yaml: not UTF-8 text"),
    (("limits: " + "[" * 3000).encode(), r"oracle\.yaml: not valid YAML: nested too deeply"),
    (b"limits: {max_move: -1}\n", r"oracle\.yaml: limits.max_move: must be a positive decimal"),
    (b"instruments: [JP8306]\n", r"oracle\.yaml: instruments: expected a mapping"),
    (b"fx: {USDJPY: {symbol: JPY=X, tick: abc}}\n", r"fx\.USDJPY\.tick: not a decimal number"),
    (b"colour: blue\n", r"unknown key\(s\) colour"),
])
def test_bad_oracle_configuration(tmp_path: Path, content: bytes, message: str) -> None:
    cfg = tmp_path / "oracle.yaml"
    cfg.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_config(cfg)
    result = CliRunner().invoke(main, ["oracle", "--config", str(cfg), "--ledger", "memory",
                                       "config"])
    assert result.exit_code != 0
    assert not isinstance(result.exception, ConfigError | UnicodeDecodeError | RecursionError), (
        "the CLI must report the error, not crash")
    assert "oracle.yaml" in result.output


SCENARIO = (Path(__file__).resolve().parents[2] / "scenarios" /
            "cross-currency-example.yaml").read_text()


@pytest.mark.parametrize(("content", "message"), [
    (SCENARIO.encode("utf-16"), "the file is not UTF-8 text (byte 0xff at offset 0)"),
    (SCENARIO.replace("mode: single", "mode: \xe9").encode("latin-1"), "not UTF-8 text"),
    (SCENARIO.replace('haircut: "0"', "haircut: 1e100000000").encode(),
     "agreements[0].haircut: expected a haircut"),
    (SCENARIO.replace("mode: single", "mode: single\n    lag: 1e5000").encode(),
     "agreements[0].lag: expected a settlement lag"),
    (("tokens: " + "[" * 4000).encode(), "invalid YAML: nested too deeply"),
])
def test_bad_scenario_files(tmp_path: Path, content: bytes, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_bytes(content)
    with pytest.raises(ScenarioError) as err:
        load_scenario(f)
    assert str(err.value).startswith(str(f)) and message in str(err.value)
    result = CliRunner().invoke(main, ["scenario", "run", str(f)])
    assert result.exit_code != 0 and message in result.output
    assert not isinstance(result.exception, UnicodeDecodeError | RecursionError | ValueError)
