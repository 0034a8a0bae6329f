"""End-to-bridge encryption: mautrix's encryption manager, answered from this bridge's tables.

mautrix 0.21's :class:`~mautrix.bridge.e2ee.EncryptionManager` does the Olm/Megolm work (keys,
sessions, encrypting and decrypting) but asks a crypto *state store* three questions whose SQL
assumes the mautrix portal table (a ``portal`` with ``mxid`` and ``encrypted``). Ours keys
portals by ``(owner, conv_key)`` with the room in ``room_id``, so :class:`CryptoStateStore`
answers them from our ``portal`` table and mautrix's room-state cache (``mx_room_state``,
``mx_user_profile``), and :func:`install` puts it in place of mautrix's. No migration is needed.
:func:`encrypt_bot_messages` encrypts what the bot itself says in encrypted rooms.

Media in encrypted rooms are encrypted attachments (``file`` instead of ``url``), made and read
by :mod:`bridge.portal.encrypted_media`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from mautrix.crypto import StateStore
from mautrix.types import (
    EncryptionAlgorithm,
    EventContent,
    EventID,
    EventType,
    RoomEncryptionStateEventContent,
    RoomID,
    UserID,
)
from mautrix.util.async_db import Database

if TYPE_CHECKING:
    from mautrix.appservice import IntentAPI
    from mautrix.bridge.e2ee import EncryptionManager

__all__ = ["CryptoStateStore", "encrypt_bot_messages", "install"]


#: The bridge's portal lookup; a portal has ``encrypted`` and ``get_encryption_state_event_json``.
GetPortal = Callable[[RoomID], Awaitable[Any]]

#: Memberships that make a user receive the room's Megolm keys.
_MEMBERS = "('join', 'invite')"


class CryptoStateStore(StateStore):
    """Which rooms are encrypted, with which settings, and which encrypted rooms a user is in.

    A portal room is encrypted when its row says so (the bridge made it encrypted, or saw the
    ``m.room.encryption`` event); any other room (the chat with the bot) when mautrix's state
    cache saw its encryption event.
    """

    def __init__(self, db: Database, get_portal: GetPortal) -> None:
        self.db = db
        self.get_portal = get_portal

    async def is_encrypted(self, room_id: RoomID) -> bool:
        portal = await self.get_portal(room_id)
        if portal is not None and portal.encrypted:
            return True
        cached = await self.db.fetchval(
            "SELECT is_encrypted FROM mx_room_state WHERE room_id=$1", room_id
        )
        return bool(cached)

    async def get_encryption_info(self, room_id: RoomID) -> RoomEncryptionStateEventContent | None:
        stored = await self.db.fetchval(
            "SELECT encryption FROM mx_room_state WHERE room_id=$1", room_id
        )
        if stored:
            info = RoomEncryptionStateEventContent.parse_json(stored)
            if info.algorithm == EncryptionAlgorithm.MEGOLM_V1:
                return info
        # A room the bridge created encrypted: its encryption event is the portal's own.
        portal = await self.get_portal(room_id)
        if portal is not None and portal.encrypted:
            return RoomEncryptionStateEventContent.deserialize(
                portal.get_encryption_state_event_json()
            )
        return None

    async def find_shared_rooms(self, user_id: UserID) -> list[RoomID]:
        """The encrypted rooms ``user_id`` is in (joined or invited) with the bridge: when
        their devices change, the bridge's Megolm sessions of these rooms are replaced."""
        rows = await self.db.fetch(
            "SELECT member.room_id FROM mx_user_profile AS member "
            "JOIN portal ON portal.room_id = member.room_id "
            f"WHERE member.user_id=$1 AND member.membership IN {_MEMBERS} "
            "AND portal.encrypted = true "
            "UNION "
            "SELECT member.room_id FROM mx_user_profile AS member "
            "JOIN mx_room_state AS state ON state.room_id = member.room_id "
            f"WHERE member.user_id=$1 AND member.membership IN {_MEMBERS} "
            "AND state.is_encrypted = true",
            user_id,
        )
        return [RoomID(row["room_id"]) for row in rows]


def install(e2ee: EncryptionManager, db: Database, get_portal: GetPortal) -> CryptoStateStore:
    """Make ``e2ee`` (and its Olm machine) use a :class:`CryptoStateStore` on ``db``."""
    store = CryptoStateStore(db, get_portal)
    e2ee.state_store = store
    e2ee.crypto.state_store = store
    return store


def encrypt_bot_messages(intent: IntentAPI, e2ee: EncryptionManager) -> None:
    """The bot's messages in an encrypted room go encrypted: mautrix-python encrypts only what
    a portal sends, so without this its replies in an encrypted chat with the bot (the results
    of ``login``, ``list``, …) would reach the homeserver in clear. Message status events stay
    in clear, as clients read them so."""
    send = intent.send_message_event

    async def send_message_event(
        room_id: RoomID, event_type: EventType, content: EventContent, **kwargs: Any
    ) -> EventID:
        if event_type == EventType.ROOM_MESSAGE and await e2ee.state_store.is_encrypted(room_id):
            clear: Any = content  # an event content is Serializable; mautrix's union says less
            kind, encrypted = await e2ee.encrypt(room_id, event_type, clear)
            sealed: Any = encrypted
            return await send(room_id, kind, sealed, **kwargs)
        return await send(room_id, event_type, content, **kwargs)

    intent.send_message_event = send_message_event  # type: ignore[method-assign]
