"""The risk report's book read from the ledger, through the SDK, as a bank sees it.

Agreements are the reading bank's ACTIVE ones whose term covers the report date (an agreement's
records are private to its two banks: the chaincode refuses the operator every one of them); the
collateral is what each lender holds under each agreement (the chaincode's per-agreement
positions); prices
are the version posted for the date (the latest unless one is named), so a report names exactly
the data it used and can be re-run on it after a correction arrives. ``breaches`` lists the
agreements whose latest margin call records concentration caps still exceeded after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal, cast

from tanpo.client.api import TanpoClient
from tanpo.client.connect import connect
from tanpo.client.errors import GatewayError
from tanpo.client.models import Breach
from tanpo.client.profile import Profile
from tanpo.marketdata.instruments import TokenInfo
from tanpo.marketdata.reference import describe_token
from tanpo.risk.errors import RiskError
from tanpo.risk.portfolio import AgreementHolding, PriceSnapshot

__all__ = ["LedgerSource"]


class LedgerSource:
    """A :class:`~tanpo.risk.portfolio.PortfolioSource` over the tanpo chaincode."""

    def __init__(self, client: TanpoClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, party: str = "bank-a", user: str = "User1",
                profile: Profile | None = None) -> LedgerSource:
        return cls(TanpoClient(connect(party, user, profile)))

    def describe(self) -> str:
        profile = self.client.connection.profile
        return f"ledger {profile.chaincode}@{profile.channel} as {self.client.party}"

    def tokens(self, day: date) -> Mapping[str, TokenInfo]:
        out = {}
        try:
            tokens = self.client.tokens()
        except GatewayError as exc:
            raise RiskError(f"reading token definitions: {exc.chaincode_message}") from exc
        for t in tokens:
            out[t.id] = describe_token(
                t.id,
                cast(Literal["ST", "CT"], t.kind),
                t.currency,
                cast(Literal["per-unit", "percent-of-par"], t.quote_convention),
                t.ticker or t.isin or None,
                asset_class_text=t.asset_class or None,
                rating_text=t.credit_rating or None,
                name=t.name or None,
            )
        return out

    def agreements(self, day: date) -> Sequence[AgreementHolding]:
        try:
            active = self.client.agreements(status="ACTIVE")
            out = []
            for a in active:
                terms = a.terms
                if terms.start_date and terms.start_date > day:
                    continue
                if terms.end_date and terms.end_date < day:
                    continue
                held = {p.token: p.held for p in self.client.collateral_held(a.id)}
                out.append(AgreementHolding(
                    id=a.id, lender=terms.lender, borrower=terms.borrower,
                    base_currency=terms.base_currency,
                    loan={terms.loan_token: terms.loan_quantity}, collateral=held,
                ))
        except GatewayError as exc:
            raise RiskError(f"reading agreements: {exc.chaincode_message}") from exc
        return sorted(out, key=lambda h: h.id)

    def breaches(self, day: date) -> list[tuple[str, date, tuple[Breach, ...]]]:
        """The reading bank's active agreements whose latest margin call on or before ``day``
        records concentration caps still breached after it: (agreement, call date, breaches)."""
        out = []
        try:
            for a in self.client.agreements(status="ACTIVE"):
                calls = [c for c in self.client.margin_calls(a.id) if c.date <= day]
                if calls:
                    last = max(calls, key=lambda c: c.date)
                    if last.breaches:
                        out.append((a.id, last.date, last.breaches))
        except GatewayError as exc:
            raise RiskError(f"reading margin calls: {exc.chaincode_message}") from exc
        return sorted(out, key=lambda b: b[0])

    def prices(self, day: date, version: str | None = None) -> PriceSnapshot:
        try:
            posted = self.client.prices(day, int(version) if version else None)
        except ValueError as exc:
            raise RiskError(f"invalid price version {version!r}: expected a number") from exc
        except GatewayError as exc:
            raise RiskError(f"prices of {day.isoformat()}: {exc.chaincode_message}") from exc
        return PriceSnapshot(day, str(posted.version), dict(posted.prices), dict(posted.fx))
