"""v12: a ghost's MSN status is no longer stored (bridge.puppet keeps it in memory: every login
reports it again, and writing each change cost a database write per contact per login)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(index=11, description="Ghost status kept in memory only")
async def upgrade_v12(conn: Connection) -> None:
    # SQLite has DROP COLUMN since 3.35 (Python 3.11 ships 3.40 or later)
    await conn.execute("ALTER TABLE puppet DROP COLUMN status")
