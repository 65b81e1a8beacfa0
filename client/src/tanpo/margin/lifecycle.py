"""Life-cycle arithmetic: what a part or full return, a collateral substitution and a buy-in move,
on one date's prices. Mirrors the Go engine (``chaincode/margin/lifecycle.go``) exactly; both pass
the golden vectors in ``vectors/lifecycle.json``.

Rules (DESIGN.md, "The desk's day beyond margin calls"):

* Return of q loan units (1 ≤ q ≤ loan): the loan becomes loan − q. A full return returns every
  held position (a negative one is delivered back by the borrower). A part return releases the
  excess collateral by the agreement's own excess rule (reverse priority order CTn→CT1, only CT1
  in single mode, quantities rounded down, a token's available quantity its held position floored
  at 0), without the threshold or minimum transfer and without auto-issue, so the collateral still
  covers the loan.
* Substitution: the borrower takes ``out`` (held under the agreement) back and delivers ``in_``
  (from its free balance); every token must be one of the agreement's collateral tokens and, with
  a schedule, eligible under it (``ineligible``); refused (``shortfall``) when the haircut value
  after the swap is below the loan value, or (``ineligible``) when it leaves a cap breached that
  was not breached before, or breached more.
* Buy-in of q unreturned loan units: the lender keeps collateral worth q units of the loan at
  market value (no haircut), taken in priority order CT1→CTn, each token rounded down and the rest
  of the value taken from the next token; what the held collateral cannot cover is ``uncovered``
  (so the kept value never exceeds the loan value removed, and a covered agreement stays
  covered). The loan becomes loan − q and the rest is released as for a return (all of it when
  the loan is then 0).

All arithmetic is on integer numerators over the day's common denominator
(:attr:`Pricing.denominator`), hence exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from tanpo.margin.call import Transfer
from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.market import Market
from tanpo.margin.model import Agreement, Direction, Positions, position_vectors
from tanpo.margin.rational import check_int64
from tanpo.margin.schedule import concentration, eligibility
from tanpo.margin.valuation import Pricing, price_agreement


class Move(NamedTuple):
    """A token quantity in a substitution."""

    token: str
    quantity: int


@dataclass(frozen=True, slots=True)
class StepResult:
    """Everything a life-cycle step decided, exact, in the base currency.

    ``vl`` is the loan value after the step; ``vc_before``/``vc_after`` the haircut value of the
    held collateral before and after; ``transfers`` the collateral movements in order; ``kept``
    (buy-in) the collateral the lender keeps; ``owed`` (buy-in) the market value of the unreturned
    units, ``uncovered`` what the collateral did not cover. ``held_after`` lists every collateral
    token.
    """

    date: str
    prices: Mapping[str, Fraction]
    fx: Mapping[str, Fraction]
    loan_before: int
    loan_after: int
    vl: Fraction
    vc_before: Fraction
    vc_after: Fraction
    gap_after: Fraction
    transfers: tuple[Transfer, ...]
    kept: tuple[Transfer, ...]
    owed: Fraction
    uncovered: Fraction
    held_after: Mapping[str, int]


class _Step:
    """A step in progress: the agreement's pricing, held positions and the movements so far."""

    def __init__(self, agreement: Agreement, market: Market, positions: Positions) -> None:
        held, borrower_free, _ = position_vectors(agreement, positions)
        self.agreement = agreement
        self.pricing: Pricing = price_agreement(agreement, market)
        self.held = held
        self.borrower_free = borrower_free
        self.loan_after = agreement.loan_quantity
        self.transfers: list[Transfer] = []
        self.kept: list[Transfer] = []
        self.owed = 0
        self.uncovered = 0
        self.vc_before = self.collateral_value()

    def collateral_value(self) -> int:
        return sum(h * u for h, u in zip(self.held, self.pricing.haircut_unit, strict=True))

    def loan_value(self) -> int:
        return self.loan_after * self.pricing.loan_unit

    def move(self, i: int, qty: int, direction: Direction) -> None:
        """Record a movement of ``qty`` units of collateral ``i``; update the held position."""
        token = self.agreement.collateral_ids[i]
        if direction == Direction.BORROWER_TO_LENDER:
            self.held[i] = check_int64(self.held[i] + qty, f"held {token}")
        else:
            self.held[i] = check_int64(self.held[i] - qty, f"held {token}")
        pr = self.pricing
        t = Transfer(token, qty, direction, qty * pr.haircut_unit[i], qty * pr.unit[i],
                     pr.denominator)
        (self.kept if direction == Direction.KEPT else self.transfers).append(t)

    def settle_loan(self, qty: int) -> None:
        """Reduce the loan by ``qty`` and release collateral: everything when the loan is repaid,
        else the excess by the agreement's excess rule."""
        self.loan_after -= qty
        if self.loan_after == 0:
            for i, h in enumerate(self.held):
                if h > 0:
                    self.move(i, h, Direction.LENDER_TO_BORROWER)
                elif h < 0:
                    # -h of the most negative int64 does not fit a ledger quantity
                    deliver = check_int64(-h, f"held {self.agreement.collateral_ids[i]}")
                    self.move(i, deliver, Direction.BORROWER_TO_LENDER)
            return
        rest = self.collateral_value() - self.loan_value()
        if rest <= 0:
            return
        hu = self.pricing.haircut_unit
        for i in self.agreement.excess_order:
            want = rest // hu[i]
            have = self.held[i]
            qty = want if have >= want else (have if have > 0 else 0)
            if qty > 0:
                self.move(i, qty, Direction.LENDER_TO_BORROWER)
                rest -= qty * hu[i]
            if qty == want:
                break

    def finish(self) -> StepResult:
        pr = self.pricing
        vl = self.loan_value()
        vc = self.collateral_value()
        return StepResult(
            date=pr.date,
            prices=pr.prices,
            fx=pr.fx,
            loan_before=self.agreement.loan_quantity,
            loan_after=self.loan_after,
            vl=pr.value(vl),
            vc_before=pr.value(self.vc_before),
            vc_after=pr.value(vc),
            gap_after=pr.value(vc - vl),
            transfers=tuple(self.transfers),
            kept=tuple(self.kept),
            owed=pr.value(self.owed),
            uncovered=pr.value(self.uncovered),
            held_after=dict(zip(self.agreement.collateral_ids, self.held, strict=True)),
        )


