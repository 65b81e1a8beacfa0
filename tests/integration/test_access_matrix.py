"""Access control on the real network: every identity calls every chaincode function.

The identities are the network's own: the operator's admin (the registry administrator, no
business role), operator User1 (token administrator and oracle), operator User2 (oracle only),
bank-a User1 (the lender), bank-b User1 (the borrower), and the two banks' organisation admins
(they run the peers and hold no role). A third bank would need a bigger network than the
session's; the unrelated-bank column is covered by the chaincode's own role table
(``chaincode/contracts/roletable_test.go``), which this matrix mirrors. A certificate from a CA no
organisation trusts, presented under BankAMSP, is refused by the peers themselves.

Every call of the matrix is endorsed (or evaluated) by the real peers and never submitted, so
the allowed ones change nothing either; a denied one must come back as the chaincode's
``access denied: ...`` naming the missing right. Before and after the matrix every peer's block
height and the ledger's view of this module's tokens, balances, requests, agreements, margin
calls, prices and identities are compared.

Privacy: an agreement's records live in its pair's private data collection. Bilateral functions
are called as clients call them (`tanpo.client.private`): arguments in the transient field, the
pair named, submits endorsed by the pair's two peers, reads on the caller's own peer (the
operator's plan on a peer of the pair). The operator is refused every bilateral read, so the
snapshots read agreements, custody and calls as the lender.

Endorsement: a change to an agreement needs both banks' peers (the pair collection's policy). A
proposal endorsed by bank-b's peer alone is ordered and then marked ENDORSEMENT_POLICY_FAILURE by
every peer; the operator's peer, which satisfies the chaincode-level MAJORITY policy with bank-b's,
holds none of the pair's records, so it cannot even endorse one (and if it did the transaction
would fail the same policy); the same two organisations may still endorse a transaction that
touches no agreement.

Ids carry a random tag; the module's dates (November 2000) are before anything other modules
post, and its agreements end there and are closed at the end, so no later sweep meets them.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tanpo.client import (
    CommitError,
    EndorseError,
    EvaluateError,
    Gateway,
    GatewayError,
    Identity,
    ecdsa_signer,
    open_channel,
    private,
)
from tanpo.client.connect import Connection
from tanpo.client.gateway import Contract
from tanpo.client.pairs import msp_id_for, pair_collection, pair_endorsers
from tanpo.client.profile import Profile
from tanpo.client.session import Session
from tests.integration.conftest import submit_json

TAG = uuid.uuid4().hex[:6].upper()
CASH, STOCK = f"AM{TAG}-CASH", f"AM{TAG}-STK"
ACTIVE, PROPOSED, TERMINATING = f"AM-{TAG}-ACT", f"AM-{TAG}-PROP", f"AM-{TAG}-TERM"
START, D1, D2, END = "2000-11-06", "2000-11-07", "2000-11-08", "2000-11-10"
PAIR = pair_collection("bank-a", "bank-b")
#: functions on an agreement's private records: called with the private convention in PAIR
BILATERAL = {
    "agreements:Propose", "agreements:Approve", "agreements:Reject", "agreements:Withdraw",
    "agreements:Close", "agreements:RequestTermination", "agreements:AcceptTermination",
    "agreements:CancelTermination", "agreements:GetAgreement", "agreements:ListAgreements",
    "agreements:CollateralHeld", "agreements:ProposeBatch", "agreements:ApproveBatch",
    "margin:MarginCall", "margin:SweepAgreements", "margin:SweepPlan", "margin:FinishSweep",
    "margin:GetMarginCall", "margin:ListMarginCalls", "margin:GetSweepFailure",
    "agreements:Recall", "agreements:Return", "agreements:GiveNotice", "agreements:Substitute",
    "agreements:ApproveSubstitution", "agreements:CancelSubstitution", "agreements:BuyIn",
    "agreements:DefineSchedule", "agreements:GetSchedule", "margin:DisputeCall",
    "margin:ResolveDispute",
    "margin:AdjustCalls",
    "billing:IssueInvoice", "billing:PayInvoice", "billing:QueryInvoiceLine", "billing:GetInvoice",
}

#: the network identities, by the name the matrix uses for them
IDENTITIES: dict[str, tuple[str, str]] = {
    "operator-admin": ("operator", "Admin"),
    "token-admin+oracle": ("operator", "User1"),
    "oracle": ("operator", "User2"),
    "lender": ("bank-a", "User1"),
    "borrower": ("bank-b", "User1"),
    "bank-a-admin": ("bank-a", "Admin"),
    "bank-b-admin": ("bank-b", "Admin"),
}
#: the chaincode role table's columns each identity stands for (roletable_test.go)
COLUMNS: dict[str, set[str]] = {
    "operator-admin": {"opAdmin"},
    "token-admin+oracle": {"tokenAdmin", "oracle"},
    "oracle": {"oracle"},
    "lender": {"lender"},
    "borrower": {"borrower"},
    "bank-a-admin": {"bankAdmin"},
    "bank-b-admin": {"bankAdmin"},
}

EVERYONE = {"opAdmin", "tokenAdmin", "oracle", "lender", "borrower", "bankC"}
OPERATOR_SIDE = {"opAdmin", "tokenAdmin", "oracle"}
PARTIES = {"lender", "borrower", "bankC"}
AGREEMENT_SIDE = {"lender", "borrower"}  # bilateral records: the operator is refused them
MARGIN_SIDE = {"oracle", "lender", "borrower"}

#: an access-control refusal, naming the right the caller lacks
DENIED = re.compile(
    r"^access denied: .*("
    r"does not have the [a-z-]+( or [a-z-]+)? role"
    r"|is (not registered|revoked) in the role registry"
    r"|does not exist or [a-z0-9-]+ is not a party to it"
    r"|cannot read "
    r"|the operator does not see bilateral agreements"
    r"|[a-z0-9-]+ is not a party to the pair "
    r"|only an admin of OperatorMSP"
    r"|only the operator can"
    r"|only the proposer .* can withdraw"
    r"|only the counterparty .* can"
    r"|only the (lender|borrower) [a-z0-9-]+ can"
    r"|can only propose agreements in which it is the lender or the borrower"
    r"|only .* can accept it"
    r")"
)


# ---- the module's world ---------------------------------------------------------------------


@dataclass
class World:
    profile: Profile
    session: Session
    conns: dict[str, Connection]
    issuance: str = ""
    redemption: str = ""
    user2_id: str = ""
    user2_cert: str = ""
    log: list[str] = field(default_factory=list)

    def contract(self, who: str, name: str) -> Contract:
        return self.conns[who].contract(name)

    def submit(self, who: str, fn: str, *args: str) -> Any:
        # the next step's endorsers (often both banks' peers) must see this one
        if fn not in BILATERAL:
            return submit_json(self.session, self.conns[who], fn, *args)
        contract, _, function = fn.partition(":")
        result = private.submit(self.contract(who, contract), function, *args, pair=PAIR)
        self.session.settle()
        return json.loads(result.result) if result.result else None

    def evaluate(self, who: str, fn: str, *args: str) -> Any:
        contract, _, function = fn.partition(":")
        if fn in BILATERAL:
            raw = private.evaluate(self.contract(who, contract), function, *args, pair=PAIR,
                                   on=plan_peer(who))
        else:
            raw = self.contract(who, contract).evaluate(function, *args)
        return json.loads(raw) if raw else None


def plan_peer(who: str) -> str:
    """Where an identity evaluates a bilateral query: a bank on its own peer, the operator on a
    peer of the pair (the only peers that hold its records; the SDK's sweep plan does the same)."""
    return "bank-a" if IDENTITIES[who][0] == "operator" else ""


def terms(agreement_id: str) -> str:
    return json.dumps({
        "id": agreement_id, "lender": "bank-a", "borrower": "bank-b",
        "loan": {"token": CASH, "quantity": "1000000"},
        "collateral": [{"token": STOCK, "quantity": "1000"}],
        "baseCurrency": "JPY", "haircut": "0", "threshold": "0", "mode": "single",
        "settlementLagDays": 0, "autoIssue": False, "minimumTransferAmount": "0",
        "tradeDate": START, "startDate": START, "endDate": END,
    })


@pytest.fixture(scope="module")
def world(profile: Profile, session: Session) -> Iterator[World]:
    conns = {name: session.as_(party, user).connection
             for name, (party, user) in IDENTITIES.items()}
    w = World(profile, session, conns)
    try:
        ta = "token-admin+oracle"
        w.submit(ta, "tokens:DefineToken",
                 json.dumps({"id": CASH, "kind": "CT", "currency": "JPY"}))
        w.submit(ta, "tokens:DefineToken", json.dumps({
            "id": STOCK, "kind": "ST", "currency": "JPY", "ticker": STOCK,
            "quoteConvention": "per-unit", "assetClass": "equity"}))
        for who, token, qty in (("lender", CASH, "10000000"), ("borrower", STOCK, "100000"),
                                ("borrower", CASH, "5000000")):
            req = w.submit(who, "tokens:RequestIssuance", token, qty, f"access matrix {TAG}")
            w.submit(ta, "tokens:ApproveIssuance", req["id"])
        w.issuance = w.submit("lender", "tokens:RequestIssuance", CASH, "100", "pending")["id"]
        w.redemption = w.submit("lender", "tokens:RequestRedemption", CASH, "100", "pending")["id"]
        for day in (D1, D2):
            w.submit("oracle", "oracle:PostPrices", day, json.dumps({"prices": {STOCK: "1000"}}))
        for agreement in (ACTIVE, TERMINATING, PROPOSED):
            w.submit("lender", "agreements:Propose", terms(agreement))
        for agreement in (ACTIVE, TERMINATING):
            w.submit("borrower", "agreements:Approve", agreement)
        w.submit("lender", "agreements:RequestTermination", TERMINATING, "early repayment")
        w.submit("oracle", "margin:MarginCall", ACTIVE, D1)
        me = w.evaluate("lender", "roles:WhoAmI")
        w.user2_id = w.evaluate("oracle", "roles:WhoAmI")["id"]
        assert me["partyId"] == "bank-a"
        _, info = profile.user("operator", "User2")
        w.user2_cert = info.cert.read_text()
        yield w
    finally:
        # leave nothing active that a later module's sweep could meet
        for agreement in (ACTIVE, TERMINATING):
            try:
                w.submit("lender", "agreements:Close", agreement)
            except GatewayError as exc:
                w.log.append(f"closing {agreement}: {exc}")


# ---- the rows: every chaincode function, who may call it, and its arguments -------------------


@dataclass(frozen=True)
class Row:
    fn: str
    allowed: set[str]
    args: Callable[[World], list[str]]


def _a(*values: str) -> Callable[[World], list[str]]:
    return lambda w: list(values)


ROWS: list[Row] = [
    Row("roles:RegisterIdentity", {"opAdmin"},
        lambda w: ["OperatorMSP", w.user2_cert, "operator", '["oracle"]']),
    Row("roles:RevokeIdentity", {"opAdmin"}, lambda w: [w.user2_id, "left the bank"]),
    Row("roles:WhoAmI", EVERYONE, _a()),
    Row("roles:ListIdentities", OPERATOR_SIDE, _a("10", "")),
    # the zone already set (the default): a no-op that leaves every other test's dates alone
    Row("roles:SetBusinessTimeZone", {"opAdmin"}, _a("Asia/Tokyo")),
    Row("roles:GetPlatformSettings", EVERYONE, _a()),
    Row("ping:Ping", EVERYONE, _a("hello")),
    Row("ping:GetPing", EVERYONE, _a("0" * 64)),
    Row("ping:Noop", EVERYONE, _a()),
    Row("tokens:DefineToken", {"tokenAdmin"},
        _a(json.dumps({"id": f"AM{TAG}-EUR", "kind": "CT", "currency": "EUR"}))),
    Row("tokens:UpdateToken", {"tokenAdmin"}, _a(json.dumps({
        "id": STOCK, "kind": "ST", "currency": "JPY", "ticker": STOCK,
        "quoteConvention": "per-unit", "assetClass": "equity", "creditRating": "A"}))),
    Row("tokens:GetToken", EVERYONE, _a(STOCK)),
    Row("tokens:ListTokens", EVERYONE, _a("5", "")),
    Row("tokens:TotalSupply", EVERYONE, _a(CASH)),
    Row("tokens:BalanceOf", OPERATOR_SIDE | {"lender"}, _a("bank-a")),
    Row("tokens:RequestIssuance", PARTIES, _a(CASH, "100", "deposit")),
    Row("tokens:ApproveIssuance", {"tokenAdmin"}, lambda w: [w.issuance]),
    Row("tokens:RejectIssuance", {"tokenAdmin"}, lambda w: [w.issuance, "no deposit"]),
    Row("tokens:RequestRedemption", PARTIES, _a(CASH, "1", "withdrawal")),
    Row("tokens:ApproveRedemption", {"tokenAdmin"}, lambda w: [w.redemption]),
    Row("tokens:RejectRedemption", {"tokenAdmin"}, lambda w: [w.redemption, "closed"]),
    Row("tokens:GetRequest", OPERATOR_SIDE | {"lender"}, lambda w: [w.issuance]),
    Row("tokens:ListRequests", OPERATOR_SIDE | {"lender"}, _a("bank-a", "", "", "")),
    Row("tokens:Transfer", PARTIES, _a(CASH, "bank-b", "1")),
    Row("agreements:Propose", {"lender", "borrower"}, _a(terms(f"AM-{TAG}-NEW"))),
    Row("agreements:Approve", {"borrower"}, _a(PROPOSED)),
    Row("agreements:Reject", {"borrower"}, _a(PROPOSED, "terms")),
    Row("agreements:Withdraw", {"lender"}, _a(PROPOSED)),
    Row("agreements:Close", {"lender", "borrower"}, _a(ACTIVE)),
    Row("agreements:RequestTermination", {"lender", "borrower"}, _a(ACTIVE, "")),
    Row("agreements:AcceptTermination", {"borrower"}, _a(TERMINATING)),
    Row("agreements:CancelTermination", {"lender", "borrower"}, _a(TERMINATING, "")),
    Row("agreements:GetAgreement", AGREEMENT_SIDE, _a(ACTIVE)),
    Row("agreements:ListAgreements", {"lender"}, _a("bank-a", "", "", "")),
    Row("agreements:CollateralHeld", AGREEMENT_SIDE, _a(ACTIVE)),
    Row("agreements:ProposeBatch", {"lender", "borrower"},
        _a(json.dumps([json.loads(terms(f"AM-{TAG}-B1")), json.loads(terms(f"AM-{TAG}-B2"))]))),
    Row("agreements:ApproveBatch", {"borrower"}, _a(json.dumps([PROPOSED]))),
    # the life cycle (an allowed caller may still be refused for the agreement's state, never for
    # access)
    Row("agreements:Recall", {"lender"}, _a(ACTIVE, "100000", D2, END, "")),
    Row("agreements:Return", {"borrower"}, _a(ACTIVE, "100000", D2)),
    Row("agreements:GiveNotice", {"lender", "borrower"}, _a(ACTIVE, D2, "")),
    Row("agreements:Substitute", {"borrower"}, _a(ACTIVE, json.dumps(
        {"out": [{"token": STOCK, "quantity": "10"}], "in": [{"token": STOCK, "quantity": "1"}]}),
        D2)),
    Row("agreements:ApproveSubstitution", {"lender"}, _a(ACTIVE)),
    Row("agreements:CancelSubstitution", {"lender", "borrower"}, _a(ACTIVE, "")),
    Row("agreements:BuyIn", {"lender"}, _a(ACTIVE, D2)),
    Row("agreements:DefineSchedule", {"lender", "borrower"},
        _a(json.dumps({"id": f"AM-{TAG}-SCH", "minRating": "BBB-"}))),
    Row("agreements:GetSchedule", AGREEMENT_SIDE, _a(f"AM-{TAG}-NONE")),
    # the call of D1 moved nothing: a party is refused for that, never for access
    Row("margin:DisputeCall", AGREEMENT_SIDE, _a(ACTIVE, D1, "1", "")),
    Row("margin:ResolveDispute", AGREEMENT_SIDE, _a(ACTIVE, D1, "call")),
    Row("margin:AdjustCalls", MARGIN_SIDE, _a(D1, json.dumps([ACTIVE]))),
    # the pair accrued nothing: nothing to invoice, no invoice to read, pay or query
    Row("billing:IssueInvoice", MARGIN_SIDE, _a("2000-10", "JPY")),
    Row("billing:GetInvoice", AGREEMENT_SIDE, _a("2000-10", "JPY")),
    Row("billing:PayInvoice", AGREEMENT_SIDE, _a("2000-10", "JPY", CASH)),
    Row("billing:QueryInvoiceLine", AGREEMENT_SIDE, _a("2000-10", "JPY", ACTIVE, "why")),
    Row("oracle:PostPrices", {"oracle"}, _a(D2, json.dumps({"prices": {STOCK: "1000"}}))),
    Row("oracle:CorrectPrices", {"oracle"},
        _a(D2, json.dumps({"prices": {STOCK: "1001"}}), "vendor correction")),
    Row("oracle:GetPrices", EVERYONE, _a(D1, "")),
    Row("oracle:LastPostedDate", EVERYONE, _a()),
    Row("margin:MarginCall", MARGIN_SIDE, _a(ACTIVE, D2)),
    Row("margin:SweepAgreements", MARGIN_SIDE, _a(D2, json.dumps([ACTIVE]))),
    Row("margin:SweepPlan", {"oracle", "lender", "borrower", "bankC"}, _a(D2, "", "")),
    # in a pair (the convention): the pair's sweep marker, which its banks may finish too; the
    # platform-wide FinishSweep without a pair is the oracle's (test_oracle_onchain)
    Row("margin:FinishSweep", MARGIN_SIDE, _a(D1)),
    Row("margin:GetMarginCall", AGREEMENT_SIDE, _a(ACTIVE, D1)),
    Row("margin:GetSweepFailure", AGREEMENT_SIDE, _a(ACTIVE, D1)),
    Row("margin:ListMarginCalls", AGREEMENT_SIDE, _a(ACTIVE, "", "")),
    Row("margin:LastSweptDate", EVERYONE, _a()),
]


def exposed(w: World) -> dict[str, bool]:
    """The functions the deployed chaincode exposes, and whether each is an evaluate."""
    meta = w.evaluate("token-admin+oracle", "org.hyperledger.fabric:GetMetadata")
    out: dict[str, bool] = {}
    for name, contract in meta["contracts"].items():
        if name == "org.hyperledger.fabric":
            continue
        for tx in contract.get("transactions", []):
            tags = {t.lower() for t in tx.get("tag", [])}
            out[f"{name}:{tx['name']}"] = "evaluate" in tags
    return out


# ---- what must not change ---------------------------------------------------------------------


def snapshot(w: World) -> dict[str, Any]:
    """Every peer's height and this module's corner of the ledger, as the operator sees it, and
    the agreements' private records as their lender sees them."""
    ta = "token-admin+oracle"
    conn = w.conns[ta]
    snap: dict[str, Any] = {"heights": conn.peer_heights()}
    for token in (CASH, STOCK):
        snap[f"supply {token}"] = w.evaluate(ta, "tokens:TotalSupply", token)
        snap[f"token {token}"] = w.evaluate(ta, "tokens:GetToken", token)
    for party in ("bank-a", "bank-b"):
        sheet = w.evaluate(ta, "tokens:BalanceOf", party)
        snap[f"balances {party}"] = sorted(
            (b["token"], b["quantity"]) for b in sheet["balances"] if b["token"] in (CASH, STOCK))
    for agreement in (ACTIVE, PROPOSED, TERMINATING):
        snap[f"agreement {agreement}"] = w.evaluate("lender", "agreements:GetAgreement",
                                                    agreement)
        snap[f"held {agreement}"] = w.evaluate("lender", "agreements:CollateralHeld", agreement)
        snap[f"calls {agreement}"] = w.evaluate("lender", "margin:ListMarginCalls", agreement,
                                                "", "")
    for request in (w.issuance, w.redemption):
        snap[f"request {request}"] = w.evaluate(ta, "tokens:GetRequest", request)
    for day in (D1, D2):
        snap[f"prices {day}"] = w.evaluate(ta, "oracle:GetPrices", day, "")
    snap["identities"] = w.evaluate(ta, "roles:ListIdentities", "500", "")
    snap["last swept"] = w.evaluate(ta, "margin:LastSweptDate")
    return snap


def attempt(w: World, who: str, fn: str, args: list[str], evaluate: bool) -> str | None:
    """Endorse (or evaluate) without submitting; the chaincode's error message, or None."""
    contract, _, function = fn.partition(":")
    if fn in BILATERAL:
        # as the SDK calls it: arguments private, the pair's peers endorse, a read on one peer
        orgs = ([msp_id_for(plan_peer(who))] if plan_peer(who) else []) if evaluate else (
            pair_endorsers("bank-a", "bank-b"))
        proposal = w.contract(who, contract).new_proposal(
            function, [], transient=private.transient(args, PAIR), endorsing_organizations=orgs)
    else:
        proposal = w.contract(who, contract).new_proposal(function, args)
    try:
        if evaluate:
            proposal.evaluate()
        else:
            proposal.endorse()
    except (EndorseError, EvaluateError) as exc:
        return exc.chaincode_message
    return None


# ---- the tests ----------------------------------------------------------------------------------


def test_every_function_is_in_the_matrix(world: World) -> None:
    functions = set(exposed(world))
    rows = {r.fn for r in ROWS}
    assert functions - rows == set(), "functions without a row in the access matrix"
    # rows for functions this build does not have are skipped, not failed
    world.log.append(f"rows not in this build: {sorted(rows - functions)}")


def test_every_identity_calls_every_function(world: World) -> None:
    functions = exposed(world)
    before = snapshot(world)
    denied, allowed, outcomes = 0, 0, []
    for row in ROWS:
        if row.fn not in functions:
            continue
        args = row.args(world)
        for who in IDENTITIES:
            may = bool(COLUMNS[who] & row.allowed)
            message = attempt(world, who, row.fn, args, functions[row.fn])
            outcomes.append((row.fn, who, message))
            if may:
                allowed += 1
                assert message is None or not message.startswith("access denied"), (
                    f"{row.fn} as {who}: refused, but the role table allows it: {message}")
            else:
                denied += 1
                assert message is not None, f"{row.fn} as {who}: allowed, the role table denies it"
                assert DENIED.match(message), (
                    f"{row.fn} as {who}: the refusal does not name the missing right: {message}")
    after = snapshot(world)
    assert after == before, "a call of the matrix changed the ledger"
    assert denied > 150 and allowed > 60, (denied, allowed)


def _self_signed(msp_subject: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, msp_subject),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "client"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-a.tanpo.net"),
    ])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


