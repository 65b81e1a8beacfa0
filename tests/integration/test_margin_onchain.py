"""Margin calls on the real network equal the Python engine's, to the last unit.

Every test defines its own tokens and agreement (a random tag in every id), posts its own prices
and compares each record the chaincode stores with :class:`tanpo.margin.AgreementBook` fed the same
terms, positions and prices: V_L, V_C before and after, gaps, transfers with their values,
issuance-required outcomes, mints, settled and pending transfers, positions held afterwards.

Dates are in March 2001, before anything the shipped market data (2008 on) or the oracle's
replays post, so the fictitious prices and FX rates here never meet a real one. One FX schedule
for the whole module (:data:`FX`): an FX pair is shared by every token on a date, so every test
posts the same rates. No FX is posted on :data:`D3` (the missing-FX refusal relies on it).
Each agreement ends on :data:`D4` and is closed when its test ends, so later sweeps (the oracle's,
other files') never meet it.
"""

from __future__ import annotations

import json
import math
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction

import pytest

from tanpo import margin as eng
from tanpo.client.api import OracleClient, Party, TokenAdministrator
from tanpo.client.cli_margin import call_json
from tanpo.client.connect import Connection
from tanpo.client.errors import EndorseError, EvaluateError, GatewayError
from tanpo.client.models import CollateralLeg, MarginCall, Terms, Token, frac
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile
from tanpo.client.session import Session
from tests.integration.conftest import TANPO

LENDER, BORROWER, OPERATOR = "bank-a", "bank-b", "operator"
D1, D2, D3, D4 = (date(2001, 3, d) for d in (5, 6, 7, 8))
#: The only FX rates this module posts (one value per pair and date, whichever test posts it).
FX: dict[date, dict[str, str]] = {D1: {"EURUSD": "1.1000"}, D2: {"EURUSD": "1.1050"}}
PAIR = pair_collection(LENDER, BORROWER)


# ---- the desk: one connection per organisation, the roles as typed clients -------------------


@dataclass
class Desk:
    profile: Profile
    session: Session
    conns: dict[str, Connection]

    @property
    def admin(self) -> TokenAdministrator:
        return TokenAdministrator(self.conns[OPERATOR])

    @property
    def oracle(self) -> OracleClient:
        return OracleClient(self.conns[OPERATOR])

    def party(self, name: str) -> Party:
        return Party(self.conns[name])

    @property
    def book(self) -> Party:
        """The lender reads the agreements' custody and margin calls: the records are private to
        the two banks, and the operator is refused them."""
        return Party(self.conns[LENDER])

    def settle(self) -> None:
        """After a submit: every peer holds it before the next step (whose endorsers, the two
        banks' peers, read what it wrote)."""
        self.session.settle()

    def sync(self, party: str) -> None:
        """After a CLI run as ``party``: wait until every peer has what its peer has."""
        self.session.settle(block=self.conns[party].block_height() - 1)

    def free(self, party: str, token: str) -> int:
        return self.oracle.balance(token, party)

    def held(self, agreement_id: str) -> dict[str, int]:
        return {p.token: p.held for p in self.book.collateral_held(agreement_id)}


@pytest.fixture(scope="module")
def desk(profile: Profile, session: Session) -> Desk:
    return Desk(profile, session,
                {p: session.as_(p).connection for p in (OPERATOR, LENDER, BORROWER)})


# ---- one agreement on both sides: the ledger and the engine ---------------------------------


