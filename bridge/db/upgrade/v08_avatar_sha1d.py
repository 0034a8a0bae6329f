"""v8: the SHA1D of the MSN display picture behind each ghost's avatar, so that an unchanged
picture is neither fetched nor uploaded again, across restarts too."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


# index 7 is version 8: v06 and v07 are reserved for other branches (no-ops until they land)
@upgrade_table.register(index=7, description="SHA1D of the ghosts' display pictures")
async def upgrade_v8(conn: Connection) -> None:
    await conn.execute("ALTER TABLE puppet ADD COLUMN avatar_sha1d TEXT")
