"""A flood of MSN events against one user's session while the bridge's handlers are stuck: how
much the bridge holds, and how much work the flood costs once they go on.

Run with ``python bench/bridge_flood.py [--lines 100000] [--queue 200]``.

Our MSN test server (in this process) pushes ``--lines`` presence lines into the user's
notification connection while every handler waits; then the handlers are released and the
run ends when the last line was handled. Two shapes:

* ``distinct``: a presence line for a different address each time (nothing can be merged:
  back-pressure must hold the rest at the server);
* ``churn``: one contact changing status and name on every line (superseded updates merged).

Each shape runs twice in the same process: ``unbounded`` is the bridge's session as it was
before ``bridge.event_queue`` (every event put at once in an unbounded ``asyncio.Queue``),
``bridge`` is :class:`bridge.session.MSNSession` with ``bridge.limits.event_queue`` =
``--queue``. Figures, taken once the flood stopped moving while the handlers are stuck: the
events held by the MSN client and the bridge (counted in the heap) and the memory allocated
by ``bridge/`` code that is still held (``tracemalloc``, the in-process server excluded);
then how many events the handlers were given, and the process CPU time from the first line
sent to the last line handled (the server's share included, the same in both runs; measured
in a second run without ``tracemalloc``).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable
from pathlib import Path
import argparse
import asyncio
import gc
import logging
import sys
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.msnp.client import MSNClient
from bridge.msnp.events import Event, PresenceChanged
from bridge.session import MSNSession
from tests.msn_server.fixtures import running_server

EXAMPLE = Path(__file__).resolve().parent.parent / "example-config.yaml"
ALICE, PASSWORD = "alice@example.com", "alice123"
LAST = "last@flood.example"


class _Owner:
    def __init__(self) -> None:
        self.mxid = "@alice:bench"
        self.row = DBUser(mxid=self.mxid)

    async def save(self) -> None:
        pass

    async def send_bridge_notice(self, text: str, *, html: str | None = None) -> None:
        pass

    async def push_bridge_state(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def mark_contacts_offline(self) -> None:
        pass


def _config(server: Any, queue: int) -> Config:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    config["msn.server"] = server.server_address
    config["msn.passport_url"] = server.passport_url
    config["msn.nexus_url"] = None
    config["bridge.limits.event_queue"] = queue
    return config


def _lines(shape: str, count: int) -> bytes:
    if shape == "distinct":
        body = b"".join(b"NLN NLN p%d@flood.example P%d 0\r\n" % (i, i) for i in range(count - 1))
    else:
        states = (b"NLN", b"BSY", b"AWY", b"IDL")
        body = b"".join(
            b"NLN %s churn@flood.example Churn%%20%d 0\r\n" % (states[i % 4], i)
            for i in range(count - 1)
        )
    return body + f"NLN NLN {LAST} Last 0\r\n".encode()


def _bridge_bytes() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, str(Path(__file__).resolve().parent.parent / "bridge" / "*"))]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def _held() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is PresenceChanged)


class _Unbounded:
    """The session's event path before bridge.event_queue: an unbounded queue and a worker."""

    def __init__(self, config: Config, handler: Callable[[Event], Awaitable[None]]) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.handler = handler
        self.worker: asyncio.Task[None] | None = None

        async def enqueue(evt: Event) -> None:
            self.queue.put_nowait(evt)
            if self.worker is None or self.worker.done():
                self.worker = asyncio.create_task(self._drain())

        self.client = MSNClient(config.client_config(), enqueue)

    async def _drain(self) -> None:
        while not self.queue.empty():
            await self.handler(self.queue.get_nowait())

    async def login(self) -> None:
        await self.client.login(ALICE, PASSWORD)

    async def stop(self) -> None:
        await self.client.close()


class _Bounded:
    def __init__(self, config: Config, handler: Callable[[Event], Awaitable[None]]) -> None:
        log = logging.getLogger("bench.session")
        self.session = MSNSession(_Owner(), config, log)  # type: ignore[arg-type]
        self.session.on(PresenceChanged, handler)

    async def login(self) -> None:
        await self.session.login(ALICE, PASSWORD)

    async def stop(self) -> None:
        await self.session.stop()


async def run(kind: str, shape: str, lines: int, queue: int, traced: bool) -> dict[str, Any]:
    async with running_server() as server:
        release = asyncio.Event()
        done = asyncio.Event()
        handled = 0

        async def handler(evt: Event) -> None:
            nonlocal handled
            await release.wait()
            handled += 1
            if isinstance(evt, PresenceChanged) and evt.passport == LAST:
                done.set()

        config = _config(server, queue)
        target = _Unbounded(config, handler) if kind == "unbounded" else _Bounded(config, handler)
        await target.login()
        gc.collect()
        base = _held()
        if traced:
            tracemalloc.start()
        cpu = time.process_time()
        await server.send_raw(ALICE, _lines(shape, lines))
        # stuck until the flood has stopped moving (everything read, or reading paused)
        last, still = -1, 0
        while still < 10:
            await asyncio.sleep(0.05)
            now = _held()
            still = still + 1 if now == last else 0
            last = now
        held = last - base
        held_mb = _bridge_bytes() / 1e6 if traced else 0.0
        tracemalloc.stop()
        release.set()
        await asyncio.wait_for(done.wait(), 300)
        cpu = time.process_time() - cpu
        await target.stop()
    return {"held": held, "held_mb": held_mb, "handled": handled, "cpu_s": cpu}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--queue", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"{args.lines:,} presence lines while the handlers are stuck (event queue {args.queue})")
    print(
        f"{'shape':10} {'session':10} {'events held':>12} {'bridge MB':>10} {'handled':>9} "
        f"{'CPU s':>7}"
    )
    for shape in ("distinct", "churn"):
        results = {}
        for kind in ("unbounded", "bridge"):
            # memory in one run (tracemalloc slows allocation down), CPU time in another
            r = await run(kind, shape, args.lines, args.queue, traced=False)
            r["held_mb"] = (await run(kind, shape, args.lines, args.queue, traced=True))["held_mb"]
            results[kind] = r
            print(
                f"{shape:10} {kind:10} {r['held']:>12,} {r['held_mb']:>10.2f} "
                f"{r['handled']:>9,} {r['cpu_s']:>7.2f}"
            )
        base, new = results["unbounded"], results["bridge"]
        print(
            f"{shape:10} {'ratio':10} {new['held'] / max(1, base['held']):>12.3f} "
            f"{new['held_mb'] / max(0.001, base['held_mb']):>10.3f} "
            f"{new['handled'] / max(1, base['handled']):>9.3f} "
            f"{new['cpu_s'] / max(0.001, base['cpu_s']):>7.3f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
