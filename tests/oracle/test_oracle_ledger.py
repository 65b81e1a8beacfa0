"""The Ledger protocol's data types and the in-memory fake that keeps its contract."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest

from tanpo.oracle.ledger import (
    Ledger,
    LedgerError,
    PriceBatch,
    PriceConflictError,
    PricesNotPostedError,
    Quote,
)
from tanpo.oracle.memledger import FakeAgreement, MemoryLedger

D = date.fromisoformat


def batch(d: str, bond: str, stock: str, eurusd: str) -> PriceBatch:
    day = D(d)
    return PriceBatch(day, {"DE-BUND": Quote(Decimal(bond), day),
                            "US-XYZ": Quote(Decimal(stock), day)},
                      {"EURUSD": Quote(Decimal(eurusd), day)}, "test")


def test_memory_ledger_is_a_ledger() -> None:
    assert isinstance(MemoryLedger(), Ledger)


def test_design_cross_currency_example() -> None:
    """DESIGN §1: 1,000,000 face of a EUR bond at 101.25 % against USD stock at 50.00."""
    ledger = MemoryLedger(
        agreements=[FakeAgreement("XCCY", "lender", "borrower", "DE-BUND", "US-XYZ", 0, "USD",
                                  loan_quantity=1_000_000)],
        token_currency={"DE-BUND": "EUR", "US-XYZ": "USD"},
    )
    # the fake has no quote factor: the bond's per-unit price is 101.25 / 100
    ledger.post_prices(batch("2024-01-09", "1.0125", "50.00", "1.1000"))
    (day1,) = ledger.sweep(D("2024-01-09"), 10).outcomes
    (t,) = day1.transfers
    assert (t.quantity, t.sender, t.receiver) == (22_275, "borrower", "lender")
    ledger.post_prices(batch("2024-01-10", "1.0100", "50.40", "1.1050"))
    (day2,) = ledger.sweep(D("2024-01-10"), 10).outcomes
    (t,) = day2.transfers
    assert (t.quantity, t.sender, t.receiver) == (131, "lender", "borrower")
    assert ledger.held("XCCY") == 22_275 - 131


def test_margin_call_happens_once_per_agreement_and_date() -> None:
    ledger = MemoryLedger(
        agreements=[FakeAgreement(f"A{i}", "l", "b", "USD", "US-XYZ", 100, "USD")
                    for i in range(3)],
        token_currency={"US-XYZ": "USD"})
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    first = ledger.sweep(D("2024-01-09"), 2)
    assert (first.transactions, first.swept) == (2, True)
    assert ledger.last_swept_date() == D("2024-01-09")
    again = ledger.sweep(D("2024-01-09"), 10)
    assert [o.replayed for o in again.outcomes] == [True, True, True]
    assert [o.transfers for o in again.outcomes] == [o.transfers for o in first.outcomes]
    assert set(ledger.call_counts.values()) == {1}


def test_issuance_required_when_the_borrower_runs_out() -> None:
    ledger = MemoryLedger(
        agreements=[FakeAgreement("A", "l", "b", "USD", "US-XYZ", 10, "USD", loan_quantity=1000,
                                  borrower_available=5)],
        token_currency={"US-XYZ": "USD"})
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    (o,) = ledger.sweep(D("2024-01-09"), 1).outcomes
    (t,) = o.transfers
    (missing,) = o.issuance_required
    assert t.quantity == 5
    assert (missing.party, missing.token, missing.value) == ("b", "US-XYZ", Fraction(250))


def test_prices_before_sweeps_and_calls_in_date_order() -> None:
    # as the chaincode: a call supersedes the dates before it (a later sweep of an earlier
    # date skips the agreement, and that date then counts as swept)
    ledger = MemoryLedger(agreements=[FakeAgreement("A", "l", "b", "USD", "US-XYZ", 10, "USD")],
                          token_currency={"US-XYZ": "USD"})
    with pytest.raises(PricesNotPostedError):
        ledger.sweep(D("2024-01-09"), 10)
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    ledger.post_prices(batch("2024-01-10", "1", "51", "1.1"))
    assert ledger.sweep(D("2024-01-10"), 10).swept
    (late,) = ledger.sweep(D("2024-01-09"), 10).outcomes
    assert late.status == "skipped" and "calls run in date order" in late.reason
    assert ledger.last_swept_date() == D("2024-01-10")
    with pytest.raises(LedgerError, match="batch size"):
        ledger.sweep(D("2024-01-09"), 0)


def test_a_posted_date_takes_additions() -> None:
    ledger = MemoryLedger()
    day = D("2024-01-09")
    ledger.post_prices(PriceBatch(day, {"US-XYZ": Quote(Decimal("50"), day)}, {}))
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))  # adds the FX, same price
    assert set(ledger.batches[D("2024-01-09")].fx) == {"EURUSD"}
    assert set(ledger.batches[D("2024-01-09")].prices) == {"DE-BUND", "US-XYZ"}
    assert ledger.post_transactions == 2


def test_posting_different_prices_for_a_posted_date_is_a_conflict() -> None:
    ledger = MemoryLedger()
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    ledger.post_prices(batch("2024-01-09", "1.0", "50.00", "1.10"))  # same numbers: no-op
    assert ledger.post_transactions == 1
    with pytest.raises(PriceConflictError):
        ledger.post_prices(batch("2024-01-09", "1", "50.01", "1.1"))


def test_price_batch_json_round_trip_is_exact() -> None:
    b = PriceBatch(D("2009-07-02"),
                   {"JP8306": Quote(Decimal("602.0"), D("2009-07-01"), "operator:ops")},
                   {"USDJPY": Quote(Decimal("96.620"), D("2009-07-02"))}, "file:market")
    text = b.to_json()
    assert '"value":"602.0"' in text and '"value":"96.620"' in text
    back = PriceBatch.from_json(text)
    assert back == b and str(back.fx["USDJPY"].value) == "96.620"
    assert back.carried() == ["JP8306"]


@pytest.mark.parametrize("raw", [
    {"date": "2009-07-02", "prices": {"X": {"value": 602.0, "asOf": "2009-07-02"}}},
    {"date": "2009-07-02", "prices": {"X": {"value": "-1", "asOf": "2009-07-02"}}},
    {"date": "2009-07-02", "prices": {"X": {"value": "1", "asOf": "2009-07-03"}}},
    {"prices": {}},
])
def test_bad_batches_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        PriceBatch.from_dict(raw)


def test_quotes_are_positive_decimals_only() -> None:
    with pytest.raises(TypeError):
        Quote(1.5, D("2024-01-09"))  # type: ignore[arg-type]
    for bad in ("0", "-1", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            Quote(Decimal(bad), D("2024-01-09"))


def test_the_memory_ledger_makes_the_engines_calls_on_a_price_path() -> None:
    """`--ledger memory` applies the exact engine's rule: on a multi-day path (shortfalls,
    excesses, a threshold, cross-currency, a borrower running out) every call equals the one the
    scenario runner's engine ledger makes."""
    from tanpo.scenarios.engine_ledger import EngineLedger
    from tanpo.scenarios.ledger import AgreementTerms
    from tanpo.scenarios.model import TokenSpec

    day0 = D("2024-03-01")
    path = [("600", "96.00"), ("570", "95.10"), ("575", "95.20"), ("640", "97.50"),
            ("610", "94.00"), ("540", "93.00"), ("480", "99.00"), ("530", "98.00")]
    specs = [  # id, borrower, loan token, loan quantity, base, threshold, borrower's spare units
        ("JPY-LOAN", "bank-b", "JPY", 570_000, "JPY", Fraction(0), None),
        ("USD-LOAN", "bank-c", "USD", 5_900, "USD", Fraction(2, 100), 40),
    ]
    memory = MemoryLedger(
        agreements=[FakeAgreement(a, "bank-a", b, loan, "JP8306", 1000, base,
                                  loan_quantity=qty, haircut=Decimal("0.05"),
                                  threshold=Decimal(threshold.numerator) / threshold.denominator,
                                  borrower_available=spare)
                    for a, b, loan, qty, base, threshold, spare in specs],
        token_currency={"JP8306": "JPY"})
    engine = EngineLedger()
    engine.define_tokens([TokenSpec("JP8306", "ST", "JPY"), TokenSpec("JPY", "CT", "JPY"),
                          TokenSpec("USD", "CT", "USD")])
    for _, b, loan, qty, _, _, spare in specs:  # one borrower each: the engine ledger's books
        engine.issue("bank-a", loan, qty)      # do not share a borrower's spare units
        engine.issue(b, "JP8306", 1000 + (10**9 if spare is None else spare))
    first_price, first_fx = path[0]
    engine.post_prices(day0, {"JP8306": Fraction(first_price)},
                       {"USDJPY": Fraction(first_fx)})
    for a, b, loan, qty, base, threshold, _ in specs:
        engine.open_agreement(AgreementTerms(
            a, "bank-a", b, base, loan, qty, (("JP8306", 1000),), ("JP8306",),
            day0, D("2024-12-31"), haircut=Fraction(5, 100), threshold=threshold), day0)

    triggered = transfers = shortfalls = 0
    for i, (price, fx) in enumerate(path[1:], start=1):
        day = D(f"2024-03-{1 + i:02d}")
        memory.post_prices(PriceBatch(day, {"JP8306": Quote(Decimal(price), day)},
                                      {"USDJPY": Quote(Decimal(fx), day)}))
        engine.post_prices(day, {"JP8306": Fraction(price)}, {"USDJPY": Fraction(fx)})
        run = memory.sweep(day, 10)
        assert run.swept
        for o in run.outcomes:
            rec = engine.margin_call(o.agreement, day)
            assert o.triggered == rec.triggered, (o.agreement, day)
            assert [(t.token, t.quantity, t.sender, t.receiver, t.value, t.market_value)
                    for t in o.transfers] == [
                (t.token, t.quantity, t.sender, t.receiver, t.value, t.market_value)
                for t in rec.transfers]
            assert [(r.party, r.role, r.value) for r in o.issuance_required] == [
                (r.party, r.role, r.value) for r in rec.issuance_required]
            triggered += o.triggered
            transfers += len(o.transfers)
            shortfalls += len(o.issuance_required)
    # the path exercised what it should: calls and quiet days, moves, a borrower running out
    assert 0 < triggered < 2 * (len(path) - 1) and transfers > 4 and shortfalls >= 1
