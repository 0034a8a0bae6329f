"""v10: the names and children of the spaces the bridge made, as last set or read, so that a
start reads none of them back from the homeserver (bridge.spaces)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


# Version 12 (v10 and v11 are reserved for other branches; mautrix fills a gap with no-ops).
@upgrade_table.register(index=9, description="Space names and children stored")
async def upgrade_v10(conn: Connection) -> None:
    await conn.execute("""
        CREATE TABLE space_state (
            room_id TEXT PRIMARY KEY,
            owner   TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            name    TEXT
        )
        """)
    await conn.execute("""
        CREATE TABLE space_child (
            room_id TEXT NOT NULL REFERENCES space_state (room_id) ON DELETE CASCADE,
            child   TEXT NOT NULL,
            owner   TEXT NOT NULL,
            PRIMARY KEY (room_id, child)
        )
        """)
    await conn.execute("CREATE INDEX space_child_owner ON space_child (owner)")
