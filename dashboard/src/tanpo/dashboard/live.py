"""One chaincode event stream per dashboard, fanned out to the open pages.

A thread reads the stream of the dashboard's own identity from its checkpoint (a
`FileCheckpointer`: a restarted dashboard resumes after the last event it saw), saves the
checkpoint after each event and tells every subscriber (a server-sent events response per open
page) which block changed. Events carry ids only, so the pages re-read through the SDK; nothing
polls the peers. A broken stream is reported to the pages and reopened after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from tanpo.client.events import ChaincodeEvent, Checkpoint, FileCheckpointer

log = logging.getLogger("tanpo.dashboard")


class Stream(Protocol):
    """A chaincode event stream: iterate it; ``close()`` from another thread ends it."""

    def __iter__(self) -> object: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class Change:
    """What the pages are told: a block committed a chaincode event (its name, never its
    payload), and the feed's generation after it."""

    generation: int
    block: int
    event: str
    status: str

    def json(self) -> dict[str, object]:
        return {"generation": self.generation, "block": self.block, "event": self.event,
                "status": self.status}


class LiveFeed:
    """The event thread and its subscribers."""

    def __init__(self, open_stream: Callable[[Checkpoint | None], Stream],
                 checkpointer: FileCheckpointer,
                 on_event: Callable[[ChaincodeEvent], None] | None = None,
                 retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0)) -> None:
        self._open = open_stream
        self.checkpointer = checkpointer
        self._on_event = on_event
        self._delays = retry_delays
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Change]]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: Stream | None = None
        self._thread: threading.Thread | None = None
        self.generation = 0
        self.block = 0
        self.status = "starting"

    # --- the thread ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tanpo-dashboard-events",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                stream = self._open(self.checkpointer.load())
                with self._lock:
                    self._stream = stream
                if self._stop.is_set():
                    stream.close()
                    return
                self._set_status("live")
                failures = 0
                for event in stream:  # type: ignore[attr-defined]
                    self._deliver(event)
                if self._stop.is_set():
                    return
                raise ConnectionError("the event stream ended")
            except Exception as exc:  # the stream broke: tell the pages, reopen after a pause
                if self._stop.is_set():
                    return
                delay = self._delays[min(failures, len(self._delays) - 1)]
                failures += 1
                log.warning("event stream: %s; reopening in %.0fs", exc, delay)
                self._set_status(f"reconnecting ({str(exc)[:160]})")
                self._stop.wait(delay)
            finally:
                with self._lock:
                    self._stream = None

    def _deliver(self, event: ChaincodeEvent) -> None:
        self.checkpointer.save(event)
        if self._on_event is not None:
            self._on_event(event)
        with self._lock:
            self.generation += 1
            self.block = event.block_number
        self._publish(event.name)

    def _set_status(self, status: str) -> None:
        if status != self.status:
            self.status = status
            self._publish("")

    def bump(self) -> None:
        """A change made through this dashboard (its own submit): the pages re-read."""
        with self._lock:
            self.generation += 1
        self._publish("")

    def _publish(self, name: str) -> None:
        change = Change(self.generation, self.block, name, self.status)
        with self._lock:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, change)
            except RuntimeError:  # its loop closed: the page went away
                self.unsubscribe(loop, queue)

    # --- subscribers (one per open page) ------------------------------------------------------
    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Change]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Change]())
        with self._lock:
            self._subscribers.add(entry)
        return entry

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Change]) -> None:
        with self._lock:
            self._subscribers.discard((loop, queue))

    def snapshot(self) -> Change:
        return Change(self.generation, self.block, "", self.status)


def wait_until(check: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """For tests and start-up: ``check()`` true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True
