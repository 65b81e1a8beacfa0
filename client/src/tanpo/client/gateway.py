"""The Gateway client: Gateway -> Network -> Contract -> Proposal -> Transaction -> Commit.

One object per protocol step, each signing itself once, lazily, before its first call, so a retry
of a step re-sends the same transaction id and signature. Convenience calls on `Contract`
(`evaluate`, `submit`, `submit_async`) run the whole flow. What is retried, how often and after
what pause is a `RetryPolicy` per kind of failure (by default MVCC conflicts, and endorsement
while discovery cannot yet find the peers); a per-call `timeout` bounds a whole call, retries
included, the way a context deadline does in the Go client.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import proposal_pb2, proposal_response_pb2, transaction_pb2

from tanpo.client.errors import (
    CommitError,
    CommitInterrupted,
    CommitStatusError,
    EndorseError,
    EvaluateError,
    GatewayError,
    SubmitError,
    wrap,
)
from tanpo.client.events import ChaincodeEventStream, Checkpoint, EventsRequest
from tanpo.client.identity import Hasher, Identity, Signer, no_signer, sha256
from tanpo.client.proposal import TransactionContext, build_proposal, to_bytes

Arg = str | bytes
T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    """Per-call deadlines in seconds (CommitStatus blocks until the block commits)."""

    evaluate: float = 10.0
    endorse: float = 30.0
    submit: float = 10.0
    commit_status: float = 60.0
    events: float | None = None


class _Deadline:
    """What is left of a per-call timeout: each step gets its default, cut to what remains."""

    def __init__(self, timeout: float | None) -> None:
        self.end = None if timeout is None else time.monotonic() + timeout

    def step(self, default: float) -> float:
        if self.end is None:
            return default
        # Never 0: gRPC treats a zero timeout as "already expired", which is the right outcome.
        return max(min(default, self.end - time.monotonic()), 0.001)

    def allows(self, pause: float) -> bool:
        return self.end is None or time.monotonic() + pause < self.end


# ---- retries ---------------------------------------------------------------------------------


def mvcc_conflict(error: Exception) -> bool:
    """Another transaction changed what this one read: a fresh transaction may commit."""
    return isinstance(error, CommitError) and error.is_mvcc_conflict


def no_endorsers_yet(error: Exception) -> bool:
    """Discovery cannot find peers satisfying the policy (after start-up or an upgrade, gossip
    tells the gateway within seconds which peers run the chaincode)."""
    return isinstance(error, EndorseError) and error.no_endorsers


def endorsements_differ(error: Exception) -> bool:
    """Endorsing peers disagreed because one lagged a block behind; it catches up."""
    return isinstance(error, EndorseError) and error.endorsements_differ


def jittered(low: float, high: float) -> Callable[[int], float]:
    """A random pause between `low` and `high`, times the retry's number (1, 2, ...)."""
    return lambda retry: random.uniform(low, high) * retry


def constant(seconds: float) -> Callable[[int], float]:
    return lambda _retry: seconds


@dataclass(frozen=True)
class RetryPolicy:
    """Retry a whole submit with a fresh transaction when `retry_on` says the failure may pass.

    `attempts` counts every try (1 = no retry); `backoff(n)` is the pause before retry n.
    A contract holds one policy per kind of failure, each with its own budget.
    """

    attempts: int
    backoff: Callable[[int], float]
    retry_on: Callable[[Exception], bool]

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")


#: MVCC read conflicts: five more tries, after 20–100 ms times the retry's number.
MVCC_RETRY = RetryPolicy(attempts=6, backoff=jittered(0.02, 0.1), retry_on=mvcc_conflict)
#: Endorsement before discovery knows the peers: every 0.5 s for about 30 s.
DISCOVERY_RETRY = RetryPolicy(attempts=61, backoff=constant(0.5), retry_on=no_endorsers_yet)
DEFAULT_RETRIES: tuple[RetryPolicy, ...] = (MVCC_RETRY, DISCOVERY_RETRY)


