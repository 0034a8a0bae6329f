"""How many background MSN logins run at once, following the event loop's lateness.

A login is mostly waiting for the network, but each answer it gets is parsed on the one event
loop the whole bridge shares. With many logins in flight (a restart with thousands of users, a
reconnect after the MSN server went away) their answers arrive together and the loop runs them
one after the other: a message of a user already connected then waits behind them (measured:
up to 0.3 s with 200 logins at once, against 55 ms with 20, for about the same time until all
were online). :class:`LoginPace` watches how late a timer fires while logins are in progress
and sets the :class:`bridge.reconnect.LoginGate`'s allowance, the way TCP sets its window:

* it starts small and doubles while the loop keeps up and logins are waiting, at most once
  per :data:`DOUBLE_EVERY` ticks (a login loads the loop hundreds of milliseconds after it was
  let in: doubling every tick overshot, letting 100 in before the first late tick);
* when the loop is late by more than the target it halves what is in flight (at most once per
  :data:`HOLD` ticks: what was admitted is still running), never below :data:`FLOOR`;
* then it grows by one turn per tick on time.

``bridge.reconnect.max_concurrent_logins`` stays the ceiling; the `login` and `reconnect`
commands do not wait for the allowance (see :class:`~bridge.reconnect.LoginGate`). The timer
runs only while the gate has logins held or waiting.
"""

from __future__ import annotations

from typing import Final
import asyncio
import logging

from bridge.reconnect import LoginGate

__all__ = ["DOUBLE_EVERY", "FLOOR", "HOLD", "INITIAL", "INTERVAL", "LoginPace"]

log = logging.getLogger("mau.login_pace")

#: Seconds between two looks at the loop while logins are in progress.
INTERVAL: Final = 0.05
#: The allowance when logins arrive at an idle gate.
INITIAL: Final = 8
#: The allowance is never cut below this: logins go on however busy the loop is.
FLOOR: Final = 2
#: Ticks after a cut before the next: the logins admitted before it are still running.
HOLD: Final = 4
#: Ticks on time between two doublings of the start.
DOUBLE_EVERY: Final = 8


class LoginPace:
    """The allowance of ``gate`` from the loop's lateness (``target`` seconds; see the module).

    :meth:`observe` holds the rules and is called by the timer with each tick's lateness;
    tests call it directly.
    """

    def __init__(self, gate: LoginGate, target: float) -> None:
        if target <= 0:
            raise ValueError(f"the lateness target must be positive, got {target}")
        self.gate = gate
        self.target = target
        self.cuts = 0
        self._fast = True
        self._hold = 0
        self._since_double = 0
        self._task: asyncio.Task[None] | None = None
        gate.when_busy = self.wake

    @property
    def running(self) -> bool:
        """Whether the timer is running (logins are held or waiting)."""
        return self._task is not None

    def wake(self) -> None:
        """Logins arrived at an idle gate: start small again, and start the timer."""
        self._fast = True
        self._hold = 0
        self._since_double = 0
        self.gate.set_allowance(INITIAL)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="login-pace")

    def observe(self, late: float) -> None:
        """One tick that fired ``late`` seconds after it was due."""
        gate = self.gate
        allowance = gate.allowance
        if late > self.target:
            if self._hold:
                self._hold -= 1
                return
            cut = max(FLOOR, min(allowance, gate.active) // 2)
            self._fast = False
            self._hold = HOLD
            if cut < allowance:
                self.cuts += 1
                log.debug(
                    "The event loop was %.0f ms late: %d logins at once (was %d)",
                    late * 1000,
                    cut,
                    allowance,
                )
                gate.set_allowance(cut)
            return
        self._hold = max(0, self._hold - 1)
        self._since_double += 1
        if late * 2 > self.target or not gate.waiting or gate.active < allowance:
            return  # (only a limit that holds logins back is raised)
        if not self._fast:
            gate.set_allowance(allowance + 1)
        elif self._since_double >= DOUBLE_EVERY:
            self._since_double = 0
            gate.set_allowance(allowance * 2)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.gate.active or self.gate.waiting:
                due = loop.time() + INTERVAL
                await asyncio.sleep(INTERVAL)
                self.observe(max(0.0, loop.time() - due))
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    async def close(self) -> None:
        """Stop the timer (the bridge stops)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
