"""Whole-bridge mode of ``bench/scale.py`` and the homeserver-traffic count of ``bench/hs_traffic.py``.

For N accounts: ``tests/msn_server`` seeded with them in its own process, PostgreSQL (or SQLite),
Synapse (``tests.support``) and the real ``python -m bridge``; the bridge talks to Synapse through a
:class:`~bench._stack.CountingProxy`, so every homeserver request is counted by kind, and runs
with ``bench/_probe_site`` on its ``PYTHONPATH`` (GC pauses and event-loop lag from inside).

1. The bridge starts with no user: its RSS then is the baseline.
2. It stops; N users are written into its database through the bridge's own models, with their
   MSN passwords encrypted under the configured credential key (``@scale<i>:msn.test`` ↔
   ``user<i>@scale.example``).
3. It starts again and connects every user, as after a restart of a bridge that had them (first
   start: ghosts, spaces and contact lists are made). Measured: time until the MSN server sees
   all N online, the most logins it saw in progress at once, bridge CPU during that storm, the
   time until the bridge is quiet, RSS per account above the baseline, idle CPU over
   ``--idle`` seconds, GC pauses and loop stalls (storm, idle).
4. Unless ``--no-restart``: it stops and starts once more (nothing changed): the restart storm,
   and idle CPU over ``--idle`` seconds again (with no backlog left from the first start, the
   state a running bridge is in most of the time).

``--tracemalloc`` traces the bridge (8 frames per allocation) and, with two counts or more, prints
what one more user holds after each start: the difference between the snapshots of the smallest
and the largest count divided by the difference in users (what any bridge holds cancels out), by
the bridge's own file and line behind each allocation. ``--profile DIR`` samples the bridge with
py-spy from ready to all online at each start, and in each idle window, and prints where its CPU
went.
"""

from __future__ import annotations

from typing import Any
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time

from aiohttp import ClientSession
from ruamel.yaml import YAML

from bench._probe import PySpy, cpu_seconds, per_user_allocations, raise_fd_limit, rss_kib
from bench._stack import BenchStack, CountingProxy
from bench.msn_server_scale import Server, server_argv, start_server
from bridge.credentials import CredentialCipher, generate_key
from tests.msn_server.seed import SeedSpec
from tests.support.harness import REPO, BridgeProcess

__all__ = ["BridgeRun", "ScaleStack", "bridge_mode", "path_template", "run_bridge"]

PROBE_SITE = Path(__file__).resolve().parent / "_probe_site"


def path_template(method: str, path: str) -> str:
    """``PUT /_matrix/client/v3/rooms/{roomId}/state/m.room.name/{stateKey}`` and the like."""
    parts = path.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        before = parts[i - 1] if i else ""
        before2 = parts[i - 2] if i > 1 else ""
        if part[:1] in "!@#$" and len(part) > 1:
            part = {"!": "{roomId}", "@": "{userId}", "#": "{alias}", "$": "{eventId}"}[part[0]]
        elif before2 in ("send", "state") and before and i == len(parts) - 1:
            part = "{txnId}" if before2 == "send" else "{stateKey}"
        elif before in ("download", "thumbnail", "upload") and part:
            part = "{server}"
        elif before2 in ("download", "thumbnail") and part:
            part = "{mediaId}"
        elif re.fullmatch(r"[0-9]+", part):
            part = "{n}"
        out.append(part)
    return f"{method} {'/'.join(out)}"


def request_kinds(proxy: CountingProxy, since: int = 0) -> Counter[str]:
    return Counter(path_template(r.method, r.path) for r in proxy.requests[since:])


#: Frames per traced allocation (``--tracemalloc``): what :func:`per_user_allocations` needs to
#: find the bridge's own line behind an allocation made in asyncio, mautrix or the stdlib.
TRACE_FRAMES = 8


