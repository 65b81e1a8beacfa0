"""The oracle daemon on the real network: replay posts and sweeps, restarts margin exactly once.

The daemon runs with its real classes — :class:`~tanpo.oracle.daemon.Oracle`, the file source
over the shipped ``data/market`` closes and :class:`~tanpo.oracle.fabric.FabricLedger` signed as
the operator's oracle identity — on the five TSE stocks of the paper (tokens ``JP8306-<tag>`` …
for ``8306.T`` …; the tag keeps them apart from other tests' tokens, the chaincode having one
token namespace per network).

The daemon only replays dates after the ledger's last posted date (its progress lives on the
ledger), so this module runs on a network of its own, where nothing else posts prices. No FX pair
is configured: the agreements are all in yen.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from tanpo import margin as eng
from tanpo.client import private
from tanpo.client.api import OracleClient, Party, TokenAdministrator
from tanpo.client.connect import Connection, connect
from tanpo.client.models import CollateralLeg, MarginCall, Terms, Token
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile, load_profile
from tanpo.client.session import Session
from tanpo.client.sweep import SweepRun, default_submit, sweep_day
from tanpo.oracle.config import InstrumentConfig, OracleConfig, SourceConfig
from tanpo.oracle.daemon import Oracle, Outcome
from tanpo.oracle.fabric import FabricLedger
from tanpo.oracle.ledger import LedgerUnavailableError
from tanpo.oracle.sources import FileSource
from tests.integration.conftest import TEST_PORT_BASE, running_network
from tests.integration.test_margin_onchain import assert_same

DATA = Path(__file__).resolve().parents[2] / "data" / "market"
STOCKS = ("8306", "8604", "4901", "7013", "8031")  # the paper's priority order CT1..CT5
LENDER, BORROWER, OPERATOR = "bank-a", "bank-b", "operator"
ALPHA = Fraction("0.05")
#: Case 1 of the paper starts here; ten TSE trading days (07-01 opens, nine checks).
START, END = date(2009, 7, 1), date(2009, 7, 14)
TRADING = [date(2009, 7, d) for d in (1, 2, 3, 6, 7, 8, 9, 10, 13, 14)]
#: The restart test's window: day 0, then two checked days.
K0, K1, K2 = date(2009, 7, 15), date(2009, 7, 16), date(2009, 7, 17)
PAIR = pair_collection(LENDER, BORROWER)


@dataclass
class Desk:
    session: Session
    conns: dict[str, Connection]
    tokens: dict[str, str] = field(default_factory=dict)  # stock code -> token id
    cash: str = ""

    @property
    def reader(self) -> OracleClient:
        """The operator reads prices, balances, supply and the sweep's progress."""
        return OracleClient(self.conns[OPERATOR])

    @property
    def book(self) -> Party:
        """bank-a (a party to every agreement here) reads the agreements' margin calls and
        custody: the records are private to the pair, and the operator is refused them."""
        return Party(self.conns[LENDER])

    def settle(self) -> None:
        self.session.settle()

    def issue(self, party: str, token: str, quantity: int) -> None:
        requester = Party(self.conns[party])
        request = requester.request_issuance(token, quantity, "oracle test")
        self.settle()
        admin = TokenAdministrator(self.conns[OPERATOR])
        admin.approve_issuance(request.id)
        self.settle()

    def open(self, agreement_id: str, loan: int, collateral: list[tuple[str, int]],
             start: date, end: date) -> eng.AgreementBook:
        """The paper's terms (model 1: β 0, single, lag 0, α 5 %, auto-issue), opened on
        ``start``; returns the engine's book from the opening positions."""
        self.issue(LENDER, self.cash, loan)
        terms = Terms(
            id=agreement_id, lender=LENDER, borrower=BORROWER, loan_token=self.cash,
            loan_quantity=loan, collateral=tuple(CollateralLeg(t, q) for t, q in collateral),
            base_currency="JPY", haircut=ALPHA, mode="single", auto_issue=True,
            trade_date=start, start_date=start, end_date=end,
        )
        lender, borrower = Party(self.conns[LENDER]), Party(self.conns[BORROWER])
        lender.propose(terms)
        self.settle()
        borrower.approve(agreement_id)
        self.settle()
        ids = [t for t, _ in collateral]
        tokens = [eng.Token(t, "ST", "JPY") for t in ids] + [eng.Token(self.cash, "CT", "JPY")]
        agreement = eng.make_agreement(tokens, eng.Terms(
            base="JPY", loan=eng.LoanLeg(self.cash, loan), collateral=ids, mode="single",
            haircut=ALPHA, auto_issue=True))
        reader = self.reader
        return eng.AgreementBook(agreement, eng.Positions(
            held=dict(collateral),
            borrower_free={t: reader.balance(t, BORROWER) for t in ids},
            lender_free={t: reader.balance(t, LENDER) for t in ids},
        ))

    def close(self, agreement_id: str) -> None:
        lender = Party(self.conns[LENDER])
        lender.close(agreement_id)
        self.settle()

    def market(self, day: date) -> eng.Market:
        """The prices the ledger holds for ``day`` (what the daemon posted), for the engine."""
        posted = self.reader.prices(day)
        mine = {t: posted.prices[t] for t in self.tokens.values()}
        return eng.Market.parse(day.isoformat(), mine, {})


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Profile]:
    """A network of this module's own: the oracle's progress (last posted and swept dates) is
    global to a ledger, so other tests posting later dates must not share it."""
    state = tmp_path_factory.mktemp("oracle-network") / "state"
    with running_network(state, TEST_PORT_BASE + 300) as net:
        yield load_profile(net.topo.profile_file)


