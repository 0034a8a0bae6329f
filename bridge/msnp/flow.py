"""Back-pressure between a client's connections and its event handler: the bounded event queue.

Policy: nothing the server sends is thrown away because the handler is slow. When ``limit``
events are waiting, every connection of the client stops reading from its socket (the kernel's
buffers fill and TCP slows the server down) until the handler has worked the queue down to half.
The only events dropped are typing notifications that arrive while the queue is at least half
full: the handler is behind, and they would be stale by the time it got to them. Each drop is
counted (``typing_dropped``) and logged once per burst.

Replies must still be read, or a handler that waits for one (it answers an event by sending a
message, directly or through another task) would wait for itself: while a transaction or a
switchboard invitation awaits its answer, the connections go on reading — up to ``4 * limit``
waiting events, where they stop regardless (memory stays bounded; such a transaction then ends
with its timeout). The keepalive does not count time spent not reading as the server's silence
(:mod:`.keepalive`).

A connection checks the gate before each command it hands on, so the queue exceeds its bound by
at most one event per connection (plus the ``SwitchboardJoined`` of one answered switchboard).

Thousands of clients share a process: an idle queue and an open gate hold no deque and at most a
:class:`~.flag.Flag` (made while events wait or while someone waits for the gate to open).
"""

from __future__ import annotations

from typing import Final
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .burst import Tally
from .events import TypingReceived
from .flag import Flag

__all__ = ["HARD_LIMIT_FACTOR", "EventQueue", "ReadGate"]

#: While replies are awaited, reading goes on up to this many times ``limit`` waiting events.
HARD_LIMIT_FACTOR: Final = 4


class ReadGate:
    """Open: the connections of one client may read. Closed while the handler is behind."""

    __slots__ = ("_awaiting", "_behind", "_closed", "_full", "_opened", "pauses")

    def __init__(self) -> None:
        self._closed = False
        self._opened: Flag | None = None  # set when the gate opens; made on demand
        self._behind = False
        self._full = False
        self._awaiting = 0
        #: how many times the gate has closed
        self.pauses = 0

    @property
    def is_open(self) -> bool:
        return not self._closed

    @property
    def full(self) -> bool:
        return self._full

    async def wait(self) -> None:
        if self._closed:
            if self._opened is None:
                self._opened = Flag()
            await self._opened.wait()

    def set_pressure(self, *, behind: bool, full: bool) -> None:
        """``behind``: close unless a reply is awaited; ``full``: close in any case."""
        self._behind, self._full = behind, full
        self._update()

    def _update(self) -> None:
        if self._full or (self._behind and not self._awaiting):
            if not self._closed:
                self._closed = True
                self.pauses += 1
        elif self._closed:
            self._closed = False
            if self._opened is not None:
                self._opened.set()
                self._opened = None

    @contextmanager
    def awaiting_reply(self) -> Iterator[None]:
        """Keep reading (up to the hard limit) while the caller waits for the server."""
        self._awaiting += 1
        self._update()
        try:
            yield
        finally:
            self._awaiting -= 1
            self._update()


class EventQueue:
    """FIFO of events for one handler, driving the :class:`ReadGate`."""

    __slots__ = ("_items", "_ready", "gate", "hard_limit", "limit", "peak", "tally")

    def __init__(self, limit: int, tally: Tally) -> None:
        self.limit = max(2, limit)
        self.hard_limit = HARD_LIMIT_FACTOR * self.limit
        self.tally = tally
        self.gate = ReadGate()
        #: the most events that were ever waiting at once
        self.peak = 0
        self._items: deque[object] | None = None  # made while events wait
        self._ready: Flag | None = None  # made while get() waits

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else 0

    def put(self, item: object) -> None:
        queued = len(self)
        if queued >= self.limit // 2 and isinstance(item, TypingReceived):
            self.tally.hit(
                "typing_dropped",
                "event handler behind (%d events waiting): typing notifications dropped",
                queued,
            )
            return
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._ready is not None:
            self._ready.set()
        queued += 1
        self.peak = max(self.peak, queued)
        if queued >= self.limit:
            self.gate.set_pressure(behind=True, full=queued >= self.hard_limit)

    async def get(self) -> object:
        while not self._items:
            if self._ready is None:
                self._ready = Flag()
            self._ready.clear()
            await self._ready.wait()
        self._ready = None
        return self.pop()

    def pop(self) -> object:
        """The next event (there must be one)."""
        assert self._items
        item = self._items.popleft()
        queued = len(self._items)
        if not queued:
            self._items = None
        if queued <= self.limit // 2:
            self.gate.set_pressure(behind=False, full=False)
        elif queued <= self.hard_limit // 2 and self.gate.full:
            self.gate.set_pressure(behind=True, full=False)
        return item
