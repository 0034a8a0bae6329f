"""The bridge-wide limit on MSN logins in progress (bridge.reconnect.max_concurrent_logins)."""

from __future__ import annotations

import asyncio

from bridge.login_gate import LoginGate


async def test_never_more_than_the_limit_and_first_come_first_served() -> None:
    gate = LoginGate(3)
    started: list[int] = []
    release = asyncio.Event()

    async def login(i: int) -> None:
        async with gate.slot():
            started.append(i)
            await release.wait()

    tasks = [asyncio.create_task(login(i)) for i in range(10)]
    while len(started) < 3:
        await asyncio.sleep(0)
    for _ in range(5):  # nobody else gets in while three hold a slot
        await asyncio.sleep(0)
    assert started == [0, 1, 2] and gate.in_progress == 3
    release.set()
    await asyncio.gather(*tasks)
    assert started == list(range(10))
    assert gate.peak == 3 and gate.in_progress == 0


async def test_a_failed_login_gives_its_slot_back() -> None:
    gate = LoginGate(1)

    async def failing() -> None:
        async with gate.slot():
            raise OSError("refused")

    for _ in range(3):
        try:
            await failing()
        except OSError:
            pass
    async with gate.slot():
        assert gate.in_progress == 1
    assert gate.in_progress == 0 and gate.peak == 1