def _check_loan_quantity(agreement: Agreement, qty: int, what: str) -> None:
    if qty <= 0 or qty > agreement.loan_quantity:
        raise MarginError(
            ErrorKind.OUT_OF_RANGE,
            f"{what} of {qty} units: expected 1 to the loan's {agreement.loan_quantity}",
        )


def return_loan(
    agreement: Agreement, market: Market, positions: Positions, quantity: int
) -> StepResult:
    """The borrower's return of ``quantity`` units of the loan on ``market``'s date."""
    step = _Step(agreement, market, positions)
    _check_loan_quantity(agreement, quantity, "return")
    step.settle_loan(quantity)
    return step.finish()


def substitute(
    agreement: Agreement,
    market: Market,
    positions: Positions,
    out: Sequence[Move],
    in_: Sequence[Move],
) -> StepResult:
    """Swap collateral: ``out`` comes back to the borrower from the held positions, ``in_`` is
    delivered from the borrower's free balance.

    Checks run in order: out, then in, each in list order (eligible token, positive quantity, not
    repeated, available); then the value (``shortfall`` when the gap after would be negative).
    """
    step = _Step(agreement, market, positions)
    if not out or not in_:
        raise MarginError(
            ErrorKind.INVALID_INPUT,
            "a substitution takes at least one token out and delivers at least one in",
        )
    seen: set[str] = set()
    for name, side in (("out", out), ("in", in_)):
        for mv in side:
            i = agreement.index.get(mv.token)
            if i is None:
                raise MarginError(
                    ErrorKind.INELIGIBLE,
                    f"{name}: {mv.token} is not an eligible collateral token of this agreement",
                )
            if mv.quantity <= 0:
                raise MarginError(
                    ErrorKind.OUT_OF_RANGE,
                    f"{name}: quantity {mv.quantity} of {mv.token} must be positive",
                )
            if mv.token in seen:
                raise MarginError(
                    ErrorKind.INVALID_INPUT,
                    f"{name}: {mv.token} appears twice in the substitution",
                )
            seen.add(mv.token)
            if name == "out":
                have, source = step.held[i], "held under the agreement"
            else:
                have, source = step.borrower_free[i], "free with the borrower"
            if mv.quantity > have:
                raise MarginError(
                    ErrorKind.OUT_OF_RANGE,
                    f"{name}: {mv.quantity} {mv.token} wanted, {max(have, 0)} {source}",
                )
    for mv in in_:
        ok, reason = eligibility(agreement, mv.token)
        if not ok:
            raise MarginError(
                ErrorKind.INELIGIBLE,
                f"in: {mv.token} is not eligible under the agreement's schedule ({reason})",
            )
    before = concentration(agreement, step.pricing, step.held)
    for side, direction in ((out, Direction.LENDER_TO_BORROWER),
                            (in_, Direction.BORROWER_TO_LENDER)):
        for mv in side:
            step.move(agreement.index[mv.token], mv.quantity, direction)
    result = step.finish()
    if result.gap_after < 0:
        raise MarginError(
            ErrorKind.SHORTFALL,
            "the substitution would leave the agreement short: loan value "
            f"{_two_places(result.vl)}, collateral value after haircut "
            f"{_two_places(result.vc_after)}, short by {_two_places(-result.gap_after)} "
            f"({agreement.base})",
        )
    # a cap breached after the swap must have been breached before, by at least as much
    for b in concentration(agreement, step.pricing, step.held):
        if not any(p.by == b.by and p.key == b.key and p.share >= b.share for p in before):
            raise MarginError(
                ErrorKind.INELIGIBLE,
                f"the substitution would breach the {b.by} cap {b.key}: "
                f"{_two_places(b.share * 100)}% of the collateral's market value, at most "
                f"{_two_places(b.max * 100)}%",
            )
    return result


def buy_in(
    agreement: Agreement, market: Market, positions: Positions, quantity: int
) -> StepResult:
    """Close out ``quantity`` unreturned loan units on ``market``'s date: the lender keeps
    collateral worth them (market value, CT1 first, each token rounded down, the rest of the value
    from the next token; what stays uncovered is the lender's claim) and the rest is released as
    for a return."""
    step = _Step(agreement, market, positions)
    _check_loan_quantity(agreement, quantity, "buy-in")
    unit = step.pricing.unit
    step.owed = quantity * step.pricing.loan_unit
    rest = step.owed
    for i in range(len(agreement.collateral)):
        if rest <= 0:
            break
        want = rest // unit[i]
        n = min(max(step.held[i], 0), want)
        if n > 0:
            step.move(i, n, Direction.KEPT)
            rest -= n * unit[i]
    if rest > 0:
        step.uncovered = rest
    step.settle_loan(quantity)
    return step.finish()


def _two_places(value: Fraction) -> str:
    """``value`` rounded half away from zero to two decimals (Go's ``Rat.FloatString(2)``)."""
    scaled = abs(value) * 100
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    sign = "-" if value < 0 else ""
    return f"{sign}{whole // 100}.{whole % 100:02d}"
