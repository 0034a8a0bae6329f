"""The "added you to their contact list" notices of one user: one per burst, listing everyone
who added the user, and at most one per interval however many people (or one hostile server)
keep adding.

The first addition after a quiet time is announced :data:`GATHER_SECONDS` later, together with
everyone who added the user meanwhile; later ones wait until ``interval`` seconds have passed
since the last notice. At most :data:`MAX_LISTED` people are named in one notice; the rest are
counted. The text (:func:`bridge.texts.added_you`) quotes the names, which their owners chose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import asyncio
import logging

from bridge import texts
from bridge.presence_limiter import MONOTONIC, Clock

__all__ = ["GATHER_SECONDS", "MAX_LISTED", "AddedNotices"]

#: How long the first addition of a burst waits for the others.
GATHER_SECONDS = 2.0
#: People named in one notice; beyond, they are counted.
MAX_LISTED = 20

Send = Callable[[str, str], Awaitable[object]]


class AddedNotices:
    """Collects who added the user and sends the notices through ``send(text, html)``."""

    def __init__(
        self,
        send: Send,
        interval: float,
        log: logging.Logger,
        clock: Clock = MONOTONIC,
    ) -> None:
        self._send = send
        self.interval = interval
        self._log = log
        self._clock = clock
        self._people: dict[str, str] = {}  # passport -> name, at most MAX_LISTED
        self._more = 0
        self._next_at = 0.0  # when the next notice may go out
        self._task: asyncio.Task[None] | None = None
        #: additions that went into a notice with others instead of a notice of their own
        self.coalesced = 0

    def add(self, passport: str, name: str) -> None:
        """``passport`` (named ``name`` by themselves) added the user."""
        if passport in self._people:
            self._people[passport] = name
            return
        if self._people or self._more:
            self.coalesced += 1
        if len(self._people) < MAX_LISTED:
            self._people[passport] = name
        else:
            self._more += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send_when_due(), name="msn-added-notices")

    async def _send_when_due(self) -> None:
        now = self._clock.now()
        await self._clock.sleep(max(GATHER_SECONDS, self._next_at - now))
        people, more = list(self._people.items()), self._more
        self._people, self._more = {}, 0
        self._next_at = self._clock.now() + self.interval
        self._task = None
        if not people:
            return
        text, html = texts.added_you(people, more)
        try:
            await self._send(text, html)
        except Exception:
            self._log.warning("Failed to send the added-you notice", exc_info=True)

    def stop(self) -> None:
        """Forget what was not announced yet (logout, shutdown)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        self._people, self._more = {}, 0
