"""What a risk report needs to know about a token beyond valuation: asset class, credit rating,
index membership, maturity, coupon terms and the stressed-history risk factor.

The ledger's token definition carries ``assetClass``, ``creditRating`` and ``issuer`` as free text
(DESIGN.md §1, Tokens); :func:`asset_class_of` and :func:`parse_rating` turn them into the values
the eligibility rules and the supervisory haircut table use.

Ratings: S&P/Fitch long-term (``AAA`` … ``D``, with ``+``/``-``), Moody's long-term (``Aaa`` …
``C``, with ``1``/``2``/``3``) and the short-term grades that Basel II's table names (``A-1``,
``A-2``, ``A-3``, ``P-1``, ``P-2``, ``P-3``). Anything else is treated as unrated, and the report
says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from tanpo.margin import Quote, Token, TokenKind

__all__ = [
    "AA_MINUS",
    "BBB_MINUS",
    "BB_MINUS",
    "AssetClass",
    "BondTerms",
    "Rating",
    "TokenInfo",
    "asset_class_of",
    "parse_rating",
]


class AssetClass(StrEnum):
    """Asset classes the Basel comprehensive approach distinguishes."""

    CASH = "cash"
    EQUITY = "equity"
    #: debt of a sovereign (or of an issuer treated as one: PSEs, MDBs at 0% risk weight)
    SOVEREIGN_DEBT = "sovereign-debt"
    #: debt of any other issuer (banks, corporates, agencies not treated as sovereigns)
    OTHER_DEBT = "other-debt"
    OTHER = "other"

    @property
    def is_debt(self) -> bool:
        return self in (AssetClass.SOVEREIGN_DEBT, AssetClass.OTHER_DEBT)


_SOVEREIGN_WORDS = ("government", "sovereign", "treasury", "jgb", "gilt", "bund", "oat", "btp")
_DEBT_WORDS = ("bond", "debt", "note", "bill", "corporate", "covered", "agency", "commercial-paper")
_EQUITY_WORDS = ("equity", "stock", "share", "etf")


def asset_class_of(text: str | None, kind: Literal["ST", "CT"]) -> AssetClass:
    """Map the ledger's free-text ``assetClass`` (e.g. ``"government-bond"``) to an AssetClass.

    A cash token (CT) is always cash. Unknown text is :attr:`AssetClass.OTHER` (not eligible
    under Basel II), never a guess towards a more favourable class.
    """
    if kind == "CT":
        return AssetClass.CASH
    t = (text or "").strip().lower().replace("_", "-").replace(" ", "-")
    if not t:
        return AssetClass.OTHER
    if t in {c.value for c in AssetClass}:
        return AssetClass(t)
    if t == "cash":
        return AssetClass.CASH
    if any(w in t for w in _EQUITY_WORDS):
        return AssetClass.EQUITY
    if any(w in t for w in _SOVEREIGN_WORDS):
        return AssetClass.SOVEREIGN_DEBT
    if any(w in t for w in _DEBT_WORDS):
        return AssetClass.OTHER_DEBT
    return AssetClass.OTHER


# Long-term grades, best first; index 0 = AAA. Moody's grades map to the same positions.
_SP_SCALE = (
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
    "BB+", "BB", "BB-", "B+", "B", "B-", "CCC+", "CCC", "CCC-", "CC", "C", "D",
)  # fmt: skip
_MOODYS_SCALE = (
    "Aaa", "Aa1", "Aa2", "Aa3", "A1", "A2", "A3", "Baa1", "Baa2", "Baa3",
    "Ba1", "Ba2", "Ba3", "B1", "B2", "B3", "Caa1", "Caa2", "Caa3", "Ca", "C",
)  # fmt: skip
#: short-term grades and the long-term notch whose haircut bucket Basel II gives them
_SHORT_TERM = {"A-1": "AA-", "P-1": "AA-", "A-2": "BBB-", "A-3": "BBB-", "P-2": "BBB-",
               "P-3": "BBB-"}  # fmt: skip

#: notch positions of the boundaries the rules use
AA_MINUS = _SP_SCALE.index("AA-")
BBB_MINUS = _SP_SCALE.index("BBB-")
BB_MINUS = _SP_SCALE.index("BB-")

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Rating:
    """A recognised credit rating: the text given and its notch on the S&P scale (0 = AAA)."""

    text: str
    notch: int

    @property
    def sp_equivalent(self) -> str:
        return _SP_SCALE[self.notch]

    @property
    def investment_grade(self) -> bool:
        """BBB- or better."""
        return self.notch <= BBB_MINUS


def parse_rating(text: str | None) -> Rating | None:
    """``"BBB-"`` → Rating(notch 9); ``"Baa3"`` → notch 9; ``None``/``""``/unknown → ``None``."""
    if text is None:
        return None
    t = _SPACE.sub("", text)
    if not t:
        return None
    if t.upper() in _SHORT_TERM:
        return Rating(t.upper(), _SP_SCALE.index(_SHORT_TERM[t.upper()]))
    if t in _MOODYS_SCALE:
        return Rating(t, _MOODYS_SCALE.index(t))
    if t.upper() in _SP_SCALE:
        return Rating(t.upper(), _SP_SCALE.index(t.upper()))
    if t.upper() in ("SD", "RD"):
        return Rating(t.upper(), _SP_SCALE.index("D"))
    return None


@dataclass(frozen=True, slots=True)
class BondTerms:
    """A fixed-coupon bullet bond's terms, to reprice it under a yield shift
    (:mod:`tanpo.risk.bonds`): annual coupon in percent, coupons per year (1, 2, 4 or 12)."""

    coupon_pct: Decimal
    frequency: int
    maturity: date


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as a risk report sees it.

    ``kind``, ``currency`` and ``quote`` are the ledger's definition (valuation uses them through
    :mod:`tanpo.margin`). ``rating`` is the issue's long-term rating text (``None`` = unrated).
    ``main_index`` marks an equity in a main index (Basel II: 15% instead of 25%). ``maturity``
    is the final maturity of a debt security (for the residual-maturity bucket); ``bond`` its
    coupon terms if it is to be repriced from yield moves. ``factor`` names the stressed-history
    series that moves the token in a historical scenario: ``"price:SYMBOL"`` (relative moves of
    ``data/market/SYMBOL.csv``) or ``"yield:NAME"`` (absolute moves of
    ``data/market/stress/NAME.csv``, needs ``bond``); ``None`` for cash.
    """

    id: str
    kind: Literal["ST", "CT"]
    currency: str
    quote: Literal["per-unit", "percent-of-par"] = "per-unit"
    asset_class: AssetClass = AssetClass.OTHER
    rating: str | None = None
    main_index: bool = False
    maturity: date | None = None
    bond: BondTerms | None = None
    factor: str | None = None
    issuer: str | None = None
    name: str | None = None

    @property
    def engine_token(self) -> Token:
        """The margin engine's token definition (for :func:`tanpo.margin.unit_value`)."""
        return Token(self.id, TokenKind(self.kind), self.currency, Quote(self.quote))

    @property
    def final_maturity(self) -> date | None:
        return (
            self.maturity
            if self.maturity is not None
            else (self.bond.maturity if self.bond is not None else None)
        )

    @property
    def parsed_rating(self) -> Rating | None:
        return parse_rating(self.rating)
