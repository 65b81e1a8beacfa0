"""tanpo's pure margin engine: valuation and the daily margin call, exact arithmetic.

The same rules are implemented in Go (``chaincode/margin``) for the chaincode; both engines pass the
golden vectors in ``vectors/`` and a differential test, so they agree to the last unit.

Typical use (one agreement replayed over days)::

    agreement = make_agreement(tokens, Terms(base="JPY", loan=LoanLeg("JPY", 10**9),
                                             collateral=["8306", "8604"], mode="multi",
                                             haircut="0.05"))
    book = AgreementBook(agreement, Positions(held={"8306": 10**6}, borrower_free={...}))
    for date, prices, fx in history:
        day = book.apply_day(Market.parse(date, prices, fx))   # share one Market per date
        day.call.gap_after, day.call.transfers, ...

or, statelessly, ``compute_call(agreement, market, positions)`` and ``apply_call(...)``. The
life-cycle steps — ``return_loan``, ``substitute`` and ``buy_in`` — work the same way on one
date's market. Lending fees and cash-collateral rebates accrue daily with ``new_accrual_terms``,
``Accruer.accrue`` and ``Accruer.bill``.
"""

from tanpo.margin.accrual import (
    Accrual,
    AccrualTerms,
    Accruer,
    Bill,
    DayCount,
    Period,
    day_count_for,
    new_accrual_terms,
    parse_day_count,
    round_to_unit,
)
from tanpo.margin.accrual_vectors import run_accrual_case, run_accrual_case_line
from tanpo.margin.book import AgreementBook, DayResult, IssuanceRecord, MintRecord, PendingTransfer
from tanpo.margin.call import (
    CallResult,
    IssuanceRequired,
    Mint,
    Transfer,
    apply_call,
    compute_call,
    plan_call,
)
from tanpo.margin.errors import ErrorKind, MarginError
from tanpo.margin.fx import FxTable, parse_pair
from tanpo.margin.lifecycle import Move, StepResult, buy_in, return_loan, substitute
from tanpo.margin.lifecycle_vectors import run_lifecycle_case, run_lifecycle_case_line
from tanpo.margin.market import Market, parse_date
from tanpo.margin.model import (
    RATINGS,
    Agreement,
    Cap,
    Direction,
    LoanLeg,
    Mode,
    Party,
    Positions,
    Quote,
    Schedule,
    Terms,
    Token,
    TokenKind,
    make_agreement,
)
from tanpo.margin.rational import format_rational, parse_decimal
from tanpo.margin.schedule import Breach, SkippedToken, concentration, eligibility
from tanpo.margin.valuation import Pricing, price_agreement, unit_value
from tanpo.margin.vectors import run_case, run_case_line

__all__ = [
    "RATINGS",
    "Accrual",
    "AccrualTerms",
    "Accruer",
    "Agreement",
    "AgreementBook",
    "Bill",
    "Breach",
    "CallResult",
    "Cap",
    "DayCount",
    "DayResult",
    "Direction",
    "ErrorKind",
    "FxTable",
    "IssuanceRecord",
    "IssuanceRequired",
    "LoanLeg",
    "MarginError",
    "Market",
    "Mint",
    "MintRecord",
    "Mode",
    "Move",
    "Party",
    "PendingTransfer",
    "Period",
    "Positions",
    "Pricing",
    "Quote",
    "Schedule",
    "SkippedToken",
    "StepResult",
    "Terms",
    "Token",
    "TokenKind",
    "Transfer",
    "apply_call",
    "buy_in",
    "compute_call",
    "concentration",
    "day_count_for",
    "eligibility",
    "format_rational",
    "make_agreement",
    "new_accrual_terms",
    "parse_date",
    "parse_day_count",
    "parse_decimal",
    "parse_pair",
    "plan_call",
    "price_agreement",
    "return_loan",
    "round_to_unit",
    "run_accrual_case",
    "run_accrual_case_line",
    "run_case",
    "run_case_line",
    "run_lifecycle_case",
    "run_lifecycle_case_line",
    "substitute",
    "unit_value",
]
