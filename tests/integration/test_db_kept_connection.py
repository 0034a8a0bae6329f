"""PostgreSQL: the message writes (bridge.db.batch.write_together) use one connection kept from
the pool instead of taking one per write, and that connection never holds anything up: it is
replaced when it fails or the server ends it, given back after an error or a cancellation, and
returned to the pool when the writes pause or the database stops."""

from __future__ import annotations

import asyncio
import time

from mautrix.util.async_db import Database
import pytest

from bridge import db as bridge_db
from bridge.db import batch
from bridge.db.batch import is_duplicate, write_together
from bridge.db.incoming import Incoming
from bridge.db.user import User as DBUser

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

OWNER = "@alice:hs"
#: An incoming row whose data is the server process that wrote it (which connection it used).
_ROW_WITH_PID = (
    "INSERT INTO incoming (owner, seq, kind, data, received) "
    "VALUES ($1, $2, 'TextMessageReceived', pg_backend_pid()::text, 0)"
)


def row_with_pid(seq: int) -> batch.Statement:
    return (_ROW_WITH_PID, (OWNER, seq))


def plain_row(seq: int) -> Incoming:
    return Incoming(owner=OWNER, seq=seq, kind="TextMessageReceived", data="{}")


async def writers(database: Database) -> dict[int, int]:
    """The server process that wrote each row, by the row's number."""
    rows = await database.fetch("SELECT seq, data FROM incoming WHERE data <> '{}'")
    return {r["seq"]: int(r["data"]) for r in rows}


async def test_writes_share_one_kept_connection(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    idle_before = db.pool.get_idle_size()
    for seq in range(1, 6):
        await write_together(db, [row_with_pid(seq)])
    await write_together(db, [row_with_pid(6), row_with_pid(7)])
    assert len(set((await writers(db)).values())) == 1
    # it stays out of the pool between writes, and goes back on release
    assert db.pool.get_idle_size() == idle_before - 1
    await batch.release(db)
    assert db.pool.get_idle_size() == idle_before


async def test_a_failed_write_does_not_stop_the_next_ones(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    await write_together(db, [plain_row(1).insert_statement()])
    with pytest.raises(Exception) as failed:
        await write_together(db, [plain_row(1).insert_statement()])
    assert is_duplicate(failed.value)
    await write_together(db, [row_with_pid(2)])
    assert list(await writers(db)) == [2]


async def test_a_connection_the_server_ended_is_replaced(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    await write_together(db, [row_with_pid(1)])
    (first_pid,) = (await writers(db)).values()
    assert await db.fetchval("SELECT pg_terminate_backend($1)", first_pid)
    # the client sees the end of the connection once the loop has read it
    deadline = time.monotonic() + 10
    kept = batch._kept[db]
    while not batch._ended(kept.conn):
        assert time.monotonic() < deadline, "the ended connection was never noticed"
        await asyncio.sleep(0.01)
    await write_together(db, [row_with_pid(2)])  # no error: a new connection
    pids = await writers(db)
    assert pids[2] != first_pid


async def test_a_cancelled_write_gives_the_connection_back(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    idle_before = db.pool.get_idle_size()
    slow = asyncio.create_task(write_together(db, [("SELECT pg_sleep(30)", ())]))
    await asyncio.sleep(0.2)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert batch._kept[db].conn is None
    await write_together(db, [row_with_pid(1)])  # the next write gets a working connection
    assert list(await writers(db)) == [1]
    await batch.release(db)
    assert db.pool.get_idle_size() == idle_before


async def test_the_kept_connection_goes_back_when_writes_pause(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "KEPT_IDLE_SECONDS", 0.2)
    await DBUser(mxid=OWNER).insert()
    idle_before = db.pool.get_idle_size()
    await write_together(db, [row_with_pid(1)])
    assert db.pool.get_idle_size() == idle_before - 1
    # writes that keep coming keep it
    for seq in range(2, 6):
        await asyncio.sleep(0.1)
        await write_together(db, [row_with_pid(seq)])
        assert db.pool.get_idle_size() == idle_before - 1
    deadline = time.monotonic() + 5
    while db.pool.get_idle_size() != idle_before:
        assert time.monotonic() < deadline, "the kept connection was not given back"
        await asyncio.sleep(0.05)
    assert len(set((await writers(db)).values())) == 1


async def test_the_pool_closes_without_an_explicit_release(db_url: str) -> None:
    """Whatever stops the database without batch.release waits at most KEPT_IDLE_SECONDS."""
    database = Database.create(db_url, upgrade_table=bridge_db.upgrade_table)
    await database.start()
    await database.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
    await write_together(database, [("INSERT INTO marks VALUES ($1)", (1,))])
    started = time.monotonic()
    await asyncio.wait_for(database.stop(), timeout=batch.KEPT_IDLE_SECONDS + 10)
    assert time.monotonic() - started < batch.KEPT_IDLE_SECONDS + 5
