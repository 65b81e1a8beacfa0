"""Writes the connection profile the SDK reads (`tanpo.client.profile`) into the state folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tanpo.client.profile import ProfileError
from tanpo.network.topology import CHAINCODE, CHANNEL, Topology

USERS = ("Admin", "User1", "User2")


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