def test_a_certificate_from_an_unknown_ca_is_refused_by_the_peers(world: World,
                                                                  profile: Profile) -> None:
    """Same subject as bank-a's User1, signed by a CA of its own, presented as BankAMSP."""
    key, pem = _self_signed("User1@bank-a.tanpo.net")
    before = snapshot(world)
    for party in ("bank-a", "bank-b", "operator"):
        peer = profile.orgs[party].peers[0]
        channel = open_channel(peer.endpoint, peer.tls_root_cert)
        try:
            gw = Gateway(channel, Identity.from_certificate("BankAMSP", pem), ecdsa_signer(key))
            contract = gw.network(profile.channel).contract(profile.chaincode)
            for fn, args, submit in (("roles:WhoAmI", [], False), ("tokens:BalanceOf", [""], False),
                                     ("tokens:Transfer", [CASH, "bank-b", "1"], True),
                                     ("agreements:Close", [ACTIVE], True)):
                with pytest.raises(GatewayError) as err:
                    if submit:
                        contract.submit(fn, *args)
                    else:
                        contract.evaluate(fn, *args)
                text = str(err.value)
                assert isinstance(err.value, EndorseError | EvaluateError), text
                assert err.value.code in (grpc.StatusCode.PERMISSION_DENIED,
                                          grpc.StatusCode.ABORTED, grpc.StatusCode.UNAVAILABLE,
                                          grpc.StatusCode.FAILED_PRECONDITION), text
                assert re.search(r"access denied|creator|certificate|identity|MSP|sign", text,
                                 re.IGNORECASE), text
                assert not err.value.refused, "the chaincode must not even run"
        finally:
            channel.close()
    assert snapshot(world) == before


