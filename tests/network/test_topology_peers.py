"""Several peers per bank: names, ports that never collide, and the settings each peer gets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from tanpo.network import configs
from tanpo.network.fabric_bin import FabricInstall
from tanpo.network.topology import Topology


def test_ports_are_unique_for_six_banks_with_three_peers_and_five_orderers() -> None:
    topo = Topology(banks=6, orderers=5, peers_per_bank=3, port_base=37000)
    ports = topo.ports()
    assert len(topo.peers) == 1 + 6 * 3
    duplicates = [p for p, n in Counter(port for _, port in ports).items() if n > 1]
    assert not duplicates, [(node, port) for node, port in ports if port in duplicates]
    assert all(37000 <= port < 37000 + 1000 for _, port in ports)


def test_peer0_keeps_the_ports_of_a_one_peer_network() -> None:
    one = Topology(banks=6, port_base=37000)
    three = Topology(banks=6, peers_per_bank=3, port_base=37000)
    for org_one, org_three in zip(one.peer_orgs, three.peer_orgs, strict=True):
        p0, p = org_one.peer0, org_three.peer0
        assert (p.port, p.chaincode_port, p.operations_port) == (
            org_one.port, org_one.chaincode_port, org_one.operations_port)
        assert (p.port, p.node, p.peer_name) == (p0.port, p0.node, p0.peer_name)
    assert {p for _, p in one.ports()} <= {p for _, p in three.ports()}


def test_peer_names_and_the_operator_keeps_one_peer() -> None:
    topo = Topology(banks=1, peers_per_bank=2)
    assert [p.node for p in topo.peers] == ["peer0-operator", "peer0-bank-a", "peer1-bank-a"]
    peer1 = topo.peer("peer1-bank-a")
    assert peer1.peer_name == "peer1.bank-a.tanpo.net" and peer1.msp_id == "BankAMSP"
    with pytest.raises(KeyError, match="peer2-bank-a"):
        topo.peer("peer2-bank-a")
    assert topo.bank_parties == ["bank-a"]


@pytest.mark.parametrize("kwargs", [{"peers_per_bank": 0}, {"peers_per_bank": 4}, {"banks": 0}])
def test_out_of_range_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        Topology(**kwargs)


def test_each_peer_gossips_from_a_sibling_and_is_reached_at_itself(tmp_path: Path) -> None:
    topo = Topology(banks=2, peers_per_bank=3, port_base=37000, state_dir=tmp_path)
    bank_a = topo.org("bank-a")
    for peer in bank_a.peers:
        env = configs.peer_env(topo, peer)
        assert env["CORE_PEER_GOSSIP_EXTERNALENDPOINT"] == peer.endpoint
        assert env["CORE_PEER_GOSSIP_BOOTSTRAP"] != peer.endpoint
        assert env["CORE_PEER_GOSSIP_BOOTSTRAP"] in {p.endpoint for p in bank_a.peers}
        assert env["CORE_PEER_FILESYSTEMPATH"].endswith(peer.node)
        assert peer.peer_name in env["CORE_PEER_MSPCONFIGPATH"]
    operator = topo.org("operator").peer0
    assert configs.peer_env(topo, operator)["CORE_PEER_GOSSIP_BOOTSTRAP"] == operator.endpoint
    # cryptogen issues every peer; the anchor peer stays peer0
    spec = {o["Domain"]: o["Template"]["Count"] for o in configs.crypto_config(topo)["PeerOrgs"]}
    assert spec == {"operator.tanpo.net": 1, "bank-a.tanpo.net": 3, "bank-b.tanpo.net": 3}
    app = configs.configtx(topo)["Profiles"][configs.CHANNEL_PROFILE]["Application"]
    anchors = {o["ID"]: o["AnchorPeers"] for o in app["Organizations"]}
    assert anchors["BankAMSP"] == [{"Host": "127.0.0.1", "Port": bank_a.peer0.port}]


def test_the_settings_survive_a_reload(tmp_path: Path) -> None:
    topo = Topology(banks=3, peers_per_bank=2, state_dir=tmp_path)
    topo.save()
    assert Topology.load(tmp_path) == topo


def test_core_yaml_reconciles_private_data_quickly(tmp_path: Path) -> None:
    sample = {
        "peer": {"gossip": {"pvtData": {"pullRetryThreshold": "60s",
                                        "reconcileSleepInterval": "1m",
                                        "reconciliationEnabled": True}}},
        "chaincode": {"externalBuilders": []},
        "vm": {"endpoint": "unix:///var/run/docker.sock"},
    }
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "core.yaml").write_text(yaml.safe_dump(sample))
    core = configs.peer_core_yaml(FabricInstall(tmp_path))
    assert core["peer"]["gossip"]["pvtData"] == {
        "pullRetryThreshold": "5s", "reconcileSleepInterval": "5s", "reconciliationEnabled": True}
