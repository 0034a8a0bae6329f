"""``bench/scale.py bridge --tracemalloc`` with two counts: what one more user holds is the
difference between two snapshots of the same program, divided by the difference in users,
put down to the innermost line of the code under study (here this file) behind each
allocation, whatever library made it."""

from __future__ import annotations

from typing import Any
from pathlib import Path
import inspect
import json
import tracemalloc

from bench._probe import per_user_allocations

SHARED = 1 << 20  # what every process holds, whatever its users: it must cancel out


def _users(count: int) -> list[Any]:
    users: list[Any] = []
    for n in range(count):
        blob = bytearray(1000)  # made here
        parsed = json.loads(f'{{"name": "user{n}", "lists": [1, 2, 3]}}')  # made by json
        users.append((blob, parsed))
    return users


def _snapshot(count: int, path: Path) -> tuple[int, Path]:
    shared = bytearray(SHARED)
    users = _users(count)
    tracemalloc.take_snapshot().dump(str(path))
    del shared, users
    return count, path


def _line_of(text: str) -> int:
    source, first = inspect.getsourcelines(_users)
    return first + next(n for n, line in enumerate(source) if text in line)


def test_what_one_more_user_holds(tmp_path: Path) -> None:
    tracemalloc.start(8)
    try:
        small = _snapshot(10, tmp_path / "small")
        large = _snapshot(50, tmp_path / "large")
    finally:
        tracemalloc.stop()
    found = per_user_allocations(small, large, mark="/tests/integration/")
    lines = {where: size for where, size, _ in found["by_line"]}
    here = "tests/integration/test_bench_per_user.py"
    blob = lines[f"{here}:{_line_of('bytearray(1000)')}"]
    parsed = lines[f"{here}:{_line_of('json.loads(')}"]
    assert all(where.startswith(here) for where in list(lines)[:2]), lines
    assert 1000 <= blob < 1200  # the bytearray and its buffer, per user
    assert 150 <= parsed < 1000  # json's dict, list and strings: put down to line 23
    assert not any("json" in where for where in lines)
    # the shared megabyte is in both snapshots: no row holds anything near it per user
    assert max(lines.values()) < 2000
    files = {where: size for where, size, _ in found["by_file"]}
    assert files[here] >= blob + parsed
    assert found["total"][0][1] >= blob + parsed
