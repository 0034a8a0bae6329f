"""The "added you to their contact list" notices of one user: one per burst, listing everyone
who added the user, and at most one per interval however many people (or one hostile server)
keep adding.

A burst is announced once it has been quiet for :data:`GATHER_SECONDS` (but no later than
:data:`MAX_GATHER_SECONDS` after it began), together with everyone who added the user
meanwhile; the next notice waits until ``interval`` seconds have passed since the last one. At most :data:`MAX_LISTED` people are named in one notice; the rest are
counted. The text (:func:`bridge.contact_notices.added_you`) quotes the names, which their owners chose.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import asyncio
import logging

from bridge import contact_notices, metrics
from bridge.presence_limiter import MONOTONIC, Clock

__all__ = ["GATHER_SECONDS", "MAX_GATHER_SECONDS", "MAX_LISTED", "AddedNotices"]

#: A burst is over when nobody was added for this long.
GATHER_SECONDS = 2.0
#: ... or when it began this long ago.
MAX_GATHER_SECONDS = 30.0
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
        self._last_added = 0.0
        self._task: asyncio.Task[None] | None = None
        #: additions that went into a notice with others instead of a notice of their own
        self.coalesced = 0

    def add(self, passport: str, name: str) -> None:
        """``passport`` (named ``name`` by themselves) added the user."""
        self._last_added = self._clock.now()
        if passport in self._people:
            self._people[passport] = name
            return
        if self._people or self._more:
            self.coalesced += 1
            metrics.limited("added_notices_coalesced")
        if len(self._people) < MAX_LISTED:
            self._people[passport] = name
        else:
            self._more += 1
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._send_when_due(), name="msn-added-notices")

    async def _send_when_due(self) -> None:
        began = self._clock.now()
        while True:
            quiet_at = min(self._last_added + GATHER_SECONDS, began + MAX_GATHER_SECONDS)
            wait = max(quiet_at, self._next_at) - self._clock.now()
            if wait <= 0:
                break
            await self._clock.sleep(wait)
        people, more = list(self._people.items()), self._more
        self._people, self._more = {}, 0
        self._next_at = self._clock.now() + self.interval
        self._task = None
        if not people:
            return
        text, html = contact_notices.added_you(people, more)
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
