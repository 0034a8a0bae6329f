"""Full collections when many MSN sessions end at once: the bridge's GC policy, rule against rule.

Run with ``python bench/gc_release.py [--sessions 10000] [--objects 1000] [--freeze-every 500]``.

The bridge freezes what its sessions make (:mod:`bridge.gc_policy`), so a full collection does
not scan them; what an ended session leaves in reference cycles is only freed by a *release*:
everything unfrozen, one full collection of the whole heap, frozen again. This benchmark builds
``--sessions`` stand-in sessions of ``--objects`` objects each (dicts and lists in reference
cycles, as a client with its callbacks and tasks), logged in through the policy, and then ends
every one of them and logs a new one in (a server restart: every session drops and reconnects).
It reports, per rule, how many releases that caused, their total and longest CPU time and the
memory left:

* ``every N ended`` — the rule before (the baseline, in the same run): a release after every
  ``--freeze-every`` ended sessions, so 10,000 dropped sessions cost 20 collections of the whole
  heap;
* ``proportional`` — the shipped rule: a release after ``--freeze-every`` ended sessions or a
  quarter of the frozen ones, whichever is more.

CPU times are the process's (``time.process_time``): what the event loop would have been held.
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import argparse
import gc
import json
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._probe import rss_kib
from bridge.gc_policy import GCPolicy


class _Session:
    """A stand-in for one MSN session: ``objects`` tracked objects, all in one reference cycle
    through the session (as a client, its protocol, callbacks and tasks refer to each other)."""

    __slots__ = ("parts",)

    def __init__(self, objects: int) -> None:
        self.parts: list[Any] = [{"owner": self, "n": i} for i in range(max(1, objects - 1))]


def run_rule(rule: str, sessions: int, objects: int, freeze_every: int) -> dict[str, Any]:
    gc.collect()
    gc.unfreeze()
    policy = GCPolicy()
    policy.configure(0, freeze_every)
    live = []
    for _ in range(sessions):
        live.append(_Session(objects))
        policy.logged_in()
    rss_before = rss_kib()
    pauses: list[float] = []
    started = time.process_time()
    for i in range(sessions):
        if rule == "every N ended":
            policy.frozen = 0  # the rule before: only freeze_every counts
        releases = policy.releases
        t0 = time.process_time()
        live[i] = None  # the session ends (its cycle stays, frozen)
        policy.session_ended()
        if policy.releases > releases:
            pauses.append(time.process_time() - t0)
        live[i] = _Session(objects)  # and logs in again
        policy.logged_in()
    total = time.process_time() - started
    result = {
        "rule": rule,
        "sessions": sessions,
        "objects": objects,
        "releases": len(pauses),
        "release_cpu_s": sum(pauses),
        "longest_ms": max(pauses, default=0.0) * 1000,
        "storm_cpu_s": total,
        "rss_growth_kib": rss_kib() - rss_before,
    }
    del live
    gc.unfreeze()
    gc.collect()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--objects", type=int, default=1000, help="tracked objects per session")
    ap.add_argument("--freeze-every", type=int, default=500)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    print(
        f"gc_release: {args.sessions} sessions of {args.objects} objects end and log in again, "
        f"freeze every {args.freeze_every} logins"
    )
    results = []
    for rule in ("every N ended", "proportional"):
        r = run_rule(rule, args.sessions, args.objects, args.freeze_every)
        results.append(r)
        print(
            f"  {rule:<14} {r['releases']:>3} full collections, {r['release_cpu_s']:.2f} s of "
            f"CPU in them, longest {r['longest_ms']:.0f} ms; the whole storm "
            f"{r['storm_cpu_s']:.2f} s; RSS {r['rss_growth_kib'] / 1024:+.1f} MiB"
        )
    base, shipped = results
    if base["release_cpu_s"] > 0 and shipped["release_cpu_s"] > 0:
        print(
            f"  proportional / every N ended: collections "
            f"{shipped['releases']}/{base['releases']}, their CPU "
            f"{shipped['release_cpu_s'] / base['release_cpu_s']:.2f}x, storm "
            f"{shipped['storm_cpu_s'] / base['storm_cpu_s']:.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
