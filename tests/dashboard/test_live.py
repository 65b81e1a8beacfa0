"""The dashboard's one event stream: checkpointed, fanned out to the open pages, reopened from
the checkpoint after it breaks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

from tanpo.client.events import ChaincodeEvent, Checkpoint, FileCheckpointer
from tanpo.dashboard.live import Change, LiveFeed, wait_until


class FakeStream:
    """Yields its events, then breaks (``fail``) or waits until closed."""

    def __init__(self, events: list[ChaincodeEvent], fail: bool) -> None:
        self.events = events
        self.fail = fail
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[ChaincodeEvent]:
        yield from self.events
        if self.fail:
            raise ConnectionError("peer went away")
        self.closed.wait(10)

    def close(self) -> None:
        self.closed.set()


def event(block: int, tx: str, name: str = "MarginCall") -> ChaincodeEvent:
    return ChaincodeEvent(block, tx, "tanpo", name, b'{"agreement": "AGR-1"}')


def test_events_are_checkpointed_and_reach_every_subscriber(tmp_path: Path) -> None:
    opened: list[Checkpoint | None] = []
    streams = [FakeStream([event(5, "t1"), event(6, "t2")], fail=True),
               FakeStream([event(7, "t3", "InvoiceIssued")], fail=False)]

    def open_stream(checkpoint: Checkpoint | None) -> FakeStream:
        opened.append(checkpoint)
        return streams[len(opened) - 1]

    seen: list[str] = []
    feed = LiveFeed(open_stream, FileCheckpointer(tmp_path / "cp.json"),
                    on_event=lambda e: seen.append(e.name), retry_delays=(0.01,))

    async def listen() -> list[Change]:
        loop, queue = feed.subscribe()
        feed.start()
        changes = []
        while len([c for c in changes if c.event]) < 3:
            changes.append(await asyncio.wait_for(queue.get(), 10))
        feed.unsubscribe(loop, queue)
        return changes

    changes = asyncio.run(listen())
    try:
        ledger = [c for c in changes if c.event]
        assert [(c.block, c.event) for c in ledger] == [(5, "MarginCall"), (6, "MarginCall"),
                                                        (7, "InvoiceIssued")]
        assert [c.generation for c in ledger] == [1, 2, 3]
        assert any(c.status.startswith("reconnecting (peer went away") for c in changes)
        # reopened after the last event it saw, not from the start
        assert opened == [None, Checkpoint(6, "t2")]
        assert FileCheckpointer(tmp_path / "cp.json").load() == Checkpoint(7, "t3")
        assert seen == ["MarginCall", "MarginCall", "InvoiceIssued"]
        assert wait_until(lambda: feed.status == "live", 5)
    finally:
        feed.stop()
    assert streams[1].closed.is_set()
