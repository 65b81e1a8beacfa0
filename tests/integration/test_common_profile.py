"""A common connection profile the launcher wrote is enough to act for its organisation: tanpo's
client reads `connection-bank-a.json` and transacts through bank-a's peer at `localhost`."""

from __future__ import annotations

import json

from fabric_protos.common import ledger_pb2

from tanpo.client import connect, open_channel
from tanpo.client.gateway import Gateway
from tanpo.client.identity import Identity, ecdsa_signer, hasher_for, load_private_key
from tanpo.client.profile import load_profile
from tanpo.network.launcher import Launcher


def test_a_bank_transacts_through_its_common_connection_profile(launcher: Launcher) -> None:
    path = launcher.topo.common_profile_file(launcher.topo.org("bank-a"))
    profile = load_profile(path)
    assert list(profile.orgs) == ["bank-a"]
    (peer,) = profile.org("bank-a").peers
    assert peer.endpoint.startswith("localhost:")
    with connect("bank-a", "User1", profile) as conn:
        ping = conn.contract("ping")
        tx_id = ping.submit("Ping", "through connection-bank-a.json").transaction_id
        stored = json.loads(ping.evaluate("GetPing", tx_id))
        assert stored["message"] == "through connection-bank-a.json"


def test_the_peer_certificate_names_localhost(launcher: Launcher) -> None:
    """Without a TLS host name override the name checked is `localhost` itself."""
    profile = load_profile(launcher.topo.common_profile_file(launcher.topo.org("bank-a")))
    org, user = profile.user("bank-a", "User1")
    peer = org.peers[0]
    key = load_private_key(user.key)
    channel = open_channel(peer.endpoint, peer.tls_root_cert)  # no override
    try:
        gateway = Gateway(channel, Identity.from_file(org.msp_id, user.cert), ecdsa_signer(key),
                          hasher_for(key))
        raw = gateway.network(profile.channel).contract("qscc").evaluate(
            "GetChainInfo", profile.channel)
        assert ledger_pb2.BlockchainInfo.FromString(raw).height >= 1
    finally:
        channel.close()
