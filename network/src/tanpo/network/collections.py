"""The chaincode definition's private data collections: one per unordered pair of banks.

Every bilateral record lives in its pair's collection (`tanpo.client.pairs`). The settings:

* the two banks' members may hold the data (`policy`); the operator's peers never do;
* `requiredPeerCount` and `maxPeerCount` 0: the endorsers are the pair's own peers and keep the
  data; their other peers pull it at commit and a peer that was down reconciles later, so a
  dead peer never holds an endorsement up for the push-ack timeout;
* `blockToLive` 0: records are kept for the life of the agreement and after;
* `memberOnlyRead`/`memberOnlyWrite` false: the chaincode does its own access control, and the
  operator's oracle must be able to submit sweeps that the pair's peers endorse;
* a write needs a peer of each bank (`endorsementPolicy`), whatever the chaincode's policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from tanpo.client.pairs import msp_id_for, pair_collection

COLLECTIONS_FILE = "collections.json"


def pair_collection_config(a: str, b: str) -> dict[str, Any]:
    first, second = sorted((msp_id_for(a), msp_id_for(b)))
    return {
        "name": pair_collection(a, b),
        "policy": f"OR('{first}.member','{second}.member')",
        "requiredPeerCount": 0,
        "maxPeerCount": 0,
        "blockToLive": 0,
        "memberOnlyRead": False,
        "memberOnlyWrite": False,
        "endorsementPolicy": {"signaturePolicy": f"AND('{first}.peer','{second}.peer')"},
    }


def collections_config(banks: Sequence[str]) -> list[dict[str, Any]]:
    """Fabric's collections configuration (`--collections-config`) for these bank parties."""
    return [pair_collection_config(a, b) for a, b in combinations(sorted(banks), 2)]


def config_digest(config: list[dict[str, Any]]) -> str:
    """A short digest of a configuration: a redeploy compares it with the committed one's."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_collections(config_dir: Path, banks: Sequence[str]) -> Path | None:
    """Write the configuration; None (and no file) when there is no pair (one bank): the
    definition then has no collections and the flag is left out."""
    config = collections_config(banks)
    path = config_dir / COLLECTIONS_FILE
    if not config:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path
