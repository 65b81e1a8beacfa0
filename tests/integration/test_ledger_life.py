"""A token's and an agreement's life on the real network, through the SDK and the `tanpo` CLI.

Tokens are defined, requested and issued; an agreement is proposed, approved (the opening
exchange), read and closed (the closing exchange), with every balance checked at every step and
every token's supply equal to the free balances plus the collateral held. Then the failure paths:
an approval with short balances, actions by the wrong party, unknown ids and malformed amounts,
each refused with a clear error and nothing changed; a CDM export proposed again to the same
terms; an early termination watched as events; an industry CDM record (a FINOS sample) proposed
as it is with a party map, approved, exported and checked.

Every token and agreement id carries a random tag, and every agreement here runs in June 2000,
before anything other test files price or sweep (the FINOS sample keeps its own May 2025 dates),
and is closed, rejected or withdrawn by the end of the module, so later sweeps never meet it.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from fractions import Fraction
from pathlib import Path

import pytest

from tanpo.client import private
from tanpo.client.api import Party, TanpoClient, TokenAdministrator
from tanpo.client.connect import Connection
from tanpo.client.errors import EndorseError, EvaluateError, GatewayError
from tanpo.client.models import CollateralLeg, Terms, Token
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile
from tanpo.client.session import Session
from tests.integration.conftest import TANPO

LENDER, BORROWER, OPERATOR = "bank-a", "bank-b", "operator"
TRADE, END = date(2000, 6, 1), date(2000, 6, 30)
TAG = uuid.uuid4().hex[:6].upper()
ST, ST2, CT = f"LL{TAG}-ST", f"LL{TAG}-ST2", f"LL{TAG}-CT"
ISSUED = {(LENDER, ST): 10_000, (BORROWER, CT): 5_000_000}


# ---- the desk: connections, balances, the supply invariant -----------------------------------


@dataclass
class Desk:
    profile: Profile
    env: dict[str, str]
    session: Session
    conns: dict[str, Connection]
    agreements: list[str] = field(default_factory=list)

    @property
    def admin(self) -> TokenAdministrator:
        return TokenAdministrator(self.conns[OPERATOR])

    @property
    def reader(self) -> TanpoClient:
        """The operator reads every party's balances and the supply."""
        return TanpoClient(self.conns[OPERATOR])

    @property
    def book(self) -> TanpoClient:
        """The lender reads the agreements and the collateral held: the operator may not (the
        records are private to the two banks)."""
        return TanpoClient(self.conns[LENDER])

    def party(self, name: str) -> Party:
        return Party(self.conns[name])

    def settle(self) -> None:
        """After an SDK submit: every peer has it before the next step reads or acts elsewhere."""
        self.session.settle()

    def cli(self, *args: str, as_: str | None = None, code: int = 0
            ) -> subprocess.CompletedProcess[str]:
        """`python -m tanpo [--as …] args` against the test network; checks the exit code."""
        command = [*TANPO, *(["--as", as_] if as_ else []), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, (
            f"{' '.join(args)}: exit {done.returncode}, expected {code}\n"
            f"stdout: {done.stdout}\nstderr: {done.stderr}")
        return done

    def cli_json(self, *args: str, as_: str | None = None) -> object:
        return json.loads(self.cli(*args, "--json", as_=as_).stdout)

    def height(self) -> int:
        return self.conns[OPERATOR].block_height()

    def sheet(self) -> dict[tuple[str, str], int]:
        """Free balances of both banks in this module's tokens (absent = 0)."""
        out = {}
        for party in (LENDER, BORROWER):
            for b in self.reader.balances(party):
                if b.token in (ST, ST2, CT):
                    out[(party, b.token)] = b.quantity
        return out

    def held(self, agreement_id: str) -> dict[str, int]:
        return {p.token: p.held for p in self.book.collateral_held(agreement_id) if p.held}

    def assert_conserved(self) -> None:
        """Supply = free balances + collateral held under every agreement, per token."""
        free = self.sheet()
        held: dict[str, int] = {}
        for agreement_id in self.agreements:
            for token, quantity in self.held(agreement_id).items():
                held[token] = held.get(token, 0) + quantity
        for token in (ST, CT):
            in_hand = sum(q for (_, t), q in free.items() if t == token)
            assert self.reader.total_supply(token) == in_hand + held.get(token, 0), token
            assert self.reader.total_supply(token) == sum(
                q for (_, t), q in ISSUED.items() if t == token)

    def terms(self, name: str, **over: object) -> Terms:
        base = Terms(
            id=f"LL-{TAG}-{name}", lender=LENDER, borrower=BORROWER, loan_token=ST,
            loan_quantity=1_000, collateral=(CollateralLeg(CT, 600_000),), base_currency="JPY",
            haircut=Fraction(5, 100), threshold=Fraction(2, 100), trade_date=TRADE,
            start_date=TRADE, end_date=END,
        )
        return replace(base, **over)  # type: ignore[arg-type]

    def propose(self, terms: Terms, by: str = LENDER) -> str:
        proposer = self.party(by)
        proposer.propose(terms)
        self.settle()
        self.agreements.append(terms.id)
        return terms.id

    def status(self, agreement_id: str) -> str:
        return self.book.agreement(agreement_id).status

    def refused(self, by: Party | TokenAdministrator, call: str, *args: object) -> str:
        """Run an SDK call that the chaincode must refuse; returns the chaincode's message."""
        with pytest.raises(GatewayError) as info:
            getattr(by, call)(*args)
        assert isinstance(info.value, EndorseError | EvaluateError)
        return info.value.chaincode_message


@pytest.fixture(scope="module")
def desk(profile: Profile, state_env: dict[str, str], session: Session) -> Iterator[Desk]:
    conns = {p: session.as_(p).connection for p in (OPERATOR, LENDER, BORROWER)}
    conns["bank-b/Admin"] = session.as_(BORROWER, "Admin").connection
    d = Desk(profile, state_env, session, conns)
    try:
        yield d
    finally:
        _tidy(d)


def _tidy(d: Desk) -> None:
    """Leave no agreement of this module open, whatever failed (later sweeps would meet it)."""
    for agreement_id in d.agreements:
        try:
            a = d.book.agreement(agreement_id)
            if a.status == "PROPOSED":
                proposer = d.party(a.proposer)
                proposer.withdraw(agreement_id)
                d.settle()
            elif a.status == "ACTIVE":
                lender = d.party(a.terms.lender)
                lender.close(agreement_id)
                d.settle()
        except GatewayError:
            pass


@pytest.fixture(scope="module")
def issued(desk: Desk) -> Desk:
    """ST and CT defined (one through the CLI), requested and issued, checked at every step."""
    spec = desk.cli_json("token", "define", ST, "--kind", "ST", "--currency", "JPY",
                         "--ticker", ST, "--asset-class", "equity", "--name", "life test ST")
    assert isinstance(spec, dict) and spec["id"] == ST and spec["kind"] == "ST"
    admin = desk.admin
    admin.define_token(Token(CT, "CT", "JPY", "per-unit", "cash"))
    admin.define_token(Token(ST2, "ST", "JPY", "per-unit", "equity", ticker=ST2))
    desk.settle()
    assert desk.reader.total_supply(ST) == desk.reader.total_supply(CT) == 0
    assert desk.sheet() == {}

    # bank-a asks for ST through the CLI; the administrator issues it through the CLI
    request = desk.cli_json("token", "issue-request", ST, "10000", "--reference", "dep-ST",
                            as_=LENDER)
    assert isinstance(request, dict)
    assert request["status"] == "PENDING" and request["party"] == LENDER
    assert desk.sheet() == {} and desk.reader.total_supply(ST) == 0  # a request moves nothing
    out = desk.cli("token", "issue", request["id"]).stdout
    assert f"issued 10,000 {ST} to {LENDER}" in out
    assert desk.sheet() == {(LENDER, ST): 10_000}

    # bank-b asks for CT through the SDK
    borrower = desk.party(BORROWER)
    req = borrower.request_issuance(CT, 5_000_000, "dep-CT")
    desk.settle()
    assert desk.sheet() == {(LENDER, ST): 10_000}
    approved = admin.approve_issuance(req.id)
    desk.settle()
    assert approved.status == "APPROVED"
    assert desk.sheet() == ISSUED
    desk.assert_conserved()
    return desk


# ---- the spine: open, read, close --------------------------------------------------------------


def test_balances_read_through_the_cli(issued: Desk) -> None:
    mine = issued.cli_json("balance", as_=BORROWER)
    assert isinstance(mine, dict) and mine["party"] == BORROWER
    assert {b["token"]: b["quantity"] for b in mine["balances"]}[CT] == "5000000"
    table = issued.cli("balance", LENDER, "--token", ST).stdout
    assert f"free balances of {LENDER}" in table and "10,000" in table
    # a bank reads only its own
    other = issued.cli("balance", LENDER, as_=BORROWER, code=3)
    assert f"refused: access denied: {BORROWER} cannot read the balances of {LENDER}" in (
        other.stderr)


def test_propose_approve_read_close(issued: Desk) -> None:
    d = issued
    start = d.sheet()
    agreement_id = f"LL-{TAG}-MAIN"
    proposed = d.cli_json(
        "agreement", "propose", "--lender", LENDER, "--borrower", BORROWER,
        "--loan", f"{ST}=1000", "--collateral", f"{CT}=600000", "--base", "JPY",
        "--haircut", "0.05", "--threshold", "0.02", "--trade-date", TRADE.isoformat(),
        "--end-date", END.isoformat(), "--id", agreement_id, as_=LENDER)
    d.agreements.append(agreement_id)
    assert isinstance(proposed, dict) and proposed["status"] == "PROPOSED"
    assert proposed["terms"]["haircut"] == "0.05" and proposed["terms"]["loan"] == {
        "token": ST, "quantity": "1000"}
    assert d.sheet() == start and d.held(agreement_id) == {}

    # the opening exchange: loan lender -> borrower, collateral borrower -> held for the lender
    borrower = d.party(BORROWER)
    active = borrower.approve(agreement_id)
    d.settle()
    assert active.status == "ACTIVE"
    assert d.sheet() == {(LENDER, ST): 9_000, (BORROWER, ST): 1_000, (BORROWER, CT): 4_400_000}
    assert d.held(agreement_id) == {CT: 600_000}
    d.assert_conserved()

    # reads: the borrower through the SDK, the lender through the CLI (table and JSON)
    assert d.party(BORROWER).agreement(agreement_id).terms == replace(
        d.terms("MAIN"), id=agreement_id)
    shown = d.cli("agreement", "show", agreement_id, as_=LENDER).stdout
    for text in ("ACTIVE", "1,000 " + ST, "5%", "2%", "2000-06-01 / 2000-06-01 / 2000-06-30",
                 "600,000"):
        assert text in shown, text
    report = d.cli_json("agreement", "collateral", agreement_id, as_=BORROWER)
    assert isinstance(report, dict)
    assert [(p["token"], p["held"]) for p in report["positions"]] == [(CT, "600000")]
    listed = d.cli_json("agreement", "list", "--status", "ACTIVE", as_=LENDER)
    assert isinstance(listed, list) and agreement_id in [a["id"] for a in listed]

    # the closing exchange (the end date has passed), by the borrower through the CLI
    closed = d.cli("agreement", "close", agreement_id, as_=BORROWER).stdout
    assert f"closed {agreement_id}: now CLOSED" in closed
    assert d.sheet() == start and d.held(agreement_id) == {}
    assert d.status(agreement_id) == "CLOSED"
    d.assert_conserved()
    history = d.cli_json("agreement", "history", agreement_id, as_=LENDER)
    assert isinstance(history, list)
    assert [(h["action"], h["party"]) for h in history] == [
        ("PROPOSED", LENDER), ("APPROVED", BORROWER), ("CLOSED", BORROWER)]


# ---- failure paths: clear errors, nothing changed ----------------------------------------------


def test_approval_with_short_balances_moves_nothing(issued: Desk) -> None:
    d = issued
    start = d.sheet()
    # the borrower is short of collateral
    short_c = d.propose(d.terms("SHORTC", collateral=(CollateralLeg(CT, 9_000_000),)))
    message = d.refused(d.party(BORROWER), "approve", short_c)
    assert message == f"insufficient balance: {BORROWER} needs 9000000 {CT} but has 5000000 free"
    # the lender is short of the loan (and the CLI says so with exit 3 and a hint)
    short_l = d.propose(d.terms("SHORTL", loan_quantity=25_000))
    failed = d.cli("agreement", "approve", short_l, as_=BORROWER, code=3)
    assert (f"refused: insufficient balance: {LENDER} needs 25000 {ST} but has 10000 free"
            in failed.stderr)
    assert "hint:" in failed.stderr
    for agreement_id in (short_c, short_l):
        assert d.status(agreement_id) == "PROPOSED"
        assert d.held(agreement_id) == {}
    assert d.sheet() == start
    d.assert_conserved()
    for agreement_id in (short_c, short_l):
        lender = d.party(LENDER)
        lender.withdraw(agreement_id)
        d.settle()
        assert d.status(agreement_id) == "WITHDRAWN"


def test_wrong_parties_are_refused_and_nothing_changes(issued: Desk) -> None:
    d = issued
    start = d.sheet()
    agreement_id = d.propose(d.terms("WRONG"))
    height = d.height()

    own = d.refused(d.party(LENDER), "approve", agreement_id)
    assert own == (f"access denied: {LENDER} proposed agreement {agreement_id}; only the "
                   f"counterparty {BORROWER} can approve it")
    # the operator's User1 is registered (token administrator, oracle), but not a party: the
    # SDK cannot even read the agreement for it, and the approval itself, sent in the pair as a
    # bank would, is refused for the missing role
    operator = d.refused(Party(d.conns[OPERATOR]), "approve", agreement_id)
    assert operator.startswith("access denied: the operator does not see bilateral agreements")
    with pytest.raises(EndorseError) as info:
        private.submit(d.conns[OPERATOR].contract("agreements"), "Approve", agreement_id,
                       pair=pair_collection(LENDER, BORROWER))
    operator = info.value.chaincode_message
    assert operator.startswith("access denied: ") and "does not have the party role" in operator
    admin = d.refused(Party(d.conns["bank-b/Admin"]), "approve", agreement_id)
    assert admin.startswith("access denied: ") and "not registered in the role registry" in admin
    withdraw = d.refused(d.party(BORROWER), "withdraw", agreement_id)
    assert withdraw == (f"access denied: only the proposer {LENDER} can withdraw agreement "
                        f"{agreement_id}")
    # an agreement between other banks: bank-a is unrelated to it
    # (sent in a pair of bank-a's own: this network has no bank-c whose peers could endorse)
    others = replace(d.terms("OTHERS"), lender=BORROWER, borrower="bank-c")
    with pytest.raises(EndorseError) as info:
        private.submit(d.conns[LENDER].contract("agreements"), "Propose",
                       json.dumps(others.to_json()), pair=pair_collection(LENDER, BORROWER))
    unrelated = info.value.chaincode_message
    assert unrelated == (f"access denied: {LENDER} can only propose agreements in which it is "
                         "the lender or the borrower")

    # the same through the CLI: exit 3, the chaincode's words; the org admin gets a hint
    cli_own = d.cli("agreement", "approve", agreement_id, as_=LENDER, code=3)
    assert f"refused: access denied: {LENDER} proposed agreement" in cli_own.stderr
    cli_admin = d.cli("agreement", "approve", agreement_id, "--json", as_="bank-b/Admin", code=3)
    error = json.loads(cli_admin.stdout)["error"]
    assert error["kind"] == "refused" and "not registered" in error["message"]
    assert "--as bank-a/User1" in error["hint"]

    assert d.height() == height  # not one transaction was committed
    assert d.status(agreement_id) == "PROPOSED" and d.held(agreement_id) == {}
    assert d.sheet() == start

    borrower = d.party(BORROWER)
    rejected = borrower.reject(agreement_id, "wrong parties test")
    d.settle()
    assert rejected.status == "REJECTED"
    assert d.sheet() == start


def test_unknown_ids_are_refused(issued: Desk) -> None:
    d = issued
    start, height = d.sheet(), d.height()
    nope = f"LL-{TAG}-NOPE"
    # a bank is not told whether an agreement that is not its own exists (issue 16)
    assert d.refused(d.party(BORROWER), "approve", nope) == (
        f"access denied: agreement {nope} does not exist or {BORROWER} is not a party to it")
    assert d.refused(d.admin, "approve_issuance", "ISS-0000000000000000") == (
        "no request ISS-0000000000000000")
    assert d.refused(d.party(LENDER), "transfer", f"{ST}-NOPE", BORROWER, 1) == (
        f"unknown token {ST}-NOPE")
    shown = d.cli("agreement", "show", f"LL-{TAG}-NOPE", "--json", as_=LENDER, code=3)
    assert json.loads(shown.stdout) == {"error": {
        "kind": "refused",
        "message": f"access denied: agreement {nope} does not exist or {LENDER} is not a party "
                   "to it"}}
    # the operator sees no agreement at all, existing or not
    assert d.refused(d.admin, "agreement", nope).startswith(
        "access denied: the operator does not see bilateral agreements")
    issue = d.cli("token", "issue", "ISS-0000000000000000", code=3)
    assert "refused: no request ISS-0000000000000000" in issue.stderr
    assert d.height() == height and d.sheet() == start


def test_malformed_amounts_never_reach_the_network(issued: Desk) -> None:
    d = issued
    start, height = d.sheet(), d.height()
    for args, words in (
        (("token", "issue-request", CT, "1.5", "--reference", "x"), "no decimal point"),
        (("transfer", CT, "+5", "--to", LENDER), "expected a whole number"),
        (("transfer", CT, "1,000", "--to", LENDER), "no thousands separators"),
        (("agreement", "propose", "--lender", LENDER, "--borrower", BORROWER, "--loan",
          f"{ST}=1000", "--collateral", f"{CT}=6e5", "--base", "JPY", "--trade-date",
          TRADE.isoformat(), "--end-date", END.isoformat()), f"collateral quantity of {CT}"),
        (("agreement", "propose", "--lender", LENDER, "--borrower", BORROWER, "--loan",
          f"{ST}=1000", "--collateral", f"{CT}=600000", "--base", "JPY", "--haircut", "5%",
          "--trade-date", TRADE.isoformat(), "--end-date", END.isoformat()),
         "invalid --haircut '5%'"),
    ):
        failed = d.cli(*args, as_=BORROWER, code=2)
        assert words in failed.stderr, failed.stderr
    assert d.height() == height  # nothing was submitted at all
    # and had a malformed quantity been sent anyway, the chaincode refuses it too
    raw = d.conns[BORROWER].contract("tokens")
    with pytest.raises(EndorseError) as info:
        raw.submit("Transfer", CT, LENDER, "1e3")
    assert info.value.chaincode_message.startswith('invalid quantity "1e3"')
    assert d.sheet() == start
    d.assert_conserved()


# ---- CDM round trip, early termination, events ---------------------------------------------


def test_cdm_round_trip_on_the_network(issued: Desk, tmp_path: Path) -> None:
    d = issued
    rich = d.terms("CDM", collateral=(CollateralLeg(CT, 600_000),
                                      CollateralLeg(ST2, 0, Fraction(1, 10))),
                   mode="multi", settlement_lag_days=1, auto_issue=True,
                   minimum_transfer_amount=Fraction(10005, 10), end_date=None)
    original = d.propose(rich)
    exported = tmp_path / "trade.json"
    d.cli("agreement", "export", original, "--cdm", "--out", str(exported), as_=LENDER)
    doc = json.loads(exported.read_text())
    collateral = doc["trade"]["product"]["economicTerms"]["collateral"]
    assert collateral["collateralProvisions"]["collateralType"] == "NonCash"
    assert doc["tanpoExtension"]["collateralPriority"] == [CT, ST2]

    copy_id = f"LL-{TAG}-CDM-COPY"
    d.cli("agreement", "propose", "--cdm", str(exported), "--id", copy_id, as_=BORROWER)
    d.agreements.append(copy_id)
    copied = d.book.agreement(copy_id)
    assert copied.proposer == BORROWER
    assert copied.terms == replace(d.book.agreement(original).terms, id=copy_id)
    assert copied.terms == replace(rich, id=copy_id)

    lender = d.party(LENDER)
    lender.withdraw(original)
    d.settle()
    borrower = d.party(BORROWER)
    borrower.withdraw(copy_id)
    d.settle()


def test_early_termination_seen_as_events(issued: Desk) -> None:
    d = issued
    start = d.sheet()
    agreement_id = d.propose(d.terms("TERM", end_date=None))  # open: no end date
    first_block = d.session.last_block
    borrower = d.party(BORROWER)
    borrower.approve(agreement_id)
    d.settle()
    assert d.held(agreement_id) == {CT: 600_000}
    early = d.cli("agreement", "close", agreement_id, as_=LENDER, code=3)
    assert "is open (no end date)" in early.stderr
    asked = d.cli("agreement", "terminate", agreement_id, "--note", "done early", as_=LENDER)
    assert f"tanpo --as {BORROWER} agreement accept-termination {agreement_id}" in asked.stdout
    closed = d.cli_json("agreement", "accept-termination", agreement_id, as_=BORROWER)
    assert isinstance(closed, dict) and closed["status"] == "CLOSED"
    assert d.sheet() == start and d.held(agreement_id) == {}
    d.assert_conserved()

    names = ["AgreementProposed", "AgreementApproved", "TerminationRequested",
             "AgreementClosed"]
    watched = d.cli("events", "watch", "--from-block", str(first_block), "--count", "4",
                    "--json", *(x for n in names for x in ("--type", n)), as_=LENDER).stdout
    seen = [json.loads(line) for line in watched.splitlines()]
    assert [e["name"] for e in seen] == names
    assert {e["payload"]["agreement"] for e in seen} == {agreement_id}
    assert seen[-1]["payload"]["reason"] == "early-termination"
    # events name ids and steps, never terms or quantities (the balances above show the moves)
    assert [e["payload"]["status"] for e in seen] == ["PROPOSED", "ACTIVE", "ACTIVE", "CLOSED"]
    for e in seen:
        assert not {"transfers", "terms", "loan", "collateral"} & set(e["payload"]), e


def test_the_business_time_zone_through_the_cli(issued: Desk) -> None:
    """`tanpo platform`: any identity reads the settings; the operator's admin (the default
    identity of set-time-zone) changes the zone, a bank is refused and nothing changes."""
    shown = issued.cli_json("platform", "show")
    assert isinstance(shown, dict) and shown["timeZone"] == "Asia/Tokyo"
    assert shown["utcOffset"] == "+09:00" and shown["businessDate"]
    refused = issued.cli("platform", "set-time-zone", "Asia/Seoul", as_="bank-a", code=3)
    assert "admin" in refused.stderr
    # Seoul keeps Tokyo's offset, so the other tests' business dates do not move
    changed = issued.cli_json("platform", "set-time-zone", "Asia/Seoul")
    assert isinstance(changed, dict) and changed["timeZone"] == "Asia/Seoul"
    assert issued.reader.platform_settings()["timeZone"] == "Asia/Seoul"
    issued.cli("platform", "set-time-zone", "Asia/Tokyo")
    assert issued.reader.platform_settings()["timeZone"] == "Asia/Tokyo"


# ---- an industry CDM record on the ledger ------------------------------------------------------

FINOS = Path(__file__).resolve().parents[1] / "fixtures" / "cdm" / "finos-sec-lending"


def test_a_finos_cdm_execution_proposed_approved_exported(issued: Desk, tmp_path: Path) -> None:
    """The FINOS execution against cash (1,000,000 shares of ISIN GB00BDR05C01 for 9,997,122 GBP,
    a 1 % rebate) proposed as it is from its CDM file with a party map, approved (the opening
    exchange), exported again as CDM, which `cdm check` maps, and closed early."""
    d = issued
    stock, cash = f"LL{TAG}-GBST", f"LL{TAG}-GBP"
    d.cli("token", "define", stock, "--kind", "ST", "--currency", "GBP", "--asset-class",
          "equity", "--isin", "GB00BDR05C01", "--identifier", "SEDOL=BDR05C0")
    d.admin.define_token(Token(cash, "CT", "GBP", "per-unit", "cash"))
    d.settle()
    for party, token, quantity in ((LENDER, stock, 1_000_000), (BORROWER, cash, 9_997_122)):
        request = d.party(party).request_issuance(token, quantity, "finos")
        d.settle()
        d.admin.approve_issuance(request.id)
        d.settle()

    parties = tmp_path / "parties.json"
    parties.write_text(json.dumps({"parties": {"UKLender": LENDER, "UKBroker": BORROWER}}))
    sample = FINOS / "execution-cash-output.json"
    unmapped = d.cli("agreement", "propose", "--cdm", str(sample), as_=LENDER, code=2)
    assert "no tanpo party for the borrower 'UK Broker'" in unmapped.stderr
    proposed = d.cli_json("agreement", "propose", "--cdm", str(sample), "--parties", str(parties),
                          as_=LENDER)
    assert isinstance(proposed, dict)
    agreement_id = proposed["id"]
    d.agreements.append(agreement_id)
    try:
        terms = d.book.agreement(agreement_id).terms
        assert (terms.lender, terms.borrower) == (LENDER, BORROWER)
        assert (terms.loan_token, terms.loan_quantity) == (stock, 1_000_000)
        assert [(c.token, c.quantity) for c in terms.collateral] == [(cash, 9_997_122)]
        assert terms.rebate is not None and terms.rebate.fixed == 1
        assert terms.reference == "20445678220" and terms.base_currency == "GBP"
        extras = terms.cdm_extras or {}
        assert str(extras["price"]["value"]) == "9.8011"  # exact through the ledger
        assert extras["assetLeg"][0]["deliveryMethod"] == "DeliveryVersusPayment"

        d.party(BORROWER).approve(agreement_id)
        d.settle()
        assert d.status(agreement_id) == "ACTIVE"
        assert d.held(agreement_id) == {cash: 9_997_122}

        exported = tmp_path / "exported.json"
        d.cli("agreement", "export", agreement_id, "--cdm", "--out", str(exported), as_=LENDER)
        checked = d.cli("cdm", "check", str(exported), "--json")  # exit 0: every field mapped
        (report,) = json.loads(checked.stdout)
        (item,) = report["items"]
        assert item["terms"]["rebate"] == {"fixed": "1"}
        assert item["terms"]["cdmExtras"]["price"]["value"] == 9.8011
    finally:
        if d.status(agreement_id) == "ACTIVE":
            d.cli("agreement", "terminate", agreement_id, "--note", "test over", as_=LENDER)
            d.cli("agreement", "accept-termination", agreement_id, as_=BORROWER)
        elif d.status(agreement_id) == "PROPOSED":
            d.party(LENDER).withdraw(agreement_id)
            d.settle()
    assert d.status(agreement_id) == "CLOSED"
