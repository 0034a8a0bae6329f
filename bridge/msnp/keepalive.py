"""The NS keepalive: ``PNG`` every interval on one timer, and the session ended when no ``QNG``
answers in time.

Thousands of sessions share a process, so a session's keepalive is one timer handle, not a
task: ``PNG`` every ``interval`` (or what ``QNG`` asks for, never more), never while the read
gate is closed; the connection is aborted when a ``PNG`` has no ``QNG`` within ``timeout`` of
reading time (while the gate is closed the ``QNG`` may be waiting unread, so the time starts
afresh once reading resumes). Only while the gate is closed does a small task wait for it to
open.
"""

from __future__ import annotations

from collections.abc import Callable
import asyncio

from .codec import Command
from .connection import Connection
from .flow import ReadGate
from .values import DisconnectReason

__all__ = ["Keepalive", "qng_interval"]


class Keepalive:
    """The keepalive of one NS connection; ``ping`` sends a ``PNG`` (without waiting)."""

    __slots__ = (
        "_awaiting",
        "_conn",
        "_gate",
        "_handle",
        "_pauses",
        "_ping",
        "interval",
        "timeout",
    )

    def __init__(
        self,
        conn: Connection,
        gate: ReadGate | None,
        ping: Callable[[], None],
        *,
        interval: float,
        timeout: float,
    ) -> None:
        self._conn = conn
        self._gate = gate
        self._ping = ping
        self.interval = interval
        self.timeout = timeout
        #: the next PNG, or while one is unanswered the moment to give up on it (a task only
        #: while the read gate is closed)
        self._handle: asyncio.TimerHandle | asyncio.Task[None] | None = None
        self._awaiting = False
        self._pauses = 0  # the read gate's pauses when the QNG wait began

    def start(self) -> None:
        self._set_timer(self.interval, self._send)

    def answered(self, interval: float | None = None) -> None:
        """A ``QNG`` arrived; ``interval``: the next ``PNG`` in that many seconds from now on."""
        if interval is not None:
            self.interval = interval
        if self._awaiting:
            self._awaiting = False
            self._set_timer(self.interval, self._send)

    def stop(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None and handle is not asyncio.current_task():
            handle.cancel()

    def _set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = asyncio.get_running_loop().call_later(delay, callback)

    def _when_reading(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the read gate opens (it is closed: the handler is behind)."""
        assert self._gate is not None
        gate = self._gate

        async def wait() -> None:
            await gate.wait()
            self._handle = None
            callback()

        if self._handle is not None:
            self._handle.cancel()
        self._handle = asyncio.create_task(wait(), name="msnp-keepalive-gate")

    def _send(self) -> None:
        self._handle = None
        if self._conn.closed:
            return
        if self._gate is not None and not self._gate.is_open:
            self._when_reading(self._send)  # no ping while we are not reading
            return
        self._awaiting = True
        self._pauses = self._gate.pauses if self._gate is not None else 0
        self._set_timer(self.timeout, self._no_answer)
        self._ping()

    def _no_answer(self) -> None:
        self._handle = None
        gate = self._gate
        if gate is not None and (not gate.is_open or gate.pauses != self._pauses):
            self._when_reading(self._wait_again)
            return
        self._conn.abort(
            DisconnectReason.KEEPALIVE_TIMEOUT, f"no answer to PNG within {self.timeout:g} s"
        )

    def _wait_again(self) -> None:
        self._pauses = self._gate.pauses if self._gate is not None else 0
        self._set_timer(self.timeout, self._no_answer)


def qng_interval(command: Command, version: int, longest: float) -> float | None:
    """The next ``PNG`` interval a ``QNG`` asks for (MSNP9+), never above ``longest``."""
    if not command.args or version < 9:
        return None
    try:
        seconds = int(command.args[0])
    except ValueError:
        return None
    if seconds <= 0:
        return None
    # compare as ints first: float() of a 400-digit number raises OverflowError
    return min(longest, float(min(seconds, 86400)))
