"""The background tasks one object started: kept so they can be cancelled when it closes.

Most of a session's parts (P2P, MSNFTP, offline messages, circles, the switchboard pool) have
no task running nearly all the time, and an empty ``set`` costs 216 bytes: :class:`Tasks` makes
its set with the first task and drops it when the last one ends.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
import asyncio

__all__ = ["Tasks"]


class Tasks:
    """A set of running tasks, made when needed (see the module docs)."""

    __slots__ = ("_on_done", "_running")

    def __init__(self, on_done: Callable[[asyncio.Task[None]], None] | None = None) -> None:
        #: called with each task once it ended (after it left the set)
        self._on_done = on_done
        self._running: set[asyncio.Task[None]] | None = None

    def spawn(
        self, coro: Coroutine[object, object, None], name: str | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        running = self._running
        if running is None:
            running = self._running = set()
        running.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        running = self._running
        if running is not None:
            running.discard(task)
            if not running:
                self._running = None
        if self._on_done is not None:
            self._on_done(task)

    def __len__(self) -> int:
        return len(self._running or ())

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel every running task; returns them (to be awaited when that matters)."""
        tasks = list(self._running or ())
        for task in tasks:
            task.cancel()
        return tasks
