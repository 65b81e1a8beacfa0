"""Benchmark fixings in the oracle: configured like FX, read from ``rates/<NAME>.csv``, validated
(any sign, no move rule, carried and held back like FX) and posted in the batch's ``rates``.

The fixture files under tests/fixtures/oracle/market/rates are fictitious (see their README)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tanpo.oracle.calendars import SimpleCalendar
from tanpo.oracle.config import (
    ConfigError,
    LimitsConfig,
    RateConfig,
    default_config,
    parse_config,
)
from tanpo.oracle.daemon import Oracle, Outcome
from tanpo.oracle.ledger import PriceBatch, Quote
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.sources import FileSource, StaticSource
from tanpo.oracle.validation import Confirmation, Observation, Rule, assess
from tests.oracle.test_oracle_daemon import FIXTURES, paper_config, paper_ledger

D = date.fromisoformat
RATES = (RateConfig("SOFR", tick=Decimal("0.01")), RateConfig("ESTR"))


def rate_oracle(ledger: MemoryLedger) -> Oracle:
    cfg = replace(paper_config(), rates=RATES)
    return Oracle(cfg, ledger, FileSource(FIXTURES / "market"), mode="replay")


# ---- configuration ---------------------------------------------------------------------------


def test_rates_are_configured_like_fx() -> None:
    cfg = parse_config({"rates": {"SOFR": {"tick": "0.01", "symbol": "SOFR-X"},
                                  "TONA": None, "ESTR": {"symbols": {"file": "extra/estr"}}}})
    sofr, tona, estr = cfg.rates
    assert sofr == RateConfig("SOFR", "SOFR-X", Decimal("0.01"))
    assert (sofr.symbol_for("file"), sofr.symbol_for("yfinance")) == ("rates/SOFR", "SOFR-X")
    assert (tona.symbol_for("file"), tona.symbol_for("static")) == ("rates/TONA", "TONA")
    assert estr.symbol_for("file") == "extra/estr"
    assert cfg.rate("TONA") is tona and cfg.rate("LIBOR") is None
    assert default_config().rates == ()
    assert parse_config({"instruments": {}, "fx": {}, "rates": {"SOFR": {}}}).rates


@pytest.mark.parametrize("raw, message", [
    ({"rates": {"sofr": {}}}, "capital letters"),
    ({"rates": {"S": {}}}, "capital letters"),
    ({"rates": {"SOFR": {"max_move": "0.1"}}}, "unknown key"),
    ({"rates": {"SOFR": {"tick": "-1"}}}, "positive"),
    ({"rates": {"USDJPY": {}}}, "a benchmark needs a name of its own"),
    ({"instruments": {}, "fx": {}, "rates": {}}, "nothing to post"),
])
def test_bad_rates_config(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


# ---- validation ------------------------------------------------------------------------------


def obs(closes: dict[str, str], key: str = "ESTR") -> Observation:
    return Observation(key, f"rates/{key}", SimpleCalendar("weekdays"),
                       {D(k): v for k, v in closes.items()}, is_rate=True)


def test_any_sign_and_no_move_rule() -> None:
    prev = PriceBatch(D("2024-01-03"), {}, {}, rates={"ESTR": Quote(Decimal("0"),
                                                                      D("2024-01-03"),
                                                                      signed=True)})
    a = assess(D("2024-01-04"), [obs({"2024-01-04": "-0.57"})], prev, [], LimitsConfig())
    assert a.ok and a.batch is not None
    assert a.batch.rates == {"ESTR": Quote(Decimal("-0.57"), D("2024-01-04"), signed=True)}
    assert a.batch.prices == {} and a.batch.fx == {}
    assert a.batch.to_dict()["rates"] == {"ESTR": {"value": "-0.57", "asOf": "2024-01-04"}}
    # a price may not be negative; the same text as a price is refused
    price = replace(obs({"2024-01-04": "-0.57"}), is_rate=False)
    refused = assess(D("2024-01-04"), [price], None, [], LimitsConfig())
    assert [r.rule for r in refused.refusals] == [Rule.NON_POSITIVE]


def test_malformed_missing_and_stale_fixings_are_refused() -> None:
    limits = LimitsConfig()
    bad = assess(D("2024-01-04"), [obs({"2024-01-04": "n/a%"})], None, [], limits)
    assert [r.rule for r in bad.refusals] == [Rule.MALFORMED]
    none = assess(D("2024-01-04"), [obs({})], None, [], limits)
    assert [r.rule for r in none.refusals] == [Rule.MISSING]
    old = assess(D("2024-01-12"), [obs({"2024-01-04": "0.1"})], None, [], limits)
    assert [r.rule for r in old.refusals] == [Rule.STALE] and old.refusals[0].confirmable


def test_a_manual_fixing_may_be_negative() -> None:
    manual = Confirmation(D("2024-01-04"), "ESTR", Decimal("-0.5"), "ops", manual=True)
    a = assess(D("2024-01-04"), [obs({})], None, [manual], LimitsConfig())
    assert a.batch is not None and a.batch.rates["ESTR"].value == Decimal("-0.5")
    assert a.batch.rates["ESTR"].confirmed_by == "operator:ops"


def test_batches_round_trip_with_rates_and_without() -> None:
    batch = PriceBatch(D("2024-01-04"), {"JP8306": Quote(Decimal("1000"), D("2024-01-04"))}, {},
                       "s", {"ESTR": Quote(Decimal("-0.57"), D("2024-01-03"), signed=True)})
    again = PriceBatch.from_json(batch.to_json())
    assert again == batch and again.rates["ESTR"].value == Decimal("-0.57")
    assert batch.carried() == ["ESTR"] and batch.keys() == {"JP8306", "ESTR"}
    plain = PriceBatch(D("2024-01-04"), batch.prices, {}, "s")
    assert "rates" not in plain.to_dict()
    assert not plain.same_values(batch)
    with pytest.raises(ValueError, match="positive"):
        Quote(Decimal("-1"), D("2024-01-04"))


def test_the_fabric_ledger_reads_fixings_back() -> None:
    from tanpo.client.models import PriceSet
    from tanpo.oracle.fabric import _batch_from

    ps = PriceSet.from_json({"date": "2024-01-04", "version": 1, "prices": {"JP8306": "1000"},
                             "fx": {}, "priceNotes": {}, "fxNotes": {},
                             "rates": {"ESTR": "-0.57", "SOFR": "5.31"},
                             "rateNotes": {"SOFR": {"asOf": "2024-01-03"}}})
    batch = _batch_from(ps)
    assert batch.rates["ESTR"] == Quote(Decimal("-0.57"), D("2024-01-04"), signed=True)
    assert batch.rates["SOFR"].as_of == D("2024-01-03")


# ---- the daemon on the recorded (fictitious) fixture files -------------------------------------


def test_replay_posts_the_fixings_with_the_prices() -> None:
    ledger = paper_ledger()
    result = rate_oracle(ledger).replay(D("2009-07-13"), D("2009-07-24"))
    assert result.stopped_at is None
    assert all(r.outcome is Outcome.POSTED for r in result.results)
    first = ledger.batches[D("2009-07-13")]
    assert first.prices and first.fx
    assert set(first.rates) == {"SOFR", "ESTR"}
    # ESTR swings from -0.5 through zero and back: no move rule holds it back
    assert ledger.batches[D("2009-07-14")].rates["ESTR"].value == Decimal("0.000")
    assert ledger.batches[D("2009-07-15")].rates["ESTR"].value == Decimal("-0.500")
    # SOFR's blank cell on 2009-07-15 is carried from the 14th, rounded to its tick
    sofr = ledger.batches[D("2009-07-15")].rates["SOFR"]
    assert (sofr.value, sofr.as_of) == (Decimal("0.20"), D("2009-07-14"))
    assert "SOFR" in ledger.batches[D("2009-07-15")].carried()
    # ESTR has no row on 2009-07-22: carried from the 21st
    estr = ledger.batches[D("2009-07-22")].rates["ESTR"]
    assert (estr.value, estr.as_of) == (Decimal("0.000"), D("2009-07-21"))
    # the JSON the chaincode receives
    doc = json.loads(ledger.batches[D("2009-07-15")].to_json())
    assert doc["rates"]["ESTR"] == {"value": "-0.500", "asOf": "2009-07-15"}


def test_a_malformed_fixing_is_held_back_alone() -> None:
    days = [D("2009-07-01"), D("2009-07-02")]
    data = {"SOFR": {days[0]: "0.21", days[1]: "0,22"},  # the static source: the name
            "JPY=X": {days[0]: "96.0", days[1]: "95.5"}}
    cfg = replace(paper_config(), instruments=(), fx=default_config().fx[:1],
                  rates=(RateConfig("SOFR"),))
    ledger = MemoryLedger(agreements=[], token_currency={})
    oracle = Oracle(cfg, ledger, StaticSource(data), mode="replay")
    oracle.replay(days[0], days[1])
    assert ledger.batches[days[0]].rates["SOFR"].value == Decimal("0.21")
    second = ledger.batches[days[1]]
    assert "SOFR" not in second.rates and second.fx["USDJPY"].value == Decimal("95.5")
    held = oracle.status()
    assert "SOFR" in json.dumps(held)


def test_confirm_accepts_a_negative_manual_fixing(tmp_path: Path) -> None:
    from tanpo.oracle.cli import oracle as oracle_cli

    config = tmp_path / "oracle.yaml"
    config.write_text("rates: {ESTR: {}}\nsource: {kind: file, path: x}\n")
    state = tmp_path / "state"
    runner = CliRunner()
    base = ["--config", str(config), "--state-dir", str(state)]
    ok = runner.invoke(oracle_cli, [*base, "confirm", "2024-01-04", "ESTR", "--value", "-0.5",
                                    "--manual", "--by", "ops"])
    assert ok.exit_code == 0, ok.output
    assert "-0.5" in (state / "confirmations.json").read_text()
    price = runner.invoke(oracle_cli, [*base, "confirm", "2024-01-04", "JP8306", "--value",
                                       "-1", "--manual"])
    assert price.exit_code == 2 and "must be positive" in price.output
    unknown = runner.invoke(oracle_cli, [*base, "confirm", "2024-01-04", "SOFR", "--value",
                                         "1", "--manual"])
    assert unknown.exit_code == 2 and "benchmark" in unknown.output
