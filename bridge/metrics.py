"""Prometheus metrics of the bridge: the series it keeps, and the endpoint that serves them.

The series live in prometheus_client's default registry (next to mautrix's own, e.g.
``bridge_matrix_event``). Without the ``metrics`` extra installed, mautrix's no-op stand-ins take
their place, so the recording calls below cost nothing and :class:`MetricsServer` refuses to start.

The endpoint runs on the bridge's event loop (not in prometheus_client's server thread): the
gauges read the live sessions at scrape time, and only the loop may touch them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
import asyncio
import logging
import time

from aiohttp import web
from mautrix.util.opt_prometheus import Counter, Histogram

from bridge.msnp.values import DisconnectReason

if TYPE_CHECKING:
    from prometheus_client.registry import Collector, CollectorRegistry

REGISTRY: CollectorRegistry | None
try:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY as _DEFAULT_REGISTRY,
        generate_latest,
    )
    from prometheus_client.core import GaugeMetricFamily
except ImportError:  # the metrics extra is not installed
    REGISTRY = None
else:
    REGISTRY = _DEFAULT_REGISTRY

__all__ = [
    "DIRECTIONS",
    "LIMIT_KINDS",
    "MATRIX_TO_MSN",
    "MSN_TO_MATRIX",
    "SEND_FAILURE_REASONS",
    "LoginSource",
    "MetricsServer",
    "SessionSource",
    "arrival",
    "available",
    "disconnected",
    "handling_arrival",
    "limited",
    "login_timer",
    "message_bridged",
    "reconnect_attempt",
    "send_failed",
    "serve_from_config",
    "track_sessions",
]

log = logging.getLogger("mau.metrics")

MATRIX_TO_MSN = "matrix_to_msn"
MSN_TO_MATRIX = "msn_to_matrix"
DIRECTIONS = (MATRIX_TO_MSN, MSN_TO_MATRIX)
#: Reasons a message is not bridged; anything else is counted as "error".
SEND_FAILURE_REASONS = (
    "not_connected",  # the user's MSN session is down
    "offline",  # MSN: the contact is offline (217)
    "not_delivered",  # MSN: NAK, the contact did not get it
    "timeout",  # MSN: no ACK in time
    "uncertain",  # the connection broke after the message was written, before MSN's ACK
    "queue_full",  # too many messages already waiting in the conversation's queue
    "refused",  # MSN: another error code
    "unsupported",  # nothing MSN can carry (empty, unsupported content)
    "no_permission",  # the sender may not write in this conversation
    "matrix_error",  # the homeserver refused the event
    "error",  # anything unexpected
)

MESSAGES = Counter("msn_messages_bridged_total", "Messages bridged, per direction.", ["direction"])
SEND_FAILURES = Counter(
    "msn_send_failures_total",
    "Messages that could not be bridged, per direction and reason.",
    ["direction", "reason"],
)
RECONNECTS = Counter(
    "msn_reconnects_total",
    "Connection attempts to MSN with stored credentials (after a restart or a disconnect), "
    "per outcome.",
    ["outcome"],
)
DISCONNECTS = Counter(
    "msn_disconnects_total",
    "MSN sessions that ended without the bridge closing them, per reason (connection_lost, "
    "keepalive_timeout, other_location, server_shutdown, protocol_error).",
    ["reason"],
)
LOGIN_SECONDS = Histogram(
    "msn_login_duration_seconds",
    "Time from starting an MSN login to its end, per kind (login: new credentials, "
    "reconnect: stored ones) and outcome.",
    ["kind", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
LATENCY = Histogram(
    "msn_bridge_latency_seconds",
    "Time a message spends in the bridge: from its arrival (a Matrix event handed to the "
    "portal; an MSN message read from the switchboard) until the other side accepted it.",
    ["direction"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

#: What the bridge-side limits (bridge.limits, README "Limits") did to MSN events.
LIMIT_KINDS = (
    "typing_dropped",  # typing notification dropped: the user's event queue was half full
    "presence_coalesced",  # presence update merged into a waiting one of the same contact
    "backpressure_waits",  # the user's event queue was full: the MSN client had to wait
    "group_messages_redirected",  # group chat message shown in a direct chat (room limit)
    "messages_hidden",  # message from someone the user's privacy settings keep out
    "added_notices_coalesced",  # "added you" listed in a notice with others
)
LIMITED = Counter(
    "msn_limited_total",
    "MSN events a bridge-side limit acted on, per kind (see bridge.limits).",
    ["kind"],
)

# The labelled series, resolved once (a ``labels()`` lookup costs more than the update).
_MESSAGES = {d: MESSAGES.labels(direction=d) for d in DIRECTIONS}
_LATENCY = {d: LATENCY.labels(direction=d) for d in DIRECTIONS}
_FAILURES = {
    (d, r): SEND_FAILURES.labels(direction=d, reason=r)
    for d in DIRECTIONS
    for r in SEND_FAILURE_REASONS
}
_LIMITED = {k: LIMITED.labels(kind=k) for k in LIMIT_KINDS}
for _outcome in ("success", "failure"):
    RECONNECTS.labels(outcome=_outcome)
for _reason in DisconnectReason:
    if _reason is not DisconnectReason.CLIENT:
        DISCONNECTS.labels(reason=_reason.name.lower())


def available() -> bool:
    """Whether prometheus_client is installed (the ``metrics`` extra)."""
    return REGISTRY is not None


# region recording

#: When the MSN event being handled arrived (set by the session around each event's handling).
_arrival: ContextVar[float | None] = ContextVar("msn_event_arrival", default=None)


@contextmanager
def handling_arrival(arrived_at: float) -> Iterator[None]:
    """Code run inside handles an MSN event that arrived at ``arrived_at`` (monotonic)."""
    token = _arrival.set(arrived_at)
    try:
        yield
    finally:
        _arrival.reset(token)


def arrival() -> float | None:
    """The arrival time of the MSN event being handled (see :func:`handling_arrival`)."""
    return _arrival.get()


def message_bridged(direction: str, received_at: float | None = None) -> None:
    """One message crossed the bridge; ``received_at`` is its arrival (``time.monotonic()``)."""
    _MESSAGES[direction].inc()
    if received_at is not None:
        _LATENCY[direction].observe(max(0.0, time.monotonic() - received_at))


def send_failed(direction: str, reason: str) -> None:
    series = _FAILURES.get((direction, reason)) or _FAILURES[direction, "error"]
    series.inc()


def limited(kind: str) -> None:
    """A bridge-side limit acted on an MSN event (``kind`` is one of :data:`LIMIT_KINDS`)."""
    series = _LIMITED.get(kind)
    if series is not None:
        series.inc()


def reconnect_attempt(success: bool) -> None:
    RECONNECTS.labels(outcome="success" if success else "failure").inc()


def disconnected(reason: str) -> None:
    DISCONNECTS.labels(reason=reason).inc()


@contextmanager
def login_timer(kind: str) -> Iterator[None]:
    """Time the block as an MSN login of ``kind`` ("login" or "reconnect")."""
    started = time.monotonic()
    outcome = "failure"
    try:
        yield
        outcome = "success"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        LOGIN_SECONDS.labels(kind=kind, outcome=outcome).observe(time.monotonic() - started)


# endregion
# region gauges read at scrape time

#: Yields (connected, open switchboards) for every logged-in user.
SessionSource = Callable[[], Iterable[tuple[bool, int]]]
#: (logins holding a turn, logins waiting for one, turns background logins may hold now).
LoginSource = Callable[[], tuple[int, int, int]]


class _SessionCollector:
    """``msn_logged_in_users``, ``msn_connected_users`` and ``msn_open_switchboards``; with a
    login source the login gate's ``msn_logins_in_progress``, ``msn_logins_waiting`` and
    ``msn_login_turns_allowed``."""

    def __init__(self, source: SessionSource, logins: LoginSource | None = None) -> None:
        self.source = source
        self.logins = logins

    def describe(self) -> list[Any]:
        return []  # not known before the first scrape; keeps registration side-effect free

    def collect(self) -> list[Any]:
        logged_in = connected = switchboards = 0
        for is_connected, open_switchboards in self.source():
            logged_in += 1
            connected += is_connected
            switchboards += open_switchboards
        return [
            GaugeMetricFamily(
                "msn_logged_in_users", "Users with stored MSN credentials.", value=logged_in
            ),
            GaugeMetricFamily(
                "msn_connected_users", "Users whose MSN session is connected.", value=connected
            ),
            GaugeMetricFamily(
                "msn_open_switchboards",
                "Open MSN conversations (switchboard sessions) of all users.",
                value=switchboards,
            ),
            *self._login_gauges(),
        ]

    def _login_gauges(self) -> list[Any]:
        if self.logins is None:
            return []
        active, waiting, allowed = self.logins()
        return [
            GaugeMetricFamily(
                "msn_logins_in_progress",
                "MSN logins holding a turn (at most bridge.reconnect.max_concurrent_logins).",
                value=active,
            ),
            GaugeMetricFamily(
                "msn_logins_waiting", "MSN logins waiting for a turn.", value=waiting
            ),
            GaugeMetricFamily(
                "msn_login_turns_allowed",
                "Turns the background logins may hold now: max_concurrent_logins, fewer while "
                "the event loop is late (bridge.reconnect.max_loop_lag).",
                value=allowed,
            ),
        ]


_collector: _SessionCollector | None = None


def track_sessions(
    source: SessionSource,
    registry: CollectorRegistry | None = None,
    logins: LoginSource | None = None,
) -> None:
    """Read the sessions' gauges from ``source`` and the login gate's from ``logins`` (called
    on the event loop, at each scrape)."""
    global _collector
    registry = registry or REGISTRY
    if registry is None:
        return
    if _collector is not None:
        registry.unregister(cast("Collector", _collector))
    _collector = _SessionCollector(source, logins)
    registry.register(cast("Collector", _collector))


# endregion
# region endpoint


class MetricsServer:
    """``GET /metrics`` (and ``/``) in the text exposition format, on the event loop."""

    def __init__(
        self, hostname: str, port: int, registry: CollectorRegistry | None = None
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.registry = registry or REGISTRY
        self._runner: web.AppRunner | None = None

    async def _serve(self, request: web.Request) -> web.Response:
        assert self.registry is not None
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        if self.registry is None:
            raise RuntimeError("metrics.enabled needs prometheus_client (the metrics extra)")
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        app.router.add_get("/", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.hostname, self.port).start()
        log.info("Serving metrics on http://%s:%d/metrics", self.hostname, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


async def serve_from_config(
    config: Any, source: SessionSource, logins: LoginSource | None = None
) -> MetricsServer | None:
    """Start the endpoint when ``metrics.enabled`` (``metrics.hostname``/``listen_port``)."""
    if not config["metrics.enabled"]:
        return None
    if not available():
        log.warning(
            "metrics.enabled is true, but prometheus_client (the metrics extra) is missing"
        )
        return None
    track_sessions(source, logins=logins)
    server = MetricsServer(
        str(config["metrics.hostname"] or "127.0.0.1"), int(config["metrics.listen_port"])
    )
    try:
        await server.start()
    except OSError as e:
        raise RuntimeError(
            f"Cannot serve metrics on {server.hostname}:{server.port} (metrics.hostname, "
            f"metrics.listen_port): {e.strerror or e}"
        ) from e
    return server


# endregion