@pytest.fixture(scope="module")
def desk(session: Session) -> Desk:
    conns = {p: session.as_(p).connection for p in (OPERATOR, LENDER, BORROWER)}
    tag = uuid.uuid4().hex[:6].upper()
    d = Desk(session, conns)
    admin = TokenAdministrator(conns[OPERATOR])
    for code in STOCKS:
        token = f"JP{code}-{tag}"
        admin.define_token(Token(token, "ST", "JPY", "per-unit", "equity", ticker=f"{code}.T"))
        d.tokens[code] = token
    d.cash = f"JPY-{tag}"
    admin.define_token(Token(d.cash, "CT", "JPY", "per-unit", "cash"))
    d.settle()
    for token in d.tokens.values():  # the borrower's collateral and ample extra shares
        d.issue(BORROWER, token, 2_000_000)
    return d


def config(desk: Desk, batch_size: int = 1000) -> OracleConfig:
    return OracleConfig(
        source=SourceConfig("file", str(DATA)),
        instruments=tuple(InstrumentConfig(desk.tokens[c], f"{c}.T", "XTKS", "JPY",
                                           Decimal("0.1")) for c in STOCKS),
        fx=(),
        sweep_batch_size=batch_size,
    )


def daemon(desk: Desk, ledger: FabricLedger, batch_size: int = 1000) -> Oracle:
    return Oracle(config(desk, batch_size), ledger, FileSource(DATA), mode="replay")


def fresh_ledger(profile: Profile) -> FabricLedger:
    """A new process's ledger: a fresh connection as the operator's oracle identity."""
    return FabricLedger(connect(OPERATOR, "User1", profile))


def loan_for(desk: Desk, day: date, collateral: list[tuple[str, int]]) -> int:
    """The paper's loan: (1 − α) × the collateral's value at the prices posted for ``day``."""
    posted = desk.reader.prices(day)
    value = (1 - ALPHA) * sum(q * posted.prices[t] for t, q in collateral)
    assert value.denominator == 1, value
    return int(value)


