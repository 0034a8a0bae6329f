"""Portals: one Matrix room per MSN conversation of one bridge user.

A portal is keyed by ``(owner, conv_key)``: the conversation key ``conv_key`` is the contact's
passport for a one-to-one chat, or ``"group:<hex>"`` (the library's ``GROUP_PREFIX``) for a
multi-party switchboard. This module holds the room lifecycle; the portal hands the two message
directions to the helpers it holds, :attr:`Portal.from_msn` and :attr:`Portal.from_matrix`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
import asyncio

from mautrix.appservice import IntentAPI
from mautrix.bridge import BasePortal
from mautrix.bridge.portal import RejectMatrixInvite
from mautrix.errors import MatrixError
from mautrix.types import (
    EventID,
    EventType,
    Membership,
    MessageEventContent,
    MessageType,
    RoomID,
    TextMessageEventContent,
    UserID,
)

from bridge import lazy_log
from bridge.config import Config
from bridge.db.message import Message as DBMessage
from bridge.db.portal import Portal as DBPortal
from bridge.puppet import Puppet

from . import room_info
from .cache import PortalCache, is_group_key
from .from_matrix import MatrixToMSN
from .from_msn import MSNToMatrix
from .interfaces import PortalOwner
from .room_create import create_room

if TYPE_CHECKING:
    from mautrix.bridge import BaseUser, Bridge

__all__ = ["Portal", "is_group_key"]


class Portal(BasePortal):
    """The room of one MSN conversation of one user (see the module documentation)."""

    config: ClassVar[Config]
    cache: ClassVar[PortalCache[Portal]]

    row: DBPortal
    from_msn: MSNToMatrix
    from_matrix: MatrixToMSN
    _dm_puppet: Puppet | None

    def __init__(self, row: DBPortal) -> None:
        super().__init__()
        self.row = row
        self.log = lazy_log.child(self.log, f"{row.owner}/{row.conv_key}")
        self._create_lock = asyncio.Lock()
        self._forgotten = False  # the row was deleted (see delete())
        self._dm_puppet = None
        self._relay_user = None
        self.from_msn = MSNToMatrix(self)
        self.from_matrix = MatrixToMSN(self)

    # region properties over the DB row

    @property
    def owner(self) -> UserID:
        return UserID(self.row.owner)

    @property
    def conv_key(self) -> str:
        return self.row.conv_key

    @property
    def mxid(self) -> RoomID | None:
        return RoomID(self.row.room_id) if self.row.room_id else None

    @mxid.setter
    def mxid(self, value: RoomID | None) -> None:
        self.cache.room_changed(self, self.row.room_id, value)
        self.row.room_id = value

    @property
    def name(self) -> str | None:
        return self.row.name

    @name.setter
    def name(self, value: str | None) -> None:
        self.row.name = value

    @property
    def encrypted(self) -> bool:
        return bool(self.row.encrypted)

    @encrypted.setter
    def encrypted(self, value: bool) -> None:
        self.row.encrypted = value

    @property
    def participants(self) -> list[str]:
        """The other participants of a group conversation, as last stored (see
        :meth:`remember_participants`)."""
        return (self.row.participants or "").split()

    async def remember_participants(self, participants: str) -> None:
        """Store the participants of a group conversation (the form of
        :func:`bridge.db.portal.participant_set`): a switchboard with the same people later
        comes back to this room."""
        if self.row.participants != participants and not self.is_direct:
            self.row.participants = participants
            await self.save()

    @property
    def relay_user_id(self) -> UserID | None:
        return UserID(self.row.relay_user_id) if self.row.relay_user_id else None

    @relay_user_id.setter
    def relay_user_id(self, value: UserID | None) -> None:
        self.row.relay_user_id = value

    @property
    def is_direct(self) -> bool:  # type: ignore[override]  # mautrix: a plain attribute
        return self.row.kind == "dm"

    @property
    def main_intent(self) -> IntentAPI:  # type: ignore[override]  # mautrix: a plain attribute
        if self.is_direct and self._dm_puppet is not None:
            return self._dm_puppet.default_mxid_intent
        return self.az.intent

    # endregion
    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: Bridge, config: Config) -> None:
        cls.bridge = bridge
        cls.config = config
        cls.az = bridge.az
        cls.loop = bridge.loop
        cls.matrix = bridge.matrix

    @classmethod
    async def _load(cls, row: DBPortal) -> Portal:
        portal = cls(row)
        if portal.is_direct:
            portal._dm_puppet = await Puppet.get_by_passport(portal.conv_key)
        return portal

    @classmethod
    async def get_by_mxid(cls, mxid: RoomID) -> Portal | None:
        return await cls.cache.get_by_room(mxid)

    @classmethod
    async def get_by_key(cls, owner: str, conv_key: str, *, create: bool = True) -> Portal | None:
        return await cls.cache.get_by_key(owner, conv_key, create=create)

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[Portal]:
        return await cls.cache.all_for_owner(owner)

    # endregion
    # region mautrix BasePortal API

    async def save(self) -> None:
        await self.row.update()

    async def delete(self) -> None:
        self.cache.remove(self)
        if self.mxid:
            await DBMessage.delete_all_in_room(self.mxid)
        self._forgotten = True
        await self.row.delete()

    async def get_dm_puppet(self) -> Puppet | None:
        return self._dm_puppet if self.is_direct else None

    @property
    def bridge_info_state_key(self) -> str:
        return room_info.bridge_info_state_key(self.row.owner, self.conv_key)

    @property
    def bridge_info(self) -> dict[str, Any]:
        return room_info.bridge_info(
            self.az.bot_mxid, self.main_intent.mxid, self.conv_key, self.name
        )

    async def update_bridge_info(self) -> None:
        if not self.mxid:
            return
        for evt_type in room_info.BRIDGE_INFO_TYPES:
            try:
                await self.main_intent.send_state_event(
                    self.mxid, evt_type, self.bridge_info, state_key=self.bridge_info_state_key
                )
            except Exception:
                self.log.debug("Failed to update bridge info", exc_info=True)

    async def handle_matrix_invite(self, invited_by: Any, puppet: Any) -> None:
        """A ghost invited: called into the conversation (:mod:`.group_start`)."""
        if getattr(invited_by, "mxid", None) != self.owner:
            raise RejectMatrixInvite("Only the owner of this conversation can invite contacts.")
        from .group_start import invite_into  # (it uses this module)

        await invite_into(self, invited_by, puppet)

    async def prepare_remote_dm(self, room_id: RoomID, invited_by: Any, puppet: Any) -> str:
        name = puppet.display_text if isinstance(puppet, Puppet) else str(puppet.mxid)
        return f"This is your chat with {name} on MSN: messages you send here go to them."

    async def postprocess_matrix_dm(self, user: BaseUser, puppet: Any) -> None:
        await self.update_bridge_info()
        if isinstance(user, PortalOwner):
            await self.add_to_space(user)

    async def update_info_from_puppet(self, puppet: Any = None) -> None:
        puppet = puppet or self._dm_puppet
        if not self.mxid or not isinstance(puppet, Puppet):
            return
        if not self.encrypted and not self.config["bridge.private_chat_portal_meta"]:
            return
        await self._set_room_name(puppet.format_displayname())

    async def set_room_name(self, name: str) -> None:
        """Rename the room (a circle renamed on MSN)."""
        await self._set_room_name(name)

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
    # region messages (the directions are the helpers' job)

    async def handle_matrix_message(
        self, sender: Any, message: MessageEventContent, event_id: EventID
    ) -> None:
        await self.from_matrix.handle_message(sender, message, event_id)

    async def send_message(
        self,
        intent: IntentAPI,
        content: MessageEventContent,
        event_type: EventType = EventType.ROOM_MESSAGE,
        timestamp: int | None = None,
    ) -> EventID:
        """Send ``content`` to the room as ``intent`` (encrypted if the room is), dated
        ``timestamp`` (ms) when given (an offline message's original time)."""
        if timestamp is not None:
            return await self._send_message(intent, content, event_type, timestamp=timestamp)
        return await self._send_message(intent, content, event_type)

    async def send_portal_notice(self, text: str) -> EventID | None:
        """A notice from the portal's main intent (encrypted if the room is)."""
        if not self.mxid:
            return None
        content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=text)
        try:
            return await self.send_message(self.main_intent, content)
        except Exception:
            self.log.warning("Failed to send notice", exc_info=True)
            return None

    # endregion
    # region room creation

    async def ensure_room(self, user: PortalOwner) -> RoomID | None:
        """Create the Matrix room if there is none yet; make sure ``user`` is in it."""
        usable = self.mxid and not self._create_lock.locked() and not self._forgotten
        if usable and await self.ensure_user_invited(user):
            return self.mxid
        async with self._create_lock:
            if self._forgotten:
                # The room was given up (the owner left) while this object was in use.
                current = self.cache.current(self.row)
                if current is not None and current is not self:
                    return await current.ensure_room(user)
                await self._remember_again()
            elif self.mxid and self.is_direct and not await self.ensure_user_invited(user):
                # The ghost cannot invite the user any more (it left): start a new room.
                self.log.info(
                    "Cannot invite %s to %s any more, opening a new room", user.mxid, self.mxid
                )
                await self._forget_room_locked("The MSN user left the room")
                await self._remember_again()
            if self.mxid:
                return self.mxid
            try:
                return await self._create_matrix_room(user)
            except Exception:
                self.log.exception("Failed to create portal room")
                return None

    async def _remember_again(self) -> None:
        """Store the forgotten portal again, without a room (the caller creates one)."""
        self._forgotten = False
        self.row.room_id = None
        await self.row.insert()
        self.cache.add(self)

    async def _create_matrix_room(self, user: PortalOwner) -> RoomID:
        if self.is_direct:
            self._dm_puppet = self._dm_puppet or await Puppet.get_by_passport(self.conv_key)
            assert self._dm_puppet is not None
        return await create_room(self, user, self._dm_puppet)

    async def ensure_user_invited(self, user: PortalOwner) -> bool:
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

    async def ensure_ghost_joined(self, passport: str, *, create: bool = True) -> Puppet | None:
        puppet = await Puppet.get_by_passport(passport, create=create)
        if puppet is None or not self.mxid:
            return puppet
        try:
            await puppet.default_mxid_intent.ensure_joined(self.mxid, bot=self.az.intent)
        except Exception:
            self.log.warning("Ghost of %s failed to join", passport, exc_info=True)
        return puppet

    async def add_to_space(self, user: PortalOwner) -> None:
        if self.mxid:
            try:
                await user.add_portal_to_space(self)
            except Exception:
                self.log.debug("Failed to add portal to space", exc_info=True)

    async def handle_matrix_leave(self, user_id: UserID, user: PortalOwner | None) -> None:
        """Someone left the room; if it is the owner (``user``), leave the switchboard and
        forget the portal (the next message opens a new room)."""
        if user_id != self.owner:
            return
        # Held until the portal is forgotten, so that a `pm` arriving meanwhile opens a new room
        # instead of re-inviting the owner to the room being given up.
        async with self._create_lock:
            if self._forgotten:
                return
            self.from_matrix.stop_typing()
            if user is not None and user.client is not None and user.connected:
                try:
                    await user.client.leave(user.msn_conversation(self.conv_key))
                except Exception as e:
                    self.log.debug("Failed to leave switchboard: %s", e)
            self.log.info("Owner left the room, cleaning up portal")
            await self._forget_room_locked("The MSN user left the room")

    async def cleanup_and_forget(self, message: str = "This chat was closed") -> None:
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


Portal.cache = PortalCache(Portal._load)
