"""Homeserver requests a bridge start makes, by kind, the first time and after a restart (issue 11).

Run with ``python bench/hs_traffic.py [--users 200] [--contacts 20] [--db postgres|sqlite]``.

It starts ``tests/msn_server`` (in its own process, seeded with ``--users`` accounts of
``--contacts`` mutual contacts each), PostgreSQL when asked, Synapse and the real bridge, with a
counting reverse proxy between the bridge and Synapse (``bench/_stack.py``'s ``CountingProxy``).
The users are written into the bridge's database with their credentials (as after a restart), the
bridge is started and every user connects (first start: ghosts, spaces and rooms are made); then
the bridge is stopped and started again with nothing changed on either side.

It prints, per kind of request (method and path template, e.g.
``PUT /_matrix/client/v3/presence/{userId}/status``), how many the first start and the restart
sent — each start counted from its launch until the bridge is quiet — and sums them by category
(profile, presence, membership, room state, room creation, other). The goal for the restart is
no profile, presence or membership request for anything unchanged since the last run.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
import argparse
import asyncio
import sys

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._scale_bridge import run_bridge

CATEGORIES = (
    ("profile", ("/profile/", "/register")),
    ("presence", ("/presence/",)),
    ("membership", ("/join", "/invite", "/leave", "/kick", "/ban", "/members", "/m.room.member")),
    ("room creation", ("/createRoom",)),
    ("room state", ("/state",)),
)


def category(kind: str) -> str:
    for name, needles in CATEGORIES:
        if any(needle in kind for needle in needles):
            return name
    return "other"


def print_table(first: Counter[str], restart: Counter[str]) -> None:
    kinds = sorted(set(first) | set(restart), key=lambda k: (-restart[k], -first[k], k))
    width = max((len(k) for k in kinds), default=20)
    print(f"\n  {'request':<{width}} {'first start':>12} {'restart':>9}")
    for kind in kinds:
        print(f"  {kind:<{width}} {first[kind]:>12} {restart[kind]:>9}")
    print(f"  {'total':<{width}} {sum(first.values()):>12} {sum(restart.values()):>9}")
    by_first: Counter[str] = Counter()
    by_restart: Counter[str] = Counter()
    for kind, n in first.items():
        by_first[category(kind)] += n
    for kind, n in restart.items():
        by_restart[category(kind)] += n
    print("\n  by category (restart: goal 0 for profile, presence, membership):")
    for name in [c for c, _ in CATEGORIES] + ["other"]:
        print(f"  {name:<{width}} {by_first[name]:>12} {by_restart[name]:>9}")


async def run(args: argparse.Namespace) -> int:
    print(
        f"homeserver traffic: {args.users} users x {args.contacts} contacts, bridge database "
        f"{args.db}; requests from each start until the bridge is quiet"
    )
    result = await run_bridge(
        args.users,
        backend=args.db,
        contacts=args.contacts,
        groups=args.groups,
        idle=0.0,
        restart=True,
        settle=args.settle,
        quiet_window=args.quiet_window,
        keep=args.keep,
    )
    if len(result.starts) < 2:
        print("the restart did not happen")
        return 1
    first, restart = result.starts[0].requests, result.starts[1].requests
    print_table(first, restart)
    for start in result.starts[:2]:
        sent = start.presence
        most = max(sent.values(), default=0)
        print(
            f"  {start.label}: {sum(sent.values())} presence updates for {len(sent)} Matrix "
            f"users, at most {most} for one; {start.presence_repeats} repeated the user's "
            "previous value (re-sent every bridge.presence.resend_interval by design)"
        )
    for error in result.errors:
        print(f"  bridge error: {error.splitlines()[0][:160]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--contacts", type=int, default=20)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--settle", type=float, default=300.0, help="max seconds to wait for quiet")
    ap.add_argument(
        "--quiet-window", type=float, default=5.0, help="seconds of calm that mean quiet"
    )
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    return asyncio.run(run(ap.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
