"""The Gateway client: Gateway -> Network -> Contract -> Proposal -> Transaction -> Commit.

One object per protocol step, each signing itself once, lazily, before its first call, so a retry
of a step re-sends the same transaction id and signature. Convenience calls on `Contract`
(`evaluate`, `submit`) run the whole flow, and `submit` retries MVCC conflicts with a fresh
transaction a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from tanpo.client.errors import (
    CommitError,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    SubmitError,
    wrap,
)
from tanpo.client.events import ChaincodeEventStream, Checkpoint, EventsRequest
from tanpo.client.identity import Hasher, Identity, Signer, no_signer, sha256
from tanpo.client.proposal import TransactionContext, build_proposal, to_bytes

Arg = str | bytes

# The gateway's words when discovery finds no set of peers satisfying the endorsement policy.
NO_PEER_SET = "no combination of peers can be derived"
DISCOVERY_GRACE_S = 30.0


@dataclass(frozen=True)
class Timeouts:
    """Per-call deadlines in seconds (CommitStatus blocks until the block commits)."""

    evaluate: float = 10.0
    endorse: float = 30.0
    submit: float = 10.0
    commit_status: float = 60.0
    events: float | None = None


@dataclass(frozen=True)
class CommitStatus:
    transaction_id: str
    code: int
    block_number: int

    @property
    def successful(self) -> bool:
        return bool(self.code == transaction_pb2.TxValidationCode.VALID)


@dataclass(frozen=True)
class SubmitResult:
    transaction_id: str
    result: bytes
    block_number: int
    attempts: int = 1  # more than 1 when MVCC conflicts were retried


class Gateway:
    """A connection to one peer's gateway as one identity. The caller owns the gRPC channel."""

    def __init__(
        self,
        channel: grpc.Channel,
        identity: Identity,
        signer: Signer = no_signer,
        hasher: Hasher = sha256,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.channel = channel
        self.identity = identity
        self.signer = signer
        self.hasher = hasher
        self.timeouts = timeouts or Timeouts()
        self.stub = gateway_pb2_grpc.GatewayStub(channel)
        self._creator = identity.creator()

    @property
    def creator(self) -> bytes:
        return self._creator

    def sign(self, message: bytes) -> bytes:
        return self.signer(self.hasher(message))

    def network(self, name: str) -> Network:
        return Network(self, name)

    def close(self) -> None:
        """Nothing to release: the channel belongs to the caller (it may be shared)."""

    def __enter__(self) -> Gateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Network:
    gateway: Gateway
    name: str

    def contract(self, chaincode: str, contract: str = "") -> Contract:
        return Contract(self, chaincode, contract)

    def chaincode_events(
        self,
        chaincode: str,
        start_block: int | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> ChaincodeEventStream:
        """Stream chaincode events from a block, a checkpoint, or (default) the next commit."""
        req = EventsRequest(self.gateway, self.name, chaincode, start_block, checkpoint)
        return req.stream()


@dataclass(frozen=True)
class Contract:
    network: Network
    chaincode: str
    contract: str = ""
    max_mvcc_retries: int = 5

    def qualified(self, function: str) -> str:
        return f"{self.contract}:{function}" if self.contract else function

    def with_contract(self, name: str) -> Contract:
        return Contract(self.network, self.chaincode, name, self.max_mvcc_retries)

    def new_proposal(
        self,
        function: str,
        args: Sequence[Arg] = (),
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> Proposal:
        gw = self.network.gateway
        ctx = TransactionContext.new(gw.creator)
        proposal_bytes = build_proposal(
            ctx,
            self.network.name,
            self.chaincode,
            self.qualified(function),
            [to_bytes(a) for a in args],
            transient,
        )
        return Proposal(gw, self.network.name, ctx.transaction_id, proposal_bytes,
                        tuple(endorsing_organizations))

    def evaluate(self, function: str, *args: Arg) -> bytes:
        return self.new_proposal(function, args).evaluate()

    def submit(
        self,
        function: str,
        *args: Arg,
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
    ) -> SubmitResult:
        """Endorse, submit and wait for commit; raise unless the transaction is VALID.

        MVCC conflicts (another transaction changed what this one read) are retried with a new
        proposal after a short randomised pause, up to `max_mvcc_retries` times.
        """
        attempt = 0
        discovery_deadline = time.monotonic() + DISCOVERY_GRACE_S
        while True:
            proposal = self.new_proposal(function, args, transient, endorsing_organizations)
            try:
                tx = proposal.endorse()
            except EndorseError as exc:
                # Just after start-up or a chaincode upgrade, a gateway may not yet know which
                # peers run the chaincode; that settles within seconds, so wait it out (bounded).
                if NO_PEER_SET not in str(exc) or time.monotonic() > discovery_deadline:
                    raise
                time.sleep(0.5)
                continue
            commit = tx.submit()
            status = commit.status()
            if status.successful:
                return SubmitResult(tx.transaction_id, tx.result, status.block_number, attempt + 1)
            error = CommitError(tx.transaction_id, status.code, status.block_number)
            if not error.is_mvcc_conflict or attempt >= self.max_mvcc_retries:
                raise error
            attempt += 1
            time.sleep(random.uniform(0.02, 0.1) * attempt)


@dataclass
class Proposal:
    gateway: Gateway
    channel_id: str
    transaction_id: str
    proposal_bytes: bytes
    endorsing_organizations: tuple[str, ...] = ()
    _signature: bytes | None = field(default=None, repr=False)

    def digest(self) -> bytes:
        return self.gateway.hasher(self.proposal_bytes)

    def _signed(self) -> proposal_pb2.SignedProposal:
        if self._signature is None:
            self._signature = self.gateway.sign(self.proposal_bytes)
        return proposal_pb2.SignedProposal(
            proposal_bytes=self.proposal_bytes, signature=self._signature
        )

    def evaluate(self, timeout: float | None = None) -> bytes:
        request = gateway_pb2.EvaluateRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            proposed_transaction=self._signed(),
            target_organizations=list(self.endorsing_organizations),
        )
        try:
            response = self.gateway.stub.Evaluate(
                request, timeout=timeout or self.gateway.timeouts.evaluate
            )
        except grpc.RpcError as exc:
            raise wrap(EvaluateError, exc, self.transaction_id) from None
        return bytes(response.result.payload)

    def endorse(self, timeout: float | None = None) -> Transaction:
        request = gateway_pb2.EndorseRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            proposed_transaction=self._signed(),
            endorsing_organizations=list(self.endorsing_organizations),
        )
        try:
            response = self.gateway.stub.Endorse(
                request, timeout=timeout or self.gateway.timeouts.endorse
            )
        except grpc.RpcError as exc:
            raise wrap(EndorseError, exc, self.transaction_id) from None
        return Transaction(
            self.gateway, self.channel_id, self.transaction_id, response.prepared_transaction
        )


def result_from_envelope(envelope: common_pb2.Envelope) -> bytes:
    """The chaincode response payload, read from the endorsed transaction itself."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    tx = transaction_pb2.Transaction.FromString(payload.data)
    for action in tx.actions:
        cap = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        prp = proposal_response_pb2.ProposalResponsePayload.FromString(
            cap.action.proposal_response_payload
        )
        cc_action = proposal_pb2.ChaincodeAction.FromString(prp.extension)
        return bytes(cc_action.response.payload)
    raise ValueError("the endorsed transaction has no action")


@dataclass
class Transaction:
    gateway: Gateway
    channel_id: str
    transaction_id: str
    envelope: common_pb2.Envelope

    @property
    def result(self) -> bytes:
        return result_from_envelope(self.envelope)

    def submit(self, timeout: float | None = None) -> Commit:
        if not self.envelope.signature:
            self.envelope.signature = self.gateway.sign(self.envelope.payload)
        # Build the commit-status request before the submit: nothing can fail after it.
        commit = Commit(self.gateway, self.channel_id, self.transaction_id)
        commit.signed_request()
        request = gateway_pb2.SubmitRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            prepared_transaction=self.envelope,
        )
        try:
            self.gateway.stub.Submit(request, timeout=timeout or self.gateway.timeouts.submit)
        except grpc.RpcError as exc:
            raise wrap(SubmitError, exc, self.transaction_id) from None
        return commit


@dataclass
class Commit:
    gateway: Gateway
    channel_id: str
    transaction_id: str
    _signed: gateway_pb2.SignedCommitStatusRequest | None = field(default=None, repr=False)

    def signed_request(self) -> gateway_pb2.SignedCommitStatusRequest:
        if self._signed is None:
            request = gateway_pb2.CommitStatusRequest(
                transaction_id=self.transaction_id,
                channel_id=self.channel_id,
                identity=self.gateway.creator,
            ).SerializeToString()
            self._signed = gateway_pb2.SignedCommitStatusRequest(
                request=request, signature=self.gateway.sign(request)
            )
        return self._signed

    def status(self, timeout: float | None = None) -> CommitStatus:
        try:
            response = self.gateway.stub.CommitStatus(
                self.signed_request(), timeout=timeout or self.gateway.timeouts.commit_status
            )
        except grpc.RpcError as exc:
            raise wrap(CommitStatusError, exc, self.transaction_id) from None
        return CommitStatus(self.transaction_id, int(response.result), int(response.block_number))
