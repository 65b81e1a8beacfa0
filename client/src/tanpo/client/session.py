"""Several identities of one network acting in turn, each step visible everywhere before the next.

A gateway reports a commit once its own peer has the block; another organisation's peer may still
be a block behind, and a next transaction endorsed there (an agreement's other bank, the
operator) would read stale state. A `Session` opens one connection per identity on demand, every
one reporting its commits to one `BlockWatermark`, and `settle()` waits until every
organisation's peer holds the highest block committed so far::

    with Session(profile) as session:
        session.as_("bank-a").client(Party).propose(terms)
        session.settle()
        session.as_("bank-b").client(Party).approve(terms.id)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tanpo.client.connect import Connection, connect
from tanpo.client.gateway import BlockWatermark, Contract, Timeouts
from tanpo.client.profile import Profile, load_profile

C = TypeVar("C")


@dataclass(frozen=True)
class Participant:
    """One identity of a session: its connection, contracts and typed clients."""

    session: Session
    connection: Connection

    @property
    def party(self) -> str:
        return self.connection.party

    @property
    def user(self) -> str:
        return self.connection.user

    def contract(self, name: str = "") -> Contract:
        return self.connection.contract(name)

    def client(self, kind: Callable[[Connection], C]) -> C:
        """A typed client over this identity's connection, e.g. ``client(Party)``."""
        return kind(self.connection)


class Session:
    """Identities of one network sharing a record of what they committed."""

    def __init__(self, profile: Profile | None = None, timeouts: Timeouts | None = None,
                 settle_timeout: float = 30.0) -> None:
        self._profile = profile
        self.timeouts = timeouts
        self.settle_timeout = settle_timeout
        self.commits = BlockWatermark()
        self._connections: dict[tuple[str, str], Connection] = {}
        self._settled = 0
        self._lock = threading.Lock()

    @classmethod
    def adopt(cls, connection: Connection, settle_timeout: float = 30.0) -> Session:
        """A session around a connection opened elsewhere, tracking what it commits."""
        session = cls(connection.profile, settle_timeout=settle_timeout)
        session.commits = connection.gateway.commits
        session._connections[(connection.party, connection.user)] = connection
        return session

    @property
    def profile(self) -> Profile:
        """The connection profile, read on first use (so a session can exist before the network)."""
        if self._profile is None:
            self._profile = load_profile()
        return self._profile

    @property
    def last_block(self) -> int:
        """The highest block any identity of this session committed a transaction in."""
        return self.commits.last_block

    def as_(self, party: str, user: str = "User1") -> Participant:
        """Act as `user` of organisation `party`; its connection is opened once and kept."""
        with self._lock:
            conn = self._connections.get((party, user))
            if conn is None:
                conn = connect(party, user, self.profile, self.timeouts, commits=self.commits)
                self._connections[(party, user)] = conn
        return Participant(self, conn)

    def settle(self, timeout: float | None = None, block: int | None = None,
               poll: float = 0.05) -> None:
        """Wait until every organisation's peer has committed `block` (default: the highest
        block this session committed in). Returns at once when nothing new was committed."""
        target = self.last_block if block is None else block
        if target <= self._settled:
            return
        with self._lock:
            conn = next(iter(self._connections.values()), None)
        if conn is None:
            return  # nothing was ever submitted through this session
        conn.wait_for_all_peers(target, self.settle_timeout if timeout is None else timeout,
                                poll)
        with self._lock:
            self._settled = max(self._settled, target)

    def close(self) -> None:
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for conn in connections:
            conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
