"""One in-memory ledger for the CLI unit tests, in place of the network behind `open_ledger`.

`FakeNetwork` holds the state every identity shares (tokens, balances, requests, agreements,
events, margin records, price versions) and what the commands did (who connected, each call,
each settle); `FakeNetwork.as_(party)` is one participant's `cli_common.Ledger` over it, keeping
the chaincode's rules the commands rely on. `FakeNetwork.install(monkeypatch)` puts it behind
`cli_common.open_ledger`. A refusal is raised exactly as the gateway reports it, so the CLI's
error mapping runs for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

import grpc
import pytest

from tanpo.client import cli_common
from tanpo.client.errors import CommitStatusError, EndorseError, ErrorDetail, EvaluateError
from tanpo.client.events import ChaincodeEvent, Checkpoint
from tanpo.client.gateway import CommitStatus
from tanpo.client.models import (
    Agreement,
    Balance,
    CollateralLeg,
    CollateralReport,
    Invoice,
    InvoiceReceipt,
    MarginCall,
    PriceSet,
    Request,
    Schedule,
    SweepOutcome,
    Terms,
    Token,
    settlement_due,
    substitution_json,
)
from tanpo.client.pairs import collection_parties, pair_collection
from tanpo.client.sweep import AdjustOutcome, AdjustRun, SweepRun

Json = dict[str, Any]

TOKENS = {
    "JP8306": Token("JP8306", "ST", "JPY", "per-unit", "equity", isin="JP3902900004",
                    ticker="8306"),
    "JP8604": Token("JP8604", "ST", "JPY", "per-unit", "equity", ticker="8604"),
    "JPY": Token("JPY", "CT", "JPY", "per-unit", "cash"),
}

#: Terms of an agreement the margin commands only need to exist and be active.
ACTIVE_TERMS = Terms(
    id="", lender="bank-a", borrower="bank-b", loan_token="JPY", loan_quantity=1_000_000,
    collateral=(CollateralLeg("JP8306", 1_000),), base_currency="JPY",
    haircut=Fraction(5, 100), threshold=Fraction(0), trade_date=date(2024, 1, 2),
    start_date=date(2024, 1, 2), end_date=date(2024, 12, 30),
)


def private_call(args: Sequence[str], transient: Any) -> tuple[tuple[str, ...], str]:
    """The arguments and pair of a call made in the private convention (tanpo.client.private):
    in the transient fields, with nothing visible in the proposal; a public call's as they are."""
    if transient is None:
        return tuple(args), ""
    assert tuple(args) == (), f"a bilateral call's arguments must not be visible: {args}"
    return (tuple(json.loads(transient["tanpo.args"])),
            transient.get("tanpo.pair", b"").decode())


def chaincode_refusal(message: str, evaluate: bool = False,
                      msp_id: str = "BankAMSP") -> EndorseError | EvaluateError:
    """What the gateway raises when the chaincode says no (its words in a peer's details)."""
    cls = EvaluateError if evaluate else EndorseError
    return cls("failed to endorse transaction, see attached details for more info",
               grpc.StatusCode.ABORTED,
               (ErrorDetail("127.0.0.1:7051", msp_id, f"chaincode response 500, {message}"),))


def raw_token(t: Token) -> Json:
    return {**t.to_spec(), "definedBy": "OperatorMSP:x", "definedAt": "2024-01-01T00:00:00Z"}


@dataclass
class FakeNetwork:
    """The shared ledger, and a record of what the commands did with it."""

    tokens: dict[str, Token] = field(default_factory=lambda: dict(TOKENS))
    free: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    agreements: dict[str, Agreement] = field(default_factory=dict)
    events: list[ChaincodeEvent] = field(default_factory=list)
    records: dict[tuple[str, date], Json] = field(default_factory=dict)  # margin calls
    versions: dict[date, list[Json]] = field(default_factory=dict)  # posted price sets
    opened: list[tuple[str, str]] = field(default_factory=list)
    log: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # (party, call)
    settled: int = 0
    disconnected: int = 0
    fail: Exception | None = None  # raised by every call
    fail_open: Exception | None = None  # raised on connecting
    time_zone: str = "Asia/Tokyo"  # the platform's business time zone
    fail_ids: set[str] = field(default_factory=set)  # agreements whose call the chaincode refuses
    sweep_fail_after: int | None = None  # sweep batches that commit before one raises
    committed: dict[str, tuple[int, int]] = field(default_factory=dict)  # tx id -> (code, block)
    batch_sizes: list[int] = field(default_factory=list)  # of each sweep
    #: billing: what IssueInvoice would issue, and the issued invoices, by (pair, month, currency)
    billable: dict[tuple[str, str, str], Json] = field(default_factory=dict)
    invoices: dict[tuple[str, str, str], Json] = field(default_factory=dict)
    #: eligibility schedules the pairs defined, by (pair, id): the DefineSchedule argument
    schedules: dict[tuple[str, str], Json] = field(default_factory=dict)
    _views: dict[str, FakeLedger] = field(default_factory=dict)

    def as_(self, party: str) -> FakeLedger:
        if party not in self._views:
            self._views[party] = FakeLedger(self, party)
        return self._views[party]

    def open(self, party: str, user: str) -> FakeLedger:
        if self.fail_open is not None:
            raise self.fail_open
        self.opened.append((party, user))
        return self.as_(party)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
        monkeypatch.setattr(cli_common, "open_ledger", self.open)
        return self

    def calls(self, party: str | None = None) -> list[tuple[Any, ...]]:
        """What the commands asked of the ledger (as `party`, or as anyone), in order."""
        return [call for who, call in self.log if party in (None, who)]

    def set_active(self, *agreement_ids: str) -> None:
        """Only these agreements exist, each active (what the margin commands meet)."""
        self.agreements.clear()
        for agreement_id in agreement_ids:
            self.agreements[agreement_id] = Agreement.from_json({
                "id": agreement_id, "status": "ACTIVE", "proposer": "bank-a", "history": [],
                "terms": replace(ACTIVE_TERMS, id=agreement_id).to_json()})


