"""Bring a tanpo network up, down, and report on it.

`up` is idempotent: a running network is left alone; a stopped one is restarted from its state
folder (ledgers kept); a missing one is created: crypto material, channel genesis block, Raft
orderer(s) joined through the channel participation API, every peer (one for the operator, one to
three per bank) joined to the channel, the chaincode built and deployed as a
chaincode-as-a-service package through the lifecycle with a private data collection per pair of
banks, roles bootstrapped, and the connection profiles written: tanpo's own for the client,
and a Fabric common connection profile per organisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from tanpo.network import collections, configs, processes
from tanpo.network.fabric_bin import FabricInstall, build
from tanpo.network.processes import Node, NodeStartError
from tanpo.network.profile import write_common_profiles, write_profile
from tanpo.network.topology import (
    CHAINCODE,
    CHANNEL,
    HOST,
    Orderer,
    Peer,
    PeerOrg,
    Topology,
    repo_root,
)

Say = Callable[[str], None]


class NetworkError(RuntimeError):
    """A network operation failed; the message says which step and what to look at."""


def _default_say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Launcher:
    topo: Topology
    say: Say = _default_say
    install: FabricInstall | None = None

    # --- helpers -----------------------------------------------------------------------------
    def fabric(self) -> FabricInstall:
        if self.install is None:
            self.install = build()
        return self.install

    def _run(self, argv: Sequence[str], env: dict[str, str] | None = None, what: str = "") -> str:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run(list(argv), env=full_env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise NetworkError(
                f"{what or argv[0]} failed (exit {proc.returncode}):\n"
                f"$ {' '.join(argv)}\n{proc.stdout.strip()}\n{proc.stderr.strip()}"
            )
        return proc.stdout

    def _peer(self, target: PeerOrg | Peer, *args: str, what: str = "") -> str:
        """The `peer` CLI as the organisation's admin, against a peer (an organisation: its
        peer0)."""
        org, peer = (target.org, target) if isinstance(target, Peer) else (target, None)
        return self._run(
            [str(self.fabric().tool("peer")), *args], configs.admin_env(self.topo, org, peer), what
        )

    def _orderer_flags(self) -> list[str]:
        o = self.topo.orderer_nodes[0]
        return ["-o", o.endpoint, "--tls", "--cafile", str(self.topo.orderer_tls_ca())]

    def orderer_node(self, o: Orderer) -> Node:
        return Node(
            name=o.node,
            argv=(str(self.fabric().tool("orderer")),),
            env=configs.orderer_env(self.topo, o),
            log=self.topo.logs_dir / f"{o.node}.log",
            pidfile=self.topo.pids_dir / f"{o.node}.pid",
        )

    def peer_node(self, target: PeerOrg | Peer) -> Node:
        """A peer's process (an organisation: its peer0)."""
        peer = target if isinstance(target, Peer) else target.peer0
        return Node(
            name=peer.node,
            argv=(str(self.fabric().tool("peer")), "node", "start"),
            env=configs.peer_env(self.topo, peer),
            log=self.topo.logs_dir / f"{peer.node}.log",
            pidfile=self.topo.pids_dir / f"{peer.node}.pid",
        )

    def chaincode_node(self, package_id: str) -> Node:
        binary = self.topo.state_dir / "bin" / "tanpo-cc"
        return Node(
            name="chaincode",
            argv=(sys.executable, "-m", "tanpo.network.supervise", "--", str(binary)),
            env={
                "CHAINCODE_ID": package_id,
                "CHAINCODE_SERVER_ADDRESS": f"{HOST}:{self.topo.chaincode_port}",
            },
            log=self.topo.logs_dir / "chaincode.log",
            pidfile=self.topo.pids_dir / "chaincode.pid",
        )

    def all_pidfiles(self) -> list[Path]:
        return sorted(self.topo.pids_dir.glob("*.pid")) if self.topo.pids_dir.is_dir() else []

    # --- up ----------------------------------------------------------------------------------
    def up(self) -> None:
        t0 = time.monotonic()
        fresh = not (self.topo.state_dir / "channel-joined").exists()
        if fresh and self.topo.state_dir.exists() and any(self.topo.state_dir.iterdir()):
            self.say("A previous set-up did not finish; wiping its state and starting again.")
            self.wipe()
        self.fabric()
        if fresh:
            self._create_material()
        else:
            self.say(f"Network state found in {self.topo.state_dir}; starting what is not running.")
        self._start_orderers()
        if fresh:
            self._join_orderers()
        self._wait_orderer_leader()
        self._start_peers()
        if fresh:
            self._join_peers()
            (self.topo.state_dir / "channel-joined").write_text("ok\n")
        self._deploy_chaincode()
        self._wait_membership()
        write_profile(self.topo)
        write_common_profiles(self.topo)
        self._bootstrap_roles()
        self._wait_ordering()
        self.say(f"Network up in {time.monotonic() - t0:.1f}s. Profile: {self.topo.profile_file}")

    def _create_material(self) -> None:
        topo = self.topo
        self.say(
            f"Creating a network: {topo.orderers} orderer(s), peer orgs "
            f"{', '.join(o.party for o in topo.peer_orgs)} ({topo.peers_per_bank} peer(s) per "
            f"bank); ports from {topo.port_base}"
        )
        processes.ensure_ports_free(topo.ports())
        topo.save()
        configs.write_all(topo, self.fabric())
        self.say("  crypto material (cryptogen)")
        self._run(
            [
                str(self.fabric().tool("cryptogen")),
                "generate",
                f"--config={topo.config_dir / 'crypto-config.yaml'}",
                f"--output={topo.crypto_dir}",
            ],
            what="cryptogen",
        )
        self.say("  channel genesis block (configtxgen)")
        self._run(
            [
                str(self.fabric().tool("configtxgen")),
                "-profile",
                configs.CHANNEL_PROFILE,
                "-outputBlock",
                str(topo.config_dir / "channel.block"),
                "-channelID",
                CHANNEL,
            ],
            env={"FABRIC_CFG_PATH": str(topo.config_dir / "configtx")},
            what="configtxgen",
        )

    def _start_orderers(self) -> None:
        nodes = [(self.orderer_node(o), o) for o in self.topo.orderer_nodes]
        for node, _ in nodes:
            processes.start(node)
        for node, o in nodes:
            processes.wait_until(node, _healthz(o.operations_port), "healthz")
            # the channel participation API listens on its own port, opened after the health
            # endpoint: under load a join sent at once met "connection refused"
            processes.wait_until(node, _listening(o.admin_port),
                                 f"admin endpoint on {o.admin_port}")
            self.say(f"  {o.node} up on {o.endpoint}")

    def _join_orderers(self) -> None:
        block = self.topo.config_dir / "channel.block"
        for o in self.topo.orderer_nodes:
            self._run(
                [
                    str(self.fabric().tool("osnadmin")),
                    "channel",
                    "join",
                    "--channelID",
                    CHANNEL,
                    "--config-block",
                    str(block),
                    "-o",
                    f"{HOST}:{o.admin_port}",
                ],
                what=f"osnadmin channel join on {o.node}",
            )
        self.say(f"  orderers joined channel {CHANNEL!r}")

    def _wait_orderer_leader(self, timeout: float = 90.0) -> None:
        """Wait until the channel's Raft cluster has a leader. A (re)started orderer answers its
        health check at once, but refuses broadcasts ("no Raft leader") until the election that
        follows, which takes seconds: returning before it leaves the next submit to fail."""
        labels = f'channel="{CHANNEL}"'
        deadline = time.monotonic() + timeout
        while True:
            leaders = [o.node for o in self.topo.orderer_nodes
                       if processes.metric_value(o.operations_port,
                                                 "consensus_etcdraft_is_leader", labels) == 1]
            if leaders:
                self.say(f"  channel {CHANNEL!r} has a Raft leader ({leaders[0]}): "
                         "the ordering service accepts transactions")
                return
            if time.monotonic() > deadline:
                raise NetworkError(
                    f"no orderer became the Raft leader of channel {CHANNEL!r} within "
                    f"{timeout:.0f}s, so no transaction can be ordered: see `tanpo network logs "
                    f"{self.topo.orderer_nodes[0].node}`")
            time.sleep(0.25)

    def _start_peers(self) -> None:
        nodes = [(self.peer_node(peer), peer) for peer in self.topo.peers]
        for node, _ in nodes:
            processes.start(node)
        for node, peer in nodes:
            processes.wait_until(node, _healthz(peer.operations_port), "healthz")
            self.say(f"  {peer.node} up on {peer.endpoint}")

    def _join_peers(self) -> None:
        block = self.topo.config_dir / "channel.block"
        for peer in self.topo.peers:
            # Right after the orderer joins, the peer may still fail to fetch; retry briefly.
            for attempt in range(20):
                try:
                    self._peer(peer, "channel", "join", "-b", str(block), what="peer channel join")
                    break
                except NetworkError:
                    if attempt == 19:
                        raise
                    time.sleep(0.5)
        self.say(f"  peers joined channel {CHANNEL!r}")

    # --- chaincode ---------------------------------------------------------------------------
    def _chaincode_source_hash(self) -> str:
        src = repo_root() / "chaincode"
        h = hashlib.sha256()
        for path in sorted(src.rglob("*")):
            if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
                if "_test.go" in path.name:
                    continue
                h.update(str(path.relative_to(src)).encode())
                h.update(path.read_bytes())
        return h.hexdigest()[:12]

    def _build_chaincode(self) -> None:
        out = self.topo.state_dir / "bin" / "tanpo-cc"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.say("  building the chaincode server (go build)")
        proc = subprocess.run(
            ["go", "build", "-o", str(out), "./cmd/tanpo-cc"],
            cwd=repo_root() / "chaincode",
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise NetworkError(f"building the chaincode failed:\n{proc.stderr.strip()}")

    def _package(self, label: str) -> Path:
        """A CCaaS package: metadata.json plus code.tar.gz holding only connection.json."""
        connection = {
            "address": f"{HOST}:{self.topo.chaincode_port}",
            "dial_timeout": "10s",
            "tls_required": False,
        }
        code = BytesIO()
        with tarfile.open(fileobj=code, mode="w:gz") as tar:
            _add_bytes(tar, "connection.json", json.dumps(connection).encode())
        pkg = self.topo.state_dir / "chaincode" / f"{label}.tgz"
        pkg.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(pkg, mode="w:gz") as tar:
            _add_bytes(tar, "metadata.json", json.dumps({"type": "ccaas", "label": label}).encode())
            _add_bytes(tar, "code.tar.gz", code.getvalue())
        return pkg

    def _deployed(self) -> dict[str, Any]:
        path = self.topo.state_dir / "chaincode.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _deploy_chaincode(self) -> None:
        source_hash = self._chaincode_source_hash()
        deployed = self._deployed()
        self._build_chaincode()
        # The collections are part of the definition: a change to them is a new sequence too.
        pairs = collections.collections_config(self.topo.bank_parties)
        pairs_digest = collections.config_digest(pairs)
        if definition_current(deployed, source_hash, pairs_digest):
            processes.start(self.chaincode_node(deployed["package_id"]))
            self._wait_chaincode()
            self.say(f"  chaincode {CHAINCODE} {source_hash} (sequence {deployed['sequence']})")
            return
        sequence = int(deployed.get("sequence", 0)) + 1
        label = f"{CHAINCODE}_{source_hash}"
        pkg = self._package(label)
        package_id = ""
        # every peer installs the package: each one endorses and connects to the same server
        for peer in self.topo.peers:
            out = self._peer(
                peer, "lifecycle", "chaincode", "calculatepackageid", str(pkg), what="package id"
            )
            package_id = out.strip()
            installed = self._peer(
                peer, "lifecycle", "chaincode", "queryinstalled", what="queryinstalled"
            )
            if package_id not in installed:
                self._peer(peer, "lifecycle", "chaincode", "install", str(pkg), what="install")
        self.say(f"  installed package {package_id} on {len(self.topo.peers)} peer(s)")
        # Restart the server with the new package id (a rolling restart is enough on loopback).
        processes.stop(self.topo.pids_dir / "chaincode.pid")
        processes.start(self.chaincode_node(package_id))
        self._wait_chaincode()
        common = [
            "--channelID",
            CHANNEL,
            "--name",
            CHAINCODE,
            "--version",
            source_hash,
            "--sequence",
            str(sequence),
        ]
        pairs_file = collections.write_collections(self.topo.config_dir, self.topo.bank_parties)
        if pairs_file is not None:
            common += ["--collections-config", str(pairs_file)]
        for org in self.topo.peer_orgs:
            self._peer(
                org,
                "lifecycle",
                "chaincode",
                "approveformyorg",
                *self._orderer_flags(),
                *common,
                "--package-id",
                package_id,
                what=f"approveformyorg for {org.msp_id}",
            )
        peer_flags: list[str] = []
        for org in self.topo.peer_orgs:
            peer_flags += ["--peerAddresses", org.endpoint]
            peer_flags += ["--tlsRootCertFiles", str(self.topo.org_tls_ca(org))]
        first = self.topo.peer_orgs[0]
        self._peer(
            first,
            "lifecycle",
            "chaincode",
            "commit",
            *self._orderer_flags(),
            *common,
            *peer_flags,
            what="chaincode commit",
        )
        self._wait_committed(source_hash, sequence)
        (self.topo.state_dir / "chaincode.json").write_text(
            json.dumps({"version": source_hash, "sequence": sequence, "package_id": package_id,
                        "collections": pairs_digest})
        )
        self.say(f"  chaincode {CHAINCODE} {source_hash} committed (sequence {sequence}, "
                 f"{len(pairs)} pair collection(s))")

    def _wait_membership(self, timeout: float = 90.0) -> None:
        """Wait until every peer's gossip knows every other peer of the channel. Peers of other
        organisations are found through the anchor peers some seconds after start; until then a
        gateway cannot find the endorsers a bilateral transaction needs ("failed to find any
        endorsing peers for org(s)")."""
        others = len(self.topo.peers) - 1
        deadline = time.monotonic() + timeout
        while True:
            known = {peer.node: self.peers_known(peer) for peer in self.topo.peers}
            if all(k is not None and k >= others for k in known.values()):
                return
            if time.monotonic() > deadline:
                late = ", ".join(f"{n} knows {'?' if k is None else int(k)}"
                                 for n, k in known.items() if k is None or k < others)
                raise NetworkError(
                    f"the peers did not find each other within {timeout:.0f}s ({late} of "
                    f"{others} other peers): see `tanpo network logs` for gossip errors")
            time.sleep(0.5)

    def peers_known(self, peer: Peer) -> float | None:
        """How many other peers of the channel this peer's gossip knows (None: unreachable)."""
        return processes.metric_value(peer.operations_port, "gossip_membership_total_peers_known",
                                      f'channel="{CHANNEL}"')

    def _wait_chaincode(self) -> None:
        node = self.chaincode_node("")
        processes.wait_until(
            node,
            lambda: processes.port_open(self.topo.chaincode_port),
            f"chaincode server listening on {self.topo.chaincode_port}",
            timeout=30,
        )

    def _wait_committed(self, version: str, sequence: int) -> None:
        deadline = time.monotonic() + 60
        while True:
            ok = True
            for peer in self.topo.peers:
                try:
                    info = self.committed(peer)
                except NetworkError:
                    info = None
                if not info or info.get("version") != version or info.get("sequence") != sequence:
                    ok = False
            if ok:
                return
            if time.monotonic() > deadline:
                raise NetworkError("the chaincode definition did not reach every peer within 60s")
            time.sleep(0.5)

    def committed(self, target: PeerOrg | Peer) -> dict[str, Any] | None:
        """The committed chaincode definition, as a peer (an organisation: its peer0) reports it
        (`querycommitted --output json`: version, sequence, approvals, collections)."""
        out = self._peer(
            target,
            "lifecycle",
            "chaincode",
            "querycommitted",
            "--channelID",
            CHANNEL,
            "--name",
            CHAINCODE,
            "--output",
            "json",
            what="querycommitted",
        )
        data: dict[str, Any] = json.loads(out)
        return data

    def _bootstrap_roles(self) -> None:
        from tanpo.network.bootstrap import bootstrap_roles

        n = bootstrap_roles(self.topo)
        if n:
            self.say(f"  registered {n} identities in the role registry")

    def _wait_ordering(self) -> None:
        from tanpo.client.errors import GatewayError
        from tanpo.network.bootstrap import wait_for_ordering

        t0 = time.monotonic()
        try:
            wait_for_ordering(self.topo)
        except (GatewayError, TimeoutError) as exc:
            raise NetworkError(
                f"the network does not accept transactions yet: a no-op submitted through each "
                f"peer failed ({exc}); see `tanpo network status` and `tanpo network logs`"
            ) from exc
        self.say(f"  every peer's gateway gets transactions ordered "
                 f"({time.monotonic() - t0:.1f}s)")

    # --- down / status / logs ----------------------------------------------------------------
    def down(self, wipe: bool = False) -> list[str]:
        stopped = []
        # Clients first, then peers, then orderers: nothing is left waiting on a dead node.
        order = sorted(
            self.all_pidfiles(),
            key=lambda p: (0 if p.stem == "chaincode" else 1 if p.stem.startswith("peer") else 2),
        )
        for pidfile in order:
            if processes.stop(pidfile):
                stopped.append(pidfile.stem)
        if wipe:
            self.wipe()
        return stopped

    def wipe(self) -> None:
        if self.topo.state_dir.exists():
            shutil.rmtree(self.topo.state_dir)

    def status(self) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = []
        for o in self.topo.orderer_nodes:
            node = self.orderer_node(o)
            nodes.append(
                {
                    "node": o.node,
                    "endpoint": o.endpoint,
                    "pid": processes.read_pid(node.pidfile),
                    "healthy": processes.healthz_ok(o.operations_port),
                    "height": self._orderer_height(o),
                }
            )
        for peer in self.topo.peers:
            node = self.peer_node(peer)
            pid = processes.read_pid(node.pidfile)
            entry: dict[str, Any] = {
                "node": peer.node,
                "endpoint": peer.endpoint,
                "pid": pid,
                "healthy": processes.healthz_ok(peer.operations_port),
                "height": None,
                "chaincode": None,
            }
            if pid is not None:
                entry["height"] = self._peer_height(peer)
                try:
                    info = self.committed(peer)
                    if info:
                        entry["chaincode"] = f"{info.get('version')} (seq {info.get('sequence')})"
                except NetworkError:
                    pass
            nodes.append(entry)
        cc = self.chaincode_node("")
        nodes.append(
            {
                "node": "chaincode",
                "endpoint": f"{HOST}:{self.topo.chaincode_port}",
                "pid": processes.read_pid(cc.pidfile),
                "healthy": processes.port_open(self.topo.chaincode_port),
                "height": None,
            }
        )
        return {"channel": CHANNEL, "state_dir": str(self.topo.state_dir), "nodes": nodes}

    def peer_height(self, node: str) -> int | None:
        """A peer's ledger height on the channel, by node name (`peer1-bank-a`); None when it
        does not answer."""
        return self._peer_height(self.topo.peer(node))

    def _peer_height(self, target: PeerOrg | Peer) -> int | None:
        try:
            out = self._peer(target, "channel", "getinfo", "-c", CHANNEL, what="getinfo")
        except NetworkError:
            return None
        start = out.find("{")
        if start < 0:
            return None
        return int(json.loads(out[start:]).get("height", 0))

    def _orderer_height(self, o: Orderer) -> int | None:
        try:
            out = self._run(
                [
                    str(self.fabric().tool("osnadmin")),
                    "channel",
                    "list",
                    "--channelID",
                    CHANNEL,
                    "-o",
                    f"{HOST}:{o.admin_port}",
                ],
                what="osnadmin channel list",
            )
        except NetworkError:
            return None
        start = out.find("{")
        return int(json.loads(out[start:]).get("height", 0)) if start >= 0 else None

    # --- one node ----------------------------------------------------------------------------
    def _named_node(self, name: str) -> Orderer | Peer:
        """A peer or orderer by node name (`peer1-bank-a`, `orderer0`)."""
        for o in self.topo.orderer_nodes:
            if o.node == name:
                return o
        try:
            return self.topo.peer(name)
        except KeyError:
            known = [o.node for o in self.topo.orderer_nodes] + [p.node for p in self.topo.peers]
            raise NetworkError(f"no node {name!r} in this network (known: "
                               f"{', '.join(known)})") from None

    def stop_node(self, name: str) -> bool:
        """Stop one peer or orderer by its PID file; False when it was not running."""
        node = self._named_node(name)
        return processes.stop(self.topo.pids_dir / f"{node.node}.pid")

    def start_node(self, name: str) -> int:
        """Start one stopped peer or orderer (a running one is left alone) and wait until it is
        healthy; its PID. A peer catches up from the orderers and reconciles private data."""
        target = self._named_node(name)
        node = self.orderer_node(target) if isinstance(target, Orderer) else self.peer_node(target)
        pid = processes.start(node)
        processes.wait_until(node, _healthz(target.operations_port), "healthz")
        return pid

    def running_pids(self) -> dict[str, int]:
        pids = {}
        for pidfile in self.all_pidfiles():
            pid = processes.read_pid(pidfile)
            if pid is not None:
                pids[pidfile.stem] = pid
        return pids


def definition_current(deployed: dict[str, Any], version: str, pairs_digest: str) -> bool:
    """Whether the committed definition (`chaincode.json`) has this chaincode version and these
    collections; otherwise `up` commits a new sequence."""
    # a definition from before collections were recorded had none
    committed = deployed.get("collections", collections.config_digest([]))
    return bool(deployed.get("version") == version and committed == pairs_digest)


def _healthz(port: int) -> Callable[[], bool]:
    return lambda: processes.healthz_ok(port)


def _listening(port: int) -> Callable[[], bool]:
    return lambda: processes.port_open(port)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, BytesIO(data))


__all__ = ["Launcher", "NetworkError", "NodeStartError"]
