"""Report regimes and the collateral each one recognises.

* ``economic`` - the custodian's own view: every position the lender holds counts at market
  value.
* ``basel1`` - the 1988 Accord as DESIGN.md uses it: no eligibility filter on collateral.
* ``basel2`` - collateral must be eligible financial collateral of the comprehensive approach:
  cash, listed equities (main index: Basel II §145(e); other listed: §146(a)) and debt rated
  investment grade (BBB- or better, or short-term A-3/P-3 or better: §145(c)). Sub-investment-
  grade and unrated debt, and assets of no recognised class, are excluded: they do not reduce the
  exposure (neither in the net exposure nor in the VaR), and the report lists them with the
  reason.

The ``basel2`` rule is the project's (DESIGN.md §1, "Risk and capital"), slightly stricter than
the Basel II text, which also admits sovereign debt rated BB+ to BB- (§145(c), 15% haircut) and
some unrated senior bank debt (§145(d)); both are excluded here. Gold (§145(b)) and funds
(§146(b)) have no token class yet and are excluded as "other".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tanpo.marketdata.instruments import AssetClass, TokenInfo

__all__ = ["Eligibility", "Regime", "eligibility"]


class Regime(StrEnum):
    BASEL1 = "basel1"
    BASEL2 = "basel2"
    ECONOMIC = "economic"


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Whether a collateral token counts under a regime, and if not, why."""

    eligible: bool
    reason: str | None = None


_YES = Eligibility(True)


def eligibility(regime: Regime, token: TokenInfo) -> Eligibility:
    """Does ``token`` count as collateral under ``regime``?"""
    if regime != Regime.BASEL2:
        return _YES
    cls = token.asset_class
    if cls in (AssetClass.CASH, AssetClass.EQUITY):
        return _YES
    if cls.is_debt:
        rating = token.parsed_rating
        if rating is None:
            if token.rating:
                return Eligibility(
                    False,
                    f"unrated debt: rating {token.rating!r} is not a recognised grade "
                    "(basel2 excludes unrated debt)",
                )
            return Eligibility(False, "unrated debt (basel2 excludes unrated debt)")
        if not rating.investment_grade:
            return Eligibility(
                False,
                f"rated {rating.text}, below investment grade BBB- "
                "(basel2 excludes sub-investment-grade debt)",
            )
        return _YES
    return Eligibility(
        False, f"asset class {cls.value!r} is not eligible financial collateral under basel2"
    )
