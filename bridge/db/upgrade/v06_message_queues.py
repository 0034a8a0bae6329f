"""v6: the message queues: ``outgoing`` (Matrix messages waiting for, or in the middle of,
delivery to MSN) and ``incoming`` (MSN messages received and not yet handed to Matrix)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Outgoing and incoming message queues")
async def upgrade_v6(conn: Connection) -> None:
    await conn.execute("""
        CREATE TABLE outgoing (
            room_id    TEXT NOT NULL,
            event_id   TEXT NOT NULL,
            owner      TEXT NOT NULL,
            conv_key   TEXT NOT NULL,
            seq        BIGINT NOT NULL,
            msgtype    TEXT,
            text       TEXT NOT NULL,
            format     TEXT,
            parts_sent INTEGER NOT NULL DEFAULT 0,
            state      TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending')),
            queued_at  BIGINT NOT NULL,
            PRIMARY KEY (room_id, event_id),
            FOREIGN KEY (owner, conv_key) REFERENCES portal (owner, conv_key) ON DELETE CASCADE
        )
        """)
    await conn.execute("CREATE INDEX outgoing_conversation_idx ON outgoing (owner, conv_key, seq)")
    await conn.execute("""
        CREATE TABLE incoming (
            owner    TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            seq      BIGINT NOT NULL,
            kind     TEXT NOT NULL,
            data     TEXT NOT NULL,
            received BIGINT NOT NULL,
            PRIMARY KEY (owner, seq)
        )
        """)
