"""bridge.metrics: what the recording helpers count, the scrape-time session gauges, and the
endpoint serving them over HTTP."""

from __future__ import annotations

import time

from aiohttp import ClientSession
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
import pytest

from bridge import metrics
from tests.support.synapse import free_port


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def scrape(port: int) -> str:
    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        return await resp.text()


async def test_the_endpoint_serves_the_bridge_series() -> None:
    port = free_port()
    server = metrics.MetricsServer("127.0.0.1", port)
    sessions = [(True, 2), (False, 0), (True, 1)]
    gate = [7, 12, 8]
    metrics.track_sessions(lambda: list(sessions), logins=lambda: (gate[0], gate[1], gate[2]))
    await server.start()
    try:
        before = await scrape(port)
        sent = sample(before, "msn_messages_bridged_total", direction="matrix_to_msn")
        assert sent is not None
        failed = sample(
            before, "msn_send_failures_total", direction="matrix_to_msn", reason="offline"
        )
        assert failed is not None
        metrics.message_bridged(metrics.MATRIX_TO_MSN, received_at=time.monotonic())
        metrics.send_failed(metrics.MATRIX_TO_MSN, "offline")
        metrics.send_failed(metrics.MATRIX_TO_MSN, "something new")  # counted as "error"
        metrics.reconnect_attempt(success=False)
        after = await scrape(port)
        assert sample(after, "msn_messages_bridged_total", direction="matrix_to_msn") == sent + 1
        assert (
            sample(after, "msn_send_failures_total", direction="matrix_to_msn", reason="offline")
            == failed + 1
        )
        assert sample(after, "msn_send_failures_total", reason="something new") is None
        assert sample(after, "msn_logged_in_users") == 3
        assert sample(after, "msn_connected_users") == 2
        assert sample(after, "msn_open_switchboards") == 3
        assert sample(after, "msn_logins_in_progress") == 7
        assert sample(after, "msn_logins_waiting") == 12
        assert sample(after, "msn_login_turns_allowed") == 8
        assert sample(after, "msn_bridge_latency_seconds_count", direction="matrix_to_msn")
        # The gauges are read at scrape time.
        sessions.append((True, 5))
        again = await scrape(port)
        assert sample(again, "msn_connected_users") == 3
        assert sample(again, "msn_open_switchboards") == 8
        gate[:] = [4, 0, 10]
        again = await scrape(port)
        assert sample(again, "msn_logins_waiting") == 0
        assert sample(again, "msn_login_turns_allowed") == 10
    finally:
        await server.stop()
        metrics.track_sessions(lambda: [])


def _count(kind: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "msn_login_duration_seconds_count", {"kind": kind, "outcome": outcome}
    )
    return value or 0.0


def test_login_timer_records_the_outcome() -> None:
    failures, successes = _count("login", "failure"), _count("login", "success")
    with pytest.raises(ValueError), metrics.login_timer("login"):
        raise ValueError("refused")
    assert _count("login", "failure") == failures + 1
    with metrics.login_timer("login"):
        pass
    assert _count("login", "success") == successes + 1
    assert _count("login", "failure") == failures + 1
