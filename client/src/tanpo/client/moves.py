"""Jump limits on posted prices: how far a value may move from the previous posted one.

One place for the defaults, per asset class, so the oracle daemon (``limits`` in its config)
and ``tanpo prices post`` hold back the same moves. Pure functions, no I/O.

Defaults (relative moves, 0.25 = 25 %) come from the shipped 2008-2009 data: the largest genuine
daily moves are 19 % for the five TSE stocks and 5.6 % for EURJPY, while Yahoo's known
day/month-swap rows move USDJPY/EURUSD by 8.5-18 %. Bonds quoted in percent of par rarely move
more than 1-2 % a day; 5 % still lets a distressed name through and catches a misplaced decimal
point or a clean/dirty price mix-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = ["ASSET_CLASSES", "DEFAULT_MAX_MOVE", "Move", "limit_class", "moves_beyond"]

#: the limit classes and their default maximum daily move
DEFAULT_MAX_MOVE: Mapping[str, Decimal] = {
    "equity": Decimal("0.25"),
    "bond": Decimal("0.05"),
    "fx": Decimal("0.08"),
}
ASSET_CLASSES = tuple(DEFAULT_MAX_MOVE)


def limit_class(asset_class: str, *, fx: bool = False) -> str:
    """The limit class of a token's asset class (``government-bond`` → ``bond``; anything that
    is not a bond → ``equity``, the widest security limit) or of an FX pair."""
    if fx:
        return "fx"
    text = asset_class.strip().lower()
    return "bond" if "bond" in text or text in ("fixed-income", "debt") else "equity"


@dataclass(frozen=True)
class Move:
    """A value that moved more than its limit from the previous posted one."""

    key: str
    previous: Decimal
    value: Decimal
    change: Fraction
    limit: Decimal

    def describe(self) -> str:
        return (f"{self.key} moved {float(self.change) * 100:+.2f}% from {self.previous} to "
                f"{self.value}, limit ±{float(self.limit) * 100:.2f}%")


def moves_beyond(previous: Mapping[str, Decimal], values: Mapping[str, Decimal],
                 limits: Mapping[str, Decimal]) -> list[Move]:
    """The values that moved more than their key's limit from the previous posted value
    (a key with no previous value or no limit is not checked)."""
    out: list[Move] = []
    for key, value in values.items():
        prev, limit = previous.get(key), limits.get(key)
        if prev is None or limit is None or prev <= 0:
            continue
        change = Fraction(value) / Fraction(prev) - 1
        if abs(change) > limit:
            out.append(Move(key, prev, value, change, limit))
    return out
