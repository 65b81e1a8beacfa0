"""The connection profiles the launcher writes: tanpo's own and a Fabric common connection profile
per organisation, read back by the SDK's reader. The crypto material is a stand-in laid out as
cryptogen lays it out, so no Fabric binary is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tanpo.client.profile import load_profile
from tanpo.network import configs
from tanpo.network.profile import USERS, write_common_profiles, write_profile
from tanpo.network.topology import Topology


def _pem(label: str) -> str:
    return f"-----BEGIN CERTIFICATE-----\n{label}\n-----END CERTIFICATE-----\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def topo(tmp_path: Path) -> Topology:
    return written(tmp_path)


def written(tmp_path: Path, peers_per_bank: int = 1) -> Topology:
    """A topology whose crypto folder holds what the profiles point at, profiles written."""
    topo = Topology(port_base=37000, state_dir=tmp_path / "state", peers_per_bank=peers_per_bank)
    for org in topo.peer_orgs:
        _write(topo.org_tls_ca(org), _pem(f"tls ca of {org.party}"))
        for user in USERS:
            msp = topo.user_msp(org, user)
            _write(msp / "signcerts" / f"{user}@{org.domain}-cert.pem", _pem(f"{user} {org.party}"))
            _write(msp / "keystore" / "priv_sk", f"key of {user}\n")
    _write(topo.orderer_tls_ca(), _pem("tls ca of the orderers"))
    write_profile(topo)
    write_common_profiles(topo)
    return topo


def test_a_common_profile_per_organisation_in_fabrics_shape(topo: Topology) -> None:
    bank_a = topo.org("bank-a")
    ccp = json.loads(topo.common_profile_file(bank_a).read_text())
    assert ccp["name"] == "tanpo-bank-a" and ccp["version"] == "1.0.0"
    assert ccp["client"]["organization"] == "BankA"
    org = ccp["organizations"]["BankA"]
    assert org["mspid"] == "BankAMSP"
    assert org["peers"] == ["peer0.bank-a.tanpo.net"]
    assert "certificateAuthorities" not in org and "certificateAuthorities" not in ccp
    peer = ccp["peers"]["peer0.bank-a.tanpo.net"]
    assert peer["url"] == f"grpcs://localhost:{bank_a.port}"
    assert peer["tlsCACerts"]["pem"] == _pem("tls ca of bank-a")
    assert peer["grpcOptions"] == {"ssl-target-name-override": "peer0.bank-a.tanpo.net",
                                   "hostnameOverride": "peer0.bank-a.tanpo.net"}
    orderer = ccp["orderers"]["orderer0.tanpo.net"]
    assert orderer["url"] == f"grpcs://localhost:{topo.orderer_nodes[0].port}"
    assert orderer["tlsCACerts"]["pem"] == _pem("tls ca of the orderers")
    assert ccp["channels"]["tanpo"]["orderers"] == ["orderer0.tanpo.net"]
    admin = topo.user_msp(bank_a, "Admin")
    assert org["signedCert"]["path"] == str(admin / "signcerts" / "Admin@bank-a.tanpo.net-cert.pem")
    assert org["adminPrivateKey"]["path"] == str(admin / "keystore" / "priv_sk")
    ext = ccp["x-tanpo"]
    assert (ext["party"], ext["channel"], ext["chaincode"]) == ("bank-a", "tanpo", "tanpo")
    assert set(ext["users"]) == set(USERS)
    assert ext["users"]["User1"]["msp"] == str(topo.user_msp(bank_a, "User1"))
    # the YAML twin says the same, with the PEMs as literal blocks
    text = topo.common_profile_file(bank_a, ".yaml").read_text()
    assert yaml.safe_load(text) == ccp
    assert "pem: |" in text


def test_every_profile_addresses_peers_by_localhost(topo: Topology) -> None:
    own = json.loads(topo.profile_file.read_text())
    for org in topo.peer_orgs:
        assert own["organizations"][org.party]["peers"][0]["endpoint"] == f"localhost:{org.port}"
        assert org.endpoint == f"127.0.0.1:{org.port}"  # what the peer listens on
        ccp = json.loads(topo.common_profile_file(org).read_text())
        assert all(p["url"].startswith("grpcs://localhost:") for p in ccp["peers"].values())
    # and the certificates cryptogen issues name localhost as well as the peer's own name
    crypto = configs.crypto_config(topo)
    assert "localhost" in crypto["PeerOrgs"][0]["Template"]["SANS"]
    assert all("localhost" in spec["SANS"] for spec in crypto["OrdererOrgs"][0]["Specs"])


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_the_sdk_reads_a_common_profile_as_tanpos_own(topo: Topology, suffix: str) -> None:
    own = load_profile(topo.profile_file)
    for org in topo.peer_orgs:
        ccp = load_profile(topo.common_profile_file(org, suffix))
        assert (ccp.channel, ccp.chaincode) == (own.channel, own.chaincode)
        assert list(ccp.orgs) == [org.party]  # one organisation per common profile
        got, want = ccp.org(org.party), own.org(org.party)
        assert got.msp_id == want.msp_id and got.users == want.users
        assert [(p.endpoint, p.host_name, p.tls_root_pem()) for p in got.peers] == [
            (p.endpoint, p.host_name, p.tls_root_pem()) for p in want.peers]


def test_common_profiles_are_written_for_every_organisation(topo: Topology) -> None:
    names = sorted(p.name for p in topo.state_dir.glob("connection-*"))
    parties = sorted(o.party for o in topo.peer_orgs)
    assert names == sorted(
        [f"connection-{p}.json" for p in parties] + [f"connection-{p}.yaml" for p in parties]
        + ["connection-profile.json"])


def test_profiles_list_every_peer_and_the_sdk_uses_peer0(tmp_path: Path) -> None:
    topo = written(tmp_path, peers_per_bank=3)
    bank_b = topo.org("bank-b")
    names = [f"peer{n}.bank-b.tanpo.net" for n in range(3)]
    own, common = topo.profile_file, topo.common_profile_file(bank_b)
    for profile in (load_profile(own), load_profile(common)):
        peers = profile.org("bank-b").peers
        assert [p.host_name for p in peers] == names
        assert [p.endpoint for p in peers] == [p.client_endpoint for p in bank_b.peers]
        assert peers[0].endpoint == f"localhost:{bank_b.port}"  # what connect() dials
    ccp = json.loads(topo.common_profile_file(bank_b).read_text())
    assert ccp["organizations"]["BankB"]["peers"] == names
    assert list(ccp["channels"]["tanpo"]["peers"]) == names
    assert len(load_profile(topo.profile_file).org("operator").peers) == 1