@dataclass
class Case:
    """One test's tokens, agreement and engine book, driven step by step on the ledger."""

    desk: Desk
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())
    tokens: dict[str, eng.Token] = field(default_factory=dict)
    issued: dict[str, int] = field(default_factory=dict)
    markets: dict[date, eng.Market] = field(default_factory=dict)
    pledged: dict[str, int] = field(default_factory=dict)
    terms: Terms | None = None
    book: eng.AgreementBook | None = None
    opened: list[str] = field(default_factory=list)

    def token_id(self, name: str) -> str:
        return f"MT{self.tag}-{name}"

    def define(self, name: str, kind: str, currency: str, quote: str = "per-unit") -> str:
        token_id = self.token_id(name)
        asset_class = "cash" if kind == "CT" else ("bond" if quote == "percent-of-par"
                                                  else "equity")
        admin = self.desk.admin
        admin.define_token(Token(token_id, kind, currency, quote, asset_class,
                                 ticker=token_id if kind == "ST" else ""))
        self.desk.settle()
        self.tokens[token_id] = eng.Token(token_id, kind, currency, quote)
        return token_id

    def issue(self, party: str, token: str, quantity: int) -> None:
        requester = self.desk.party(party)
        request = requester.request_issuance(token, quantity, f"test {self.tag}")
        self.desk.settle()
        admin = self.desk.admin
        admin.approve_issuance(request.id)
        self.desk.settle()
        self.issued[token] = self.issued.get(token, 0) + quantity

    def post(self, day: date, prices: Mapping[str, str], fx: bool = True) -> None:
        """Post this test's prices for ``day`` (with the module's FX for the day, if any)."""
        rates = FX.get(day, {}) if fx else {}
        oracle = self.desk.oracle
        oracle.post_prices(day, prices, rates, source="test")
        self.desk.settle()
        self.market(day, prices, rates)

    def market(self, day: date, prices: Mapping[str, str], fx: Mapping[str, str]) -> None:
        self.markets[day] = eng.Market.parse(day.isoformat(), prices, fx)

    def engine_terms(self, terms: Terms) -> eng.Agreement:
        return eng.make_agreement(list(self.tokens.values()), eng.Terms(
            base=terms.base_currency,
            loan=eng.LoanLeg(terms.loan_token, terms.loan_quantity),
            collateral=[c.token for c in terms.collateral],
            mode=terms.mode,
            haircut=terms.haircut,
            haircuts={c.token: c.haircut for c in terms.collateral if c.haircut is not None},
            threshold=terms.threshold,
            min_transfer=terms.minimum_transfer_amount,
            lag_days=terms.settlement_lag_days,
            auto_issue=terms.auto_issue,
        ))

    def open(self, name: str, loan: tuple[str, int], collateral: list[CollateralLeg],
             base: str, **options: object) -> str:
        """bank-a proposes, bank-b approves: the opening exchange. Starts the engine book."""
        terms = Terms(
            id=f"MT-{self.tag}-{name}", lender=LENDER, borrower=BORROWER,
            loan_token=loan[0], loan_quantity=loan[1], collateral=tuple(collateral),
            base_currency=base, trade_date=D1, start_date=D1, end_date=D4,
            **options,  # type: ignore[arg-type]
        )
        lender, borrower = self.desk.party(LENDER), self.desk.party(BORROWER)
        lender.propose(terms)
        self.desk.settle()
        borrower.approve(terms.id)
        self.desk.settle()
        self.opened.append(terms.id)
        self.terms = terms
        for c in collateral:
            self.pledged[c.token] = self.pledged.get(c.token, 0) + c.quantity
        ids = [c.token for c in collateral]
        free = {t: self.desk.free(BORROWER, t) for t in ids}
        # what bank-b was issued, less what it pledged (these tokens are this test's own)
        assert free == {t: self.issued.get(t, 0) - self.pledged[t] for t in ids}
        assert self.desk.held(terms.id) == {c.token: c.quantity for c in collateral}
        self.book = eng.AgreementBook(self.engine_terms(terms), eng.Positions(
            held={c.token: c.quantity for c in collateral},
            borrower_free=free,
            lender_free={t: self.desk.free(LENDER, t) for t in ids},
        ))
        return terms.id

    def call(self, day: date) -> tuple[MarginCall, eng.DayResult]:
        """The oracle's margin call on the ledger (it gets a receipt), and the engine's day,
        checked equal to the record the lender reads."""
        assert self.terms is not None and self.book is not None
        oracle = self.desk.oracle
        receipt = oracle.call_margin(self.terms.id, day, PAIR)
        self.desk.settle()
        assert receipt["status"] == "called" and receipt["agreement"] == self.terms.id
        assert set(receipt) == {"agreement", "date", "status", "txId"}  # no terms, no amounts
        record = self.desk.book.get_margin_call(self.terms.id, day)
        assert record.tx_id == receipt["txId"]
        result = self.book.apply_day(self.markets[day])
        assert_same(record, result)
        # and the ledger's state after it is the engine's (the collateral is this test's own)
        positions = result.positions
        assert self.desk.held(self.terms.id) == dict(positions.held)
        assert {t: self.desk.free(BORROWER, t) for t in positions.borrower_free} == dict(
            positions.borrower_free)
        return record, result

    def snapshot(self) -> dict[str, object]:
        """Everything a margin call could change: balances, positions, pending, supplies."""
        assert self.terms is not None
        oracle = self.desk.oracle
        report = self.desk.book._evaluate("agreements", "CollateralHeld", self.terms.id)
        return {
            "free": {(p, t): self.desk.free(p, t) for p in (LENDER, BORROWER) for t in self.tokens},
            "positions": report.get("positions"),
            "pending": report.get("pending"),
            "supply": {t: oracle.total_supply(t) for t in self.tokens},
        }

    def assert_supply_is_held_or_free(self) -> None:
        """supply = Σ free balances + Σ positive positions, for each of this test's tokens."""
        held: dict[str, int] = {}
        for agreement_id in self.opened:
            for token, qty in self.desk.held(agreement_id).items():
                held[token] = held.get(token, 0) + max(qty, 0)
        for token in self.tokens:
            free = sum(self.desk.free(p, token) for p in (LENDER, BORROWER))
            assert self.desk.oracle.total_supply(token) == free + held.get(token, 0), token

    def finish(self) -> None:
        """Close every agreement of the test (the closing exchange); then every token is a
        free balance again and its supply is what was issued, plus what auto-issue minted."""
        minted: dict[str, int] = {}
        lender = self.desk.party(LENDER)
        for agreement_id in self.opened:
            for call in self.desk.book.margin_calls(agreement_id):
                for m in call.mints:
                    minted[m["token"]] = minted.get(m["token"], 0) + int(m["quantity"])
            assert lender.close(agreement_id).status == "CLOSED"
            self.desk.settle()
        for token in self.tokens:
            free = sum(self.desk.free(p, token) for p in (LENDER, BORROWER))
            supply = self.desk.oracle.total_supply(token)
            assert supply == free == self.issued.get(token, 0) + minted.get(token, 0), token

    def close_all(self) -> None:
        for agreement_id in self.opened:
            try:
                lender = self.desk.party(LENDER)
                if lender.agreement(agreement_id).status == "ACTIVE":
                    lender.close(agreement_id)
                    self.desk.settle()
            except GatewayError:
                pass  # the test already failed; leave the rest to the network's teardown


