"""A small run of ``bench/db_writes.py``, so the benchmark cannot rot: every path measured, with
one statement and with two, against the asyncpg floor (the figures are the benchmark's to print;
no timing is asserted here)."""

from __future__ import annotations

from pathlib import Path
import json
import os

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(180)


@pytest.mark.skipif(
    os.environ.get("MSN_TEST_SKIP_POSTGRES") == "1", reason="MSN_TEST_SKIP_POSTGRES=1"
)
def test_small_run(tmp_path: Path) -> None:
    out = tmp_path / "writes.json"
    proc = run_bench(
        "db_writes.py", "--writes", "300", "--repeat", "1", "--gap", "1", "--json", str(out),
        timeout=170,
    )  # fmt: skip
    results = json.loads(out.read_text())
    assert len(results) == 10 and all(r["ms"] > 0 for r in results)
    for statements in (1, 2):
        by_path = {r["path"]: r["ms"] for r in results if r["statements"] == statements}
        assert set(by_path) == {
            "floor: asyncpg, one held connection",
            "mautrix db.execute",
            "pool + transaction (stop 18)",
            "write_together (now)",
            "write_together, Unix socket",
        }
    assert "x floor" in proc.stdout
