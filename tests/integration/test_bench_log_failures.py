"""A small run of ``bench/log_failures.py``, so the benchmark cannot rot: the three ways are
measured, and the brief record costs less than the traceback it replaces."""

from __future__ import annotations

import re

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run() -> None:
    proc = run_bench("log_failures.py", "-n", "200", timeout=110)
    assert "ServerDisconnectedError raised through" in proc.stdout
    figures = {
        m.group(1).split(" (")[0]: float(m.group(2))
        for m in re.finditer(r"^  (\S.*?)\s+([\d.]+) us of CPU per record", proc.stdout, re.M)
    }
    assert set(figures) == {"traceback", "brief", "no exception"}, proc.stdout
    assert all(us > 0 for us in figures.values())
    assert figures["brief"] < figures["traceback"]
