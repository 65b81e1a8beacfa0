"""Numbers and dates for people, with the exact value kept for the hover text.

Values on the ledger are exact fractions; a page shows them rounded to the currency's usual
places with thousands separators, and puts the exact decimal (or ``n/d``) in a ``title``.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction

from tanpo.client.models import decimal_string

#: Minor units per currency (ISO 4217); anything else shows two places.
CURRENCY_PLACES = {"JPY": 0, "KRW": 0, "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2}


def exact(x: Fraction | int) -> str:
    """The exact value: a finite decimal when there is one, else ``n/d``."""
    f = Fraction(x)
    try:
        return decimal_string(f)
    except ValueError:
        return f"{f.numerator}/{f.denominator}"


def number(x: Fraction | int, places: int = 2) -> str:
    """``x`` rounded half away from zero to ``places``, with thousands separators."""
    f = Fraction(x)
    scale = 10 ** places
    scaled = abs(f) * scale
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    sign = "-" if f < 0 and whole else ""
    units, cents = divmod(whole, scale)
    text = f"{units:,}"
    if places:
        text += "." + str(cents).rjust(places, "0")
    return sign + text


def money(x: Fraction | int, currency: str = "") -> str:
    """An amount in a currency: ``1,234,567 JPY``, ``1,113,750.00 USD``."""
    text = number(x, CURRENCY_PLACES.get(currency, 2))
    return f"{text} {currency}" if currency else text


def quantity(n: int) -> str:
    return f"{n:,}"


def percent(x: Fraction | None) -> str:
    """A fraction as a percentage, exactly when it is a finite decimal: 0.05 -> 5%."""
    if x is None:
        return "-"
    return exact(x * 100) + "%"


def when(d: date | None, empty: str = "-") -> str:
    """A date as people read it in an operations report: ``Tue 14 Oct 2026``."""
    return d.strftime("%a %d %b %Y") if d is not None else empty


def iso(d: date | None, empty: str = "") -> str:
    return d.isoformat() if d is not None else empty
