"""Portals: one Matrix room per MSN conversation of one bridge user.

A portal is keyed by ``(owner, conv_key)``: ``conv_key`` is the contact's passport for a one-to-one
chat, or ``"group:<hex>"`` for a multi-party switchboard. This module holds the room lifecycle;
the two message directions live in :mod:`.from_msn` and :mod:`.from_matrix`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
import asyncio

from mautrix.appservice import IntentAPI
from mautrix.bridge import BasePortal, RejectMatrixInvite
from mautrix.errors import MatrixError
from mautrix.types import (
    EventType,
    Membership,
    RoomID,
    UserID,
)
from mautrix.util.async_getter_lock import async_getter_lock

from bridge.db.message import Message as DBMessage
from bridge.db.portal import Portal as DBPortal
from bridge.msnp.client import GROUP_PREFIX
from bridge.puppet import Puppet

from .from_matrix import MatrixToMSN
from .from_msn import MSNToMatrix

if TYPE_CHECKING:
    from bridge.app import MSNBridge
    from bridge.user import User

__all__ = ["Portal"]

BRIDGE_PROTOCOL = {
    "id": "msn",
    "displayname": "MSN Messenger",
    "external_url": "https://en.wikipedia.org/wiki/MSN_Messenger",
}


class Portal(MSNToMatrix, MatrixToMSN, BasePortal):
    bridge: ClassVar[MSNBridge]
    config: ClassVar[Any]

    by_mxid: ClassVar[dict[RoomID, Portal]] = {}
    by_key: ClassVar[dict[tuple[str, str], Portal]] = {}

    row: DBPortal
    _dm_puppet: Puppet | None

    def __init__(self, row: DBPortal) -> None:
        super().__init__()
        self.row = row
        self.log = self.log.getChild(f"{row.owner}/{row.conv_key}")
        self._create_lock = asyncio.Lock()
        self._forgotten = False  # the row was deleted (see delete())
        self._send_lock = asyncio.Lock()
        self._dm_puppet = None
        self._relay_user = None
        self._typing_task: asyncio.Task | None = None
        self._typing_deadline = 0.0
        self._matrix_typing: set[UserID] = set()

    # region properties over the DB row

    @property
    def owner(self) -> UserID:
        return UserID(self.row.owner)

    @property
    def conv_key(self) -> str:
        return self.row.conv_key

    @property
    def mxid(self) -> RoomID | None:  # type: ignore[override]
        return RoomID(self.row.room_id) if self.row.room_id else None

    @mxid.setter
    def mxid(self, value: RoomID | None) -> None:
        if self.row.room_id and self.row.room_id != value:
            self.by_mxid.pop(RoomID(self.row.room_id), None)
        self.row.room_id = value
        if value:
            self.by_mxid[value] = self

    @property
    def name(self) -> str | None:  # type: ignore[override]
        return self.row.name

    @name.setter
    def name(self, value: str | None) -> None:
        self.row.name = value

    @property
    def encrypted(self) -> bool:  # type: ignore[override]
        return bool(self.row.encrypted)

    @encrypted.setter
    def encrypted(self, value: bool) -> None:
        self.row.encrypted = value

    @property
    def relay_user_id(self) -> UserID | None:  # type: ignore[override]
        return UserID(self.row.relay_user_id) if self.row.relay_user_id else None

    @relay_user_id.setter
    def relay_user_id(self, value: UserID | None) -> None:
        self.row.relay_user_id = value

    @property
    def is_direct(self) -> bool:  # type: ignore[override]
        return self.row.kind == "dm"

    @staticmethod
    def is_group_key(conv_key: str) -> bool:
        return conv_key.startswith(GROUP_PREFIX)

    @property
    def main_intent(self) -> IntentAPI:  # type: ignore[override]
        if self.is_direct and self._dm_puppet is not None:
            return self._dm_puppet.default_mxid_intent
        return self.az.intent

    # endregion
    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: MSNBridge) -> None:
        cls.bridge = bridge
        cls.config = bridge.config
        cls.az = bridge.az
        cls.loop = bridge.loop
        cls.matrix = bridge.matrix

    async def _postinit(self) -> None:
        if self.is_direct:
            self._dm_puppet = await Puppet.get_by_passport(self.conv_key)

    def _add_to_cache(self) -> None:
        self.by_key[(self.row.owner, self.conv_key)] = self
        if self.mxid:
            self.by_mxid[self.mxid] = self

    @classmethod
    async def _from_row(cls, row: DBPortal) -> Portal:
        key = (row.owner, row.conv_key)
        if key in cls.by_key:
            return cls.by_key[key]
        portal = cls(row)
        await portal._postinit()
        portal._add_to_cache()
        return portal

    @classmethod
    @async_getter_lock
    async def get_by_mxid(cls, mxid: RoomID) -> Portal | None:
        try:
            return cls.by_mxid[mxid]
        except KeyError:
            pass
        row = await DBPortal.get_by_room(mxid)
        if row is None:
            return None
        return await cls._from_row(row)

    @classmethod
    @async_getter_lock
    async def get_by_key(cls, owner: str, conv_key: str, *, create: bool = True) -> Portal | None:
        if not conv_key:
            return None
        if not cls.is_group_key(conv_key):
            conv_key = conv_key.lower()
        try:
            return cls.by_key[(owner, conv_key)]
        except KeyError:
            pass
        row = await DBPortal.get_by_key(owner, conv_key)
        if row is None:
            if not create:
                return None
            kind = "group" if cls.is_group_key(conv_key) else "dm"
            row = DBPortal(owner=owner, conv_key=conv_key, kind=kind)
            await row.insert()
        return await cls._from_row(row)

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[Portal]:
        return [await cls._from_row(row) for row in await DBPortal.all_for_owner(owner)]

    @classmethod
    async def all_with_room(cls) -> list[Portal]:
        return [await cls._from_row(row) for row in await DBPortal.all_with_room()]

    async def get_owner(self) -> User:
        from bridge.user import User

        user = await User.get_by_mxid(self.owner)
        assert user is not None
        return user

    # endregion
    # region mautrix BasePortal API

    async def save(self) -> None:
        await self.row.update()

    async def delete(self) -> None:
        if self.mxid:
            self.by_mxid.pop(self.mxid, None)
            await DBMessage.delete_all_in_room(self.mxid)
        if self.by_key.get((self.row.owner, self.conv_key)) is self:
            del self.by_key[(self.row.owner, self.conv_key)]
        self._forgotten = True
        await self.row.delete()

    async def get_dm_puppet(self) -> Puppet | None:
        return self._dm_puppet if self.is_direct else None

    @property
    def bridge_info_state_key(self) -> str:
        return f"net.maunium.msn://msn/{self.row.owner}/{self.conv_key}"

    @property
    def bridge_info(self) -> dict[str, Any]:
        return {
            "bridgebot": self.az.bot_mxid,
            "creator": self.main_intent.mxid,
            "protocol": BRIDGE_PROTOCOL,
            "channel": {"id": self.conv_key, "displayname": self.name},
        }

    async def update_bridge_info(self) -> None:
        if not self.mxid:
            return
        for evt_type in (
            EventType("m.bridge", EventType.Class.STATE),
            EventType("uk.half-shot.bridge", EventType.Class.STATE),
        ):
            try:
                await self.main_intent.send_state_event(
                    self.mxid, evt_type, self.bridge_info, state_key=self.bridge_info_state_key
                )
            except Exception:
                self.log.debug("Failed to update bridge info", exc_info=True)

    async def handle_matrix_invite(self, invited_by: Any, puppet: Any) -> None:
        if self.is_direct:
            raise RejectMatrixInvite("You can't invite additional users to private chats.")
        raise RejectMatrixInvite("Inviting MSN contacts to group chats is not supported yet.")

    async def prepare_remote_dm(self, room_id: RoomID, invited_by: Any, puppet: Any) -> str:
        name = puppet.display_text if isinstance(puppet, Puppet) else str(puppet.mxid)
        return f"Portal to a private chat with {name} created. Messages you send here go to MSN."

    async def postprocess_matrix_dm(self, user: Any, puppet: Any) -> None:
        await self.update_bridge_info()
        await self.add_to_space(user)

    async def update_info_from_puppet(self, puppet: Any = None) -> None:
        puppet = puppet or self._dm_puppet
        if not self.mxid or not isinstance(puppet, Puppet):
            return
        if not self.encrypted and not self.config["bridge.private_chat_portal_meta"]:
            return
        await self._set_room_name(puppet.format_displayname())

    async def _set_room_name(self, name: str) -> None:
        if self.row.name == name:
            return
        self.row.name = name
        await self.save()
        if self.mxid:
            try:
                await self.main_intent.set_room_name(self.mxid, name)
            except Exception:
                self.log.warning("Failed to set room name", exc_info=True)

    # endregion
    # region room creation

    def _initial_state(self) -> list[dict[str, Any]]:
        state: list[dict[str, Any]] = [
            {
                "type": evt_type,
                "state_key": self.bridge_info_state_key,
                "content": self.bridge_info,
            }
            for evt_type in ("m.bridge", "uk.half-shot.bridge")
        ]
        if self.matrix.e2ee and self.config["bridge.encryption.default"]:
            state.append(
                {
                    "type": str(EventType.ROOM_ENCRYPTION),
                    "content": self.get_encryption_state_event_json(),
                }
            )
        return state

    async def ensure_room(self, user: User) -> RoomID | None:
        """Create the Matrix room if there is none yet; make sure ``user`` is in it."""
        usable = self.mxid and not self._create_lock.locked() and not self._forgotten
        if usable and await self.ensure_user_invited(user):
            return self.mxid
        async with self._create_lock:
            if self._forgotten:
                # The room was given up (the owner left) while this object was in use.
                current = self.by_key.get((self.row.owner, self.conv_key))
                if current is not None and current is not self:
                    return await current.ensure_room(user)
                self._forgotten = False
                self.row.room_id = None
                await self.row.insert()
                self._add_to_cache()
            elif self.mxid and self.is_direct and not await self.ensure_user_invited(user):
                # The ghost cannot invite the user any more (it left): start a new room.
                self.log.info(
                    "Cannot invite %s to %s any more, opening a new room", user.mxid, self.mxid
                )
                await self._forget_room_locked("The MSN user left the room")
                self._forgotten = False
                self.row.room_id = None
                await self.row.insert()
                self._add_to_cache()
            if self.mxid:
                return self.mxid
            try:
                return await self._create_matrix_room(user)
            except Exception:
                self.log.exception("Failed to create portal room")
                return None

    async def _create_matrix_room(self, user: User) -> RoomID:
        encrypt = bool(self.matrix.e2ee and self.config["bridge.encryption.default"])
        invitees = [user.mxid]
        intent = self.main_intent
        name: str | None = None
        if self.is_direct:
            puppet = self._dm_puppet or await Puppet.get_by_passport(self.conv_key)
            assert puppet is not None
            self._dm_puppet = puppet
            intent = puppet.default_mxid_intent
            if encrypt or self.config["bridge.private_chat_portal_meta"]:
                name = puppet.format_displayname()
            if encrypt:
                invitees.append(self.az.bot_mxid)
            await intent.ensure_registered()
        else:
            participants = await self._group_participants(user)
            name = await self._group_name(participants)
        room_id = await intent.create_room(
            name=name,
            is_direct=self.is_direct,
            invitees=invitees,
            initial_state=self._initial_state(),
            creation_content=(
                {} if self.config["bridge.federate_rooms"] else {"m.federate": False}
            ),
        )
        self.row.room_id = room_id
        self.row.name = name
        self.row.encrypted = encrypt
        await self.save()
        self.by_mxid[room_id] = self
        self.log.info("Created room %s", room_id)
        if encrypt and self.is_direct:
            try:
                await self.az.intent.ensure_joined(room_id)
            except Exception:
                self.log.warning("Bridge bot failed to join the encrypted DM", exc_info=True)
        if not self.is_direct:
            for passport in await self._group_participants(user):
                await self.ensure_ghost_joined(passport)
        if self.is_direct:
            try:
                await user.update_direct_chats({intent.mxid: [room_id]})
            except Exception:
                self.log.debug("Failed to update m.direct", exc_info=True)
        await self.add_to_space(user)
        return room_id

    async def _group_participants(self, user: User) -> list[str]:
        if user.client is None:
            return []
        try:
            return [p for p in user.client.participants(self.conv_key) if p != user.passport]
        except Exception:
            return []

    async def _group_name(self, participants: list[str]) -> str:
        names = []
        for passport in participants[:4]:
            puppet = await Puppet.get_by_passport(passport)
            names.append(puppet.display_text if puppet else passport)
        if not names:
            return "MSN group chat"
        more = f" and {len(participants) - 4} more" if len(participants) > 4 else ""
        return f"MSN group chat with {', '.join(names)}{more}"

    async def ensure_user_invited(self, user: User) -> bool:
        """Invite ``user`` unless they are in the room already; False if that failed."""
        if not self.mxid:
            return False
        try:
            member = await self.az.state_store.get_member(self.mxid, user.mxid)
            if member and member.membership in (Membership.JOIN, Membership.INVITE):
                return True
            await self.main_intent.invite_user(self.mxid, user.mxid, check_cache=False)
        except MatrixError:
            self.log.debug("Failed to invite %s", user.mxid, exc_info=True)
            return False
        return True

    async def ensure_ghost_joined(self, passport: str) -> Puppet | None:
        puppet = await Puppet.get_by_passport(passport)
        if puppet is None or not self.mxid:
            return puppet
        try:
            await puppet.default_mxid_intent.ensure_joined(self.mxid, bot=self.az.intent)
        except Exception:
            self.log.warning("Ghost of %s failed to join", passport, exc_info=True)
        return puppet

    async def add_to_space(self, user: Any) -> None:
        add = getattr(user, "add_portal_to_space", None)
        if callable(add) and self.mxid:
            try:
                await add(self)
            except Exception:
                self.log.debug("Failed to add portal to space", exc_info=True)

    async def cleanup_and_forget(self, message: str = "Portal closed") -> None:
        """Make the ghosts leave and forget the room (the next message opens a new one)."""
        async with self._create_lock:
            if not self._forgotten:
                await self._forget_room_locked(message)

    async def _forget_room_locked(self, message: str) -> None:
        if self.mxid:
            try:
                await self.cleanup_room(self.main_intent, self.mxid, message, puppets_only=True)
            except Exception:
                self.log.debug("Failed to clean up room", exc_info=True)
        await self.delete()

    # endregion

    def __repr__(self) -> str:
        return f"Portal({self.row.owner!r}, {self.conv_key!r}, room={self.mxid!r})"
