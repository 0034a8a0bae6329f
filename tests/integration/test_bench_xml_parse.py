"""A small run of ``bench/xml_parse.py``, so the benchmark cannot rot: every answer is timed
through both routes (which the script checks give the same tree), with the C builder's floor."""

from __future__ import annotations

import re

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(120)


def test_small_run() -> None:
    proc = run_bench("xml_parse.py", "--repeat", "2", timeout=110)
    rows = re.findall(
        r"^(ABFindAll|FindMembership|circles lookup), (\d+) .*? (\d+) +(\d+) +([\d.]+) +(\d+) +(\d+) / (\d+)",
        proc.stdout,
        re.M,
    )
    assert {(kind, count) for kind, count, *_ in rows} == {
        (kind, count)
        for kind in ("ABFindAll", "FindMembership", "circles lookup")
        for count in ("20", "1000")
    }, proc.stdout
    for *_, built, streamed, ratio, floor, whole_built, whole_streamed in rows:
        assert int(floor) > 0 and int(built) > 0 and int(streamed) > 0, proc.stdout
        assert int(whole_built) > 0 and int(whole_streamed) > 0
        assert float(ratio) > 0
