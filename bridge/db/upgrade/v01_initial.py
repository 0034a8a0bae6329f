"""v1: the initial schema."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="Initial schema")
async def upgrade_v1(conn: Connection) -> None:
    await conn.execute("""
        CREATE TABLE "user" (
            mxid            TEXT PRIMARY KEY,
            passport        TEXT,
            password        TEXT,
            ticket          TEXT,
            ticket_expiry   BIGINT,
            protocol        INTEGER,
            management_room TEXT,
            space_room      TEXT
        )
        """)
    await conn.execute('CREATE INDEX user_passport_idx ON "user" (passport)')
    await conn.execute("""
        CREATE TABLE puppet (
            passport         TEXT PRIMARY KEY,
            friendly_name    TEXT,
            name_set         BOOLEAN NOT NULL DEFAULT false,
            personal_message TEXT,
            status           TEXT,
            avatar_url       TEXT,
            is_registered    BOOLEAN NOT NULL DEFAULT false
        )
        """)
    await conn.execute("""
        CREATE TABLE contact (
            owner    TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            passport TEXT NOT NULL,
            guid     TEXT,
            lists    INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (owner, passport)
        )
        """)
    await conn.execute("""
        CREATE TABLE contact_group (
            owner      TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            group_id   TEXT NOT NULL,
            name       TEXT NOT NULL DEFAULT '',
            space_room TEXT,
            PRIMARY KEY (owner, group_id)
        )
        """)
    await conn.execute("""
        CREATE TABLE contact_group_member (
            owner    TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            group_id TEXT NOT NULL,
            passport TEXT NOT NULL,
            PRIMARY KEY (owner, group_id, passport)
        )
        """)
    await conn.execute("""
        CREATE TABLE portal (
            owner     TEXT NOT NULL REFERENCES "user" (mxid) ON DELETE CASCADE,
            conv_key  TEXT NOT NULL,
            room_id   TEXT UNIQUE,
            kind      TEXT NOT NULL DEFAULT 'dm' CHECK (kind IN ('dm', 'group')),
            name      TEXT,
            encrypted BOOLEAN NOT NULL DEFAULT false,
            PRIMARY KEY (owner, conv_key)
        )
        """)
    await conn.execute("""
        CREATE TABLE message (
            room_id   TEXT NOT NULL,
            mxid      TEXT NOT NULL,
            owner     TEXT NOT NULL,
            conv_key  TEXT NOT NULL,
            msn_id    TEXT,
            sender    TEXT,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            status    TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivered', 'failed')),
            timestamp BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (room_id, mxid),
            FOREIGN KEY (owner, conv_key) REFERENCES portal (owner, conv_key) ON DELETE CASCADE
        )
        """)
