"""v11: the display picture last made from each user's Matrix avatar, so that a login announces
it in its first CHG without waiting for the homeserver (bridge.own_avatar)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(index=10, description="Display picture made from the Matrix avatar")
async def upgrade_v11(conn: Connection) -> None:
    # a row per user whose avatar was read; mxc NULL = no avatar; picture NULL = no picture
    await conn.execute("""
        CREATE TABLE own_picture (
            mxid    TEXT PRIMARY KEY REFERENCES "user" (mxid) ON DELETE CASCADE,
            mxc     TEXT,
            picture BYTEA
        )
        """)