@pytest.fixture
def case(desk: Desk) -> Iterator[Case]:
    c = Case(desk)
    try:
        yield c
    finally:
        c.close_all()


def assert_same(record: MarginCall, day: eng.DayResult) -> None:
    """The chaincode's record equals the engine's day, field by field, exactly."""
    call = day.call
    raw = record.raw
    assert record.date.isoformat() == call.date
    assert record.vl == call.vl
    assert record.vc_before == call.vc_before
    assert frac(raw["gapBefore"]) == call.gap_before
    assert record.triggered == call.triggered
    assert record.vc_after == call.vc_after
    assert frac(raw["gapAfter"]) == call.gap_after
    assert {k: frac(v) for k, v in raw["prices"].items()} == dict(call.prices)
    assert {k: frac(v) for k, v in raw["fx"].items()} == dict(call.fx)

    def parties(direction: str) -> tuple[str, str]:
        return (BORROWER, LENDER) if direction == "borrower->lender" else (LENDER, BORROWER)

    assert [(t.token, t.quantity, t.direction, t.sender, t.receiver, t.value, t.market_value)
            for t in record.transfers] == [
        (t.token, t.quantity, str(t.direction), *parties(t.direction), t.value, t.market_value)
        for t in call.transfers
    ]
    assert [(r["role"], frac(r["value"])) for r in record.issuance_required] == [
        (str(i.party), i.value) for i in call.issuance_required
    ]
    assert [(m["role"], m["token"], int(m["quantity"])) for m in record.mints] == [
        (str(m.party), m.token, m.quantity) for m in call.mints
    ]

    def moves(ts: object) -> list[tuple[str, int, str, str, str]]:
        return [(t.token, t.quantity, str(t.direction),
                 (t.trade_date.isoformat() if isinstance(t.trade_date, date) else t.trade_date),
                 (t.settle_date.isoformat() if isinstance(t.settle_date, date)
                  else t.settle_date))
                for t in ts]  # type: ignore[attr-defined]

    assert moves(record.settled) == moves(day.settled)
    assert moves(record.pending) == moves(day.pending)
    assert {k: int(v) for k, v in raw["held"].items()} == dict(
        zip(call.collateral, day.held, strict=True))


