"""Accounts per process, restart storm, idle CPU, event-loop pauses and memory (issue 11).

Two modes, each against ``tests/msn_server`` in its own process, seeded with N accounts of
``--contacts`` (20) mutual contacts in ``--groups`` (2) groups (``python -m tests.msn_server
--seed N``), through the dispatch server (MSNP12 for the library, ``--protocol``; the bridge
offers what its config says, MSNP18 by default):

``python bench/scale.py library [--counts 1000,5000] [--concurrency 200] [--idle 30]``
    The client library alone. For each N, one fresh worker process per variant logs the N
    accounts in, ``--concurrency`` at a time, and stays online:

    * ``raw`` — the floor: N bare asyncio connections sending the same login lines (DS, NS,
      Passport, SYN, CHG) and then only reading;
    * ``library`` — N :class:`MSNClient` sharing one aiohttp session (the way the bridge is
      meant to use it);
    * ``own-session`` — N :class:`MSNClient` each with the aiohttp session it makes itself;
    * ``library+freeze`` / ``library+gc=A:B:C`` (``--gc``) — the shared-session variant with
      ``gc.freeze()`` after the logins, or with other GC thresholds; ``library+policy=A:F``
      with the bridge's own collector policy (``bridge.gc``), ``library+policy-no-burst=A:F``
      the same without freezing what survives young collections during the logins.

    Per variant: wall time and logins/s, login time p50/p99, client CPU per login (and the
    part the garbage collector took), RSS per account above the worker's baseline (taken after
    imports and one warm-up login) and its ratio to the raw floor, the longest event-loop
    stall during the logins and while idle (a 10 ms ticker), the longest GC pause per
    generation, idle CPU over ``--idle`` seconds (ticker off) in % of one core, and, with
    ``--tracemalloc`` (a separate run, since tracing inflates memory), the top allocations by
    file and line. The server's own counters say how many logins were in progress at most.

``python bench/scale.py bridge [--counts 1000] [--db postgres] [--idle 30]``
    The whole bridge (see ``bench/_scale_bridge.py``): users stored in the database with
    their credentials, the real ``python -m bridge`` started against a real Synapse and
    connecting every user as after a restart; RSS/CPU of the bridge process from /proc,
    GC pauses and loop lag from a probe inside it, and the restart storm (a second start).

File-descriptor limits are raised to the hard limit (``resource.setrlimit``) in every process
the benchmark starts. Run it on an otherwise idle machine for figures; ``--counts 50`` is what
the test suite runs to keep it working.
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import json
import os
import sys
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench._probe import GCPauses, LoopLag, raise_fd_limit, rss_kib, top_allocations
from bench.msn_server_scale import Server, drain_forever, log_in, server_argv, start_server
from tests.msn_server.seed import SeedSpec

REPO = Path(__file__).resolve().parent.parent
RESULT = "RESULT "


# -- worker processes ---------------------------------------------------------------------------
async def _settle(counter: list[int], quiet: float = 1.0, limit: float = 60.0) -> None:
    """Wait until ``counter[0]`` (events seen) has not moved for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    last, since = counter[0], time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if counter[0] != last:
            last, since = counter[0], time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


