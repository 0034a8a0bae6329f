"""v5: the participants of a group portal, so that a conversation with the same people reuses
its room across switchboards, reconnects and restarts."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Participants of group portals")
async def upgrade_v5(conn: Connection) -> None:
    # The other participants' passports, lower case, sorted, separated by spaces (NULL for DMs).
    await conn.execute("ALTER TABLE portal ADD COLUMN participants TEXT")
    await conn.execute("CREATE INDEX portal_participants_idx ON portal (owner, participants)")
