"""The ledger behind a scenario run, as a small interface with two implementations in mind.

The runner only talks to a :class:`Ledger`: define tokens, issue opening balances, open an
agreement, post a day's prices, run the margin call of an agreement for a date, close it, and read
the call records back. :class:`tanpo.scenarios.engine_ledger.EngineLedger` implements it off-chain
with the pure margin engine (fast, for backtests and benchmarks); an on-chain implementation
submits the same steps as Fabric transactions through the SDK and reads the records the chaincode
stored. The records below are the common, backend-neutral view the reports and metrics use; the
transfers and issuance shortfalls in them are the SDK's own types (one definition for the
chaincode's records, the oracle and the scenarios).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Literal, Protocol, runtime_checkable

from tanpo.client.models import AccrualLine, InvoiceLine, IssuanceRequired, MarginTransfer
from tanpo.margin import Schedule as EngineSchedule
from tanpo.scenarios.model import Economics, LifecycleEvent, TokenSpec

#: Collateral moved by a margin call (``market_value``: before haircut; ``settle_date``: the call
#: date when there is no settlement lag).
Transfer = MarginTransfer

__all__ = [
    "AccrualLine",
    "AgreementTerms",
    "CallRecord",
    "CloseRecord",
    "InvoiceLine",
    "InvoiceRecord",
    "Issuance",
    "IssuanceRequired",
    "Ledger",
    "OpenRecord",
    "Role",
    "StepRecord",
    "Transfer",
]

Role = Literal["lender", "borrower"]


@dataclass(frozen=True)
class AgreementTerms:
    """Concrete terms of one agreement (every quantity resolved, base currency set)."""

    id: str
    lender: str
    borrower: str
    base_currency: str
    loan_token: str
    loan_quantity: int
    collateral: tuple[tuple[str, int], ...]
    priority: tuple[str, ...]
    start: date
    end: date
    haircut: Fraction = Fraction(0)
    haircuts: Mapping[str, Fraction] = field(default_factory=dict)
    threshold: Fraction = Fraction(0)
    mode: Literal["single", "multi"] = "single"
    lag: int = 0
    auto_issue: bool = False
    min_transfer: Fraction = Fraction(0)
    economics: Economics | None = None
    schedule: EngineSchedule | None = None


@dataclass(frozen=True)
class Issuance:
    """Tokens minted by auto-issue inside a call, to ``party`` (the delivering side)."""

    token: str
    quantity: int
    party: str
    role: Role


@dataclass(frozen=True)
class CallRecord:
    """One margin call of one agreement on one date, in the base currency.

    ``v_c_before`` is the haircut collateral value after transfers due today settled and before
    the call; ``v_c_after`` after the call's own transfers that settle today (with a settlement lag
    nothing of today's call has settled yet, so it equals ``v_c_before``).
    """

    agreement: str
    date: date
    triggered: bool
    v_l: Fraction
    v_c_before: Fraction
    v_c_after: Fraction
    transfers: tuple[Transfer, ...] = ()
    issuances: tuple[Issuance, ...] = ()
    issuance_required: tuple[IssuanceRequired, ...] = ()
    settled: tuple[Transfer, ...] = ()
    prices: Mapping[str, Fraction] = field(default_factory=dict)
    fx: Mapping[str, Fraction] = field(default_factory=dict)
    #: fees and rebates accrued since the previous call, at the values it found (split at month
    #: ends; empty for an agreement without a fee or rebate)
    accruals: tuple[AccrualLine, ...] = ()

    @property
    def gap_before(self) -> Fraction:
        return self.v_c_before - self.v_l

    @property
    def gap_after(self) -> Fraction:
        return self.v_c_after - self.v_l

    @property
    def completed_same_day(self) -> bool:
        """True when the call's adjustment took full effect on the call date: every transfer
        settled the same day, no tokens had to be issued and no issuance is outstanding."""
        return (
            all(t.settle_date == self.date for t in self.transfers)
            and not self.issuances
            and not self.issuance_required
        )

    def issued_for(self, role: Role) -> bool:
        """True when ``role`` needed an issuance in this call (minted, or left outstanding)."""
        return any(i.role == role for i in self.issuances) or any(
            r.role == role for r in self.issuance_required
        )


@dataclass(frozen=True)
class OpenRecord:
    """The opening exchange: loan tokens lender→borrower, collateral borrower→lender."""

    agreement: str
    date: date
    terms: AgreementTerms
    v_l: Fraction
    v_c: Fraction


@dataclass(frozen=True)
class CloseRecord:
    """The closing exchange: the borrower returns the loan, the lender returns the collateral it
    holds under the agreement (a negative position is delivered back by the borrower)."""

    agreement: str
    date: date
    returned: Mapping[str, int]
    v_l: Fraction
    v_c: Fraction
    #: fees and rebates accrued up to the close date
    accruals: tuple[AccrualLine, ...] = ()


@dataclass(frozen=True)
class StepRecord:
    """A life-cycle step (recall, return, substitution) as it settled: the loan quantity and the
    collateral held after it, the collateral movements ``(token, quantity, direction)`` in order,
    and the loan's value and the haircut value of the collateral after it at the day's prices."""

    agreement: str
    date: date
    action: str
    loan_quantity: int
    held: Mapping[str, int]
    movements: tuple[tuple[str, int, str], ...]
    v_l: Fraction
    v_c: Fraction
    #: fees and rebates accrued up to the step's date (a return or substitution changes what
    #: they accrue on; a full return is the close)
    accruals: tuple[AccrualLine, ...] = ()

    @property
    def closed(self) -> bool:
        """True when the step returned the whole loan (the agreement closed)."""
        return self.loan_quantity == 0


@dataclass(frozen=True)
class InvoiceRecord:
    """A pair's invoice for one month and currency: one line per agreement (its month's fee,
    raised to the minimum, less the rebate), lender-first-party lines first, then by agreement;
    ``net`` is what ``payer`` owes ``payee`` (exact, >= 0) and ``amount`` that rounded half away
    from zero to whole units."""

    pair: str
    month: str
    currency: str
    #: the SDK's invoice lines (scenario agreement ids; ``query`` stays None)
    lines: tuple[InvoiceLine, ...]
    net: Fraction
    amount: int
    payer: str
    payee: str


@runtime_checkable
class Ledger(Protocol):
    """What a scenario run needs from a ledger (off-chain engine or the Fabric network)."""

    backend: str

    def define_tokens(self, tokens: Sequence[TokenSpec]) -> None:
        """Register the token definitions (idempotent for identical definitions)."""

    def issue(self, party: str, token: str, quantity: int) -> None:
        """Mint ``quantity`` units of ``token`` to ``party`` (the token administrator's act)."""

    def post_prices(
        self,
        day: date,
        prices: Mapping[str, Fraction],
        fx: Mapping[str, Fraction],
        rates: Mapping[str, Fraction] | None = None,
    ) -> None:
        """Post the closing prices (security tokens by id), FX market pairs and benchmark fixings
        of ``day``."""

    def open_agreement(self, terms: AgreementTerms, day: date) -> OpenRecord:
        """Register, approve and settle the opening exchange of an agreement on ``day``."""

    def margin_call(self, agreement_id: str, day: date) -> CallRecord:
        """Run (or read back, if it already ran) the margin call of an agreement for ``day``."""

    def close_agreement(self, agreement_id: str, day: date) -> CloseRecord:
        """Settle pending transfers due by ``day`` and the closing exchange."""

    def lifecycle_step(self, event: LifecycleEvent) -> StepRecord:
        """Do a desk's step (recall, return, substitution) at the prices posted for its date."""

    def call_records(self, agreement_id: str) -> list[CallRecord]:
        """Every recorded margin call of the agreement, in date order."""

    def issue_invoice(self, first: str, second: str, month: str, currency: str) -> InvoiceRecord:
        """Invoice a finished month (``YYYY-MM``) of the pair of banks ``first`` and ``second``
        (either order) in ``currency``: the month's accruals of the pair's agreements leave
        them."""