class ProbedBridge(BridgeProcess):
    """The bridge process with the measuring probe loaded (``bench/_probe_site``)."""

    def __init__(self, workdir: Path, config_path: Path, as_port: int, probe: Path) -> None:
        super().__init__(workdir, config_path, as_port)
        self.probe = probe
        self.tracemalloc = False

    def env(self) -> dict[str, str]:  # type: ignore[override]
        env = BridgeProcess.env()
        env["PYTHONPATH"] = os.pathsep.join((str(PROBE_SITE), env["PYTHONPATH"]))
        env["MSN_SCALE_PROBE"] = str(self.probe)
        if self.tracemalloc:
            # (frames enough to reach the bridge's own code from a library's allocation)
            env["PYTHONTRACEMALLOC"] = str(TRACE_FRAMES)
        return env

    async def tasks_and_timers(self) -> dict[str, dict[str, Any]]:
        """Tasks by name and timers by callback in the bridge now (the probe's SIGUSR2)."""
        out = self.probe.with_suffix(".tasks.json")
        out.unlink(missing_ok=True)
        if self.proc is None or self.proc.poll() is not None:
            return {}
        self.proc.send_signal(signal.SIGUSR2)
        for _ in range(300):
            await asyncio.sleep(0.1)
            with contextlib.suppress(OSError, ValueError):
                return dict(json.loads(out.read_text()))
        return {}

    async def allocations(self) -> list[dict[str, Any]]:
        """The probe's tracemalloc statistics by file:line (SIGUSR2 makes it write them)."""
        out = self.probe.with_suffix(".alloc.json")
        out.unlink(missing_ok=True)
        if self.proc is None or self.proc.poll() is not None:
            return []
        self.proc.send_signal(signal.SIGUSR2)
        for _ in range(600):
            await asyncio.sleep(0.1)
            with contextlib.suppress(OSError, ValueError):
                return list(json.loads(out.read_text()))
        return []

    def probe_figures(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.probe.read_text()))
        except (OSError, ValueError):
            return {}

    def mark(self) -> None:
        """Start a new probe window (the probe resets its maxima on SIGUSR1)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)


class ScaleStack(BenchStack):
    """Synapse + the bridge against an MSN server running in another process."""

    bridge: ProbedBridge

    def __init__(
        self,
        workdir: Path,
        backend: str,
        pg: Any,
        msn: Server,
        proxy: CountingProxy,
        gc_policy: str = "",
        concurrency: int = 100,
        db_pool: int = 50,
        options: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workdir, backend, pg, log_level="INFO", hs_address=proxy.url)
        self.options = options
        self.db_pool = db_pool
        self.msn_server = msn
        self.proxy = proxy
        self.credential_key = generate_key()
        self.gc_policy = gc_policy
        self.concurrency = concurrency
        probe = workdir / "probe.json"
        self.bridge = ProbedBridge(workdir, self.config_path, self.as_port, probe)

    async def start(self) -> None:
        """Everything but the bridge (``self.bridge.start()``)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.msn = _MSNAddress(self.msn_server.ds, self.msn_server.login_url)
        if self.backend == "sqlite":
            self.db_url = f"sqlite:{self.workdir / 'bridge.db'}"
        else:
            self.db_url = await asyncio.to_thread(self.pg.create_database)
            if self.pg.statement_stats:
                await self.db_values("CREATE EXTENSION pg_stat_statements")
        self.write_config()
        await asyncio.to_thread(self.bridge.generate_registration, self.registration_path)
        yaml = YAML(typ="safe")
        self.registration = yaml.load(self.registration_path.read_text())
        self.config = yaml.load(self.config_path.read_text())
        self.synapse.app_service_config_files = [self.registration_path]
        await self.synapse.start()

    def _counting(self) -> bool:
        return self.backend == "postgres" and bool(self.pg.statement_stats)

    async def reset_statements(self) -> None:
        """Start counting the database statements (PostgreSQL only)."""
        if self._counting():
            await self.db_values("SELECT pg_stat_statements_reset()")

    async def statements(self) -> Counter[str]:
        """The statements sent to the bridge's database since :meth:`reset_statements`, by
        their first word (SELECT, INSERT, …; BEGIN and COMMIT count: each is a round trip)."""
        counts: Counter[str] = Counter()
        if not self._counting():
            return counts
        rows = await self.db_values(
            "SELECT kind || ' ' || calls FROM (SELECT coalesce(upper(substring(query from"
            " '^\\s*(\\w+)')), '?') AS kind, sum(calls) AS calls FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND query NOT LIKE '%pg_stat_statements%' GROUP BY 1) AS by_kind"
        )
        for row in rows:
            kind, _, calls = (row or "").rpartition(" ")
            if calls:
                counts[kind] += int(calls)
        return counts

    def write_config(self) -> None:
        super().write_config()
        yaml = YAML()
        config = yaml.load(self.config_path.read_text())
        config["bridge"]["credential_key"] = self.credential_key
        config["bridge"]["reconnect"]["max_concurrent_logins"] = self.concurrency
        if self.backend == "postgres":  # as README "Running thousands of users" says
            config["appservice"]["database_opts"] = {"min_size": 1, "max_size": self.db_pool}
        if self.gc_policy:  # "off" (Python's collector as it comes) or THRESHOLD:FREEZE_EVERY
            threshold, _, every = self.gc_policy.replace("off", "0:0").partition(":")
            config["bridge"]["gc"] = {"threshold": int(threshold), "freeze_every": int(every)}
        for option in self.options:  # KEY=VALUE: a dotted key, a YAML value
            key, _, value = option.partition("=")
            *path, last = key.split(".")
            section = config
            for part in path:
                section = section[part]
            section[last] = YAML(typ="safe").load(value)
        with open(self.config_path, "w") as f:
            yaml.dump(config, f)

    async def add_users(self, spec: SeedSpec, count: int, spread: int = 1) -> None:
        """Store ``count`` logged-in users through the bridge's models (bridge stopped): the
        accounts 0, ``spread``, 2 * ``spread``, ... of ``spec``."""
        from bridge import db as bridge_db

        async with self._bridge_db():
            for i in range(count):
                await bridge_db.User(
                    mxid=user_mxid(i, self.SERVER_NAME),
                    passport=spec.email(i * spread),
                    password=spec.password,
                ).insert()

    @contextlib.asynccontextmanager
    async def _bridge_db(self) -> AsyncIterator[None]:
        """The bridge's database opened with its models (the bridge stopped meanwhile)."""
        from mautrix.util.async_db import Database

        from bridge import db as bridge_db

        db = Database.create(
            self.db_url, upgrade_table=bridge_db.upgrade_table, owner_name="matrix-msn"
        )
        await db.start()
        try:
            bridge_db.init(db, CredentialCipher(self.credential_key))
            yield
        finally:
            await db.stop()

    async def add_dm_rooms(self, count: int, per_user: int) -> int:
        """Store ``per_user`` DM rooms for each of the ``count`` users (bridge stopped), with
        their first contacts, as a run in which they chatted would have left them: a portal
        row each, linked into the space of each of the contact's groups (else the user's MSN
        space) and the links stored. The room ids are made up: a start with nothing changed
        reads the rows and sends nothing for them. Returns how many were stored."""
        from bridge import db as bridge_db
        from bridge.db.contact import Contact, ContactGroup, ContactGroupMember
        from bridge.db.portal import Portal
        from bridge.db.space import SpaceChild

        made = 0
        async with self._bridge_db():
            for i in range(count):
                owner = user_mxid(i, self.SERVER_NAME)
                user = await bridge_db.User.get_by_mxid(owner)
                if user is None or not user.space_room:
                    continue  # (no MSN space: the first start did not get that far)
                spaces = {
                    g.group_id: g.space_room
                    for g in await ContactGroup.all_for_owner(owner)
                    if g.space_room
                }
                member_of: dict[str, set[str]] = {}
                for m in await ContactGroupMember.all_for_owner(owner):
                    member_of.setdefault(m.passport, set()).add(m.group_id)
                contacts = sorted(c.passport for c in await Contact.all_for_owner(owner))
                for k, passport in enumerate(contacts[:per_user]):
                    room = f"!dm-{i}-{k}:{self.SERVER_NAME}"
                    await Portal(owner=owner, conv_key=passport, room_id=room).insert()
                    wanted = {spaces[g] for g in member_of.get(passport, ()) if g in spaces}
                    for space in wanted or {user.space_room}:
                        await SpaceChild(room_id=space, child=room, owner=owner).store()
                    made += 1
        return made


