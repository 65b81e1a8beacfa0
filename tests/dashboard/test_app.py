"""The dashboard's pages and actions on the fake ledger: what each identity sees, the
figures formatted for people with the exact values kept, and refusals shown in the
chaincode's words."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, replace
from datetime import date

import pytest

with warnings.catch_warnings():  # Starlette's test client warns about the httpx it runs on
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tanpo.client.models import Agreement, CollateralLeg, Schedule
from tanpo.client.sweep import PlanItem
from tanpo.dashboard.app import Desk, create_app
from tests.fakes import (
    ACTIVE_TERMS,
    FakeLedger,
    FakeNetwork,
    chaincode_refusal,
    margin_record,
    margin_transfer,
)

D1, D2 = date(2024, 1, 3), date(2024, 1, 4)


@dataclass
class DeskFake(FakeLedger):
    """The fake ledger with the reads the dashboard adds."""

    def last_posted_date(self) -> date | None:
        return max(self.net.versions, default=None)

    def last_swept_date(self) -> date | None:
        return None

    def business_date(self) -> date:
        return date.fromisoformat(self.platform_settings()["businessDate"])

    def schedule(self, counterparty: str, schedule_id: str) -> Schedule:
        raise chaincode_refusal(f"no schedule {schedule_id}", evaluate=True)

    def sweep_plan(self, day: date) -> list[PlanItem]:
        return [PlanItem(a.id, a.terms.lender, a.terms.borrower, "book-1", True)
                for a in self.net.agreements.values() if a.status == "ACTIVE"]

    def agreement(self, agreement_id: str) -> Agreement:
        if self.party == "operator":
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements", evaluate=True)
        return super().agreement(agreement_id)

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]:
        if self.party == "operator":
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements", evaluate=True)
        return super().agreements(party, status)


def agreement(agreement_id: str, lender: str, borrower: str, status: str = "ACTIVE",
              proposer: str = "") -> Agreement:
    terms = replace(ACTIVE_TERMS, id=agreement_id, lender=lender, borrower=borrower,
                    base_currency="USD",
                    collateral=(CollateralLeg("US-STOCK", 22275),))
    return Agreement.from_json({"id": agreement_id, "status": status,
                                "proposer": proposer or lender, "history": [],
                                "terms": terms.to_json()})


@pytest.fixture
def net() -> FakeNetwork:
    net = FakeNetwork()
    net.agreements.clear()
    for a in (agreement("AGR-AB", "bank-a", "bank-b"),
              agreement("AGR-NEW", "bank-b", "bank-a", "PROPOSED", proposer="bank-b"),
              agreement("AGR-BC", "bank-b", "bank-c")):
        net.agreements[a.id] = a
    net.records[("AGR-AB", D1)] = margin_record("AGR-AB", D1, triggered=False, transfers=[],
                                                settled=[], vl="1113750", vcBefore="1113750",
                                                vcAfter="1113750")
    net.records[("AGR-AB", D2)] = margin_record("AGR-AB", D2)
    net.records[("AGR-BC", D2)] = margin_record("AGR-BC", D2, lender="bank-b",
                                                borrower="bank-c", vl="9876543")
    return net


def client(net: FakeNetwork, party: str) -> tuple[TestClient, Desk]:
    reader = DeskFake(net, party)
    desk = Desk(reader)
    return TestClient(create_app(desk), base_url="http://127.0.0.1"), desk


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_today_lists_the_latest_calls_from_the_banks_side(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    page = c.get("/")
    assert page.status_code == 200
    body = text(page.text)
    # the DESIGN example: the lender returns 131 shares worth 6,602.40 USD
    assert "you deliver" in body and "6,602.40 USD" in body and "-131 US-STOCK" in body
    assert 'title="33012/5 USD"' not in page.text  # the exact value is a decimal
    assert 'title="6602.4 USD"' in page.text
    # the proposal bank-b made waits for bank-a, with the action
    assert "approve or reject the proposal" in body
    assert 'action="/agreements/AGR-NEW/approve"' in page.text
    assert "AGR-BC" not in page.text  # bank-b's agreement with bank-c


def test_agreements_filter_and_sort(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    everything = c.get("/agreements").text
    assert "AGR-AB" in everything and "AGR-NEW" in everything and "AGR-BC" not in everything
    active = c.get("/agreements", params={"status": "ACTIVE"}).text
    assert "AGR-AB" in active and "/agreements/AGR-NEW" not in active
    desc = c.get("/agreements", params={"sort": "id", "order": "desc"}).text
    assert desc.index("AGR-NEW") < desc.index("AGR-AB")
    assert 'aria-sort="descending"' in desc


def test_one_agreement_has_terms_holdings_calls_and_chart(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    page = c.get("/agreements/AGR-AB").text
    body = text(page)
    assert "<svg" in page and "Required and actual collateral" in page
    assert "1,116,050.00 USD" in body  # V_L of the second call
    assert "22,275" in body  # held
    assert "US-STOCK 252/5" in body  # the prices the call used


def test_a_third_bank_is_refused_an_agreement_in_the_chaincodes_words(
        net: FakeNetwork) -> None:
    c, _ = client(net, "bank-c")
    page = c.get("/agreements/AGR-AB").text
    assert "Refused by the chaincode" in page
    assert "does not exist or bank-c is not a party to it" in page
    assert "AGR-AB" not in c.get("/").text and "AGR-AB" not in c.get("/agreements").text


def test_the_operator_sees_the_sweep_plan_and_the_refusal(net: FakeNetwork) -> None:
    net.versions[D2] = [{"date": D2.isoformat(), "version": 1, "prices": {"US-STOCK": "50"},
                         "fx": {}}]
    c, _ = client(net, "operator")
    today = c.get("/").text
    assert "the operator does not see bilateral agreements" in today
    assert "AGR-AB" in today and "1,116,050" not in today  # ids only
    prices = text(c.get("/prices").text)
    assert "US-STOCK" in prices and "50" in prices


def test_counterparties_net_exposure(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    body = text(c.get("/counterparties").text)
    # lender: V_C after 5580288/5 = 1,116,057.60 against V_L 1,116,050 -> exposure -7.60
    assert "bank-b" in body and "1,116,050.00 USD" in body and "-7.60 USD" in body


def test_an_action_commits_or_shows_the_refusal(net: FakeNetwork) -> None:
    c, desk = client(net, "bank-a")
    form = {"csrf": desk.token, "back": "/"}
    done = c.post("/agreements/AGR-NEW/approve", data=form, follow_redirects=True)
    assert "Done" in done.text and net.agreements["AGR-NEW"].status == "ACTIVE"
    again = c.post("/agreements/AGR-AB/approve", data=form, follow_redirects=True)
    assert "Refused by the chaincode" in again.text
    assert "only the counterparty can approve it" in again.text


def test_forms_need_the_dashboards_token_and_a_local_host(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    assert c.post("/agreements/AGR-NEW/approve", data={"csrf": "x"}).status_code == 403
    assert net.agreements["AGR-NEW"].status == "PROPOSED"
    other = TestClient(c.app, base_url="http://evil.example")
    assert other.get("/").status_code == 421


def test_pay_an_invoice(net: FakeNetwork) -> None:
    from tests.fakes import invoice_record

    net.invoices[("pair-bank-a-bank-b", "2024-01", "JPY")] = invoice_record(
        payer="bank-a", payee="bank-b")
    c, desk = client(net, "bank-a")
    desk.invoices_seen.add(("2024-01", "JPY", "bank-b"))
    page = c.get("/billing").text
    assert "INV-2024-01-JPY" in page and "5,672 JPY" in text(page)
    assert 'action="/billing/pay"' in page
    form = {"csrf": desk.token, "month": "2024-01", "currency": "JPY",
            "counterparty": "bank-b", "token": "JPY"}
    short = c.post("/billing/pay", data=form, follow_redirects=True)
    assert "Refused by the chaincode" in short.text
    assert "insufficient balance: bank-a needs 5672 JPY but has 0 free" in short.text
    net.free[("bank-a", "JPY")] = 10_000
    paid = c.post("/billing/pay", data=form, follow_redirects=True)
    assert "Done" in paid.text
    assert net.invoices[("pair-bank-a-bank-b", "2024-01", "JPY")]["status"] == "PAID"


def test_a_fragment_request_returns_main_only(net: FakeNetwork) -> None:
    c, _ = client(net, "bank-a")
    fragment = c.get("/", headers={"X-Fragment": "main"}).text
    assert "<html" not in fragment and "Margin calls" in fragment


def test_transfers_helper_still_matches_the_fake() -> None:
    t = margin_transfer("US-STOCK", 1, "lender->borrower", "1", D1)
    assert t["from"] == "bank-a"


def test_the_life_cycle_decisions_are_offered_to_the_right_party_and_act(
        net: FakeNetwork) -> None:
    lender, borrower = DeskFake(net, "bank-a"), DeskFake(net, "bank-b")
    lender.recall("AGR-AB", 250_000, due=date(2024, 1, 8))
    borrower.substitute("AGR-AB", {"US-STOCK": 100}, {"JP8306": 50})
    a_client, a_desk = client(net, "bank-a")
    b_client, b_desk = client(net, "bank-b")

    # the borrower answers the recall with a return
    today_b = b_client.get("/").text
    assert "return 250,000 JPY (R1, due 2024-01-08)" in text(today_b)
    assert 'action="/agreements/AGR-AB/return"' in today_b
    assert "Approve substitution" not in today_b  # the lender's decision
    done = b_client.post("/agreements/AGR-AB/return",
                         data={"csrf": b_desk.token, "quantity": "250,000", "back": "/"},
                         follow_redirects=True)
    assert "Done" in done.text
    assert ("return_loan", "AGR-AB", 250_000, None) in net.calls("bank-b")
    bad = b_client.post("/agreements/AGR-AB/return",
                        data={"csrf": b_desk.token, "quantity": "-3"}, follow_redirects=True)
    assert "Not sent" in bad.text and "whole number above zero" in bad.text

    # the lender approves the substitution
    today_a = a_client.get("/").text
    assert "approve the substitution" in text(today_a)
    a_client.post("/agreements/AGR-AB/approve-substitution",
                  data={"csrf": a_desk.token, "back": "/"}, follow_redirects=True)
    assert net.agreements["AGR-AB"].substitution is None

    # and accepts the borrower's termination request
    raw = dict(net.agreements["AGR-AB"].raw, termination={"requestedBy": "bank-b",
                                                          "requestedAt": "2024-01-04"})
    net.agreements["AGR-AB"] = Agreement.from_json(raw)
    page = a_client.get("/agreements/AGR-AB").text
    assert "accept or decline the termination request" in text(page)
    assert "accept or decline" not in text(b_client.get("/agreements/AGR-AB").text)
    a_client.post("/agreements/AGR-AB/accept-termination",
                  data={"csrf": a_desk.token}, follow_redirects=True)
    assert net.agreements["AGR-AB"].status == "CLOSED"


def test_numbers_for_people_keep_the_exact_value() -> None:
    from fractions import Fraction

    from tanpo.dashboard import fmt

    assert fmt.money(Fraction(33012, 5), "USD") == "6,602.40 USD"
    assert fmt.money(Fraction(-1, 2), "JPY") == "-1 JPY"  # half away from zero
    assert fmt.money(Fraction(1234567), "JPY") == "1,234,567 JPY"
    assert fmt.exact(Fraction(1, 3)) == "1/3" and fmt.exact(Fraction(33012, 5)) == "6602.4"
    assert fmt.percent(Fraction(5, 100)) == "5%"
    assert fmt.when(date(2025, 9, 30)) == "Tue 30 Sep 2025"


def test_billing_events_name_the_invoices_to_read(net: FakeNetwork) -> None:
    from tanpo.client.events import ChaincodeEvent

    _, desk = client(net, "bank-a")

    def seen(pair: str, invoice: str) -> None:
        body = json.dumps({"invoice": invoice, "pair": pair, "status": "ISSUED"}).encode()
        desk.seen(ChaincodeEvent(9, "tx", "tanpo", "InvoiceIssued", body))

    seen("pair-bank-a-bank-b", "INV-2024-01-JPY")
    seen("pair-bank-b-bank-c", "INV-2024-01-USD")  # not bank-a's pair
    seen("not-a-pair", "INV-2024-02-JPY")
    assert desk.invoices_seen == {("2024-01", "JPY", "bank-b")}


def test_concentration_against_the_schedules_limits() -> None:
    from fractions import Fraction

    from tanpo.client.models import Cap, Token
    from tanpo.dashboard.views import Holding, concentration

    tokens = {"A": Token("A", "ST", "JPY", "per-unit", asset_class="equity", issuer="X"),
              "B": Token("B", "ST", "JPY", "per-unit", asset_class="equity", issuer="Y"),
              "G": Token("G", "ST", "JPY", "percent-of-par", asset_class="govt", issuer="X")}
    held = [Holding("A", 10, 1, Fraction(30), Fraction(300)),
            Holding("B", 10, 2, Fraction(50), Fraction(500)),
            Holding("G", 2, 3, Fraction(100), Fraction(200)),
            Holding("Z", 0, 4, None, None)]  # nothing held: not counted
    caps = [Cap("assetClass", "equity", Fraction(3, 4)), Cap("issuer", "", Fraction(1, 2))]
    got = {(c.by, c.key): (c.share, c.breached) for c in concentration(caps, held, tokens)}
    assert got == {("assetClass", "equity"): (Fraction(8, 10), True),
                   ("issuer", "X"): (Fraction(5, 10), False),
                   ("issuer", "Y"): (Fraction(5, 10), False)}
