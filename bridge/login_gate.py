"""How many MSN logins the bridge runs at once: one limit for the process, so that a start with
thousands of stored users (or an MSN server coming back) does not stampede the MSN server.

``bridge.reconnect.max_concurrent_logins`` sets it; every login of every session (a new login,
a reconnect, the connects after a restart) holds one slot from the first byte sent until the
client is online or failed. The rest wait their turn in arrival order. ``in_progress`` and
``peak`` say how many held a slot, now and at most.
"""

from __future__ import annotations

from typing import Final
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import asyncio

__all__ = ["DEFAULT_MAX_CONCURRENT_LOGINS", "LoginGate", "gate"]

#: The default: ~100 logins at a time keep 10,000 accounts under a minute on a small machine.
DEFAULT_MAX_CONCURRENT_LOGINS: Final = 100


class LoginGate:
    """At most ``limit`` holders of :meth:`slot` at once (the others wait, first come first
    served)."""

    __slots__ = ("_semaphore", "in_progress", "limit", "peak")

    def __init__(self, limit: int = DEFAULT_MAX_CONCURRENT_LOGINS) -> None:
        self.limit = max(1, limit)
        self._semaphore: asyncio.Semaphore | None = None  # made in the running loop
        self.in_progress = 0
        self.peak = 0

    def configure(self, limit: int) -> None:
        """Set the limit (before the first login)."""
        self.limit = max(1, limit)
        self._semaphore = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            self.in_progress += 1
            self.peak = max(self.peak, self.in_progress)
            try:
                yield
            finally:
                self.in_progress -= 1


#: The bridge's gate (configured at start-up from the config).
gate: Final = LoginGate()