def _endorse_submit(world: World, who: str, fn: str, args: list[str],
                    orgs: list[str]) -> CommitError | None:
    contract, _, function = fn.partition(":")
    if fn in BILATERAL:
        proposal = world.contract(who, contract).new_proposal(
            function, [], transient=private.transient(args, PAIR), endorsing_organizations=orgs)
    else:
        proposal = world.contract(who, contract).new_proposal(function, args,
                                                              endorsing_organizations=orgs)
    tx = proposal.endorse()
    status = tx.submit().status()
    # an invalid transaction still takes a block: every peer must have it before the snapshot
    world.session.settle(block=status.block_number)
    if status.successful:
        return None
    return CommitError(tx.transaction_id, status.code, status.block_number)


@pytest.mark.parametrize("orgs", [["BankBMSP"], ["OperatorMSP", "BankBMSP"]],
                         ids=["bank-b-alone", "operator-and-bank-b"])
def test_an_agreement_change_needs_both_banks_peers(world: World, orgs: list[str]) -> None:
    before = snapshot(world)
    try:
        error = _endorse_submit(world, "borrower", "agreements:Approve", [PROPOSED], orgs)
    except EndorseError as exc:
        # the operator's peer is no member of the pair's collection: it cannot run the approval
        assert "OperatorMSP" in orgs, f"{orgs} refused to endorse: {exc}"
        blocks = 0
    else:
        assert error is not None, f"approval endorsed by {orgs} only was committed"
        assert error.code_name == "ENDORSEMENT_POLICY_FAILURE", str(error)
        blocks = 1
    after = snapshot(world)
    # one more (invalid) block, or none when no endorsement was possible; nothing else moved
    assert all(after["heights"][p] == before["heights"][p] + blocks for p in before["heights"])
    before.pop("heights")
    after.pop("heights")
    assert after == before
    assert after[f"agreement {PROPOSED}"]["status"] == "PROPOSED"


