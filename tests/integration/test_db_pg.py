"""The PostgreSQL test helper itself (tests/pg.py)."""

from __future__ import annotations

import pytest

from tests.support import pg
from tests.support.pg import PostgresServer, PostgresUnavailable


def test_missing_binaries_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg, "find_bindir", lambda: None)
    with pytest.raises(PostgresUnavailable, match="MSN_TEST_SKIP_POSTGRES=1"):
        PostgresServer()


def test_databases_are_separate(pg_server: PostgresServer) -> None:
    first = pg_server.create_database()
    second = pg_server.create_database()
    assert first != second
    assert first.startswith(f"postgres://postgres@127.0.0.1:{pg_server.port}/")
    name = first.rsplit("/", 1)[1]
    assert pg_server.psql("SELECT current_database()", name).strip() == name
    pg_server.drop_database(name)
    with pytest.raises(PostgresUnavailable, match="does not exist"):
        pg_server.psql("SELECT 1", name)
    pg_server.drop_database(second.rsplit("/", 1)[1])
