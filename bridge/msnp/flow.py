"""Back-pressure between a client's connections and its event handler: the bounded event queue.

Policy: nothing the server sends is thrown away because the handler is slow. When ``limit``
events are waiting, every connection of the client stops reading from its socket (the kernel's
buffers fill and TCP slows the server down) until the handler has worked the queue down to half.
The only events dropped are typing notifications that arrive while the queue is at least half
full: the handler is behind, and they would be stale by the time it got to them. Each drop is
counted (``typing_dropped``) and logged once per burst.

Two things must go on reading while the gate is closed, or they would wait for themselves:

* a transaction the handler itself awaits (the handler answers an event by sending a message,
  and the reply is on a paused connection) — the gate stays open while it runs;
* the keepalive does not count time spent paused as the server's silence (see
  :attr:`ReadGate.pauses`).

A connection checks the gate before each command it hands on, so the queue exceeds ``limit`` by
at most one event per connection.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
import asyncio

from .burst import Tally
from .events import TypingReceived

__all__ = ["EventQueue", "ReadGate", "reply_in_time"]


class ReadGate:
    """Open: the connections of one client may read. Closed while the handler is behind."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._paused = False
        self._held = 0
        #: the task that consumes the events (the client's dispatcher)
        self.consumer: asyncio.Task[None] | None = None
        #: how many times the gate has closed
        self.pauses = 0

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    async def wait(self) -> None:
        await self._open.wait()

    def pause(self) -> None:
        self._paused = True
        self._update()

    def resume(self) -> None:
        self._paused = False
        self._update()

    def _update(self) -> None:
        if self._paused and not self._held:
            if self._open.is_set():
                self._open.clear()
                self.pauses += 1
        else:
            self._open.set()

    @contextmanager
    def open_for_consumer(self) -> Iterator[None]:
        """Keep reading while the consumer itself waits for the server (else: a deadlock)."""
        if self.consumer is None or asyncio.current_task() is not self.consumer:
            yield
            return
        self._held += 1
        self._update()
        try:
            yield
        finally:
            self._held -= 1
            self._update()


class EventQueue:
    """FIFO of events for one handler, closing the :class:`ReadGate` at ``limit``."""

    def __init__(self, limit: int, tally: Tally) -> None:
        self.limit = max(2, limit)
        self.tally = tally
        self.gate = ReadGate()
        #: the most events that were ever waiting at once
        self.peak = 0
        self._items: deque[object] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: object) -> None:
        queued = len(self._items)
        if queued >= self.limit // 2 and isinstance(item, TypingReceived):
            self.tally.hit(
                "typing_dropped",
                "event handler behind (%d events waiting): typing notifications dropped",
                queued,
            )
            return
        self._items.append(item)
        self._ready.set()
        if queued + 1 > self.peak:
            self.peak = queued + 1
        if queued + 1 >= self.limit:
            self.gate.pause()

    async def get(self) -> object:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if len(self._items) <= self.limit // 2:
            self.gate.resume()
        return item


async def reply_in_time(reply: asyncio.Event, timeout: float, gate: ReadGate | None) -> bool:
    """Whether ``reply`` is set within ``timeout`` seconds of reading: while the gate is
    closed the reply may be waiting unread, so the time starts afresh once it reopens."""
    while True:
        pauses = gate.pauses if gate is not None else 0
        try:
            await asyncio.wait_for(reply.wait(), timeout)
            return True
        except TimeoutError:
            if gate is None or (gate.is_open and gate.pauses == pauses):
                return False
            await gate.wait()
