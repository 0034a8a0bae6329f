"""Event-loop stall while a login parses its address book, inline against in a worker thread.

Run with ``python bench/ab_login_loop.py``. For ABFindAll answers of 250...4000 contacts it
parses the answer the way :mod:`bridge.msnp.ab_login` does (in a thread from
:data:`~bridge.msnp.ab_login.THREAD_PARSE_BYTES` on) while a ticker task measures how late the
event loop runs it (the longest stall, which every other bridge user's session waits out); the
baseline, measured in the same run on the same bytes, is parsing inline on the loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
import asyncio
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msnp13_parsers import find_all_answer

from bridge.msnp.ab_login import THREAD_PARSE_BYTES, _parse
from bridge.msnp.addressbook import parse_find_all


async def worst_stall(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(longest loop stall, wall time) in milliseconds while ``work`` runs."""
    stalls: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            stalls.append(loop.time() - before - 0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    await work()
    wall = time.perf_counter() - start
    done.set()
    await task
    return max(stalls) * 1000, wall * 1000


async def main() -> None:
    print(f"threshold: answers from {THREAD_PARSE_BYTES // 1024} KB are parsed in a thread")
    print(" contacts      KB   inline stall ms  inline wall ms   ab_login stall ms  wall ms")
    for contacts in (250, 1000, 2000, 4000):
        data = find_all_answer(contacts)

        async def inline(data: bytes = data) -> object:
            return parse_find_all(data)

        async def ab_login(data: bytes = data) -> object:
            return await _parse(data, parse_find_all)

        base = min([await worst_stall(inline) for _ in range(3)])
        ours = min([await worst_stall(ab_login) for _ in range(3)])
        print(
            f" {contacts:8d} {len(data) // 1024:7d} {base[0]:17.1f} {base[1]:15.1f}"
            f" {ours[0]:19.1f} {ours[1]:8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