def check_calls(desk: Desk, agreement_id: str, book: eng.AgreementBook,
                days: list[date]) -> list[MarginCall]:
    """One record per day, each equal to the engine's call on the ledger's prices."""
    calls = desk.book.margin_calls(agreement_id)
    assert [c.date for c in calls] == days, agreement_id
    for record in calls:
        assert_same(record, book.apply_day(desk.market(record.date)))
        assert record.raw["calledBy"] == OPERATOR
    positions = book.positions
    held = {p.token: p.held for p in desk.book.collateral_held(agreement_id)}
    assert held == dict(positions.held)
    return calls


def test_replayed_window_margin_calls_equal_the_engine(desk: Desk, profile: Profile) -> None:
    ledger = fresh_ledger(profile)
    try:
        oracle = daemon(desk, ledger)
        lp = ledger.last_posted_date()
        assert lp is None or lp < START, f"the ledger is already at {lp}: run this file earlier"
        opening = oracle.replay(START, START)
        assert [(r.valuation_date, r.outcome) for r in opening.results] == [
            (START, Outcome.POSTED)]

        collateral = [(desk.tokens[c], 1_000_000) for c in STOCKS]
        loan = loan_for(desk, START, collateral)
        agreement_id = f"OR-{uuid.uuid4().hex[:6].upper()}-PAPER"
        book = desk.open(agreement_id, loan, collateral, START, END)
        free_before = {t: desk.reader.balance(t, BORROWER) for t, _ in collateral}

        result = oracle.replay(START, END)
        assert result.stopped_at is None and result.skipped == [START]
        assert [r.valuation_date for r in result.posted] == TRADING[1:]
        # the oracle sees each agreement has its call (a receipt); whether it triggered and what
        # it moved are the pair's to read (checked below as bank-a)
        assert all(r.sweep is not None and r.sweep.agreements == 1 and r.sweep.swept
                   for r in result.posted)
        assert ledger.last_posted_date() == END and ledger.last_swept_date() == END
    finally:
        ledger.close()

    # every checked day was called once (β = 0) and equals the engine on the posted prices
    calls = check_calls(desk, agreement_id, book, TRADING[1:])
    assert all(c.triggered for c in calls)
    assert sum(len(c.transfers) for c in calls) > 0, "a quiet window would prove little"
    assert {t: desk.reader.balance(t, BORROWER) for t in free_before} == dict(
        book.positions.borrower_free)
    # the daemon posted exactly the shipped closes (tick 0.1)
    posted = desk.reader.prices(TRADING[4])
    assert posted.prices[desk.tokens["8306"]] == Fraction("589")  # 8306.T on 2009-07-07

    # supply changes only by auto-issue mints (recorded in the calls); after the close every
    # token is a free balance again
    minted: dict[str, int] = {}
    for c in calls:
        for m in c.mints:
            minted[m["token"]] = minted.get(m["token"], 0) + int(m["quantity"])
    desk.close(agreement_id)
    reader = desk.reader
    for token in [*desk.tokens.values(), desk.cash]:
        supply = reader.total_supply(token)
        assert supply == reader.balance(token, LENDER) + reader.balance(token, BORROWER)
        if token != desk.cash:
            assert supply == 2_000_000 + minted.get(token, 0), token


class CrashingLedger(FabricLedger):
    """Dies in the middle of ``day``'s sweep, once ``after`` agreements have been called: after
    the batch that reached them committed, before the daemon hears of it (``committed=True``), or
    before the next batch is submitted (``committed=False``). Dead, it submits nothing more."""

    def __init__(self, connection: Connection, day: date, after: int, committed: bool) -> None:
        super().__init__(connection)
        self.day, self.after, self.committed, self.swept = day, after, committed, 0
        self.death = ""

    def sweep(self, valuation_date: date, batch_size: int) -> SweepRun:
        if valuation_date != self.day:
            return super().sweep(valuation_date, batch_size)
        inner = default_submit(self.client.connection)

        def submit(args: list[str], pair: str, books: list[str]) -> dict[str, Any] | None:
            if not self.death and not self.committed and self.swept >= self.after:
                self.death = "killed: the next batch was never submitted"
            if self.death:
                raise LedgerUnavailableError(self.death)
            result = inner(args, pair, books)
            self.swept += len(books)
            if self.committed and self.swept >= self.after:
                self.death = "killed: the batch committed, its answer was lost"
                raise LedgerUnavailableError(self.death)
            return result

        return self._call(lambda: sweep_day(self.client.connection, valuation_date,
                                            batch_size=batch_size, submit=submit))


