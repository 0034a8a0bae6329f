"""The notification session's keepalive: ``PNG`` every interval, the session ends without ``QNG``.

MSNP9+ servers name the next interval in ``QNG`` (it is never longer than the configured one).
No ping goes out while the client is not reading (the read gate is closed): the answer could
not be read in time.
"""

from __future__ import annotations

import asyncio

from .codec import Command
from .connection import Connection
from .errors import ConnectionClosed
from .flow import ReadGate, reply_in_time
from .values import DisconnectReason

__all__ = ["Keepalive"]


class Keepalive:
    """The pings of one notification session."""

    __slots__ = ("_answered", "_interval", "_longest", "_task", "_timeout")

    def __init__(self, interval: float, timeout: float) -> None:
        self._longest = self._interval = interval
        self._timeout = timeout
        self._answered = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, conn: Connection, gate: ReadGate | None) -> None:
        self._task = asyncio.create_task(self._run(conn, gate), name="msnp-keepalive")

    def stop(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    def on_qng(self, command: Command, version: int) -> None:
        """``QNG [seconds]``: the ping was answered (MSNP9+: ping again in that many seconds)."""
        if command.args and version >= 9:
            try:
                seconds = int(command.args[0])
            except ValueError:
                seconds = 0
            if seconds > 0:
                # compare as ints first: float() of a 400-digit number raises OverflowError
                self._interval = min(self._longest, float(min(seconds, 86400)))
        self._answered.set()

    async def _run(self, conn: Connection, gate: ReadGate | None) -> None:
        while not conn.closed:
            await asyncio.sleep(self._interval)
            if gate is not None:
                await gate.wait()  # no ping while we are not reading
            self._answered.clear()
            try:
                await conn.send(Command("PNG"))
            except ConnectionClosed:
                return
            if not await reply_in_time(self._answered, self._timeout, gate):
                conn.abort(
                    DisconnectReason.KEEPALIVE_TIMEOUT,
                    f"no answer to PNG within {self._timeout:g} s",
                )
                return
