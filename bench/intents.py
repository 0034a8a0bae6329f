"""What a Matrix intent costs: mautrix's IntentAPI (the baseline) against bridge/lean_intent.py.

Run with ``python bench/intents.py [--count 5000] [--repeat 3]``.

The bridge keeps an intent for every ghost it acted as and every double-puppeted user. For each
kind, in the same process and run, this makes ``--count`` intents for distinct users through the
appservice API (as ``az.intent.user(mxid)`` does) and prints, per intent:

* the memory they hold (tracemalloc: everything made while making them, the API object mautrix
  keeps per user included), in a separate pass from the timing;
* the CPU to make one (``time.process_time``, best of ``--repeat``), the per-user API objects
  made beforehand so that only the intent is timed;
* the CPU of a call through the registered-and-joined checks (``send_message_event`` with the
  user registered and joined, the request itself answered at once by a stand-in): the checks
  must cost no more than mautrix's.
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import argparse
import asyncio
import gc
import sys
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.types import EventType, Membership, RoomID, UserID

from bridge.lean_intent import LeanAppServiceAPI
from tests.support.appservice import appservice_api

ROOM = RoomID("!room:bench")
KINDS: dict[str, type[AppServiceAPI]] = {
    "mautrix IntentAPI (baseline)": AppServiceAPI,
    "LeanIntentAPI": LeanAppServiceAPI,
}


async def _answered(self: AppServiceAPI, method: Any, path: Any, *args: Any, **kw: Any) -> Any:
    """The homeserver's answer, at once (a state read answers with the whole event)."""
    for event_type, content in (
        ("m.room.power_levels", {"users": {"@msn_sender:bench": 100}}),
        ("m.room.create", {"room_version": "10", "creator": "@bot:bench"}),
    ):
        if f"/state/{event_type}/" in str(path):
            return {
                "type": event_type,
                "content": content,
                "sender": "@bot:bench",
                "state_key": "",
                "event_id": "$state",
                "room_id": str(ROOM),
                "origin_server_ts": 1,
            }
    return {"event_id": "$sent"}


def _api(cls: type[AppServiceAPI]) -> AppServiceAPI:
    return appservice_api(cls, "@bot:bench")  # (no request leaves the process)


def _users(count: int, tag: str) -> list[UserID]:
    return [UserID(f"@msn_{tag}{i}:bench") for i in range(count)]


def memory_per_intent(cls: type[AppServiceAPI], count: int) -> float:
    api = _api(cls)
    users = _users(count, f"m{cls.__name__}_")  # (new users: their loggers are made too)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [api.intent(user) for user in users]
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(kept) == count
    return grown / count


def cpu_per_intent(cls: type[AppServiceAPI], count: int, repeat: int) -> float:
    best = float("inf")
    for r in range(repeat):
        api = _api(cls)
        users = _users(count, f"c{r}_")
        for user in users:
            api.user(user)  # (mautrix keeps these per user: made before the timing)
        start = time.process_time()
        kept = [api.intent(user) for user in users]
        best = min(best, time.process_time() - start)
        del kept
    return best / count


async def cpu_per_checked_call(cls: type[AppServiceAPI], count: int, repeat: int) -> float:
    api = _api(cls)
    intent: IntentAPI = api.intent(UserID("@msn_sender:bench"))
    await intent.state_store.registered(intent.mxid)
    await intent.state_store.set_membership(ROOM, intent.mxid, Membership.JOIN)
    await intent.send_message_event(ROOM, EventType.ROOM_MESSAGE, {"body": "first"})
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(count):
            await intent.send_message_event(ROOM, EventType.ROOM_MESSAGE, {"body": "hi"})
        best = min(best, time.process_time() - start)
    return best / count


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    AppServiceAPI.request = _answered  # type: ignore[method-assign]  # (nothing is sent)

    rows = {}
    for name, cls in KINDS.items():
        rows[name] = (
            memory_per_intent(cls, args.count),
            cpu_per_intent(cls, args.count, args.repeat),
            await cpu_per_checked_call(cls, args.count, args.repeat),
        )
    base = rows["mautrix IntentAPI (baseline)"]
    print(f"Matrix intents, {args.count} distinct users, best of {args.repeat} for CPU")
    print(f"{'kind':<30} {'bytes/intent':>13} {'µs to make':>11} {'µs per checked call':>20}")
    for name, (memory, make, call) in rows.items():
        print(f"{name:<30} {memory:>13.0f} {make * 1e6:>11.2f} {call * 1e6:>20.2f}")
    lean = rows["LeanIntentAPI"]
    print(
        f"ratio lean / baseline: memory {lean[0] / base[0]:.3f}, making {lean[1] / base[1]:.3f}, "
        f"a checked call {lean[2] / base[2]:.3f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
