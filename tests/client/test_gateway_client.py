"""The Gateway client against an in-process fake gateway: decode what went on the wire."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from tanpo.client import (
    Checkpoint,
    CommitError,
    EndorseError,
    Gateway,
    GatewayError,
    Identity,
    RetryPolicy,
    ecdsa_signer,
)
from tanpo.client.errors import ErrorDetail, EvaluateError
from tanpo.client.gateway import MVCC_RETRY, constant, mvcc_conflict

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def make_identity() -> tuple[Identity, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "User1@bank-a.tanpo.net")])
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Identity.from_certificate("BankAMSP", cert.public_bytes(serialization.Encoding.PEM)), key


def verify(key: ec.EllipticCurvePrivateKey, message: bytes, signature: bytes) -> None:
    digest = hashlib.sha256(message).digest()
    key.public_key().verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    _, s = utils.decode_dss_signature(signature)
    assert s <= P256_ORDER // 2, "signature must be low-S"


def prepared_envelope(channel_header: bytes, response_payload: bytes) -> common_pb2.Envelope:
    action = proposal_pb2.ChaincodeAction(
        response=proposal_response_pb2.Response(status=200, payload=response_payload)
    )
    prp = proposal_response_pb2.ProposalResponsePayload(extension=action.SerializeToString())
    cap = transaction_pb2.ChaincodeActionPayload(
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=prp.SerializeToString()
        )
    )
    tx = transaction_pb2.Transaction(
        actions=[transaction_pb2.TransactionAction(payload=cap.SerializeToString())]
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(channel_header=channel_header), data=tx.SerializeToString()
    )
    return common_pb2.Envelope(payload=payload.SerializeToString())


def abort_with_detail(context: Any, message: str, address: str, detail: str) -> None:
    """End the call as the gateway does when a peer (bank-b's here) failed: ABORTED, with the
    peer's address and words in an ErrorDetail."""
    packed = any_pb2.Any()
    packed.Pack(gateway_pb2.ErrorDetail(address=address, msp_id="BankBMSP", message=detail))
    context.abort_with_status(rpc_status.to_status(status_pb2.Status(
        code=grpc.StatusCode.ABORTED.value[0], message=message, details=[packed])))


class FakeGateway(gateway_pb2_grpc.GatewayServicer):
    def __init__(self) -> None:
        self.endorsements: list[gateway_pb2.EndorseRequest] = []
        self.submits: list[gateway_pb2.SubmitRequest] = []
        self.statuses: list[gateway_pb2.SignedCommitStatusRequest] = []
        self.events_requests: list[gateway_pb2.SignedChaincodeEventsRequest] = []
        self.commit_codes: list[int] = []
        self.endorse_error: str | None = None
        self.no_peers: int = 0  # this many endorsements fail as discovery does before gossip
        self.mismatches: int = 0  # this many endorsements come back different from two peers
        self.remaining: dict[str, list[float]] = {}  # the deadline each call arrived with

    def _deadline(self, call: str, context: Any) -> None:
        self.remaining.setdefault(call, []).append(context.time_remaining())

    def Endorse(self, request: Any, context: Any) -> Any:
        self.endorsements.append(request)
        self._deadline("Endorse", context)
        if self.no_peers:
            self.no_peers -= 1
            context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                          "no combination of peers can be derived which satisfy the "
                          "endorsement policy: required chaincodes are not installed")
        if self.mismatches:
            self.mismatches -= 1
            abort_with_detail(context, "failed to collect enough transaction endorsements",
                              "127.0.0.1:7061", "ProposalResponsePayloads do not match")
        if self.endorse_error:
            abort_with_detail(context,
                              "failed to endorse transaction, see attached details for more info",
                              "127.0.0.1:7051", f"chaincode response 500, {self.endorse_error}")
        proposal = proposal_pb2.Proposal.FromString(request.proposed_transaction.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        return gateway_pb2.EndorseResponse(
            prepared_transaction=prepared_envelope(header.channel_header, b"result:" +
                                                   request.transaction_id.encode())
        )

    def Submit(self, request: Any, context: Any) -> Any:
        self.submits.append(request)
        self._deadline("Submit", context)
        return gateway_pb2.SubmitResponse()

    def CommitStatus(self, request: Any, context: Any) -> Any:
        self.statuses.append(request)
        self._deadline("CommitStatus", context)
        code = self.commit_codes.pop(0) if self.commit_codes else transaction_pb2.VALID
        return gateway_pb2.CommitStatusResponse(result=code, block_number=7)

    def Evaluate(self, request: Any, context: Any) -> Any:
        self._deadline("Evaluate", context)
        return gateway_pb2.EvaluateResponse(
            result=proposal_response_pb2.Response(status=200, payload=b"evaluated")
        )

    def ChaincodeEvents(self, request: Any, context: Any) -> Iterator[Any]:
        self.events_requests.append(request)
        for block in (3, 4):
            yield gateway_pb2.ChaincodeEventsResponse(
                block_number=block,
                events=[
                    chaincode_event_pb2.ChaincodeEvent(
                        chaincode_id="tanpo", tx_id=f"tx{block}", event_name="Ping",
                        payload=b'{"type": "Ping"}',
                    )
                ],
            )


@contextmanager
def fake_gateway() -> Iterator[tuple[FakeGateway, Gateway, ec.EllipticCurvePrivateKey]]:
    """A `Gateway` talking to a `FakeGateway` served in-process on a free port."""
    servicer = FakeGateway()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    gateway_pb2_grpc.add_GatewayServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    identity, key = make_identity()
    gw = Gateway(channel, identity, ecdsa_signer(key))
    try:
        yield servicer, gw, key
    finally:
        channel.close()
        server.stop(None)


@pytest.fixture()
def fake() -> Iterator[tuple[FakeGateway, Gateway, ec.EllipticCurvePrivateKey]]:
    with fake_gateway() as parts:
        yield parts


def test_submit_sends_a_well_formed_signed_proposal(fake: Any) -> None:
    servicer, gw, key = fake
    contract = gw.network("tanpo").contract("tanpo", "ping")
    result = contract.submit("Ping", "hello", b"\x00raw")

    (endorse,) = servicer.endorsements
    signed = endorse.proposed_transaction
    verify(key, signed.proposal_bytes, signed.signature)
    proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    ch = common_pb2.ChannelHeader.FromString(header.channel_header)
    sh = common_pb2.SignatureHeader.FromString(header.signature_header)
    creator = identities_pb2.SerializedIdentity.FromString(sh.creator)
    assert creator.mspid == "BankAMSP"
    assert creator.id_bytes == gw.identity.certificate_pem
    assert len(sh.nonce) == 24
    assert ch.tx_id == hashlib.sha256(sh.nonce + sh.creator).hexdigest() == endorse.transaction_id
    assert ch.channel_id == "tanpo" and ch.type == common_pb2.HeaderType.ENDORSER_TRANSACTION
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input).chaincode_spec
    assert spec.chaincode_id.name == "tanpo"
    assert list(spec.input.args) == [b"ping:Ping", b"hello", b"\x00raw"]

    (submit,) = servicer.submits
    verify(key, submit.prepared_transaction.payload, submit.prepared_transaction.signature)
    (status,) = servicer.statuses
    verify(key, status.request, status.signature)
    req = gateway_pb2.CommitStatusRequest.FromString(status.request)
    assert req.identity == sh.creator and req.transaction_id == ch.tx_id
    assert result.result == b"result:" + ch.tx_id.encode()
    assert result.block_number == 7


