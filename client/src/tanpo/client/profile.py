"""The connection profile: what a client needs to reach the network as one of its identities.

The launcher writes it into the network's state folder (``tanpo.network.profile``); the SDK and the
CLI read it here. It is found through an explicit path, else ``TANPO_PROFILE`` (a profile file),
else ``TANPO_STATE_DIR`` (the state folder holding ``connection-profile.json``), else
``.state/network`` under the working directory. Per organisation it lists the MSP ID, its peers
(endpoint, TLS root certificate, TLS host name) and its user identities (the admin and two users),
each as a certificate and a private key file.

``load_profile`` reads two formats:

- tanpo's own ``connection-profile.json``: every organisation and its users;
- a Fabric common connection profile (``connection-<org>.json``, or ``.yaml`` with PyYAML
  installed), as Fabric's test network writes them. It describes one organisation, so a client
  reading it acts only for that organisation. Its users come from the ``x-tanpo`` extension the
  launcher adds (``users``: name → ``cert``/``key`` paths); without it, only the admin named by
  the older ``adminPrivateKey``/``signedCert`` keys, if present. Relative paths are taken from the
  profile's folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_FILE = "connection-profile.json"
# The extension key of a common connection profile that carries what tanpo adds.
CCP_EXTENSION = "x-tanpo"
# tanpo's channel and chaincode, for a common connection profile that does not name them.
DEFAULT_CHANNEL = "tanpo"
DEFAULT_CHAINCODE = "tanpo"


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
    tls_root_cert: Path | bytes  # a PEM file, or the PEM itself (inline in a common profile)

    def tls_root_pem(self) -> bytes:
        cert = self.tls_root_cert
        return cert if isinstance(cert, bytes) else cert.read_bytes()


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
    source: str = ""  # where it was read, for errors

    def org(self, party: str) -> OrgInfo:
        try:
            return self.orgs[party]
        except KeyError:
            hint = f" (in {self.source})" if self.source else ""
            raise ProfileError(
                f"unknown organisation {party!r}; known: {', '.join(sorted(self.orgs))}{hint}"
            ) from None

    def user(self, party: str, user: str = "User1") -> tuple[OrgInfo, UserInfo]:
        org = self.org(party)
        try:
            return org, org.users[user]
        except KeyError:
            raise ProfileError(
                f"unknown user {user!r} in {party}; known: {', '.join(org.users) or 'none'}"
            ) from None


def load_profile(path: Path | None = None) -> Profile:
    """Read tanpo's connection profile or a common connection profile (JSON or YAML)."""
    path = path or default_profile_path()
    if not path.is_file():
        raise ProfileError(
            f"no connection profile at {path}: is the network up? (run `tanpo network up`)"
        )
    data = _read(path)
    try:
        if isinstance(data.get("peers"), dict):  # a common profile lists peers at the top level
            return _from_common(data, path)
        return _from_tanpo(data)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ProfileError(f"{path} is not a usable connection profile ({exc!r})") from exc


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ProfileError(
                f"{path} is YAML, which needs PyYAML (pip install 'tanpo-client[yaml]'); "
                "the JSON profile beside it says the same"
            ) from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"{path} is not a connection profile (not a mapping)")
    return data


def _from_tanpo(data: dict[str, Any]) -> Profile:
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


def party_of(org_name: str) -> str:
    """`BankA` -> `bank-a`: a common profile's organisation name back to tanpo's party."""
    return re.sub(r"(?<=.)([A-Z])", r"-\1", org_name).lower()


def _from_common(data: dict[str, Any], path: Path) -> Profile:
    ext: dict[str, Any] = data.get(CCP_EXTENSION) or {}
    base = path.parent
    client_org = (data.get("client") or {}).get("organization")
    orgs = {}
    for name, o in data["organizations"].items():
        own = name == client_org
        party = str(ext["party"]) if own and ext.get("party") else party_of(name)
        peers = tuple(_common_peer(data["peers"][p], base) for p in o.get("peers", []))
        users = {}
        if own:
            for user, u in (ext.get("users") or {}).items():
                users[user] = UserInfo(user, base / u["cert"], base / u["key"])
        admin_key, admin_cert = o.get("adminPrivateKey"), o.get("signedCert")
        if "Admin" not in users and admin_key and admin_cert and "path" in admin_key:
            users["Admin"] = UserInfo("Admin", base / admin_cert["path"], base / admin_key["path"])
        orgs[party] = OrgInfo(party, o["mspid"], peers, users)
    channels = list(data.get("channels") or {})
    channel = ext.get("channel") or (channels[0] if len(channels) == 1 else DEFAULT_CHANNEL)
    return Profile(channel=channel, chaincode=ext.get("chaincode") or DEFAULT_CHAINCODE,
                   orgs=orgs, source=f"{path}, one organisation's common connection profile")


def _common_peer(peer: dict[str, Any], base: Path) -> PeerInfo:
    url: str = peer["url"]
    endpoint = url.split("://", 1)[1] if "://" in url else url
    options = peer.get("grpcOptions") or {}
    host_name = options.get("ssl-target-name-override") or options.get("hostnameOverride") or ""
    tls = peer["tlsCACerts"]
    pem = tls.get("pem")
    if pem:
        # the test network writes a string; the specification also allows a list of them
        pems = pem if isinstance(pem, list) else [pem]
        cert: Path | bytes = "".join(p if p.endswith("\n") else p + "\n" for p in pems).encode()
    else:
        cert = base / tls["path"]
    return PeerInfo(endpoint, host_name, cert)
