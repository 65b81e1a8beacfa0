"""Configuration files for a topology: cryptogen input, the channel profile, and the node configs.

Node configs start from Fabric's sample core.yaml/orderer.yaml (copied from the module at set-up)
and are specialised per node through environment overrides, as Fabric intends; only the external
builder list is rewritten in core.yaml because a list cannot be set from the environment reliably.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tanpo.network.fabric_bin import FabricInstall
from tanpo.network.topology import DOMAIN, HOST, Orderer, Peer, PeerOrg, Topology

CHANNEL_PROFILE = "TanpoChannel"


def crypto_config(topo: Topology) -> dict[str, Any]:
    sans = [HOST, "localhost"]
    return {
        "OrdererOrgs": [
            {
                "Name": "Orderer",
                "Domain": DOMAIN,
                "EnableNodeOUs": True,
                "Specs": [
                    {"Hostname": o.name.split(".")[0], "SANS": sans} for o in topo.orderer_nodes
                ],
            }
        ],
        "PeerOrgs": [
            {
                "Name": org.msp_id.removesuffix("MSP"),
                "Domain": org.domain,
                "EnableNodeOUs": True,
                "Template": {"Count": org.peer_count, "SANS": sans},
                "Users": {"Count": 2},
            }
            for org in topo.peer_orgs
        ],
    }


def _signature(rule: str) -> dict[str, str]:
    return {"Type": "Signature", "Rule": rule}


def _implicit(rule: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": rule}


def configtx(topo: Topology) -> dict[str, Any]:
    """The application channel's genesis profile: Raft ordering, one peer org per participant.

    Chaincode endorsement defaults to MAJORITY of the peer organisations' Endorsement policies, so
    no single organisation can endorse a transaction alone.
    """
    orderer_org = {
        "Name": "OrdererOrg",
        "ID": "OrdererMSP",
        "MSPDir": str(topo.orderer_org_crypto() / "msp"),
        "Policies": {
            "Readers": _signature("OR('OrdererMSP.member')"),
            "Writers": _signature("OR('OrdererMSP.member')"),
            "Admins": _signature("OR('OrdererMSP.admin')"),
        },
        "OrdererEndpoints": [o.endpoint for o in topo.orderer_nodes],
    }
    peer_orgs = []
    for org in topo.peer_orgs:
        m = org.msp_id
        peer_orgs.append(
            {
                "Name": m.removesuffix("MSP"),
                "ID": m,
                "MSPDir": str(topo.org_crypto(org) / "msp"),
                "Policies": {
                    "Readers": _signature(f"OR('{m}.admin', '{m}.peer', '{m}.client')"),
                    "Writers": _signature(f"OR('{m}.admin', '{m}.client')"),
                    "Admins": _signature(f"OR('{m}.admin')"),
                    "Endorsement": _signature(f"OR('{m}.peer')"),
                },
                # peer0: other organisations' peers learn the rest of this one's through it
                "AnchorPeers": [{"Host": HOST, "Port": org.peer0.port}],
            }
        )
    consenters = []
    for o in topo.orderer_nodes:
        tls = topo.orderer_crypto(o) / "tls" / "server.crt"
        consenters.append(
            {"Host": HOST, "Port": o.port, "ClientTLSCert": str(tls), "ServerTLSCert": str(tls)}
        )
    return {
        "Profiles": {
            CHANNEL_PROFILE: {
                "Policies": {
                    "Readers": _implicit("ANY Readers"),
                    "Writers": _implicit("ANY Writers"),
                    "Admins": _implicit("MAJORITY Admins"),
                },
                "Capabilities": {"V2_0": True},
                "Orderer": {
                    "OrdererType": "etcdraft",
                    "BatchTimeout": "100ms",
                    # a transaction above PreferredMaxBytes (a sweep batch of hundreds of
                    # agreements) is cut into a block at once instead of waiting BatchTimeout;
                    # small transactions still fill blocks up to MaxMessageCount
                    "BatchSize": {
                        "MaxMessageCount": 500,
                        "AbsoluteMaxBytes": "10 MB",
                        "PreferredMaxBytes": "512 KB",
                    },
                    "EtcdRaft": {
                        "Consenters": consenters,
                        "Options": {
                            "TickInterval": "500ms",
                            "ElectionTick": 10,
                            "HeartbeatTick": 1,
                            "MaxInflightBlocks": 5,
                            "SnapshotIntervalSize": "16 MB",
                        },
                    },
                    "Organizations": [orderer_org],
                    "Policies": {
                        "Readers": _implicit("ANY Readers"),
                        "Writers": _implicit("ANY Writers"),
                        "Admins": _implicit("MAJORITY Admins"),
                        "BlockValidation": _implicit("ANY Writers"),
                    },
                    "Capabilities": {"V2_0": True},
                },
                "Application": {
                    "Organizations": peer_orgs,
                    "Policies": {
                        "Readers": _implicit("ANY Readers"),
                        "Writers": _implicit("ANY Writers"),
                        "Admins": _implicit("MAJORITY Admins"),
                        "LifecycleEndorsement": _implicit("MAJORITY Endorsement"),
                        "Endorsement": _implicit("MAJORITY Endorsement"),
                    },
                    "Capabilities": {"V2_5": True},
                    "ACLs": {},
                },
            }
        }
    }


def peer_core_yaml(install: FabricInstall) -> dict[str, Any]:
    """Fabric's sample core.yaml with our chaincode-as-a-service builder as the only builder."""
    core: dict[str, Any] = yaml.safe_load((install.config_dir / "core.yaml").read_text())
    builder = Path(__file__).resolve().parent / "builders" / "ccaas"
    core["chaincode"]["externalBuilders"] = [{"name": "tanpo-ccaas", "path": str(builder)}]
    # No Docker: an empty VM endpoint turns off the Docker controller and its health check.
    core["vm"]["endpoint"] = ""
    pvt = core["peer"]["gossip"]["pvtData"]
    # A peer that was down (or joined late) gets the pair collections' data it missed through
    # reconciliation: look every 5 s instead of every minute, so it catches up quickly.
    pvt["reconciliationEnabled"] = True
    pvt["reconcileSleepInterval"] = "5s"
    # At commit a peer waits this long for private data it lacks before committing the block
    # without it (and reconciling later): never stall a block for a minute on data nobody up
    # can give (the pair's other peers down).
    pvt["pullRetryThreshold"] = "5s"
    return core


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def write_all(topo: Topology, install: FabricInstall) -> None:
    write_yaml(topo.config_dir / "crypto-config.yaml", crypto_config(topo))
    write_yaml(topo.config_dir / "configtx" / "configtx.yaml", configtx(topo))
    write_yaml(topo.config_dir / "peer" / "core.yaml", peer_core_yaml(install))
    (topo.config_dir / "orderer").mkdir(parents=True, exist_ok=True)
    (topo.config_dir / "orderer" / "orderer.yaml").write_text(
        (install.config_dir / "orderer.yaml").read_text()
    )


