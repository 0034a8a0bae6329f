"""The crypto state store of end-to-bridge encryption answers from this bridge's tables: which
rooms are encrypted, with which settings, and which encrypted rooms a user shares with the
bridge (mautrix's own store queries a ``portal.mxid`` column this bridge does not have)."""

from __future__ import annotations

from typing import Any

from mautrix.bridge.crypto_state_store import PgCryptoStateStore
from mautrix.types import (
    EncryptionAlgorithm,
    Membership,
    RoomEncryptionStateEventContent,
    RoomID,
    UserID,
)
from mautrix.util.async_db import Database
import pytest

from bridge.db.portal import Portal as DBPortal
from bridge.db.user import User as DBUser
from bridge.encryption import CryptoStateStore
from bridge.state_store import StateStore

OWNER = UserID("@alice:hs.test")
OTHER = UserID("@carol:hs.test")
ENCRYPTED_DM = RoomID("!dm:hs.test")
PLAIN_GROUP = RoomID("!group:hs.test")
BOT_CHAT = RoomID("!bot:hs.test")  # not a portal, encrypted by the user's client
LEFT_ROOM = RoomID("!left:hs.test")


class _Portal:
    """What the store reads of a portal: ``encrypted`` and the encryption event it sends."""

    def __init__(self, row: DBPortal) -> None:
        self.encrypted = row.encrypted

    def get_encryption_state_event_json(self) -> dict[str, Any]:
        return {"algorithm": "m.megolm.v1.aes-sha2", "rotation_period_msgs": 42}


async def _portal_lookup(room_id: RoomID) -> _Portal | None:
    row = await DBPortal.get_by_room(room_id)
    return _Portal(row) if row is not None else None


async def _nobody(user_id: UserID, create: bool = False) -> None:
    return None


@pytest.fixture
async def state(db: Database) -> StateStore:
    """Portals and the Matrix state cache as the bridge keeps them."""
    store = StateStore(db, _nobody, _nobody)
    await store.upgrade_table.upgrade(db)
    await DBUser(mxid=OWNER).insert()
    for key, room, kind, encrypted in (
        ("bob@example.com", ENCRYPTED_DM, "dm", True),
        ("group:00aa", PLAIN_GROUP, "group", False),
        ("dave@example.com", LEFT_ROOM, "dm", True),
    ):
        await DBPortal(
            owner=OWNER, conv_key=key, room_id=room, kind=kind, encrypted=encrypted
        ).insert()
    await store.set_encryption_info(
        BOT_CHAT, RoomEncryptionStateEventContent(EncryptionAlgorithm.MEGOLM_V1)
    )
    for room in (ENCRYPTED_DM, PLAIN_GROUP, BOT_CHAT):
        await store.set_membership(room, OWNER, Membership.JOIN)
    await store.set_membership(LEFT_ROOM, OWNER, Membership.LEAVE)
    await store.set_membership(ENCRYPTED_DM, OTHER, Membership.INVITE)
    return store


async def test_encrypted_rooms_are_the_encrypted_portals_and_other_encrypted_rooms(
    db: Database, state: StateStore
) -> None:
    store = CryptoStateStore(db, _portal_lookup)
    assert await store.is_encrypted(ENCRYPTED_DM)
    assert await store.is_encrypted(BOT_CHAT)
    assert not await store.is_encrypted(PLAIN_GROUP)
    assert not await store.is_encrypted(RoomID("!unknown:hs.test"))


async def test_shared_rooms_are_the_encrypted_ones_the_user_is_in(
    db: Database, state: StateStore
) -> None:
    store = CryptoStateStore(db, _portal_lookup)
    assert sorted(await store.find_shared_rooms(OWNER)) == sorted([ENCRYPTED_DM, BOT_CHAT])
    assert await store.find_shared_rooms(OTHER) == [ENCRYPTED_DM]  # invited counts
    assert await store.find_shared_rooms(UserID("@nobody:hs.test")) == []


async def test_mautrix_store_cannot_read_this_bridge_portal_table(
    db: Database, state: StateStore
) -> None:
    """Why the bridge has its own store: mautrix's SQL fails on our schema."""
    with pytest.raises(Exception, match=r"(?i)mxid|ambiguous|column"):
        await PgCryptoStateStore(db, _portal_lookup).find_shared_rooms(OWNER)


async def test_encryption_settings_from_the_state_cache_else_from_the_portal(
    db: Database, state: StateStore
) -> None:
    store = CryptoStateStore(db, _portal_lookup)
    cached = await store.get_encryption_info(BOT_CHAT)
    assert cached is not None and cached.algorithm == EncryptionAlgorithm.MEGOLM_V1
    # a portal whose encryption event the cache never saw: the portal's own settings
    made = await store.get_encryption_info(ENCRYPTED_DM)
    assert made is not None and made.rotation_period_msgs == 42
    assert await store.get_encryption_info(PLAIN_GROUP) is None
