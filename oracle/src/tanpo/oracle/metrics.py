"""Prometheus metrics and the health endpoint, served on a loopback port.

``GET /metrics`` - Prometheus text format. ``GET /healthz`` - JSON; HTTP 200 while the daemon
loop is alive (its body says ``ok``, ``degraded``, ``waiting``, ``blocked`` or ``error``), 503
when the loop has not reported for three poll intervals. A refusal is an alert
(``tanpo_oracle_blocked`` for a whole date, ``tanpo_oracle_held_back`` for values left out,
``tanpo_oracle_agreements_failing`` for calls that failed alone), not a reason to restart the
process, so it does not fail the health check.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tanpo.oracle.ledger import PriceBatch

__all__ = ["Health", "HealthServer", "OracleMetrics"]


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


class OracleMetrics:
    """The oracle's metrics in their own registry (so tests and several daemons don't clash)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.last_posted = Gauge(
            "tanpo_oracle_last_posted_date_seconds",
            "Last valuation date with posted prices (Unix time of 00:00 UTC that day)",
            registry=r)
        self.last_swept = Gauge(
            "tanpo_oracle_last_swept_date_seconds",
            "Last valuation date whose margin sweep completed (Unix time of 00:00 UTC)",
            registry=r)
        self.prices_posted = Counter(
            "tanpo_oracle_prices_posted", "Values posted to the ledger", ["kind"], registry=r)
        self.carried = Counter(
            "tanpo_oracle_prices_carried", "Posted values carried forward from an earlier close",
            registry=r)
        self.refusals = Counter(
            "tanpo_oracle_refusals", "Values refused by validation", ["rule"], registry=r)
        self.blocked = Gauge(
            "tanpo_oracle_blocked", "1 while a refusal holds back the next valuation date",
            registry=r)
        self.held_back = Gauge(
            "tanpo_oracle_held_back",
            "Values held back from posted dates (their agreements wait; see oracle status)",
            registry=r)
        self.sweep_duration = Histogram(
            "tanpo_oracle_sweep_duration_seconds", "Wall time of one date's margin sweep",
            buckets=(0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600), registry=r)
        self.calls_triggered = Counter(
            "tanpo_oracle_margin_calls_triggered", "Margin calls triggered by sweeps",
            registry=r)
        self.transfers = Counter(
            "tanpo_oracle_transfers", "Token transfers made by margin calls", registry=r)
        self.issuance_required = Counter(
            "tanpo_oracle_issuance_required", "Issuance-required outcomes of margin calls",
            registry=r)
        self.call_failures = Counter(
            "tanpo_oracle_call_failures",
            "Margin calls that failed alone (once per agreement and date; retried)", registry=r)
        self.agreements_failing = Gauge(
            "tanpo_oracle_agreements_failing",
            "Agreements whose latest margin call failed and has not succeeded since", registry=r)
        self.errors = Counter(
            "tanpo_oracle_errors", "Ledger or source errors (retried)", ["kind"], registry=r)

    def posted(self, batch: PriceBatch) -> None:
        self.prices_posted.labels("price").inc(len(batch.prices))
        self.prices_posted.labels("fx").inc(len(batch.fx))
        if batch.rates:
            self.prices_posted.labels("rate").inc(len(batch.rates))
        self.carried.inc(len(batch.carried()))
        self.last_posted.set(_epoch(batch.valuation_date))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Health:
    """What ``/healthz`` reports; the daemon updates it on every loop."""

    stale_after_seconds: float = 180.0
    state: str = "starting"
    detail: dict[str, Any] = field(default_factory=dict)
    heartbeat: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def beat(self, state: str, **detail: Any) -> None:
        with self._lock:
            self.state, self.detail, self.heartbeat = state, dict(detail), time.monotonic()

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            age = time.monotonic() - self.heartbeat
            alive = age <= self.stale_after_seconds
            body = {"status": self.state if alive else "stalled",
                    "seconds_since_heartbeat": round(age, 3), **self.detail}
        return (200 if alive else 503), body


class HealthServer:
    """``/healthz`` and ``/metrics`` on a loopback address, in a background thread."""

    def __init__(self, host: str, port: int, metrics: OracleMetrics, health: Health) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/metrics":
                    outer._send(self, 200, CONTENT_TYPE_LATEST, metrics.exposition())
                elif self.path.split("?")[0] in ("/healthz", "/health"):
                    code, body = health.snapshot()
                    outer._send(self, code, "application/json",
                                json.dumps(body, default=str).encode())
                else:
                    outer._send(self, 404, "text/plain", b"not found: try /healthz or /metrics\n")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="oracle-http", daemon=True)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