def sweep_failure(desk: Desk, agreement_id: str, day: date) -> str:
    """Why an agreement's call failed in a sweep, as bank-a reads it (GetSweepFailure)."""
    raw = private.evaluate(desk.conns[LENDER].contract("margin"), "GetSweepFailure",
                           agreement_id, day.isoformat(), pair=PAIR)
    return str(json.loads(raw)["reason"])


def called_prefix(desk: Desk, ids: list[str], day: date) -> int:
    """How many of ``ids`` (in id order, the sweep's order) have a call on ``day``; checks that
    they are a prefix: the sweep never skips ahead."""
    called = [day in [c.date for c in desk.book.margin_calls(i)] for i in ids]
    n = called.count(True)
    assert called == [True] * n + [False] * (len(ids) - n), called
    return n


def test_a_sweep_killed_midway_margins_every_agreement_exactly_once(
    desk: Desk, profile: Profile
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    ledger = fresh_ledger(profile)
    try:
        lp = ledger.last_posted_date()
        assert lp is None or lp < K0, f"the ledger is already at {lp}: run this file earlier"
        daemon(desk, ledger).replay(K0, K0)
    finally:
        ledger.close()
    # five agreements, one stock each, so each book owns its token's balances
    ids = [f"OR-{tag}-K{i}" for i in range(len(STOCKS))]
    books: dict[str, eng.AgreementBook] = {}
    for agreement_id, code in zip(ids, STOCKS, strict=True):
        collateral = [(desk.tokens[code], 100_000)]
        books[agreement_id] = desk.open(agreement_id, loan_for(desk, K0, collateral),
                                        collateral, K0, K2)

    # run 1: killed on K1 once the batch holding the third agreement committed (batches of 2)
    ledger = CrashingLedger(connect(OPERATOR, "User1", profile), K1, after=3, committed=True)
    try:
        with pytest.raises(LedgerUnavailableError, match="answer was lost"):
            daemon(desk, ledger, batch_size=2).replay(K1, K2)
    finally:
        ledger.close()
    reader = desk.reader
    # the sweep goes in agreement id order: a prefix of ours was called, not all of them
    done_k1 = called_prefix(desk, ids, K1)
    assert 3 <= done_k1 < len(ids)
    assert reader.last_swept_date() == K0
    first_tx = {i: desk.book.get_margin_call(i, K1).tx_id for i in ids[:done_k1]}

    # run 2, a new process: finishes K1 (replaying what run 1 did), then dies on K2 before
    # submitting the batch after the second agreement
    ledger = CrashingLedger(connect(OPERATOR, "User1", profile), K2, after=2, committed=False)
    try:
        with pytest.raises(LedgerUnavailableError, match="never submitted"):
            daemon(desk, ledger, batch_size=2).replay(K1, K2)
    finally:
        ledger.close()
    assert reader.last_swept_date() == K1 and reader.last_posted_date() == K2
    assert called_prefix(desk, ids, K1) == len(ids)
    done_k2 = called_prefix(desk, ids, K2)
    assert 2 <= done_k2 < len(ids)

    # run 3, a new process with a healthy ledger: finishes K2, and there is nothing else to do
    ledger = fresh_ledger(profile)
    try:
        result = daemon(desk, ledger, batch_size=2).replay(K1, K2)
    finally:
        ledger.close()
    (resumed,) = result.resumed
    assert resumed.valuation_date == K2 and resumed.replayed >= done_k2
    assert result.skipped == [K1, K2] and not result.results
    assert reader.last_swept_date() == K2

    # every agreement margined exactly once per date, each equal to the engine applying it once
    for agreement_id in ids:
        calls = check_calls(desk, agreement_id, books[agreement_id], [K1, K2])
        assert not any(c.replayed for c in calls)
        token = books[agreement_id].agreement.collateral_ids[0]
        assert reader.balance(token, BORROWER) == books[agreement_id].positions.borrower_free[
            token]
    assert {i: desk.book.get_margin_call(i, K1).tx_id for i in ids[:done_k1]} == first_tx
    for agreement_id in ids:
        desk.close(agreement_id)


#: The isolation test's window: day 0, then two checked days (07-20 is a Tokyo holiday).
P0, P1, P2 = date(2009, 7, 21), date(2009, 7, 22), date(2009, 7, 23)


def test_an_unpriceable_agreement_fails_alone_and_the_daemon_moves_on(
    desk: Desk, profile: Profile
) -> None:
    """Issue 16 item 1, on the network: an agreement whose collateral the oracle does not price
    fails alone on each date; the daemon posts and sweeps every date, margins the others, and
    reports it instead of dying (replay) or retrying one date forever (run)."""
    tag = uuid.uuid4().hex[:6].upper()
    ledger = fresh_ledger(profile)
    try:
        lp = ledger.last_posted_date()
        assert lp is None or lp < P0, f"the ledger is already at {lp}: run this file earlier"
        daemon(desk, ledger).replay(P0, P0)
    finally:
        ledger.close()
    orphan = f"JP9999-{tag}"  # a token no oracle configuration prices
    TokenAdministrator(desk.conns[OPERATOR]).define_token(
        Token(orphan, "ST", "JPY", "per-unit", "equity", ticker="9999.T"))
    desk.settle()
    desk.issue(BORROWER, orphan, 1_000)
    good = [(desk.tokens["8306"], 100_000)]
    good_id, bad_id = f"OR-{tag}-GOOD", f"OR-{tag}-UNPRICED"
    book = desk.open(good_id, loan_for(desk, P0, good), good, P0, P2)
    desk.open(bad_id, 1_000_000, [(orphan, 1_000)], P0, P2)

    ledger = fresh_ledger(profile)
    try:
        oracle = daemon(desk, ledger)
        result = oracle.replay(P1, P2)
    finally:
        ledger.close()
    assert result.stopped_at is None
    assert [r.valuation_date for r in result.posted] == [P1, P2]
    for r in result.posted:
        assert r.sweep is not None and not r.sweep.swept
        ((agreement, reason),) = r.sweep.failed
        # the oracle gets a reason code; the parties read why (the token) in the pair
        assert agreement == bad_id and reason == "missing_price", reason
        assert orphan in sweep_failure(desk, bad_id, r.valuation_date)
    check_calls(desk, good_id, book, [P1, P2])
    reader = desk.reader
    assert desk.book.margin_calls(bad_id) == []
    assert reader.last_posted_date() == P2 and reader.last_swept_date() == P0
    status = oracle.status()
    assert status["state"] == "degraded" and status["last_error"] is None
    (failure,) = status["failures"]
    assert (failure["agreement"], failure["since"], failure["date"]) == (bad_id, "2009-07-22",
                                                                          "2009-07-23")
    desk.close(good_id)


#: The poisoned book's window: day 0, then two checked days (after the isolation test's).
Q0, Q1, Q2 = date(2009, 7, 28), date(2009, 7, 29), date(2009, 7, 30)


def test_a_poisoned_book_margins_every_sound_agreement_once(
    desk: Desk, profile: Profile
) -> None:
    """Issue 16's poisoned book on the network: 1,000 agreements, 4 holding a token the oracle
    never prices and 4 whose borrower runs short (no auto-issue, none of the token a call asks
    for). The daemon posts and sweeps two dates: every other agreement is margined exactly once a
    date, the short ones record the issuance they need, the unpriceable ones fail alone and are
    reported, and nothing stalls: both dates are posted and swept as far as they can be."""
    tag = uuid.uuid4().hex[:6].upper()
    ledger = fresh_ledger(profile)
    try:
        lp = ledger.last_posted_date()
        assert lp is None or lp < Q0, f"the ledger is already at {lp}: run this test earlier"
        daemon(desk, ledger).replay(Q0, Q0)
    finally:
        ledger.close()
    admin = TokenAdministrator(desk.conns[OPERATOR])
    orphan = f"JP9998-{tag}"  # a token no oracle configuration prices
    admin.define_token(Token(orphan, "ST", "JPY", "per-unit", "equity", ticker="9998.T"))
    desk.settle()

    ids = [f"PB-{tag}-{i:04d}" for i in range(1000)]
    unpriced = {ids[i] for i in (17, 333, 640, 999)}
    short = {ids[i] for i in (5, 250, 500, 750)}
    sound_token, short_token = desk.tokens["8306"], desk.tokens["7013"]
    units = 1_000
    posted = desk.reader.prices(Q0).prices

    def terms(agreement_id: str) -> Terms:
        # The short ones are lent by the borrower of the others, to a bank holding exactly their
        # opening collateral: a falling price finds it with nothing more to deliver.
        lender, borrower = (BORROWER, LENDER) if agreement_id in short else (LENDER, BORROWER)
        token = (orphan if agreement_id in unpriced
                 else short_token if agreement_id in short else sound_token)
        loan = (1_000_000 if token == orphan
                else int((1 - ALPHA) * units * posted[token]))
        return Terms(id=agreement_id, lender=lender, borrower=borrower, loan_token=desk.cash,
                     loan_quantity=loan, collateral=(CollateralLeg(token, units),),
                     base_currency="JPY", haircut=ALPHA, mode="single", auto_issue=False,
                     trade_date=Q0, start_date=Q0, end_date=Q2)

    all_terms = [terms(i) for i in ids]
    for party in (LENDER, BORROWER):
        lent = sum(t.loan_quantity for t in all_terms if t.lender == party)
        desk.issue(party, desk.cash, lent)
    desk.issue(BORROWER, orphan, units * len(unpriced))
    desk.issue(LENDER, short_token, units * len(short))
    desk.issue(BORROWER, sound_token, 1_100 * (len(ids) - len(unpriced) - len(short)))
    held = Party(desk.conns[LENDER]).balance(short_token)
    assert held == units * len(short), f"{LENDER} must hold only the short ones' collateral"
    for pair in ((LENDER, BORROWER), (BORROWER, LENDER)):
        group = [t for t in all_terms if (t.lender, t.borrower) == pair]
        for k in range(0, len(group), 100):
            chunk = group[k:k + 100]
            private.submit(desk.conns[pair[0]].contract("agreements"), "ProposeBatch",
                           json.dumps([t.to_json() for t in chunk]), pair=PAIR)
            desk.settle()
            private.submit(desk.conns[pair[1]].contract("agreements"), "ApproveBatch",
                           json.dumps([t.id for t in chunk]), pair=PAIR)
            desk.settle()

    ledger = fresh_ledger(profile)
    try:
        result = daemon(desk, ledger).replay(Q1, Q2)
    finally:
        ledger.close()
    assert result.stopped_at is None
    assert [r.valuation_date for r in result.posted] == [Q1, Q2]
    reader = desk.reader
    for r in result.posted:
        assert r.sweep is not None
        assert {a for a, _ in r.sweep.failed} == unpriced, r.sweep.failed
        assert all(reason == "missing_price" for _, reason in r.sweep.failed)
        assert not r.sweep.swept  # the failed ones still need their call
    assert reader.last_posted_date() == Q2
    for agreement_id in ids:
        calls = desk.book.margin_calls(agreement_id)
        if agreement_id in unpriced:
            assert calls == [], agreement_id
            continue
        assert [c.date for c in calls] == [Q1, Q2], agreement_id  # exactly once a date
    # 7013 falls from 1,630 to 1,590 on Q1: each short borrower needs an issuance to cover it
    for agreement_id in short:
        (first, _) = desk.book.margin_calls(agreement_id)
        assert first.triggered and first.issuance_required, agreement_id
        assert not first.transfers, agreement_id
