"""The bounded queue between one user's MSN client and the bridge's handlers.

Policy (the README's "Limits" table says the same):

* **Back-pressure, not dropping.** At most ``limit`` events wait. When the queue is full,
  :meth:`EventQueue.put` waits for room; the MSN client calls it from its dispatcher, so the
  client's own bounded queue fills and its connections stop reading from their sockets
  (:mod:`bridge.msnp.flow`): the server is slowed down by TCP, nothing it sent is lost.
* **Typing notifications** that arrive while the queue is at least half full are dropped: the
  handlers are behind, and they would be stale when handled (counted ``typing_dropped``).
* **Presence churn is merged**: a presence (or personal message) update of a contact whose
  previous update is still waiting replaces that one in its place, so a contact changing
  status or name a thousand times costs one waiting event; the newest state always arrives
  (counted ``presence_coalesced``). A name is kept from the older update when the newer one
  has none (``FLN`` carries no name).
* An event that is no longer wanted (it comes from a client the session has replaced or
  closed, see ``wanted``) is dropped at once, so a closing client never waits for room.

Each drop is counted in :attr:`EventQueue.counts` (and the ``msn_limited_total`` metric) and
logged once per burst.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
import logging
import time

from bridge import metrics
from bridge.msnp.events import Event, PersonalMessageChanged, PresenceChanged, TypingReceived
from bridge.msnp.flag import Flag

__all__ = ["EventQueue"]

T = TypeVar("T")
#: A burst ends when nothing was dropped for this many seconds (then the next drop logs again).
_BURST_SECONDS = 10.0


@dataclass(slots=True)
class _Slot(Generic[T]):
    item: T
    event: Event
    merge_key: Hashable | None = None


def _merge_key(event: Event) -> Hashable | None:
    if isinstance(event, PresenceChanged | PersonalMessageChanged):
        return type(event), event.passport.lower()
    return None


def _merged(old: Event, new: Event) -> Event:
    if not isinstance(old, PresenceChanged) or not isinstance(new, PresenceChanged):
        return new
    if new.friendly_name is None and old.friendly_name is not None:
        return replace(new, friendly_name=old.friendly_name)
    return new


class EventQueue(Generic[T]):
    """FIFO of ``(item, event)`` pairs for one consumer (see the module documentation).

    ``item`` is what the consumer gets back (e.g. the event with its client and arrival time);
    ``with_event`` rebuilds an item around a merged event.
    """

    def __init__(
        self,
        limit: int,
        with_event: Callable[[T, Event], T],
        log: logging.Logger,
    ) -> None:
        self.limit = max(2, limit)
        self.counts: Counter[str] = Counter()
        #: the most events that ever waited at once
        self.peak = 0
        self._with_event = with_event
        self._log = log
        self._slots: deque[_Slot[T]] | None = None  # made while events wait
        self._merge: dict[Hashable, _Slot[T]] = {}
        self._ready = Flag()
        self._room = Flag()
        self._room.set()
        self._last_drop: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._slots) if self._slots is not None else 0

    async def put(self, item: T, event: Event, wanted: Callable[[], bool] = lambda: True) -> bool:
        """Queue ``item``; waits while the queue is full. Returns False if it was dropped or
        merged into a waiting one (see the module documentation)."""
        key = _merge_key(event)
        while True:
            if not wanted():
                return False
            if isinstance(event, TypingReceived) and len(self) >= self.limit // 2:
                self._dropped("typing_dropped", "typing notifications dropped")
                return False
            if key is not None and key in self._merge:
                slot = self._merge[key]
                slot.event = _merged(slot.event, event)
                slot.item = self._with_event(item, slot.event)
                self._dropped("presence_coalesced", "presence updates merged")
                return False
            if len(self) < self.limit:
                break
            self.counts["backpressure_waits"] += 1
            metrics.limited("backpressure_waits")
            self._room.clear()
            await self._room.wait()
        slot = _Slot(item, event, key)
        if self._slots is None:
            self._slots = deque()
        self._slots.append(slot)
        if key is not None:
            self._merge[key] = slot
        self.peak = max(self.peak, len(self._slots))
        self._ready.set()
        return True

    async def get(self) -> T:
        while not self._slots:
            self._ready.clear()
            await self._ready.wait()
        return self._pop()

    def peek(self) -> T | None:
        """The next item without taking it, or None when nothing waits."""
        return self._slots[0].item if self._slots else None

    def get_nowait(self) -> T | None:
        """The next item, or None when nothing waits."""
        return self._pop() if self._slots else None

    def _pop(self) -> T:
        assert self._slots
        slot = self._slots.popleft()
        if not self._slots:
            self._slots = None
        if slot.merge_key is not None and self._merge.get(slot.merge_key) is slot:
            del self._merge[slot.merge_key]
        self._room.set()
        return slot.item

    def wake(self) -> None:
        """Let waiting producers check again whether they are still ``wanted``."""
        self._room.set()

    def _dropped(self, kind: str, what: str) -> None:
        self.counts[kind] += 1
        metrics.limited(kind)
        now = time.monotonic()
        last = self._last_drop.get(kind)
        self._last_drop[kind] = now
        if last is None or now - last > _BURST_SECONDS:
            self._log.info(
                "MSN events arrive faster than the bridge handles them (%d waiting): %s "
                "(%d so far)",
                len(self),
                what,
                self.counts[kind],
            )
