"""Several writes stored together: one transaction, and on SQLite one trip to its thread.

A bridged message changes more than one row (its record, the queue row it leaves, the stored
event it was made from). Written one by one, each statement is a round trip (on SQLite, a hop
to aiosqlite's thread and back, the largest part of the bridge's CPU per message) and a crash
in between leaves half of it. :func:`write_together` runs them as one transaction: all of them
are stored, or none.

On SQLite the writes of several callers that wait at the same time (a burst of messages:
one being recorded while the next is stored) go in one trip as well, each caller's statements
in a savepoint of their own: a caller whose statements fail (e.g. a duplicate key) gets the
error and the others are stored. Every caller returns only once its writes are committed.

On PostgreSQL the statements are sent as one (the parts of a ``WITH``, or the statement alone:
no ``BEGIN`` and ``COMMIT`` around it), one round trip, on a connection kept for these writes
(:class:`_Kept`): taking a connection from asyncpg's pool and giving it back costs about as
much CPU as the write itself (``bench/db_writes.py``). The kept connection goes back to the pool
after any error (the pool rolls back, resets or closes it; the next write takes another), after
:data:`KEPT_IDLE_SECONDS` without a write, and when the bridge stops the database
(:func:`release`).

Statements use the ``$n`` placeholders of the models (:mod:`bridge.db.model`).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Sequence
from functools import lru_cache, partial
from weakref import WeakKeyDictionary
import asyncio
import re
import sqlite3

from mautrix.util.async_db import Database, Scheme

try:
    from aiosqlite import Connection as SQLiteConnection
except ImportError:  # PostgreSQL only
    SQLiteConnection = None  # type: ignore[assignment,misc]

__all__ = ["KEPT_IDLE_SECONDS", "Statement", "is_duplicate", "release", "write_together"]

#: A query with ``$n`` placeholders and its arguments.
Statement = tuple[str, Sequence[Any]]

_PLACEHOLDER = re.compile(r"\$(\d+)")
#: PostgreSQL: seconds without a write after which the kept connection goes back to the pool.
KEPT_IDLE_SECONDS = 2.0


@lru_cache(maxsize=256)
def _sqlite_query(query: str) -> str:
    """``$n`` placeholders as SQLite's ``?n`` (the models' statements are few and fixed)."""
    return _PLACEHOLDER.sub(r"?\1", query)


def _on_sqlite(
    conn: sqlite3.Connection, groups: list[list[Statement]]
) -> list[BaseException | None]:
    """Runs in aiosqlite's thread (the connection is in autocommit mode, as mautrix opens it):
    one transaction, a savepoint per group; the error of each group (None: stored)."""
    errors: list[BaseException | None] = []
    conn.execute("BEGIN")
    try:
        for statements in groups:
            conn.execute("SAVEPOINT together")
            try:
                for query, args in statements:
                    conn.execute(query, tuple(args))
            except sqlite3.Error as e:
                conn.execute("ROLLBACK TO together")
                errors.append(e)
            else:
                errors.append(None)
            conn.execute("RELEASE together")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return errors


class _Group:
    """The SQLite writes waiting for the next trip to aiosqlite's thread (one per database)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.waiting: list[tuple[list[Statement], asyncio.Future[None]]] = []
        self.writer: asyncio.Task[None] | None = None

    async def write(self, statements: list[Statement]) -> None:
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((statements, done))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write_all(), name="db-write-together")
        await done

    async def _write_all(self) -> None:
        await asyncio.sleep(0)  # what the callers ready to run now add comes along
        while self.waiting:
            batch, self.waiting = self.waiting, []
            conn: Any
            try:
                async with self.db.acquire() as conn:
                    raw = conn.wrapped
                    errors = await raw._execute(_on_sqlite, raw._conn, [s for s, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch:
                    done.cancel()
                raise
            except Exception as e:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(e)
                continue
            for (_, done), error in zip(batch, errors, strict=True):
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)


_groups: WeakKeyDictionary[Database, _Group] = WeakKeyDictionary()


class _Kept:
    """PostgreSQL: one of the pool's connections, kept for these writes (one at a time) until
    :data:`KEPT_IDLE_SECONDS` pass without a write, so that nothing that stops the pool waits
    for it longer than that, even without :func:`release`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lock = asyncio.Lock()
        self.conn: Any = None
        self.last_write = 0.0
        self.idle_check: asyncio.TimerHandle | None = None
        self.giving_back: asyncio.Task[None] | None = None  # (referenced while it runs)

    async def execute(self, query: str, args: Sequence[Any]) -> None:
        async with self.lock:
            conn = self.conn
            if conn is not None and _ended(conn):  # (e.g. the server ended it meanwhile)
                await self._give_back()
                conn = None
            if conn is None:
                conn = self.conn = await self.db.pool.acquire()  # type: ignore[attr-defined]
            loop = asyncio.get_running_loop()
            self.last_write = loop.time()
            if self.idle_check is None:
                self.idle_check = loop.call_later(KEPT_IDLE_SECONDS, self._check_idle)
            try:
                await conn.execute(query, *args)
            except BaseException:
                # whatever failed (the statement, the connection, a cancellation in the
                # middle), the pool sorts the connection out (rollback, reset or close)
                await asyncio.shield(self._give_back())
                raise

    def _check_idle(self) -> None:
        self.idle_check = None
        if self.conn is None:
            return
        loop = asyncio.get_running_loop()
        idle = loop.time() - self.last_write
        if idle < KEPT_IDLE_SECONDS or self.lock.locked():
            wait = KEPT_IDLE_SECONDS - idle if idle < KEPT_IDLE_SECONDS else KEPT_IDLE_SECONDS
            self.idle_check = loop.call_later(wait, self._check_idle)
            return
        self.giving_back = asyncio.create_task(self.release(), name="db-give-back")

    async def _give_back(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await self.db.pool.release(conn)  # type: ignore[attr-defined]

    async def release(self) -> None:
        async with self.lock:
            if self.idle_check is not None:
                self.idle_check.cancel()
                self.idle_check = None
            await self._give_back()


_kept: WeakKeyDictionary[Database, _Kept] = WeakKeyDictionary()


def _ended(conn: Any) -> bool:
    """Whether a kept connection can no longer be used: closed, or (what asyncpg does when
    the server ends one) already handed back to the pool, where asking raises."""
    try:
        return bool(conn.is_closed())
    except Exception:
        return True


async def release(db: Database) -> None:
    """Before ``db`` stops: the kept connection goes back to the pool (which waits for it)."""
    kept = _kept.pop(db, None)
    if kept is not None:
        await kept.release()


async def write_together(db: Database, statements: Sequence[Statement]) -> None:
    """Run ``statements`` (each changing rows the others do not) in one transaction (not
    inside another transaction)."""
    if not statements:
        return
    if db.scheme == Scheme.SQLITE and SQLiteConnection is not None:
        group = _groups.get(db)
        if group is None:
            group = _groups[db] = _Group(db)
        await group.write([(_sqlite_query(q), args) for q, args in statements])
        return
    if db.scheme == Scheme.POSTGRES:
        # one statement (a round trip, atomic by itself) instead of more with BEGIN/COMMIT
        one: Statement = _one_statement(statements) if len(statements) > 1 else statements[0]
        kept = _kept.get(db)
        if kept is None:
            kept = _kept[db] = _Kept(db)
        await kept.execute(*one)
        return
    conn: Any
    async with db.acquire() as conn, conn.transaction():
        for query, args in statements:
            await conn.execute(query, *args)


def _shifted(offset: int, match: re.Match[str]) -> str:
    return f"${int(match.group(1)) + offset}"


def _one_statement(statements: Sequence[Statement]) -> tuple[str, list[Any]]:
    """PostgreSQL: the statements as the parts of one ``WITH`` (their placeholders renumbered);
    they see the same snapshot, so they must touch different rows (as every caller does)."""
    parts: list[str] = []
    args: list[Any] = []
    for i, (query, values) in enumerate(statements):
        renumbered = _PLACEHOLDER.sub(partial(_shifted, len(args)), query)
        parts.append(f"w{i} AS ({renumbered})")
        args.extend(values)
    return f"WITH {', '.join(parts)} SELECT 1", args


def is_duplicate(error: BaseException) -> bool:
    """Whether ``error`` is a unique-key violation (SQLite or PostgreSQL): the row exists."""
    if isinstance(error, sqlite3.IntegrityError):
        return "UNIQUE" in str(error) or "PRIMARY KEY" in str(error)
    return type(error).__name__ == "UniqueViolationError"
