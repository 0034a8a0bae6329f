"""Several writes stored together: one transaction, and on SQLite one trip to its thread.

A bridged message changes more than one row (its record, the queue row it leaves, the stored
event it was made from). Written one by one, each statement is a round trip (on SQLite, a hop
to aiosqlite's thread and back, the largest part of the bridge's CPU per message) and a crash
in between leaves half of it. :func:`write_together` runs them as one transaction: all of them
are stored, or none.

Statements use the ``$n`` placeholders of the models (:mod:`bridge.db.model`).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence
from functools import lru_cache
import re
import sqlite3

from mautrix.util.async_db import Database

try:
    from aiosqlite import Connection as SQLiteConnection
except ImportError:  # PostgreSQL only
    SQLiteConnection = None  # type: ignore[assignment,misc]

__all__ = ["Statement", "is_duplicate", "write_together"]

#: A query with ``$n`` placeholders and its arguments.
Statement = tuple[str, Sequence[Any]]

_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=256)
def _sqlite_query(query: str) -> str:
    """``$n`` placeholders as SQLite's ``?n`` (the models' statements are few and fixed)."""
    return _PLACEHOLDER.sub(r"?\1", query)


def _on_sqlite(conn: sqlite3.Connection, statements: list[Statement]) -> None:
    """Runs in aiosqlite's thread (the connection is in autocommit mode, as mautrix opens it)."""
    conn.execute("BEGIN")
    try:
        for query, args in statements:
            conn.execute(query, tuple(args))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


async def write_together(db: Database, statements: Sequence[Statement]) -> None:
    """Run ``statements`` in one transaction, in order (not inside another transaction)."""
    if not statements:
        return
    conn: Any
    async with db.acquire() as conn:
        raw = conn.wrapped
        if SQLiteConnection is not None and isinstance(raw, SQLiteConnection):
            converted = [(_sqlite_query(q), args) for q, args in statements]
            await raw._execute(_on_sqlite, raw._conn, converted)
            return
        async with conn.transaction():
            for query, args in statements:
                await conn.execute(query, *args)


def is_duplicate(error: BaseException) -> bool:
    """Whether ``error`` is a unique-key violation (SQLite or PostgreSQL): the row exists."""
    if isinstance(error, sqlite3.IntegrityError):
        return "UNIQUE" in str(error) or "PRIMARY KEY" in str(error)
    return type(error).__name__ == "UniqueViolationError"
