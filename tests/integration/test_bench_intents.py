"""A small run of ``bench/intents.py``, so the benchmark cannot rot: both kinds of intent are
made and called, and the lean one holds less memory (bytes, not time: no timing is asserted)."""

from __future__ import annotations

import re

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run() -> None:
    proc = run_bench("intents.py", "--count", "200", "--repeat", "1", timeout=110)
    rows = {
        name.strip(): (int(memory), float(make), float(call))
        for name, memory, make, call in re.findall(
            r"^(mautrix IntentAPI \(baseline\)|LeanIntentAPI) +(\d+) +([\d.]+) +([\d.]+)$",
            proc.stdout,
            re.M,
        )
    }
    assert set(rows) == {"mautrix IntentAPI (baseline)", "LeanIntentAPI"}, proc.stdout
    for memory, make, call in rows.values():
        assert memory > 0 and make > 0 and call > 0, proc.stdout
    # mautrix's: ~13 KiB per intent (27 functions); lean: ~1 KiB
    assert rows["LeanIntentAPI"][0] * 4 < rows["mautrix IntentAPI (baseline)"][0], proc.stdout
    assert re.search(r"^ratio lean / baseline: memory [\d.]+, making [\d.]+", proc.stdout, re.M)
