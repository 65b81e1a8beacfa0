"""Exact number parsing, formatting and 64-bit integer checks.

Money is never a float here: decimal strings become :class:`fractions.Fraction` exactly, and the
canonical output form (``"n"`` or ``"n/d"``, reduced) is what both ``str(Fraction)`` and Go's
``big.Rat.RatString`` print, so results of the two engines compare as plain strings.
"""

from __future__ import annotations

import re
from fractions import Fraction

from tanpo.margin.errors import ErrorKind, MarginError

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

#: Longest accepted number string. Bounds the size of exact intermediate results (and keeps Python
#: clear of its int/str conversion limit); real prices and rates are far shorter.
MAX_NUMBER_LEN = 50
#: a ratio's bound: the reduced ratio of any decimal of MAX_NUMBER_LEN characters fits, so every
#: value the engines print reads back
MAX_RATIO_LEN = 2 * MAX_NUMBER_LEN + 1

_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_RATIO = re.compile(r"-?[0-9]+/[0-9]+")

Number = Fraction | int | str
"""What API callers may pass for an exact number: a Fraction, an int or a decimal/ratio string."""


def parse_decimal(text: str, what: str) -> Fraction:
    """Parse ``"101.25"``, ``"-3"``, ``"0.05"`` or ``"1/3"`` exactly.

    No exponent, no sign ``+``, no spaces, no ``NaN``/``inf``: the grammar is deliberately the same
    small one in both engines, so that they accept and reject exactly the same strings.
    """
    limit = MAX_RATIO_LEN if "/" in text else MAX_NUMBER_LEN
    if len(text) > limit:
        raise MarginError(
            ErrorKind.INVALID_NUMBER, f"{what}: number longer than {limit} characters"
        )
    if _DECIMAL.fullmatch(text):
        negative = text.startswith("-")
        body = text[1:] if negative else text
        whole, _, frac = body.partition(".")
        value = Fraction(int(whole + frac), 10 ** len(frac))
        return -value if negative else value
    if _RATIO.fullmatch(text):
        num, den = text.split("/")
        if int(den) == 0:
            raise MarginError(ErrorKind.INVALID_NUMBER, f"{what}: {text!r} has a zero denominator")
        return Fraction(int(num), int(den))
    raise MarginError(
        ErrorKind.INVALID_NUMBER,
        f"{what}: {text!r} is not an exact decimal such as '101.25' or a ratio such as '1/3'",
    )


def to_fraction(value: Number, what: str) -> Fraction:
    """Accept a Fraction, an int or a number string (never a float, which is not exact)."""
    if isinstance(value, bool):
        raise MarginError(ErrorKind.INVALID_NUMBER, f"{what}: a boolean is not a number")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        return parse_decimal(value, what)
    raise MarginError(
        ErrorKind.INVALID_NUMBER,
        f"{what}: expected a decimal string, int or Fraction, got {type(value).__name__}",
    )


def format_rational(value: Fraction) -> str:
    """Canonical text of an exact value: reduced ``"n"`` or ``"n/d"`` (same as Go RatString)."""
    return str(value)


def check_int64(value: int, what: str) -> int:
    """Return ``value`` if it fits a signed 64-bit integer (the ledger's quantity type)."""
    if value < INT64_MIN or value > INT64_MAX:
        raise MarginError(ErrorKind.OVERFLOW, f"{what}: {value} does not fit a 64-bit quantity")
    return value
