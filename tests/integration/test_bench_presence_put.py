"""A small run of ``bench/presence_put.py``, so the benchmark cannot rot: every path measured
against the aiohttp floor, and the bridge's path keeps nothing per ghost where mautrix's per-user
API object keeps its logger for good."""

from __future__ import annotations

from pathlib import Path
import json

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run(tmp_path: Path) -> None:
    out = tmp_path / "presence.json"
    proc = run_bench(
        "presence_put.py", "--ghosts", "300", "--repeat", "1", "--json", str(out),
        timeout=110,
    )  # fmt: skip
    floor, intent, api_object, now = json.loads(out.read_text())
    assert floor["path"].startswith("floor") and now["path"].endswith("(now)")
    assert all(r["ms"] > 0 for r in (floor, intent, api_object, now))
    # a logger and an API object per ghost (2.2 KiB), over what every path keeps the same
    assert api_object["bytes_per_ghost"] - now["bytes_per_ghost"] > 1000
    assert "x floor" in proc.stdout
