"""Confidentiality on a real network of three banks (bank-a with two peers): what bank-c's peer
stores and answers about an a/b agreement, who must endorse a debit of bank-a's balance, and a
bank-a peer that was down while the pair dealt catching up through reconciliation.

The network runs beside the session's, on ports from ``TANPO_TEST_PORT_BASE`` + 900, and is
stopped at the end.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fabric_protos.peer import transaction_pb2

from tanpo.client import connect, private
from tanpo.client.api import OracleClient, Party
from tanpo.client.connect import Connection
from tanpo.client.errors import CommitError, GatewayError
from tanpo.client.models import CollateralLeg, Terms
from tanpo.client.pairs import pair_collection, pair_endorsers
from tanpo.client.profile import Profile, load_profile
from tanpo.client.session import Session
from tanpo.network.launcher import Launcher
from tests.integration.conftest import TEST_PORT_BASE, running_network

pytestmark = pytest.mark.network

PAIR = pair_collection("bank-a", "bank-b")
CASH, STOCK = "JPY", "JP9984"
# Distinctive figures: none of them is a balance, a price or a date the public state needs. The
# agreement's id is public (events and receipts name it), so it is left to the chaincode (an opaque
# AGR-…), and the desk's own reference goes in the terms.
REFERENCE = "GMSLA-QX-48213"
LOAN = 7_654_319
COLLATERAL = 43_917
HAIRCUT = "0.0613"
TRADE, START, END = date(2026, 10, 13), date(2026, 10, 14), date(2026, 11, 17)
CALL_DAYS = (date(2026, 10, 15), date(2026, 10, 16))
PRICES = {date(2026, 10, 15): "2100", date(2026, 10, 16): "1650", date(2026, 10, 19): "1700",
          date(2026, 10, 20): "1500"}

T = TypeVar("T")


@dataclasses.dataclass
class Desk:
    launcher: Launcher
    profile: Profile
    session: Session

    def conn(self, party: str) -> Connection:
        return self.session.as_(party).connection

    def party(self, name: str) -> Party:
        return Party(self.conn(name))

    @property
    def oracle(self) -> OracleClient:
        return OracleClient(self.conn("operator"))

    def post(self, day: date) -> None:
        self.oracle.post_prices(day, {STOCK: PRICES[day]}, {})
        self.session.settle()


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    state = tmp_path_factory.mktemp("privacy") / "state"
    with running_network(state, TEST_PORT_BASE + 900, banks=3, peers_per_bank=2) as net:
        profile = load_profile(net.topo.profile_file)
        with Session(profile) as session:
            d = Desk(net, profile, session)
            admin = d.conn("operator").contract("tokens")
            admin.submit("DefineToken", json.dumps({"id": CASH, "kind": "CT", "currency": "JPY"}))
            admin.submit("DefineToken", json.dumps({
                "id": STOCK, "kind": "ST", "currency": "JPY", "ticker": "9984",
                "quoteConvention": "per-unit", "assetClass": "equity"}))
            session.settle()
            # every balance starts away from the agreement's figures
            funding = (("bank-a", CASH, 20_000_003), ("bank-b", CASH, 1_000_007),
                       ("bank-b", STOCK, 150_023), ("bank-c", CASH, 3_000_011))
            for party, token, quantity in funding:
                req = d.party(party).request_issuance(token, quantity, "privacy test")
                session.settle()
                d.conn("operator").contract("tokens").submit("ApproveIssuance", req.id)
                session.settle()
            yield d


def terms(agreement_id: str, loan: int, collateral: int, end: date = END,
          reference: str = "") -> Terms:
    return Terms(id=agreement_id, reference=reference, lender="bank-a", borrower="bank-b",
                 loan_token=CASH,
                 loan_quantity=loan, collateral=(CollateralLeg(STOCK, collateral),),
                 base_currency="JPY", haircut=Fraction(HAIRCUT), mode="single", auto_issue=False,
                 trade_date=TRADE, start_date=START, end_date=end)


def open_agreement(desk: Desk, t: Terms) -> str:
    agreement = desk.party("bank-a").propose(t).id
    desk.session.settle()
    desk.party("bank-b").approve(agreement)
    desk.session.settle()
    return agreement


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())


def holding(folder: Path, marks: list[bytes]) -> dict[str, list[str]]:
    """Which files under ``folder`` contain which of ``marks`` (bytes as stored)."""
    found: dict[str, list[str]] = {}
    for path in files_under(folder):
        data = path.read_bytes()
        for m in marks:
            if m in data:
                found.setdefault(m.decode(), []).append(str(path.relative_to(folder)))
    return found


def events_until(conn: Connection, last_block: int) -> list[Any]:
    """Every chaincode event bank-c's gateway delivers from block 0 to ``last_block``."""
    network = conn.gateway.network(conn.profile.channel)
    out = []
    with network.chaincode_events(conn.profile.chaincode, start_block=0) as stream:
        for ev in stream:
            out.append((ev.block_number, ev.name, ev.payload))
            if ev.block_number >= last_block:
                break
    return out


