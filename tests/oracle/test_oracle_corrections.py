"""The daemon's price corrections: post the correction, then adjust the date's margin calls at
the corrected prices (``AdjustCalls``), and report adjusted / unaffected / failed."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from tanpo.oracle.daemon import Oracle
from tanpo.oracle.ledger import AdjustOutcome, AdjustRun, LedgerError
from tanpo.oracle.memledger import MemoryLedger
from tanpo.oracle.status import StateFiles
from tanpo.oracle.validation import Confirmation
from tests.oracle.test_oracle_daemon import Clock, D, Z, live, live_data


def posted_to_the_fifth(tmp_path: Path, ledger: MemoryLedger | None = None
                        ) -> tuple[Oracle, MemoryLedger]:
    oracle, led = live(tmp_path, live_data(), Clock(Z("2024-01-05T23:00")), ledger)
    oracle.tick()
    assert led.last_swept_date() == D("2024-01-05")
    return oracle, led


def test_a_correction_is_posted_then_the_dates_calls_are_adjusted(tmp_path: Path) -> None:
    oracle, ledger = posted_to_the_fifth(tmp_path)
    held = ledger.held("AGR-1")
    report = oracle.correct(D("2024-01-05"), {"JP8306": Decimal("1250.0")},
                            "the close was the previous day's")
    assert report is not None
    assert ledger.batches[D("2024-01-05")].prices["JP8306"].value == Decimal("1250.0")
    assert ledger.corrections == [(D("2024-01-05"), "the close was the previous day's")]
    # both calls of the 5th are their agreements' latest, at an earlier version: re-run
    assert (report.adjusted, report.unaffected, report.failed) == (2, 0, ())
    assert ledger.adjustments == [("AGR-1", D("2024-01-05"), 2), ("AGR-2", D("2024-01-05"), 2)]
    assert ledger.held("AGR-1") > held  # the collateral fell: the borrower topped up
    # the 4th's calls were superseded by the 5th's: a correction of the 4th changes no call
    older = oracle.correct(D("2024-01-04"), {"JP8306": Decimal("1299.5")}, "typo")
    assert older is not None and (older.adjusted, older.unaffected) == (0, 2)
    # the same values again: nothing posted, nothing adjusted
    assert oracle.correct(D("2024-01-05"), {"JP8306": Decimal("1250.0")}, "again") is None
    assert len(ledger.corrections) == 2
    recent = oracle.status()["recent"][0]
    assert recent["outcome"] == "corrected" and recent["adjust"]["unaffected"] == 2


def test_adjusting_again_finds_every_call_at_the_latest_version(tmp_path: Path) -> None:
    oracle, ledger = posted_to_the_fifth(tmp_path)
    oracle.correct(D("2024-01-05"), {"JP8306": Decimal("1250.0")}, "wrong close")
    again = oracle.adjust(D("2024-01-05"))
    assert (again.adjusted, again.unaffected) == (0, 2)
    run = ledger.adjust(D("2024-01-05"), 10)
    assert {o.reason for o in run.outcomes} == {"no_correction"}


def test_a_manual_confirmation_of_a_posted_value_is_a_correction(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture
                                                                 ) -> None:
    oracle, ledger = posted_to_the_fifth(tmp_path)
    StateFiles(tmp_path / "state").add_confirmation(
        Confirmation(D("2024-01-05"), "JP8306", Decimal("1250"), "ops", manual=True,
                     note="exchange re-published the close"))
    with caplog.at_level(logging.INFO, logger="tanpo.oracle.daemon"):
        oracle.tick()
    batch = ledger.batches[D("2024-01-05")]
    assert batch.prices["JP8306"].value == Decimal("1250")
    assert batch.prices["JP8306"].confirmed_by == "operator:ops"
    ((day, reason),) = ledger.corrections
    assert day == D("2024-01-05")
    assert reason == "JP8306 confirmed by ops: exchange re-published the close"
    assert [a for a, _, _ in ledger.adjustments] == ["AGR-1", "AGR-2"]
    text = caplog.text
    assert "corrected" in text and "adjusted" in text
    oracle.tick()
    assert len(ledger.corrections) == 1  # applied once


def test_a_failed_adjustment_is_reported_with_its_reason(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    class Failing(MemoryLedger):
        def adjust(self, valuation_date: date, batch_size: int) -> AdjustRun:
            run = super().adjust(valuation_date, batch_size)
            outs = tuple(AdjustOutcome(o.agreement, "failed", "insufficient_balance")
                         if o.agreement == "AGR-2" else o for o in run.outcomes)
            return AdjustRun(valuation_date, outs, run.transactions, run.planned)

    base = live(tmp_path, live_data(), Clock(Z("2024-01-05T23:00")))[1]
    ledger = Failing(agreements=base.agreements, token_currency=base.token_currency)
    oracle, _ = posted_to_the_fifth(tmp_path, ledger)
    with caplog.at_level(logging.WARNING, logger="tanpo.oracle.daemon"):
        report = oracle.correct(D("2024-01-05"), {"US-AAPL": Decimal("150.00")}, "split")
    assert report is not None
    assert report.adjusted == 1 and report.failed == (("AGR-2", "insufficient_balance"),)
    assert report.to_dict()["failed"] == [{"agreement": "AGR-2",
                                           "reason": "insufficient_balance"}]
    assert "adjust-failed" in caplog.text


def test_a_date_without_prices_cannot_be_corrected(tmp_path: Path) -> None:
    oracle, ledger = posted_to_the_fifth(tmp_path)
    with pytest.raises(LedgerError, match="no prices posted"):
        oracle.correct(D("2024-02-01"), {"JP8306": Decimal("1")}, "x")
    with pytest.raises(ValueError, match="reason"):
        oracle.correct(D("2024-01-05"), {"JP8306": Decimal("1")}, " ")
    assert ledger.corrections == []
