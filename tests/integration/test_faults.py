"""Faults on a real network of its own: three Raft orderers, a peer per organisation.

Sixteen agreements (bank-a lends cash to bank-b against stock) are margined every day by the
oracle daemon, driven the way it runs live: ``Oracle.tick`` in a loop, its clock set to the day
after the valuation date, every error left to the daemon (it logs, and the next tick re-reads the
ledger and carries on). One fault per valuation date:

1. a bank's peer is killed in the middle of a sweep and started again;
2. one orderer of three is stopped: the network stays available, every submit commits;
3. every orderer is stopped: a submit fails with a clear error and commits nothing, the daemon
   keeps retrying, and both recover once the orderers are back;
4. the chaincode server's process is killed under load (the daemon's sweep and two clients
   transferring cash): its supervisor starts it again;
5. the oracle process itself (``tanpo oracle replay``) is killed in the middle of a sweep and
   started again.

After each: every agreement has exactly one margin call per swept date, its collateral is the
opening quantity plus what those calls settled, supply equals free balances plus collateral
held for every token, the last swept date is the date, every transfer a client saw succeed is
on the ledger once and every one it saw fail is not (or is, exactly once, when the outcome was
unknown), and nobody touched anything but the faulty node. Nodes are stopped and started by
their PID files (``tanpo.network.processes``); the chaincode server's child by the PID its
supervisor's ``/proc`` entry lists. The network is always stopped at the end.

Port base: ``TANPO_FAULT_PORT_BASE`` (default 28200: below the ephemeral ports, 32768 and up on
Linux, one of which an outgoing connection may hold just when a node starts).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from fabric_protos.peer import transaction_pb2

from tanpo.client import (
    CommitError,
    CommitStatusError,
    EndorseError,
    GatewayError,
    SubmitError,
    connect,
    private,
)
from tanpo.client.connect import Connection
from tanpo.client.pairs import pair_collection
from tanpo.client.profile import Profile, load_profile
from tanpo.client.session import Session
from tanpo.network import processes
from tanpo.network.launcher import Launcher
from tanpo.network.topology import Topology
from tanpo.oracle.config import InstrumentConfig, OracleConfig, ScheduleConfig, SourceConfig
from tanpo.oracle.daemon import Oracle
from tanpo.oracle.fabric import FabricLedger
from tanpo.oracle.sources import StaticSource
from tests.integration.conftest import TANPO, alive, running_network, submit_json

PORT_BASE = int(os.environ.get("TANPO_FAULT_PORT_BASE", "28200"))
CASH, STOCK, SYMBOL = "F-CASH", "F-STK", "FSTK"
AGREEMENTS = [f"F-{i:02d}" for i in range(1, 17)]
OPENING_STOCK, LOAN, STOCK_ISSUED = 1000, 1_000_000, 1_000_000
START = date(2024, 6, 3)
DAYS = [START + timedelta(days=i) for i in range(1, 8)]  # one valuation date per step
#: closes that move every day (so every call moves collateral), within the 25 % move limit
CLOSES = {START + timedelta(days=i): str(1000 + (40 if i % 2 else -30) + 5 * i)
          for i in range(-12, 12)}
CLOSES[START] = "1000"
PAIR = pair_collection("bank-a", "bank-b")
RETRY_FOR = 120.0  # seconds a client or the daemon may take to recover from one fault


def _healthz(port: int) -> Callable[[], bool]:
    return lambda: processes.healthz_ok(port)


def _wait(what: str, ready: Callable[[], bool], timeout: float = RETRY_FOR) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


# ---- the network and the desk -------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """This module's own network (not the session's): it is the one the faults break."""
    state = tmp_path_factory.mktemp("faults") / "state"
    with running_network(state, PORT_BASE, orderers=3) as launcher:
        yield launcher


@dataclass
class Desk:
    launcher: Launcher
    profile: Profile
    session: Session
    conns: dict[str, Connection]
    tmp: Path
    swept: list[date] = field(default_factory=list)

    @property
    def topo(self) -> Topology:
        return self.launcher.topo

    def submit(self, who: str, fn: str, *args: str) -> Any:
        if not fn.startswith("agreements:"):
            return submit_json(self.session, self.conns[who], fn, *args)
        # an agreement's records are its pair's: private arguments, the pair's peers endorse
        contract, _, function = fn.partition(":")
        result = private.submit(self.conns[who].contract(contract), function, *args, pair=PAIR)
        self.session.settle()
        return json.loads(result.result) if result.result else None

    def read(self, fn: str, *args: str) -> Any:
        """A query as the operator (balances, supply, the sweep's progress), retried through
        short outages."""
        return self._read("operator", fn, *args)

    def book(self, fn: str, *args: str) -> Any:
        """A query of an agreement's private records (custody, margin calls) as bank-a, a party
        to every agreement here: the operator is refused them. Retried through short outages."""
        return self._read("bank-a", fn, *args)

    def _read(self, who: str, fn: str, *args: str) -> Any:
        contract, _, function = fn.partition(":")
        deadline = time.monotonic() + RETRY_FOR
        while True:
            try:
                if who == "operator":
                    raw = self.conns[who].contract(contract).evaluate(function, *args)
                else:
                    raw = private.evaluate(self.conns[who].contract(contract), function, *args,
                                           pair=PAIR)
                return json.loads(raw) if raw else None
            except GatewayError as exc:
                if exc.refused or time.monotonic() > deadline:
                    raise  # the chaincode's answer, not an outage
                time.sleep(0.5)

    # -- the oracle daemon, as it runs live ------------------------------------------------
    def oracle(self) -> tuple[Oracle, FabricLedger]:
        config = OracleConfig(
            source=SourceConfig("static"),
            instruments=(InstrumentConfig(STOCK, SYMBOL, "XTKS", "JPY", Decimal("0.1")),),
            schedule=ScheduleConfig(valuation_days="daily", start_date=DAYS[0]),
            sweep_batch_size=1,
        )
        ledger = FabricLedger(connect("operator", "User1", self.profile))
        source = StaticSource({SYMBOL: CLOSES})
        return Oracle(config, ledger, source, mode="live"), ledger

    def margin(self, day: date) -> Daemon:
        """Start the daemon's loop for ``day`` in a thread."""
        daemon = Daemon(self, day)
        daemon.start()
        return daemon

    def calls_on(self, day: date) -> int:
        """How many of the agreements have a margin call recorded for ``day``."""
        n = 0
        for agreement in AGREEMENTS:
            page = self.book("margin:ListMarginCalls", agreement, "", "")
            n += sum(1 for c in page["items"] if c["date"] == day.isoformat())
        return n

    # -- nodes -----------------------------------------------------------------------------
    def stop(self, node: str) -> None:
        assert processes.stop(self.topo.pids_dir / f"{node}.pid"), f"{node} was not running"

    def start_peer(self, party: str) -> None:
        org = self.topo.org(party)
        node = self.launcher.peer_node(org)
        processes.start(node)
        processes.wait_until(node, lambda: processes.healthz_ok(org.operations_port), "healthz")

    def start_orderers(self, indexes: list[int]) -> None:
        nodes = [(self.launcher.orderer_node(o), o) for o in self.topo.orderer_nodes
                 if o.index in indexes]
        for node, _ in nodes:
            processes.start(node)
        for node, o in nodes:
            processes.wait_until(node, _healthz(o.operations_port), "healthz")

    def chaincode_child(self) -> int | None:
        """The chaincode server: the child of the supervisor the launcher started (None while
        the supervisor is between two children)."""
        supervisor = processes.read_pid(self.topo.pids_dir / "chaincode.pid")
        assert supervisor is not None, "the chaincode supervisor is not running"
        children: list[int] = []
        for task in os.listdir(f"/proc/{supervisor}/task"):
            with open(f"/proc/{supervisor}/task/{task}/children") as f:
                children += [int(p) for p in f.read().split()]
        live = [p for p in children if alive(p)]
        assert len(live) <= 1, f"supervisor {supervisor} has children {children}"
        return live[0] if live else None

    def orderer_heights(self) -> dict[str, int | None]:
        return {o.node: self.launcher._orderer_height(o) for o in self.topo.orderer_nodes}

    def node_pids(self) -> dict[str, int]:
        return self.launcher.running_pids()


class Daemon(threading.Thread):
    """``Oracle.tick`` in a loop until ``day`` is swept: the live daemon's recovery, no operator."""

    def __init__(self, desk: Desk, day: date) -> None:
        super().__init__(daemon=True, name=f"oracle-{day}")
        self.desk, self.day = desk, day
        self.errors: list[str] = []
        self.ticks = 0
        self.done = False

    def run(self) -> None:
        oracle, ledger = self.desk.oracle()
        now = datetime.combine(self.day + timedelta(days=1), datetime.min.time(), UTC)
        oracle.clock = lambda: now + timedelta(hours=12)
        deadline = time.monotonic() + RETRY_FOR
        try:
            while time.monotonic() < deadline:
                oracle.tick()
                self.ticks += 1
                error = oracle.status()["last_error"]
                if error:
                    self.errors.append(error)
                swept = oracle.status()["ledger"]["last_swept"]
                if error is None and swept == self.day.isoformat():
                    self.done = True
                    return
                time.sleep(0.3)
        finally:
            ledger.close()

    def finish(self) -> None:
        self.join(RETRY_FOR + 10)
        assert self.done, f"the oracle did not sweep {self.day}; errors: {self.errors[-3:]}"


@pytest.fixture(scope="module")
def desk(fault_network: Launcher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    profile = load_profile(fault_network.topo.profile_file)
    session = Session(profile)
    conns = {p: session.as_(p).connection for p in ("operator", "bank-a", "bank-b")}
    d = Desk(fault_network, profile, session, conns, tmp_path_factory.mktemp("faults-desk"))
    try:
        d.submit("operator", "tokens:DefineToken",
                 json.dumps({"id": CASH, "kind": "CT", "currency": "JPY"}))
        d.submit("operator", "tokens:DefineToken", json.dumps({
            "id": STOCK, "kind": "ST", "currency": "JPY", "ticker": SYMBOL,
            "quoteConvention": "per-unit", "assetClass": "equity"}))
        for party, token, qty in (("bank-a", CASH, 100 * LOAN), ("bank-b", STOCK, STOCK_ISSUED),
                                  ("bank-b", CASH, 1_000_000)):
            req = d.submit(party, "tokens:RequestIssuance", token, str(qty), "faults")
            d.submit("operator", "tokens:ApproveIssuance", req["id"])
        for agreement in AGREEMENTS:
            d.submit("bank-a", "agreements:Propose", json.dumps({
                "id": agreement, "lender": "bank-a", "borrower": "bank-b",
                "loan": {"token": CASH, "quantity": str(LOAN)},
                "collateral": [{"token": STOCK, "quantity": str(OPENING_STOCK)}],
                "baseCurrency": "JPY", "haircut": "0", "threshold": "0", "mode": "single",
                "tradeDate": START.isoformat(), "startDate": START.isoformat(), "endDate": ""}))
            d.submit("bank-b", "agreements:Approve", agreement)
        yield d
    finally:
        session.close()


# ---- what every fault must leave ----------------------------------------------------------------


def check_ledger(desk: Desk) -> None:
    """Every agreement margined exactly once per swept date, positions = the calls' net effect,
    supply = free + held for each token, the last swept date = the last date."""
    held_total = 0
    for agreement in AGREEMENTS:
        calls = desk.book("margin:ListMarginCalls", agreement, "", "")["items"]
        assert [c["date"] for c in calls] == [d.isoformat() for d in desk.swept], agreement
        assert len({c["txId"] for c in calls}) == len(calls)
        expected = OPENING_STOCK
        for c in calls:
            assert c["agreement"] == agreement and not c["replayed"]
            for t in c["settled"]:
                q = int(t["quantity"])
                expected += q if t["direction"] == "borrower->lender" else -q
        report = desk.book("agreements:CollateralHeld", agreement)
        (position,) = report["positions"]
        assert int(position["held"]) == expected, f"{agreement}: held {position}, calls {expected}"
        assert int(calls[-1]["held"][STOCK]) == expected if calls else True
        held_total += max(expected, 0)
    free: dict[str, int] = {CASH: 0, STOCK: 0}
    for party in ("bank-a", "bank-b"):  # the operator holds no tokens
        for b in desk.read("tokens:BalanceOf", party)["balances"]:
            if b["token"] in free:
                free[b["token"]] += int(b["quantity"])
    assert int(desk.read("tokens:TotalSupply", STOCK)["supply"]) == free[STOCK] + held_total
    assert free[STOCK] + held_total == STOCK_ISSUED  # no mint: the borrower never ran short
    assert int(desk.read("tokens:TotalSupply", CASH)["supply"]) == free[CASH]
    assert desk.read("margin:LastSweptDate")["date"] == desk.swept[-1].isoformat()


def sweep(desk: Desk, day: date) -> Daemon:
    daemon = desk.margin(day)
    desk.swept.append(day)
    return daemon


# ---- the faults ----------------------------------------------------------------------------------


def test_a_clean_day_first(desk: Desk) -> None:
    sweep(desk, DAYS[0]).finish()
    check_ledger(desk)


def test_a_peer_killed_and_restarted_during_a_sweep(desk: Desk) -> None:
    day = DAYS[1]
    others = {k: v for k, v in desk.node_pids().items() if k != "peer0-bank-b"}
    daemon = sweep(desk, day)
    _wait("the first margin call of the sweep", lambda: desk.calls_on(day) > 0)
    desk.stop("peer0-bank-b")
    time.sleep(3)
    # both banks' peers endorse an agreement's collateral: the sweep cannot go on meanwhile
    called = desk.calls_on(day)
    assert 0 < called < len(AGREEMENTS), f"{called} calls: the kill was not mid-sweep"
    assert not daemon.done
    desk.start_peer("bank-b")
    daemon.finish()
    assert daemon.errors, "the daemon saw no error while a bank's peer was down"
    check_ledger(desk)
    assert {k: v for k, v in desk.node_pids().items() if k in others} == others


def test_one_orderer_of_three_down_leaves_the_network_available(desk: Desk) -> None:
    day = DAYS[2]
    desk.stop("orderer0")
    try:
        for i in range(5):  # plain submits commit, no retry needed
            desk.submit("bank-a", "ping:Ping", f"one orderer down {i}")
        daemon = sweep(desk, day)
        daemon.finish()
        assert not daemon.errors, daemon.errors
    finally:
        desk.start_orderers([0])
    check_ledger(desk)
    # the restarted orderer catches up with the others
    _wait("orderer0 to catch up", lambda: len(set(desk.orderer_heights().values())) == 1)


def test_every_orderer_down_gives_a_clear_error_then_recovers(desk: Desk) -> None:
    day = DAYS[3]
    for i in range(3):
        desk.stop(f"orderer{i}")
    try:
        ping = desk.conns["bank-a"].contract("ping")
        with pytest.raises(SubmitError) as err:
            ping.submit("Ping", "no orderer")
        assert "no orderers could successfully process transaction" in str(err.value)
        refused_tx = err.value.transaction_id
        daemon = sweep(desk, day)
        time.sleep(3)
        assert not daemon.done and desk.calls_on(day) == 0
    finally:
        desk.start_orderers([0, 1, 2])
    daemon.finish()
    assert any("no orderers" in e or "LedgerUnavailable" in e or "orderer" in e.lower()
               for e in daemon.errors), daemon.errors
    # the client's retry commits, once; the refused attempt never did
    deadline = time.monotonic() + RETRY_FOR
    while True:
        try:
            tx = ping.submit("Ping", "retry after the outage").transaction_id
            break
        except GatewayError:
            assert time.monotonic() < deadline, "no submit went through after the restart"
            time.sleep(1)
    assert desk.read("ping:GetPing", tx)["message"] == "retry after the outage"
    with pytest.raises(GatewayError, match="no ping"):
        desk.conns["operator"].contract("ping").evaluate("GetPing", refused_tx)
    check_ledger(desk)


class Transfers(threading.Thread):
    """A client moving cash back and forth, retrying transient failures, recording every try."""

    def __init__(self, desk: Desk, sender: str, receiver: str, count: int) -> None:
        super().__init__(daemon=True, name=f"transfers-{sender}")
        self.desk, self.sender, self.receiver, self.count = desk, sender, receiver, count
        self.attempts: list[tuple[str, str]] = []  # (tx id, what the client saw)
        self.failures: list[str] = []

    def run(self) -> None:
        contract = self.desk.conns[self.sender].contract("tokens")
        done = 0
        deadline = time.monotonic() + RETRY_FOR
        while done < self.count and time.monotonic() < deadline:
            proposal = contract.new_proposal("Transfer", [CASH, self.receiver, "1"])
            try:
                status = proposal.endorse().submit().status()
            except EndorseError as exc:
                self.attempts.append((proposal.transaction_id, "not endorsed"))
                self.failures.append(exc.message)
                time.sleep(0.2)
                continue
            except (SubmitError, CommitStatusError) as exc:
                self.attempts.append((proposal.transaction_id, "unknown"))
                self.failures.append(exc.message)
                time.sleep(0.2)
                continue
            if status.successful:
                self.attempts.append((proposal.transaction_id, "committed"))
                done += 1
            else:
                err = CommitError(proposal.transaction_id, status.code, status.block_number)
                self.attempts.append((proposal.transaction_id, "invalid"))
                self.failures.append(err.code_name)

    def committed(self) -> int:
        return sum(1 for _, seen in self.attempts if seen == "committed")


def tx_code(desk: Desk, tx_id: str) -> str | None:
    """The validation code of a transaction on the ledger, or None if it is not there."""
    qscc = desk.conns["operator"].gateway.network(desk.profile.channel).contract("qscc")
    try:
        raw = qscc.evaluate("GetTransactionByID", desk.profile.channel, tx_id)
    except GatewayError:
        return None
    processed = transaction_pb2.ProcessedTransaction.FromString(raw)
    return str(transaction_pb2.TxValidationCode.Name(processed.validationCode))


def test_the_chaincode_server_restarted_under_load(desk: Desk) -> None:
    day = DAYS[4]
    before = {p: {b["token"]: int(b["quantity"]) for b in desk.read("tokens:BalanceOf", p)[
        "balances"]}.get(CASH, 0) for p in ("bank-a", "bank-b")}
    supervisor = desk.node_pids()["chaincode"]
    child = desk.chaincode_child()
    assert child is not None
    load = [Transfers(desk, "bank-a", "bank-b", 25), Transfers(desk, "bank-b", "bank-a", 15)]
    for t in load:
        t.start()
    daemon = sweep(desk, day)
    _wait("the first margin call of the sweep", lambda: desk.calls_on(day) > 0)
    os.kill(child, signal.SIGKILL)  # the chaincode server, by the PID its supervisor lists
    _wait("the supervisor to start the chaincode server again",
          lambda: alive(supervisor) and desk.chaincode_child() not in (None, child), timeout=30)
    daemon.finish()
    for t in load:
        t.join(RETRY_FOR + 10)
        assert t.committed() == t.count, (t.sender, t.failures[-3:])
    assert desk.node_pids()["chaincode"] == supervisor
    assert any(t.failures for t in load) or daemon.errors, "nothing noticed the chaincode restart"
    # every attempt the clients saw commit is on the ledger once; the rest left nothing
    moved = {"bank-a": 0, "bank-b": 0}
    for t in load:
        for tx_id, seen in t.attempts:
            code = tx_code(desk, tx_id)
            if seen == "committed":
                assert code == "VALID", (tx_id, code)
            elif seen == "not endorsed":
                assert code is None, (tx_id, code)
            if code == "VALID":
                moved[t.sender] -= 1
                moved[t.receiver] += 1
    after = {p: {b["token"]: int(b["quantity"]) for b in desk.read("tokens:BalanceOf", p)[
        "balances"]}.get(CASH, 0) for p in ("bank-a", "bank-b")}
    assert after == {p: before[p] + moved[p] for p in before}
    assert moved["bank-a"] == -25 + 15
    check_ledger(desk)


def test_the_oracle_process_killed_mid_sweep_and_restarted(desk: Desk) -> None:
    day = DAYS[5]
    market = desk.tmp / "market"
    market.mkdir(exist_ok=True)
    (market / f"{SYMBOL}.csv").write_text(
        "date,close\n" + "".join(f"{d.isoformat()},{v}\n" for d, v in sorted(CLOSES.items())))
    config = desk.tmp / "oracle.yaml"
    config.write_text(yaml.safe_dump({
        "source": {"kind": "file", "path": str(market)},
        "instruments": {STOCK: {"symbol": SYMBOL, "market": "XTKS", "currency": "JPY",
                                "tick": "0.1"}},
        "fx": {}, "schedule": {"valuation_days": "daily"}, "sweep": {"batch_size": 1},
        "http": {"enabled": False}}))
    env = dict(os.environ, TANPO_STATE_DIR=str(desk.topo.state_dir))
    argv = [*TANPO, "oracle", "--config", str(config), "--ledger", "fabric",
            "--state-dir", str(desk.tmp / "oracle-state"), "replay", "--from", day.isoformat(),
            "--to", day.isoformat(), "--source", str(market), "--no-progress"]
    desk.swept.append(day)
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait("the oracle's first margin call", lambda: desk.calls_on(day) > 0, timeout=90)
        first.kill()  # the process this test started, by its PID
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
    called = desk.calls_on(day)
    assert 0 < called < len(AGREEMENTS), f"{called} calls: the kill was not mid-sweep"
    assert desk.read("margin:LastSweptDate")["date"] == DAYS[4].isoformat()
    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RETRY_FOR)
    assert second.returncode == 0, second.stderr[-2000:]
    events = [json.loads(line) for line in second.stderr.splitlines() if line.startswith("{")]
    (resumed,) = [e for e in events if e["event"] == "resume"]
    assert resumed["sweeps_to_finish"] == [day.isoformat()]
    (swept,) = [e for e in events if e["event"] == "swept"]
    assert swept["agreements"] == len(AGREEMENTS)
    assert swept["replayed"] >= called, "the restarted oracle called an agreement again"
    check_ledger(desk)


def test_every_node_is_back_under_its_pid_file(desk: Desk) -> None:
    """After every fault, each node runs again under the PID file the launcher keeps."""
    pids = desk.node_pids()
    expected = {"orderer0", "orderer1", "orderer2", "peer0-operator", "peer0-bank-a",
                "peer0-bank-b", "chaincode"}
    assert set(pids) == expected
    assert all(alive(p) for p in pids.values())
