"""A small run of ``bench/scale.py library`` (50 accounts), so the benchmark cannot rot.

The figures themselves are not judged here (the machine is shared); the run must log every
account in, report every figure for each variant, and show where the bytes went.
"""

from __future__ import annotations

from pathlib import Path
import json
import math

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(180)


def test_library_mode_small_run(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    proc = run_bench(
        "scale.py", "library", "--counts", "50", "--concurrency", "20", "--idle", "1",
        "--variants", "raw,library,library+freeze,library+policy=200:10,"
        "library+policy-no-burst=200:10", "--tracemalloc", "--json", str(out),
        timeout=170,
    )  # fmt: skip
    results = json.loads(out.read_text())
    variants = [r["variant"] for r in results if not r["tracemalloc"]]
    assert variants == [
        "raw",
        "library",
        "library+freeze",
        "library+policy=200:10",
        "library+policy-no-burst=200:10",
    ]
    by_variant = {r["variant"]: r for r in results if not r["tracemalloc"]}
    # the bridge's collector policy froze young survivors during the logins; without the
    # burst freezing, none (a low threshold makes young collections certain at 50 logins)
    assert by_variant["library+policy=200:10"]["gc_promotions"] > 0
    assert by_variant["library+policy-no-burst=200:10"]["gc_promotions"] == 0
    assert by_variant["library"]["gc_promotions"] is None
    for r in results:
        assert r["count"] == r["connected"] == 50, r["variant"]
        server = r["server"]
        assert server["logins"] >= 50  # (and one warm-up login)
        assert 1 <= server["logins_in_progress_max"] <= 20
        for key in ("wall_s", "cpu_ms_per_login", "rss_kib_per_account", "idle_cpu_pct"):
            assert math.isfinite(r[key]), (r["variant"], key)
        assert r["wall_s"] > 0 and r["cpu_ms_per_login"] > 0
        assert r["login_p50_ms"] <= r["login_p99_ms"]
        assert r["login_lag"]["ticks"] > 0 and r["idle_lag"]["ticks"] > 0
        assert len(r["login_gc"]["collections"]) == 3
        assert f"{r['count']:>6} {r['variant']}" in proc.stdout or r["tracemalloc"]
    traced = [r for r in results if r["tracemalloc"]]
    assert len(traced) == 1
    sites = [row["where"] for row in traced[0]["allocations"]]
    assert any("bridge/msnp/" in where for where in sites), sites
    assert "top allocations of library at 50 accounts" in proc.stdout
    assert "per variant across counts" in proc.stdout
