"""Helpers shared by the end-to-end benchmarks (bench/bridge_messages.py, bench/presence_burst.py).

They reuse the e2e test harness (tests/e2e/harness.py): :class:`BenchStack` is its ``Stack`` with
a few knobs a benchmark needs (log level, presence limits, the homeserver address the bridge
uses), :class:`TimedPeer` is an MSN peer that timestamps every event, :func:`record_arrivals`
timestamps what a Matrix test client's ``/sync`` delivers, :class:`CountingProxy` is a tiny
reverse proxy that counts the bridge's requests to Synapse, and :class:`DBProbe` reads the
bridge database (SQLite or PostgreSQL) while the bridge runs.

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
import asyncio
import contextlib
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientError, ClientSession, ClientTimeout, ServerDisconnectedError, web
from ruamel.yaml import YAML

from bridge.msnp.client import ClientConfig
from bridge.msnp.events import Event
from tests.support.harness import MSNPeer, Stack
from tests.support.synapse import MatrixTestClient

__all__ = [
    "BenchStack",
    "CountingProxy",
    "DBProbe",
    "ProxiedRequest",
    "TimedPeer",
    "bench_stack",
    "cpu_seconds",
    "login_via_bot",
    "percentile",
    "record_arrivals",
    "summary",
]


class BenchStack(Stack):
    """The e2e ``Stack`` with benchmark settings written into the bridge config."""

    def __init__(
        self,
        workdir: Path,
        backend: str,
        pg: Any = None,
        *,
        log_level: str = "INFO",
        hs_address: str | None = None,
        presence: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(workdir, backend, pg)
        self.log_level = log_level
        self.hs_address = hs_address
        self.presence_overrides = presence or {}

    def write_config(self) -> None:
        super().write_config()
        yaml = YAML()
        config = yaml.load(self.config_path.read_text())
        if self.hs_address:
            config["homeserver"]["address"] = self.hs_address
        loggers = config["logging"]["loggers"]
        loggers["mau"] = {"level": self.log_level}
        loggers["msnp"] = {"level": self.log_level}
        loggers["aiohttp"] = {"level": "WARNING"}
        config["logging"]["root"]["level"] = self.log_level
        config["bridge"]["presence"].update(self.presence_overrides)
        with open(self.config_path, "w") as f:
            yaml.dump(config, f)


class TimedPeer(MSNPeer):
    """An MSN peer that also records ``time.monotonic()`` for each event it receives."""

    def __init__(self, config: ClientConfig, passport: str, password: str) -> None:
        super().__init__(config, passport, password)
        self.times: list[float] = []

    async def _handle(self, event: Event) -> None:
        self.times.append(time.monotonic())
        await super()._handle(event)


def record_arrivals(client: MatrixTestClient) -> dict[str, float]:
    """Timestamp (monotonic) every timeline event ``client``'s /sync loop delivers, by event ID."""
    arrivals: dict[str, float] = {}
    ingest = client._ingest

    def timed_ingest(data: dict[str, Any]) -> None:
        now = time.monotonic()
        for room in data.get("rooms", {}).get("join", {}).values():
            for evt in room.get("timeline", {}).get("events", []):
                if "event_id" in evt:
                    arrivals.setdefault(evt["event_id"], now)
        ingest(data)

    client._ingest = timed_ingest  # type: ignore[method-assign]
    return arrivals


async def login_via_bot(
    stack: Stack, user: MatrixTestClient, passport: str, password: str, timeout: float = 60.0
) -> tuple[str, float]:
    """Open a DM with the bridge bot and log in; returns (management room, monotonic time the
    login command was sent). Waits for the bot's "Logged in as" reply."""
    room = await user.create_dm(stack.bot_mxid)
    await user.wait_for_membership(room, stack.bot_mxid, "join", timeout=30)
    sent = time.monotonic()
    await user.send_text(room, f"login {passport} {password}")
    await user.wait_for_message(
        room, re.compile(r"Logged in as"), sender=stack.bot_mxid, timeout=timeout
    )
    return room, sent


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc), or NaN when unknown."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- statistics ---------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Summary:
    count: int
    seconds: float
    rate: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    p99_ms: float = float("nan")


def summary(latencies: list[float], seconds: float) -> Summary:
    """Throughput over ``seconds`` and latency percentiles (latencies in seconds)."""
    if not latencies:
        return Summary(0, seconds, 0.0, float("nan"), float("nan"), float("nan"))
    return Summary(
        len(latencies),
        seconds,
        len(latencies) / seconds if seconds > 0 else float("inf"),
        statistics.median(latencies) * 1000,
        percentile(latencies, 95) * 1000,
        max(latencies) * 1000,
        percentile(latencies, 99) * 1000,
    )


