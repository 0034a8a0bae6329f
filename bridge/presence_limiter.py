"""A rate-limited, coalescing sender for ghost presence, with periodic re-sending.

:class:`PresenceLimiter` knows nothing about Matrix: it holds the latest wanted value per key,
sends values through a callback at most ``max_per_second`` times per second, in the order the
keys were first queued, and re-queues "active" values whose last send is older than
``resend_interval`` seconds (Synapse forgets the presence of appservice users that never sync
after about 30 seconds).
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar
from collections.abc import Awaitable, Callable, Hashable
import asyncio
import logging
import time

__all__ = ["MONOTONIC", "Clock", "PresenceLimiter"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: How often a failed send is tried in total before it is given up (until the next update).
MAX_ATTEMPTS = 3


class Clock(Protocol):
    """Where the limiter reads the time and waits (tests pass a virtual clock)."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class _Monotonic:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


MONOTONIC: Clock = _Monotonic()


class PresenceLimiter(Generic[K, V]):
    """Send the latest value of each key, rate-limited; re-send active values periodically.

    * ``update(key, value)`` queues ``key``; if it is already queued only its value is replaced
      (the key keeps its place), so a burst of changes for one ghost costs one request.
    * An update that arrives while the previous value of the same key is being sent is queued
      again, so the last value always reaches the homeserver.
    * A failed send is retried (at the end of the queue) up to :data:`MAX_ATTEMPTS` times unless a
      newer value replaced it.
    """

    def __init__(
        self,
        send: Callable[[K, V], Awaitable[None]],
        *,
        max_per_second: float = 20.0,
        resend_interval: float = 0.0,
        is_active: Callable[[V], bool] = lambda value: True,
        log: logging.Logger | Any = None,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._send = send
        self._clock = clock
        self.interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self.resend_interval = resend_interval
        self._is_active = is_active
        self.log = log or logging.getLogger("mau.presence")
        self._pending: dict[K, tuple[V, int]] = {}  # insertion order = send order
        self._sent: dict[K, tuple[V, float]] = {}  # last value sent and when (monotonic)
        self._in_flight: tuple[K, V] | None = None  # the value being sent
        self._due: set[K] = set()  # queued by the re-sender: sent even if unchanged
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._resender: asyncio.Task[None] | None = None

    # --- public API -----------------------------------------------------------------------

    def update(self, key: K, value: V) -> None:
        """Queue ``value`` as the wanted state of ``key`` (replacing a queued older value);
        nothing is queued when that very value of ``key`` is being sent (several users' MSN
        sessions report the same contact's presence at once, e.g. after a restart)."""
        if self._in_flight is not None and self._in_flight == (key, value):
            self._pending.pop(key, None)  # (the latest wish is the one under way)
            self._due.discard(key)
            return
        self._pending[key] = (value, 0)
        self._kick()

    def last_sent(self, key: K) -> V | None:
        sent = self._sent.get(key)
        return sent[0] if sent else None

    def start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="presence-limiter")
        if self.resend_interval > 0 and (self._resender is None or self._resender.done()):
            self._resender = asyncio.create_task(self._resend(), name="presence-resender")

    def stop(self) -> None:
        for task in (self._worker, self._resender):
            if task is not None and not task.done():
                task.cancel()
        self._worker = self._resender = None

    async def drained(self) -> None:
        """Wait until nothing is queued and no send is in flight."""
        while self._pending or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    # --- internals ------------------------------------------------------------------------

    def _kick(self) -> None:
        self._idle.clear()
        self._wakeup.set()
        self.start()

    async def _work(self) -> None:
        while True:
            if not self._pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            key = next(iter(self._pending))
            value, attempts = self._pending.pop(key)
            due = key in self._due
            self._due.discard(key)
            if not due and self._unchanged(key, value):
                continue
            started = self._clock.now()
            self._in_flight = (key, value)
            try:
                await self._send(key, value)
            except asyncio.CancelledError:
                raise
            except Exception:
                attempts += 1
                if key not in self._pending and attempts < MAX_ATTEMPTS:
                    self._pending[key] = (value, attempts)
                    self.log.debug("Sending presence for %s failed, will retry", key)
                else:
                    self.log.warning("Sending presence for %s failed", key, exc_info=True)
            else:
                self._sent[key] = (value, self._clock.now())
            finally:
                self._in_flight = None
            if self.interval:
                # Pace by send starts: the time the request took counts towards the interval.
                delay = started + self.interval - self._clock.now()
                if delay > 0:
                    await self._clock.sleep(delay)

    def _unchanged(self, key: K, value: V) -> bool:
        """``value`` is what was sent for ``key`` less than ``resend_interval`` ago: changes
        that came back to it while queued (a contact seen offline by one user's session a
        moment before it reports them online) need no request."""
        sent = self._sent.get(key)
        return (
            sent is not None
            and sent[0] == value
            and self._clock.now() - sent[1] < self.resend_interval
        )

    async def _resend(self) -> None:
        # Check a few times per interval so that re-sends of many keys spread out in time.
        tick = max(0.05, min(self.resend_interval / 4, 5.0))
        while True:
            await self._clock.sleep(tick)
            deadline = self._clock.now() - self.resend_interval
            due = False
            for key, (value, when) in list(self._sent.items()):
                if when <= deadline and key not in self._pending and self._is_active(value):
                    # Mark as fresh now so it is not queued twice while waiting its turn.
                    self._sent[key] = (value, self._clock.now())
                    self._pending[key] = (value, 0)
                    self._due.add(key)
                    due = True
            if due:
                self._kick()
