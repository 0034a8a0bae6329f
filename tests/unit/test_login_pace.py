"""The login pace: background logins held to fewer turns while the event loop is late (the
rules, called tick by tick), the login command past it, and the timer on a real loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import asyncio
import time

import pytest

from bridge import login_pace
from bridge.login_pace import DOUBLE_EVERY, FLOOR, HOLD, INITIAL, LoginPace
from bridge.reconnect import LoginGate

TARGET = 0.025


class Logins:
    """Background logins through ``gate``, each holding its turn until finished."""

    def __init__(self, gate: LoginGate) -> None:
        self.gate = gate
        self.inside: list[asyncio.Event] = []
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, count: int, *, interactive: bool = False) -> None:
        for _ in range(count):
            self.tasks.append(asyncio.create_task(self._login(interactive)))

    async def _login(self, interactive: bool) -> None:
        done = asyncio.Event()
        async with self.gate.turn(interactive=interactive):
            self.inside.append(done)
            await done.wait()

    async def finish(self, count: int) -> None:
        """The oldest ``count`` logins in progress end."""
        ending, self.inside = self.inside[:count], self.inside[count:]
        for done in ending:
            done.set()
        await settle()

    async def finish_all(self) -> None:
        while self.inside:
            await self.finish(len(self.inside))
        await asyncio.gather(*self.tasks)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


@pytest.fixture
async def no_timer(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[LoginPace]]:
    """The rules alone: the timer's first tick would come after an hour (it is stopped at the
    end of the test)."""
    monkeypatch.setattr(login_pace, "INTERVAL", 3600.0)
    made: list[LoginPace] = []
    yield made
    for pace in made:
        await pace.close()


def on_time(pace: LoginPace, ticks: int, late: float = 0.0) -> None:
    for _ in range(ticks):
        pace.observe(late)


async def paced(
    made: list[LoginPace], limit: int, logins: int
) -> tuple[LoginGate, LoginPace, Logins]:
    """A gate of ``limit`` turns with its pace, and ``logins`` background logins at it."""
    gate = LoginGate(limit)
    pace = LoginPace(gate, TARGET)
    made.append(pace)
    started = Logins(gate)
    started.start(logins)
    await settle()
    return gate, pace, started


async def test_logins_start_small_and_double_while_the_loop_keeps_up(
    no_timer: list[LoginPace],
) -> None:
    gate, pace, logins = await paced(no_timer, 100, 50)
    assert (gate.allowance, gate.active, gate.waiting) == (INITIAL, INITIAL, 50 - INITIAL)
    on_time(pace, DOUBLE_EVERY - 1, 0.001)  # not every tick: a login loads the loop later
    assert gate.allowance == INITIAL
    pace.observe(0.001)
    await settle()
    assert (gate.allowance, gate.active) == (2 * INITIAL, 2 * INITIAL)
    on_time(pace, 2 * DOUBLE_EVERY)
    await settle()
    assert (gate.allowance, gate.active, gate.waiting) == (8 * INITIAL, 50, 0)
    on_time(pace, DOUBLE_EVERY)  # nothing waits: nothing to raise
    assert gate.allowance == 8 * INITIAL
    await logins.finish_all()
    assert pace.cuts == 0


async def test_a_late_loop_halves_what_is_in_flight_once_per_hold(
    no_timer: list[LoginPace],
) -> None:
    gate, pace, logins = await paced(no_timer, 100, 80)
    on_time(pace, 3 * DOUBLE_EVERY)
    await settle()
    assert (gate.allowance, gate.active) == (64, 64)
    pace.observe(0.2)
    assert (gate.allowance, pace.cuts) == (32, 1)
    for _ in range(HOLD):  # the 64 admitted before the cut still run: no second cut yet
        pace.observe(0.2)
    assert gate.allowance == 32
    await logins.finish(40)  # 24 left, 8 of the waiting admitted up to the allowance
    assert (gate.active, gate.waiting) == (32, 8)
    pace.observe(0.2)
    assert (gate.allowance, pace.cuts) == (16, 2)
    await logins.finish_all()


async def test_after_a_cut_turns_come_back_one_tick_at_a_time(no_timer: list[LoginPace]) -> None:
    gate, pace, logins = await paced(no_timer, 100, 40)
    on_time(pace, DOUBLE_EVERY)  # 16
    pace.observe(0.1)  # cut to 8
    await settle()
    assert (gate.allowance, gate.active) == (8, 16)
    await logins.finish(8)
    assert (gate.active, gate.waiting) == (8, 24)
    pace.observe(TARGET * 0.9)  # late, though not by the target: no change either way
    assert gate.allowance == 8
    for expected in (9, 10, 11):
        pace.observe(0.0)
        await settle()
        assert (gate.allowance, gate.active) == (expected, expected)
    await logins.finish_all()


async def test_the_allowance_never_falls_below_the_floor(no_timer: list[LoginPace]) -> None:
    gate, pace, logins = await paced(no_timer, 100, 100)
    for _ in range(3 * (HOLD + 1)):
        pace.observe(1.0)
        await logins.finish(1)
    assert gate.allowance == FLOOR
    assert gate.active == FLOOR and gate.waiting > 0  # logins go on, FLOOR at a time
    await logins.finish_all()


async def test_the_login_command_is_not_held_by_the_allowance(no_timer: list[LoginPace]) -> None:
    gate, _, logins = await paced(no_timer, 20, 15)
    assert (gate.active, gate.waiting) == (INITIAL, 15 - INITIAL)
    logins.start(1, interactive=True)
    await settle()
    assert (gate.active, gate.waiting) == (INITIAL + 1, 15 - INITIAL)
    await logins.finish_all()


async def test_an_idle_gate_starts_small_again(no_timer: list[LoginPace]) -> None:
    gate, pace, logins = await paced(no_timer, 100, 40)
    on_time(pace, 2 * DOUBLE_EVERY)
    assert gate.allowance == 4 * INITIAL
    await logins.finish_all()
    logins.start(40)
    await settle()
    assert (gate.allowance, gate.active) == (INITIAL, INITIAL)
    await logins.finish_all()


async def test_the_timer_cuts_when_the_loop_stalls_and_stops_when_logins_end() -> None:
    gate = LoginGate(40)
    pace = LoginPace(gate, 0.1)  # (a busy test machine is late by tens of milliseconds)
    logins = Logins(gate)
    logins.start(60)
    await settle()
    assert gate.allowance == INITIAL and pace.running
    await until(lambda: gate.allowance == 40, "the allowance grew to the limit")
    cuts = pace.cuts

    def block() -> None:
        time.sleep(0.4)  # one piece of work that holds the loop, as many answers at once do

    asyncio.get_running_loop().call_soon(block)
    await until(lambda: pace.cuts > cuts, "the stall was seen")
    assert gate.allowance < 40  # (back one turn per tick on time)
    await logins.finish_all()
    await until(lambda: not pace.running, "the timer stopped once no login was left")


def test_the_target_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoginPace(LoginGate(10), 0)
