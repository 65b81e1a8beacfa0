"""Network shapes other than the test session's: two peers for a bank (one stopped and started
again catches up), and six banks with a private data collection per pair.

Each test runs a network of its own, beside the session's, on ports from ``TANPO_TEST_PORT_BASE``
+ 300 and + 600, and stops it at the end.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from fabric_protos.msp import msp_principal_pb2

from tanpo.client import connect
from tanpo.client.connect import open_channel
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import load_profile
from tanpo.network.launcher import Launcher
from tests.integration.conftest import TEST_PORT_BASE, running_network

pytestmark = pytest.mark.network


def wait_heights(launcher: Launcher, nodes: list[str], at_least: int,
                 timeout: float = 60.0) -> dict[str, int | None]:
    """Wait until every node's ledger is as high as `at_least`, and all are at the same height."""
    deadline = time.monotonic() + timeout
    while True:
        heights = {n: launcher.peer_height(n) for n in nodes}
        values = set(heights.values())
        if len(values) == 1 and (h := values.pop()) is not None and h >= at_least:
            return heights
        if time.monotonic() > deadline:
            raise AssertionError(f"peers not at height {at_least} after {timeout:.0f}s: {heights}")
        time.sleep(0.25)


def test_a_second_peer_of_a_bank_follows_the_ledger_and_catches_up_after_a_restart(
        tmp_path: Path) -> None:
    with running_network(tmp_path / "state", TEST_PORT_BASE + 300,
                         banks=1, peers_per_bank=2) as net:
        topo = net.topo
        assert [p.node for p in topo.peers] == ["peer0-operator", "peer0-bank-a", "peer1-bank-a"]
        profile = load_profile(topo.profile_file)
        bank_a = ["peer0-bank-a", "peer1-bank-a"]
        with connect("bank-a", "User1", profile) as conn:
            first = conn.contract("ping").submit("Ping", "both peers")
            wait_heights(net, bank_a, first.block_number + 1)

            assert net.stop_node("peer1-bank-a")
            assert "peer1-bank-a" not in net.running_pids()
            assert net.peer_height("peer1-bank-a") is None
            second = conn.contract("ping").submit("Ping", "peer1 is down")
            assert net.peer_height("peer0-bank-a") == second.block_number + 1

            net.start_node("peer1-bank-a")
            heights = wait_heights(net, bank_a, second.block_number + 1)
        print(f"peer1-bank-a caught up: {heights}")
        # and it serves what it missed through its own gateway, with its own chaincode connection
        peer1 = topo.peer("peer1-bank-a")
        channel = open_channel(peer1.client_endpoint, topo.org_tls_ca(peer1.org), peer1.peer_name)
        with connect("bank-a", "User1", profile, channel=channel) as via_peer1:
            record = via_peer1.contract("ping").evaluate("GetPing", second.transaction_id)
        assert b"peer1 is down" in record
        status = {n["node"]: n for n in net.status()["nodes"]}
        assert status["peer1-bank-a"]["height"] == status["peer0-bank-a"]["height"]


def members(policy: dict[str, Any]) -> dict[str, int]:
    """A signature policy's identities as `{MSP id: role}` (principals are MSPRole protobufs)."""
    out = {}
    for identity in policy["identities"]:
        role = msp_principal_pb2.MSPRole.FromString(base64.b64decode(identity["principal"]))
        out[role.msp_identifier] = role.role
    return out


def test_six_banks_have_a_collection_per_pair_and_every_peer_knows_the_others(
        tmp_path: Path) -> None:
    t0 = time.monotonic()
    with running_network(tmp_path / "state", TEST_PORT_BASE + 600, banks=6) as net:
        print(f"6 banks up in {time.monotonic() - t0:.1f}s")
        banks = net.topo.bank_parties
        definition = net.committed(net.topo.org("operator"))
        assert definition is not None
        configs = [c["Payload"]["StaticCollectionConfig"]
                   for c in definition["collections"]["config"]]
        assert len(configs) == 15
        by_name = {c["name"]: c for c in configs}
        member, peer = msp_principal_pb2.MSPRole.MEMBER, msp_principal_pb2.MSPRole.PEER
        for i, a in enumerate(banks):
            for b in banks[i + 1:]:
                c = by_name.pop(pair_collection(a, b))
                msps = sorted(p.msp_id for p in net.topo.peer_orgs if p.party in (a, b))
                held = c["member_orgs_policy"]["Payload"]["SignaturePolicy"]
                assert members(held) == dict.fromkeys(msps, member)
                endorse = c["endorsement_policy"]["Type"]["SignaturePolicy"]
                assert members(endorse) == dict.fromkeys(msps, peer)
                assert endorse["rule"]["Type"]["NOutOf"]["n"] == 2
        assert not by_name
        # every peer's gossip knows the six others (the launcher waited for it; still so)
        known = {p.node: net.peers_known(p) for p in net.topo.peers}
        assert known == dict.fromkeys(known, 6.0)
