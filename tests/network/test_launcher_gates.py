"""`network up` gates: it returns only once the ordering service can order (issue 16 item 5)."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tanpo.network import launcher as launcher_module
from tanpo.network import processes
from tanpo.network.launcher import Launcher, NetworkError
from tanpo.network.topology import Topology


def restart_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     steps: list[str]) -> Launcher:
    """A launcher restarting a stopped network, every process step recorded, not run."""
    topo = Topology(orderers=3, port_base=47000, state_dir=tmp_path / "net")
    topo.state_dir.mkdir(parents=True)
    (topo.state_dir / "channel-joined").write_text("ok\n")
    launcher = Launcher(topo, say=lambda msg: steps.append(f"say: {msg}"))
    for name in ("fabric", "_start_orderers", "_start_peers", "_deploy_chaincode",
                 "_wait_membership", "_bootstrap_roles", "_wait_ordering"):
        monkeypatch.setattr(launcher, name, lambda *a, _n=name, **k: steps.append(_n))
    for name in ("write_profile", "write_common_profiles"):
        monkeypatch.setattr(launcher_module, name, lambda *a, _n=name, **k: steps.append(_n))
    # the launcher's own clock, not the time module everyone shares
    fake_time = SimpleNamespace(monotonic=time.monotonic, sleep=lambda s: steps.append("sleep"))
    monkeypatch.setattr(launcher_module, "time", fake_time)
    return launcher


def test_up_waits_for_a_raft_leader_after_restarting_the_orderers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    launcher = restart_launcher(tmp_path, monkeypatch, steps)
    polls: list[int] = []

    def metric(port: int, name: str, labels: str = "") -> float | None:
        assert (name, labels) == ("consensus_etcdraft_is_leader", 'channel="tanpo"')
        polls.append(port)
        # the election ends on the third round; orderer 2 wins it
        return 1.0 if len(polls) > 6 and port == launcher.topo.orderer_nodes[2].operations_port \
            else 0.0

    monkeypatch.setattr(processes, "metric_value", metric)
    launcher.up()
    started, peers = steps.index("_start_orderers"), steps.index("_start_peers")
    assert steps[started + 1:peers].count("sleep") == 2, "polled until the leader was elected"
    assert any("has a Raft leader (orderer2" in s for s in steps[started:peers])
    # and, last, a real broadcast through every peer's gateway (their redial back-off)
    assert [s for s in steps if not s.startswith("say")][-1] == "_wait_ordering"


def test_up_fails_naming_the_orderer_when_no_leader_is_elected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    launcher = restart_launcher(tmp_path, monkeypatch, steps)
    monkeypatch.setattr(processes, "metric_value", lambda *a: None)
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(launcher_module.time, "monotonic", lambda: float(next(clock)))
    with pytest.raises(NetworkError, match=r"no orderer became the Raft leader.*network logs"):
        launcher.up()
    assert "_start_peers" not in steps


