"""The oracle's ledger on the real network: the tanpo chaincode through the Gateway SDK.

Signed as the operator's oracle identity. Chaincode refusals become :class:`LedgerError` (or
the more precise :class:`PriceConflictError` / :class:`PricesNotPostedError`); a transport
failure or an unknown commit outcome becomes :class:`LedgerUnavailableError`, which the daemon
answers by re-reading the ledger, safe because posting and margin calls are idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import TypeVar

from tanpo.client.api import OracleClient
from tanpo.client.connect import Connection, connect
from tanpo.client.errors import CommitError, CommitStatusError, GatewayError, SubmitError
from tanpo.client.models import PriceSet
from tanpo.client.session import Session
from tanpo.client.sweep import AdjustRun, SweepRun
from tanpo.oracle.ledger import (
    LedgerError,
    LedgerUnavailableError,
    PriceBatch,
    PriceConflictError,
    PricesNotPostedError,
    Quote,
)

T = TypeVar("T")


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except (SubmitError, CommitStatusError) as exc:
        raise LedgerUnavailableError(str(exc)) from exc
    except CommitError as exc:
        # Ordered but invalid (e.g. an MVCC conflict that outlived the SDK's retries): nothing
        # was written, so re-reading and trying again is safe.
        raise LedgerUnavailableError(str(exc)) from exc
    except GatewayError as exc:
        if exc.refusal is None:  # (a transport failure is never the chaincode's answer)
            # Not the chaincode saying no: the gateway could not get the transaction endorsed
            # (a bank's peer down, so no peers satisfy the agreement's endorsement policy; peers
            # at different heights returning different results). Retrying later can succeed.
            raise LedgerUnavailableError(str(exc)) from exc
        message = exc.refusal
        if "use CorrectPrices" in message:
            raise PriceConflictError(message) from exc
        if message.startswith("no prices posted for"):
            raise PricesNotPostedError(message) from exc
        raise LedgerError(message) from exc


class FabricLedger:
    """`tanpo.oracle.ledger.Ledger` over the tanpo chaincode."""

    def __init__(self, connection: Connection) -> None:
        self.client = OracleClient(connection)
        self.session = Session.adopt(connection)

    @classmethod
    def connect(cls, party: str = "operator", user: str = "User1") -> FabricLedger:
        return cls(connect(party, user))

    def close(self) -> None:
        self.client.connection.close()

    def _call(self, fn: Callable[[], T]) -> T:
        with _translated():
            return fn()

    def last_posted_date(self) -> date | None:
        return self._call(self.client.last_posted_date)

    def last_swept_date(self) -> date | None:
        return self._call(self.client.last_swept_date)

    def posted_prices(self, valuation_date: date) -> PriceBatch | None:
        try:
            prices = self._call(lambda: self.client.prices(valuation_date))
        except PricesNotPostedError:
            return None
        except LedgerError as exc:
            if str(exc).startswith("no prices posted for"):
                return None
            raise
        return _batch_from(prices)

    def post_prices(self, batch: PriceBatch) -> None:
        self._call(lambda: self.client.post_batch_json(batch.valuation_date, batch.to_dict()))
        self._settle()

    def _settle(self) -> None:
        """Committed means committed everywhere: what follows is endorsed by each agreement's
        banks, whose peers must already hold what this transaction wrote."""
        try:
            self.session.settle()
        except (TimeoutError, GatewayError) as exc:
            raise LedgerUnavailableError(f"committed but not yet on every peer: {exc}") from exc

    def correct_prices(self, batch: PriceBatch, reason: str) -> None:
        self._call(lambda: self.client.correct_batch_json(batch.valuation_date, batch.to_dict(),
                                                          reason))
        self._settle()

    def adjust(self, valuation_date: date, batch_size: int) -> AdjustRun:
        """The SDK's :func:`tanpo.client.sweep.adjust_day`: the date's plan, the agreements with
        a call of the date, per pair in batches, each committed on every peer."""
        return self._call(lambda: self.client.adjust(valuation_date, batch_size=batch_size))

    def sweep(self, valuation_date: date, batch_size: int) -> SweepRun:
        """The SDK's sweep (:func:`tanpo.client.sweep.sweep_day`): planned pages, batches of one
        pair in a lane per borrower, then FinishSweep. Every batch is on every peer before its
        lane's next one, and the finish before this returns."""
        return self._call(lambda: self.client.sweep(valuation_date, batch_size, finish=True))


def _batch_from(prices: PriceSet) -> PriceBatch:
    raw = prices.raw

    def quotes(values: dict[str, str], notes: dict[str, dict[str, str]],
               signed: bool = False) -> dict[str, Quote]:
        out = {}
        for key, value in values.items():
            note = notes.get(key) or {}
            as_of = date.fromisoformat(note["asOf"]) if note.get("asOf") else prices.date
            out[key] = Quote(Decimal(value), as_of, note.get("confirmedBy") or None, signed)
        return out

    return PriceBatch(
        valuation_date=prices.date,
        prices=quotes(raw.get("prices") or {}, raw.get("priceNotes") or {}),
        fx=quotes(raw.get("fx") or {}, raw.get("fxNotes") or {}),
        source=str(raw.get("source", "")),
        rates=quotes(raw.get("rates") or {}, raw.get("rateNotes") or {}, signed=True),
    )