def user_mxid(i: int, server_name: str) -> str:
    return f"@scale{i}:{server_name}"


@dataclass
class _MSNAddress:
    ds_address: str
    passport_url: str


@dataclass
class StartFigures:
    """One bridge start with N users."""

    label: str
    ready_s: float = 0.0  # start to the appservice answering
    all_online_s: float = float("nan")  # start to the MSN server seeing every user online
    online: int = 0
    in_progress_max: int = 0
    concurrency: int = 0  # the bridge's bridge.reconnect.max_concurrent_logins
    storm_cpu_s: float = 0.0  # bridge CPU from the start to all online
    quiet_s: float = float("nan")  # start to the bridge being quiet (see _quiet)
    quiet_cpu_s: float = 0.0
    rss_kib: int = 0
    rss_online_kib: int = 0  # the moment every user was online
    quiet: bool = False  # whether the bridge was quiet within --quiet-limit
    synapse_cpu_s: float = 0.0  # Synapse's CPU from the start to quiet (or --quiet-limit)
    stop_s: float = float("nan")  # SIGTERM to exit, at the stop after this start
    probe_storm: dict[str, Any] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    presence: Counter[str] = field(default_factory=Counter)  # presence PUTs per Matrix user
    presence_repeats: int = 0  # presence PUTs with the same body as that user's previous one
    in_flight: int = 0  # homeserver requests not answered when the measurement ended
    db_statements: Counter[str] = field(default_factory=Counter)  # PostgreSQL: by first word
    heap_kib: dict[str, float] = field(default_factory=dict)  # bench._probe.heap_kib (restart)
    idle_cpu_pct: float = float("nan")  # over --idle seconds once quiet (each start)
    probe_idle: dict[str, Any] = field(default_factory=dict)
    profile_summary: str = ""  # --profile: where the bridge's CPU went until all were online

    @property
    def rooms_created(self) -> int:
        return self.requests.get("POST /_matrix/client/v3/createRoom", 0)


