"""The desk's day on the real network: recalls, returns, substitutions, notice, maturity, fails and
buy-ins, each with its refusals and its event, and one failing settlement in a 1,000-agreement
sweep batch that leaves the other 999 margined.

A third bank's refusals are test_privacy's (this session's network has two banks). Every test
defines its own tokens (a random tag in every id) and posts prices on dates in May and
June 2001, which no other test or shipped data uses. Every agreement a test opens is closed before
it ends (by a return, a buy-in or the daily cycle at maturity), so later sweeps never meet it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

import pytest

from tanpo import margin as eng
from tanpo.client import private
from tanpo.client.api import OracleClient, Party, TokenAdministrator
from tanpo.client.connect import Connection
from tanpo.client.errors import GatewayError
from tanpo.client.models import Agreement, CollateralLeg, Terms, Token
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile
from tanpo.client.session import Session

LENDER, BORROWER, OPERATOR = "bank-a", "bank-b", "operator"
PAIR = pair_collection(LENDER, BORROWER)
D0, D1, D2, D3, D4 = (date(2001, 5, d) for d in (7, 8, 9, 10, 11))
#: the 1,000-agreement batch's own dates
B0, B1, B2, B3 = (date(2001, 6, d) for d in (4, 5, 6, 7))


@dataclass
class Desk:
    """This module's tokens and identities on the session's network."""

    session: Session
    conns: dict[str, Connection]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())
    tokens: dict[str, eng.Token] = field(default_factory=dict)
    markets: dict[date, eng.Market] = field(default_factory=dict)
    n: int = 0

    def party(self, name: str) -> Party:
        return Party(self.conns[name])

    @property
    def admin(self) -> TokenAdministrator:
        return TokenAdministrator(self.conns[OPERATOR])

    @property
    def oracle(self) -> OracleClient:
        return OracleClient(self.conns[OPERATOR])

    def settle(self) -> None:
        self.session.settle()

    def token(self, name: str) -> str:
        return f"LC{self.tag}-{name}"

    def define(self, name: str, kind: str) -> None:
        token_id = self.token(name)
        self.admin.define_token(Token(token_id, kind, "JPY", "per-unit",
                                      "cash" if kind == "CT" else "equity",
                                      ticker=token_id if kind == "ST" else ""))
        self.settle()
        self.tokens[token_id] = eng.Token(token_id, kind, "JPY", "per-unit")

    def issue(self, party: str, name: str, quantity: int) -> None:
        request = self.party(party).request_issuance(self.token(name), quantity, f"test {self.tag}")
        self.settle()
        self.admin.approve_issuance(request.id)
        self.settle()

    def post(self, day: date, prices: dict[str, str]) -> None:
        named = {self.token(k): v for k, v in prices.items()}
        self.oracle.post_prices(day, named, {}, source="test")
        self.settle()
        self.markets[day] = eng.Market.parse(day.isoformat(), named, {})

    def terms(self, loan: int, collateral: dict[str, int], **extra: Any) -> Terms:
        self.n += 1
        legs = tuple(CollateralLeg(self.token(k), q) for k, q in collateral.items())
        base: dict[str, Any] = dict(
            id=f"LC-{self.tag}-{self.n}", lender=LENDER, borrower=BORROWER,
            loan_token=self.token("LN"), loan_quantity=loan, collateral=legs,
            base_currency="JPY", haircut=Fraction(5, 100), mode="multi",
            trade_date=D0, start_date=D0, end_date=D4,
        )
        base.update(extra)
        return Terms(**base)

    def open(self, terms: Terms) -> str:
        self.party(terms.lender).propose(terms)
        self.settle()
        self.party(terms.borrower).approve(terms.id)
        self.settle()
        return terms.id

    def held(self, agreement_id: str) -> dict[str, int]:
        return {p.token: p.held for p in self.party(LENDER).collateral_held(agreement_id)}

    def free(self, party: str, name: str) -> int:
        return self.party(party).balance(self.token(name), party)

    def engine(self, agreement: Agreement) -> eng.Agreement:
        t = agreement.terms
        return eng.make_agreement(list(self.tokens.values()), eng.Terms(
            base=t.base_currency, loan=eng.LoanLeg(t.loan_token, t.loan_quantity),
            collateral=[c.token for c in t.collateral], mode=t.mode, haircut=t.haircut))

    def refused(self, party: str, step: str, *args: Any, **kwargs: Any) -> str:
        """Run ``step`` as ``party``, which the chaincode must refuse; return its message."""
        with pytest.raises(GatewayError) as info:
            getattr(self.party(party), step)(*args, **kwargs)
        assert info.value.refusal is not None, info.value
        return info.value.refusal


@pytest.fixture(scope="module")
def desk(profile: Profile) -> Iterator[Desk]:
    with Session(profile) as session:
        parties = (OPERATOR, LENDER, BORROWER)
        d = Desk(session, {p: session.as_(p).connection for p in parties})
        d.define("LN", "ST")
        d.define("CASH", "CT")
        d.define("S1", "ST")
        d.define("S2", "ST")
        d.define("X", "ST")
        d.issue(LENDER, "LN", 1_000_000)
        d.issue(BORROWER, "CASH", 100_000_000)
        d.issue(BORROWER, "S1", 1_000_000)
        d.issue(BORROWER, "S2", 1_000_000)
        for day in (D0, D1, D2, D3, D4):
            d.post(day, {"LN": "100", "S1": "50", "S2": "20", "X": "10"})
        yield d


class Events:
    """The chaincode events of the blocks committed while the block runs, by agreement."""

    def __init__(self, desk: Desk) -> None:
        self.conn = desk.conns[LENDER]
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __enter__(self) -> Events:
        self.start = self.conn.block_height()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self.conn.block_height()
        network = self.conn.gateway.network(self.conn.profile.channel)
        stream = network.chaincode_events(self.conn.profile.chaincode, start_block=self.start)
        done = threading.Event()

        def listen() -> None:
            for ev in stream:
                self.events.append((ev.name, ev.json()))
                if ev.block_number >= end - 1:
                    break
            done.set()

        threading.Thread(target=listen, daemon=True).start()
        done.wait(timeout=30)
        stream.close()

    def of(self, agreement_id: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, e) for n, e in self.events if e.get("agreement") == agreement_id]


def test_recall_then_part_and_full_return(desk: Desk) -> None:
    # 10,000 LN at 100 against 1,100,000 CASH (1,045,000 after the 5% haircut)
    agreement_id = desk.open(desk.terms(10_000, {"CASH": 1_100_000, "S1": 0}))
    lender, borrower = desk.party(LENDER), desk.party(BORROWER)
    assert "only the lender" in desk.refused(BORROWER, "recall", agreement_id, 1, date=D1)
    assert "so at most 10000" in desk.refused(LENDER, "recall", agreement_id, 10_001, date=D1)
    with Events(desk) as events:
        a = lender.recall(agreement_id, 4_000, date=D1, due=D2)
        desk.settle()
        (recall,) = a.recalls
        assert (recall.id, recall.quantity, recall.due, recall.status) == ("R1", 4_000, D2, "OPEN")
        assert "only the borrower" in desk.refused(LENDER, "return_loan", agreement_id, 1, date=D2)
        assert "the loan is 10000" in desk.refused(BORROWER, "return_loan", agreement_id, 10_001,
                                                   date=D2)
        before = desk.held(agreement_id)
        lender_ln = desk.free(LENDER, "LN")
        engine = eng.return_loan(desk.engine(a), desk.markets[D2],
                                 eng.Positions(held=before), 4_000)
        a = borrower.return_loan(agreement_id, 4_000, date=D2)
        desk.settle()
        assert a.terms.loan_quantity == 6_000 == engine.loan_after
        assert a.recalls[0].status == "SETTLED" and a.recalls[0].returned == 4_000
        # the excess after the return is released in the same transaction, to the unit
        assert desk.held(agreement_id) == dict(engine.held_after)
        assert desk.free(LENDER, "LN") == lender_ln + 4_000
        released = before[desk.token("CASH")] - engine.held_after[desk.token("CASH")]
        assert released == (1_045_000 - 600_000) * 100 // 95  # floor(445,000 / 0.95)
        a = borrower.return_loan(agreement_id, 6_000, date=D2)
        desk.settle()
        assert a.status == "CLOSED" and all(q == 0 for q in desk.held(agreement_id).values())
    names = [n for n, _ in events.of(agreement_id)]
    assert names == ["RecallRequested", "LoanReturned", "AgreementClosed"], names
    closed = events.of(agreement_id)[-1][1]
    assert closed["reason"] == "returned" and set(closed) <= {
        "type", "txId", "agreement", "status", "party", "reason"}
    assert "is CLOSED" in desk.refused(BORROWER, "return_loan", agreement_id, 1, date=D2)


def test_substitution_requested_approved_cancelled_and_refused(desk: Desk) -> None:
    agreement_id = desk.open(desk.terms(10_000, {"CASH": 600_000, "S1": 10_000, "S2": 0}))
    lender, borrower = desk.party(LENDER), desk.party(BORROWER)
    cash, s1, s2 = desk.token("CASH"), desk.token("S1"), desk.token("S2")
    # V_L 1,000,000; V_C 570,000 + 475,000 = 1,045,000
    assert "not an eligible collateral token" in desk.refused(
        BORROWER, "substitute", agreement_id, {cash: 1}, {desk.token("X"): 1}, date=D1)
    short = desk.refused(BORROWER, "substitute", agreement_id, {s1: 10_000}, {s2: 1_000}, date=D1)
    assert "would leave the agreement short: loan value 1000000.00, collateral value after " \
           "haircut 589000.00, short by 411000.00 (JPY)" in short
    assert "only the borrower" in desk.refused(LENDER, "substitute", agreement_id, {cash: 1},
                                               {s2: 1}, date=D1)
    with Events(desk) as events:
        a = borrower.substitute(agreement_id, {cash: 100_000}, {s2: 6_000}, date=D1)
        desk.settle()
        assert a.substitution is not None and desk.held(agreement_id)[s2] == 0
        assert "only the lender" in desk.refused(BORROWER, "approve_substitution", agreement_id)
        a = lender.approve_substitution(agreement_id)
        desk.settle()
        held = desk.held(agreement_id)
        assert a.substitution is None and (held[cash], held[s1], held[s2]) == (500_000, 10_000,
                                                                               6_000)
        borrower.substitute(agreement_id, {s2: 6_000}, {s1: 2_500}, date=D1)
        desk.settle()
        a = lender.cancel_substitution(agreement_id, "not now")
        desk.settle()
        assert a.substitution is None and desk.held(agreement_id)[s2] == 6_000
    names = [n for n, _ in events.of(agreement_id)]
    assert names == ["SubstitutionRequested", "CollateralSubstituted", "SubstitutionRequested",
                     "SubstitutionCancelled"], names
    borrower.return_loan(agreement_id, 10_000, date=D1)
    desk.settle()
    # pre-authorised: it settles at once
    pre = desk.open(desk.terms(10_000, {"CASH": 1_100_000, "S2": 0},
                               substitution_pre_authorised=True))
    a = borrower.substitute(pre, {cash: 100_000}, {s2: 6_000}, date=D1)
    desk.settle()
    assert a.substitution is None and desk.held(pre)[s2] == 6_000
    borrower.return_loan(pre, 10_000, date=D1)
    desk.settle()


def sweep(desk: Desk, day: date, ids: list[str]) -> dict[str, Any]:
    raw = private.submit(desk.conns[OPERATOR].contract("margin"), "SweepAgreements",
                         day.isoformat(), json.dumps(ids), pair=PAIR)
    desk.settle()
    result: dict[str, Any] = json.loads(raw.result)
    return result


def test_notice_maturity_failed_recall_and_buy_ins(desk: Desk) -> None:
    lender, borrower = desk.party(LENDER), desk.party(BORROWER)
    # an open loan on one day's notice; a term loan ending on D2 whose borrower lacks the loan;
    # one whose recall goes unanswered
    noticed = desk.open(desk.terms(1_000, {"CASH": 110_000}, end_date=None, notice_days=1))
    term = desk.open(desk.terms(1_000, {"CASH": 110_000}, end_date=D2))
    recalled = desk.open(desk.terms(2_000, {"CASH": 220_000}))
    assert "term loan ending on" in desk.refused(LENDER, "give_notice", term, date=D1)
    a = borrower.give_notice(noticed, date=D1)
    desk.settle()
    assert a.notice is not None and a.notice.effective == D2
    lender.recall(recalled, 500, date=D1, due=D2)
    desk.settle()
    # the borrower sends back to the lender, outside the agreements, every LN it has but what the
    # noticed loan needs
    spare = desk.free(BORROWER, "LN") - 1_000
    borrower.transfer(desk.token("LN"), LENDER, spare)
    desk.settle()
    with Events(desk) as events:
        # on D2 (the end, effective and due date) all three are margined, and the recall still
        # unreturned fails; the cycle after the end date closes or flags
        assert sweep(desk, D2, [noticed, term, recalled])["called"] == 3
        result = sweep(desk, D3, [noticed, term, recalled])
    outcomes = {o["agreement"]: (o["status"], o.get("reason", "")) for o in result["outcomes"]}
    assert outcomes == {noticed: ("closed", "maturity"), term: ("called", "close_failed"),
                        recalled: ("called", "")}, outcomes
    on_d2, on_d3 = [e for n, e in events.events if n == "MarginBatch"]
    assert on_d2["recallsFailed"] == [recalled] and on_d2["closed"] == on_d2["matured"] == []
    assert on_d3["closed"] == [noticed] and on_d3["matured"] == [term]
    assert on_d3["recallsFailed"] == [] and on_d3["calls"] == [term, recalled]
    matured = lender.agreement(term)
    assert matured.status == "MATURED"
    (fail,) = matured.fails
    assert (fail.step, fail.party, fail.token, fail.quantity, fail.missing) == (
        "close", BORROWER, desk.token("LN"), 1_000, 1_000)
    assert lender.get_margin_call(term, D3).date == D3  # margined the day it matured
    r = lender.agreement(recalled).recalls[0]
    assert r.status == "FAILED" and r.failed_on == D2
    # buy-ins: the whole loan of the matured one closes it; the failed recall's 500
    assert "only the lender" in desk.refused(BORROWER, "buy_in", term, date=D3)
    a = lender.buy_in(term, date=D3)
    desk.settle()
    (b,) = a.buy_ins
    # owed 1,000 x 100; the lender keeps 100,000 CASH and the rest goes back
    assert a.status == "CLOSED" and b.owed == 100_000 and b.uncovered == 0
    assert [(k.token, k.quantity) for k in b.kept] == [(desk.token("CASH"), 100_000)]
    a = lender.buy_in(recalled, date=D3)
    desk.settle()
    assert a.terms.loan_quantity == 1_500 and a.recalls[0].status == "BOUGHT_IN"
    assert "nothing to buy in" in desk.refused(LENDER, "buy_in", recalled, date=D3)
    lender.transfer(desk.token("LN"), BORROWER, 1_500)  # what the borrower sent it back
    desk.settle()
    borrower.return_loan(recalled, 1_500, date=D3)
    desk.settle()
    assert lender.agreement(noticed).status == "CLOSED"


def test_one_failing_settlement_leaves_the_other_999_margined(desk: Desk) -> None:
    """A 1,000-agreement sweep batch: the borrower of one lagged agreement no longer holds the
    collateral its top-up must deliver; that settlement fails alone, recorded with what is
    missing, and every agreement of the batch gets its margin call. The next cycle, at maturity,
    closes all 1,000."""
    lender, borrower = desk.party(LENDER), desk.party(BORROWER)
    desk.issue(LENDER, "CASH", 100_000_000)
    desk.issue(BORROWER, "S1", 30_000)
    desk.issue(BORROWER, "S2", 5_500)
    for day, s1, s2 in ((B0, "50", "20"), (B1, "50", "18"), (B2, "51", "18"), (B3, "51", "18")):
        desk.post(day, {"S1": s1, "S2": s2})
    cash = desk.token("CASH")
    ids = [f"LB-{desk.tag}-{i:04d}" for i in range(1000)]
    odd = ids[617]

    def terms(agreement_id: str) -> Terms:
        if agreement_id == odd:  # 5,500 S2 at 20 (104,500 after haircut) for 100,000 CASH, lag 1
            return Terms(id=agreement_id, lender=LENDER, borrower=BORROWER, loan_token=cash,
                         loan_quantity=100_000,
                         collateral=(CollateralLeg(desk.token("S2"), 5_500),),
                         base_currency="JPY", haircut=Fraction(5, 100), settlement_lag_days=1,
                         trade_date=B0, start_date=B0, end_date=B2)
        return Terms(id=agreement_id, lender=LENDER, borrower=BORROWER, loan_token=cash,
                     loan_quantity=1_000, collateral=(CollateralLeg(desk.token("S1"), 25),),
                     base_currency="JPY", haircut=Fraction(5, 100), trade_date=B0,
                     start_date=B0, end_date=B2)

    all_terms = [terms(i) for i in ids]
    for k in range(0, len(all_terms), 250):
        chunk = all_terms[k:k + 250]
        private.submit(desk.conns[LENDER].contract("agreements"), "ProposeBatch",
                       json.dumps([t.to_json() for t in chunk]), pair=PAIR)
        desk.settle()
        private.submit(desk.conns[BORROWER].contract("agreements"), "ApproveBatch",
                       json.dumps([t.id for t in chunk]), pair=PAIR)
        desk.settle()
    # B1: S2 falls to 18, the odd one's top-up (348 S2) is due on B2; then the borrower gives
    # its S2 away
    first = sweep(desk, B1, [odd])
    assert first["called"] == 1
    (pending,) = lender.collateral_report(odd).pending
    assert (pending.token, pending.quantity) == (desk.token("S2"), 348)
    borrower.transfer(desk.token("S2"), LENDER, desk.free(BORROWER, "S2"))
    desk.settle()
    with Events(desk) as events:
        result = sweep(desk, B2, ids)
    assert (result["count"], result["called"], result["failed"]) == (1000, 1000, 0), {
        k: v for k, v in result.items() if k != "outcomes"}
    (batch,) = [e for n, e in events.events if n == "MarginBatch"]
    assert batch["settlementFails"] == [odd] and len(batch["calls"]) == 1000
    call = lender.get_margin_call(odd, B2)
    (fail,) = call.fails
    assert (fail.token, fail.quantity, fail.missing) == (desk.token("S2"), 348, 348)
    assert [p.quantity for p in lender.collateral_report(odd).pending] == [348]
    for agreement_id in (ids[0], ids[616], ids[618], ids[999]):
        assert lender.get_margin_call(agreement_id, B2).date == B2
    # B3, the day after their end date: the cycle closes every one (the odd one's pending is
    # dropped)
    done = sweep(desk, B3, ids)
    assert done["closed"] == 1000, {k: v for k, v in done.items() if k != "outcomes"}
    assert lender.agreement(odd).status == "CLOSED"
