"""v2: double-puppeting columns, portal relay user and a lookup index for MSN message ids."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Double puppeting, relay user, message msn_id index")
async def upgrade_v2(conn: Connection) -> None:
    for column in ("custom_mxid", "access_token", "next_batch", "base_url"):
        await conn.execute(f"ALTER TABLE puppet ADD COLUMN {column} TEXT")
    await conn.execute("CREATE INDEX puppet_custom_mxid_idx ON puppet (custom_mxid)")
    await conn.execute("ALTER TABLE portal ADD COLUMN relay_user_id TEXT")
    await conn.execute("CREATE INDEX message_msn_id_idx ON message (owner, conv_key, msn_id)")
