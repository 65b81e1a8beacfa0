"""Connecting as a participant of a running network, from its connection profile."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from fabric_protos.common import ledger_pb2

from tanpo.client.gateway import BlockWatermark, Contract, Gateway, Timeouts
from tanpo.client.identity import Identity, ecdsa_signer, hasher_for, load_private_key
from tanpo.client.profile import Profile, load_profile

# Keepalives keep long event streams healthy; large messages carry sweep results.
_CHANNEL_OPTIONS: list[tuple[str, str | int]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
]


def open_channel(endpoint: str, tls_root_cert: Path | bytes,
                 host_name: str | None = None) -> grpc.Channel:
    """A TLS channel to a peer. `tls_root_cert` is a PEM file or the PEM itself; `host_name`, when
    given, is the name checked in the peer's certificate instead of the endpoint's host."""
    pem = tls_root_cert if isinstance(tls_root_cert, bytes) else tls_root_cert.read_bytes()
    credentials = grpc.ssl_channel_credentials(root_certificates=pem)
    options: list[tuple[str, str | int]] = list(_CHANNEL_OPTIONS)
    if host_name:
        options.append(("grpc.ssl_target_name_override", host_name))
    return grpc.secure_channel(endpoint, credentials, options=options)


@dataclass
class Connection:
    """A participant's gateway connection and the tanpo chaincode on the tanpo channel."""

    party: str
    user: str
    gateway: Gateway
    channel: grpc.Channel
    profile: Profile
    _peer_channels: dict[str, grpc.Channel] = field(default_factory=dict, repr=False)

    def contract(self, name: str = "") -> Contract:
        return self.gateway.network(self.profile.channel).contract(self.profile.chaincode, name)

    def block_height(self) -> int:
        """The channel height on this participant's own peer (via the qscc system chaincode)."""
        raw = self.gateway.network(self.profile.channel).contract("qscc").evaluate(
            "GetChainInfo", self.profile.channel
        )
        return int(ledger_pb2.BlockchainInfo.FromString(raw).height)

    def peer_heights(self) -> dict[str, int]:
        """The channel height on one peer of every organisation, asked of each peer directly."""
        heights = {}
        for org in self.profile.orgs.values():
            peer = org.peers[0]
            channel = self._peer_channels.get(peer.endpoint)
            if channel is None:
                channel = open_channel(peer.endpoint, peer.tls_root_cert, peer.host_name)
                self._peer_channels[peer.endpoint] = channel
            gateway = Gateway(channel, self.gateway.identity, self.gateway.signer,
                              self.gateway.hasher, self.gateway.timeouts)
            raw = gateway.network(self.profile.channel).contract("qscc").evaluate(
                "GetChainInfo", self.profile.channel
            )
            heights[org.party] = int(ledger_pb2.BlockchainInfo.FromString(raw).height)
        return heights

    def wait_for_all_peers(self, block_number: int, timeout: float = 30.0,
                           poll: float = 0.05) -> None:
        """Wait until every organisation's peer has committed `block_number`.

        Needed before a transaction whose endorsers read what another transaction just wrote:
        the gateway reports a commit on its own peer, and the other organisations' peers may
        still be a block behind.
        """
        deadline = time.monotonic() + timeout
        while True:
            behind = {p: h for p, h in self.peer_heights().items() if h <= block_number}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"peers of {', '.join(sorted(behind))} have not committed block "
                    f"{block_number} in {timeout:.0f}s"
                )
            time.sleep(poll)

    def wait_for_block(self, block_number: int, timeout: float = 30.0) -> None:
        """Wait until this participant's peer has committed `block_number`.

        A transaction submitted through another organisation's gateway is committed there first;
        reading it through this peer right away may not see it yet.
        """
        deadline = time.monotonic() + timeout
        while self.block_height() <= block_number:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.party}'s peer has not committed block {block_number} in {timeout:.0f}s"
                )
            time.sleep(0.1)

    def close(self) -> None:
        for channel in self._peer_channels.values():
            channel.close()
        self._peer_channels.clear()
        self.channel.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(
    party: str,
    user: str = "User1",
    profile: Profile | None = None,
    timeouts: Timeouts | None = None,
    channel: grpc.Channel | None = None,
    commits: BlockWatermark | None = None,
) -> Connection:
    """Connect as `user` of organisation `party` (e.g. `bank-a`, `User1`) to its own peer.

    `commits` collects the blocks this connection's submits commit in (a session shares one).
    """
    profile = profile or load_profile()
    org, info = profile.user(party, user)
    key = load_private_key(info.key)
    identity = Identity.from_file(org.msp_id, info.cert)
    if channel is None:
        peer = org.peers[0]
        channel = open_channel(peer.endpoint, peer.tls_root_cert, peer.host_name)
    gateway = Gateway(channel, identity, ecdsa_signer(key), hasher_for(key), timeouts, commits)
    return Connection(party, user, gateway, channel, profile)


def parse_as(spec: str) -> tuple[str, str]:
    """`bank-a` -> (`bank-a`, `User1`); `bank-a/User2` -> (`bank-a`, `User2`)."""
    party, _, user = spec.partition("/")
    if not party:
        raise ValueError("--as needs an organisation, e.g. bank-a or bank-a/User2")
    return party, user or "User1"
