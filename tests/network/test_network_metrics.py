"""Reading a node's Prometheus metrics (the launcher waits on gossip membership with it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tanpo.network.processes import metric_value

METRICS = """\
# HELP gossip_membership_total_peers_known Total known peers
# TYPE gossip_membership_total_peers_known gauge
gossip_membership_total_peers_known{channel="other"} 7
gossip_membership_total_peers_known{channel="tanpo"} 2
ledger_blockchain_height{channel="tanpo"} 42
broken_sample{channel="tanpo"} not-a-number
"""


class _Metrics(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = METRICS.encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_reads_the_sample_with_its_labels(port: int) -> None:
    labels = 'channel="tanpo"'
    assert metric_value(port, "gossip_membership_total_peers_known", labels) == 2.0
    assert metric_value(port, "gossip_membership_total_peers_known", 'channel="other"') == 7.0
    assert metric_value(port, "ledger_blockchain_height", labels) == 42.0


def test_missing_or_malformed_samples_are_none(port: int) -> None:
    assert metric_value(port, "gossip_membership_total_peers_known", 'channel="nope"') is None
    assert metric_value(port, "gossip_membership_total_peers_known") is None
    assert metric_value(port, "broken_sample", 'channel="tanpo"') is None


def test_no_endpoint_is_none() -> None:
    with HTTPServer(("127.0.0.1", 0), _Metrics) as server:
        free = server.server_address[1]
    assert metric_value(free, "anything") is None
