"""The margin call of one agreement on one valuation date (DESIGN.md §1, "Margin call algorithm").

Pure functions: terms, a day's unit values and positions in; the call's figures and the transfers,
issuance needs and mints out. Applying them (now, or after a settlement lag) is
:mod:`tanpo.margin.book`'s job, or the chaincode's.

Decisions where the design leaves a choice (shared with the Go engine):

* Trigger: ``|g| > β·V_L`` (always, when β = 0) *and* ``|g| ≥ MTA``. The minimum transfer amount is compared with the
  gap before the call (the cash-equivalent call amount, as in a CSA): below it no call is made and
  nothing moves, and the day is not counted as triggered. MTA = 0 never suppresses a call, so with
  β = 0 every check is a call, even when ``g == 0``.
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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import Market
from tanpo.margin.model import Agreement, Direction, Party, Positions, position_vectors
from tanpo.margin.rational import INT64_MAX, check_int64
from tanpo.margin.valuation import Pricing, price_agreement


@dataclass(frozen=True, slots=True)
class Transfer:
    """A movement of collateral. ``value`` is its collateral value after haircut (what it changes
    in V_C and the gap); ``market_value`` its value before haircut. Both in base currency."""

    token: str
    quantity: int
    direction: Direction
    value: Fraction
    market_value: Fraction


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


@dataclass(frozen=True, slots=True)
class CallResult:
    """Everything one margin call decided. Values are exact, in the base currency.

    ``vc_before``/``gap_before`` value the positions the call started from; ``vc_after``/
    ``gap_after`` the same positions after this call's transfers (at the same day's prices),
    whether those transfers settle now or later.
    """

    date: str
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]
    vl: Fraction
    vc_before: Fraction
    gap_before: Fraction
    triggered: bool
    transfers: tuple[Transfer, ...]
    issuance_required: tuple[IssuanceRequired, ...]
    mints: tuple[Mint, ...]
    vc_after: Fraction
    gap_after: Fraction


@dataclass(frozen=True, slots=True)
class CallPlan:
    """A call's result plus the raw integers a book needs to apply it."""

    result: CallResult
    #: (collateral index, quantity) in transfer order; all in ``direction``
    moves: tuple[tuple[int, int], ...]
    direction: Direction | None
    #: CT1 quantity minted to the delivering party (0 if none)
    minted: int


_NO_ISSUANCE: tuple[IssuanceRequired, ...] = ()
_NO_MINTS: tuple[Mint, ...] = ()


def plan_call(
    agreement: Agreement, pricing: Pricing, held: Sequence[int], borrower_free: Sequence[int]
) -> CallPlan:
    """The margin call on integer positions in priority order (the engine's hot path).

    All arithmetic is on integer numerators over ``pricing.denominator``, hence exact.
    """
    den = pricing.denominator
    hu = pricing.haircut_unit
    vl = agreement.loan_quantity * pricing.loan_unit
    vc = 0
    for h, u in zip(held, hu, strict=True):
        vc += h * u
    gap = vc - vl
    size = -gap if gap < 0 else gap
    beta = agreement.threshold
    # beta = 0 margins daily: every check is a call, even when g == 0 (|g| > 0 would miss it)
    triggered = not beta or size * beta.denominator > beta.numerator * vl
    mta = agreement.min_transfer
    if triggered and mta:
        triggered = size * mta.denominator >= mta.numerator * den

    moves: dict[int, int] = {}
    direction: Direction | None = None
    issuance = _NO_ISSUANCE
    mints = _NO_MINTS
    minted = 0
    gap_after = gap
    if triggered and gap != 0:
        shortfall = gap < 0
        rest = size
        exhausted = True
        if shortfall:
            direction = Direction.BORROWER_TO_LENDER
            for i in agreement.shortfall_order:
                u = hu[i]
                want = -(-rest // u)
                have = borrower_free[i]
                qty = want if have >= want else (have if have > 0 else 0)
                if qty:
                    moves[i] = qty
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
                    moves[i] = qty
                    rest -= qty * u
                if qty == want:
                    exhausted = False
                    break
        if exhausted:
            party = Party.BORROWER if shortfall else Party.LENDER
            issuance = (IssuanceRequired(party, Fraction(rest, den)),)
            if agreement.auto_issue:
                u0 = hu[0]
                minted = -(-rest // u0) if shortfall else rest // u0
                check_int64(minted, f"auto-issued quantity of {agreement.collateral[0].id}")
                total = moves.get(0, 0) + minted
                if total > INT64_MAX:
                    raise MarginError(
                        ErrorKind.OVERFLOW,
                        f"transfer of {total} {agreement.collateral[0].id} does not fit 64 bits",
                    )
                moves[0] = total
                rest -= minted * u0
                mints = (Mint(party, agreement.collateral[0].id, minted),)
        gap_after = -rest if shortfall else rest

    collateral = agreement.collateral
    unit = pricing.unit
    transfers = tuple(
        Transfer(
            collateral[i].id,
            qty,
            direction,  # type: ignore[arg-type]  # set whenever moves is not empty
            Fraction(qty * hu[i], den),
            Fraction(qty * unit[i], den),
        )
        for i, qty in moves.items()
    )
    result = CallResult(
        date=pricing.date,
        prices=pricing.prices,
        fx=pricing.fx,
        vl=Fraction(vl, den),
        vc_before=Fraction(vc, den),
        gap_before=Fraction(gap, den),
        triggered=triggered,
        transfers=transfers,
        issuance_required=issuance,
        mints=mints,
        vc_after=Fraction(gap_after + vl, den),
        gap_after=Fraction(gap_after, den),
    )
    return CallPlan(result, tuple(moves.items()), direction, minted)


def compute_call(agreement: Agreement, market: Market, positions: Positions) -> CallResult:
    """Margin call for ``agreement`` on ``market``'s date from ``positions`` (validated first)."""
    held, borrower_free, _ = position_vectors(agreement, positions)
    return plan_call(agreement, price_agreement(agreement, market), held, borrower_free).result


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
