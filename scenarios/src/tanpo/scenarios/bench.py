"""Benchmarks of the off-chain runs (figures printed, never asserted).

* the paper's 20 runs (models 0-4 x cases 1-4) through the scenario runner and the engine ledger;
* a synthetic book: N agreements x D days through the margin engine's per-agreement path
  (:class:`tanpo.margin.book.AgreementBook`, one shared :class:`Market` per day), on the real
  closes of the paper's crash window;
* the same synthetic book's first agreements through the full scenario runner path (engine ledger,
  every call record kept), to show the cost of the backend-neutral records.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from typing import Literal

from tanpo.margin import (
    AgreementBook,
    LoanLeg,
    Market,
    Positions,
    Terms,
    Token,
    make_agreement,
    price_agreement,
)
from tanpo.marketdata.series import MarketData
from tanpo.scenarios.engine_ledger import EngineLedger, engine_token
from tanpo.scenarios.ledger import AgreementTerms
from tanpo.scenarios.paper import (
    CASES,
    MODELS,
    PAPER_STOCKS,
    paper_scenario,
    paper_tokens,
    run_paper,
)
from tanpo.scenarios.prices import PriceBook

__all__ = ["BenchResult", "bench_book", "bench_paper", "bench_runner"]


@dataclass(frozen=True)
class BenchResult:
    label: str
    agreements: int
    days: int
    seconds: float
    calls: int
    triggered: int
    transfers: int

    @property
    def calls_per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else float("inf")


def bench_paper(data: MarketData | None = None) -> BenchResult:
    """Time the 20 paper runs (price loading included)."""
    t0 = time.perf_counter()
    results = run_paper(data=data)
    seconds = time.perf_counter() - t0
    return BenchResult(
        "paper: 5 models x 4 cases (runner + engine ledger)",
        len(results),
        60,
        seconds,
        sum(r.total.checked_days for r in results.values()),
        sum(r.total.margin_calls for r in results.values()),
        sum(r.total.transfers for r in results.values()),
    )


def _markets(days: int, data: MarketData | None) -> list[Market]:
    case = CASES[2]
    scenario = paper_scenario(case, MODELS[1], data=data)
    book = PriceBook(scenario, data)
    out = []
    for i in range(days + 1):
        day = case.start + timedelta(days=i % 61)
        prices = book.on(day)
        # Dates must increase: after the window wraps, keep the closes but move the date on.
        out.append(
            Market.parse((case.start + timedelta(days=i)).isoformat(), dict(prices.prices), {})
        )
    return out


@dataclass(frozen=True)
class _Synthetic:
    """One synthetic agreement: collateral priority and quantities, and the model terms."""

    priority: tuple[str, ...]
    quantities: dict[str, int]
    mode: Literal["single", "multi"]
    threshold: Fraction
    lag: int

    def terms(self, loan_quantity: int) -> Terms:
        return Terms(
            base="JPY",
            loan=LoanLeg("JPY", loan_quantity),
            collateral=self.priority,
            mode=self.mode,
            haircut=SYNTHETIC_ALPHA,
            threshold=self.threshold,
            lag_days=self.lag,
            auto_issue=True,
        )


SYNTHETIC_ALPHA = Fraction(5, 100)


def _synthetic(n: int, seed: int) -> list[_Synthetic]:
    """``n`` agreements over the paper's five stocks: 1-5 collateral tokens in a random priority
    order, 1,000-100,000 shares each, single or multi, beta 0 or 2%, lag 0 or 1 (seeded)."""
    rng = random.Random(seed)
    ids = [t for t, _, _ in PAPER_STOCKS]
    modes: tuple[Literal["single", "multi"], ...] = ("single", "multi")
    out = []
    for _ in range(n):
        prio = tuple(rng.sample(ids, rng.randint(1, 5)))
        out.append(
            _Synthetic(
                prio,
                {t: rng.randint(1, 100) * 1000 for t in prio},
                rng.choice(modes),
                rng.choice((Fraction(0), Fraction(2, 100))),
                rng.choice((0, 1)),
            )
        )
    return out


def _loan_for(s: _Synthetic, tokens: list[Token], market: Market) -> int:
    """The loan (1 - alpha) x the collateral's value covers, in yen (engine valuation)."""
    pricing = price_agreement(make_agreement(tokens, s.terms(1)), market)
    value = sum(
        s.quantities[t] * hu for t, hu in zip(s.priority, pricing.haircut_unit, strict=True)
    )
    return int(value // pricing.loan_unit)


def bench_book(
    agreements: int = 100_000, days: int = 60, seed: int = 7, data: MarketData | None = None
) -> BenchResult:
    """Time ``agreements`` x ``days`` margin calls through the engine's per-agreement path."""
    markets = _markets(days, data)
    tokens = [engine_token(t) for t in paper_tokens()]
    books: list[AgreementBook] = []
    for s in _synthetic(agreements, seed):
        agreement = make_agreement(tokens, s.terms(_loan_for(s, tokens, markets[0])))
        positions = Positions(
            held=s.quantities, borrower_free={t: 10 * q for t, q in s.quantities.items()}
        )
        books.append(AgreementBook(agreement, positions))
    calls = triggered = transfers = 0
    t0 = time.perf_counter()
    for market in markets[1:]:
        for b in books:
            call = b.apply_day(market).call
            calls += 1
            if call.triggered:
                triggered += 1
                # the count of the call's transfers (one per move), without building the records
                transfers += len(call.moves)
    seconds = time.perf_counter() - t0
    return BenchResult(
        "synthetic book: engine per-agreement path (AgreementBook.apply_day)",
        agreements,
        days,
        seconds,
        calls,
        triggered,
        transfers,
    )


def bench_runner(
    agreements: int = 10_000, days: int = 60, seed: int = 7, data: MarketData | None = None
) -> BenchResult:
    """The synthetic book's first ``agreements`` through the engine ledger (records kept)."""
    markets = _markets(days, data)
    ledger = EngineLedger()
    ledger.define_tokens(paper_tokens())
    start = markets[0].day
    ledger.markets[start] = markets[0]
    tokens = list(ledger.tokens.values())
    ids: list[str] = []
    for i, s in enumerate(_synthetic(agreements, seed)):
        loan = _loan_for(s, tokens, markets[0])
        agreement_id = f"S{i}"
        lender, borrower = f"lender-{i % 50}", f"borrower-{i}"
        ledger.issue(lender, "JPY", loan)
        for t, q in s.quantities.items():
            ledger.issue(borrower, t, 11 * q)
        terms = AgreementTerms(
            id=agreement_id,
            lender=lender,
            borrower=borrower,
            base_currency="JPY",
            loan_token="JPY",
            loan_quantity=loan,
            collateral=tuple(s.quantities.items()),
            priority=s.priority,
            start=start,
            end=start + timedelta(days=days + 1),
            haircut=SYNTHETIC_ALPHA,
            threshold=s.threshold,
            mode=s.mode,
            lag=s.lag,
            auto_issue=True,
        )
        ledger.open_agreement(terms, start)
        ids.append(agreement_id)
    calls = triggered = transfers = 0
    t0 = time.perf_counter()
    for market in markets[1:]:
        ledger.markets[market.day] = market
        for agreement_id in ids:
            record = ledger.margin_call(agreement_id, market.day)
            calls += 1
            if record.triggered:
                triggered += 1
                transfers += len(record.transfers)
    seconds = time.perf_counter() - t0
    return BenchResult(
        "synthetic book: scenario runner path (engine ledger, records kept)",
        agreements,
        days,
        seconds,
        calls,
        triggered,
        transfers,
    )
