"""Collection pauses of an idle bridge holding many sessions: the generation-0 threshold between
bursts of logins, the login threshold against the lower one.

Run with ``python bench/gc_idle.py [--sessions 10000] [--objects 500] [--events 1000000]``.

The bridge freezes what its sessions made once logins stop (:mod:`bridge.gc_policy`); what it
makes afterwards (presence, messages, rooms, caches) is young again, and nothing young is frozen
between bursts. A young object refers to old ones all over a heap that reaches a gigabyte at
10,000 sessions, and the collector reads the header of every object a young one refers to:
there, a cache miss each. This benchmark builds ``--sessions`` stand-in sessions of
``--objects`` tracked objects each (frozen through the policy, as after a start), then handles
``--events`` stand-in events: each makes a few containers that refer to objects of random
sessions; a tenth of the events' objects stay alive for a while (as a message awaiting its
echo would) and a twentieth for good (as a room's state, a cache entry, a portal: what an idle
bridge accumulates), the rest die at once; and every ``CHURN``-th event replaces an object of
a session with a new one (a presence, a re-armed timer: the old one dies, the new one lives
on). Python counts a generation's size as allocations minus deallocations, so that churn
fills the young generations without bringing their collection nearer. It reports the
collections during those events by generation (count, longest) and the collector's time in
all (:class:`bench._probe.GCPauses`), for:

* ``login threshold`` — the threshold of a burst of logins kept between bursts (the policy
  before, the baseline, in the same run);
* ``idle threshold`` — the shipped policy: :data:`bridge.gc_policy.IDLE_THRESHOLD` once the
  burst is over.

Times are the wall clock of each collection (``gc.callbacks``) on an otherwise idle machine.
"""

from __future__ import annotations

from typing import Any
from collections import deque
from pathlib import Path
import argparse
import asyncio
import gc
import json
import random
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._probe import GCPauses
from bridge.gc_policy import DEFAULT_FREEZE_EVERY, DEFAULT_THRESHOLD, IDLE_THRESHOLD, GCPolicy

#: Every 10th event's objects stay alive until this many later ones were kept.
KEPT_EVENTS = 2000
#: Every ``GROWTH``-th event's objects stay alive for good.
GROWTH = 20
#: Every ``CHURN``-th event replaces an old object of a session with a young one.
CHURN = 2


def _build(sessions: int, objects: int) -> list[list[Any]]:
    """Sessions of small dicts and lists that refer to each other (a client, its contacts,
    callbacks); made one session at a time, so each lies in its own stretch of the heap. A
    quarter of each session's objects is then freed again (what a login's transient objects
    leave): new objects fill those holes all over the heap, as in a bridge that ran a while."""
    made = []
    for _ in range(sessions):
        parts: list[Any] = []
        for i in range(objects):
            parts.append({"n": i, "session": parts} if i % 2 else [i, parts])
        made.append(parts)
    for parts in made:
        del parts[1::4]
    return made


async def run_variant(
    label: str, idle_threshold: int, sessions: list[list[Any]], events: int, seed: int
) -> dict[str, Any]:
    gc.unfreeze()
    gc.collect()
    policy = GCPolicy()
    policy.idle_threshold = idle_threshold
    policy.settle_seconds = 0.05
    policy.configure(DEFAULT_THRESHOLD, DEFAULT_FREEZE_EVERY)
    for _ in range(len(sessions)):
        policy.logged_in()  # (freezes what is alive every DEFAULT_FREEZE_EVERY logins)
    while policy.in_burst:  # the policy's own timer ends the burst and freezes the rest
        await asyncio.sleep(0.05)
    young_threshold = gc.get_threshold()[0]
    rng = random.Random(seed)
    count = len(sessions)
    kept: deque[Any] = deque(maxlen=KEPT_EVENTS)
    grown: list[Any] = []
    pauses = GCPauses()
    pauses.install()
    cpu = time.process_time()
    started = time.perf_counter()
    for i in range(events):
        # an event: a few containers referring to objects of two sessions
        a = sessions[rng.randrange(count)]
        b = sessions[rng.randrange(count)]
        event = {"from": a[rng.randrange(len(a))], "to": b[rng.randrange(len(b))], "i": i}
        made = [event, (a[0], b[0]), [event, a[-1]]]
        if i % 10 == 0:
            kept.append(made)
        if i % GROWTH == 0:
            grown.append(made)
        if i % CHURN == 0:
            k = rng.randrange(len(a))
            a[k] = {"n": k, "session": a}
        if i % 1000 == 0:
            await asyncio.sleep(0)
    elapsed_cpu = time.process_time() - cpu
    elapsed = time.perf_counter() - started
    pauses.uninstall()
    policy.stopping()
    del grown
    result: dict[str, Any] = {
        "label": label,
        "young_threshold": young_threshold,
        "events": events,
        "cpu_s": round(elapsed_cpu, 3),
        "wall_s": round(elapsed, 3),
        "gc_s": round(pauses.seconds, 4),
    }
    for generation in range(3):
        result[f"gen{generation}"] = {
            "count": pauses.count[generation],
            "max_ms": round(pauses.max[generation] * 1000, 2),
        }
    return result


def _line(r: dict[str, Any]) -> str:
    parts = ", ".join(
        f"gen {g}: {r[f'gen{g}']['count']} longest {r[f'gen{g}']['max_ms']:.1f} ms"
        for g in range(3)
    )
    return (
        f"  {r['label']:<16} threshold {r['young_threshold']:>6}: {parts}; "
        f"collector {r['gc_s']:.2f} s of {r['cpu_s']:.2f} s CPU"
    )


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    started = time.perf_counter()
    sessions = _build(args.sessions, args.objects)
    print(
        f"gc_idle: {args.sessions} sessions of {args.objects} objects built in "
        f"{time.perf_counter() - started:.1f} s; {args.events} events"
    )
    results = []
    for round_ in range(args.rounds):
        for label, idle in (
            ("login threshold", DEFAULT_THRESHOLD),
            ("idle threshold", args.idle_threshold),
        ):
            r = await run_variant(label, idle, sessions, args.events, seed=round_)
            results.append(r)
            print(_line(r))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--objects", type=int, default=500, help="tracked objects per session")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument(
        "--idle-threshold", type=int, default=IDLE_THRESHOLD, help="(to try another one)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="both variants, alternating")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    results = asyncio.run(amain(args))
    base = [r for r in results if r["label"] == "login threshold"]
    new = [r for r in results if r["label"] == "idle threshold"]

    def longest(rs: list[dict[str, Any]]) -> float:
        return max(r[f"gen{g}"]["max_ms"] for r in rs for g in (0, 1))

    def share(rs: list[dict[str, Any]]) -> float:
        return sum(r["gc_s"] for r in rs) / max(sum(r["cpu_s"] for r in rs), 1e-9)

    print(
        f"  idle / login threshold: longest young collection {longest(new):.1f} / "
        f"{longest(base):.1f} ms ({longest(new) / max(longest(base), 1e-9):.2f}x), "
        f"collector's share of the CPU {share(new) * 100:.1f} / {share(base) * 100:.1f} %"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
