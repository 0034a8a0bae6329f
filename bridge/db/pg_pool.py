"""PostgreSQL connections go back to asyncpg's pool without its reset query.

When a connection is released, asyncpg sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL;
UNLISTEN *; RESET ALL`` before another caller may use it: one more round trip for every
database call, since mautrix takes a connection from the pool per query (sending it took about
8 % of the bridge's py-spy samples in a restart of 1,000 users, ``bench/scale.py bridge``). The
bridge leaves no session state on its connections (no ``SET``, ``LISTEN``,
advisory lock or open cursor; neither does mautrix), so that query has nothing to undo. A
transaction left open is still rolled back: asyncpg does that before calling the pool's reset.
"""

from __future__ import annotations

from typing import Any

from mautrix.util.async_db import Database, Scheme

__all__ = ["skip_reset_query"]


async def _nothing_to_reset(conn: Any) -> None:
    """The pool's ``reset`` (after asyncpg's own rollback of an open transaction)."""


def skip_reset_query(db: Database) -> None:
    """Before ``db`` starts: its PostgreSQL pool releases connections without the reset query."""
    if db.scheme in (Scheme.POSTGRES, Scheme.COCKROACH):
        db._db_args.setdefault("reset", _nothing_to_reset)
