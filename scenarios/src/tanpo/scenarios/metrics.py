"""The evaluation metrics of DESIGN.md, computed from backend-neutral call records.

For each checked day the **measured gap** g is the gap after that day's margin call, except on a
day when the call could not complete that day - a settlement lag leaves its transfers pending, or
tokens had to be issued - when it is the gap before the call. Then, over the checked days:

* price-fluctuation risk: max and mean of ``|g|``;
* margin calls: the number of triggered calls;
* issuances: the number of checked days with an issuance for the lender (minted by auto-issue or
  left outstanding). When ``every_call_is_issuance`` is set (model 0: today's practice through a
  clearing house, where every call is a new delivery instruction) every triggered call counts;
* net credit amount (the DLT study's measure, ``exposure_before_*``): the uncollateralised
  amount per side each checked day *before* its margin call, ``max(0, -g)`` for the lender and
  ``max(0, g)`` for the borrower with the gap before the call: what the day's price moves left
  uncovered until the call, the figure a threshold changes most. The same with the measured gap
  after the call (``exposure_*``, mean and max) is only a rounding residual when every day is
  called;
* margin-call amount: the base-currency value of the tokens moved by the calls;
* tokens transferred: the token units moved, and the number of transfers.

All figures are exact Fractions; round them only for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from tanpo.scenarios.ledger import CallRecord

__all__ = ["Metrics", "compute_metrics", "index_to", "measured_gap", "merge_metrics"]


def measured_gap(record: CallRecord) -> Fraction:
    """The gap the risk metrics use for one checked day (see the module docstring)."""
    return record.gap_after if record.completed_same_day else record.gap_before


@dataclass(frozen=True)
class Metrics:
    """Metrics of one run (one agreement, or several merged)."""

    checked_days: int
    risk_max: Fraction
    risk_mean: Fraction
    margin_calls: int
    issuances: int
    borrower_issuances: int
    exposure_lender_mean: Fraction
    exposure_lender_max: Fraction
    exposure_borrower_mean: Fraction
    exposure_borrower_max: Fraction
    exposure_before_lender_mean: Fraction
    exposure_before_borrower_mean: Fraction
    call_amount: Fraction
    units_transferred: int
    transfers: int

    @property
    def exposure_mean(self) -> Fraction:
        """Both sides' exposure after each call (mean per checked day): a rounding residual."""
        return self.exposure_lender_mean + self.exposure_borrower_mean

    @property
    def exposure_before_mean(self) -> Fraction:
        """The net credit amount: both sides' exposure before each call (mean per checked day)."""
        return self.exposure_before_lender_mean + self.exposure_before_borrower_mean

    def as_dict(self) -> dict[str, Fraction | int]:
        return {
            "checked_days": self.checked_days,
            "risk_max": self.risk_max,
            "risk_mean": self.risk_mean,
            "margin_calls": self.margin_calls,
            "issuances": self.issuances,
            "borrower_issuances": self.borrower_issuances,
            "exposure_lender_mean": self.exposure_lender_mean,
            "exposure_lender_max": self.exposure_lender_max,
            "exposure_borrower_mean": self.exposure_borrower_mean,
            "exposure_borrower_max": self.exposure_borrower_max,
            "exposure_mean": self.exposure_mean,
            "exposure_before_lender_mean": self.exposure_before_lender_mean,
            "exposure_before_borrower_mean": self.exposure_before_borrower_mean,
            "exposure_before_mean": self.exposure_before_mean,
            "call_amount": self.call_amount,
            "units_transferred": self.units_transferred,
            "transfers": self.transfers,
        }


def _mean(values: Sequence[Fraction]) -> Fraction:
    return sum(values, Fraction(0)) / len(values) if values else Fraction(0)


def compute_metrics(records: Sequence[CallRecord], every_call_is_issuance: bool = False) -> Metrics:
    """Metrics over the checked days of one agreement (one record per checked day)."""
    gaps = [measured_gap(r) for r in records]
    n = len(gaps)
    abs_gaps = [abs(g) for g in gaps]
    lender = [max(Fraction(0), -g) for g in gaps]
    borrower = [max(Fraction(0), g) for g in gaps]
    before = [r.gap_before for r in records]
    calls = sum(1 for r in records if r.triggered)
    if every_call_is_issuance:
        issuances = calls
    else:
        issuances = sum(1 for r in records if r.issued_for("lender"))
    return Metrics(
        checked_days=n,
        risk_max=max(abs_gaps, default=Fraction(0)),
        risk_mean=sum(abs_gaps, Fraction(0)) / n if n else Fraction(0),
        margin_calls=calls,
        issuances=issuances,
        borrower_issuances=sum(1 for r in records if r.issued_for("borrower")),
        exposure_lender_mean=sum(lender, Fraction(0)) / n if n else Fraction(0),
        exposure_lender_max=max(lender, default=Fraction(0)),
        exposure_borrower_mean=sum(borrower, Fraction(0)) / n if n else Fraction(0),
        exposure_borrower_max=max(borrower, default=Fraction(0)),
        exposure_before_lender_mean=_mean([max(Fraction(0), -g) for g in before]),
        exposure_before_borrower_mean=_mean([max(Fraction(0), g) for g in before]),
        call_amount=sum((t.market_value for r in records for t in r.transfers), Fraction(0)),
        units_transferred=sum(t.quantity for r in records for t in r.transfers),
        transfers=sum(len(r.transfers) for r in records),
    )


def merge_metrics(parts: Iterable[Metrics]) -> Metrics:
    """Book-level metrics: counts and amounts add up, maxima take the max, means are weighted by
    the checked days (a mean over every (agreement, day))."""
    items = list(parts)
    days = sum(m.checked_days for m in items)

    def mean(attr: str) -> Fraction:
        if not days:
            return Fraction(0)
        total = sum((getattr(m, attr) * m.checked_days for m in items), Fraction(0))
        return total / days

    def top(attr: str) -> Fraction:
        return max((getattr(m, attr) for m in items), default=Fraction(0))

    return Metrics(
        checked_days=days,
        risk_max=top("risk_max"),
        risk_mean=mean("risk_mean"),
        margin_calls=sum(m.margin_calls for m in items),
        issuances=sum(m.issuances for m in items),
        borrower_issuances=sum(m.borrower_issuances for m in items),
        exposure_lender_mean=mean("exposure_lender_mean"),
        exposure_lender_max=top("exposure_lender_max"),
        exposure_borrower_mean=mean("exposure_borrower_mean"),
        exposure_borrower_max=top("exposure_borrower_max"),
        exposure_before_lender_mean=mean("exposure_before_lender_mean"),
        exposure_before_borrower_mean=mean("exposure_before_borrower_mean"),
        call_amount=sum((m.call_amount for m in items), Fraction(0)),
        units_transferred=sum(m.units_transferred for m in items),
        transfers=sum(m.transfers for m in items),
    )


def index_to(value: Fraction | int, baseline: Fraction | int) -> Fraction | None:
    """``value / baseline`` (1 = same as the baseline); None when the baseline is 0."""
    if baseline == 0:
        return None
    return Fraction(value) / Fraction(baseline)