def margin_record(agreement: str, day: date, **over: Any) -> Json:
    """A margin call as the chaincode stores it: the DESIGN example (131 shares returned)."""
    rec: Json = {
        "agreement": agreement, "date": day.isoformat(), "lender": "bank-a", "borrower": "bank-b",
        "baseCurrency": "USD", "priceVersion": 2,
        "prices": {"DE-BUND": "101", "US-STOCK": "252/5"}, "fx": {"EUR": "221/200", "USD": "1"},
        "vl": "1116050", "vcBefore": "1122660", "gapBefore": "6610", "triggered": True,
        "transfers": [margin_transfer("US-STOCK", 131, "lender->borrower", "33012/5", day)],
        "issuanceRequired": [], "mints": [], "vcAfter": "5580288/5", "gapAfter": "38/5",
        "settled": [margin_transfer("US-STOCK", 131, "lender->borrower", "33012/5", day)],
        "pending": [], "held": {"US-STOCK": "22144"}, "calledBy": "operator",
        "identity": "OperatorMSP:x", "txId": f"tx-{agreement}-{day}", "timestamp": "t",
        "replayed": False,
    }
    rec.update(over)
    return rec


def invoice_record(month: str = "2024-01", currency: str = "JPY", **over: Any) -> Json:
    """An invoice as the chaincode stores it: two agreements of bank-a (lender) and bank-b, one
    raised to its minimum fee, one with a rebate larger than its fee; bank-b owes the net."""
    lines = [
        {"agreement": "AGR-1", "lender": "bank-a", "borrower": "bank-b", "days": 31,
         "feeAccrued": "62000/73", "minimumTopUp": "11000/73", "feeCharged": "1000",
         "rebate": "0", "net": "1000"},
        {"agreement": "AGR-2", "lender": "bank-a", "borrower": "bank-b", "days": 20,
         "feeAccrued": "30861/5", "minimumTopUp": "0", "feeCharged": "30861/5",
         "rebate": "1500", "net": "23361/5"},
    ]
    inv: Json = {"id": f"INV-{month}-{currency}", "pair": "pair-bank-a-bank-b", "month": month,
                 "currency": currency, "lines": lines, "net": "28361/5", "amount": "5672",
                 "payer": "bank-b", "payee": "bank-a", "dueDate": "2024-02-10",
                 "status": "ISSUED", "issuedBy": "bank-a", "issueTx": "tx-issue",
                 "updatedAt": "2024-02-01T00:00:00Z"}
    inv.update(over)
    return inv


def margin_transfer(token: str, qty: int, direction: str, value: str, day: date,
                    settle: date | None = None) -> Json:
    lender_to_borrower = direction == "lender->borrower"
    return {"token": token, "quantity": str(qty), "direction": direction,
            "from": "bank-a" if lender_to_borrower else "bank-b",
            "to": "bank-b" if lender_to_borrower else "bank-a",
            "value": value, "marketValue": value, "tradeDate": day.isoformat(),
            "settleDate": (settle or day).isoformat()}


# base64("x509::CN=User1@operator.tanpo.net,OU=client::CN=ca.operator.tanpo.net")
POSTED_BY = ("OperatorMSP:eDUwOTo6Q049VXNlcjFAb3BlcmF0b3IudGFucG8ubmV0LE9VPWNsaWVudDo6Q049Y2Eu"
             "b3BlcmF0b3IudGFucG8ubmV0")


#: The fake platform's business date (today, in its business time zone).
BUSINESS_DATE = "2024-01-04"

#: The life-cycle records an agreement keeps from one step to the next.
LIFECYCLE_KEYS = ("recalls", "notice", "substitution", "buyIns", "fails")

#: Business time zones the fake accepts, with their offsets (the chaincode refuses DST zones).
_ZONE_OFFSETS = {"Asia/Tokyo": "+09:00", "Asia/Seoul": "+09:00", "UTC": "+00:00"}


