"""A fast subset of bench/fuzz_client.py: generated server traffic through a real client.

The scripted server (its own process, written against the wire format only) sends 20,000
notification-server and switchboard frames with hostile values; the client must not crash,
hang, log an error or grow without bound. The full run (1,000,000 frames) is the benchmark.
"""

from __future__ import annotations

import pytest

from bench.fuzz_client import fuzz

pytestmark = pytest.mark.timeout(180)


async def test_generated_traffic_fast_subset() -> None:
    r = await fuzz(frames=20_000, batch=1000, seed=7, quiet=True)
    assert r["frames"] >= 20_000
    assert r["hangs"] == 0
    assert r["crashes"] == []
    assert r["error_logs"] == []
    assert r["events"] > 5_000
    assert r["rings_answered"] > 0 and r["sb_frames"] > 0
    # the hostile shapes were there and were refused or dropped, not obeyed
    counters = r["counters"]
    assert counters["payloads_dropped"] > 0
    assert counters["switchboard_hosts_refused"] > 0
    assert counters["events_queued_peak"] <= 1000 + 200  # max_pending_events + a little
    # memory levels off after the first tenth
    assert r["rss_end_mb"] - r["rss_after_10pct_mb"] < 64
    # CPU time of the longest callback, garbage collection apart: seconds would mean a
    # quadratic path (not a timing test: the fixed client needs milliseconds)
    assert r["worst_step_ms"] < 1000
