"""FX rates: posted market pairs, and the derived rate between any two currencies.

A pair ``"USDJPY"`` with rate 150 means 1 USD = 150 JPY, so ``rate("USD", "JPY") == 150`` and
``rate("JPY", "USD") == 1/150``. Other rates are derived along a path of posted pairs. The choice is
deterministic and identical in the Go engine: the path with the fewest hops wins (so a direct or
inverse pair beats a cross, and a one-hop cross beats a two-hop one); among equally short paths the
one whose sequence of intermediate currencies is alphabetically smallest wins; on each hop a posted
direct pair is preferred to the inverse of a posted reverse pair. That is a breadth-first search
visiting neighbours in alphabetical order.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Mapping
from fractions import Fraction

from tanpo.margin.errors import ErrorKind, MarginError

_PAIR = re.compile(r"[A-Z]{6}")


def parse_pair(pair: str) -> tuple[str, str]:
    """``"EURUSD"`` → ``("EUR", "USD")``; rejects malformed and same-currency pairs."""
    if not isinstance(pair, str) or not _PAIR.fullmatch(pair) or pair[:3] == pair[3:]:
        raise MarginError(
            ErrorKind.INVALID_INPUT,
            f"FX pair {pair!r} is not two different 3-letter currency codes such as 'EURUSD'",
        )
    return pair[:3], pair[3:]


class FxTable:
    """Posted pairs of one date and a cache of derived rates."""

    __slots__ = ("_adjacent", "_cache", "_pairs")

    def __init__(self, pairs: Mapping[tuple[str, str], Fraction]) -> None:
        self._pairs = dict(pairs)
        neighbours: dict[str, set[str]] = {}
        for base, quote in self._pairs:
            neighbours.setdefault(base, set()).add(quote)
            neighbours.setdefault(quote, set()).add(base)
        self._adjacent = {ccy: sorted(n) for ccy, n in neighbours.items()}
        self._cache: dict[tuple[str, str], Fraction] = {}

    def rate(self, source: str, target: str) -> Fraction:
        """Units of ``target`` for one unit of ``source``; MISSING_FX if no path exists."""
        if source == target:
            return Fraction(1)
        key = (source, target)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        path = self._path(source, target)
        if path is None:
            raise MarginError(
                ErrorKind.MISSING_FX,
                f"no FX rate from {source} to {target}: post {source}{target}, {target}{source}"
                " or pairs linking both through a common currency",
            )
        value = Fraction(1)
        for a, b in itertools.pairwise(path):
            direct = self._pairs.get((a, b))
            value *= direct if direct is not None else 1 / self._pairs[(b, a)]
        self._cache[key] = value
        return value

    def _path(self, source: str, target: str) -> list[str] | None:
        if source not in self._adjacent or target not in self._adjacent:
            return None
        parent: dict[str, str] = {source: source}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for nxt in self._adjacent[node]:
                if nxt in parent:
                    continue
                parent[nxt] = node
                if nxt == target:
                    path = [target]
                    while path[-1] != source:
                        path.append(parent[path[-1]])
                    path.reverse()
                    return path
                queue.append(nxt)
        return None
