"""v10: which friend requests (people who added the user, not yet allowed or blocked) the
user was told about, so that each is announced once across logins and restarts."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Announced friend requests")
async def upgrade_v10(conn: Connection) -> None:
    await conn.execute(
        "ALTER TABLE contact ADD COLUMN request_announced BOOLEAN NOT NULL DEFAULT false"
    )
