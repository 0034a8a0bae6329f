"""A set/clear flag that coroutines can wait for: :class:`asyncio.Event` without its cost at rest.

An :class:`asyncio.Event` makes a :class:`collections.deque` for its waiters when it is made:
0.84 KiB with the object (tracemalloc), whether anyone ever waits or not; a Flag is 56 bytes.
A bridge keeps several per logged-in user that are almost never waited on (a session's
"online", a queue's "ready" and "room", a connection's "closed"): :class:`Flag` keeps two slots
and makes its list of waiters only while someone waits (``bench/scale.py bridge`` prints the
heap per user).

The behaviour is the Event's: :meth:`set` wakes every coroutine waiting at that moment (even if
the flag is cleared again before they run), :meth:`wait` returns at once while the flag is set,
and a waiter that is cancelled leaves nothing behind.
"""

from __future__ import annotations

import asyncio

__all__ = ["Flag"]


class Flag:
    """See the module documentation; the methods are :class:`asyncio.Event`'s."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def __repr__(self) -> str:
        waiting = len(self._waiters) if self._waiters else 0
        return f"<Flag {'set' if self._value else 'unset'}, {waiting} waiting>"

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        waiters = self._waiters
        waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in waiters:  # (cancelled: set() has not taken the list)
                waiters.remove(waiter)
                if not waiters and self._waiters is waiters:
                    self._waiters = None
        return True
