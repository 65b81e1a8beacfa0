"""Proposal construction: the nested Fabric messages, built inside out, and the transaction id.

Each inner message is serialised into a bytes field of the next one. The transaction id is
sha256(nonce + creator) in lower-case hex; the peer recomputes and checks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

from tanpo.client.identity import sha256


@dataclass(frozen=True)
class TransactionContext:
    transaction_id: str
    signature_header: bytes

    @classmethod
    def new(cls, creator: bytes) -> TransactionContext:
        nonce = os.urandom(24)
        tx_id = sha256(nonce + creator).hex()
        header = common_pb2.SignatureHeader(creator=creator, nonce=nonce).SerializeToString()
        return cls(tx_id, header)


def build_proposal(
    ctx: TransactionContext,
    channel: str,
    chaincode: str,
    function: str,
    args: Sequence[bytes],
    transient: Mapping[str, bytes] | None = None,
) -> bytes:
    """The serialized `Proposal` for invoking `function` (already qualified `contract:name`)."""
    cc_id = chaincode_pb2.ChaincodeID(name=chaincode)
    extension = proposal_pb2.ChaincodeHeaderExtension(chaincode_id=cc_id).SerializeToString()
    timestamp = timestamp_pb2.Timestamp()
    timestamp.GetCurrentTime()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.HeaderType.ENDORSER_TRANSACTION,
        timestamp=timestamp,
        channel_id=channel,
        tx_id=ctx.transaction_id,
        epoch=0,
        extension=extension,
    ).SerializeToString()
    header = common_pb2.Header(
        channel_header=channel_header, signature_header=ctx.signature_header
    ).SerializeToString()
    spec = chaincode_pb2.ChaincodeSpec(
        chaincode_id=cc_id,
        input=chaincode_pb2.ChaincodeInput(args=[function.encode(), *args]),
    )
    invocation = chaincode_pb2.ChaincodeInvocationSpec(chaincode_spec=spec).SerializeToString()
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=invocation, TransientMap=dict(transient or {})
    ).SerializeToString()
    return bytes(proposal_pb2.Proposal(header=header, payload=payload).SerializeToString())


def to_bytes(arg: str | bytes) -> bytes:
    return arg if isinstance(arg, bytes) else arg.encode("utf-8")
