"""The connection profile: what a client needs to reach the network as one of its identities.

Written by the launcher into the state folder; read by the SDK and the CLI. Per organisation it
lists the MSP ID, its peers (endpoint, TLS root certificate, TLS host name) and its user identities
(the admin and two users), each as a certificate and a private key file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tanpo.network.topology import CHAINCODE, CHANNEL, Topology, default_state_dir

USERS = ("Admin", "User1", "User2")


class ProfileError(RuntimeError):
    """No usable connection profile (network not up, or an unknown organisation/user)."""


@dataclass(frozen=True)
class PeerInfo:
    endpoint: str
    host_name: str
    tls_root_cert: Path


@dataclass(frozen=True)
class UserInfo:
    name: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class OrgInfo:
    party: str
    msp_id: str
    peers: tuple[PeerInfo, ...]
    users: dict[str, UserInfo]


@dataclass(frozen=True)
class Profile:
    channel: str
    chaincode: str
    orgs: dict[str, OrgInfo]

    def org(self, party: str) -> OrgInfo:
        try:
            return self.orgs[party]
        except KeyError:
            raise ProfileError(
                f"unknown organisation {party!r}; known: {', '.join(sorted(self.orgs))}"
            ) from None

    def user(self, party: str, user: str = "User1") -> tuple[OrgInfo, UserInfo]:
        org = self.org(party)
        try:
            return org, org.users[user]
        except KeyError:
            raise ProfileError(
                f"unknown user {user!r} in {party}; known: {', '.join(org.users)}"
            ) from None


def _first_file(folder: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files:
        raise ProfileError(f"no file in {folder}")
    return files[0]


def write_profile(topo: Topology) -> Path:
    orgs: dict[str, Any] = {}
    for org in topo.peer_orgs:
        users = {}
        for user in USERS:
            msp = topo.user_msp(org, user)
            users[user] = {
                "cert": str(_first_file(msp / "signcerts")),
                "key": str(_first_file(msp / "keystore")),
            }
        orgs[org.party] = {
            "msp_id": org.msp_id,
            "peers": [
                {
                    "endpoint": org.endpoint,
                    "host_name": org.peer_name,
                    "tls_root_cert": str(topo.org_tls_ca(org)),
                }
            ],
            "users": users,
        }
    data = {"channel": CHANNEL, "chaincode": CHAINCODE, "organizations": orgs}
    topo.profile_file.write_text(json.dumps(data, indent=2) + "\n")
    return topo.profile_file


def load_profile(path: Path | None = None) -> Profile:
    path = path or default_state_dir() / "connection-profile.json"
    if not path.is_file():
        raise ProfileError(
            f"no connection profile at {path}: is the network up? (run `tanpo network up`)"
        )
    data = json.loads(path.read_text())
    orgs = {}
    for party, o in data["organizations"].items():
        orgs[party] = OrgInfo(
            party=party,
            msp_id=o["msp_id"],
            peers=tuple(
                PeerInfo(p["endpoint"], p["host_name"], Path(p["tls_root_cert"]))
                for p in o["peers"]
            ),
            users={
                name: UserInfo(name, Path(u["cert"]), Path(u["key"]))
                for name, u in o["users"].items()
            },
        )
    return Profile(channel=data["channel"], chaincode=data["chaincode"], orgs=orgs)