def test_mvcc_conflict_is_retried_with_a_new_transaction(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.commit_codes = [transaction_pb2.MVCC_READ_CONFLICT]
    gw.network("tanpo").contract("tanpo").submit("Move")
    ids = [e.transaction_id for e in servicer.endorsements]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_other_commit_failures_raise_with_the_code_name(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.commit_codes = [transaction_pb2.ENDORSEMENT_POLICY_FAILURE]
    with pytest.raises(CommitError) as info:
        gw.network("tanpo").contract("tanpo").submit("Move")
    assert info.value.code_name == "ENDORSEMENT_POLICY_FAILURE"
    assert "ENDORSEMENT_POLICY_FAILURE" in str(info.value)
    assert len(servicer.endorsements) == 1


def test_mvcc_retries_are_bounded(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.commit_codes = [transaction_pb2.MVCC_READ_CONFLICT] * 10
    contract = gw.network("tanpo").contract("tanpo")
    with pytest.raises(CommitError) as info:
        contract.submit("Move")
    assert info.value.is_mvcc_conflict
    assert len(servicer.endorsements) == MVCC_RETRY.attempts


def test_endorse_error_carries_each_peers_details(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.endorse_error = "access denied: bank-b is not the lender"
    with pytest.raises(EndorseError) as info:
        gw.network("tanpo").contract("tanpo").submit("Approve", "A1")
    err = info.value
    assert err.code == grpc.StatusCode.ABORTED
    assert err.details[0].msp_id == "BankBMSP"
    assert err.refused and not err.transient
    assert err.refusal == err.chaincode_message == "access denied: bank-b is not the lender"
    assert "Details:" in str(err) and "BankBMSP" in str(err)
    assert not servicer.submits, "nothing may be submitted after a failed endorsement"


def test_evaluate_returns_the_payload(fake: Any) -> None:
    _, gw, _ = fake
    assert gw.network("tanpo").contract("tanpo").evaluate("Get", "x") == b"evaluated"


def test_event_stream_from_a_checkpoint(fake: Any) -> None:
    servicer, gw, key = fake
    with gw.network("tanpo").chaincode_events("tanpo", checkpoint=Checkpoint(3, "tx3")) as events:
        got = list(events)
    assert [(e.block_number, e.transaction_id, e.json()) for e in got] == [
        (3, "tx3", {"type": "Ping"}),
        (4, "tx4", {"type": "Ping"}),
    ]
    (signed,) = servicer.events_requests
    verify(key, signed.request, signed.signature)
    req = gateway_pb2.ChaincodeEventsRequest.FromString(signed.request)
    assert req.start_position.specified.number == 3
    assert req.after_transaction_id == "tx3"
    assert req.chaincode_id == "tanpo"


def test_signatures_are_always_low_s() -> None:
    _, key = make_identity()
    sign = ecdsa_signer(key)
    for i in range(64):
        message = f"message {i}".encode()
        verify(key, message, sign(hashlib.sha256(message).digest()))


# ---- retry policies, per-call timeouts, asynchronous submit -----------------------------------


def test_a_retry_policy_sets_the_budget_and_the_pauses(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.commit_codes = [transaction_pb2.MVCC_READ_CONFLICT] * 10
    pauses: list[float] = []
    twice = RetryPolicy(attempts=3, backoff=lambda n: pauses.append(n) or 0.0,
                        retry_on=mvcc_conflict)
    with pytest.raises(CommitError):
        gw.network("tanpo").contract("tanpo").submit("Move", retries=[twice])
    assert len(servicer.endorsements) == 3 and pauses == [1, 2]
    servicer.endorsements.clear()
    servicer.commit_codes = [transaction_pb2.MVCC_READ_CONFLICT]
    with pytest.raises(CommitError):  # no policy: the first conflict is raised
        gw.network("tanpo").contract("tanpo").with_retries().submit("Move")
    assert len(servicer.endorsements) == 1


def test_endorsement_waits_for_discovery_and_counts_the_attempts(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.no_peers = 2
    quick = RetryPolicy(attempts=5, backoff=constant(0.01),
                        retry_on=lambda e: isinstance(e, EndorseError) and e.no_endorsers)
    result = gw.network("tanpo").contract("tanpo").submit("Move", retries=[quick])
    assert result.attempts == 3 and len(servicer.submits) == 1
    servicer.no_peers = 9
    with pytest.raises(EndorseError) as info:
        gw.network("tanpo").contract("tanpo").submit("Move", retries=[quick])
    assert info.value.no_endorsers and info.value.transient and not info.value.refused


def test_a_refusal_is_never_retried(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.endorse_error = "no agreement A1"
    with pytest.raises(EndorseError):
        gw.network("tanpo").contract("tanpo").submit("Approve", "A1")
    assert len(servicer.endorsements) == 1


def test_a_per_call_timeout_bounds_every_step(fake: Any) -> None:
    servicer, gw, _ = fake
    contract = gw.network("tanpo").contract("tanpo")
    contract.submit("Move", timeout=2.0)
    contract.evaluate("Get", timeout=1.5)
    contract.submit("Move")
    # (gRPC carries deadlines with some slack: compare against the defaults, 10 s and more)
    for call in ("Endorse", "Submit", "CommitStatus"):
        bounded, default = servicer.remaining[call]
        assert 0 < bounded < 2.2 and default > 5, call
    assert 0 < servicer.remaining["Evaluate"][0] < 1.7


def test_a_timeout_also_bounds_the_retries(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.no_peers = 1000
    slow = RetryPolicy(attempts=100, backoff=constant(0.2),
                       retry_on=lambda e: isinstance(e, EndorseError) and e.no_endorsers)
    with pytest.raises(EndorseError):
        gw.network("tanpo").contract("tanpo").submit("Move", timeout=0.5, retries=[slow])
    assert 1 < len(servicer.endorsements) <= 4


def test_submit_async_returns_the_result_before_the_commit(fake: Any) -> None:
    servicer, gw, _ = fake
    servicer.commit_codes = [transaction_pb2.VALID] + [transaction_pb2.MVCC_READ_CONFLICT] * 2
    contract = gw.network("tanpo").contract("tanpo")
    first = contract.submit_async("Move")
    assert len(servicer.submits) == 1 and not servicer.statuses
    assert first.result == b"result:" + first.transaction_id.encode()
    assert gw.commits.last_block == 0
    assert first.wait().block_number == 7
    assert gw.commits.last_block == 7, "a commit is recorded on the gateway's watermark"
    second = contract.submit_async("Move")
    status = second.status()
    assert not status.successful
    with pytest.raises(CommitError) as info:
        second.wait()
    assert info.value.is_mvcc_conflict
    assert len(servicer.endorsements) == 2, "an asynchronous submit is never retried on commit"


@pytest.mark.parametrize(("error", "refused", "transient"), [
    (EndorseError("failed to endorse", grpc.StatusCode.ABORTED,
                  (ErrorDetail("a", "BankAMSP", "chaincode response 500, no agreement X"),)),
     True, False),
    (EvaluateError("evaluate call to endorser returned error: chaincode response 500, bad",
                   grpc.StatusCode.UNKNOWN), True, False),
    (EndorseError("failed to connect to all addresses", grpc.StatusCode.UNAVAILABLE),
     False, True),
    (EndorseError("failed to collect enough transaction endorsements", grpc.StatusCode.ABORTED,
                  (ErrorDetail("b", "BankBMSP", "ProposalResponsePayloads do not match"),)),
     False, True),
    (EndorseError("failed to endorse", grpc.StatusCode.PERMISSION_DENIED,
                  (ErrorDetail("a", "BankAMSP", "access denied: creator certificate"),)),
     False, False),
])
def test_what_an_error_means_is_decided_from_the_status(error: GatewayError, refused: bool,
                                                        transient: bool) -> None:
    assert (error.refused, error.transient) == (refused, transient)
    if refused:
        assert error.refusal and "chaincode response" not in error.refusal
    else:
        assert error.refusal is None
