"""What the oracle daemon needs from the ledger, and nothing more.

The daemon is written against :class:`Ledger`; the Fabric-backed implementation (Gateway SDK,
signed as the oracle identity) and the in-memory fake (:mod:`tanpo.oracle.memledger`) both
satisfy it. The contract, which every implementation must honour:

* **Prices before sweeps.** ``sweep(d, ...)`` refuses a date whose prices are not posted
  (:class:`PricesNotPostedError`). The daemon posts, waits for the commit, then sweeps.
* **Posting is idempotent per date.** Posting a batch for a date that already holds the same
  values is a no-op; posting *different* values for a posted date raises
  :class:`PriceConflictError` (corrections are a separate, audited operation, not a re-post).
* **A margin call happens once per (agreement, date).** Sweeping again returns the recorded
  outcome with ``replayed=True`` and moves nothing. This is what makes an interrupted sweep safe
  to restart from the beginning.
* **Progress lives on the ledger.** ``last_posted_date`` / ``last_swept_date`` are read on every
  start; the daemon keeps no progress of its own. A date counts as swept once every active
  agreement the date applies to has its call (the ledger checks it and records the date).
* **A failed call fails alone.** An agreement whose call fails (a missing price, a short balance)
  is an outcome with its reason; the others are margined, and the date is not recorded as swept.
* **Returns mean committed.** ``post_prices`` and ``sweep`` return only after the
  transaction is committed and valid; a transient failure raises
  :class:`LedgerUnavailableError` (retry later), a refusal by the chaincode raises
  :class:`LedgerError`.

Prices and FX rates are exact decimals (``decimal.Decimal`` parsed from strings, never floats):
prices keyed by token id, FX by market pair (``USDJPY`` = JPY per one USD, ``EURUSD`` = USD per
one EUR), benchmark fixings by name (``SOFR``: percent per annum, any sign; what floating cash
rebates accrue at). Amounts the margin engine computes (values, not quantities) are
:class:`fractions.Fraction`, the Python twin of the chaincode's ``big.Rat``.

A sweep's outcomes are the SDK's domain types (:mod:`tanpo.client.models`): ``CallOutcome`` is
``SweepOutcome``, ``Transfer`` is ``MarginTransfer`` and ``IssuanceRequired`` is the SDK's; a
day's sweep is :class:`~tanpo.client.sweep.SweepRun`. The names here are aliases, not copies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from tanpo.client.models import IssuanceRequired, MarginTransfer, SweepOutcome
from tanpo.client.sweep import AdjustOutcome, AdjustRun, SweepRun

__all__ = [
    "AdjustOutcome",
    "AdjustRun",
    "CallOutcome",
    "IssuanceRequired",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "PriceBatch",
    "PriceConflictError",
    "PricesNotPostedError",
    "Quote",
    "SweepRun",
    "Transfer",
]


class LedgerError(Exception):
    """The ledger refused a request (the chaincode said no); retrying will not help."""


class LedgerUnavailableError(LedgerError):
    """The ledger could not be reached or did not confirm the commit in time; retry later.

    The transaction may or may not have committed: the daemon re-reads the ledger before
    doing anything else, which is safe because posting and margin calls are idempotent.
    """


class PriceConflictError(LedgerError):
    """Different prices were posted for a date that already holds prices."""


class PricesNotPostedError(LedgerError):
    """A sweep was asked for a date whose prices are not on the ledger."""


@dataclass(frozen=True)
class Quote:
    """One posted value: a token's closing price, an FX pair's fixing or a benchmark's fixing.

    ``as_of`` is the market date the value was observed on. It is earlier than the batch's
    valuation date when the value was carried forward (the market was closed, or its close was
    missing). ``confirmed_by`` records who let a held-back value through:
    ``"operator:<name>"`` or ``"source:<kind>"`` (a second source agreed), ``None`` otherwise.
    ``signed``: a benchmark fixing, which may be zero or negative (prices and FX may not).
    """

    value: Decimal
    as_of: date
    confirmed_by: str | None = None
    signed: bool = field(default=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.value, Decimal):
            raise TypeError(f"quote value must be a Decimal, got {type(self.value).__name__}")
        if not self.value.is_finite():
            raise ValueError(f"quote value must be a finite decimal, got {self.value}")
        if self.value <= 0 and not self.signed:
            raise ValueError(f"quote value must be a positive finite decimal, got {self.value}")


@dataclass(frozen=True)
class PriceBatch:
    """Everything the oracle posts for one valuation date, in one transaction: closes, FX and
    benchmark fixings (``rates``, left out of the JSON when there are none)."""

    valuation_date: date
    prices: Mapping[str, Quote]
    fx: Mapping[str, Quote]
    source: str = ""
    rates: Mapping[str, Quote] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, quote in (*self.prices.items(), *self.fx.items(), *self.rates.items()):
            if quote.as_of > self.valuation_date:
                raise ValueError(
                    f"{key}: quote observed on {quote.as_of} cannot be used for "
                    f"{self.valuation_date}"
                )
        object.__setattr__(self, "prices", MappingProxyType(dict(sorted(self.prices.items()))))
        object.__setattr__(self, "fx", MappingProxyType(dict(sorted(self.fx.items()))))
        object.__setattr__(self, "rates", MappingProxyType(dict(sorted(self.rates.items()))))

    def keys(self) -> set[str]:
        """Every key the batch posts: token ids, FX pairs and benchmark names."""
        return {*self.prices, *self.fx, *self.rates}

    def carried(self) -> list[str]:
        """Keys whose value was observed before the valuation date."""
        return [k for k, q in (*self.prices.items(), *self.fx.items(), *self.rates.items())
                if q.as_of < self.valuation_date]

    def same_values(self, other: PriceBatch) -> bool:
        """True when both batches post the same numbers for the same date (labels aside)."""
        return (
            self.valuation_date == other.valuation_date
            and _values(self.prices) == _values(other.prices)
            and _values(self.fx) == _values(other.fx)
            and _values(self.rates) == _values(other.rates)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; values are decimal strings exactly as held (``"602.0"``)."""
        out: dict[str, Any] = {
            "date": self.valuation_date.isoformat(),
            "source": self.source,
            "prices": {k: _quote_dict(q) for k, q in self.prices.items()},
            "fx": {k: _quote_dict(q) for k, q in self.fx.items()},
        }
        if self.rates:
            out["rates"] = {k: _quote_dict(q) for k, q in self.rates.items()}
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the chaincode argument for the batch."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PriceBatch:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` naming the bad field."""
        try:
            return cls(
                valuation_date=date.fromisoformat(str(data["date"])),
                prices={str(k): _quote_from(v) for k, v in dict(data.get("prices", {})).items()},
                fx={str(k): _quote_from(v) for k, v in dict(data.get("fx", {})).items()},
                source=str(data.get("source", "")),
                rates={str(k): _quote_from(v, signed=True)
                       for k, v in dict(data.get("rates") or {}).items()},
            )
        except (KeyError, TypeError, InvalidOperation) as exc:
            raise ValueError(f"not a price batch: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str) -> PriceBatch:
        return cls.from_dict(json.loads(text))


def _values(quotes: Mapping[str, Quote]) -> dict[str, Decimal]:
    return {k: q.value for k, q in quotes.items()}


def _quote_dict(q: Quote) -> dict[str, str]:
    # plain notation ("1300", never "1.3E+3"): the chaincode takes digits and a point only
    out = {"value": format(q.value, "f"), "asOf": q.as_of.isoformat()}
    if q.confirmed_by:
        out["confirmedBy"] = q.confirmed_by
    return out


def _quote_from(raw: Mapping[str, Any], signed: bool = False) -> Quote:
    value = raw["value"]
    if not isinstance(value, str):
        raise TypeError(f"quote value must be a decimal string, got {value!r}")
    return Quote(Decimal(value), date.fromisoformat(str(raw["asOf"])), raw.get("confirmedBy"),
                 signed)


#: Tokens moved by a margin call.
Transfer = MarginTransfer
#: The outcome of one agreement's margin call in a sweep (``replayed`` when it had already
#: happened and the ledger returned the record instead of calling again).
CallOutcome = SweepOutcome


@runtime_checkable
class Ledger(Protocol):
    """The ledger as the oracle daemon sees it (signed as the oracle identity)."""

    def last_posted_date(self) -> date | None:
        """The latest valuation date with posted prices, or None if none was ever posted."""
        ...

    def posted_prices(self, valuation_date: date) -> PriceBatch | None:
        """The batch posted for ``valuation_date``, or None."""
        ...

    def post_prices(self, batch: PriceBatch) -> None:
        """Post one date's prices, FX and fixings in one transaction; return once committed.

        A no-op when the date already holds the same values; :class:`PriceConflictError` when it
        holds different ones.
        """
        ...

    def correct_prices(self, batch: PriceBatch, reason: str) -> None:
        """Correct a posted date's values (``oracle:CorrectPrices``): the batch's values replace
        the date's in a new version, kept with ``reason``; return once committed. A no-op when
        nothing differs; :class:`PricesNotPostedError` when the date holds no prices."""
        ...

    def adjust(self, valuation_date: date, batch_size: int) -> AdjustRun:
        """After a correction: re-run, at the date's latest version, the calls of the date that
        are still their agreements' latest (``margin:AdjustCalls``, per pair, up to
        ``batch_size`` per transaction); each agreement is adjusted, unaffected or failed."""
        ...

    def last_swept_date(self) -> date | None:
        """The latest valuation date whose sweep completed, or None."""
        ...

    def sweep(self, valuation_date: date, batch_size: int) -> SweepRun:
        """Margin-call every active agreement for ``valuation_date`` (up to ``batch_size`` per
        transaction), then record the date as swept if every one has its call (``run.swept``).

        Each call happens at most once per (agreement, date); a repeated sweep returns the
        recorded outcomes with status ``replayed``. Returns once everything committed.
        """
        ...