def run_with_retries(attempt: Callable[[], T], policies: Sequence[RetryPolicy],
                     deadline: _Deadline | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """`attempt()` until it succeeds or fails in a way no policy retries (or whose budget, or
    the deadline, is spent); returns its value and the number of attempts."""
    used = [0] * len(policies)
    tries = 0
    while True:
        tries += 1
        try:
            return attempt(), tries
        except (GatewayError, CommitError) as error:
            index = next((i for i, p in enumerate(policies) if p.retry_on(error)), None)
            if index is None:
                raise
            used[index] += 1
            policy = policies[index]
            if used[index] >= policy.attempts:
                raise
            pause = policy.backoff(used[index])
            if deadline is not None and not deadline.allows(pause):
                raise
            sleep(pause)


# ---- results ---------------------------------------------------------------------------------


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
    attempts: int = 1  # more than 1 when failures were retried


class BlockWatermark:
    """The highest block in which a transaction submitted through it committed (thread-safe).

    Every gateway reports its commits to one; a `tanpo.client.session.Session` shares one among
    its identities, so it knows what every organisation's peer must hold before the next step.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = 0

    @property
    def last_block(self) -> int:
        return self._block

    def record(self, block_number: int) -> None:
        with self._lock:
            self._block = max(self._block, block_number)


class Gateway:
    """A connection to one peer's gateway as one identity. The caller owns the gRPC channel."""

    def __init__(
        self,
        channel: grpc.Channel,
        identity: Identity,
        signer: Signer = no_signer,
        hasher: Hasher = sha256,
        timeouts: Timeouts | None = None,
        commits: BlockWatermark | None = None,
    ) -> None:
        self.channel = channel
        self.identity = identity
        self.signer = signer
        self.hasher = hasher
        self.timeouts = timeouts or Timeouts()
        self.commits = commits or BlockWatermark()
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
    retries: tuple[RetryPolicy, ...] = DEFAULT_RETRIES

    def qualified(self, function: str) -> str:
        return f"{self.contract}:{function}" if self.contract else function

    def with_contract(self, name: str) -> Contract:
        return Contract(self.network, self.chaincode, name, self.retries)

    def with_retries(self, *policies: RetryPolicy) -> Contract:
        """This contract, retrying only under `policies` (none: every failure is raised)."""
        return Contract(self.network, self.chaincode, self.contract, tuple(policies))

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

    def evaluate(self, function: str, *args: Arg, timeout: float | None = None,
                 transient: Mapping[str, bytes] | None = None,
                 target_organizations: Sequence[str] = ()) -> bytes:
        """Run a query on one peer (of `target_organizations` when given, else the gateway's
        choice, its own organisation first); `timeout` overrides the gateway's default."""
        return self.new_proposal(function, args, transient, target_organizations).evaluate(timeout)

    def submit(
        self,
        function: str,
        *args: Arg,
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
        timeout: float | None = None,
        retries: Sequence[RetryPolicy] | None = None,
    ) -> SubmitResult:
        """Endorse, submit and wait for commit; raise unless the transaction is VALID.

        A failure one of `retries` (default: this contract's) covers is retried with a new
        proposal; `timeout` bounds the whole call, pauses and retries included.
        """
        deadline = _Deadline(timeout)

        def attempt() -> SubmitResult:
            submitted = self._endorse_and_submit(function, args, transient,
                                                 endorsing_organizations, deadline)
            try:
                return submitted.wait(
                    deadline.step(self.network.gateway.timeouts.commit_status))
            except CommitInterrupted:
                raise
            except KeyboardInterrupt:
                # ordered already: the caller must learn that it may still commit, and its id
                raise CommitInterrupted(submitted.transaction_id) from None

        result, tries = run_with_retries(
            attempt, self.retries if retries is None else retries, deadline)
        return SubmitResult(result.transaction_id, result.result, result.block_number, tries)

    def submit_async(
        self,
        function: str,
        *args: Arg,
        transient: Mapping[str, bytes] | None = None,
        endorsing_organizations: Sequence[str] = (),
        timeout: float | None = None,
    ) -> SubmittedTransaction:
        """Endorse and submit now; the returned handle has the chaincode's `result` at once and
        waits for the commit only when asked (`status()`, `wait()`). Failures before the submit
        are retried as by `submit`; an MVCC conflict shows only at commit, and is the caller's."""
        deadline = _Deadline(timeout)
        submitted, _ = run_with_retries(
            lambda: self._endorse_and_submit(function, args, transient,
                                             endorsing_organizations, deadline),
            self.retries, deadline)
        return submitted

    def _endorse_and_submit(self, function: str, args: Sequence[Arg],
                            transient: Mapping[str, bytes] | None,
                            endorsing_organizations: Sequence[str],
                            deadline: _Deadline) -> SubmittedTransaction:
        timeouts = self.network.gateway.timeouts
        proposal = self.new_proposal(function, args, transient, endorsing_organizations)
        tx = proposal.endorse(deadline.step(timeouts.endorse))
        commit = tx.submit(deadline.step(timeouts.submit))
        return SubmittedTransaction(tx.transaction_id, tx.result, commit)


@dataclass
class SubmittedTransaction:
    """A transaction accepted by the orderer, its commit still ahead (Go's `Commit` plus the
    chaincode's result)."""

    transaction_id: str
    result: bytes
    commit: Commit

    def status(self, timeout: float | None = None) -> CommitStatus:
        """Block until the transaction's block commits on the gateway's peer; VALID or not."""
        return self.commit.status(timeout)

    def wait(self, timeout: float | None = None) -> SubmitResult:
        """The committed result; `CommitError` if the transaction was marked invalid."""
        status = self.status(timeout)
        if not status.successful:
            raise CommitError(self.transaction_id, status.code, status.block_number)
        return SubmitResult(self.transaction_id, self.result, status.block_number)


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
        except KeyboardInterrupt:
            # the orderer may have it already: say so, with the id to check
            raise CommitInterrupted(self.transaction_id, sent=False) from None
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
        status = CommitStatus(self.transaction_id, int(response.result),
                              int(response.block_number))
        if status.successful:
            self.gateway.commits.record(status.block_number)
        return status
