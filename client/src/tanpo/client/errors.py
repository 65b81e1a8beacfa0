"""Errors of the Gateway flow: one type per step, each carrying what the gateway reported.

`str(error)` reads like the official clients': the status message, then a "Details:" list with the
address, MSP ID and message of every peer or orderer that failed.
"""

from __future__ import annotations

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
        super().__init__(self.__str__())

    def __str__(self) -> str:
        lines = [self.message]
        if self.details:
            lines.append("Details:")
            for d in self.details:
                lines.append(f"  - Address: {d.address}, MspId: {d.msp_id}, Message: {d.message}")
        return "\n".join(lines)

    @property
    def chaincode_message(self) -> str:
        """The chaincode's own error text, when the chaincode refused the call."""
        for text in [d.message for d in self.details] + [self.message]:
            marker = "chaincode response 500, "
            if marker in text:
                return text.split(marker, 1)[1]
        return self.details[0].message if self.details else self.message


class EvaluateError(GatewayError):
    """Evaluate (a query) failed."""


class EndorseError(GatewayError):
    """Endorsement failed: a peer refused, the chaincode returned an error, or peers disagreed."""


class SubmitError(GatewayError):
    """The orderer did not accept the endorsed transaction."""


class CommitStatusError(GatewayError):
    """The commit status could not be obtained (for example a timeout)."""


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
