"""v3: the status, personal message and friendly name the user chose with the bot."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


@upgrade_table.register(description="The user's chosen MSN status, personal message and name")
async def upgrade_v3(conn: Connection) -> None:
    for column in ("chosen_status", "chosen_personal_message", "chosen_friendly_name"):
        await conn.execute(f'ALTER TABLE "user" ADD COLUMN {column} TEXT')
