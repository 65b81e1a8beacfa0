"""Eligibility schedules and concentration limits (``vectors/README.md``, "Eligibility schedules").

An agreement without a schedule behaves exactly as one whose schedule is empty: every collateral
token is eligible and nothing is capped. The same rules are in Go
(``chaincode/margin/schedule.go``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from tanpo.margin.model import Agreement, CapGroup
from tanpo.margin.valuation import Pricing

#: reasons a shortfall passes a token over (:attr:`SkippedToken.reason`)
SKIP_INELIGIBLE = "ineligible"
SKIP_CAP = "cap"
#: the reason :func:`eligibility` gives for a token that is not one of the collateral tokens
NOT_COLLATERAL = "not-collateral"


@dataclass(frozen=True, slots=True)
class Breach:
    """A cap group whose share of the held collateral's market value exceeds ``max``."""

    by: str
    key: str
    share: Fraction
    max: Fraction


@dataclass(frozen=True, slots=True)
class SkippedToken:
    """A token a shortfall call passed over (``"ineligible"``) or delivered less of than it
    could because of a cap (``"cap"``)."""

    token: str
    reason: str


def eligibility(agreement: Agreement, token_id: str) -> tuple[bool, str]:
    """Whether ``token_id`` may be delivered as collateral, and if not why: ``"not-collateral"``,
    ``"asset-class"``, ``"currency"``, ``"unrated"`` or ``"rating"`` (cash is exempt from the
    rating rule)."""
    i = agreement.index.get(token_id)
    if i is None:
        return False, NOT_COLLATERAL
    sched = agreement.schedule
    if sched is None or not sched.reasons[i]:
        return True, ""
    return False, sched.reasons[i]


def _values(unit: Sequence[int], held: Sequence[int]) -> tuple[list[int], int]:
    vals = [h * u if h > 0 else 0 for h, u in zip(held, unit, strict=True)]
    return vals, sum(vals)


def _group_value(group: CapGroup, vals: Sequence[int]) -> int:
    return sum(vals[i] for i in group.members)


def corrective_order(
    agreement: Agreement, pricing: Pricing, held: Sequence[int]
) -> list[int]:
    """The order an excess call returns collateral in under a schedule: the tokens the schedule no
    longer admits and those of cap groups over their limit (on the positions the call starts from)
    come back first, each part in the usual reverse priority order; single mode returns CT1 only,
    as ever."""
    sched = agreement.schedule
    order = list(agreement.excess_order)
    if sched is None:
        return order
    over = [bool(r) for r in sched.reasons]
    vals, total = _values(pricing.unit, held)
    if total:
        for g in sched.groups:
            if Fraction(_group_value(g, vals), total) > g.max:
                for i in g.members:
                    over[i] = True
    return [i for i in order if over[i]] + [i for i in order if not over[i]]


def concentration(
    agreement: Agreement, pricing: Pricing, held: Sequence[int]
) -> tuple[Breach, ...]:
    """Every cap group whose share of the held collateral's market value (Σ quantity × unit
    value, ``held`` in priority order, positions floored at 0) exceeds its max, in the order of the
    schedule's caps and, within a cap, of group keys. Nothing when nothing is held."""
    sched = agreement.schedule
    if sched is None or not sched.groups or len(held) != len(pricing.unit):
        return ()
    vals, total = _values(pricing.unit, held)
    if total == 0:
        return ()
    out = []
    for g in sched.groups:
        share = Fraction(_group_value(g, vals), total)
        if share > g.max:
            out.append(Breach(g.by, g.key, share, g.max))
    return tuple(out)


def cap_limit(agreement: Agreement, i: int, unit: Sequence[int], held: Sequence[int]) -> int | None:
    """The largest quantity of collateral token ``i`` that keeps every cap group containing it
    within its max: with V the held market value, G the group's, u the token's unit value and c the
    max, ``q ≤ floor((c·V − G) / (u·(1 − c)))`` for c < 1 (0 when c·V < G); no limit for c = 1.
    None means no limit. Values are numerators over one common denominator."""
    sched = agreement.schedule
    if sched is None or not sched.token_groups[i] or unit[i] <= 0:
        return None
    vals, total = _values(unit, held)
    limit: int | None = None
    for gi in sched.token_groups[i]:
        g = sched.groups[gi]
        if g.max >= 1:
            continue
        p, q = g.max.numerator, g.max.denominator
        room = p * total - q * _group_value(g, vals)
        n = room // (unit[i] * (q - p)) if room > 0 else 0
        if limit is None or n < limit:
            limit = n
    return limit