async def worker(args: argparse.Namespace) -> None:
    from bridge.msnp.client import ClientConfig, MSNClient

    raise_fd_limit()
    spec = SeedSpec(args.count, args.contacts, args.groups)
    variant = args.worker
    library = variant != "raw"
    shared = variant != "own-session"
    keep_ab = "keep-ab" in args.gc.split("+")
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency))
    config = ClientConfig(
        server=args.ds,
        passport_url=args.login_url,
        protocols=(args.protocol,),
        connect_timeout=60,
        transaction_timeout=120,
    )
    events = [0]

    async def handler(_event: object) -> None:
        events[0] += 1

    clients: list[Any] = []
    drains: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        email = spec.email(i)
        if library:
            client = MSNClient(config, handler, http=session if shared else None)
            await client.login(email, spec.password)
            if not keep_ab:  # as the bridge does (its database keeps the address book)
                client.take_ab_cache()
            clients.append(client)
        else:
            conn = await log_in(args.ds, args.login_url, session, email, spec.password)
            clients.append(conn)
            drains.append(asyncio.create_task(drain_forever(conn)))

    # warm-up: one login and out again, so that lazy imports and caches are in the baseline
    await one(0)
    if library:
        await clients.pop().close()
    else:
        clients.pop().close()
        drains.pop().cancel()
    await asyncio.sleep(0.5)
    gc.collect()
    baseline = rss_kib()
    if args.tracemalloc:
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
    pauses, lag = GCPauses(), LoopLag(0.01)
    pauses.install()
    lag.start()
    sem = asyncio.Semaphore(args.concurrency)
    durations: list[float] = []
    modes = args.gc.split("+")
    freeze_every = next((int(m.split(":")[1]) for m in modes if m.startswith("freeze-every:")), 0)
    policy = bridge_policy(modes)

    async def limited(i: int) -> None:
        async with sem:
            t0 = time.perf_counter()
            await one(i)
            durations.append(time.perf_counter() - t0)
        if policy is not None:
            policy.logged_in()
        if freeze_every and len(durations) % freeze_every == 0:
            gc.collect(1)  # the young generations only (fast), then out of the collector's way
            gc.freeze()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(limited(i) for i in range(args.count)))
    wall = time.perf_counter() - wall0
    await _settle(events)
    login_cpu = time.process_time() - cpu0
    if policy is not None:
        policy.stopping()  # (the idle window's collections are Python's, as after a burst)
    login_gc = pauses.figures()
    login_lag = lag.figures()
    if any(m.startswith("freeze") for m in modes):
        gc.collect()
        gc.freeze()
    rss_after = rss_kib()
    trim_ms = trimmed = None
    if "trim" in modes:  # the C heap's free pages back to the system (glibc's malloc_trim)
        t0 = time.perf_counter()
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        trim_ms = (time.perf_counter() - t0) * 1000
        trimmed = (rss_kib() - baseline) / args.count
    allocations = []
    if args.tracemalloc:
        allocations = top_allocations(before, tracemalloc.take_snapshot(), args.top)
        tracemalloc.stop()
    # idle: first CPU with nothing of ours running, then pauses with the ticker on
    lag.stop()
    await asyncio.sleep(0.5)
    idle_cpu0 = time.process_time()
    await asyncio.sleep(args.idle)
    idle_cpu = time.process_time() - idle_cpu0
    pauses.reset()
    lag.reset()
    lag.start()
    await asyncio.sleep(args.idle)
    lag.stop()
    idle_gc = pauses.figures()
    idle_lag = lag.figures()
    connected = sum(1 for c in clients if getattr(c, "connected", True))
    durations.sort()
    result = {
        "variant": variant + (f"+{args.gc}" if args.gc != "default" else ""),
        "count": args.count,
        "connected": connected,
        "wall_s": wall,
        "login_p50_ms": durations[len(durations) // 2] * 1000,
        "login_p99_ms": durations[min(len(durations) - 1, int(len(durations) * 0.99))] * 1000,
        "cpu_ms_per_login": login_cpu * 1000 / args.count,
        "gc_share": login_gc["cpu_s"] / login_cpu if login_cpu else 0.0,
        "rss_baseline_kib": baseline,
        "rss_kib_per_account": (rss_after - baseline) / args.count,
        "rss_kib_per_account_trimmed": trimmed,
        "trim_ms": trim_ms,
        "login_gc": login_gc,
        # young collections whose survivors the bridge's policy froze (policy= variants)
        "gc_promotions": None if policy is None else policy.promotions,
        "login_lag": login_lag,
        "idle_cpu_pct": idle_cpu * 100 / args.idle if args.idle else 0.0,
        "idle_gc": idle_gc,
        "idle_lag": idle_lag,
        "allocations": allocations,
        "tracemalloc": args.tracemalloc,
    }
    print(RESULT + json.dumps(result), flush=True)
    os._exit(0)  # no orderly close of thousands of connections: the process just ends


def bridge_policy(modes: list[str]) -> Any:
    """``policy=A:F``: the bridge's own collector policy (``bridge.gc`` threshold A, freeze
    every F logins, survivors of young collections frozen during the burst);
    ``policy-no-burst=A:F`` the same without freezing after young collections. None without."""
    from bridge.gc_policy import GCPolicy

    class NoBurst(GCPolicy):
        def after_collection(self, phase: str, info: dict[str, int]) -> None:
            pass

    for mode in modes:
        name, _, values = mode.partition("=")
        if name in ("policy", "policy-no-burst"):
            threshold, every = (int(x) for x in values.split(":"))
            policy = GCPolicy() if name == "policy" else NoBurst()
            policy.configure(threshold, every)
            return policy
    return None


def apply_gc_mode(mode: str) -> None:
    """``default``, or ``+``-joined: ``freeze`` (after the logins), ``freeze-every:N`` (also
    after every N logins), ``gc=A:B:C`` (``gc.set_threshold``)."""
    for part in mode.split("+"):
        part = part.removeprefix("gc=")
        if part[:1].isdigit():
            gc.set_threshold(*(int(x) for x in part.split(":")))


# -- orchestration ------------------------------------------------------------------------------
async def run_worker(server: Server, args: argparse.Namespace, variant: str, **extra: Any) -> Any:
    """One worker process; returns its result dict (server counters added)."""
    argv = [
        sys.executable, str(Path(__file__).resolve()), "--worker", variant,
        "--count", str(extra.get("count", args.count)), "--concurrency", str(args.concurrency),
        "--contacts", str(args.contacts), "--groups", str(args.groups),
        "--ds", server.ds, "--login-url", server.login_url, "--idle", str(args.idle),
        "--protocol", str(args.protocol), "--gc", extra.get("gc", "default"),
        "--top", str(args.top),
    ]  # fmt: skip
    if extra.get("tracemalloc"):
        argv.append("--tracemalloc")
    async with aiohttp.ClientSession() as http:
        assert server.stats_url
        async with http.post(server.stats_url + "/reset") as resp:
            await resp.read()
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, preexec_fn=raise_fd_limit
        )
        out, _ = await proc.communicate()
        async with http.get(server.stats_url) as resp:
            stats = await resp.json()
    lines = [line for line in out.decode().splitlines() if line.startswith(RESULT)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {variant} failed (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT) :])
    result["server"] = stats
    return result


