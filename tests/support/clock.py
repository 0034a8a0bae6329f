"""A virtual clock for code that takes a :class:`bridge.presence_limiter.Clock`: time stands
still until the test moves it, and sleepers wake in time order, so timing tests are exact and
take no real time."""

from __future__ import annotations

from collections.abc import Callable
import asyncio
import heapq
import itertools

__all__ = ["VirtualClock"]

#: How many event-loop turns let woken tasks run until they wait again.
_SETTLE_TURNS = 50


class VirtualClock:
    def __init__(self) -> None:
        self.time = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + max(0.0, seconds), next(self._order), future))
        await future

    async def settle(self) -> None:
        """Let every task that can run do so (until each waits for the clock or an event)."""
        for _ in range(_SETTLE_TURNS):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking each sleeper at its own time."""
        end = self.time + seconds
        await self.settle()
        while self._sleepers and self._sleepers[0][0] <= end:
            wake, _, future = heapq.heappop(self._sleepers)
            if future.done():  # its sleeper was cancelled
                continue
            self.time = wake
            future.set_result(None)
            await self.settle()
        self.time = end
        await self.settle()

    async def run_until(self, condition: Callable[[], bool], limit: float = 60.0) -> None:
        """Move time forward, sleeper by sleeper, until ``condition()`` holds."""
        end = self.time + limit
        await self.settle()
        while not condition():
            wakes = [wake for wake, _, future in self._sleepers if not future.done()]
            if not wakes or min(wakes) > end:
                raise AssertionError(f"condition not reached by virtual time {end}")
            await self.advance(min(wakes) - self.time)
