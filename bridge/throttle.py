"""Rate-limiting of one changing value, the latest value winning: :class:`LatestWins`.

A ghost's display name is the use: a contact can change their MSN name a thousand times a
minute, and each change of a Matrix display name is a member event in every room the ghost is
in. With a :class:`LatestWins` a change is applied at once if none was applied in the last
``interval`` seconds; otherwise it is held, replaced by any newer one, and the held value is
applied when the interval has passed. So at most one change per interval reaches the
homeserver, and the last value always does. It holds one value and at most one task.
"""

from __future__ import annotations

from typing import Generic, TypeVar
from collections.abc import Awaitable, Callable
import asyncio

from bridge.presence_limiter import MONOTONIC, Clock

__all__ = ["LatestWins"]

V = TypeVar("V")


class LatestWins(Generic[V]):
    """Applies values through ``apply`` at most once per ``interval`` seconds (see above)."""

    def __init__(
        self,
        apply: Callable[[V], Awaitable[object]],
        interval: float,
        clock: Clock = MONOTONIC,
        on_error: Callable[[BaseException], object] | None = None,
    ) -> None:
        self._apply = apply
        self.interval = interval
        self._clock = clock
        self._on_error = on_error
        self._next_at: float | None = None
        self._held: tuple[V] | None = None
        self._task: asyncio.Task[None] | None = None
        #: values that were replaced by a newer one before they were applied
        self.superseded = 0

    @property
    def holding(self) -> bool:
        """Whether a value waits to be applied."""
        return self._held is not None

    async def set(self, value: V) -> bool:
        """Apply ``value`` now (True) or hold it for later (False)."""
        now = self._clock.now()
        if self._held is None and (self._next_at is None or now >= self._next_at):
            self._next_at = now + self.interval
            await self._apply(value)
            return True
        if self._held is not None:
            self.superseded += 1
        self._held = (value,)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._apply_held(), name="latest-wins")
        return False

    async def _apply_held(self) -> None:
        while self._held is not None:
            assert self._next_at is not None
            await self._clock.sleep(max(0.0, self._next_at - self._clock.now()))
            if self._held is None:
                return
            (value,) = self._held
            self._held = None
            self._next_at = self._clock.now() + self.interval
            try:
                await self._apply(value)
            except Exception as e:
                if self._on_error is not None:
                    self._on_error(e)

    def cancel(self) -> None:
        """Forget the held value."""
        self._held = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