def cross_currency(case: Case, stock_extra: int) -> tuple[str, str, int]:
    """The DESIGN example's tokens: a EUR bond (percent of par) lent against a USD stock."""
    bond = case.define("EUBOND", "ST", "EUR", "percent-of-par")
    stock = case.define("USSTK", "ST", "USD")
    # collateral sized with the engine: ceil(V_L / unit value of the stock) on the start date
    day1 = eng.Market.parse(D1.isoformat(), {bond: "101.25", stock: "50.00"}, FX[D1])
    v_l = 1_000_000 * eng.unit_value(case.tokens[bond], day1, "USD")
    shares = math.ceil(v_l / eng.unit_value(case.tokens[stock], day1, "USD"))
    assert (v_l, shares) == (Fraction(1_113_750), 22_275)
    case.issue(LENDER, bond, 1_000_000)
    case.issue(BORROWER, stock, shares + stock_extra)
    case.post(D1, {bond: "101.25", stock: "50.00"})
    return bond, stock, shares


def tanpo_cli(state_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TANPO, *args], env=state_env,
                          capture_output=True, text=True, timeout=120)


# ---- the tests ------------------------------------------------------------------------------


def test_cross_currency_example_returns_131_shares_once(case: Case,
                                                        state_env: dict[str, str]) -> None:
    bond, stock, shares = cross_currency(case, stock_extra=1_000)
    agreement = case.open("XCCY", (bond, 1_000_000), [CollateralLeg(stock, shares)], "USD")
    case.post(D2, {bond: "101.00", stock: "50.40"})
    supply = {t: case.desk.oracle.total_supply(t) for t in (bond, stock)}

    record, day = case.call(D2)
    # the DESIGN example, and the engine's answer for it (assert_same compared every field)
    assert record.vl == 1_116_050 and record.vc_before == 1_122_660
    assert [(t.token, t.quantity, t.sender, t.receiver) for t in record.transfers] == [
        (stock, 131, LENDER, BORROWER)
    ]
    assert [(t.token, t.quantity) for t in day.call.transfers] == [(stock, 131)]
    assert record.vc_after == Fraction(1_122_660) - 131 * Fraction("50.40")
    assert case.desk.held(agreement) == {stock: shares - 131}
    assert case.desk.free(BORROWER, stock) == 1_000 + 131
    assert {t: case.desk.oracle.total_supply(t) for t in (bond, stock)} == supply
    case.assert_supply_is_held_or_free()

    # the same date again, through the API and through the CLI: the record, nothing moves
    before = case.snapshot()
    receipt = case.desk.oracle.call_margin(agreement, D2, PAIR)
    case.desk.settle()
    assert (receipt["status"], receipt["txId"]) == ("replayed", record.tx_id)
    again = case.desk.book.margin_call(agreement, D2)  # a party's call reads the record back
    case.desk.settle()
    assert again.replayed and again.tx_id == record.tx_id
    assert call_json(again) == {**call_json(record), "replayed": True}
    out = tanpo_cli(state_env, "margin", "run", "--date", D2.isoformat(),
                    "--agreement", agreement, "--json")
    assert out.returncode == 0, out.stderr
    (outcome,) = json.loads(out.stdout)["outcomes"]
    assert outcome["status"] == "replayed" and outcome["call"]["txId"] == record.tx_id
    assert outcome["call"]["transfers"][0]["quantity"] == 131
    case.desk.sync(LENDER)
    assert case.snapshot() == before
    assert [c.date for c in case.desk.book.margin_calls(agreement)] == [D2]

    shown = tanpo_cli(state_env, "margin", "show", agreement, "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["calls"] == [call_json(case.desk.book.get_margin_call(agreement, D2))]
    assert (doc["calls"][0]["vl"], doc["calls"][0]["vcBefore"]) == ("1116050", "1122660")
    assert doc["calls"][0]["transfers"][0]["value"] == "33012/5"  # 131 × 50.40, exact
    case.finish()

def test_shortfall_the_borrower_delivers(case: Case, state_env: dict[str, str]) -> None:
    bond, stock, shares = cross_currency(case, stock_extra=2_000)
    agreement = case.open("SHORT", (bond, 1_000_000), [CollateralLeg(stock, shares)], "USD")
    # the other way: the bond rises, the stock falls; posted through the CLI, as the oracle
    out = tanpo_cli(state_env, "prices", "post", "--date", D2.isoformat(),
                    "--price", f"{bond}=101.50", "--price", f"{stock}=49.60",
                    "--fx", f"EURUSD={FX[D2]['EURUSD']}", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["changed"] is True
    case.desk.sync(OPERATOR)
    case.market(D2, {bond: "101.50", stock: "49.60"}, FX[D2])
    supply = {t: case.desk.oracle.total_supply(t) for t in (bond, stock)}

    record, day = case.call(D2)
    # V_L = 1,000,000 × 1.015 × 1.105; V_C = 22,275 × 49.60; deliver ceil(16,735 / 49.60)
    assert (record.vl, record.vc_before) == (Fraction(1_121_575), Fraction(1_104_840))
    assert [(t.token, t.quantity, t.sender, t.receiver) for t in record.transfers] == [
        (stock, 338, BORROWER, LENDER)
    ]
    assert record.gap_after >= 0 and not record.issuance_required and not record.mints
    assert case.desk.held(agreement) == {stock: shares + 338}
    assert case.desk.free(BORROWER, stock) == 2_000 - 338
    assert {t: case.desk.oracle.total_supply(t) for t in (bond, stock)} == supply
    case.assert_supply_is_held_or_free()
    assert day.positions.borrower_free == {stock: 2_000 - 338}
    case.finish()

def test_multi_mode_goes_through_the_priority_order_then_auto_issues(case: Case) -> None:
    """CT1 → CT2 for a shortfall, CT2 → CT1 for an excess, and a mint of CT1 when the borrower
    runs out of both (auto-issue); per-token haircut on CT2."""
    bond = case.define("UST", "ST", "USD", "percent-of-par")
    ct1, ct2 = case.define("STKA", "ST", "USD"), case.define("STKB", "ST", "USD")
    case.issue(LENDER, bond, 1_000_000)
    case.issue(BORROWER, ct1, 5_000 + 1_000)
    case.issue(BORROWER, ct2, 10_000 + 1_500)
    case.post(D1, {bond: "100.00", ct1: "100.00", ct2: "50.00"}, fx=False)
    case.open(
        "MULTI", (bond, 1_000_000),
        [CollateralLeg(ct1, 5_000), CollateralLeg(ct2, 10_000, Fraction("0.10"))], "USD",
        haircut=Fraction("0.02"), mode="multi", auto_issue=True,
    )
    supply = {t: case.desk.oracle.total_supply(t) for t in case.tokens}

    # D2: shortfall. CT1 (1,000 free) is exhausted, the rest comes from CT2.
    case.post(D2, {bond: "101.00", ct1: "90.00", ct2: "48.00"}, fx=False)
    record, _ = case.call(D2)
    assert [(t.token, t.quantity, t.direction) for t in record.transfers] == [
        (ct1, 1_000, "borrower->lender"), (ct2, 1_130, "borrower->lender")]
    assert not record.mints and record.gap_after >= 0

    # D3: excess. Returned from the last priority first (CT2), and it covers it.
    case.post(D3, {bond: "100.00", ct1: "100.00", ct2: "55.00"}, fx=False)
    record, _ = case.call(D3)
    assert [t.token for t in record.transfers] == [ct2]
    assert record.transfers[0].direction == "lender->borrower"
    assert {t: case.desk.oracle.total_supply(t) for t in case.tokens} == supply
    case.assert_supply_is_held_or_free()

    # D4: a shortfall larger than everything bank-b has: both tokens exhausted, CT1 minted.
    case.post(D4, {bond: "104.00", ct1: "60.00", ct2: "30.00"}, fx=False)
    free_before = {t: case.desk.free(BORROWER, t) for t in (ct1, ct2)}
    record, _ = case.call(D4)
    assert [r["role"] for r in record.issuance_required] == ["borrower"]
    (mint,) = record.mints
    minted = int(mint["quantity"])
    assert mint["token"] == ct1 and mint["party"] == BORROWER and minted > 0
    # bank-b had no CT1 left: it delivers all its CT2, then the minted CT1 (listed last)
    assert free_before[ct1] == 0
    assert [(t.token, t.quantity) for t in record.transfers] == [
        (ct2, free_before[ct2]), (ct1, minted)]
    assert record.gap_after >= 0
    assert case.desk.oracle.total_supply(ct1) == supply[ct1] + minted == int(mint["supply"])
    assert case.desk.oracle.total_supply(ct2) == supply[ct2]
    case.assert_supply_is_held_or_free()
    case.finish()

def test_lag_one_transfer_is_pending_then_settles_the_next_day(case: Case) -> None:
    loan = case.define("LOANSTK", "ST", "USD")
    coll = case.define("COLLSTK", "ST", "USD")
    case.issue(LENDER, loan, 10_000)
    case.issue(BORROWER, coll, 20_000 + 5_000)
    case.post(D1, {loan: "100", coll: "50"}, fx=False)
    agreement = case.open("LAG1", (loan, 10_000), [CollateralLeg(coll, 20_000)], "USD",
                          settlement_lag_days=1)

    # D2: the loan rises 5 %: bank-b owes 1,000 shares, due on D3
    case.post(D2, {loan: "105", coll: "50"}, fx=False)
    before = case.snapshot()
    record, day = case.call(D2)
    assert [(t.token, t.quantity, t.settle_date) for t in record.pending] == [(coll, 1_000, D3)]
    assert not record.settled and day.pending
    assert case.desk.held(agreement) == {coll: 20_000}
    assert case.desk.free(BORROWER, coll) == 5_000
    after = case.snapshot()
    assert after["free"] == before["free"] and after["positions"] == before["positions"]
    assert [(p["token"], p["quantity"], p["settleDate"]) for p in after["pending"]] == [  # type: ignore[attr-defined]
        (coll, "1000", D3.isoformat())]

    # D3: D2's transfer settles first, then D3's own call (again pending, for D4)
    case.post(D3, {loan: "106", coll: "50"}, fx=False)
    record, day = case.call(D3)
    assert [(t.token, t.quantity, t.trade_date, t.settle_date) for t in record.settled] == [
        (coll, 1_000, D2, D3)]
    assert [(t.quantity, t.settle_date) for t in record.pending] == [(200, D4)]
    assert case.desk.held(agreement) == {coll: 21_000}
    assert case.desk.free(BORROWER, coll) == 5_000 - 1_000
    case.assert_supply_is_held_or_free()
    case.finish()

def test_a_missing_price_or_rate_is_refused_by_name(case: Case,
                                                   state_env: dict[str, str]) -> None:
    bond, stock, shares = cross_currency(case, stock_extra=0)
    agreement = case.open("MISSING", (bond, 1_000_000), [CollateralLeg(stock, shares)], "USD")
    # D2 holds the bond's price and EURUSD, not the stock's
    case.post(D2, {bond: "101.00"})
    # D3 holds both prices but no EURUSD (nothing in this module posts FX for D3)
    case.post(D3, {bond: "101.00", stock: "50.40"}, fx=False)
    before = case.snapshot()

    with pytest.raises(EndorseError) as info:
        case.desk.oracle.call_margin(agreement, D2, PAIR)
    message = info.value.chaincode_message
    assert f"no price for {stock} on {D2.isoformat()}" in message and agreement in message

    out = tanpo_cli(state_env, "--as", LENDER, "margin", "run", "--date", D3.isoformat(),
                    "--agreement", agreement)
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert "missing_fx" in out.stderr and "EUR" in out.stderr and agreement in out.stderr

    assert case.snapshot() == before
    assert case.desk.book.margin_calls(agreement) == []
    with pytest.raises(EvaluateError, match="no margin call"):
        case.desk.book.get_margin_call(agreement, D2)
    case.finish()

def test_cli_sweep_margins_in_batches_and_records_the_day(case: Case,
                                                       state_env: dict[str, str]) -> None:
    loan = case.define("SWLOAN", "ST", "USD")
    coll = case.define("SWCOLL", "ST", "USD")
    case.issue(LENDER, loan, 3 * 1_000)
    case.issue(BORROWER, coll, 3 * 2_000 + 1_000)
    case.post(D1, {loan: "100", coll: "50"}, fx=False)
    ids = [case.open(f"SW{i}", (loan, 1_000), [CollateralLeg(coll, 2_000)], "USD")
           for i in range(3)]
    books = {}
    for agreement_id in ids:
        assert case.book is not None
        books[agreement_id] = eng.AgreementBook(case.book.agreement, eng.Positions(
            held={coll: 2_000}, borrower_free={coll: 1_000}))
    case.post(D2, {loan: "98", coll: "50"}, fx=False)

    out = tanpo_cli(state_env, "margin", "run", "--date", D2.isoformat(), "--page-size", "2",
                    "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["complete"] is True and doc["pages"] >= 2
    mine = {o["agreement"]: o for o in doc["outcomes"] if o["agreement"] in ids}
    assert sorted(mine) == ids and all(o["status"] == "called" for o in mine.values())
    # the oracle's outcomes are receipts: the records are the two banks'
    assert all("call" not in o for o in mine.values())
    case.desk.sync(OPERATOR)
    records = {}
    for agreement_id in ids:
        record = records[agreement_id] = case.desk.book.get_margin_call(agreement_id, D2)
        day = books[agreement_id].apply_day(case.markets[D2])
        assert_same(record, day)
        assert [(t.quantity, t.direction) for t in record.transfers] == [(40, "lender->borrower")]

    # a party sweeps only its own agreements; they were called already
    out = tanpo_cli(state_env, "--as", BORROWER, "margin", "run", "--date", D2.isoformat(),
                    "--json")
    assert out.returncode == 0, out.stderr
    outcomes = json.loads(out.stdout)["outcomes"]
    assert {o["agreement"]: o["status"] for o in outcomes if o["agreement"] in ids} == {
        i: "replayed" for i in ids}
    assert all(o["call"]["borrower"] == BORROWER for o in outcomes if "call" in o)
    # the party reads its records: the same as the lender's
    assert {o["agreement"]: o["call"]["txId"] for o in outcomes if o["agreement"] in ids} == {
        i: records[i].tx_id for i in ids}

    shown = tanpo_cli(state_env, "prices", "show", "--date", D2.isoformat(), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["prices"][loan] == "98"
    case.assert_supply_is_held_or_free()
    case.finish()
