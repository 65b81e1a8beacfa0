"""Prometheus metrics, the health endpoint and structured logs."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

import pytest

from tanpo.oracle.config import default_config
from tanpo.oracle.daemon import Oracle
from tanpo.oracle.logs import JsonFormatter, TextFormatter, configure_logging, log_event
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.metrics import Health, HealthServer, OracleMetrics
from tanpo.oracle.sources import FileSource

FIXTURES = Path(__file__).parents[1] / "fixtures" / "oracle"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def replayed_metrics() -> tuple[OracleMetrics, Health]:
    metrics, health = OracleMetrics(), Health()
    cfg = default_config()
    ledger = MemoryLedger.demo((i.token, i.currency) for i in cfg.instruments)
    Oracle(cfg, ledger, FileSource(FIXTURES / "market"), metrics=metrics, health=health,
           mode="replay").replay(date(2009, 7, 1), date(2009, 7, 3))
    return metrics, health


def test_metrics_after_a_replay() -> None:
    metrics, _ = replayed_metrics()
    text = metrics.exposition().decode()
    assert 'tanpo_oracle_prices_posted_total{kind="price"} 15.0' in text
    assert 'tanpo_oracle_prices_posted_total{kind="fx"} 9.0' in text
    assert "tanpo_oracle_margin_calls_triggered_total 15.0" in text
    assert "tanpo_oracle_sweep_duration_seconds_count 3.0" in text
    assert "tanpo_oracle_last_posted_date_seconds 1.2465792e+09" in text  # 2009-07-03
    assert "tanpo_oracle_blocked 0.0" in text


def test_health_and_metrics_endpoints_on_loopback() -> None:
    metrics, health = replayed_metrics()
    server = HealthServer("127.0.0.1", 0, metrics, health).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        code, body = get(base + "/healthz")
        assert code == 200
        doc = json.loads(body)
        assert doc["status"] == "ok" and doc["last_posted"] == "2009-07-03"
        code, body = get(base + "/metrics")
        assert code == 200 and "tanpo_oracle_margin_calls_triggered_total" in body
        assert get(base + "/nope")[0] == 404
        health.stale_after_seconds = 0.0  # the loop stopped reporting
        code, body = get(base + "/healthz")
        assert code == 503 and json.loads(body)["status"] == "stalled"
    finally:
        server.close()


def test_json_logs_carry_the_event_fields() -> None:
    record = logging.LogRecord("tanpo.oracle.daemon", logging.WARNING, __file__, 1, "refused",
                               None, None)
    record.tanpo_fields = {"date": date(2008, 10, 8), "instrument": "USDJPY", "rule": "move"}
    doc = json.loads(JsonFormatter().format(record))
    assert doc["event"] == "refused" and doc["level"] == "warning"
    assert (doc["date"], doc["instrument"], doc["rule"]) == ("2008-10-08", "USDJPY", "move")
    assert doc["ts"].endswith("Z")
    text = TextFormatter().format(record)
    assert 'refused date="2008-10-08" instrument="USDJPY"' in text


def test_configure_logging_writes_json_lines_to_stderr_and_undoes(
        capsys: pytest.CaptureFixture[str]) -> None:
    restore = configure_logging("json", "info")
    try:
        log_event(logging.getLogger("tanpo.oracle.test"), "hello", n=1)
    finally:
        restore()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert json.loads(line)["n"] == 1
    assert logging.getLogger("tanpo.oracle").propagate is True
