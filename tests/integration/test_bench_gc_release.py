"""A small run of ``bench/gc_release.py``, so the benchmark cannot rot: both rules measured, and
the shipped one needs fewer collections of the whole heap when every session drops at once."""

from __future__ import annotations

from pathlib import Path
import json

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run(tmp_path: Path) -> None:
    out = tmp_path / "gc.json"
    proc = run_bench(
        "gc_release.py", "--sessions", "2000", "--objects", "50", "--freeze-every", "100",
        "--json", str(out),
        timeout=110,
    )  # fmt: skip
    before, shipped = json.loads(out.read_text())
    assert (before["rule"], shipped["rule"]) == ("every N ended", "proportional")
    # 2,000 ended sessions: one release per 100 before; at most one per quarter of the frozen
    assert before["releases"] == 20
    assert 1 <= shipped["releases"] <= 5
    assert "proportional / every N ended" in proc.stdout
