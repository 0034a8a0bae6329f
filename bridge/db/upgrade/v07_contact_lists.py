"""v07: which friend requests (people who added the user, not yet allowed or blocked) the
user was told about, so that each is announced once across logins and restarts; the version
and privacy settings of the stored contact list, so that a login downloads it only when it
changed (bridge.list_cache)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Announced friend requests, contact list version")
async def upgrade_v07(conn: Connection) -> None:
    await conn.execute(
        "ALTER TABLE contact ADD COLUMN request_announced BOOLEAN NOT NULL DEFAULT false"
    )
    # the version of the list the contact tables hold, and the settings that came with it
    await conn.execute("""
        CREATE TABLE contact_list_version (
            owner          TEXT PRIMARY KEY REFERENCES "user" (mxid) ON DELETE CASCADE,
            protocol       INTEGER NOT NULL,
            version        TEXT NOT NULL,
            allow_unlisted BOOLEAN,
            reverse_prompt BOOLEAN
        )
        """)
