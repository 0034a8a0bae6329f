"""v9: per user, the machine GUID that names the bridge's MSNP16+ endpoint and the MSNP13+
address-book cache, so every login is the same endpoint and fetches only the changes."""

from __future__ import annotations

from mautrix.util.async_db import Connection

from . import upgrade_table


# Version 9 (v6-v8 are reserved for other branches; mautrix fills the gap with no-ops here).
@upgrade_table.register(index=8, description="MSNP13+ machine GUID and address-book cache")
async def upgrade_v9(conn: Connection) -> None:
    # machine_guid: "{XXXXXXXX-...}", made at the first MSNP16+ login and kept across logins.
    await conn.execute('ALTER TABLE "user" ADD COLUMN machine_guid TEXT')
    # ab_cache: JSON of the last ABFindAll/FindMembership (bridge.msnp.ab_store); NULL = none.
    await conn.execute('ALTER TABLE "user" ADD COLUMN ab_cache TEXT')
