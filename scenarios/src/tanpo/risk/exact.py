"""Exact values as text, for reports."""

from __future__ import annotations

from fractions import Fraction

__all__ = ["exact_text"]


def exact_text(value: Fraction) -> str:
    """An exact value as text: a plain decimal when it has a finite expansion (``"100.94"``),
    else the reduced ratio ``"n/d"`` (the margin engine's canonical form). Both parse back
    exactly with :class:`fractions.Fraction`."""
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return str(value)
    places = max(twos, fives)
    if places == 0:
        return str(value.numerator)
    scaled = abs(value.numerator) * (10**places // value.denominator)
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"
