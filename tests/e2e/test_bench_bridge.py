"""Small runs of the whole-bridge benchmarks (``bench/scale.py bridge``, ``bench/hs_traffic.py``)
with a handful of users, so they cannot rot. Each starts its own MSN server, Synapse and bridge.

The figures are not judged (the machine is shared); the runs must connect every user in both
starts, measure the bridge process from outside and from its probe, and count the homeserver
requests by kind.
"""

from __future__ import annotations

from pathlib import Path
import json
import math

import pytest

from tests.support.bench_run import run_bench

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_scale_bridge_mode_small_run(tmp_path: Path, db: str) -> None:
    out = tmp_path / "bridge.json"
    run_bench(
        "scale.py", "bridge", "--counts", "12", "--db", db,
        "--idle", "2", "--quiet-window", "1.5", "--settle", "120", "--concurrency", "3",
        "--dm-rooms", "3", "--json", str(out), timeout=280,
    )  # fmt: skip
    (result,) = json.loads(out.read_text())
    assert result["count"] == 12 and result["baseline_rss_kib"] > 0
    assert result["dm_rooms"] == 3 * 12  # (stored before the restart, linked in their spaces)
    assert math.isfinite(result["rss_kib_per_account"])
    assert math.isfinite(result["idle_cpu_pct"])
    assert result["probe_idle"]["lag"]["ticks"] > 0  # the probe inside the bridge reported
    first, restart = result["starts"]
    # idle after each start: the first start's is the run's; the restart's is measured too
    assert first["idle_cpu_pct"] == result["idle_cpu_pct"]
    assert math.isfinite(restart["idle_cpu_pct"]) and restart["probe_idle"]["lag"]["ticks"] > 0
    assert [first["label"], restart["label"]] == ["first start", "restart"]
    for start in (first, restart):
        assert start["online"] == 12 and math.isfinite(start["all_online_s"])
        # bridge.reconnect.max_concurrent_logins (3), counted by the MSN server
        assert 1 <= start["in_progress_max"] <= 3 and start["concurrency"] == 3
        assert start["rss_kib"] > 0 and start["probe_storm"]["gc"]["collections"]
        # each stop was measured, and the bridge exited by itself (a kill reads as infinite)
        assert math.isfinite(start["stop_s"]) and start["stop_s"] > 0
        assert start["probe_storm"]["lag"]["cpu_max_ms"] >= 0
        # the longest single callbacks, each with the task or function it belonged to
        callbacks = start["probe_storm"]["callbacks"]
        assert callbacks["callbacks"] > 0 and callbacks["longest"]
        assert all(ms >= 0 and name for ms, name in callbacks["longest"])
    # the restart's heap, as the bridge's two allocators see it: Python's arenas (1 MiB each)
    # hold what is in use and free in them; the C heap's figures are there too; and the
    # no-user baseline's, which the per-user figures are taken above
    for heap in (restart["heap_kib"], result["baseline_heap_kib"]):
        assert heap["pymalloc_arenas"] * 1024 >= heap["pymalloc_in_use"] + heap["pymalloc_free"]
        assert heap["pymalloc_in_use"] > 0 and heap["malloc_in_use"] > 0
        assert heap["malloc_free"] >= 0
    # the first start registered the contacts' ghosts (12 accounts, 12 ghosts)
    assert first["requests"]["POST /_matrix/client/v3/register"] >= 12
    assert sum(restart["requests"].values()) > 0
    # the DM rooms stored before the restart are where they belong: it changes no space
    assert not [k for k in restart["requests"] if "/state/" in k and k.startswith("PUT")]
    if db == "postgres":  # the statements, counted by PostgreSQL (pg_stat_statements)
        assert first["db_statements"]["INSERT"] >= 12 and restart["db_statements"]["SELECT"] > 0
        # a restart with nothing changed on MSN writes nothing (the start-up's CREATE TABLE IF
        # NOT EXISTS aside)
        writes = {
            k: n for k, n in restart["db_statements"].items() if k not in ("SELECT", "CREATE")
        }
        assert writes == {}, writes
        # each user's stored contact list, spaces and display picture are read for all 12 at
        # once (bridge.start_rows): about 7 statements per user are left (12 when each user
        # read their own)
        assert restart["db_statements"]["SELECT"] <= 9 * 12, restart["db_statements"]
    else:
        assert first["db_statements"] == restart["db_statements"] == {}


def test_hs_traffic_small_run() -> None:
    proc = run_bench(
        "hs_traffic.py", "--users", "5", "--db", "sqlite", "--quiet-window", "1.5",
        "--settle", "120", timeout=280,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "first start" in line and "restart" in line)
    total = next(line for line in lines[header:] if line.strip().startswith("total"))
    first, restart = (int(x) for x in total.split()[-2:])
    assert first > 0 and restart > 0
    assert any("POST /_matrix/client/v3/register" in line for line in lines[header:])
    assert "by category" in proc.stdout
    categories = {}
    for name in ("profile", "presence", "membership", "room creation", "room state", "other"):
        line = next((line for line in lines if line.strip().startswith(name)), None)
        assert line is not None, name
        categories[name] = [int(x) for x in line.split()[-2:]]
    # the spaces' names and children are stored: the restart reads none of them back, and
    # (nothing having changed) writes no state either
    assert categories["room state"][0] > 0 and categories["room state"][1] == 0, categories
    assert "restart:" in proc.stdout and "presence updates for" in proc.stdout
    # each user's Matrix avatar (their MSN display picture) is read at the first login only:
    # the restart announces the stored picture (a change would arrive as a member event)
    avatar = next(line for line in lines if "/profile/{userId}/avatar_url" in line)
    assert [int(x) for x in avatar.split()[-2:]] == [5, 0], avatar


def test_scale_bridge_mode_with_contacts_not_bridged(tmp_path: Path) -> None:
    """``--spread``: 8 users on a server of 40 accounts, every 5th bridged, 4 contacts each: no
    contact is another user, so every user brings 4 ghosts of their own."""
    out = tmp_path / "spread.json"
    run_bench(
        "scale.py", "bridge", "--counts", "8", "--db", "sqlite", "--spread", "5",
        "--contacts", "4", "--groups", "1", "--no-restart", "--idle", "1",
        "--quiet-window", "1.5", "--settle", "120", "--concurrency", "3",
        "--json", str(out), timeout=280,
    )  # fmt: skip
    (result,) = json.loads(out.read_text())
    (first,) = result["starts"]
    assert result["count"] == 8 and first["online"] == 8 and math.isfinite(first["all_online_s"])
    # 8 users x 4 contacts, all different people (with --spread 1 they would be the 8 users'
    # own ghosts): 32 ghosts registered, plus the users' own
    assert first["requests"]["POST /_matrix/client/v3/register"] >= 32, first["requests"]
