"""Errors of the Gateway flow: one type per step, each carrying what the gateway reported.

`str(error)` reads like the official clients': the status message, then a "Details:" list with the
address, MSP ID and message of every peer or orderer that failed.

What a failure *means* is decided here, once, from what the gateway reported: whether the
chaincode itself refused (`GatewayError.refused`, with its own words in `refusal`), whether it is
worth trying again later (`transient`), whether no set of peers could endorse (`no_endorsers`).
Callers branch on these properties, never on the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class ErrorDetail:
    address: str
    msp_id: str
    message: str


# The gateway reports a chaincode error as "chaincode response <status>, <the chaincode's message>"
# (in the peer's detail and, for an evaluate, in the status message too).
_CHAINCODE_RESPONSE = re.compile(r"chaincode response (\d+), (.*)", re.DOTALL)
# Discovery found no set of peers satisfying the endorsement policy: a peer is down, or (just
# after start-up or a chaincode upgrade) gossip has not yet told the gateway who runs it.
_NO_PEER_SET = "no combination of peers can be derived"
# Endorsing peers returned different results: one had not yet committed a block another had.
_ENDORSEMENTS_DIFFER = "ProposalResponsePayloads do not match"
# The gateway could not hand the transaction to any orderer (each one's error in the details).
_NO_ORDERER = "no orderers could successfully process transaction"

#: gRPC codes after which the same call may succeed later (the python-etcd3 table, in spirit).
TRANSIENT_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.CANCELLED,
})


def _refusal(message: str, details: tuple[ErrorDetail, ...]) -> str | None:
    for text in [d.message for d in details] + [message]:
        found = _CHAINCODE_RESPONSE.search(text)
        if found:
            return found.group(2)
    return None


class GatewayError(Exception):
    """A gRPC call to the gateway failed."""

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode | None = None,
        details: tuple[ErrorDetail, ...] = (),
        transaction_id: str = "",
    ) -> None:
        self.message = message
        self.code = code
        self.details = details
        self.transaction_id = transaction_id
        #: The chaincode's own message when the chaincode refused the call, else None.
        self.refusal = _refusal(message, details)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = [self.message]
        if self.details:
            lines.append("Details:")
            for d in self.details:
                lines.append(f"  - Address: {d.address}, MspId: {d.msp_id}, Message: {d.message}")
        return "\n".join(lines)

    @property
    def refused(self) -> bool:
        """The chaincode ran and said no: the same call will be refused again."""
        return self.refusal is not None

    @property
    def chaincode_message(self) -> str:
        """The chaincode's own words when it refused, else the most specific text reported."""
        if self.refusal is not None:
            return self.refusal
        return self.details[0].message if self.details else self.message

    def _says(self, words: str) -> bool:
        return any(words in text for text in [self.message, *(d.message for d in self.details)])

    @property
    def no_endorsers(self) -> bool:
        """No set of peers could satisfy the endorsement policy (a peer down, or not yet known)."""
        return not self.refused and self._says(_NO_PEER_SET)

    @property
    def endorsements_differ(self) -> bool:
        """The endorsing peers disagreed, typically because one lagged a block behind."""
        return not self.refused and self._says(_ENDORSEMENTS_DIFFER)

    @property
    def orderer_unavailable(self) -> bool:
        """The ordering service did not take the transaction: every orderer the gateway tried
        failed (each one's address in `details`), or the submit found none in time."""
        return not self.refused and (
            self._says(_NO_ORDERER)
            or (isinstance(self, SubmitError) and self.code in TRANSIENT_CODES))

    @property
    def transient(self) -> bool:
        """Not the chaincode's answer: the same call may succeed once the network recovers."""
        return not self.refused and (
            self.code in TRANSIENT_CODES or self.no_endorsers or self.endorsements_differ
        )


class EvaluateError(GatewayError):
    """Evaluate (a query) failed."""


class EndorseError(GatewayError):
    """Endorsement failed: a peer refused, the chaincode returned an error, or peers disagreed."""


class SubmitError(GatewayError):
    """The orderer did not accept the endorsed transaction."""


class CommitStatusError(GatewayError):
    """The commit status could not be obtained (for example a timeout)."""


class CommitInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived after the transaction was handed to the orderer (or while it was being
    handed over): it may still commit. Still a KeyboardInterrupt, so whoever does not look for
    it stops as before; a caller that does can say which transaction to check."""

    def __init__(self, transaction_id: str, *, sent: bool = True) -> None:
        self.transaction_id = transaction_id
        #: True once the orderer accepted it; False when interrupted while submitting
        self.sent = sent
        state = "submitted" if sent else "being submitted"
        super().__init__(f"interrupted while transaction {transaction_id} was {state}: "
                         "it may still commit")


class CommitError(Exception):
    """The transaction was ordered but marked invalid.

    For example MVCC_READ_CONFLICT (retry) or ENDORSEMENT_POLICY_FAILURE (not enough endorsers).
    """

    def __init__(self, transaction_id: str, code: int, block_number: int) -> None:
        self.transaction_id = transaction_id
        self.code = code
        self.block_number = block_number
        super().__init__(
            f"transaction {transaction_id} failed to commit with status code {code} "
            f"({self.code_name}) in block {block_number}"
        )

    @property
    def code_name(self) -> str:
        try:
            return str(transaction_pb2.TxValidationCode.Name(self.code))
        except ValueError:
            return str(self.code)

    @property
    def is_mvcc_conflict(self) -> bool:
        return self.code_name in ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")


def details_of(error: grpc.RpcError) -> tuple[ErrorDetail, ...]:
    try:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        return ()
    if status is None:
        return ()
    out = []
    for any_detail in status.details:
        detail = gateway_pb2.ErrorDetail()
        if any_detail.Unpack(detail):
            out.append(ErrorDetail(detail.address, detail.msp_id, detail.message))
    return tuple(out)


def wrap(cls: type[GatewayError], error: grpc.RpcError, transaction_id: str) -> GatewayError:
    code = error.code() if hasattr(error, "code") else None
    message = error.details() if hasattr(error, "details") else str(error)
    return cls(str(message), code, details_of(error), transaction_id)
