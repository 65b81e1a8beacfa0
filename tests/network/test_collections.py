"""The private data collections the launcher puts in the chaincode definition: one per pair of
banks, named as the chaincode and the SDK name them."""

from __future__ import annotations

import json
from pathlib import Path

from tanpo.client.pairs import pair_collection
from tanpo.network.collections import collections_config, config_digest, write_collections
from tanpo.network.launcher import definition_current
from tanpo.network.topology import Topology


def test_one_collection_per_unordered_pair_of_banks() -> None:
    banks = Topology(banks=6).bank_parties
    config = collections_config(banks)
    assert len(config) == 15
    names = [c["name"] for c in config]
    assert len(set(names)) == 15 and "operator" not in "".join(names)
    assert pair_collection("bank-f", "bank-a") in names


def test_a_pair_collection_in_fabrics_format() -> None:
    (config,) = collections_config(["bank-b", "bank-a"])
    assert config == {
        "name": "pair-bank-a-bank-b",
        "policy": "OR('BankAMSP.member','BankBMSP.member')",
        "requiredPeerCount": 0,
        "maxPeerCount": 0,
        "blockToLive": 0,
        "memberOnlyRead": False,
        "memberOnlyWrite": False,
        "endorsementPolicy": {"signaturePolicy": "AND('BankAMSP.peer','BankBMSP.peer')"},
    }


def test_the_file_is_written_only_when_there_is_a_pair(tmp_path: Path) -> None:
    assert write_collections(tmp_path, ["bank-a"]) is None
    assert not (tmp_path / "collections.json").exists()
    path = write_collections(tmp_path, ["bank-a", "bank-b", "bank-c"])
    assert path is not None
    assert [c["name"] for c in json.loads(path.read_text())] == [
        "pair-bank-a-bank-b", "pair-bank-a-bank-c", "pair-bank-b-bank-c"]
    # one bank again: a stale file must not be passed to the next definition
    assert write_collections(tmp_path, ["bank-a"]) is None and not path.exists()


def test_the_digest_follows_the_configuration_not_the_order_of_the_banks() -> None:
    ab = config_digest(collections_config(["bank-a", "bank-b"]))
    assert ab == config_digest(collections_config(["bank-b", "bank-a"]))
    assert ab != config_digest(collections_config(["bank-a", "bank-b", "bank-c"]))
    assert ab != config_digest([])


def test_a_change_of_collections_is_a_new_definition() -> None:
    pairs = config_digest(collections_config(["bank-a", "bank-b"]))
    deployed = {"version": "abc", "sequence": 1, "package_id": "x", "collections": pairs}
    assert definition_current(deployed, "abc", pairs)
    assert not definition_current(deployed, "abd", pairs)  # new chaincode
    assert not definition_current(deployed, "abc", config_digest(
        collections_config(["bank-a", "bank-b", "bank-c"])))
    # a network deployed before the collections existed gets them at its next `up`
    older = {"version": "abc", "sequence": 1, "package_id": "x"}
    assert not definition_current(older, "abc", pairs)
    assert definition_current(older, "abc", config_digest(collections_config(["bank-a"])))
