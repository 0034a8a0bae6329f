"""How sessions come back after a lost connection: the jittered backoff between attempts, and
the bridge-wide gate that limits how many MSN logins run at once.

Both are plain objects with no I/O of their own (the backoff takes its random source, the gate
only hands out turns), so their rules are tested exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
import asyncio
import random

__all__ = ["Backoff", "LoginGate"]


#: The random source of every backoff that is given none: one per session would cost each
#: of thousands of sessions 2.5 KiB (a Mersenne Twister's state).
_SHARED_RNG = random.Random()


class Backoff:
    """Delays between reconnect attempts.

    The n-th delay is drawn at random from the upper half of ``initial * 2**n`` (capped at
    ``maximum``), so sessions that dropped together do not retry together. It starts again at
    ``initial`` only when told (:meth:`reset`): the session calls that once a connection has
    stayed up for a while, so a server that drops every session right after login meets
    growing delays instead of a login every ``initial`` seconds.
    """

    def __init__(
        self, initial: float, maximum: float, *, rng: random.Random | None = None
    ) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError(f"need 0 < initial <= maximum, got {initial} and {maximum}")
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng or _SHARED_RNG

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        return min(self.maximum, self.initial * 2 ** min(self.attempts, 64))

    def next_delay(self) -> float:
        high = self.ceiling()
        self.attempts += 1
        return self._rng.uniform(high / 2, high)

    def reset(self) -> None:
        self.attempts = 0


class LoginGate:
    """The one owner of the bridge-wide limit on MSN logins in progress.

    Every login passes through :meth:`turn`: the `login` command, every reconnect and the
    start-up connect of each stored user. At most :attr:`limit` hold a turn at once; the
    others wait in arrival order, except that an interactive login (someone waiting for the
    reply to `login`) goes before the background ones. Background logins may be held to fewer
    turns than the limit, :attr:`allowance` (set by :class:`bridge.login_pace.LoginPace` from
    the event loop's lateness); an interactive one only ever waits for the limit. The counters
    can be read at any time: :attr:`active` (turns held now), :attr:`waiting`, :attr:`peak`
    (highest ``active`` so far) and :attr:`admitted` (turns handed out).
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the login limit must be at least 1, got {limit}")
        self.limit = limit
        self.active = 0
        self.peak = 0
        self.admitted = 0
        self._allowance = limit
        self._interactive: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._waiting = 0
        #: Called when a login arrives at an idle gate (nothing held, nothing waiting).
        self.when_busy: Callable[[], None] | None = None

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def allowance(self) -> int:
        """How many turns background logins may hold at once (1 to :attr:`limit`)."""
        return self._allowance

    def set_allowance(self, turns: int) -> None:
        """Let background logins hold ``turns`` turns (clamped to 1..limit); turns already
        held are kept, a larger allowance admits waiters at once."""
        self._allowance = max(1, min(self.limit, turns))
        self._wake()

    @asynccontextmanager
    async def turn(self, *, interactive: bool = False) -> AsyncIterator[None]:
        """Hold one of the :attr:`limit` turns for the duration of the block."""
        await self._acquire(interactive)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, interactive: bool) -> None:
        if not self.active and not self._waiting and self.when_busy is not None:
            self.when_busy()
        cap = self.limit if interactive else self._allowance
        if self.active < cap and not self._waiting:
            self._grant()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        (self._interactive if interactive else self._background).append(future)
        self._waiting += 1
        if interactive:
            self._wake()  # (background logins may be waiting for the allowance, not the limit)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                self._release()  # granted, but the waiter was cancelled meanwhile
            else:
                # left in its queue, skipped there (no linear search when thousands leave)
                future.cancel()
                self._waiting -= 1
                self._wake()
            raise

    def _grant(self) -> None:
        self.active += 1
        self.admitted += 1
        self.peak = max(self.peak, self.active)

    def _release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        while self.active < self.limit:
            if self._interactive:
                queue = self._interactive
            elif self._background and self.active < self._allowance:
                queue = self._background
            else:
                return
            future = queue.popleft()
            if future.done():
                continue  # a cancelled waiter, which uncounts itself
            self._waiting -= 1
            self._grant()
            future.set_result(None)
