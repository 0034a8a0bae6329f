"""The events of one user's MSN clients, handed in order to their routes (one table for every
user, :meth:`SessionEvents.route_with`; a handler registered for a type with
:meth:`SessionEvents.on` goes first); what contacts sent is stored (:mod:`bridge.inbox`) from
arrival until handled.

Two lanes feed the one handler loop:

* the current client's events wait in a bounded :class:`bridge.event_queue.EventQueue`
  (``bridge.limits.event_queue``): when the handlers fall behind, the client is made to wait
  and so stops reading from the server (back-pressure);
* stored messages that do not come from the current client go to a lane of their own, taken
  first: those stored before a restart (:meth:`SessionEvents.replay`), and what a replaced
  client still received (MSN delivered it to us: dropping it would lose it, and making a
  closing client wait could lose what is still in its sockets). They are in the database
  already, so this lane costs no more than the rows.

Other events of a replaced client describe a session that is gone and are dropped. A
disconnection is handled at once, ahead of both lanes. When the bridge stops, the message
being handled is finished and what arrives is only stored, for the next start.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, cast
from collections import Counter, deque
from collections.abc import Awaitable, Callable
import asyncio
import math
import time

from mautrix.types import UserID
from mautrix.util import background_task
from mautrix.util.logging import TraceLogger

from bridge import metrics
from bridge.db.incoming import Incoming
from bridge.event_queue import EventQueue
from bridge.inbox import KEPT, Inbox, decode
from bridge.msnp.client import EventHandler, MSNClient
from bridge.msnp.events import Disconnected, Event

__all__ = ["Routes", "SessionEvents"]

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], Awaitable[None]]


class Routes(Protocol):
    """Where the events go that no :meth:`SessionEvents.on` handler takes (one table of
    routes shared by every user: :class:`bridge.event_routes.EventRoutes`)."""

    def route(self, evt: Event) -> Awaitable[None] | None:
        """The handling of ``evt`` (to await), or None when nothing takes it."""


#: A queued event: the client it came from (None: stored before a restart), the event, when
#: it arrived (monotonic; -inf: before a restart), its inbox number (None: not stored).
Queued = tuple[MSNClient | None, Event, float, int | None]

#: How long stopping waits for the event being handled.
STOP_SECONDS = 10.0


class SessionEvents:
    """The event queue of one :class:`bridge.session.MSNSession`."""

    def __init__(
        self,
        owner: UserID,
        log: TraceLogger,
        *,
        limit: int,
        current: Callable[[], MSNClient | None],
        on_disconnected: Callable[[MSNClient, Disconnected], Awaitable[None]],
    ) -> None:
        self.owner = owner
        self.log = log
        self.inbox = Inbox(owner)
        self._current = current
        self._on_disconnected = on_disconnected
        self._handlers: dict[type[Event], Handler] | None = None  # (made by the first on())
        self._routes: Routes | None = None
        self._live: EventQueue[Queued] = EventQueue(
            limit, lambda q, evt: (q[0], evt, q[2], q[3]), log
        )
        self._stored: deque[Queued] | None = None  # made while stored messages wait
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def counters(self) -> Counter[str]:
        """What the bounded lane dropped, merged or waited for (``typing_dropped``,
        ``presence_coalesced``, ``backpressure_waits``), its ``events_queued_peak`` and
        ``events_waiting``; a snapshot."""
        counts = Counter(self._live.counts)
        counts["events_queued_peak"] = self._live.peak
        counts["events_waiting"] = len(self._live) + len(self._stored or ())
        return counts

    def on(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """Hand every event of type ``kind`` to ``handler`` (before any route)."""
        if self._handlers is None:
            self._handlers = {}
        self._handlers[kind] = cast(Handler, handler)

    def route_with(self, routes: Routes) -> None:
        """Hand the events no :meth:`on` handler takes to ``routes``."""
        self._routes = routes

    def wake(self) -> None:
        """The current client changed: producers waiting for room check again whether their
        events are still wanted."""
        self._live.wake()

    def handler_for(self, client_ref: Callable[[], MSNClient]) -> EventHandler:
        """The event handler to give a new MSN client (``client_ref`` returns that client).
        The client's dispatcher calls it, so waiting here is the back-pressure."""

        async def enqueue(evt: Event) -> None:
            client = client_ref()
            if isinstance(evt, Disconnected):
                # At once, not behind a backlog of received messages: reconnecting must not
                # wait until they are all in Matrix (they are handed on all the same).
                try:
                    await self._on_disconnected(client, evt)
                except Exception:
                    self.log.exception("Failed to handle a disconnection")
                return
            seq = None
            try:
                seq = await self.inbox.keep(evt)  # before anything else happens to it
            except Exception:
                self.log.warning("Could not store a received message", exc_info=True)
            if self._stopping:
                return  # stored (or not wanted): the next start hands it on
            queued = (client, evt, time.monotonic(), seq)
            live = client is self._current() and await self._live.put(
                queued, evt, wanted=lambda: not self._stopping and client is self._current()
            )
            if not live and seq is not None and not self._stopping:
                # not (or no longer) the current client's: only what was stored goes on
                self._store(queued)
            self._start()

        return enqueue

    def replay(self, rows: list[Incoming]) -> None:
        """Hand on the messages stored before a restart (call before connecting)."""
        for row in rows:
            try:
                evt = decode(row.kind, row.data)
            except (ValueError, KeyError, TypeError):
                self.log.warning("Dropping an unreadable stored message %s", row.seq)
                continue
            self._store((None, evt, -math.inf, row.seq))
        self._start()

    async def stop(self) -> None:
        """Finish the event being handled; what is queued stays stored for the next start."""
        self._stopping = True
        self._live.wake()
        worker = self._worker
        if worker and not worker.done():
            try:
                await asyncio.wait_for(asyncio.shield(worker), STOP_SECONDS)
            except TimeoutError:
                self.log.warning("An MSN event was still being handled at shutdown")
                worker.cancel()

    def _start(self) -> None:
        if self._stopping or not (self._stored or len(self._live)):
            return
        if not self._worker or self._worker.done():
            self._worker = background_task.create(self._drain(), name=f"msn-events-{self.owner}")

    def _next(self) -> Queued | None:
        """The lane whose first event arrived first (replayed ones before everything)."""
        live = self._live.peek()
        if self._stored and (live is None or self._stored[0][2] <= live[2]):
            queued = self._stored.popleft()
            if not self._stored:
                self._stored = None
            return queued
        return self._live.get_nowait()

    def _store(self, queued: Queued) -> None:
        if self._stored is None:
            self._stored = deque()
        self._stored.append(queued)

    async def _drain(self) -> None:
        while not self._stopping and (queued := self._next()) is not None:
            client, evt, arrived_at, seq = queued
            with self.inbox.handling(seq) as handling:
                try:
                    if client is self._current() or isinstance(evt, KEPT):
                        if math.isfinite(arrived_at):
                            with metrics.handling_arrival(arrived_at):
                                await self._dispatch(evt)
                        else:
                            await self._dispatch(evt)
                except Exception:
                    self.log.exception("Failed to handle %s", type(evt).__name__)
            if seq is not None and not (handling and handling.removed):
                try:
                    await self.inbox.done(seq)
                except Exception:
                    self.log.warning("Could not remove a handled message", exc_info=True)

    async def _dispatch(self, evt: Event) -> None:
        handler = self._handlers.get(type(evt)) if self._handlers is not None else None
        if handler is not None:
            await handler(evt)
            return
        handling = self._routes.route(evt) if self._routes is not None else None
        if handling is None:
            self.log.trace("Unhandled event %s", type(evt).__name__)
            return
        await handling
