"""`tanpo network` options and one-node commands, on a saved topology (no Fabric process)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tanpo.network.cli import network
from tanpo.network.topology import Topology


def test_peers_per_bank_must_match_the_existing_network(tmp_path: Path) -> None:
    Topology(banks=2, peers_per_bank=1, state_dir=tmp_path).save()
    res = CliRunner().invoke(network, ["up", "--state-dir", str(tmp_path), "--peers-per-bank", "2"])
    assert res.exit_code == 2
    assert "--peers-per-bank 2 (network has 1)" in res.output


def test_peers_per_bank_is_bounded(tmp_path: Path) -> None:
    res = CliRunner().invoke(network, ["up", "--state-dir", str(tmp_path), "--peers-per-bank", "4"])
    assert res.exit_code == 2 and "1<=x<=3" in res.output


def test_an_unknown_node_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    Topology(banks=1, peers_per_bank=2, state_dir=tmp_path).save()
    for command in ("stop-node", "start-node"):
        res = CliRunner().invoke(network, [command, "--state-dir", str(tmp_path), "peer2-bank-a"])
        assert res.exit_code == 2, res.output
        assert "no node 'peer2-bank-a'" in res.output
        assert "orderer0, peer0-operator, peer0-bank-a, peer1-bank-a" in res.output


def test_stopping_a_node_that_is_not_running(tmp_path: Path) -> None:
    Topology(banks=1, peers_per_bank=2, state_dir=tmp_path).save()
    res = CliRunner().invoke(network, ["stop-node", "--state-dir", str(tmp_path), "peer1-bank-a"])
    assert res.exit_code == 0 and "peer1-bank-a was not running" in res.output
