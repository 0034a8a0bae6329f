"""The "500-contact login": how the bridge copes when a user with a big, mostly online contact
list logs in.

Run with ``python bench/presence_burst.py [--contacts 500] [--online 0.9] [--db sqlite|postgres]``.
It starts our MSN test server (in this process), Synapse, the bridge as its own process and a
small counting reverse proxy between the bridge and Synapse (all on 127.0.0.1), gives one MSN
account ``--contacts`` mutual contacts in a few groups, logs ``--online`` of them in with real
MSNClients (MSNP``--contact-protocol``; most Online, some Away or Busy), then logs the Matrix
user in through the bot and measures, from the moment the ``login`` command is sent:

* when the bot answered "Logged in as";
* when the contact list was in the bridge database (``contact`` rows of the user, ``puppet`` rows
  of the contacts, and the ghosts' display names set);
* when every online contact's ghost had its presence PUT to Synapse with the right state, and
  whether Synapse reports that presence afterwards;
* the presence PUT rate the proxy saw: peak over any 1-second window, peak per calendar second
  and mean, against the configured ``bridge.presence.max_per_second`` (ratio = peak / limit;
  it should be <= ~1), plus the other requests the login caused (registrations, profiles, ...).
"""

from __future__ import annotations

from typing import Any
from collections import Counter
from pathlib import Path
import argparse
import asyncio
import json
import math
import random
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ruamel.yaml import YAML

from bench._stack import (
    BenchStack,
    CountingProxy,
    DBProbe,
    ProxiedRequest,
    login_via_bot,
    window_peak,
)
from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.events import Event
from bridge.msnp.values import Status

REPO = Path(__file__).resolve().parent.parent
GROUPS = ("Friends", "Family", "Work")
EXPECTED = {Status.ONLINE: "online", Status.AWAY: "unavailable", Status.BUSY: "unavailable"}


def default_limit() -> float:
    config = YAML(typ="safe").load((REPO / "example-config.yaml").read_text())
    return float(config["bridge"]["presence"]["max_per_second"])


async def _ignore(event: Event) -> None:
    return None


async def log_in_contacts(
    stack: BenchStack,
    contacts: dict[str, Status],
    protocol: int,
    concurrency: int,
) -> list[MSNClient]:
    """Log every contact in with its own MSNClient (``concurrency`` logins at a time)."""
    sem = asyncio.Semaphore(concurrency)
    clients: list[MSNClient] = []

    async def one(email: str, status: Status) -> None:
        base = stack.client_config()
        config = ClientConfig(
            server=base.server,
            passport_url=base.passport_url,
            protocols=(protocol,),
            initial_status=status,
            connect_timeout=30,
            transaction_timeout=30,
            keepalive_interval=60,
            keepalive_timeout=60,
        )
        client = MSNClient(config, _ignore)
        async with sem:
            await client.login(email, "pw")
        clients.append(client)

    await asyncio.gather(*(one(email, status) for email, status in contacts.items()))
    return clients


def presence_puts(proxy: CountingProxy, since: int) -> list[tuple[ProxiedRequest, str, str]]:
    """(request, ghost mxid, presence state) of each presence PUT after index ``since``."""
    out = []
    for req in proxy.requests[since:]:
        if req.method != "PUT" or not req.path.endswith("/status") or "/presence/" not in req.path:
            continue
        ghost = req.path.split("/presence/", 1)[1].rsplit("/status", 1)[0]
        try:
            state = json.loads(req.body or b"{}").get("presence", "?")
        except ValueError:
            state = "?"
        out.append((req, ghost, state))
    return out


