"""The shape of a tanpo network: organisations, nodes, ports and where each node keeps its files.

Everything is derived from a few settings (number of banks and orderers, a port base, the state
folder), so `up`, `down`, `status` and the client all agree on the same names and addresses.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tanpo.client.pairs import msp_id_for
from tanpo.client.profile import PROFILE_FILE, default_state_dir

CHANNEL = "tanpo"
CHAINCODE = "tanpo"
DOMAIN = "tanpo.net"
HOST = "127.0.0.1"  # every node listens on loopback only
# Clients address nodes by this name, which cryptogen puts in every TLS certificate: a TLS name
# check then matches a host name, not an IP address.
CLIENT_HOST = "localhost"
DEFAULT_PORT_BASE = 17000
MAX_PEERS_PER_BANK = 3
# Peer n of an organisation listens on peer0's ports + PEER_PORT_STRIDE * n: every organisation
# owns a block of 10 ports (listen, chaincode, operations for each of up to 3 peers), so extra
# peers never reach the next organisation's block, the orderers' or the chaincode server's.
PEER_PORT_STRIDE = 3


def repo_root() -> Path:
    """The source checkout the launcher builds from (``chaincode/``, ``data/``).

    ``TANPO_HOME`` names it; otherwise the nearest folder above this package, or else above the
    working directory, that holds ``chaincode/go.mod``.
    """
    env = os.environ.get("TANPO_HOME")
    if env:
        return Path(env)
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "chaincode" / "go.mod").is_file():
                return folder
    raise FileNotFoundError(
        "cannot find the tanpo checkout (a folder with chaincode/go.mod): set TANPO_HOME"
    )


def bank_party(i: int) -> str:
    return f"bank-{chr(ord('a') + i)}"


@dataclass(frozen=True)
class PeerOrg:
    """An organisation with peers; its own port and name properties are those of its peer0 (the
    anchor peer and the one clients use)."""

    party: str  # operator, bank-a, ...
    index: int
    port_base: int
    peer_count: int = 1

    @property
    def peers(self) -> list[Peer]:
        return [Peer(self, n) for n in range(self.peer_count)]

    @property
    def peer0(self) -> Peer:
        return Peer(self, 0)

    @property
    def msp_id(self) -> str:
        return msp_id_for(self.party)

    @property
    def domain(self) -> str:
        return f"{self.party}.{DOMAIN}"

    @property
    def peer_name(self) -> str:
        return f"peer0.{self.domain}"

    @property
    def node(self) -> str:
        return f"peer0-{self.party}"

    @property
    def port(self) -> int:
        return self.port_base + 100 + 10 * self.index

    @property
    def chaincode_port(self) -> int:
        return self.peer0.chaincode_port

    @property
    def operations_port(self) -> int:
        return self.peer0.operations_port

    @property
    def endpoint(self) -> str:
        return self.peer0.endpoint

    @property
    def client_endpoint(self) -> str:
        return self.peer0.client_endpoint


@dataclass(frozen=True)
class Peer:
    """One peer node of an organisation: `peer0` is the anchor peer, `peer1`, `peer2` extras."""

    org: PeerOrg
    number: int

    @property
    def party(self) -> str:
        return self.org.party

    @property
    def msp_id(self) -> str:
        return self.org.msp_id

    @property
    def peer_name(self) -> str:
        return f"peer{self.number}.{self.org.domain}"

    @property
    def node(self) -> str:
        return f"peer{self.number}-{self.org.party}"

    @property
    def port(self) -> int:
        return self.org.port + PEER_PORT_STRIDE * self.number

    @property
    def chaincode_port(self) -> int:
        return self.port + 1

    @property
    def operations_port(self) -> int:
        return self.port + 2

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def client_endpoint(self) -> str:
        return f"{CLIENT_HOST}:{self.port}"

    @property
    def siblings(self) -> list[Peer]:
        return [p for p in self.org.peers if p.number != self.number]


@dataclass(frozen=True)
class Orderer:
    index: int
    port_base: int

    @property
    def name(self) -> str:
        return f"orderer{self.index}.{DOMAIN}"

    @property
    def node(self) -> str:
        return f"orderer{self.index}"

    @property
    def port(self) -> int:
        return self.port_base + 50 + self.index

    @property
    def admin_port(self) -> int:
        return self.port_base + 60 + self.index

    @property
    def operations_port(self) -> int:
        return self.port_base + 70 + self.index

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def client_endpoint(self) -> str:
        return f"{CLIENT_HOST}:{self.port}"


@dataclass(frozen=True)
class Topology:
    """A network: one orderer organisation (1, 3 or 5 Raft nodes), the operator's peer and
    `peers_per_bank` peers per bank."""

    banks: int = 2
    orderers: int = 1
    port_base: int = DEFAULT_PORT_BASE
    state_dir: Path = field(default_factory=default_state_dir)
    peers_per_bank: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.banks <= 26:
            raise ValueError("banks must be between 1 and 26")
        if not 1 <= self.peers_per_bank <= MAX_PEERS_PER_BANK:
            raise ValueError(f"peers per bank must be between 1 and {MAX_PEERS_PER_BANK}")
        if self.orderers not in (1, 3, 5):
            raise ValueError("orderers must be 1, 3 or 5 (a Raft cluster)")
        if not 1024 <= self.port_base <= 65000:
            raise ValueError("port base must be between 1024 and 65000")

    @property
    def peer_orgs(self) -> list[PeerOrg]:
        parties = ["operator"] + [bank_party(i) for i in range(self.banks)]
        return [
            PeerOrg(p, i, self.port_base, 1 if p == "operator" else self.peers_per_bank)
            for i, p in enumerate(parties)
        ]

    @property
    def bank_parties(self) -> list[str]:
        return [bank_party(i) for i in range(self.banks)]

    @property
    def peers(self) -> list[Peer]:
        """Every peer node, each organisation's peer0 first."""
        return [p for org in self.peer_orgs for p in org.peers]

    def peer(self, node: str) -> Peer:
        """A peer by its node name (`peer1-bank-a`)."""
        for p in self.peers:
            if p.node == node:
                return p
        known = ", ".join(p.node for p in self.peers)
        raise KeyError(f"no peer {node!r} in this network (known: {known})")

    @property
    def orderer_nodes(self) -> list[Orderer]:
        return [Orderer(i, self.port_base) for i in range(self.orderers)]

    @property
    def chaincode_port(self) -> int:
        return self.port_base + 200

    def ports(self) -> list[tuple[str, int]]:
        """Every port the network listens on, with the node that owns it."""
        ports: list[tuple[str, int]] = []
        for o in self.orderer_nodes:
            ports += [(o.node, o.port), (o.node, o.admin_port), (o.node, o.operations_port)]
        for p in self.peers:
            ports += [(p.node, p.port), (p.node, p.chaincode_port), (p.node, p.operations_port)]
        ports.append(("chaincode", self.chaincode_port))
        return ports

    def org(self, party: str) -> PeerOrg:
        for org in self.peer_orgs:
            if org.party == party:
                return org
        known = ", ".join(o.party for o in self.peer_orgs)
        raise KeyError(f"no organisation {party!r} in this network (known: {known})")

    # --- files -------------------------------------------------------------------------------
    @property
    def crypto_dir(self) -> Path:
        return self.state_dir / "crypto"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "config"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def settings_file(self) -> Path:
        return self.state_dir / "network.json"

    @property
    def profile_file(self) -> Path:
        return self.state_dir / PROFILE_FILE

    def common_profile_file(self, org: PeerOrg, suffix: str = ".json") -> Path:
        """The organisation's Fabric common connection profile (`.json` or `.yaml`)."""
        return self.state_dir / f"connection-{org.party}{suffix}"

    def org_crypto(self, org: PeerOrg) -> Path:
        return self.crypto_dir / "peerOrganizations" / org.domain

    def peer_crypto(self, peer: Peer | PeerOrg) -> Path:
        p = peer if isinstance(peer, Peer) else peer.peer0
        return self.org_crypto(p.org) / "peers" / p.peer_name

    def user_msp(self, org: PeerOrg, user: str) -> Path:
        return self.org_crypto(org) / "users" / f"{user}@{org.domain}" / "msp"

    def orderer_org_crypto(self) -> Path:
        return self.crypto_dir / "ordererOrganizations" / DOMAIN

    def orderer_crypto(self, o: Orderer) -> Path:
        return self.orderer_org_crypto() / "orderers" / o.name

    def orderer_tls_ca(self) -> Path:
        return self.orderer_org_crypto() / "tlsca" / f"tlsca.{DOMAIN}-cert.pem"

    def org_tls_ca(self, org: PeerOrg) -> Path:
        return self.org_crypto(org) / "tlsca" / f"tlsca.{org.domain}-cert.pem"

    # --- persisted settings --------------------------------------------------------------------
    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        self.settings_file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir: Path) -> Topology | None:
        path = state_dir / "network.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(
            banks=int(data["banks"]),
            orderers=int(data["orderers"]),
            port_base=int(data["port_base"]),
            state_dir=state_dir,
            peers_per_bank=int(data.get("peers_per_bank", 1)),
        )
