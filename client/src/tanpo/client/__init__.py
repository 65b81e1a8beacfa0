"""The tanpo Python SDK: a Fabric Gateway client and typed participant APIs over it."""

from tanpo.client.connect import Connection, connect, open_channel, parse_as
from tanpo.client.errors import (
    CommitError,
    CommitInterrupted,
    CommitStatusError,
    EndorseError,
    ErrorDetail,
    EvaluateError,
    GatewayError,
    SubmitError,
)
from tanpo.client.events import ChaincodeEvent, ChaincodeEventStream, Checkpoint, FileCheckpointer
from tanpo.client.gateway import (
    DEFAULT_RETRIES,
    BlockWatermark,
    Contract,
    Gateway,
    Network,
    RetryPolicy,
    SubmitResult,
    SubmittedTransaction,
    Timeouts,
)
from tanpo.client.identity import Identity, ecdsa_signer
from tanpo.client.net import NetMovement, NetPosition, NetView, net_positions
from tanpo.client.session import Participant, Session

__all__ = [
    "DEFAULT_RETRIES",
    "BlockWatermark",
    "ChaincodeEvent",
    "ChaincodeEventStream",
    "Checkpoint",
    "CommitError",
    "CommitInterrupted",
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
    "NetMovement",
    "NetPosition",
    "NetView",
    "Network",
    "Participant",
    "RetryPolicy",
    "Session",
    "SubmitError",
    "SubmitResult",
    "SubmittedTransaction",
    "Timeouts",
    "connect",
    "ecdsa_signer",
    "net_positions",
    "open_channel",
    "parse_as",
]
