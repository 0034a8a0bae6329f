"""Database fixtures: every DB test runs on SQLite and on a throwaway PostgreSQL cluster.

Use via ``pytest_plugins = ["tests.support.db_fixtures"]`` (tests/conftest.py) or
``from tests.support.db_fixtures import *  # noqa``.

- ``pg_server`` (session): a :class:`tests.support.pg.PostgresServer`. Missing PostgreSQL binaries make
  it *fail* with instructions, unless ``MSN_TEST_SKIP_POSTGRES=1`` is set (then it skips).
- ``db_url`` (function, parametrised ``sqlite`` / ``postgres``): URL of a new empty database.
- ``db`` (function): a started :class:`mautrix.util.async_db.Database` on ``db_url``, upgraded
  to the latest schema, with :func:`bridge.db.init` applied (and a fresh credential key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import os

from mautrix.util.async_db import Database
import pytest

from bridge import db as bridge_db
from bridge.credentials import CredentialCipher, generate_key
from bridge.db import batch
from tests.support.pg import PostgresServer, PostgresUnavailable

__all__ = ["db", "db_url", "pg_server"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    if os.environ.get("MSN_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("MSN_TEST_SKIP_POSTGRES=1: PostgreSQL tests skipped")
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as e:
        pytest.fail(f"Cannot run the PostgreSQL database tests: {e}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "matrix-msn.db"
        yield f"sqlite:{path}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database.create(
        db_url, upgrade_table=bridge_db.upgrade_table, owner_name="matrix-msn"
    )
    await database.start()
    bridge_db.init(database, CredentialCipher(generate_key()))
    try:
        yield database
    finally:
        await batch.release(database)  # (the pool would wait for it up to KEPT_IDLE_SECONDS)
        await database.stop()
