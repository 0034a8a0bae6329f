"""v4: double-puppeting access tokens are encrypted like passwords (v2 stored them plain)."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from ..puppet import Puppet
from . import upgrade_table


@upgrade_table.register(description="Encrypt stored double-puppeting access tokens")
async def upgrade_v4(conn: Connection) -> None:
    rows = await conn.fetch(
        "SELECT passport, access_token FROM puppet WHERE access_token IS NOT NULL"
    )
    if not rows:
        return
    # the model's cipher: bridge.db.init sets it before the database starts (and upgrades)
    if Puppet.cipher is None:
        raise RuntimeError(
            "encrypting the stored access tokens needs bridge.credential_key: "
            "call bridge.db.init() before starting the database"
        )
    for row in rows:
        await conn.execute(
            "UPDATE puppet SET access_token=$1 WHERE passport=$2",
            Puppet.cipher.encrypt(row["access_token"]),
            row["passport"],
        )
