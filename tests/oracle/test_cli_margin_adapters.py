"""The adapters under the margin CLI and the oracle: OracleClient's batches, FabricLedger's errors.

A fake connection stands in for the Gateway: it records what would be submitted and raises what
the gateway raises (`tests.fakes.chaincode_refusal` for the chaincode's refusals; the gateway's
own failures carry no chaincode response).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, cast

import grpc
import pytest

from tanpo.client.api import OracleClient
from tanpo.client.connect import Connection
from tanpo.client.errors import CommitError, EndorseError, ErrorDetail, EvaluateError
from tanpo.client.gateway import BlockWatermark, SubmitResult
from tanpo.oracle.fabric import FabricLedger
from tanpo.oracle.ledger import (
    LedgerError,
    LedgerUnavailableError,
    PriceConflictError,
    PricesNotPostedError,
)
from tests.fakes import chaincode_refusal, private_call

DAY = date(2024, 1, 3)


def chaincode_says(message: str, cls: type[EndorseError | EvaluateError] = EndorseError) -> Any:
    return chaincode_refusal(message, evaluate=cls is EvaluateError, msp_id="OperatorMSP")


@dataclass
class FakeContract:
    name: str
    conn: FakeConnection

    def _answer(self, function: str, kind: str) -> bytes:
        answer = self.conn.answers.get(f"{kind}:{function}", self.conn.answer)
        return json.dumps(answer).encode()

    def submit(self, function: str, *args: str, transient: Any = None,
               endorsing_organizations: tuple[str, ...] = (), **_: Any) -> SubmitResult:
        args, pair = private_call(args, transient)
        self.conn.sent.append((f"{self.name}:{function}", args))
        self.conn.pairs.append(pair)
        if endorsing_organizations:
            self.conn.endorsers.append(tuple(endorsing_organizations))
        if self.conn.error is not None:
            raise self.conn.error
        self.conn.gateway.commits.record(7)  # as a real commit status does
        return SubmitResult("tx1", self._answer(function, "submit"), 7)

    def evaluate(self, function: str, *args: str, transient: Any = None,
                 **_: Any) -> bytes:
        args, pair = private_call(args, transient)
        self.conn.sent.append((f"{self.name}:{function}", args))
        self.conn.pairs.append(pair)
        if self.conn.error is not None:
            raise self.conn.error
        return self._answer(function, "evaluate")


@dataclass
class FakeConnection:
    answer: Any = field(default_factory=dict)
    error: Exception | None = None
    answers: dict[str, Any] = field(default_factory=dict)  # "submit:Fn" / "evaluate:Fn"
    sent: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    endorsers: list[tuple[str, ...]] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)  # the pair each call named ("" for none)
    waited: list[int] = field(default_factory=list)
    gateway: Any = field(default_factory=lambda: SimpleNamespace(commits=BlockWatermark()))
    party: str = "operator"
    user: str = "User1"
    profile: Any = field(default_factory=lambda: SimpleNamespace(orgs={
        p: SimpleNamespace(msp_id=m) for p, m in (("operator", "OperatorMSP"),
                                                  ("bank-a", "BankAMSP"),
                                                  ("bank-b", "BankBMSP"))}))

    def contract(self, name: str = "") -> FakeContract:
        return FakeContract(name, self)

    def wait_for_all_peers(self, block_number: int, timeout: float = 30.0,
                           poll: float = 0.05) -> None:
        self.waited.append(block_number)

    def close(self) -> None:
        pass


def oracle_client(conn: FakeConnection) -> OracleClient:
    return OracleClient(cast(Connection, conn))


# ---- OracleClient ---------------------------------------------------------------------------


def test_decimals_are_sent_in_fixed_point() -> None:
    conn = FakeConnection(answer={"changed": True})
    oracle_client(conn).post_prices(
        DAY, {"A": Decimal("0.00000012"), "B": Decimal("1.2E+3"), "C": Fraction(101, 4)},
        {"USDJPY": Decimal("141.500")})
    ((function, (day, batch)),) = conn.sent
    assert function == "oracle:PostPrices" and day == "2024-01-03"
    assert json.loads(batch) == {"date": "2024-01-03",
                                 "prices": {"A": "0.00000012", "B": "1200", "C": "25.25"},
                                 "fx": {"USDJPY": "141.500"}}


def test_a_correction_batch_goes_to_correct_prices_with_its_reason() -> None:
    conn = FakeConnection(answer={"version": 2, "kind": "correction", "changed": True})
    client = oracle_client(conn)
    batch = {"date": "2024-01-03", "prices": {"A": {"value": "2", "asOf": "2024-01-02"}},
             "fx": {}}
    assert client.correct_batch_json(DAY, batch, "restated")["kind"] == "correction"
    ((function, args),) = conn.sent
    assert function == "oracle:CorrectPrices"
    assert (args[0], json.loads(args[1]), args[2]) == ("2024-01-03", batch, "restated")
    assert client.last_block == 7


# ---- FabricLedger: which errors are refusals, which are "try again later" --------------------


def ledger_raising(error: Exception) -> FabricLedger:
    return FabricLedger(cast(Connection, FakeConnection(error=error)))


def SWEEP(led: FabricLedger) -> object:
    return led.sweep(DAY, 10)


def READ(led: FabricLedger) -> object:
    return led.last_swept_date()


@pytest.mark.parametrize(("error", "expected"), [
    (chaincode_says("price of A on 2024-01-03 is already 1 (version 1): use CorrectPrices with "
                    "a reason to change it to 2"), PriceConflictError),
    (chaincode_says("no prices posted for 2024-01-03: post them (oracle:PostPrices) before "
                    "margin calls"), PricesNotPostedError),
    (chaincode_says("cannot run the margin call of agreement X on 2024-01-03: missing_price: "
                    "no price for A on 2024-01-03"), LedgerError),
    (chaincode_says("access denied: bank-a is not a party to agreement X"), LedgerError),
])
def test_a_chaincode_refusal_is_a_ledger_error(error: Exception,
                                               expected: type[LedgerError]) -> None:
    with pytest.raises(LedgerError) as info:
        SWEEP(ledger_raising(error))
    assert type(info.value) is expected
    assert "chaincode response" not in str(info.value)  # the chaincode's own words


@pytest.mark.parametrize("error", [
    # a bank's peer is down: nobody can satisfy the agreement's endorsement policy
    EndorseError("no combination of peers can be derived which satisfy the endorsement "
                 "policy: no peer combination can satisfy the endorsement policy",
                 grpc.StatusCode.FAILED_PRECONDITION),
    # peers at different heights answered differently
    EndorseError("failed to collect enough transaction endorsements", grpc.StatusCode.ABORTED,
                 (ErrorDetail("127.0.0.1:7061", "BankBMSP", "ProposalResponsePayloads do not "
                              "match"),)),
    EndorseError("failed to connect to all addresses", grpc.StatusCode.UNAVAILABLE),
    EvaluateError("deadline exceeded", grpc.StatusCode.DEADLINE_EXCEEDED),
    CommitError("tx1", 11, 9),  # MVCC_READ_CONFLICT, after the SDK's own retries
])
def test_a_gateway_failure_is_unavailable(error: Exception) -> None:
    with pytest.raises(LedgerUnavailableError):
        SWEEP(ledger_raising(error))
    with pytest.raises(LedgerUnavailableError):
        READ(ledger_raising(error))


def test_posted_prices_of_an_unposted_date_is_none() -> None:
    led = ledger_raising(chaincode_says("no prices posted for 2024-01-03", EvaluateError))
    assert led.posted_prices(DAY) is None


def test_the_sweep_is_the_sdks_planned_sweep_and_marks_the_day() -> None:
    conn = FakeConnection(answers={
        "evaluate:SweepPlan": {"items": [
            {"agreement": "A", "lender": "bank-a", "borrower": "bank-b", "called": False},
            {"agreement": "B", "lender": "bank-a", "borrower": "bank-b", "called": True}],
            "bookmark": ""},
        "submit:SweepAgreements": {"outcomes": [{"agreement": "A", "status": "called"}]},
        "evaluate:SweepAgreements": {"outcomes": [
            {"agreement": "B", "status": "replayed", "txId": "T0"}]},
        "submit:FinishSweep": {"date": "2024-01-03", "lastSweptDate": "2024-01-03"},
    })
    run = FabricLedger(cast(Connection, conn)).sweep(DAY, 2)
    assert conn.sent[0] == ("margin:SweepPlan", ("2024-01-03", "500", ""))
    assert sorted(conn.sent[1:3]) == [
        ("margin:SweepAgreements", ("2024-01-03", '["A"]')),  # submitted in bank-b's lane
        ("margin:SweepAgreements", ("2024-01-03", '["B"]')),  # already called: evaluated
    ]
    # the pair's finish, endorsed by its banks, then the platform's
    assert conn.sent[3:] == [("margin:FinishSweep", ("2024-01-03",))] * 2
    assert conn.pairs == ["pair-bank-a-bank-b"] * 4 + [""], "every bilateral call names the pair"
    # the batch and the pair's finish: their own banks, no third
    assert conn.endorsers == [("BankAMSP", "BankBMSP")] * 2
    assert conn.waited == [7, 7], "the batch and the finish are on every peer before returning"
    assert [(o.agreement, o.status) for o in run.outcomes] == [("A", "called"), ("B", "replayed")]
    assert run.swept and run.last_swept_date == DAY and run.transactions == 1
