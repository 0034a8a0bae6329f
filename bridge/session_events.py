"""The events of one user's MSN clients, handed in order to the handlers registered for their
type; what contacts sent is stored (:mod:`bridge.inbox`) from arrival until handled.

Events of a client that has been replaced are dropped, except what contacts sent: MSN delivered
it to us, so dropping it would lose it. A disconnection is handled at once, ahead of the queue. Messages stored before a restart are handed on first
(:meth:`SessionEvents.replay`).
"""

from __future__ import annotations

from typing import TypeVar, cast
from collections.abc import Awaitable, Callable
import asyncio

from mautrix.types import UserID
from mautrix.util import background_task
from mautrix.util.logging import TraceLogger

from bridge.db.incoming import Incoming
from bridge.inbox import KEPT, Inbox, decode
from bridge.msnp.client import EventHandler, MSNClient
from bridge.msnp.events import Disconnected, Event

__all__ = ["SessionEvents"]

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], Awaitable[None]]

#: How long stopping waits for the event being handled.
STOP_SECONDS = 10.0


class SessionEvents:
    """The event queue of one :class:`bridge.session.MSNSession`."""

    def __init__(
        self,
        owner: UserID,
        log: TraceLogger,
        *,
        current: Callable[[], MSNClient | None],
        on_disconnected: Callable[[MSNClient, Disconnected], Awaitable[None]],
    ) -> None:
        self.owner = owner
        self.log = log
        self.inbox = Inbox(owner)
        self._current = current
        self._on_disconnected = on_disconnected
        self._handlers: dict[type[Event], Handler] = {}
        #: (the client it came from, or None when replayed; the event; its inbox number)
        self._queue: asyncio.Queue[tuple[MSNClient | None, Event, int | None]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._stopping = False

    def on(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """Hand every event of type ``kind`` to ``handler``."""
        self._handlers[kind] = cast(Handler, handler)

    def handler_for(self, client_ref: Callable[[], MSNClient]) -> EventHandler:
        """The event handler to give a new MSN client (``client_ref`` returns that client)."""

        async def enqueue(evt: Event) -> None:
            if isinstance(evt, Disconnected):
                # At once, not behind a backlog of received messages: reconnecting must not
                # wait until they are all in Matrix (they are handed on all the same).
                try:
                    await self._on_disconnected(client_ref(), evt)
                except Exception:
                    self.log.exception("Failed to handle a disconnection")
                return
            seq = None
            try:
                seq = await self.inbox.keep(evt)  # before anything else happens to it
            except Exception:
                self.log.warning("Could not store a received message", exc_info=True)
            self._queue.put_nowait((client_ref(), evt, seq))
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
            self._queue.put_nowait((None, evt, row.seq))
        self._start()

    async def stop(self) -> None:
        """Finish the event being handled; what is queued stays stored for the next start."""
        self._stopping = True
        worker = self._worker
        if worker and not worker.done():
            try:
                await asyncio.wait_for(asyncio.shield(worker), STOP_SECONDS)
            except TimeoutError:
                self.log.warning("An MSN event was still being handled at shutdown")
                worker.cancel()

    def _start(self) -> None:
        if self._stopping or self._queue.empty():
            return
        if not self._worker or self._worker.done():
            self._worker = background_task.create(self._drain(), name=f"msn-events-{self.owner}")

    async def _drain(self) -> None:
        while not self._queue.empty() and not self._stopping:
            client, evt, seq = self._queue.get_nowait()
            try:
                if client is self._current() or isinstance(evt, KEPT):
                    await self._dispatch(evt)
            except Exception:
                self.log.exception("Failed to handle %s", type(evt).__name__)
            if seq is not None:
                try:
                    await self.inbox.done(seq)
                except Exception:
                    self.log.warning("Could not remove a handled message", exc_info=True)

    async def _dispatch(self, evt: Event) -> None:
        handler = self._handlers.get(type(evt))
        if handler is None:
            self.log.trace("Unhandled event %s", type(evt).__name__)
            return
        await handler(evt)
