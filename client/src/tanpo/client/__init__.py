"""The tanpo Python SDK: a Fabric Gateway client and typed participant APIs over it."""

from tanpo.client.connect import Connection, connect, open_channel, parse_as
from tanpo.client.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    SubmitError,
)
from tanpo.client.events import ChaincodeEvent, ChaincodeEventStream, Checkpoint, FileCheckpointer
from tanpo.client.gateway import Contract, Gateway, Network, SubmitResult, Timeouts
from tanpo.client.identity import Identity, ecdsa_signer

__all__ = [
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Checkpoint",
    "CommitError",
    "CommitStatusError",
    "Connection",
    "Contract",
    "EndorseError",
    "ErrorDetail",
    "EvaluateError",
    "FileCheckpointer",
    "Gateway",
    "GatewayError",
    "Identity",
    "Network",
    "SubmitError",
    "SubmitResult",
    "Timeouts",
    "connect",
    "ecdsa_signer",
    "open_channel",
    "parse_as",
]
