"""Benchmark of the Python margin engine's hot path: ``python -m tanpo.margin.bench``.

Replays N agreements shaped like the evaluation models (5 TSE stocks, alpha 5 %, auto-issue, beta 0
and 0.02, single and multi, lag 0 and 1) over D synthetic days, one shared Market per day, and
prints the time per margin call. It prints figures only; nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta
from fractions import Fraction

from tanpo.margin.book import AgreementBook
from tanpo.margin.market import Market
from tanpo.margin.model import LoanLeg, Positions, Terms, Token, make_agreement

STOCKS = {"8306": 512, "8604": 401, "4901": 2000, "7013": 150, "8031": 1200}
MODELS = [("single", 1, "0"), ("single", 0, "0"), ("multi", 0, "0"), ("single", 0, "0.02"),
          ("multi", 0, "0.02")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agreements", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args()

    rnd = random.Random(7)
    tokens = [Token("JPY", "CT", "JPY"), *(Token(t, "ST", "JPY") for t in STOCKS)]
    loan = int(sum(STOCKS.values()) * 10**6 * Fraction(95, 100))
    books = []
    for i in range(args.agreements):
        mode, lag, beta = MODELS[i % len(MODELS)]
        agreement = make_agreement(tokens, Terms(
            base="JPY", loan=LoanLeg("JPY", loan), collateral=list(STOCKS), mode=mode,
            haircut="0.05", threshold=beta, lag_days=lag, auto_issue=True))
        books.append(AgreementBook(agreement, Positions(
            held=dict.fromkeys(STOCKS, 10**6), borrower_free=dict.fromkeys(STOCKS, 10**7))))
    prices = {t: Fraction(p) for t, p in STOCKS.items()}
    markets = []
    day = date(2009, 7, 1)
    for _ in range(args.days):
        prices = {t: max(Fraction(1), p * Fraction(1000 + rnd.randint(-30, 30), 1000))
                  for t, p in prices.items()}
        markets.append(Market.parse(day.isoformat(), prices, {}))
        day += timedelta(days=1)

    start = time.perf_counter()
    transfers = 0
    for market in markets:
        for book in books:
            transfers += len(book.apply_day(market).call.moves)
    elapsed = time.perf_counter() - start
    calls = args.agreements * args.days
    print(f"{calls:,} margin calls ({args.agreements:,} agreements x {args.days} days, "
          f"{transfers:,} token transfers) in {elapsed:.2f} s: "
          f"{elapsed / calls * 1e6:.1f} us per call, {calls / elapsed:,.0f} calls/s; "
          f"100,000 x 60 days would take {elapsed / calls * 6e6:.0f} s on one core")


if __name__ == "__main__":
    main()
