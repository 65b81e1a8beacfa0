"""The SDK's profile reader: tanpo's own profile, and common connection profiles written by other
tools (Fabric's test network writes them without tanpo's extension)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tanpo.client.connect import open_channel
from tanpo.client.profile import ProfileError, load_profile, party_of

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_party_names_from_organisation_names() -> None:
    assert [party_of(n) for n in ("BankA", "Operator", "Org1")] == ["bank-a", "operator", "org1"]


def test_a_test_network_style_profile(tmp_path: Path) -> None:
    """As fabric-samples' test network writes it: inline PEM, no channel, no identities but the
    older admin keys, relative paths taken from the profile's folder."""
    ccp = {
        "name": "test-network-org1",
        "version": "1.0.0",
        "client": {"organization": "Org1"},
        "organizations": {"Org1": {
            "mspid": "Org1MSP", "peers": ["peer0.org1.example.com"],
            "certificateAuthorities": ["ca.org1.example.com"],
            "signedCert": {"path": "users/Admin/cert.pem"},
            "adminPrivateKey": {"path": "users/Admin/key.pem"},
        }},
        "peers": {"peer0.org1.example.com": {
            "url": "grpcs://localhost:7051",
            "tlsCACerts": {"pem": PEM},
            "grpcOptions": {"ssl-target-name-override": "peer0.org1.example.com"},
        }},
        "certificateAuthorities": {"ca.org1.example.com": {"url": "https://localhost:7054"}},
    }
    path = tmp_path / "connection-org1.json"
    path.write_text(json.dumps(ccp))
    profile = load_profile(path)
    assert (profile.channel, profile.chaincode) == ("tanpo", "tanpo")
    org, admin = profile.user("org1", "Admin")
    assert org.msp_id == "Org1MSP"
    assert admin.cert == tmp_path / "users/Admin/cert.pem"
    assert admin.key == tmp_path / "users/Admin/key.pem"
    (peer,) = org.peers
    assert (peer.endpoint, peer.host_name, peer.tls_root_pem()) == (
        "localhost:7051", "peer0.org1.example.com", PEM.encode())
    open_channel(peer.endpoint, peer.tls_root_cert, peer.host_name).close()  # PEM bytes work too
    with pytest.raises(ProfileError, match="unknown user 'User1' in org1; known: Admin"):
        profile.user("org1")
    with pytest.raises(ProfileError, match=r"unknown organisation 'bank-b'; known: org1 \(in "
                                           r".*one organisation's common connection profile\)"):
        profile.org("bank-b")


def test_tls_ca_as_a_path_or_a_list_of_pems(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(PEM)
    peers = {"p1": {"url": "grpcs://localhost:1", "tlsCACerts": {"path": "ca.pem"}},
             "p2": {"url": "localhost:2", "tlsCACerts": {"pem": [PEM, PEM]}}}
    ccp = {"client": {"organization": "A"}, "channels": {"other": {}},
           "organizations": {"A": {"mspid": "AMSP", "peers": ["p1", "p2"]}}, "peers": peers}
    (tmp_path / "ccp.json").write_text(json.dumps(ccp))
    profile = load_profile(tmp_path / "ccp.json")
    assert profile.channel == "other"
    p1, p2 = profile.org("a").peers
    assert p1.tls_root_cert == tmp_path / "ca.pem" and p1.tls_root_pem() == PEM.encode()
    assert (p2.endpoint, p2.host_name, p2.tls_root_pem()) == ("localhost:2", "", (PEM * 2).encode())


def test_yaml_without_pyyaml_says_what_to_install(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "connection-bank-a.yaml").write_text("name: x\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now fails
    with pytest.raises(ProfileError, match=r"needs PyYAML \(pip install 'tanpo-client\[yaml\]'\)"):
        load_profile(tmp_path / "connection-bank-a.yaml")


def test_a_broken_profile_is_a_profile_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ProfileError, match="not valid JSON"):
        load_profile(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text(json.dumps({"peers": {}, "organizations": {"A": {}}}))
    with pytest.raises(ProfileError, match="is not a usable connection profile"):
        load_profile(tmp_path / "odd.json")
