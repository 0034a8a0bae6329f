"""PostgreSQL: connections go back to the pool without asyncpg's reset query (a round trip per
database call), and a transaction left open is still rolled back (bridge.db.pg_pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import asyncio

from mautrix.util.async_db import Database
import pytest

from bridge import db as bridge_db
from bridge.db.pg_pool import skip_reset_query


@asynccontextmanager
async def started(url: str, *, skip: bool) -> AsyncIterator[Database]:
    database = Database.create(
        url, upgrade_table=bridge_db.upgrade_table, db_args={"min_size": 1, "max_size": 1}
    )
    if skip:
        skip_reset_query(database)
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


async def _queries_of_one_use(database: Database) -> list[str]:
    """Every query the pool's one connection was sent during a use and its release."""
    sent: list[str] = []
    async with database.pool.acquire() as conn:
        conn.add_query_logger(lambda record: sent.append(record.query))
        await conn.fetchval("SELECT 1")
    return sent


#: a new empty PostgreSQL database per test (tests.support.db_fixtures' db_url, PostgreSQL only)
pytestmark = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)


async def test_a_released_connection_is_not_sent_the_reset_query(db_url: str) -> None:
    async with started(db_url, skip=False) as database:
        assert any("RESET ALL" in q for q in await _queries_of_one_use(database))  # asyncpg's
    async with started(db_url, skip=True) as database:
        assert await _queries_of_one_use(database) == ["SELECT 1"]


async def test_a_transaction_left_open_is_still_rolled_back(db_url: str) -> None:
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    try:
        async with started(db_url, skip=True) as database:
            await database.execute("CREATE TABLE kept (n INTEGER)")
            async with database.pool.acquire() as conn:
                await conn.execute("BEGIN")
                await conn.execute("INSERT INTO kept VALUES (1)")
            # the same (only) connection again: not in a transaction, the row gone
            assert await database.fetchval("SELECT COUNT(*) FROM kept") == 0
            async with database.pool.acquire() as conn:
                assert not conn.is_in_transaction()
    finally:
        loop.set_exception_handler(None)
    assert any("active transaction" in message for message in reported)
