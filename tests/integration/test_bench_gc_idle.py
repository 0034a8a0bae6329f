"""A small run of ``bench/gc_idle.py``, so the benchmark cannot rot: both thresholds measured
between bursts, the shipped policy's lower one in effect once the logins stopped."""

from __future__ import annotations

from pathlib import Path
import json

import pytest

from bridge.gc_policy import DEFAULT_THRESHOLD, IDLE_THRESHOLD
from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run(tmp_path: Path) -> None:
    out = tmp_path / "gc.json"
    proc = run_bench(
        "gc_idle.py", "--sessions", "500", "--objects", "100", "--events", "200000",
        "--rounds", "1", "--json", str(out),
        timeout=110,
    )  # fmt: skip
    before, shipped = json.loads(out.read_text())
    assert (before["label"], shipped["label"]) == ("login threshold", "idle threshold")
    assert (before["young_threshold"], shipped["young_threshold"]) == (
        DEFAULT_THRESHOLD,
        IDLE_THRESHOLD,
    )
    # the same events: the lower threshold collects the young generations more often
    assert shipped["gen0"]["count"] > before["gen0"]["count"] > 0
    assert "idle / login threshold" in proc.stdout
