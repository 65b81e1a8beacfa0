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

from tanpo.margin import (
    AgreementBook,
    LoanLeg,
    Market,
    Positions,
    Terms,
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


def _synthetic_terms(n: int, seed: int) -> list[tuple[tuple[str, ...], dict[str, int], Terms]]:
    rng = random.Random(seed)
    ids = [t for t, _, _ in PAPER_STOCKS]
    out = []
    for _ in range(n):
        k = rng.randint(1, 5)
        prio = tuple(rng.sample(ids, k))
        qty = {t: rng.randint(1, 100) * 1000 for t in prio}
        terms = Terms(
            base="JPY",
            loan=LoanLeg("JPY", 1),  # sized on day 0 below
            collateral=prio,
            mode=rng.choice(("single", "multi")),
            haircut=Fraction(5, 100),
            threshold=rng.choice((Fraction(0), Fraction(2, 100))),
            lag_days=rng.choice((0, 1)),
            auto_issue=True,
        )
        out.append((prio, qty, terms))
    return out


def bench_book(
    agreements: int = 100_000, days: int = 60, seed: int = 7, data: MarketData | None = None
) -> BenchResult:
    """Time ``agreements`` x ``days`` margin calls through the engine's per-agreement path."""
    markets = _markets(days, data)
    tokens = [engine_token(t) for t in paper_tokens()]
    books: list[AgreementBook] = []
    for prio, qty, terms in _synthetic_terms(agreements, seed):
        probe = make_agreement(tokens, terms)
        pricing = price_agreement(probe, markets[0])
        value = sum(qty[t] * hu for t, hu in zip(prio, pricing.haircut_unit, strict=True))
        loan = value // (pricing.loan_unit * 1)
        sized = Terms(
            terms.base,
            LoanLeg("JPY", int(loan)),
            terms.collateral,
            terms.mode,
            terms.haircut,
            {},
            terms.threshold,
            "0",
            terms.lag_days,
            terms.auto_issue,
        )
        agreement = make_agreement(tokens, sized)
        books.append(
            AgreementBook(
                agreement,
                Positions(
                    held=qty,
                    borrower_free={t: 10 * q for t, q in qty.items()},
                ),
            )
        )
    calls = triggered = transfers = 0
    t0 = time.perf_counter()
    for market in markets[1:]:
        for b in books:
            result = b.apply_day(market)
            calls += 1
            if result.call.triggered:
                triggered += 1
                transfers += len(result.call.transfers)
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
    ids: list[str] = []
    for i, (prio, qty, terms) in enumerate(_synthetic_terms(agreements, seed)):
        probe = make_agreement(list(ledger.tokens.values()), terms)
        pricing = price_agreement(probe, markets[0])
        value = sum(qty[t] * hu for t, hu in zip(prio, pricing.haircut_unit, strict=True))
        agreement_id = f"S{i}"
        lender, borrower = f"lender-{i % 50}", f"borrower-{i}"
        ledger.issue(lender, "JPY", int(value // pricing.loan_unit))
        for t, q in qty.items():
            ledger.issue(borrower, t, 11 * q)
        ledger.open_agreement(
            AgreementTerms(
                id=agreement_id,
                lender=lender,
                borrower=borrower,
                base_currency="JPY",
                loan_token="JPY",
                loan_quantity=int(value // pricing.loan_unit),
                collateral=tuple(qty.items()),
                priority=prio,
                start=start,
                end=start + timedelta(days=days + 1),
                haircut=Fraction(5, 100),
                threshold=Fraction(terms.threshold),
                mode=terms.mode,  # type: ignore[arg-type]
                lag=terms.lag_days,
                auto_issue=True,
            ),
            start,
        )
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