def print_row(r: dict[str, Any], floor: float | None, concurrency: int) -> None:
    ratio = f"x{r['rss_kib_per_account'] / floor:4.1f}" if floor else "     "
    s = r["server"]
    ok = "ok" if s["logins_in_progress_max"] <= concurrency else "EXCEEDED"
    print(
        f"{r['count']:>6} {r['variant']:<22} {r['wall_s']:7.2f} s {r['count'] / r['wall_s']:6.0f}/s"
        f"  p50 {r['login_p50_ms']:6.1f} p99 {r['login_p99_ms']:7.1f} ms"
        f"  CPU {r['cpu_ms_per_login']:5.2f} ms/login (GC {r['gc_share'] * 100:4.1f} %)"
        f"  RSS +{r['rss_kib_per_account']:5.1f} KiB/acct {ratio}"
        f"  stall {r['login_lag']['max_ms']:6.1f}/{r['idle_lag']['max_ms']:5.1f} ms"
        f"  GC max {max(r['login_gc']['max_ms']):6.1f}/{max(r['idle_gc']['max_ms']):5.1f} ms"
        f" (CPU {max(r['login_gc'].get('cpu_max_ms', [0])):5.1f}/"
        f"{max(r['idle_gc'].get('cpu_max_ms', [0])):4.1f})"
        f"  idle {r['idle_cpu_pct']:5.2f} %"
        f"  [server: in progress max {s['logins_in_progress_max']} <= {concurrency} {ok}]",
        flush=True,
    )
    if r.get("trim_ms") is not None:
        print(
            f"       after malloc_trim: RSS +{r['rss_kib_per_account_trimmed']:5.1f} KiB/acct"
            f" (the trim took {r['trim_ms']:.1f} ms)",
            flush=True,
        )
    if r["connected"] != r["count"]:
        print(f"       !! only {r['connected']} of {r['count']} still connected", flush=True)


