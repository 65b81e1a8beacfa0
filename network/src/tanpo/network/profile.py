"""Writes the connection profiles into the state folder: tanpo's own, which the SDK reads
(`tanpo.client.profile`), and one Fabric common connection profile per organisation, for other
Fabric tools (and the SDK too).

A common connection profile (`connection-<org>.json` and `.yaml`) has the shape Fabric's test
network writes: `name`, `version`, `client.organization`, the organisation (`mspid`, its peers),
each peer's `grpcs://localhost:<port>` URL with its TLS CA inline and its TLS host name in
`grpcOptions`, plus the orderers and the channel. Where the identities are is not part of that
shape: the admin's certificate and key are also under the organisation's `signedCert` and
`adminPrivateKey` (the older profile keys some tools still read), and every user's certificate,
key and MSP folder under the `x-tanpo` extension key, with tanpo's party, channel and chaincode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tanpo.client.profile import CCP_EXTENSION, ProfileError
from tanpo.network.topology import CHAINCODE, CHANNEL, PeerOrg, Topology

USERS = ("Admin", "User1", "User2")
CCP_VERSION = "1.0.0"


def _first_file(folder: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise ProfileError(f"no file in {folder}")
    return files[0]


def _user_files(topo: Topology, org: PeerOrg, user: str) -> tuple[Path, Path]:
    """A user's certificate and private key, as cryptogen wrote them."""
    msp = topo.user_msp(org, user)
    return _first_file(msp / "signcerts"), _first_file(msp / "keystore")


def write_profile(topo: Topology) -> Path:
    orgs: dict[str, Any] = {}
    for org in topo.peer_orgs:
        users = {}
        for user in USERS:
            cert, key = _user_files(topo, org, user)
            users[user] = {"cert": str(cert), "key": str(key)}
        orgs[org.party] = {
            "msp_id": org.msp_id,
            # every peer, peer0 first: the SDK connects to the first
            "peers": [
                {
                    "endpoint": peer.client_endpoint,
                    "host_name": peer.peer_name,
                    "tls_root_cert": str(topo.org_tls_ca(org)),
                }
                for peer in org.peers
            ],
            "users": users,
        }
    data = {"channel": CHANNEL, "chaincode": CHAINCODE, "organizations": orgs}
    topo.profile_file.write_text(json.dumps(data, indent=2) + "\n")
    return topo.profile_file


def org_name(org: PeerOrg) -> str:
    """The organisation's name in the channel configuration (`BankA` for `BankAMSP`)."""
    return org.msp_id.removesuffix("MSP")


def _node(url_endpoint: str, tls_ca: Path, host_name: str) -> dict[str, Any]:
    return {
        "url": f"grpcs://{url_endpoint}",
        "tlsCACerts": {"pem": tls_ca.read_text()},
        "grpcOptions": {"ssl-target-name-override": host_name, "hostnameOverride": host_name},
    }


def common_profile(topo: Topology, org: PeerOrg) -> dict[str, Any]:
    """The organisation's Fabric common connection profile, as a mapping."""
    name = org_name(org)
    admin_cert, admin_key = _user_files(topo, org, "Admin")
    users = {}
    for user in USERS:
        cert, key = _user_files(topo, org, user)
        users[user] = {"cert": str(cert), "key": str(key), "msp": str(topo.user_msp(org, user))}
    orderers: dict[str, Any] = {
        o.name: _node(o.client_endpoint, topo.orderer_tls_ca(), o.name)
        for o in topo.orderer_nodes
    }
    return {
        "name": f"tanpo-{org.party}",
        "version": CCP_VERSION,
        "client": {
            "organization": name,
            "connection": {"timeout": {"peer": {"endorser": "300"}, "orderer": "300"}},
        },
        "organizations": {
            name: {
                "mspid": org.msp_id,
                "peers": [peer.peer_name for peer in org.peers],
                "signedCert": {"path": str(admin_cert)},
                "adminPrivateKey": {"path": str(admin_key)},
            }
        },
        "peers": {
            peer.peer_name: _node(peer.client_endpoint, topo.org_tls_ca(org), peer.peer_name)
            for peer in org.peers
        },
        "orderers": orderers,
        "channels": {
            CHANNEL: {
                "orderers": list(orderers),
                "peers": {
                    peer.peer_name: {"endorsingPeer": True, "chaincodeQuery": True,
                                     "ledgerQuery": True, "eventSource": True}
                    for peer in org.peers
                },
            }
        },
        CCP_EXTENSION: {
            "party": org.party,
            "channel": CHANNEL,
            "chaincode": CHAINCODE,
            "msp": str(topo.org_crypto(org) / "msp"),
            "users": users,
        },
    }


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the PEM certificates) as YAML literal blocks, as people do."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def write_common_profiles(topo: Topology) -> list[Path]:
    """`connection-<org>.json` and `connection-<org>.yaml` for every peer organisation."""
    written = []
    for org in topo.peer_orgs:
        data = common_profile(topo, org)
        as_json = topo.common_profile_file(org, ".json")
        as_json.write_text(json.dumps(data, indent=2) + "\n")
        as_yaml = topo.common_profile_file(org, ".yaml")
        as_yaml.write_text(yaml.dump(data, Dumper=_BlockDumper, sort_keys=False))
        written += [as_json, as_yaml]
    return written