def test_bank_c_stores_none_of_an_a_b_agreement_and_is_refused_every_read(desk: Desk) -> None:
    agreement = open_agreement(desk, terms("", LOAN, COLLATERAL, reference=REFERENCE))
    assert agreement.startswith("AGR-")
    for day in CALL_DAYS:
        desk.post(day)
        desk.oracle.call_margin(agreement, day, PAIR)
        desk.session.settle()
    lender = desk.party("bank-a")
    calls = lender.margin_calls(agreement)
    assert [c.date for c in calls] == list(CALL_DAYS)
    assert any(c.transfers for c in calls), "the fixture's prices make the calls move collateral"
    lender.close(agreement)
    desk.session.settle()
    closed = lender.agreement(agreement)
    assert closed.status == "CLOSED" and closed.terms.reference == REFERENCE

    # the terms' distinctive figures (long enough not to occur by chance in certificates or hashes)
    marks = [REFERENCE.encode(), str(LOAN).encode(), str(COLLATERAL).encode(), HAIRCUT.encode()]
    data = desk.launcher.topo.data_dir
    # the search sees such figures where they are stored: bank-a's own peer holds them all
    at_a = holding(data / "peer0-bank-a", marks)
    assert set(at_a) == {m.decode() for m in marks}, at_a
    at_c = holding(data / "peer0-bank-c", marks)
    assert at_c == {}, f"bank-c's peer files hold the a/b agreement's terms: {at_c}"

    # every read bank-c can make is refused, on its own peer or on bank-a's
    refusal = f"agreement {agreement} does not exist or bank-c is not a party to it"
    bank_c = desk.party("bank-c")
    reads: list[Callable[[], object]] = [
        lambda: bank_c.agreement(agreement),
        lambda: bank_c.collateral_held(agreement),
        lambda: bank_c.margin_calls(agreement),
        lambda: bank_c.get_margin_call(agreement, CALL_DAYS[0]),
    ]
    contract = desk.conn("bank-c").contract("agreements")

    def named(on: str) -> Callable[[], object]:  # naming the pair, on bank-c's or bank-a's peer
        return lambda: private.evaluate(contract, "GetAgreement", agreement, pair=PAIR, on=on)

    reads += [named(""), named("bank-a")]
    for read in reads:
        with pytest.raises(GatewayError) as info:
            read()
        assert refusal in info.value.chaincode_message, info.value.chaincode_message
    assert [a.id for a in bank_c.agreements()] == []

    # bank-c's event stream names the agreement (by its opaque id) and the steps, never the terms
    height = desk.launcher.peer_height("peer0-bank-c") or 1
    seen = events_until(desk.conn("bank-c"), height - 1)
    steps = {name for _, name, payload in seen if agreement.encode() in payload}
    assert {"AgreementProposed", "AgreementApproved", "MarginCall", "AgreementClosed"} <= steps
    for block, name, payload in seen:
        for m in marks:
            assert m not in payload, f"event {name} in block {block} carries {m!r}: {payload!r}"


def test_a_debit_of_bank_a_without_its_endorsement_is_invalidated(desk: Desk) -> None:
    reader = OracleClient(desk.conn("operator"))
    before = {p: reader.balance(CASH, p) for p in ("bank-a", "bank-b")}
    # bank-a's own transfer, which the chaincode accepts, endorsed by the operator and bank-b
    contract = desk.conn("bank-a").contract("tokens").with_retries()
    with pytest.raises(CommitError) as info:
        contract.submit("Transfer", CASH, "bank-b", "1000",
                        endorsing_organizations=["OperatorMSP", "BankBMSP"])
    assert info.value.code == transaction_pb2.ENDORSEMENT_POLICY_FAILURE
    desk.session.settle()
    assert {p: reader.balance(CASH, p) for p in before} == before
    # the same transfer endorsed by bank-a's peers and bank-b's commits
    contract.submit("Transfer", CASH, "bank-b", "1000",
                    endorsing_organizations=pair_endorsers("bank-a", "bank-b"))
    desk.session.settle()
    assert reader.balance(CASH, "bank-a") == before["bank-a"] - 1000


def until(what: str, check: Callable[[], T], timeout: float = 90.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (GatewayError, AssertionError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} after {timeout:.0f}s: {exc}") from exc
            time.sleep(1.0)


def test_a_peer_down_while_the_pair_dealt_reconciles_and_margins_after(desk: Desk) -> None:
    net, agreement = desk.launcher, "REC-1"
    assert net.stop_node("peer1-bank-a")
    open_agreement(desk, terms(agreement, 1_200_001, 1_003, end=date(2026, 12, 31)))
    day1, day2 = date(2026, 10, 19), date(2026, 10, 20)
    desk.post(day1)
    desk.oracle.call_margin(agreement, day1, PAIR)
    desk.session.settle()
    net.start_node("peer1-bank-a")

    # bank-a through its second peer alone: a profile that puts peer1 first
    org = desk.profile.orgs["bank-a"]
    via_peer1 = dataclasses.replace(desk.profile, orgs={
        **desk.profile.orgs, "bank-a": dataclasses.replace(org, peers=org.peers[::-1])})
    assert net.stop_node("peer0-bank-a")
    try:
        with connect("bank-a", "User1", via_peer1) as conn:
            bank_a = Party(conn)
            call = until("peer1 serves the call made while it was down",
                         lambda: bank_a.get_margin_call(agreement, day1))
            assert call.date == day1
            desk.oracle.post_prices(day2, {STOCK: PRICES[day2]}, {})
            # the next call is endorsed by bank-a's peer1 (the only one up) and bank-b
            until("the pair margins through peer1",
                  lambda: bank_a.margin_call(agreement, day2))
            assert [c.date for c in bank_a.margin_calls(agreement)] == [day1, day2]
    finally:
        net.start_node("peer0-bank-a")