def print_allocations(r: dict[str, Any]) -> None:
    print(f"       top allocations of {r['variant']} at {r['count']} accounts (tracemalloc):")
    for row in r["allocations"]:
        per = row["kib"] * 1024 / r["count"]
        print(f"         {row['kib']:10.1f} KiB {per:8.0f} B/acct {row['count']:>9} blocks  "
              f"{row['where']}")  # fmt: skip


async def library_mode(args: argparse.Namespace) -> list[dict[str, Any]]:
    raise_fd_limit()
    results = []
    variants = [v for v in args.variants.split(",") if v]
    for count in args.counts:
        seed = ["--seed", str(count), "--seed-contacts", str(args.contacts),
                "--seed-groups", str(args.groups)]  # fmt: skip
        server = await start_server("server", server_argv(seed), REPO)
        try:
            floor = None
            for variant in variants:
                name, _, gc_mode = variant.partition("+")
                gc_mode = gc_mode or "default"
                r = await run_worker(server, args, name, count=count, gc=gc_mode)
                if name == "raw":
                    floor = r["rss_kib_per_account"]
                results.append(r)
                print_row(r, floor, args.concurrency)
            if args.tracemalloc:
                r = await run_worker(server, args, "library", count=count, tracemalloc=True)
                print_allocations(r)
                results.append(r)
        finally:
            await server.stop()
    summary(results)
    return results


