"""`Session`: identities opened once, one record of what they committed, settling on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tanpo.client import session as session_module
from tanpo.client.api import Party
from tanpo.client.connect import Connection
from tanpo.client.gateway import BlockWatermark
from tanpo.client.profile import Profile
from tanpo.client.session import Session

PROFILE = cast(Profile, SimpleNamespace(orgs={}))


@dataclass
class FakeConnection:
    """What a session uses of a connection: its gateway's watermark, the peers' wait, close."""

    party: str
    user: str
    commits: BlockWatermark
    waits: list[tuple[int, float, float]] = field(default_factory=list)
    closed: bool = False

    @property
    def gateway(self) -> Any:
        return SimpleNamespace(commits=self.commits)

    profile = PROFILE

    def wait_for_all_peers(self, block_number: int, timeout: float = 30.0,
                           poll: float = 0.05) -> None:
        self.waits.append((block_number, timeout, poll))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[FakeConnection]:
    conns: list[FakeConnection] = []

    def connect(party: str, user: str, profile: Profile, timeouts: Any,
                commits: BlockWatermark) -> FakeConnection:
        conns.append(FakeConnection(party, user, commits))
        return conns[-1]

    monkeypatch.setattr(session_module, "connect", connect)
    return conns


def test_each_identity_connects_once_and_shares_one_watermark(
        opened: list[FakeConnection]) -> None:
    s = Session(PROFILE)
    a1, a2, b = s.as_("bank-a"), s.as_("bank-a"), s.as_("bank-b", "User2")
    assert a1.connection is a2.connection and len(opened) == 2
    assert (b.party, b.user) == ("bank-b", "User2")
    assert {id(c.commits) for c in opened} == {id(s.commits)}
    assert isinstance(b.client(Party), Party)
    s.close()
    assert all(c.closed for c in opened)


def test_settle_waits_for_the_highest_block_once(opened: list[FakeConnection]) -> None:
    s = Session(PROFILE, settle_timeout=12.0)
    s.settle()  # nothing opened, nothing committed
    s.as_("operator")
    s.as_("bank-a").connection.gateway.commits.record(9)
    s.as_("operator").connection.gateway.commits.record(7)  # an earlier block, elsewhere
    assert s.last_block == 9
    s.settle()
    s.settle()  # nothing new since
    s.settle(timeout=3.0, block=8)  # already held everywhere
    s.commits.record(11)
    s.settle(timeout=3.0, poll=0.01)
    waits = [w for c in opened for w in c.waits]
    assert waits == [(9, 12.0, 0.05), (11, 3.0, 0.01)]


def test_a_session_adopts_a_connection_and_its_commits() -> None:
    conn = FakeConnection("operator", "User1", BlockWatermark())
    s = Session.adopt(cast(Connection, conn))
    conn.commits.record(4)
    s.settle()
    assert conn.waits == [(4, 30.0, 0.05)]
    assert s.as_("operator").connection is cast(Connection, conn)
