"""Errors of the margin engine.

Every failure is a :class:`MarginError` carrying a stable machine-readable ``kind``; the Go engine
(``chaincode/margin``) uses the same kinds, so golden vectors and the differential test can compare
failures across the two engines without comparing message wording.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Stable error kinds shared with the Go engine (see ``vectors/README.md``)."""

    #: Structurally or semantically invalid input: unknown token, bad code or date, bad JSON shape.
    INVALID_INPUT = "invalid_input"
    #: A string that should hold an exact decimal ("101.25") or ratio ("1/3") does not.
    INVALID_NUMBER = "invalid_number"
    #: A price or FX rate that must be strictly positive is not.
    NON_POSITIVE = "non_positive"
    #: A well-formed number outside its allowed range (haircut not in [0, 1), negative threshold…).
    OUT_OF_RANGE = "out_of_range"
    #: The market of the valuation date has no price for a token the agreement needs.
    MISSING_PRICE = "missing_price"
    #: No FX rate can be derived between a token's currency and the base currency.
    MISSING_FX = "missing_fx"
    #: An integer quantity or position would leave the signed 64-bit range of the ledger.
    OVERFLOW = "overflow"
    #: A token that is not one of the agreement's collateral tokens (life-cycle steps).
    INELIGIBLE = "ineligible"
    #: The step would leave the collateral worth less than the loan (substitution).
    SHORTFALL = "shortfall"


class MarginError(ValueError):
    """A rejected input or an impossible computation; nothing was changed."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message