# --- counting reverse proxy ---------------------------------------------------------------

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass(frozen=True, slots=True)
class ProxiedRequest:
    start: float  # monotonic time the request reached the proxy
    end: float  # monotonic time the upstream answer was complete
    method: str
    path: str  # decoded path, without the query string
    status: int
    body: bytes


class CountingProxy:
    """A reverse proxy on 127.0.0.1 that forwards to ``upstream`` and records every request.

    Only requests whose path matches ``keep_body`` keep their request body in the record.
    """

    def __init__(self, upstream: str, keep_body: str = r"/presence/") -> None:
        self.upstream = upstream.rstrip("/")
        self.keep_body = re.compile(keep_body)
        self.requests: list[ProxiedRequest] = []
        self.in_flight = 0  # requests forwarded and not answered yet
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=120), auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        start = time.monotonic()
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        url = f"{self.upstream}{request.rel_url.raw_path_qs}"
        self.in_flight += 1
        try:
            return await self._forward_to(request, url, body, headers, start)
        finally:
            self.in_flight -= 1

    async def _forward_to(
        self, request: web.Request, url: str, body: bytes, headers: dict[str, str], start: float
    ) -> web.StreamResponse:
        assert self._session is not None
        for attempt in range(2):
            try:
                async with self._session.request(
                    request.method, url, data=body or None, headers=headers, allow_redirects=False
                ) as upstream:
                    payload = await upstream.read()
                    status = upstream.status
                    out_headers = {
                        k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                break
            except ClientError as e:
                if isinstance(e, ServerDisconnectedError) and not attempt:
                    continue  # a pooled connection the upstream had just closed: once more
                # upstream down (or stopping with requests in flight): answer like a gateway
                payload, status, out_headers = str(e).encode(), 502, {}
                break
        kept = body if self.keep_body.search(request.path) else b""
        self.requests.append(
            ProxiedRequest(start, time.monotonic(), request.method, request.path, status, kept)
        )
        return web.Response(status=status, body=payload, headers=out_headers)

    def matching(self, method: str, path_pattern: str) -> Iterator[ProxiedRequest]:
        pattern = re.compile(path_pattern)
        return (r for r in self.requests if r.method == method and pattern.search(r.path))


def window_peak(times: Iterable[float], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open interval of ``window`` seconds."""
    ordered = sorted(times)
    best = lo = 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# --- bridge database ----------------------------------------------------------------------


class DBProbe:
    """Read-only queries on the running bridge's database. SQL uses ``$1`` placeholders."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self._pg: Any = None
        self._sqlite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.db_url.startswith("postgres"):
            import asyncpg

            self._pg = await asyncpg.connect(self.db_url)
        else:
            path = self.db_url.split(":", 1)[1]
            self._sqlite = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=5
            )

    async def close(self) -> None:
        if self._pg is not None:
            with contextlib.suppress(Exception):
                await self._pg.close()
            self._pg = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None

    async def scalar(self, sql: str, *args: Any) -> Any:
        if self._pg is not None:
            return await self._pg.fetchval(sql, *args)
        assert self._sqlite is not None
        conn = self._sqlite
        query = re.sub(r"\$\d+", "?", sql)

        def run() -> Any:
            for _ in range(20):
                try:
                    row = conn.execute(query, args).fetchone()
                    return row[0] if row else None
                except sqlite3.OperationalError as e:  # locked by the bridge's writer
                    if "locked" not in str(e):
                        raise
                    time.sleep(0.01)
            return None

        return await asyncio.to_thread(run)


@contextlib.asynccontextmanager
async def bench_stack(
    prefix: str, db: str, *, keep: bool = False, **options: Any
) -> AsyncIterator[BenchStack]:
    """A :class:`BenchStack` (not started yet) in a new work directory, with its own
    PostgreSQL when ``db`` is ``postgres``; afterwards everything is stopped and the directory
    removed (with ``keep``, kept and named)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    pg = None
    if db == "postgres":
        from tests.support.pg import PostgresServer

        pg = PostgresServer()
        await asyncio.to_thread(pg.start)
    stack = BenchStack(workdir, db, pg, **options)
    try:
        yield stack
    finally:
        await stack.stop()
        if pg is not None:
            await asyncio.to_thread(pg.stop)
        if keep:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
