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
    (day1,) = ledger.sweep_page(D("2024-01-09"), 10, None).outcomes
    (t,) = day1.transfers
    assert (t.quantity, t.sender, t.receiver) == (22_275, "borrower", "lender")
    ledger.post_prices(batch("2024-01-10", "1.0100", "50.40", "1.1050"))
    (day2,) = ledger.sweep_page(D("2024-01-10"), 10, None).outcomes
    (t,) = day2.transfers
    assert (t.quantity, t.sender, t.receiver) == (131, "lender", "borrower")
    assert ledger.held("XCCY") == 22_275 - 131


def test_margin_call_happens_once_per_agreement_and_date() -> None:
    ledger = MemoryLedger(
        agreements=[FakeAgreement(f"A{i}", "l", "b", "USD", "US-XYZ", 100, "USD")
                    for i in range(3)],
        token_currency={"US-XYZ": "USD"})
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    first = ledger.sweep_page(D("2024-01-09"), 2, None)
    assert first.next_cursor == "A1" and ledger.last_swept_date() is None
    rest = ledger.sweep_page(D("2024-01-09"), 2, first.next_cursor)
    assert rest.next_cursor is None and ledger.last_swept_date() == D("2024-01-09")
    again = ledger.sweep_page(D("2024-01-09"), 10, None)
    assert [o.replayed for o in again.outcomes] == [True, True, True]
    assert [o.transfers for o in again.outcomes] == [o.transfers for o in
                                                     (*first.outcomes, *rest.outcomes)]
    assert set(ledger.call_counts.values()) == {1}


def test_issuance_required_when_the_borrower_runs_out() -> None:
    ledger = MemoryLedger(
        agreements=[FakeAgreement("A", "l", "b", "USD", "US-XYZ", 10, "USD", loan_quantity=1000,
                                  borrower_available=5)],
        token_currency={"US-XYZ": "USD"})
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    (o,) = ledger.sweep_page(D("2024-01-09"), 1, None).outcomes
    (t,) = o.transfers
    (missing,) = o.issuance_required
    assert t.quantity == 5
    assert (missing.party, missing.token, missing.value) == ("b", "US-XYZ", Fraction(250))


def test_prices_before_sweeps_and_sweeps_in_order() -> None:
    ledger = MemoryLedger(agreements=[FakeAgreement("A", "l", "b", "USD", "US-XYZ", 10, "USD")],
                          token_currency={"US-XYZ": "USD"})
    with pytest.raises(PricesNotPostedError):
        ledger.sweep_page(D("2024-01-09"), 10, None)
    ledger.post_prices(batch("2024-01-09", "1", "50", "1.1"))
    ledger.post_prices(batch("2024-01-10", "1", "51", "1.1"))
    with pytest.raises(LedgerError, match="before 2024-01-09"):
        ledger.sweep_page(D("2024-01-10"), 10, None)
    with pytest.raises(LedgerError, match="page size"):
        ledger.sweep_page(D("2024-01-09"), 0, None)


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