def kind_of(req: ProxiedRequest) -> str:
    path = req.path
    if "/presence/" in path:
        return "presence"
    if path.endswith("/register"):
        return "register"
    if "/profile/" in path:
        return "profile"
    if "/send/" in path:
        return "send event"
    if "/state/" in path:
        return "state event"
    if "/join" in path or "/invite" in path or "/createRoom" in path:
        return "rooms"
    return "other"


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-presence-"))
    pg = None
    if args.db == "postgres":
        from tests.support.pg import PostgresServer

        pg = PostgresServer()
        await asyncio.to_thread(pg.start)
    limit = args.max_per_second
    stack = BenchStack(
        workdir,
        args.db,
        pg,
        log_level=args.log_level,
        presence={"max_per_second": limit, "resend_interval": args.resend_interval},
    )
    proxy = CountingProxy(stack.synapse.url)
    await proxy.start()
    stack.hs_address = proxy.url
    probe: DBProbe | None = None
    clients: list[MSNClient] = []
    code = 0
    try:
        async with asyncio.timeout(args.timeout):
            t = time.monotonic()
            await stack.start()
            print(f"stack up in {time.monotonic() - t:.1f} s ({workdir})", file=sys.stderr)

            # MSN accounts: the user and its contacts (mutual, spread over a few groups).
            msn = stack.msn
            n = stack.unique("")
            me, password = f"burst{n}@example.com", "burstpw"
            msn.add_account(me, password, "Burst User")
            rng = random.Random(1863)
            emails = [f"c{i:04d}.{n}@example.com" for i in range(args.contacts)]
            for i, email in enumerate(emails):
                msn.add_account(email, "pw", f"Contact {i} ✓")
                msn.make_mutual(me, email, group=GROUPS[i % len(GROUPS)])
            online = rng.sample(emails, round(args.contacts * args.online))
            statuses = {
                e: rng.choices(list(EXPECTED), weights=(8, 1, 1))[0] for e in sorted(online)
            }
            t = time.monotonic()
            clients = await log_in_contacts(stack, statuses, args.contact_protocol, args.parallel)
            logins = time.monotonic() - t
            print(
                f"{len(clients)} contacts logged in in {logins:.1f} s "
                f"(MSNP{args.contact_protocol}, {args.parallel} at a time)",
                file=sys.stderr,
            )
            expected = {stack.ghost_mxid(e): EXPECTED[s] for e, s in statuses.items()}

            # The Matrix user logs in through the bot.
            pair_local = f"burstuser{n}"
            user = await stack.matrix_user(pair_local)
            mxid = str(user.mxid)
            probe = DBProbe(stack.db_url)
            await probe.open()
            mark = len(proxy.requests)
            like = f"c%.{n}@example.com"
            login_task = asyncio.create_task(login_via_bot(stack, user, me, password, 120))
            milestones: dict[str, float] = {}
            t0: float | None = None
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                now = time.monotonic()
                if login_task.done():
                    _, t0 = login_task.result()
                    milestones.setdefault("bot says 'Logged in as'", now)
                rows = {
                    "contact rows in DB": await probe.scalar(
                        "SELECT count(*) FROM contact WHERE owner=$1", mxid
                    ),
                    "puppet (ghost) rows in DB": await probe.scalar(
                        "SELECT count(*) FROM puppet WHERE passport LIKE $1", like
                    ),
                    "ghost display names set": await probe.scalar(
                        "SELECT count(*) FROM puppet WHERE passport LIKE $1 AND name_set", like
                    ),
                }
                for label, count in rows.items():
                    if count is not None and int(count) >= args.contacts:
                        milestones.setdefault(label, now)
                done = {
                    g for _, g, state in presence_puts(proxy, mark) if expected.get(g) == state
                }
                if len(done) >= len(expected):
                    milestones.setdefault("presence of all online ghosts PUT", now)
                if len(milestones) == 5:
                    break
                await asyncio.sleep(0.1)
            window_end = time.monotonic()
            if t0 is None:
                print("!! the bot never confirmed the login")
                t0 = proxy.requests[mark].start
            for label in (
                "bot says 'Logged in as'",
                "contact rows in DB",
                "puppet (ghost) rows in DB",
                "ghost display names set",
                "presence of all online ghosts PUT",
            ):
                milestones.setdefault(label, math.nan)

            # What Synapse says now (asked directly, not through the proxy).
            sem = asyncio.Semaphore(16)

            async def synapse_presence(ghost: str) -> str | None:
                async with sem:
                    status, data = await stack.as_request(
                        "GET", f"/_matrix/client/v3/presence/{ghost}/status", user_id=ghost
                    )
                return data.get("presence") if status == 200 else None

            ghosts = list(expected)
            states = await asyncio.gather(*(synapse_presence(g) for g in ghosts))
            right = sum(1 for g, s in zip(ghosts, states, strict=True) if s == expected[g])

        # --- figures -------------------------------------------------------------------------
        puts = [(r, g, s) for r, g, s in presence_puts(proxy, mark) if r.start <= window_end]
        times = [r.start for r, _, _ in puts]
        per_ghost = Counter(g for _, g, _ in puts)
        window = (max(times) - min(times)) if len(times) > 1 else 0.0
        peak_window = window_peak(times)
        buckets = Counter(int(t - t0) for t in times)
        peak_bucket = max(buckets.values(), default=0)
        mean = (len(times) - 1) / window if window > 0 else float(len(times))
        failed = sum(1 for r, _, _ in puts if r.status >= 400)
        latency_ms = sorted((r.end - r.start) * 1000 for r, _, _ in puts)
        in_window = [r for r in proxy.requests[mark:] if r.start <= window_end]
        kinds = Counter(kind_of(r) for r in in_window)
        shapes = Counter(
            f"{r.method} {re.sub(r'@[^/]+', '<user>', re.sub(r'![^/]+', '<room>', r.path))}"
            for r in in_window
        )

        print()
        print(
            f"matrix-msn presence burst: {args.contacts} contacts, {len(expected)} online "
            f"(MSNP{args.contact_protocol}), bridge db={args.db}, "
            f"presence.max_per_second={limit:g}, resend_interval={args.resend_interval:g} s"
        )
        print(f"{'milestone (from the login command)':44} {'seconds':>9}")
        print("-" * 54)
        for label, when in milestones.items():
            value = when - t0 if not math.isnan(when) else math.nan
            shown = f"{value:9.2f}" if not math.isnan(value) else "  not met"
            print(f"{label:44} {shown}")
        print()
        print(f"{'presence PUT requests to Synapse':44} {'value':>9}")
        print("-" * 54)
        rows_out: list[tuple[str, Any]] = [
            ("count (in the measured window)", len(puts)),
            ("distinct ghosts", len(per_ghost)),
            ("ghosts sent more than once", sum(1 for c in per_ghost.values() if c > 1)),
            ("failed (HTTP >= 400)", failed),
            ("first PUT after login command (s)", f"{min(times) - t0:.2f}" if times else "-"),
            ("peak per 1 s window", peak_window),
            ("peak per calendar second", peak_bucket),
            ("mean per second (first..last)", f"{mean:.1f}"),
            ("configured max_per_second", f"{limit:g}"),
            ("ratio peak / limit", f"{peak_window / limit:.2f}" if limit else "-"),
            ("ratio mean / limit", f"{mean / limit:.2f}" if limit else "-"),
            (
                "PUT latency p50 / max (ms)",
                (
                    f"{latency_ms[len(latency_ms) // 2]:.0f} / {latency_ms[-1]:.0f}"
                    if latency_ms
                    else "-"
                ),
            ),
            ("Synapse reports the right presence", f"{right}/{len(expected)}"),
        ]
        for label, value in rows_out:
            print(f"{label:44} {value!s:>9}")
        print()
        print("all bridge -> Synapse requests in the window: " + ", ".join(
            f"{k} {v}" for k, v in kinds.most_common()
        ))  # fmt: skip
        print("most frequent: " + "; ".join(f"{k} x{v}" for k, v in shapes.most_common(6)))
        per_ghost_all = Counter(
            r.path.split("/profile/", 1)[1].split("/", 1)[0]
            for r in in_window
            if "/profile/" in r.path and r.method == "PUT"
        )
        if per_ghost_all:
            print(
                f"profile PUTs per ghost: mean {sum(per_ghost_all.values()) / len(per_ghost_all):.2f},"
                f" max {max(per_ghost_all.values())}"
            )
        if limit and peak_window > limit * 1.1:
            print(f"!! presence PUT peak {peak_window}/s exceeds the limit {limit:g}/s")
            code = 1
        if right < len(expected):
            print(f"!! Synapse reports the expected presence for only {right}/{len(expected)}")
        if any(math.isnan(w) for w in milestones.values()):
            print(f"!! not every milestone was reached within {args.wait:g} s")
            code = 1
        errors = stack.bridge.errors_since(0)
        if errors:
            print(f"!! the bridge logged {len(errors)} errors; first: {errors[0][:500]}")
    except TimeoutError:
        print(f"!! gave up after {args.timeout} s\n{stack.failure_report()}")
        code = 2
    finally:
        if probe is not None:
            await probe.close()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await stack.stop()
        await proxy.stop()
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if args.keep:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=500)
    ap.add_argument("--online", type=float, default=0.9, help="fraction of contacts online")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument(
        "--max-per-second",
        type=float,
        default=default_limit(),
        help="bridge.presence.max_per_second (default: example-config.yaml's)",
    )
    ap.add_argument("--resend-interval", type=float, default=20.0)
    ap.add_argument("--contact-protocol", type=int, default=12, choices=range(2, 13))
    ap.add_argument("--parallel", type=int, default=50, help="contact logins at a time")
    ap.add_argument("--log-level", default="INFO", help="bridge log level (default INFO)")
    ap.add_argument("--wait", type=float, default=240.0, help="seconds to wait for milestones")
    ap.add_argument("--timeout", type=float, default=600.0, help="overall limit in seconds")
    ap.add_argument("--keep", action="store_true", help="keep the work dir with the logs")
    args = ap.parse_args()
    if args.contacts < 1 or not 0 < args.online <= 1:
        ap.error("need --contacts >= 1 and 0 < --online <= 1")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