def summary(results: list[dict[str, Any]]) -> None:
    rows = [r for r in results if not r["tracemalloc"]]
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_variant.setdefault(r["variant"], []).append(r)
    print("\nper variant across counts (flat means max/min close to 1):")
    for variant, rs in by_variant.items():
        if len(rs) < 2:
            continue
        rss = [r["rss_kib_per_account"] for r in rs]
        cpu = [r["cpu_ms_per_login"] for r in rs]
        print(
            f"  {variant:<22} RSS/acct {min(rss):.1f}..{max(rss):.1f} KiB"
            f" (x{max(rss) / min(rss):.2f})  CPU/login {min(cpu):.2f}..{max(cpu):.2f} ms"
            f" (x{max(cpu) / min(cpu):.2f})"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", nargs="?", choices=("library", "bridge"), default="library")
    ap.add_argument("--counts", default="1000,5000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--contacts", type=int, default=20)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--protocol", type=int, default=12, help="MSNP version the clients offer")
    ap.add_argument(
        "--idle", type=float, default=60.0, help="seconds of each idle window (> keepalive 45 s)"
    )
    ap.add_argument(
        "--variants",
        default="raw,library,own-session,library+freeze",
        help="comma list of raw, library, own-session, and library+MODE where MODE joins with "
        "+ any of freeze, freeze-every:N, gc=A:B:C, policy=A:F (the bridge's bridge.gc), "
        "policy-no-burst=A:F (the same without freezing young survivors), keep-ab (the "
        "client keeps the MSNP13+ address book, as before the bridge took it), trim (RSS "
        "again after glibc's malloc_trim) (e.g. library+gc=20000:50:100+freeze)",
    )
    ap.add_argument(
        "--tracemalloc",
        action="store_true",
        help="library: also a traced run; bridge: trace the bridge (8 frames per allocation) "
        "and, with two counts or more, print what one more user holds by file and line",
    )
    ap.add_argument("--top", type=int, default=15, help="allocation sites to show")
    ap.add_argument("--json", help="write every result to this file")
    # bridge mode
    ap.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--no-restart", action="store_true", help="bridge: skip the restart storm")
    ap.add_argument("--settle", type=float, default=900.0, help="bridge: max wait per phase (s)")
    ap.add_argument(
        "--quiet-window", type=float, default=5.0, help="bridge: seconds of calm that mean quiet"
    )
    ap.add_argument(
        "--quiet-limit",
        type=float,
        default=None,
        help="bridge: max wait for quiet after all are online (s; default: --settle)",
    )
    ap.add_argument(
        "--stop-timeout", type=float, default=300.0, help="bridge: max wait for an exit (s)"
    )
    ap.add_argument(
        "--db-pool",
        type=int,
        default=50,
        help="bridge: appservice.database_opts.max_size with PostgreSQL (the example's is 10)",
    )
    ap.add_argument("--keep", action="store_true", help="bridge: keep the work directory")
    ap.add_argument(
        "--profile",
        type=Path,
        help="bridge: sample the bridge with py-spy (PyPI py-spy) from ready to all online at "
        "each start, and while idle; the raw samples go to this directory",
    )
    ap.add_argument(
        "--escargot",
        action="store_true",
        help="bridge: the MSN server mimics Escargot (no address-book deltas: every login, a "
        "restart's too, fetches the whole address book)",
    )
    ap.add_argument(
        "--spread",
        type=int,
        default=1,
        metavar="K",
        help="bridge: the MSN server gets K times as many accounts and every K-th is a bridge "
        "user; with K above --contacts no contact of a user is another user (each user has "
        "their own ghosts, offline), as in a community where most contacts are not bridged",
    )
    ap.add_argument(
        "--dm-rooms",
        type=int,
        default=0,
        metavar="K",
        help="bridge: before the restart, each user gets K DM rooms (with their first K "
        "contacts) as an earlier run would have left them: portal rows, linked into the "
        "contact's group space (stored links; the rooms are ids only, which a restart with "
        "nothing changed never touches)",
    )
    ap.add_argument(
        "--bridge-gc",
        default="",
        help="bridge: bridge.gc as THRESHOLD:FREEZE_EVERY, or off (Python's defaults); "
        "default: the shipped config",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="bridge: one more config option (a dotted key, a YAML value), e.g. "
        "bridge.reconnect.max_loop_lag=0; may be repeated",
    )
    # worker processes
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--ds", help=argparse.SUPPRESS)
    ap.add_argument("--login-url", help=argparse.SUPPRESS)
    ap.add_argument("--gc", default="default", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def protocol_text(args: argparse.Namespace) -> str:
    """The MSNP version(s) the run's logins use: ``--protocol`` for the library; the bridge
    offers what its config does (``msn.protocol_max``, 18 by default), as a deployment would."""
    if args.mode == "bridge":
        return "MSNP up to the bridge's msn.protocol_max (18 by default)"
    return f"MSNP{args.protocol}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        apply_gc_mode(args.gc)
        asyncio.run(worker(args))
    print(
        f"scale, {args.mode}: {args.contacts} contacts and {args.groups} groups per account, "
        f"{protocol_text(args)} through the DS, {args.concurrency} logins at a time; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
        + (
            f"; {args.spread} MSN accounts per bridge user"
            + (" (no contact is another user)" if args.spread > args.contacts else "")
            if args.mode == "bridge" and args.spread > 1
            else ""
        )
        + (
            f"; {args.dm_rooms} DM rooms per user at the restart"
            if args.mode == "bridge" and args.dm_rooms
            else ""
        ),
        flush=True,
    )
    if args.mode == "library":
        print(
            "  count variant                   wall      rate   login time (ms)     client CPU"
            "                 RSS above baseline    stall login/idle  GC max login/idle  idle CPU"
        )
        results = asyncio.run(library_mode(args))
    else:
        from bench._scale_bridge import bridge_mode

        results = asyncio.run(bridge_mode(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
