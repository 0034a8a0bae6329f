"""Migrations: a fresh install and a stepwise upgrade end with the same schema, on both engines."""

from __future__ import annotations

from dataclasses import fields
import logging

from mautrix.util.async_db import Database, Scheme, UnsupportedDatabaseVersion, UpgradeTable
import pytest

from bridge import db as bridge_db
from bridge.credentials import CredentialCipher, generate_key

pytestmark = pytest.mark.timeout(120)

TABLES = (
    "user",
    "puppet",
    "contact",
    "contact_group",
    "contact_group_member",
    "portal",
    "message",
    "outgoing",
    "incoming",
)


def partial_table(count: int) -> UpgradeTable:
    table = UpgradeTable(
        version_table_name=bridge_db.upgrade_table.version_table_name,
        log=logging.getLogger("mau.db.upgrade.test"),
    )
    table.upgrades = bridge_db.upgrade_table.upgrades[:count]
    return table


async def schema_of(db: Database) -> dict[str, object]:
    """Columns (name, type, nullability, default) per table, and index names."""
    result: dict[str, object] = {}
    if db.scheme == Scheme.SQLITE:
        names = [
            r["name"]
            for r in await db.fetch(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        for name in names:
            cols = await db.fetch(f'PRAGMA table_info("{name}")')
            result[name] = sorted(
                (c["name"], c["type"].upper(), bool(c["notnull"]), c["dflt_value"], c["pk"])
                for c in cols
            )
        result["indexes"] = sorted(
            r["name"]
            for r in await db.fetch(
                "SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
            )
        )
    else:
        rows = await db.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema='public'"
        )
        for r in rows:
            result.setdefault(r["table_name"], []).append(  # type: ignore[union-attr]
                (r["column_name"], r["data_type"], r["is_nullable"], r["column_default"])
            )
        for cols in result.values():
            cols.sort()  # type: ignore[union-attr]
        result["indexes"] = sorted(
            r["indexname"]
            for r in await db.fetch("SELECT indexname FROM pg_indexes WHERE schemaname='public'")
        )
    return result


async def test_latest_schema_has_every_model_column(db: Database) -> None:
    for model in bridge_db.ALL_MODELS:
        model_cols = {f.name for f in fields(model) if f.metadata.get("column", True)}
        model_cols |= getattr(model, "separate_columns", frozenset())
        if db.scheme == Scheme.SQLITE:
            rows = await db.fetch(f'PRAGMA table_info("{model._table}")')
        else:
            rows = await db.fetch(
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema='public' AND table_name=$1",
                model._table,
            )
        assert {r["name"] for r in rows} == model_cols, model.__name__
    version = await db.fetchval("SELECT version FROM version")
    assert version == len(bridge_db.upgrade_table.upgrades)


async def test_stepwise_upgrade_equals_fresh_install(
    db_url: str, request: pytest.FixtureRequest
) -> None:
    # Database A: created by the first release (v1), holding data, then upgraded to the latest.
    old = Database.create(db_url, upgrade_table=partial_table(1))
    await old.start()
    assert await old.fetchval("SELECT version FROM version") == 1
    await old.execute('INSERT INTO "user" (mxid, passport) VALUES ($1, $2)', "@a:hs", "a@x.com")
    await old.execute(
        "INSERT INTO portal (owner, conv_key, room_id, kind, name, encrypted) "
        "VALUES ($1, $2, $3, 'dm', $4, false)",
        "@a:hs",
        "b@x.com",
        "!room:hs",
        "Bob",
    )
    await old.execute(
        "INSERT INTO puppet (passport, friendly_name, name_set) VALUES ($1, $2, true)",
        "b@x.com",
        "Bøb ✨",
    )
    await old.stop()

    upgraded = Database.create(db_url, upgrade_table=bridge_db.upgrade_table)
    await upgraded.start()
    try:
        assert await upgraded.fetchval("SELECT version FROM version") == len(
            bridge_db.upgrade_table.upgrades
        )
        upgraded_schema = await schema_of(upgraded)
        # The data written under v1 is still there and readable through the models.
        bridge_db.init(upgraded, CredentialCipher(generate_key()))
        portal = await bridge_db.Portal.get_by_room("!room:hs")
        assert portal is not None and portal.name == "Bob" and portal.relay_user_id is None
        puppet = await bridge_db.Puppet.get_by_passport("b@x.com")
        assert puppet is not None and puppet.friendly_name == "Bøb ✨" and puppet.name_set is True
        assert puppet.custom_mxid is None
    finally:
        await upgraded.stop()

    # Database B: a fresh install straight to the latest version.
    if db_url.startswith("sqlite:"):
        fresh_url = db_url + ".fresh"
    else:
        fresh_url = request.getfixturevalue("pg_server").create_database()
    fresh = Database.create(fresh_url, upgrade_table=bridge_db.upgrade_table)
    await fresh.start()
    try:
        fresh_schema = await schema_of(fresh)
    finally:
        await fresh.stop()

    assert set(TABLES) <= set(fresh_schema)
    assert upgraded_schema == fresh_schema


async def test_upgrade_encrypts_stored_access_tokens(db_url: str) -> None:
    # v2 stored double-puppeting tokens in plain text; the upgrade encrypts them
    old = Database.create(db_url, upgrade_table=partial_table(3))
    await old.start()
    await old.execute(
        "INSERT INTO puppet (passport, custom_mxid, access_token) VALUES ($1, $2, $3)",
        "b@x.com",
        "@b:hs",
        "syt_plain_token",
    )
    await old.execute("INSERT INTO puppet (passport) VALUES ($1)", "c@x.com")
    await old.stop()
    cipher = CredentialCipher(generate_key())
    upgraded = Database.create(db_url, upgrade_table=bridge_db.upgrade_table)
    bridge_db.init(upgraded, cipher)  # as the bridge does: the key is known before the upgrade
    await upgraded.start()
    try:
        rows = await upgraded.fetch("SELECT passport, access_token FROM puppet ORDER BY 1")
        assert rows[1]["access_token"] is None
        raw = rows[0]["access_token"]
        assert raw != "syt_plain_token" and cipher.decrypt(raw) == "syt_plain_token"
        puppet = await bridge_db.Puppet.get_by_custom_mxid("@b:hs")
        assert puppet is not None and puppet.access_token == "syt_plain_token"
    finally:
        await upgraded.stop()


async def test_newer_database_is_refused(db_url: str) -> None:
    db = Database.create(db_url, upgrade_table=bridge_db.upgrade_table)
    await db.start()
    await db.execute("UPDATE version SET version=$1", len(bridge_db.upgrade_table.upgrades) + 5)
    await db.stop()
    again = Database.create(db_url, upgrade_table=bridge_db.upgrade_table)
    with pytest.raises(UnsupportedDatabaseVersion):
        await again.start()
    await again.stop()
