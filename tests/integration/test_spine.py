"""The spine end to end: sign in Python, endorse on real peers, order, commit, see the event."""

from __future__ import annotations

import json
import subprocess
import threading

import pytest

from tanpo.client import EndorseError, connect
from tanpo.client.events import ChaincodeEvent
from tanpo.client.profile import Profile
from tanpo.client.session import Session
from tanpo.network.launcher import Launcher
from tests.integration.conftest import TANPO


def test_up_again_is_harmless(launcher: Launcher) -> None:
    before = launcher.running_pids()
    expected = {"orderer0", "peer0-operator", "peer0-bank-a", "peer0-bank-b", "chaincode"}
    assert expected <= set(before)
    launcher.up()
    assert launcher.running_pids() == before


def test_status_reports_heights_and_the_committed_chaincode(launcher: Launcher,
                                                             state_env: dict[str, str]) -> None:
    out = subprocess.run(
        [*TANPO, "network", "status", "--json"],
        env=state_env, capture_output=True, text=True, check=True,
    )
    info = json.loads(out.stdout)
    peers = [n for n in info["nodes"] if n["node"].startswith("peer0-")]
    assert len(peers) == 3
    assert all(n["healthy"] and n["height"] >= 1 for n in info["nodes"] if n["node"] != "chaincode")
    versions = {n["chaincode"] for n in peers}
    assert len(versions) == 1 and None not in versions


def test_submit_evaluate_and_event_as_a_bank_user(profile: Profile) -> None:
    with connect("bank-a", "User1", profile) as conn:
        network = conn.gateway.network(profile.channel)
        events: list[ChaincodeEvent] = []
        stream = network.chaincode_events(profile.chaincode)

        def listen() -> None:
            for ev in stream:
                events.append(ev)
                if ev.name == "Ping":
                    return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        ping = conn.contract("ping")
        result = ping.submit("Ping", "hello from bank-a")
        tx_id = result.transaction_id
        assert result.block_number > 0
        stored = json.loads(ping.evaluate("GetPing", tx_id))
        assert stored["message"] == "hello from bank-a"
        listener.join(timeout=30)
        stream.close()
    assert events, "no chaincode event received"
    ev = events[-1]
    assert ev.transaction_id == tx_id and ev.block_number == result.block_number
    assert ev.json()["message"] == "hello from bank-a"


def test_unregistered_caller_is_refused_with_a_clear_error(profile: Profile) -> None:
    # An organisation admin runs the peer but holds no role in the registry.
    with connect("bank-a", "Admin", profile) as conn, pytest.raises(EndorseError) as info:
        conn.contract("ping").submit("Ping", "should not land")
    assert info.value.refused and not info.value.transient
    assert "access denied" in info.value.chaincode_message
    assert "not registered" in info.value.chaincode_message


def test_an_asynchronous_submit_settles_on_every_peer(session: Session) -> None:
    """Submitted through bank-a's gateway, committed, then read on bank-b's own peer."""
    ping = session.as_("bank-a").contract("ping")
    pending = ping.submit_async("Ping", "async from bank-a", timeout=30.0)
    assert json.loads(pending.result)["message"] == "async from bank-a"  # before the commit
    committed = pending.wait(timeout=30.0)
    assert session.last_block == committed.block_number
    session.settle(timeout=30.0)
    heights = session.as_("bank-b").connection.peer_heights()
    assert all(h > committed.block_number for h in heights.values()), heights
    stored = session.as_("bank-b").contract("ping").evaluate("GetPing", pending.transaction_id,
                                                              timeout=10.0)
    assert json.loads(stored)["message"] == "async from bank-a"