@dataclass
class FakeLedger:
    """One participant's view of the `FakeNetwork` (a `cli_common.Ledger`)."""

    net: FakeNetwork
    party: str

    # -- plumbing --
    def _call(self, *what: Any) -> None:
        self.net.log.append((self.party, what))
        if self.net.fail is not None:
            raise self.net.fail

    def settle(self, timeout: float | None = None) -> None:
        self.net.settled += 1

    # -- platform settings: only the operator's admin may change them --
    def platform_settings(self) -> Json:
        self._call("platform_settings")
        zone = self.net.time_zone
        return {"timeZone": zone, "utcOffset": _ZONE_OFFSETS.get(zone, "+00:00"),
                "businessDate": BUSINESS_DATE}

    def set_business_time_zone(self, zone: str) -> Json:
        self._call("set_business_time_zone", zone)
        if self.party != "operator" or self.net.opened[-1][1] != "Admin":
            raise chaincode_refusal(f"access denied: {self.party} may not set the business "
                                    "time zone: only the operator's admin may")
        if zone not in _ZONE_OFFSETS:
            raise chaincode_refusal(f"unknown business time zone {zone!r}")
        self.net.time_zone = zone
        return {"timeZone": zone, "utcOffset": _ZONE_OFFSETS[zone], "updatedBy": "operator"}

    def commit_status(self, transaction_id: str, timeout: float) -> CommitStatus:
        self._call("commit_status", transaction_id, timeout)
        if transaction_id not in self.net.committed:
            raise CommitStatusError("context deadline exceeded",
                                    grpc.StatusCode.DEADLINE_EXCEEDED,
                                    transaction_id=transaction_id)
        code, block = self.net.committed[transaction_id]
        return CommitStatus(transaction_id, code, block)

    def disconnect(self) -> None:
        self.net.disconnected += 1

    # -- tokens --
    def tokens(self) -> list[Token]:
        self._call("tokens")
        return [Token.from_json(raw_token(t)) for t in self.net.tokens.values()]

    def token(self, token_id: str) -> Token:
        self._call("token", token_id)
        if token_id not in self.net.tokens:
            raise chaincode_refusal(f"unknown token {token_id}", evaluate=True)
        return Token.from_json(raw_token(self.net.tokens[token_id]))

    def total_supply(self, token: str) -> int:
        self._call("total_supply", token)
        return sum(q for (_, t), q in self.net.free.items() if t == token)

    def balances(self, party: str = "") -> list[Balance]:
        self._call("balances", party)
        who = party or self.party
        if who != self.party and self.party != "operator":
            raise chaincode_refusal(
                f"access denied: {self.party} cannot read the balances of {who}", evaluate=True)
        return [Balance(p, t, q) for (p, t), q in sorted(self.net.free.items())
                if p == who and q]

    def define_token(self, token: Token) -> Token:
        self._call("define_token", token)
        self.net.tokens[token.id] = token
        return Token.from_json(raw_token(token))

    def _request(self, kind: str, token: str, quantity: int, reference: str) -> Request:
        rid = f"{'ISS' if kind == 'issuance' else 'RED'}-{len(self.net.requests):016d}"
        req = Request.from_json({"id": rid, "kind": kind, "token": token, "party": self.party,
                                 "quantity": str(quantity), "reference": reference,
                                 "status": "PENDING"})
        self.net.requests[rid] = req
        return req

    def request_issuance(self, token: str, quantity: int, reference: str) -> Request:
        self._call("request_issuance", token, quantity, reference)
        return self._request("issuance", token, quantity, reference)

    def request_redemption(self, token: str, quantity: int, reference: str) -> Request:
        self._call("request_redemption", token, quantity, reference)
        return self._request("redemption", token, quantity, reference)

    def request(self, request_id: str) -> Request:
        self._call("request", request_id)
        return self.net.requests[request_id]

    def requests(self, party: str = "", status: str = "") -> list[Request]:
        self._call("requests", party, status)
        return [r for r in self.net.requests.values()
                if party in ("", r.party) and status in ("", r.status)]

    def _decide(self, request_id: str, status: str, reason: str = "") -> Request:
        req = self.net.requests.get(request_id)
        if req is None:
            raise chaincode_refusal(f"no request {request_id}")
        done = Request.from_json({**req.raw, "status": status, "reason": reason})
        self.net.requests[request_id] = done
        return done

    def approve_issuance(self, request_id: str) -> Request:
        self._call("approve_issuance", request_id)
        req = self._decide(request_id, "APPROVED")
        key = (req.party, req.token)
        self.net.free[key] = self.net.free.get(key, 0) + req.quantity
        return req

    def reject_issuance(self, request_id: str, reason: str) -> Request:
        self._call("reject_issuance", request_id, reason)
        return self._decide(request_id, "REJECTED", reason)

    def approve_redemption(self, request_id: str) -> Request:
        self._call("approve_redemption", request_id)
        return self._decide(request_id, "APPROVED")

    def reject_redemption(self, request_id: str, reason: str) -> Request:
        self._call("reject_redemption", request_id, reason)
        return self._decide(request_id, "REJECTED", reason)

    def transfer(self, token: str, to: str, quantity: int) -> Json:
        self._call("transfer", token, to, quantity)
        free = self.net.free
        have = free.get((self.party, token), 0)
        if have < quantity:
            raise chaincode_refusal(f"insufficient balance: {self.party} needs {quantity} "
                                    f"{token} but has {have} free")
        free[(self.party, token)] = have - quantity
        free[(to, token)] = free.get((to, token), 0) + quantity
        return {"token": token, "quantity": str(quantity), "from": self.party, "to": to,
                "leg": "", "held": False}

    # -- agreements --
    def _store(self, agreement_id: str, status: str, terms: Terms, action: str,
               transfers: list[Json] | None = None, note: str = "",
               **lifecycle: Any) -> Agreement:
        """Store the agreement after a step; ``lifecycle`` sets (or, as None, drops) its
        life-cycle records (recalls, notice, substitution, buyIns, fails), kept otherwise."""
        old = self.net.agreements.get(agreement_id)
        history = list(old.raw["history"]) if old else []
        history.append({"action": action, "status": status, "party": self.party,
                        "txId": f"tx{len(history)}", "timestamp": "2024-01-02T03:04:05Z",
                        **({"note": note} if note else {}),
                        **({"transfers": transfers} if transfers else {})})
        kept = {k: v for k, v in (old.raw if old else {}).items() if k in LIFECYCLE_KEYS}
        kept.update(lifecycle)
        raw = {"id": agreement_id, "status": status, "terms": terms.to_json(),
               "proposer": old.proposer if old else self.party,
               **{k: v for k, v in kept.items() if v is not None}, "history": history}
        self.net.agreements[agreement_id] = Agreement.from_json(raw)
        return self.net.agreements[agreement_id]

    def agreement(self, agreement_id: str) -> Agreement:
        self._call("agreement", agreement_id)
        a = self.net.agreements.get(agreement_id)
        if self.party != "operator" and (a is None or self.party not in (a.terms.lender,
                                                                         a.terms.borrower)):
            # a bank is not told whether an agreement that is not its own exists
            raise chaincode_refusal(f"access denied: agreement {agreement_id} does not exist or "
                                    f"{self.party} is not a party to it", evaluate=True)
        if a is None:
            raise chaincode_refusal(f"no agreement {agreement_id}", evaluate=True)
        return a

    def agreements(self, party: str = "", status: str = "") -> list[Agreement]:
        self._call("agreements", party, status)
        return [a for a in self.net.agreements.values() if status in ("", a.status)]

    def collateral_report(self, agreement_id: str) -> CollateralReport:
        a = self.agreement(agreement_id)
        positions = [{"priority": i, "token": c.token, "held": str(c.quantity)}
                     for i, c in enumerate(a.terms.collateral, start=1)]
        return CollateralReport.from_json({"agreement": a.id, "status": a.status,
                                           "lender": a.terms.lender,
                                           "borrower": a.terms.borrower,
                                           "positions": positions, "pending": []})

    def propose(self, terms: Terms) -> Agreement:
        self._call("propose", terms)
        if self.party not in (terms.lender, terms.borrower):
            raise chaincode_refusal(f"access denied: {self.party} can only propose agreements "
                                    "in which it is the lender or the borrower")
        if terms.schedule is not None and terms.schedule_id:
            raise chaincode_refusal("invalid terms: give a schedule or a scheduleId, not both")
        pair = pair_collection(terms.lender, terms.borrower)
        if terms.schedule_id and (pair, terms.schedule_id) not in self.net.schedules:
            raise chaincode_refusal(f"no schedule {terms.schedule_id} defined for {terms.lender} "
                                    f"and {terms.borrower} (DefineSchedule)")
        agreement_id = terms.id or "AGR-0000000000000001"
        return self._store(agreement_id, "PROPOSED", replace(terms, id=agreement_id),
                           "PROPOSED")

    def approve(self, agreement_id: str) -> Agreement:
        self._call("approve", agreement_id)
        a = self.agreement(agreement_id)
        if a.proposer == self.party:
            raise chaincode_refusal(f"access denied: {self.party} proposed agreement {a.id}; "
                                    "only the counterparty can approve it")
        t = a.terms
        moves = [{"token": t.loan_token, "quantity": str(t.loan_quantity), "from": t.lender,
                  "to": t.borrower, "leg": "loan"}]
        moves += [{"token": c.token, "quantity": str(c.quantity), "from": t.borrower,
                   "to": t.lender, "leg": "collateral", "held": True} for c in t.collateral]
        return self._store(a.id, "ACTIVE", t, "APPROVED", moves)

    def _act(self, name: str, agreement_id: str, status: str, *args: Any) -> Agreement:
        self._call(name, agreement_id, *args)
        a = self.agreement(agreement_id)
        return self._store(a.id, status, a.terms, name.upper())

    def reject(self, agreement_id: str, reason: str) -> Agreement:
        return self._act("reject", agreement_id, "REJECTED", reason)

    def withdraw(self, agreement_id: str) -> Agreement:
        return self._act("withdraw", agreement_id, "WITHDRAWN")

    def close(self, agreement_id: str) -> Agreement:
        return self._act("close", agreement_id, "CLOSED")

    def request_termination(self, agreement_id: str, note: str = "") -> Agreement:
        return self._act("request_termination", agreement_id, "ACTIVE", note)

    def accept_termination(self, agreement_id: str) -> Agreement:
        return self._act("accept_termination", agreement_id, "CLOSED")

    def cancel_termination(self, agreement_id: str, reason: str = "") -> Agreement:
        return self._act("cancel_termination", agreement_id, "ACTIVE", reason)

    # -- life cycle: the chaincode's roles and states, simplified arithmetic --
    def _today(self) -> date:
        return date.fromisoformat(BUSINESS_DATE)

    def _priced(self) -> date:
        posted = [d for d in self.net.versions if d <= self._today()]
        return max(posted) if posted else self._today()

    def _role(self, a: Agreement, who: str, action: str) -> None:
        if self.party != who:
            role = "lender" if who == a.terms.lender else "borrower"
            raise chaincode_refusal(f"access denied: only the {role} {who} can {action} under "
                                    f"agreement {a.id}")

    def _open_loan(self, a: Agreement) -> None:
        if a.status not in ("ACTIVE", "MATURED"):
            raise chaincode_refusal(f"agreement {a.id} is {a.status}, not ACTIVE or MATURED")

    def recall(self, agreement_id: str, quantity: int, *, date: date | None = None,
               due: date | None = None, note: str = "") -> Agreement:
        self._call("recall", agreement_id, quantity, date, due, note)
        a = self.agreement(agreement_id)
        self._role(a, a.terms.lender, "recall")
        if a.status != "ACTIVE":
            raise chaincode_refusal(f"agreement {a.id} is {a.status}, not ACTIVE")
        day = date or self._today()
        due = due or settlement_due(day)
        recalls = list(a.raw.get("recalls") or [])
        outstanding = sum(int(r["quantity"]) - int(r["returned"]) for r in recalls
                          if r["status"] in ("OPEN", "FAILED"))
        if quantity > a.terms.loan_quantity - outstanding:
            raise chaincode_refusal(f"cannot recall {quantity} {a.terms.loan_token} under "
                                    f"agreement {a.id}: the loan is {a.terms.loan_quantity} and "
                                    f"{outstanding} are already recalled")
        rid = f"R{len(recalls) + 1}"
        recalls.append({"id": rid, "date": day.isoformat(), "due": due.isoformat(),
                        "quantity": str(quantity), "returned": "0", "status": "OPEN",
                        "txId": f"tx-{rid}", **({"note": note} if note else {})})
        return self._store(a.id, a.status, a.terms, "RECALLED", recalls=recalls,
                           note=f"{rid}: {quantity} {a.terms.loan_token} due {due}")

    def return_loan(self, agreement_id: str, quantity: int, *,
                    date: date | None = None) -> Agreement:
        self._call("return_loan", agreement_id, quantity, date)
        a = self.agreement(agreement_id)
        self._role(a, a.terms.borrower, "return")
        self._open_loan(a)
        t = a.terms
        if quantity > t.loan_quantity:
            raise chaincode_refusal(f"cannot return {quantity} {t.loan_token} under agreement "
                                    f"{a.id}: the loan is {t.loan_quantity}")
        moves = [{"token": t.loan_token, "quantity": str(quantity), "from": t.borrower,
                  "to": t.lender, "leg": "loan"}]
        recalls, left = [], quantity
        for r in a.raw.get("recalls") or []:
            r = dict(r)
            if left and r["status"] in ("OPEN", "FAILED"):
                n = min(left, int(r["quantity"]) - int(r["returned"]))
                r["returned"] = str(int(r["returned"]) + n)
                left -= n
                if r["returned"] == r["quantity"]:
                    r["status"] = "SETTLED"
            recalls.append(r)
        if quantity == t.loan_quantity:
            return self._store(a.id, "CLOSED", t, "CLOSED", moves, note="returned",
                               recalls=recalls or None)
        return self._store(a.id, a.status, replace(t, loan_quantity=t.loan_quantity - quantity),
                           "RETURNED", moves, recalls=recalls or None,
                           note=f"{quantity} of {t.loan_quantity} {t.loan_token} returned on "
                                f"{date or self._priced()}")

    def give_notice(self, agreement_id: str, *, date: date | None = None,
                    note: str = "") -> Agreement:
        self._call("give_notice", agreement_id, date, note)
        a = self.agreement(agreement_id)
        if a.status != "ACTIVE":
            raise chaincode_refusal(f"agreement {a.id} is {a.status}, not ACTIVE")
        if a.terms.end_date is not None:
            raise chaincode_refusal(f"agreement {a.id} is a term loan ending on "
                                    f"{a.terms.end_date}: notice applies to open loans")
        if a.notice is not None:
            raise chaincode_refusal(f"{a.notice.by} already gave notice on agreement {a.id}")
        day = date or self._today()
        effective = day + timedelta(days=a.terms.notice_days)
        return self._store(a.id, a.status, a.terms, "NOTICE_GIVEN",
                           note=f"ends on {effective}",
                           notice={"by": self.party, "date": day.isoformat(),
                                   "effective": effective.isoformat(), "txId": "tx-notice",
                                   **({"note": note} if note else {})})

    def substitute(self, agreement_id: str, out: Mapping[str, int], in_: Mapping[str, int], *,
                   date: date | None = None) -> Agreement:
        self._call("substitute", agreement_id, dict(out), dict(in_), date)
        a = self.agreement(agreement_id)
        self._role(a, a.terms.borrower, "substitute collateral")
        self._open_loan(a)
        if a.substitution is not None:
            raise chaincode_refusal(f"a substitution of agreement {a.id} is waiting for "
                                    f"{a.terms.lender}: it must be approved or cancelled first")
        request = {**substitution_json(out, in_), "date": (date or self._priced()).isoformat(),
                   "txId": "tx-sub"}
        if not a.terms.substitution_pre_authorised:
            return self._store(a.id, a.status, a.terms, "SUBSTITUTION_REQUESTED",
                               substitution=request)
        return self._store(a.id, a.status, a.terms, "SUBSTITUTED",
                           self._substitution_moves(a, request))

    def _substitution_moves(self, a: Agreement, request: Json) -> list[Json]:
        t = a.terms
        return ([{"token": leg["token"], "quantity": leg["quantity"], "from": t.lender,
                  "to": t.borrower, "leg": "collateral", "held": True} for leg in request["out"]]
                + [{"token": leg["token"], "quantity": leg["quantity"], "from": t.borrower,
                    "to": t.lender, "leg": "collateral", "held": True} for leg in request["in"]])

    def approve_substitution(self, agreement_id: str) -> Agreement:
        self._call("approve_substitution", agreement_id)
        a = self.agreement(agreement_id)
        self._role(a, a.terms.lender, "approve a substitution")
        request = a.raw.get("substitution")
        if request is None:
            raise chaincode_refusal(f"no substitution of agreement {a.id} is waiting for "
                                    "approval")
        return self._store(a.id, a.status, a.terms, "SUBSTITUTED",
                           self._substitution_moves(a, request), substitution=None)

    def cancel_substitution(self, agreement_id: str, reason: str = "") -> Agreement:
        self._call("cancel_substitution", agreement_id, reason)
        a = self.agreement(agreement_id)
        if a.substitution is None:
            raise chaincode_refusal(f"no substitution of agreement {a.id} is waiting for "
                                    "approval")
        return self._store(a.id, a.status, a.terms, "SUBSTITUTION_CANCELLED", note=reason,
                           substitution=None)

    def buy_in(self, agreement_id: str, *, date: date | None = None) -> Agreement:
        self._call("buy_in", agreement_id, date)
        a = self.agreement(agreement_id)
        self._role(a, a.terms.lender, "buy in")
        self._open_loan(a)
        t = a.terms
        recalls = [dict(r) for r in a.raw.get("recalls") or []]
        if a.status == "MATURED":
            q = t.loan_quantity
        else:
            q = sum(int(r["quantity"]) - int(r["returned"]) for r in recalls
                    if r["status"] == "FAILED")
        if q == 0:
            raise chaincode_refusal(f"nothing to buy in under agreement {a.id}: no recall has "
                                    "failed and it has not matured")
        for r in recalls:
            if r["status"] == "FAILED" or (a.status == "MATURED" and r["status"] == "OPEN"):
                r["status"] = "BOUGHT_IN"
        kept = t.collateral[0]
        record = {"date": (date or self._priced()).isoformat(), "quantity": str(q),
                  "owed": "2001/2", "uncovered": "0",
                  "kept": [{"token": kept.token, "quantity": "10",
                            "direction": "borrower->lender", "value": "2001/2",
                            "marketValue": "1053"}], "txId": "tx-buyin"}
        buy_ins = [*(a.raw.get("buyIns") or []), record]
        left = t.loan_quantity - q
        return self._store(a.id, "CLOSED" if left == 0 else a.status,
                           replace(t, loan_quantity=left), "CLOSED" if left == 0 else "BOUGHT_IN",
                           recalls=recalls or None, buyIns=buy_ins)

    def events(self, start_block: int | None,
               checkpoint: Checkpoint | None) -> Iterator[ChaincodeEvent]:
        self._call("events", start_block, checkpoint)
        for ev in self.net.events:
            if checkpoint is not None and (ev.block_number, ev.transaction_id) <= (
                    checkpoint.block_number, checkpoint.transaction_id):
                continue
            if start_block is not None and ev.block_number < start_block:
                continue
            yield ev

    # -- billing: bilateral, one invoice per pair, month and currency --
    def _pair(self, counterparty: str, pair: str) -> str:
        if pair:
            collection_parties(pair)
            return pair
        return pair_collection(self.party, counterparty)

    def _in_pair(self, pair: str) -> None:
        if self.party == "operator":  # the chaincode's errOperatorPrivate
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements", evaluate=True)
        if self.party not in collection_parties(pair):
            raise chaincode_refusal(f"access denied: {self.party} is not a party of {pair}")

    def _invoice(self, pair: str, month: str, currency: str) -> Json:
        inv = self.net.invoices.get((pair, month, currency))
        if inv is None:
            raise chaincode_refusal(f"no invoice of {pair} for {month} in {currency}")
        return inv

    def _receipt(self, inv: Json, tx: str) -> InvoiceReceipt:
        return InvoiceReceipt(inv["id"], inv["status"], tx)

    def issue_invoice(self, month: str, currency: str, counterparty: str = "", *,
                      pair: str = "") -> InvoiceReceipt:
        self._call("issue_invoice", month, currency, counterparty, pair)
        pair = self._pair(counterparty, pair)
        if self.party != "operator" and self.party not in collection_parties(pair):
            raise chaincode_refusal(f"access denied: {self.party} is not a party of {pair}")
        key = (pair, month, currency)
        if key in self.net.invoices:
            raise chaincode_refusal(f"the invoice of {pair} for {month} in {currency} is "
                                    "already issued")
        if key not in self.net.billable:
            raise chaincode_refusal(f"nothing to invoice for {month} in {currency}: no agreement "
                                    f"of {pair} accrued fees or rebates that month")
        inv = {**self.net.billable.pop(key), "issuedBy": self.party, "issueTx": "tx-issue"}
        self.net.invoices[key] = inv
        return self._receipt(inv, "tx-issue")

    def invoice(self, month: str, currency: str, counterparty: str) -> Invoice:
        self._call("invoice", month, currency, counterparty)
        if self.party == "operator":
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements", evaluate=True)
        pair = pair_collection(self.party, counterparty)
        return Invoice.from_json(self._invoice(pair, month, currency))

    def pay_invoice(self, month: str, currency: str, token: str,
                    counterparty: str) -> InvoiceReceipt:
        self._call("pay_invoice", month, currency, token, counterparty)
        pair = pair_collection(self.party, counterparty)
        self._in_pair(pair)
        inv = self._invoice(pair, month, currency)
        if self.party != inv["payer"]:
            raise chaincode_refusal(f"access denied: only the payer {inv['payer']} can pay "
                                    f"invoice {inv['id']}")
        if inv["status"] != "ISSUED":
            raise chaincode_refusal(f"invoice {inv['id']} is {inv['status']}")
        t = self.net.tokens.get(token)
        if t is None or t.kind != "CT" or t.currency != currency:
            raise chaincode_refusal(f"token {token} cannot pay invoice {inv['id']}: it needs a "
                                    f"cash token in {currency}")
        amount = int(inv["amount"])
        have = self.net.free.get((self.party, token), 0)
        if have < amount:
            raise chaincode_refusal(f"insufficient balance: {self.party} needs {amount} {token} "
                                    f"but has {have} free")
        self.net.free[(self.party, token)] = have - amount
        payee = (inv["payee"], token)
        self.net.free[payee] = self.net.free.get(payee, 0) + amount
        inv.update(status="PAID", paidWith=token, paidTx="tx-pay")
        return self._receipt(inv, "tx-pay")

    def query_invoice_line(self, month: str, currency: str, agreement_id: str, note: str,
                           counterparty: str = "") -> InvoiceReceipt:
        self._call("query_invoice_line", month, currency, agreement_id, note, counterparty)
        pair = pair_collection(self.party, counterparty)
        self._in_pair(pair)
        inv = self._invoice(pair, month, currency)
        for line in inv["lines"]:
            if line["agreement"] == agreement_id:
                line["query"] = {"by": self.party, "note": note, "txId": "tx-query"}
                return self._receipt(inv, "tx-query")
        raise chaincode_refusal(f"invoice {inv['id']} has no line for agreement {agreement_id}")

    # -- margin calls: one per agreement and date, replayed after --
    def _margin(self, agreement_id: str, day: date) -> Json:
        if day not in self.net.versions:
            raise chaincode_refusal(f"no prices posted for {day}: post them (oracle:PostPrices) "
                                    "before margin calls")
        if agreement_id not in self.net.agreements:
            raise chaincode_refusal(f"no agreement {agreement_id}")
        key = (agreement_id, day)
        if key in self.net.records:
            return {**self.net.records[key], "replayed": True}
        self.net.records[key] = margin_record(agreement_id, day)
        return self.net.records[key]

    def margin_call(self, agreement_id: str, day: date) -> MarginCall:
        self._call("margin_call", agreement_id, day)
        return MarginCall.from_json(self._margin(agreement_id, day))

    def get_margin_call(self, agreement_id: str, day: date) -> MarginCall:
        self._call("get_margin_call", agreement_id, day)
        if self.party == "operator":  # the chaincode's errOperatorPrivate
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements", evaluate=True)
        rec = self.net.records.get((agreement_id, day))
        if rec is None:
            raise chaincode_refusal(f"no margin call of agreement {agreement_id} on {day}",
                                    evaluate=True)
        return MarginCall.from_json(rec)

    def margin_calls(self, agreement_id: str) -> list[MarginCall]:
        self._call("margin_calls", agreement_id)
        return [MarginCall.from_json(r) for (a, _), r in self.net.records.items()
                if a == agreement_id]

    # -- eligibility schedules: immutable, per pair --
    def define_schedule(self, counterparty: str, schedule_id: str, schedule: Schedule) -> Json:
        self._call("define_schedule", counterparty, schedule_id, schedule)
        if self.party == "operator":
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements")
        pair = pair_collection(self.party, counterparty)
        if (pair, schedule_id) in self.net.schedules:
            raise chaincode_refusal(f"schedule {schedule_id} is already defined for {pair}: "
                                    "schedules do not change; define another id")
        self.net.schedules[(pair, schedule_id)] = {"id": schedule_id, **schedule.to_json()}
        return {"schedule": schedule_id, "txId": f"tx-schedule-{schedule_id}"}

    # -- disputes and corrections: the latest call of an agreement only --
    def _latest_call(self, agreement_id: str, day: date) -> Json:
        self.agreement(agreement_id)  # a party of it (the operator is refused below)
        if self.party == "operator":
            raise chaincode_refusal("access denied: the operator does not see bilateral "
                                    "agreements")
        rec = self.net.records.get((agreement_id, day))
        if rec is None:
            raise chaincode_refusal(f"no margin call of agreement {agreement_id} on {day}")
        last = max(d for (a, d) in self.net.records if a == agreement_id)
        if last != day:
            raise chaincode_refusal(f"a margin call of agreement {agreement_id} ran on {last} "
                                    f"since the one on {day}, at later prices")
        return rec

    def dispute_call(self, agreement_id: str, day: date, agreed_value: Fraction | str,
                     note: str = "") -> MarginCall:
        self._call("dispute_call", agreement_id, day, agreed_value, note)
        rec = self._latest_call(agreement_id, day)
        transfers = rec.get("transfers") or []
        if not transfers:
            raise chaincode_refusal(f"the margin call of agreement {agreement_id} on {day} moved "
                                    "nothing: there is nothing to dispute")
        deliverer = transfers[0]["from"]
        if self.party != deliverer:
            raise chaincode_refusal(f"access denied: only {deliverer}, which delivers under the "
                                    f"margin call of agreement {agreement_id} on {day}, can "
                                    "dispute it")
        if rec.get("dispute"):
            raise chaincode_refusal(f"{rec['dispute']['by']} already disputed the margin call of "
                                    f"agreement {agreement_id} on {day}")
        agreed = Fraction(str(agreed_value))
        called = sum((Fraction(t["value"]) for t in transfers), Fraction(0))
        if agreed >= called:
            raise chaincode_refusal(f"agreedValue {agreed_value} is not below the call's value "
                                    f"{float(called):.2f}: there is nothing to dispute")
        rest, held = called - agreed, []
        for t in reversed(transfers):
            q = int(t["quantity"])
            unit = Fraction(t["value"]) / q
            n = min(q, int(rest / unit))
            if n == 0:
                continue
            held.append({**t, "quantity": str(n), "value": str(unit * n),
                         "marketValue": str(Fraction(t["marketValue"]) / q * n)})
            rest -= unit * n
        if not held:
            raise chaincode_refusal("the disputed value is less than one unit of the call's "
                                    "tokens: nothing to hold back")
        rec["dispute"] = {"by": self.party, "agreedValue": str(agreed_value),
                          "disputedValue": str(called - agreed), "heldBack": held,
                          **({"note": note} if note else {}), "status": "OPEN",
                          "txId": "tx-dispute"}
        return MarginCall.from_json(rec)

    def resolve_dispute(self, agreement_id: str, day: date, figure: str) -> MarginCall:
        self._call("resolve_dispute", agreement_id, day, figure)
        rec = self._latest_call(agreement_id, day)
        d = rec.get("dispute")
        if not d or d["status"] != "OPEN":
            raise chaincode_refusal(f"the margin call of agreement {agreement_id} on {day} has "
                                    "no open dispute")
        if figure == "call" and self.party != d["by"]:
            raise chaincode_refusal(f"access denied: only {d['by']}, which disputed the call, "
                                    "can accept the call's figure")
        if figure == "dispute" and self.party == d["by"]:
            raise chaincode_refusal(f"access denied: only the counterparty can accept the "
                                    f"disputed figure of {d['by']}")
        if figure not in ("call", "dispute"):
            raise chaincode_refusal(f"invalid figure {figure!r}: expected call or dispute")
        d.update(status="RESOLVED", resolution=figure, resolvedTx="tx-resolve")
        return MarginCall.from_json(rec)

    def adjust(self, day: date, counterparty: str = "", batch_size: int = 1000) -> AdjustRun:
        """AdjustCalls over the date's plan (agreements with a call of ``day``), per pair: a
        call that is its agreement's latest and used an earlier price version is re-run (the
        fake settles nothing and closes the gap); an open dispute is resolved by it."""
        self._call("adjust", day, counterparty, batch_size)
        versions = self.net.versions.get(day)
        if not versions:
            raise chaincode_refusal(f"no prices posted for {day}")
        latest = len(versions)
        mine = [a for a in sorted(self.net.agreements) if (a, day) in self.net.records]
        if self.party != "operator":
            mine = [a for a in mine
                    if self.party in (self.net.agreements[a].terms.lender,
                                      self.net.agreements[a].terms.borrower)
                    and (not counterparty
                         or counterparty in (self.net.agreements[a].terms.lender,
                                             self.net.agreements[a].terms.borrower))]
        outcomes, pairs = [], set()
        for a in mine:
            t = self.net.agreements[a].terms
            pairs.add(pair_collection(t.lender, t.borrower))
            rec = self.net.records[(a, day)]
            last = max(d for (x, d) in self.net.records if x == a)
            done = [adj["priceVersion"] for adj in rec.get("adjustments") or []]
            version = done[-1] if done else int(rec.get("priceVersion") or 0)
            if a in self.net.fail_ids:
                outcomes.append(AdjustOutcome(a, "failed", "missing_price"))
            elif last != day:
                outcomes.append(AdjustOutcome(a, "unaffected", "later_call"))
            elif latest <= version:
                outcomes.append(AdjustOutcome(a, "unaffected", "no_correction"))
            else:
                rec.setdefault("adjustments", []).append(
                    {"priceVersion": latest, "gapBefore": rec["gapAfter"], "gapAfter": "0",
                     "transfers": [], "txId": f"tx-adjust-{latest}"})
                d = rec.get("dispute")
                if d and d["status"] == "OPEN":
                    d.update(status="RESOLVED", resolution="correction",
                             resolvedTx=f"tx-adjust-{latest}")
                outcomes.append(AdjustOutcome(a, "adjusted"))
        batches = sum(-(-sum(1 for a in mine if pair_collection(
            self.net.agreements[a].terms.lender, self.net.agreements[a].terms.borrower) == p)
            // batch_size) for p in pairs)
        return AdjustRun(day, tuple(outcomes), batches, len(mine))

    def sweep(self, day: date, batch_size: int, *,
              on_batch: Callable[[Sequence[SweepOutcome]], None] | None = None) -> SweepRun:
        """Every active agreement in id order, batch by batch; a failing call fails alone.
        ``net.sweep_fail_after`` makes the batch after that many raise (the network went away
        mid-sweep)."""
        self._call("sweep", day, batch_size)
        self.net.batch_sizes.append(batch_size)
        if day not in self.net.versions:
            raise chaincode_refusal(f"no prices posted for {day}: post them (oracle:PostPrices) "
                                    "before margin calls")
        active = sorted(a.id for a in self.net.agreements.values() if a.status == "ACTIVE")
        outcomes = []
        for a in active:
            if a in self.net.fail_ids:
                outcomes.append(SweepOutcome(a, "failed", f"cannot run the margin call of "
                                             f"agreement {a} on {day}: missing_price: no price "
                                             f"for JP8306 on {day}"))
                continue
            replayed = (a, day) in self.net.records
            self._margin(a, day)
            outcomes.append(SweepOutcome(a, "replayed" if replayed else "called", triggered=True))
        for n, start in enumerate(range(0, len(outcomes), batch_size)):
            if self.net.sweep_fail_after is not None and n >= self.net.sweep_fail_after:
                raise EndorseError("failed to collect enough transaction endorsements",
                                   grpc.StatusCode.UNAVAILABLE)
            if on_batch is not None:
                on_batch(outcomes[start:start + batch_size])
        swept = not self.net.fail_ids
        return SweepRun(day, tuple(outcomes), transactions=-(-len(active) // batch_size),
                        swept=swept, last_swept_date=day if swept else None,
                        finish_refusal="" if swept else (
                            f"cannot finish the sweep of {day}: {len(self.net.fail_ids)} active "
                            "agreements have no margin call for it yet"))

    # -- prices: versions per date; a different value needs a correction with a reason --
    def prices(self, day: date, version: int | None) -> PriceSet:
        self._call("prices", day, version)
        versions = self.net.versions.get(day)
        if not versions:
            raise chaincode_refusal(f"no prices posted for {day}", evaluate=True)
        chosen = versions[-1] if version is None else versions[version - 1]
        return PriceSet.from_json({**chosen, "latestVersion": len(versions)})

    def _post(self, day: date, batch: Json, reason: str | None) -> Json:
        versions = self.net.versions.setdefault(day, [])
        last = versions[-1] if versions else {"prices": {}, "fx": {}, "priceNotes": {},
                                               "fxNotes": {}}
        merged: Json = {"prices": dict(last["prices"]), "fx": dict(last["fx"]),
                        "priceNotes": dict(last["priceNotes"]), "fxNotes": dict(last["fxNotes"])}
        sections = [("prices", "priceNotes"), ("fx", "fxNotes")]
        if batch.get("rates") or last.get("rates"):  # omitempty, as the chaincode stores them
            merged["rates"] = dict(last.get("rates") or {})
            merged["rateNotes"] = dict(last.get("rateNotes") or {})
            sections.append(("rates", "rateNotes"))
        changed = False
        for section, notes in sections:
            for key, value in (batch.get(section) or {}).items():
                text = value["value"] if isinstance(value, dict) else value
                old = merged[section].get(key)
                if old == text:
                    continue
                if old is not None and reason is None:
                    raise chaincode_refusal(
                        f"price of {key} on {day} is already {old} (version {len(versions)}): "
                        f"use CorrectPrices with a reason to change it to {text}")
                merged[section][key] = text
                if isinstance(value, dict) and value.get("asOf"):
                    merged[notes][key] = {"asOf": value["asOf"]}
                changed = True
        if not changed:
            return {"date": day.isoformat(), "version": len(versions), "kind": "initial",
                    "changed": False}
        kind = "correction" if reason else ("addition" if versions else "initial")
        versions.append({"date": day.isoformat(), "version": len(versions) + 1, "kind": kind,
                         "reason": reason or "", "postedBy": POSTED_BY, "postedAt": "2024-01-04",
                         "source": batch.get("source", ""), "txId": "tx", **merged})
        return {"date": day.isoformat(), "version": len(versions), "kind": kind,
                "changed": True}

    def post_batch_json(self, day: date, batch: Json) -> Json:
        self._call("post_batch_json", day, batch)
        return self._post(day, batch, None)

    def correct_batch_json(self, day: date, batch: Json, reason: str) -> Json:
        self._call("correct_batch_json", day, batch, reason)
        return self._post(day, batch, reason)
