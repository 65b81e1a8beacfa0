"""The oracle's configuration: YAML, defaults, and clear errors."""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest

from tanpo.oracle.config import (
    ConfigError,
    default_config,
    load_config,
    parse_config,
)

EXAMPLE = (Path(__file__).resolve().parents[2] / "oracle" / "src" / "tanpo" / "oracle"
           / "oracle.example.yaml")


def test_the_example_file_is_the_default_configuration() -> None:
    assert load_config(EXAMPLE) == default_config()


def test_defaults_are_the_papers_instruments() -> None:
    cfg = default_config()
    assert [i.token for i in cfg.instruments] == ["JP8306", "JP8604", "JP4901", "JP7013",
                                                   "JP8031"]
    assert cfg.instruments[0].symbol_for("yfinance") == "8306.T"
    usdjpy = cfg.fx_pair("USDJPY")
    assert usdjpy is not None
    assert (usdjpy.symbol_for("yfinance"), usdjpy.symbol_for("file")) == ("JPY=X", "USDJPY")
    assert cfg.markets() == ["XTKS"]


def test_yaml_overrides(tmp_path: Path) -> None:
    f = tmp_path / "oracle.yaml"
    f.write_text("""
source: {kind: file, path: data/market}
second_source: yfinance
instruments:
  US-AAPL: {symbol: AAPL, market: XNYS, tick: "0.01", max_move: 0.3,
            symbols: {file: extra/AAPL}}
  DE-BUND: {symbol: BUND, market: XFRA, asset_class: government-bond}
fx:
  EURUSD: {tick: "0.0001"}
limits: {max_carry_days: 1, cross_tolerance: 0.02, max_bond_move: "0.04"}
schedule: {valuation_days: XNYS, fx_fixing: "16:00 Europe/London", start_date: 2024-01-04}
sweep: {batch_size: 25}
http: {port: 0}
""")
    cfg = load_config(f)
    aapl, bund = cfg.instruments
    assert (aapl.currency, aapl.tick, aapl.max_move) == ("USD", Decimal("0.01"), Decimal("0.3"))
    assert (aapl.asset_class, bund.asset_class, bund.currency) == (
        "equity", "government-bond", "EUR")
    assert cfg.limits.max_move_for(bund.asset_class) == Decimal("0.04")
    assert cfg.limits.max_move_for(aapl.asset_class) == Decimal("0.25")
    assert cfg.limits.max_move_for("", fx=True) == Decimal("0.08")
    assert (aapl.symbol_for("file"), aapl.symbol_for("yfinance")) == ("extra/AAPL", "AAPL")
    (eurusd,) = cfg.fx
    assert eurusd.symbol == "EURUSD=X" and eurusd.tick == Decimal("0.0001")
    assert cfg.second_source is not None and cfg.second_source.kind == "yfinance"
    assert cfg.limits.max_carry_days == 1 and cfg.limits.cross_tolerance == Decimal("0.02")
    assert cfg.limits.max_move == Decimal("0.25")  # untouched keys keep their defaults
    s = cfg.schedule
    assert (s.fx_fixing_time, s.fx_fixing_tz, s.start_date) == (
        time(16, 0), "Europe/London", date(2024, 1, 4))
    assert cfg.sweep_batch_size == 25 and cfg.http.port == 0
    json.dumps(cfg.to_dict())  # the effective configuration is loggable as JSON


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("colour: blue", "unknown key"),
    ("instruments: {X: {market: XTKS}}", "symbol is required"),
    ("instruments: {X: {symbol: X, tick: abc}}", "not a decimal"),
    ("instruments: {X: {symbol: X, tick: '-1'}}", "positive"),
    ("instruments: {X: {symbol: X, market: XNYS, currency: dollars}}", "3-letter"),
    ("fx: {USD: {}}", "market pair"),
    ("fx: {USDUSD: {}}", "market pair"),
    ("source: {kind: file}", "needs a path"),
    ("source: {kind: bloomberg}", "kind must be one of"),
    ("limits: {max_carry_days: -1}", "integer >= 0"),
    ("limits: {max_carry_days: true}", "integer >= 0"),
    ("schedule: {fx_fixing: '5pm'}", "HH:MM Area/City"),
    ("schedule: {fx_fixing: '17:00 Mars/Olympus'}", "HH:MM Area/City"),
    ("schedule: {valuation_days: 'some days'}", "valuation_days"),
    ("schedule: {start_date: yesterday}", "YYYY-MM-DD"),
    ("http: {host: 0.0.0.0}", "loopback only"),
    ("http: {port: 70000}", "at most 65535"),
    ("sweep: {page_size: 0}", "integer >= 1"),
    ("sweep: {batch_size: 1001}", "sweep.batch_size: at most 1000"),
    ("- a list", "expected a mapping"),
    ("instruments: {}\nfx: {}", "nothing to post"),
])
def test_bad_configuration_is_a_clear_error(yaml_text: str, message: str,
                                            tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_errors_name_the_file_and_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("limits: {max_move: lots}")
    with pytest.raises(ConfigError, match=r"bad.yaml: limits.max_move: not a decimal"):
        load_config(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    f.write_text("limits: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(f)


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "o.yaml"
    f.write_text("sweep: {page_size: 7}")  # the paged sweep's name for it still works
    monkeypatch.setenv("TANPO_ORACLE_CONFIG", str(f))
    monkeypatch.setenv("TANPO_ORACLE_STATE_DIR", "elsewhere")
    cfg = load_config()
    assert cfg.sweep_batch_size == 7 and cfg.state_dir == "elsewhere"


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    f = tmp_path / "empty.yaml"
    f.write_text("")
    assert parse_config({}) == default_config() == load_config(f)
