"""An in-memory :class:`~tanpo.risk.portfolio.PortfolioSource` with ledger-like price versions.

Prices of a date are posted once (version ``"1"``) and corrected later (``"2"``, ``"3"`` …); every
version stays readable, as on the ledger, so a report of an old version can be re-run exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from fractions import Fraction

from tanpo.marketdata.instruments import TokenInfo
from tanpo.risk.errors import RiskError
from tanpo.risk.portfolio import AgreementHolding, PriceSnapshot

__all__ = ["MemorySource"]


class MemorySource:
    """Tokens, agreements (the same on every date) and versioned prices, in memory."""

    def __init__(
        self,
        tokens: Iterable[TokenInfo],
        agreements: Iterable[AgreementHolding],
        name: str = "memory",
    ) -> None:
        self._tokens = {t.id: t for t in tokens}
        self._agreements = tuple(agreements)
        self._name = name
        self._versions: dict[date, list[PriceSnapshot]] = {}

    def describe(self) -> str:
        return self._name

    def tokens(self, day: date) -> Mapping[str, TokenInfo]:
        return dict(self._tokens)

    def agreements(self, day: date) -> Sequence[AgreementHolding]:
        return self._agreements

    def post(
        self, day: date, prices: Mapping[str, Fraction], fx: Mapping[str, Fraction] | None = None
    ) -> str:
        """Post the first version of ``day``'s prices; returns its version."""
        if day in self._versions:
            raise RiskError(f"prices of {day.isoformat()} are already posted: correct them")
        snap = PriceSnapshot(day, "1", dict(prices), dict(fx or {}))
        self._versions[day] = [snap]
        return snap.version

    def correct(
        self,
        day: date,
        prices: Mapping[str, Fraction] | None = None,
        fx: Mapping[str, Fraction] | None = None,
    ) -> str:
        """A new version of ``day``: the latest values with ``prices``/``fx`` replaced."""
        versions = self._versions.get(day)
        if not versions:
            raise RiskError(f"no prices posted for {day.isoformat()} to correct")
        last = versions[-1]
        snap = PriceSnapshot(
            day,
            str(len(versions) + 1),
            {**last.prices, **(prices or {})},
            {**last.fx, **(fx or {})},
        )
        versions.append(snap)
        return snap.version

    def prices(self, day: date, version: str | None = None) -> PriceSnapshot:
        versions = self._versions.get(day)
        if not versions:
            raise RiskError(f"no prices posted for {day.isoformat()} in {self._name}")
        if version is None:
            return versions[-1]
        for snap in versions:
            if snap.version == version:
                return snap
        raise RiskError(
            f"no price version {version!r} for {day.isoformat()} "
            f"(versions: {', '.join(s.version for s in versions)})"
        )
