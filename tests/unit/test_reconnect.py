"""The reconnect policy: jittered backoff that grows until reset, and the bridge-wide login gate
(limit, counters, the login command first, waiters that give up)."""

from __future__ import annotations

import asyncio
import random

import pytest

from bridge.reconnect import Backoff, LoginGate


def test_backoff_doubles_with_jitter_up_to_the_maximum_until_reset() -> None:
    backoff = Backoff(2, 60, rng=random.Random(7))
    ceilings = [2, 4, 8, 16, 32, 60, 60, 60]
    delays = [backoff.next_delay() for _ in ceilings]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # drawn, not fixed
    assert backoff.attempts == len(ceilings)
    backoff.reset()
    assert backoff.ceiling() == 2 and 1 <= backoff.next_delay() <= 2


def test_backoff_spreads_sessions_that_dropped_together() -> None:
    firsts = [Backoff(2, 300, rng=random.Random(seed)).next_delay() for seed in range(200)]
    assert min(firsts) >= 1 and max(firsts) <= 2
    # spread over the whole upper half, not bunched
    assert max(firsts) - min(firsts) > 0.9


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 10)
    with pytest.raises(ValueError):
        Backoff(10, 5)
    with pytest.raises(ValueError):
        LoginGate(0)


async def test_gate_holds_the_limit_and_counts() -> None:
    gate = LoginGate(3)
    release = asyncio.Event()
    inside = 0
    most = 0

    async def login() -> None:
        nonlocal inside, most
        async with gate.turn():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(login()) for _ in range(10)]
    await asyncio.sleep(0)
    assert (gate.active, gate.waiting, gate.admitted) == (3, 7, 3)
    release.set()
    await asyncio.gather(*tasks)
    assert most == 3 and gate.peak == 3
    assert (gate.active, gate.waiting, gate.admitted) == (0, 0, 10)


async def test_gate_lets_the_login_command_go_first() -> None:
    gate = LoginGate(1)
    order: list[str] = []
    hold = asyncio.Event()

    async def login(name: str, interactive: bool = False) -> None:
        async with gate.turn(interactive=interactive):
            order.append(name)
            await hold.wait()

    first = asyncio.create_task(login("first"))
    await asyncio.sleep(0)
    background = [asyncio.create_task(login(f"bg{i}")) for i in range(3)]
    await asyncio.sleep(0)
    command = asyncio.create_task(login("command", interactive=True))
    await asyncio.sleep(0)
    hold.set()
    await asyncio.gather(first, command, *background)
    assert order == ["first", "command", "bg0", "bg1", "bg2"]


async def test_gate_survives_waiters_that_give_up() -> None:
    gate = LoginGate(1)
    hold = asyncio.Event()
    done: list[int] = []

    async def login(i: int) -> None:
        async with gate.turn():
            await hold.wait()
            done.append(i)

    holder = asyncio.create_task(login(0))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(login(i)) for i in range(1, 1001)]
    await asyncio.sleep(0)
    assert gate.waiting == 1000
    for task in waiters[:-1]:  # e.g. the bridge stopping, or new logins replacing them
        task.cancel()
    await asyncio.sleep(0)
    assert gate.waiting == 1
    hold.set()
    await asyncio.gather(holder, waiters[-1])
    assert done == [0, 1000]
    assert (gate.active, gate.waiting) == (0, 0)
    # and the gate still works afterwards
    async with gate.turn():
        assert gate.active == 1


async def test_gate_turn_granted_to_a_cancelled_waiter_is_passed_on() -> None:
    gate = LoginGate(1)
    holder_done = asyncio.Event()

    async def holder() -> None:
        async with gate.turn():
            await holder_done.wait()

    async def waiter() -> None:
        async with gate.turn():
            pass

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    w1 = asyncio.create_task(waiter())
    w2 = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    holder_done.set()
    await asyncio.sleep(0)  # the holder leaves and grants w1 its turn ...
    w1.cancel()  # ... which w1 never takes
    await asyncio.gather(h, w2)
    with pytest.raises(asyncio.CancelledError):
        await w1
    assert (gate.active, gate.waiting) == (0, 0)


def test_backoffs_share_one_random_source() -> None:
    # thousands of sessions each hold a backoff: a Random each was 2.5 KiB per session
    first, second = Backoff(2, 60), Backoff(2, 60)
    assert first._rng is second._rng