def test_two_organisations_may_endorse_what_touches_no_agreement(world: World) -> None:
    """The control: a transfer of free balances touches no agreement, and the two holders'
    peers (a majority) may endorse it without the operator's. Each balance carries its holder's
    policy, so the operator and bank-b alone may not credit bank-a."""
    before = world.evaluate("lender", "tokens:BalanceOf", "")
    error = _endorse_submit(world, "borrower", "tokens:Transfer", [CASH, "bank-a", "7"],
                            ["OperatorMSP", "BankBMSP"])
    assert error is not None and error.code_name == "ENDORSEMENT_POLICY_FAILURE", error
    assert world.evaluate("lender", "tokens:BalanceOf", "") == before
    assert _endorse_submit(world, "borrower", "tokens:Transfer", [CASH, "bank-a", "7"],
                           ["BankAMSP", "BankBMSP"]) is None
    after = world.evaluate("lender", "tokens:BalanceOf", "")
    cash = {b["token"]: int(b["quantity"]) for b in after["balances"]}[CASH]
    assert cash == {b["token"]: int(b["quantity"]) for b in before["balances"]}[CASH] + 7


@pytest.mark.parametrize(("batch", "message"), [
    ({"prices": {f"AM{TAG}-NOPE": "1"}}, f"unknown instrument AM{TAG}-NOPE: no token with that id"),
    ({"prices": {STOCK: "-5"}}, f"price of {STOCK}"),
    ({"prices": {STOCK: "1e3"}}, f"price of {STOCK}"),
    ({"prices": {CASH: "1"}}, f"instrument {CASH} is a cash token"),
    ({"fx": {"JPYJPY": "1"}}, "invalid FX pair"),
])
def test_the_oracle_bad_data_is_refused_on_chain(world: World, batch: dict[str, Any],
                                                 message: str) -> None:
    before = snapshot(world)
    with pytest.raises(EndorseError) as err:
        world.submit("oracle", "oracle:PostPrices", "2000-11-09", json.dumps(batch))
    assert message in err.value.chaincode_message
    assert snapshot(world) == before
