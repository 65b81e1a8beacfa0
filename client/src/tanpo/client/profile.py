"""The connection profile: what a client needs to reach the network as one of its identities.

The launcher writes it into the network's state folder (``tanpo.network.profile``); the SDK and the
CLI read it here. It is found through an explicit path, else ``TANPO_PROFILE`` (a profile file),
else ``TANPO_STATE_DIR`` (the state folder holding ``connection-profile.json``), else
``.state/network`` under the working directory. Per organisation it lists the MSP ID, its peers
(endpoint, TLS root certificate, TLS host name) and its user identities (the admin and two users),
each as a certificate and a private key file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PROFILE_FILE = "connection-profile.json"


def default_state_dir() -> Path:
    """The network's state folder: ``TANPO_STATE_DIR``, else ``.state/network`` here."""
    env = os.environ.get("TANPO_STATE_DIR")
    return Path(env) if env else Path.cwd() / ".state" / "network"


def default_profile_path() -> Path:
    env = os.environ.get("TANPO_PROFILE")
    return Path(env) if env else default_state_dir() / PROFILE_FILE

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


def load_profile(path: Path | None = None) -> Profile:
    path = path or default_profile_path()
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
