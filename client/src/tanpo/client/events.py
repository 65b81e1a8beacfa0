"""Chaincode event streams with checkpoints.

A stream is an iterator that is also a context manager; `close()` cancels the gRPC call. Errors
on the stream are raised, never swallowed: a listener must know when it stopped hearing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2

from tanpo.client.errors import GatewayError, wrap

if TYPE_CHECKING:
    from tanpo.client.gateway import Gateway


#: Every chaincode event name (chaincode/contracts/events.go): the payload's ``type`` equals it.
EVENT_TYPES = (
    "IdentityRegistered", "IdentityRevoked", "PlatformSettingsChanged", "Ping",
    "TokenDefined", "TokenUpdated",
    "IssuanceRequested", "IssuanceApproved", "IssuanceRejected",
    "RedemptionRequested", "RedemptionApproved", "RedemptionRejected", "Transfer",
    "AgreementProposed", "AgreementApproved", "AgreementRejected", "AgreementWithdrawn",
    "TerminationRequested", "TerminationCancelled", "AgreementClosed",
    # life-cycle steps (maturity, failed recalls and settlement fails of the daily cycle are
    # listed in its MarginBatch event)
    "RecallRequested", "LoanReturned", "NoticeGiven", "SubstitutionRequested",
    "SubstitutionCancelled", "CollateralSubstituted", "BuyIn",
    # billing: ids only (invoice, pair, status); the pair reads the invoice
    "InvoiceIssued", "InvoicePaid", "InvoiceLineQueried",
    # eligibility schedules, disputes of margin calls, re-runs at corrected prices
    "ScheduleDefined", "CallDisputed", "DisputeResolved", "CallsAdjusted",
    "PricesPosted", "PricesCorrected", "MarginCall", "MarginBatch", "SweepFinished",
)

#: The events of an agreement's life-cycle steps: their payload is ids only (agreement, status,
#: acting party, and a recall's id); the parties read the agreement for the rest.
LIFECYCLE_EVENTS = ("RecallRequested", "LoanReturned", "NoticeGiven", "SubstitutionRequested",
                    "SubstitutionCancelled", "CollateralSubstituted", "BuyIn")

#: The billing contract's events: ``{invoice, pair, status}``.
BILLING_EVENTS = ("InvoiceIssued", "InvoicePaid", "InvoiceLineQueried")


@dataclass(frozen=True)
class ChaincodeEvent:
    block_number: int
    transaction_id: str
    chaincode: str
    name: str
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload) if self.payload else None


@dataclass(frozen=True)
class Checkpoint:
    """Where a listener got to: the block, and the last transaction seen in it."""

    block_number: int
    transaction_id: str = ""


class FileCheckpointer:
    """Persists a checkpoint after each event, atomically, so a restart resumes after it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Checkpoint | None:
        try:
            data = json.loads(self.path.read_text())
            return Checkpoint(int(data["block_number"]), str(data.get("transaction_id", "")))
        except (OSError, ValueError, KeyError):
            return None

    def save(self, event: ChaincodeEvent) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"block_number": event.block_number, "transaction_id": event.transaction_id})
        )
        os.replace(tmp, self.path)


class EventStreamError(GatewayError):
    """The event stream broke (peer gone, permission denied, cancelled by the server)."""


@dataclass(frozen=True)
class EventsRequest:
    gateway: Gateway
    channel_id: str
    chaincode: str
    start_block: int | None = None
    checkpoint: Checkpoint | None = None

    def signed(self) -> gateway_pb2.SignedChaincodeEventsRequest:
        after_tx = ""
        if self.checkpoint is not None:
            position = ab_pb2.SeekPosition(
                specified=ab_pb2.SeekSpecified(number=self.checkpoint.block_number)
            )
            after_tx = self.checkpoint.transaction_id
        elif self.start_block is not None:
            position = ab_pb2.SeekPosition(
                specified=ab_pb2.SeekSpecified(number=self.start_block)
            )
        else:
            position = ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=self.channel_id,
            chaincode_id=self.chaincode,
            identity=self.gateway.creator,
            start_position=position,
            after_transaction_id=after_tx,
        ).SerializeToString()
        return gateway_pb2.SignedChaincodeEventsRequest(
            request=request, signature=self.gateway.sign(request)
        )

    def stream(self) -> ChaincodeEventStream:
        call = self.gateway.stub.ChaincodeEvents(
            self.signed(), timeout=self.gateway.timeouts.events
        )
        return ChaincodeEventStream(call)


class ChaincodeEventStream:
    def __init__(self, call: Any) -> None:
        self._call = call
        self._closed = False

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        try:
            for response in self._call:
                for ev in response.events:
                    yield ChaincodeEvent(
                        block_number=int(response.block_number),
                        transaction_id=ev.tx_id,
                        chaincode=ev.chaincode_id,
                        name=ev.event_name,
                        payload=bytes(ev.payload),
                    )
        except grpc.RpcError as exc:
            if self._closed and exc.code() == grpc.StatusCode.CANCELLED:
                return
            raise wrap(EventStreamError, exc, "") from None

    def close(self) -> None:
        self._closed = True
        self._call.cancel()

    def __enter__(self) -> ChaincodeEventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