def peer_env(topo: Topology, peer: Peer) -> dict[str, str]:
    tls = topo.peer_crypto(peer) / "tls"
    data = topo.data_dir / peer.node
    # Gossip starts from a sibling of the same organisation (itself when it has none); other
    # organisations' peers are found through the anchor peers and the external endpoints.
    bootstrap = peer.siblings[0] if peer.siblings else peer
    return {
        "FABRIC_CFG_PATH": str(topo.config_dir / "peer"),
        "FABRIC_LOGGING_SPEC": "INFO:gateway=INFO",
        "CORE_PEER_ID": peer.peer_name,
        "CORE_PEER_ADDRESS": peer.endpoint,
        "CORE_PEER_LISTENADDRESS": peer.endpoint,
        "CORE_PEER_CHAINCODEADDRESS": f"{HOST}:{peer.chaincode_port}",
        "CORE_PEER_CHAINCODELISTENADDRESS": f"{HOST}:{peer.chaincode_port}",
        "CORE_PEER_GOSSIP_BOOTSTRAP": bootstrap.endpoint,
        "CORE_PEER_GOSSIP_EXTERNALENDPOINT": peer.endpoint,
        "CORE_PEER_LOCALMSPID": peer.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(topo.peer_crypto(peer) / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_CERT_FILE": str(tls / "server.crt"),
        "CORE_PEER_TLS_KEY_FILE": str(tls / "server.key"),
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls / "ca.crt"),
        "CORE_PEER_FILESYSTEMPATH": str(data),
        "CORE_LEDGER_SNAPSHOTS_ROOTDIR": str(data / "snapshots"),
        "CORE_LEDGER_STATE_STATEDATABASE": "goleveldb",
        "CORE_OPERATIONS_LISTENADDRESS": f"{HOST}:{peer.operations_port}",
        "CORE_METRICS_PROVIDER": "prometheus",
        "CORE_CHAINCODE_EXECUTETIMEOUT": "120s",
        # nothing reads key history (an agreement carries its own): no index write per key
        "CORE_LEDGER_HISTORY_ENABLEHISTORYDATABASE": "false",
    }


def admin_env(topo: Topology, org: PeerOrg, peer: Peer | None = None) -> dict[str, str]:
    """Environment for the `peer` CLI acting as the organisation's admin against one of its
    peers (peer0 unless given)."""
    return {
        "FABRIC_CFG_PATH": str(topo.config_dir / "peer"),
        "FABRIC_LOGGING_SPEC": "WARNING",
        "CORE_PEER_ADDRESS": (peer or org.peer0).endpoint,
        "CORE_PEER_LOCALMSPID": org.msp_id,
        "CORE_PEER_MSPCONFIGPATH": str(topo.user_msp(org, "Admin")),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(topo.org_tls_ca(org)),
    }


def orderer_env(topo: Topology, o: Orderer) -> dict[str, str]:
    tls = topo.orderer_crypto(o) / "tls"
    data = topo.data_dir / o.node
    return {
        "FABRIC_CFG_PATH": str(topo.config_dir / "orderer"),
        "FABRIC_LOGGING_SPEC": "INFO",
        "ORDERER_GENERAL_LISTENADDRESS": HOST,
        "ORDERER_GENERAL_LISTENPORT": str(o.port),
        "ORDERER_GENERAL_LOCALMSPID": "OrdererMSP",
        "ORDERER_GENERAL_LOCALMSPDIR": str(topo.orderer_crypto(o) / "msp"),
        "ORDERER_GENERAL_TLS_ENABLED": "true",
        "ORDERER_GENERAL_TLS_PRIVATEKEY": str(tls / "server.key"),
        "ORDERER_GENERAL_TLS_CERTIFICATE": str(tls / "server.crt"),
        "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls / 'ca.crt'}]",
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none",
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
        "ORDERER_FILELEDGER_LOCATION": str(data / "ledger"),
        "ORDERER_CONSENSUS_WALDIR": str(data / "etcdraft" / "wal"),
        "ORDERER_CONSENSUS_SNAPDIR": str(data / "etcdraft" / "snapshot"),
        "ORDERER_OPERATIONS_LISTENADDRESS": f"{HOST}:{o.operations_port}",
        "ORDERER_METRICS_PROVIDER": "prometheus",
        # The admin (channel participation) endpoint listens on loopback only, without TLS.
        "ORDERER_ADMIN_LISTENADDRESS": f"{HOST}:{o.admin_port}",
        "ORDERER_ADMIN_TLS_ENABLED": "false",
    }
