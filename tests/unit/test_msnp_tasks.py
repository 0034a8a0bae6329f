"""bridge.msnp.tasks: a part's background tasks, in a set that exists only while one runs."""

from __future__ import annotations

import asyncio

from bridge.msnp.tasks import Tasks


async def test_the_set_exists_only_while_a_task_runs() -> None:
    ended: list[asyncio.Task[None]] = []
    tasks = Tasks(ended.append)
    assert len(tasks) == 0 and not tasks and tasks._running is None
    release = asyncio.Event()
    first = tasks.spawn(release.wait(), "first")  # type: ignore[arg-type]
    second = tasks.spawn(asyncio.sleep(0), "second")
    assert len(tasks) == 2 and tasks
    assert first.get_name() == "first"
    await second
    await asyncio.sleep(0)  # (done callbacks run on the next turn)
    assert len(tasks) == 1 and ended == [second]
    release.set()
    await first
    await asyncio.sleep(0)
    assert tasks._running is None and ended == [second, first]


async def test_cancel_cancels_every_running_task_and_returns_them() -> None:
    tasks = Tasks()
    running = [tasks.spawn(asyncio.sleep(60)) for _ in range(3)]
    cancelled = tasks.cancel()
    assert sorted(map(id, cancelled)) == sorted(map(id, running))
    results = await asyncio.gather(*cancelled, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await asyncio.sleep(0)
    assert tasks._running is None
    assert tasks.cancel() == []  # nothing running: nothing to cancel


async def test_a_failed_task_is_handed_to_on_done() -> None:
    seen: list[BaseException | None] = []
    tasks = Tasks(lambda task: seen.append(task.exception()))

    async def fail() -> None:
        raise ValueError("boom")

    task = tasks.spawn(fail())
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(seen) == 1 and isinstance(seen[0], ValueError)
    assert len(tasks) == 0
