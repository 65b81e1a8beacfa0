"""The risk report's ledger mode lists agreements whose latest margin call records concentration
caps still breached after it."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from rich.console import Console

from tanpo.client.api import TanpoClient
from tanpo.client.models import Agreement, MarginCall
from tanpo.risk.cli import print_breaches
from tanpo.risk.ledger_source import LedgerSource
from tests.fakes import ACTIVE_TERMS, margin_record

D1, D2, D3 = date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)
BREACH = {"by": "issuer", "key": "MUFG", "share": "3/5", "max": "1/2"}


class Client:
    def __init__(self, calls: dict[str, list[dict[str, Any]]]) -> None:
        self.calls = calls

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]:
        assert status == "ACTIVE"
        return [Agreement.from_json({"id": a, "status": "ACTIVE", "proposer": "bank-a",
                                     "history": [], "terms": ACTIVE_TERMS.to_json()})
                for a in sorted(self.calls)]

    def margin_calls(self, agreement_id: str) -> list[MarginCall]:
        return [MarginCall.from_json(r) for r in self.calls[agreement_id]]


def test_only_the_latest_call_on_or_before_the_date_counts() -> None:
    source = LedgerSource(cast(TanpoClient, Client({
        # breached on the 3rd, cured on the 4th
        "AGR-1": [margin_record("AGR-1", D2, breaches=[BREACH]), margin_record("AGR-1", D3)],
        "AGR-2": [margin_record("AGR-2", D1, breaches=[BREACH])],
        "AGR-3": [],
    })))
    on_4th = source.breaches(D3)
    assert [(a, d) for a, d, _ in on_4th] == [("AGR-2", D1)]
    on_3rd = source.breaches(D2)
    assert [(a, d) for a, d, _ in on_3rd] == [("AGR-1", D2), ("AGR-2", D1)]
    console = Console(width=200, record=True)
    print_breaches(on_3rd, console)
    text = console.export_text()
    assert "concentration caps breached at the latest margin call" in text
    assert "AGR-1" in text and "MUFG" in text and "60.00%" in text and "50.00%" in text
    quiet = Console(width=200, record=True)
    print_breaches([], quiet)
    assert quiet.export_text() == ""
