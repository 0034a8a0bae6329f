"""bridge.msnp.flag.Flag behaves as asyncio.Event does (each scenario runs against both) and
keeps nothing for waiters that are gone."""

from __future__ import annotations

from typing import Any
import asyncio
import sys

import pytest

from bridge.msnp.flag import Flag

KINDS = [Flag, asyncio.Event]


@pytest.mark.parametrize("kind", KINDS)
async def test_set_wakes_every_waiter_even_if_cleared_at_once(kind: Any) -> None:
    flag = kind()
    woke: list[int] = []

    async def waiter(n: int) -> None:
        assert await flag.wait() is True
        woke.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not flag.is_set() and woke == []
    flag.set()
    flag.clear()  # (before the waiters ran: they were woken by the set)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(woke) == [0, 1, 2] and not flag.is_set()


@pytest.mark.parametrize("kind", KINDS)
async def test_wait_returns_at_once_while_set_and_blocks_after_clear(kind: Any) -> None:
    flag = kind()
    flag.set()
    flag.set()
    assert flag.is_set() and await flag.wait() is True
    flag.clear()
    waiting = asyncio.create_task(flag.wait())
    done, _ = await asyncio.wait({waiting}, timeout=0.05)
    assert not done
    flag.set()
    assert await asyncio.wait_for(waiting, 5) is True


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cancelled_waiter_does_not_stop_the_others(kind: Any) -> None:
    flag = kind()
    first = asyncio.create_task(flag.wait())
    second = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    flag.set()
    assert await asyncio.wait_for(second, 5) is True


async def test_nothing_is_kept_for_waiters_that_are_gone() -> None:
    flag = Flag()
    assert flag._waiters is None
    tasks = [asyncio.create_task(flag.wait()) for _ in range(5)]
    await asyncio.sleep(0)
    assert flag._waiters is not None and len(flag._waiters) == 5
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert flag._waiters is None
    waiting = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    flag.set()
    await waiting
    assert flag._waiters is None


def test_smaller_than_an_event_at_rest() -> None:
    event = asyncio.Event()
    event_size = (
        sys.getsizeof(event)
        + sys.getsizeof(event.__dict__)
        + sys.getsizeof(event._waiters)  # type: ignore[attr-defined]
    )
    assert sys.getsizeof(Flag()) * 4 < event_size
