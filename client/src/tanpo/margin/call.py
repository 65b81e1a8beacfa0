"""The margin call of one agreement on one valuation date (DESIGN.md §1, "Margin call algorithm").

Pure functions: terms, a day's unit values and positions in; the call's figures and the transfers,
issuance needs and mints out. Applying them (now, or after a settlement lag) is
:mod:`tanpo.margin.book`'s job, or the chaincode's.

Decisions where the design leaves a choice (shared with the Go engine):

* Trigger: ``|g| > β·V_L`` (always, when β = 0) *and* ``|g| ≥ MTA``. The minimum transfer
  amount is compared with the gap before the call (the cash-equivalent call amount, as in a
  CSA): below it no call is made and nothing moves, and the day is not counted as triggered.
  MTA = 0 never suppresses a call, so with β = 0 every check is a call, even when ``g == 0``.
* A token is *exhausted* when its available quantity was smaller than the quantity wanted from it;
  only then does the call go on to the next token. Available means the borrower's free balance
  (shortfall) or the lender's position held under the agreement (excess), floored at 0.
* When every eligible token is exhausted, an issuance-required outcome names the party and the
  remaining gap (missing value for the borrower, value it could not return for the lender). With
  auto-issue the missing tokens are always CT1 (the first-priority collateral), in both modes:
  ``ceil(rest / u_CT1)`` minted to the borrower, or ``floor(rest / u_CT1)`` minted to the lender,
  and delivered in the same call. The issuance-required outcome is still reported next to the mint.
* One transfer per token per call: a minted CT1 quantity is added to the CT1 transfer (which is then
  listed where CT1 first moved, or last if it only moved because of the mint).
* With an eligibility schedule (:mod:`tanpo.margin.schedule`) a shortfall skips ineligible tokens
  and delivers no more of a token than every cap containing it allows; a token so limited counts
  as exhausted. Auto-issue mints CT1 only if CT1 is eligible, and is not capped. An excess call
  returns ineligible and over-cap tokens first (``corrective_order``), then the usual reverse
  priority order. The caps still
  exceeded after the call are reported as breaches; the call never sells anything for them.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import Market
from tanpo.margin.model import Agreement, Direction, Party, Positions, position_vectors
from tanpo.margin.rational import INT64_MAX, check_int64
from tanpo.margin.schedule import (
    SKIP_CAP,
    SKIP_INELIGIBLE,
    Breach,
    SkippedToken,
    cap_limit,
    concentration,
    corrective_order,
)
from tanpo.margin.valuation import Pricing, price_agreement


class Transfer(NamedTuple):
    """A movement of collateral. ``value`` is its collateral value after haircut (what it changes
    in V_C and the gap); ``market_value`` its value before haircut. Both in base currency, kept as
    numerators over ``denominator`` (the day's common denominator) and made exact on access."""

    token: str
    quantity: int
    direction: Direction
    value_num: int
    market_value_num: int
    denominator: int

    @property
    def value(self) -> Fraction:
        return Fraction(self.value_num, self.denominator)

    @property
    def market_value(self) -> Fraction:
        return Fraction(self.market_value_num, self.denominator)


@dataclass(frozen=True, slots=True)
class IssuanceRequired:
    """``party`` ran out of adjustment tokens; ``value`` (base currency, after haircut) is the part
    of the gap it could not cover (borrower) or not return (lender) from what it had."""

    party: Party
    value: Fraction


@dataclass(frozen=True, slots=True)
class Mint:
    """Tokens issued to ``party`` by auto-issue inside the call, and delivered in the same call."""

    party: Party
    token: str
    quantity: int


class CallResult(NamedTuple):
    """Everything one margin call decided. Values are exact, in the base currency.

    ``vc_before``/``gap_before`` value the positions the call started from; ``vc_after``/
    ``gap_after`` the same positions after this call's transfers (at the same day's prices),
    whether those transfers settle now or later.

    The record keeps the call's raw integers (numerators over ``pricing.denominator``, quantities by
    collateral index), which is all a replay needs; the exact figures and the transfer, issuance
    and mint records are built on access, so a 100,000-agreement sweep does not pay for reports
    nobody reads. (A named tuple rather than a frozen dataclass: one is built per check, and
    building a tuple is several times cheaper.)
    """

    pricing: Pricing
    #: collateral token ids in priority order
    collateral: tuple[str, ...]
    triggered: bool
    #: direction of every transfer of this call (None when nothing moves)
    direction: Direction | None
    #: (collateral index, quantity) in transfer order
    moves: tuple[tuple[int, int], ...]
    #: CT1 quantity auto-issued to the delivering party (0 if none)
    minted: int
    #: party that ran out of tokens, and the gap numerator it left (see IssuanceRequired)
    issuance_party: Party | None
    issuance_num: int
    vl_num: int
    vc_num: int
    gap_after_num: int
    #: tokens a shortfall passed over as ineligible or limited by a cap, in order
    skipped: tuple[SkippedToken, ...] = ()
    #: cap groups still over their limit after the call (see schedule.concentration)
    breaches: tuple[Breach, ...] = ()

    @property
    def date(self) -> str:
        return self.pricing.date

    @property
    def prices(self) -> Mapping[str, Fraction]:
        return self.pricing.prices

    @property
    def fx(self) -> Mapping[str, Fraction]:
        return self.pricing.fx

    @property
    def vl(self) -> Fraction:
        return Fraction(self.vl_num, self.pricing.denominator)

    @property
    def vc_before(self) -> Fraction:
        return Fraction(self.vc_num, self.pricing.denominator)

    @property
    def gap_before(self) -> Fraction:
        return Fraction(self.vc_num - self.vl_num, self.pricing.denominator)

    @property
    def vc_after(self) -> Fraction:
        return Fraction(self.gap_after_num + self.vl_num, self.pricing.denominator)

    @property
    def gap_after(self) -> Fraction:
        return Fraction(self.gap_after_num, self.pricing.denominator)

    @property
    def transfers(self) -> tuple[Transfer, ...]:
        if self.direction is None:
            return ()
        pr = self.pricing
        return tuple(
            Transfer(self.collateral[i], qty, self.direction, qty * pr.haircut_unit[i],
                     qty * pr.unit[i], pr.denominator)
            for i, qty in self.moves
        )

    @property
    def issuance_required(self) -> tuple[IssuanceRequired, ...]:
        if self.issuance_party is None:
            return ()
        return (IssuanceRequired(self.issuance_party,
                                 Fraction(self.issuance_num, self.pricing.denominator)),)

    @property
    def mints(self) -> tuple[Mint, ...]:
        if not self.minted or self.issuance_party is None:
            return ()
        return (Mint(self.issuance_party, self.collateral[0], self.minted),)


def plan_call(
    agreement: Agreement, pricing: Pricing, held: Sequence[int], borrower_free: Sequence[int]
) -> CallResult:
    """The margin call on integer positions in priority order (the engine's hot path).

    All arithmetic is on integer numerators over ``pricing.denominator``, hence exact.
    """
    hu = pricing.haircut_unit
    vl = agreement.loan_quantity * pricing.loan_unit
    vc = sum(map(operator.mul, held, hu))
    gap = vc - vl
    size = -gap if gap < 0 else gap
    beta = agreement.threshold_num
    # beta = 0 margins daily: every check is a call, even when g == 0 (|g| > 0 would miss it)
    triggered = not beta or size * agreement.threshold_den > beta * vl
    mta = agreement.min_transfer_num
    if triggered and mta:
        triggered = size * agreement.min_transfer_den >= mta * pricing.denominator

    sched = agreement.schedule
    if not triggered or gap == 0:
        breaches = concentration(agreement, pricing, held) if sched is not None else ()
        return CallResult(pricing, agreement.collateral_ids, triggered, None, (), 0, None, 0,
                          vl, vc, gap, (), breaches)
    if sched is not None:
        return _plan_scheduled(agreement, pricing, held, borrower_free, triggered, vl, vc, gap)
    moves: list[tuple[int, int]] = []
    rest = size
    exhausted = True
    if gap < 0:
        direction = Direction.BORROWER_TO_LENDER
        for i in agreement.shortfall_order:
            u = hu[i]
            want = -(-rest // u)
            have = borrower_free[i]
            qty = want if have >= want else (have if have > 0 else 0)
            if qty:
                moves.append((i, qty))
                rest -= qty * u
            if qty == want:
                exhausted = False
                break
    else:
        direction = Direction.LENDER_TO_BORROWER
        for i in agreement.excess_order:
            u = hu[i]
            want = rest // u
            have = held[i]
            qty = want if have >= want else (have if have > 0 else 0)
            if qty:
                moves.append((i, qty))
                rest -= qty * u
            if qty == want:
                exhausted = False
                break
    if not exhausted:
        return CallResult(pricing, agreement.collateral_ids, True, direction, tuple(moves), 0,
                          None, 0, vl, vc, -rest if gap < 0 else rest)
    party = Party.BORROWER if gap < 0 else Party.LENDER
    owed = rest
    minted = 0
    if agreement.auto_issue:
        u0 = hu[0]
        minted = -(-rest // u0) if gap < 0 else rest // u0
        ct1 = agreement.collateral[0].id
        check_int64(minted, f"auto-issued quantity of {ct1}")
        # one transfer per token: the mint adds to CT1's transfer (listed where CT1 first moved,
        # or last if it only moves because of the mint)
        k = next((n for n, (i, _) in enumerate(moves) if i == 0), len(moves))
        if k == len(moves):
            moves.append((0, 0))
        total = moves[k][1] + minted
        if total > INT64_MAX:
            raise MarginError(
                ErrorKind.OVERFLOW, f"transfer of {total} {ct1} does not fit 64 bits"
            )
        moves[k] = (0, total)
        rest -= minted * u0
    return CallResult(pricing, agreement.collateral_ids, True, direction,
                      tuple(moves), minted, party, owed, vl, vc,
                      -rest if gap < 0 else rest)


def _plan_scheduled(
    agreement: Agreement, pricing: Pricing, held: Sequence[int], borrower_free: Sequence[int],
    triggered: bool, vl: int, vc: int, gap: int,
) -> CallResult:
    """:func:`plan_call` for a triggered call with a non-zero gap under an eligibility schedule."""
    sched = agreement.schedule
    assert sched is not None
    hu, unit = pricing.haircut_unit, pricing.unit
    moves: list[tuple[int, int]] = []
    skipped: list[SkippedToken] = []
    rest = -gap if gap < 0 else gap
    exhausted = True
    ids = agreement.collateral_ids
    capped = bool(sched.groups)
    now = list(held)
    if gap < 0:
        direction = Direction.BORROWER_TO_LENDER
        for i in agreement.shortfall_order:
            if sched.reasons[i]:
                skipped.append(SkippedToken(ids[i], SKIP_INELIGIBLE))
                continue
            u = hu[i]
            want = -(-rest // u)
            have = borrower_free[i]
            qty = want if have >= want else (have if have > 0 else 0)
            if capped:
                limit = cap_limit(agreement, i, unit, now)
                if limit is not None and limit < qty:
                    qty = limit
                    skipped.append(SkippedToken(ids[i], SKIP_CAP))
                now[i] = check_int64(now[i] + qty, f"held {ids[i]}")
            if qty:
                moves.append((i, qty))
                rest -= qty * u
            if qty == want:
                exhausted = False
                break
    else:
        direction = Direction.LENDER_TO_BORROWER
        for i in corrective_order(agreement, pricing, held):
            u = hu[i]
            want = rest // u
            have = held[i]
            qty = want if have >= want else (have if have > 0 else 0)
            if qty:
                moves.append((i, qty))
                rest -= qty * u
            if qty == want:
                exhausted = False
                break
    party: Party | None = None
    owed = 0
    minted = 0
    if exhausted:
        party = Party.BORROWER if gap < 0 else Party.LENDER
        owed = rest
        if agreement.auto_issue and (gap > 0 or not sched.reasons[0]):
            u0 = hu[0]
            minted = -(-rest // u0) if gap < 0 else rest // u0
            ct1 = ids[0]
            check_int64(minted, f"auto-issued quantity of {ct1}")
            k = next((n for n, (i, _) in enumerate(moves) if i == 0), len(moves))
            if k == len(moves):
                moves.append((0, 0))
            total = moves[k][1] + minted
            if total > INT64_MAX:
                raise MarginError(
                    ErrorKind.OVERFLOW, f"transfer of {total} {ct1} does not fit 64 bits"
                )
            moves[k] = (0, total)
            rest -= minted * u0
    breaches: tuple[Breach, ...] = ()
    if capped:
        after = list(held)
        sign = 1 if gap < 0 else -1
        for i, qty in moves:
            after[i] = check_int64(after[i] + sign * qty, f"held {ids[i]}")
        breaches = concentration(agreement, pricing, after)
    return CallResult(pricing, ids, triggered, direction, tuple(moves), minted, party, owed, vl,
                      vc, -rest if gap < 0 else rest, tuple(skipped), breaches)


def compute_call(agreement: Agreement, market: Market, positions: Positions) -> CallResult:
    """Margin call for ``agreement`` on ``market``'s date from ``positions`` (validated first)."""
    held, borrower_free, _ = position_vectors(agreement, positions)
    return plan_call(agreement, price_agreement(agreement, market), held, borrower_free)


def move(
    held: list[int], borrower_free: list[int], i: int, qty: int, direction: Direction, token: str
) -> None:
    """Apply one settled transfer to position vectors (source debited first), 64-bit checked."""
    if direction == Direction.BORROWER_TO_LENDER:
        borrower_free[i] = check_int64(borrower_free[i] - qty, f"borrower free {token}")
        held[i] = check_int64(held[i] + qty, f"held {token}")
    else:
        held[i] = check_int64(held[i] - qty, f"held {token}")
        borrower_free[i] = check_int64(borrower_free[i] + qty, f"borrower free {token}")


def apply_call(agreement: Agreement, positions: Positions, result: CallResult) -> Positions:
    """Positions after ``result`` settles immediately: mints credited, then transfers in order."""
    held, borrower_free, lender_free = position_vectors(agreement, positions)
    for mint in result.mints:
        i = agreement.index[mint.token]
        free = borrower_free if mint.party == Party.BORROWER else lender_free
        free[i] = check_int64(free[i] + mint.quantity, f"{mint.party} free {mint.token}")
    for t in result.transfers:
        move(held, borrower_free, agreement.index[t.token], t.quantity, t.direction, t.token)
    ids = agreement.collateral_ids
    return Positions(
        dict(zip(ids, held, strict=True)),
        dict(zip(ids, borrower_free, strict=True)),
        dict(zip(ids, lender_free, strict=True)),
    )