@dataclass
class BridgeRun:
    count: int
    backend: str
    baseline_rss_kib: int = 0
    baseline: StartFigures | None = None
    starts: list[StartFigures] = field(default_factory=list)
    idle_cpu_pct: float = float("nan")
    probe_idle: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    dm_rooms: int = 0  # DM rooms stored before the restart (``--dm-rooms``), all users

    @property
    def rss_kib_per_account(self) -> float:
        first = self.starts[0] if self.starts else None
        if first is None or not self.count:
            return float("nan")
        return (first.rss_kib - self.baseline_rss_kib) / self.count


async def _stats(http: ClientSession, server: Server) -> dict[str, Any]:
    assert server.stats_url
    async with http.get(server.stats_url) as resp:
        return dict(await resp.json())


async def _reset(http: ClientSession, server: Server) -> None:
    assert server.stats_url
    async with http.post(server.stats_url + "/reset") as resp:
        await resp.read()


async def _quiet(
    pid: int, proxy: CountingProxy, limit: float, below: float = 0.05, window: float = 5.0
) -> bool:
    """Wait for a ``window`` of seconds in which the bridge used less than ``below`` of a core
    and sent the homeserver nothing but presence (re-sent every few seconds by design) — and
    had no request waiting for it: a bridge waiting for Synapse is idle but not done."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before, seen = cpu_seconds(pid), len(proxy.requests)
        await asyncio.sleep(window)
        busy = [r for r in proxy.requests[seen:] if "/presence/" not in r.path]
        if (cpu_seconds(pid) - before) / window < below and not busy and not proxy.in_flight:
            return True
    return False


def _synapse_cpu(stack: ScaleStack) -> float:
    proc = getattr(stack.synapse, "_proc", None)
    if proc is None or proc.poll() is not None:
        return 0.0
    with contextlib.suppress(OSError):
        return cpu_seconds(proc.pid)
    return 0.0


async def timed_stop(stack: ScaleStack, timeout: float) -> float:
    """Stop the bridge (SIGTERM); the seconds until it exited (``inf`` when it was killed)."""
    kills = stack.bridge.kills
    started = time.monotonic()
    await stack.bridge.stop(timeout=timeout)
    return float("inf") if stack.bridge.kills > kills else time.monotonic() - started


async def measure_start(
    stack: ScaleStack,
    server: Server,
    http: ClientSession,
    label: str,
    count: int,
    settle: float,
    quiet_window: float = 5.0,
    quiet_limit: float | None = None,
    profile: Path | None = None,
) -> StartFigures:
    """Start the bridge; wait for every user online (``settle`` s at most), then for quiet
    (``quiet_limit`` s more at most, ``settle`` if None): at thousands of users Synapse needs far
    longer than the bridge to create the first start's spaces, and the figures then say how
    much of that was still waiting (``rooms_created``, ``in_flight``). With ``profile`` (a
    directory), py-spy samples the bridge from ready to all online (``profile_summary``)."""
    figures = StartFigures(label, concurrency=stack.concurrency)
    await _reset(http, server)
    mark = len(stack.proxy.requests)
    synapse0 = _synapse_cpu(stack)
    await stack.reset_statements()
    started = time.monotonic()
    await stack.bridge.start(timeout=max(120.0, settle))
    assert stack.bridge.proc is not None
    pid = stack.bridge.proc.pid
    figures.ready_s = time.monotonic() - started
    spy = None
    if profile is not None and count:
        spy = PySpy(pid, profile / f"{count}-{label.replace(' ', '-')}.txt")
        spy.start()
    deadline = started + settle
    while count:
        stats = await _stats(http, server)
        figures.online = int(stats["online"])
        if figures.online >= count or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    stats = await _stats(http, server)
    figures.in_progress_max = int(stats["logins_in_progress_max"])
    if figures.online >= count:
        figures.all_online_s = time.monotonic() - started
    figures.storm_cpu_s = cpu_seconds(pid)
    figures.rss_online_kib = rss_kib(pid)
    if spy is not None:
        spy.stop()
        figures.profile_summary = spy.summary(25)
    await asyncio.sleep(1.2)  # the probe writes every second
    figures.probe_storm = stack.bridge.probe_figures()
    limit = settle if quiet_limit is None else quiet_limit
    if await _quiet(pid, stack.proxy, limit, window=quiet_window):
        figures.quiet = True
        figures.quiet_s = time.monotonic() - started
    figures.quiet_cpu_s = cpu_seconds(pid)
    figures.synapse_cpu_s = _synapse_cpu(stack) - synapse0
    figures.db_statements = await stack.statements()
    figures.rss_kib = rss_kib(pid)
    figures.requests = request_kinds(stack.proxy, mark)
    last: dict[str, bytes] = {}
    for r in stack.proxy.requests[mark:]:
        if r.method == "PUT" and "/presence/" in r.path:
            who = r.path.split("/presence/", 1)[1].split("/", 1)[0]
            figures.presence[who] += 1
            figures.presence_repeats += last.get(who) == r.body
            last[who] = r.body
    figures.in_flight = stack.proxy.in_flight
    return figures


async def run_bridge(
    count: int,
    *,
    backend: str = "postgres",
    contacts: int = 20,
    groups: int = 2,
    idle: float = 60.0,
    restart: bool = True,
    settle: float = 300.0,
    quiet_window: float = 5.0,
    keep: bool = False,
    gc_policy: str = "",
    concurrency: int = 100,
    quiet_limit: float | None = None,
    stop_timeout: float = 300.0,
    tracemalloc: bool = False,
    snapshots: Path | None = None,
    db_pool: int = 50,
    options: tuple[str, ...] = (),
    escargot: bool = False,
    spread: int = 1,
    dm_rooms: int = 0,
    profile: Path | None = None,
    report: Any = print,
) -> BridgeRun:
    """The measurement described in the module documentation, for ``count`` users
    (``escargot``: the MSN server mimics Escargot, e.g. no address-book deltas; ``spread``:
    the server has ``spread`` times as many accounts and every ``spread``-th is a bridge user,
    so with ``spread`` above ``contacts`` no user's contact is another user: each has ghosts
    of their own, offline ones; ``dm_rooms``: before the restart, each user gets that many DM
    rooms, see :meth:`ScaleStack.add_dm_rooms`)."""
    raise_fd_limit()
    spec = SeedSpec(max(count, 1) * spread, contacts, groups)
    run = BridgeRun(count, backend)
    workdir = Path(tempfile.mkdtemp(prefix=f"msn-scale-bridge-{count}-"))
    pg = None
    seed = ["--seed", str(spec.count), "--seed-contacts", str(contacts),
            "--seed-groups", str(groups), *(["--escargot"] if escargot else [])]  # fmt: skip
    server = await start_server("server", server_argv(seed), REPO)
    proxy = CountingProxy("http://127.0.0.1:1", keep_body=r"/presence/")  # upstream: Synapse
    stack: ScaleStack | None = None
    try:
        if backend == "postgres":
            from tests.support.pg import PostgresServer

            pg = PostgresServer(statement_stats=True)
            await asyncio.to_thread(pg.start)
        await proxy.start()
        stack = ScaleStack(
            workdir, backend, pg, server, proxy, gc_policy, concurrency, db_pool, options
        )
        proxy.upstream = stack.synapse.url
        await stack.start()
        async with ClientSession() as http:
            # twice: the first start also creates the database
            for attempt in range(2):
                empty = await measure_start(
                    stack, server, http, "no users", 0, settle, quiet_window
                )
                if attempt:  # (the heap of the start measured)
                    empty.heap_kib = (await stack.bridge.tasks_and_timers()).get("heap", {})
                await stack.bridge.stop(timeout=60)
            run.baseline_rss_kib = empty.rss_kib
            run.baseline = empty
            report(
                f"  bridge with no users: RSS {empty.rss_kib / 1024:.1f} MiB, CPU "
                f"{empty.quiet_cpu_s:.2f} s (the baseline)"
            )
            report(format_heap(0, "no users", empty.heap_kib))
            await stack.add_users(spec, count, spread)
            stack.bridge.tracemalloc = tracemalloc
            labels = ["first start", "restart"] if restart else ["first start"]
            for n, label in enumerate(labels):
                if n:
                    run.starts[-1].stop_s = await timed_stop(stack, stop_timeout)
                    report(
                        f"  {count:>6} stop         {run.starts[-1].stop_s:.1f} s (SIGTERM to exit)"
                    )
                    if dm_rooms:
                        run.dm_rooms = await stack.add_dm_rooms(count, dm_rooms)
                        report(f"  {count:>6} DM rooms     {run.dm_rooms} stored for the restart")
                figures = await measure_start(
                    stack, server, http, label, count, settle, quiet_window, quiet_limit, profile
                )
                run.starts.append(figures)
                report(format_start(run, figures))
                if figures.profile_summary:
                    report(f"  {count:>6} {label}: bridge CPU profile until all online\n"
                           f"{figures.profile_summary}")  # fmt: skip
                if n:  # (after the first start: with the idle tasks below)
                    heap = (await stack.bridge.tasks_and_timers()).get("heap", {})
                    figures.heap_kib = heap
                    report(format_heap(count, label, heap, empty.heap_kib))
                if tracemalloc:  # (after each start: the restart holds less)
                    report(await allocations(stack, count))
                    kept = stack.bridge.probe.with_suffix(".snapshot")
                    if snapshots is not None and kept.exists():
                        shutil.move(kept, snapshots / f"{label.replace(' ', '-')}-{count}")
                if idle > 0:  # (after the restart too: the state a bridge is in most)
                    await asyncio.sleep(1.5)  # the probe looks every second
                    stack.bridge.mark()
                    pid = stack.bridge.proc.pid if stack.bridge.proc else 0
                    spy = None
                    if profile is not None:
                        spy = PySpy(pid, profile / f"{count}-{label.replace(' ', '-')}-idle.txt")
                        spy.start()
                    cpu0 = cpu_seconds(pid)
                    await asyncio.sleep(idle)
                    figures.idle_cpu_pct = (cpu_seconds(pid) - cpu0) * 100 / idle
                    figures.probe_idle = stack.bridge.probe_figures()
                    report(format_idle(count, figures))
                    if spy is not None:
                        spy.stop()
                        report(
                            f"  {count:>6} idle ({label}): bridge CPU profile\n{spy.summary(25)}"
                        )
                    if n == 0:
                        run.idle_cpu_pct, run.probe_idle = figures.idle_cpu_pct, figures.probe_idle
                        found = await stack.bridge.tasks_and_timers()
                        report(format_tasks(count, found, empty.heap_kib))
            if run.starts:
                run.starts[-1].stop_s = await timed_stop(stack, stop_timeout)
                report(
                    f"  {count:>6} stop         {run.starts[-1].stop_s:.1f} s (SIGTERM to exit)"
                )
        run.errors = stack.bridge.errors_since(0)[:10]
    finally:
        if stack is not None:
            await stack.stop()
        await proxy.stop()
        await server.stop()
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if keep:
            report(f"  work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return run


async def allocations(stack: ScaleStack, count: int) -> str:
    rows = await stack.bridge.allocations()
    lines = [f"  {count:>6} where the bridge's memory is (tracemalloc, all of it, by file:line):"]
    for row in rows[:20]:
        per = row["kib"] * 1024 / max(count, 1)
        lines.append(
            f"           {row['kib']:10.1f} KiB {per:8.0f} B/user {row['count']:>9} blocks  "
            f"{row['where']}"
        )
    return "\n".join(lines)


def per_user_report(snapshots: Path, counts: list[int], top: int) -> str:
    """With ``--tracemalloc`` and two counts or more: what one more user holds after each
    start (the snapshots of the smallest and the largest count, see
    :func:`~bench._probe.per_user_allocations`), by file and by line."""
    if len(set(counts)) < 2:
        return "  (the bytes per user by file and line need --tracemalloc with two counts)"
    small, large = min(counts), max(counts)
    out = []
    for label in ("first-start", "restart"):
        a, b = snapshots / f"{label}-{small}", snapshots / f"{label}-{large}"
        if not (a.exists() and b.exists()):
            continue
        found = per_user_allocations((small, a), (large, b), limit=top)
        total = found["total"][0][1]
        out.append(
            f"  what one more user holds after the {label.replace('-', ' ')} (tracemalloc, "
            f"{large} users against {small}): {total:.0f} B, by the bridge's own code that "
            "asked for it (or the allocation's own site)"
        )
        for kind in ("by_file", "by_line"):
            out.append(f"    {kind.replace('_', ' ')}:")
            for where, size, blocks in found[kind]:
                out.append(f"      {size:8.0f} B {blocks:6.1f} blocks  {where}")
    return "\n".join(out)


def format_tasks(
    count: int, found: dict[str, dict[str, Any]], baseline: dict[str, float] | None = None
) -> str:
    """The most numerous tasks and timers while idle, per user (and the heap: see
    :func:`format_heap`)."""
    lines = []
    for kind in ("tasks", "timers"):
        rows = sorted(found.get(kind, {}).items(), key=lambda kv: -kv[1])[:6]
        text = ", ".join(f"{name} {n} ({n / max(count, 1):.2f}/user)" for name, n in rows)
        lines.append(f"  {count:>6} idle {kind:<7} {text or '-'}")
    if found.get("heap"):
        lines.append(format_heap(count, "idle", found["heap"], baseline))
    return "\n".join(lines)


def format_heap(
    count: int, label: str, heap: dict[str, float], baseline: dict[str, float] | None = None
) -> str:
    """What the bridge's two allocators hold (:func:`bench._probe.heap_kib`; the whole process)
    and, given the no-user ``baseline``, per user above it."""
    mib = {k: v / 1024 for k, v in heap.items()}
    line = (
        f"  {count:>6} {label:<12} heap: Python's small-object arenas "
        f"{heap.get('pymalloc_arenas', 0):.0f} MiB ({mib.get('pymalloc_in_use', 0):.1f} MiB in "
        f"use, {mib.get('pymalloc_free', 0):.1f} free in used pools, "
        f"{mib.get('pymalloc_unused_pools', 0):.1f} in empty pools); C heap "
        f"{mib.get('malloc_in_use', 0):.1f} MiB in use ({mib.get('malloc_mmapped', 0):.1f} "
        f"mmapped), {mib.get('malloc_free', 0):.1f} free but kept"
    )
    if baseline and count:

        def per_user(key: str) -> float:
            return (heap.get(key, 0) - baseline.get(key, 0)) / count

        line += (
            f"; per user above the baseline: Python's objects {per_user('pymalloc_in_use'):.1f}"
            f" KiB, free in its arenas {per_user('pymalloc_free'):.1f} + "
            f"{per_user('pymalloc_unused_pools'):.1f} KiB, C heap {per_user('malloc_in_use'):.1f}"
            f" KiB in use and {per_user('malloc_free'):.1f} KiB free"
        )
    return line


def _lag(probe: dict[str, Any]) -> str:
    lag, gc_ = probe.get("lag", {}), probe.get("gc", {})
    if not lag:
        return "probe: no figures"
    return (
        f"loop stall max {lag['max_ms']:.0f} ms ({lag['over_50ms']} over 50 ms; CPU between "
        f"two ticks max {lag.get('cpu_max_ms', float('nan')):.0f} ms, "
        f"{lag.get('cpu_over_50ms', 0)} over 50 ms), "
        f"GC max {max(gc_['max_ms']):.0f} ms (CPU {max(gc_.get('cpu_max_ms', [0])):.0f} ms; "
        f"by generation {'/'.join(f'{m:.0f}' for m in gc_['max_ms'])} ms, "
        f"{'/'.join(str(n) for n in gc_['collections'])} collections, "
        f"{gc_['total_s']:.2f} s in all, {gc_.get('collected', 0)} objects freed; "
        f"survivors frozen after {probe.get('gc_promotions', 0)}){_callbacks(probe)}"
    )


def _callbacks(probe: dict[str, Any]) -> str:
    """The longest single callbacks (see bench._probe.LongCallbacks)."""
    found = probe.get("callbacks")
    if not found or not found["longest"]:
        return ""
    longest = ", ".join(f"{name} {ms:.0f} ms" for ms, name in found["longest"][:3])
    return f"; single callbacks over 50 ms: {found['over_50ms']}, longest {longest}"


def format_start(run: BridgeRun, f: StartFigures) -> str:
    """CPU per user is above what the same start with no user used (``run.baseline``)."""
    per = f" RSS +{run.rss_kib_per_account:.1f} KiB/account;" if f.label == "first start" else ""
    base = run.baseline or StartFigures("none")
    n = max(run.count, 1)
    storm = (f.storm_cpu_s - base.storm_cpu_s) * 1000 / n
    quiet = (f.quiet_cpu_s - base.quiet_cpu_s) * 1000 / n
    hs = sum(f.requests.values())
    online_rss = (f.rss_online_kib - run.baseline_rss_kib) / n
    quiet_text = (
        f"quiet after {f.quiet_s:6.1f} s"
        if f.quiet
        else f"NOT quiet (homeserver still busy: {f.in_flight} requests in flight)"
    )
    return (
        f"  {run.count:>6} {f.label:<12} ready {f.ready_s:5.1f} s, all {f.online} online after "
        f"{f.all_online_s:6.1f} s (in progress max {f.in_progress_max} "
        f"{'<=' if f.in_progress_max <= f.concurrency else '>'} {f.concurrency}), bridge CPU "
        f"{storm:5.2f} ms/user until then (RSS +{online_rss:.1f} KiB/user then), {quiet_text} "
        f"({quiet:5.2f} ms/user);{per} {hs} homeserver requests ({f.rooms_created} rooms "
        f"created), Synapse CPU {f.synapse_cpu_s * 1000 / n:.1f} ms/user;{_statements(f, n)} "
        f"{_lag(f.probe_storm)}"
    )


def _statements(f: StartFigures, n: int) -> str:
    """The database statements of a start (PostgreSQL), per user, by kind."""
    if not f.db_statements:
        return ""
    kinds = ", ".join(f"{kind} {calls / n:.1f}" for kind, calls in f.db_statements.most_common(5))
    return f" {sum(f.db_statements.values()) / n:.1f} database statements/user ({kinds});"


def format_idle(count: int, f: StartFigures) -> str:
    label = "idle" if f.label == "first start" else f"idle ({f.label})"
    return f"  {count:>6} {label:<12} CPU {f.idle_cpu_pct:.2f} % of a core; {_lag(f.probe_idle)}"


async def bridge_mode(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    snapshots = Path(tempfile.mkdtemp(prefix="msn-scale-snapshots-")) if args.tracemalloc else None
    if args.profile is not None:
        if PySpy.available() is None:
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        args.profile.mkdir(parents=True, exist_ok=True)
    for count in args.counts:
        run = await run_bridge(
            count,
            backend=args.db,
            contacts=args.contacts,
            groups=args.groups,
            idle=args.idle,
            restart=not args.no_restart,
            settle=args.settle,
            quiet_window=args.quiet_window,
            keep=args.keep,
            gc_policy=args.bridge_gc,
            concurrency=args.concurrency,
            quiet_limit=args.quiet_limit,
            stop_timeout=args.stop_timeout,
            tracemalloc=args.tracemalloc,
            snapshots=snapshots,
            db_pool=args.db_pool,
            options=tuple(args.set),
            escargot=args.escargot,
            spread=args.spread,
            dm_rooms=args.dm_rooms,
            profile=args.profile,
        )
        for error in run.errors:
            print(f"  bridge error: {error.splitlines()[0][:160]}")
        results.append(
            {
                "count": count,
                "backend": run.backend,
                "baseline_rss_kib": run.baseline_rss_kib,
                "baseline_heap_kib": run.baseline.heap_kib if run.baseline else {},
                "rss_kib_per_account": run.rss_kib_per_account,
                "idle_cpu_pct": run.idle_cpu_pct,
                "probe_idle": run.probe_idle,
                "dm_rooms": run.dm_rooms,
                "starts": [
                    {k: (dict(v) if isinstance(v, Counter) else v) for k, v in vars(s).items()}
                    for s in run.starts
                ],
            }
        )
    if snapshots is not None:
        print(per_user_report(snapshots, args.counts, args.top))
        shutil.rmtree(snapshots, ignore_errors=True)
    with contextlib.suppress(Exception):
        flat = [r["rss_kib_per_account"] for r in results]
        if len(flat) > 1:
            print(
                f"  RSS per account {min(flat):.1f}..{max(flat):.1f} KiB (x{max(flat) / min(flat):.2f})"
            )
    return results
