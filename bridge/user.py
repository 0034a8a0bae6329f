"""A Matrix user of the bridge: the cache of users, mautrix's BaseUser API, notices to the
management room, and the wiring of the user's MSN session, contact book and spaces (which
MSN event goes where).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple, TypeVar
from collections.abc import Awaitable, Callable

from mautrix.bridge import BasePuppet, BaseUser
from mautrix.errors import IntentError, MForbidden
from mautrix.types import EventID, RoomID, UserID
from mautrix.util.async_getter_lock import async_getter_lock
from mautrix.util.bridge_state import BridgeState, BridgeStateEvent

from bridge.config import Config
from bridge.contact_book import ContactBook
from bridge.db.user import User as DBUser
from bridge.ids import normalize_passport
from bridge.msnp.client import LoginResult, MSNClient
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    GroupChanged,
    ListSynced,
    LoggedIn,
    NudgeReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.portal import Portal, is_group_key
from bridge.portal.from_msn import MSNToMatrix
from bridge.puppet import Puppet
from bridge.session import MSNSession
from bridge.spaces import SpaceManager

if TYPE_CHECKING:
    from mautrix.bridge import Bridge

__all__ = ["PrivateChat", "User"]

#: The events that happen in a conversation, and so go to its portal.
M = TypeVar("M", TextMessageReceived, NudgeReceived, OtherMessageReceived, TypingReceived)


class PrivateChat(NamedTuple):
    """See :meth:`User.open_private_chat`; ``room_id`` is None if the room could not be made."""

    room_id: RoomID | None
    puppet: Puppet
    on_contact_list: bool
    created: bool


class User(BaseUser):
    """One Matrix user; :attr:`session` is their MSN connection, :attr:`contacts` their list."""

    config: ClassVar[Config]

    by_mxid: ClassVar[dict[UserID, User]] = {}

    row: DBUser
    session: MSNSession
    contacts: ContactBook
    spaces: SpaceManager

    def __init__(self, row: DBUser) -> None:
        self.row = row
        self.mxid = UserID(row.mxid)
        super().__init__()
        self.relay_whitelisted, self.is_whitelisted, self.is_admin, self.permission_level = (
            self.config.get_permissions(self.mxid)
        )
        self.session = MSNSession(self, self.config, self.log)
        self.spaces = SpaceManager(row, self.az, self.config["homeserver.domain"], self.log)
        self.contacts = ContactBook(
            self.mxid, self.log, spaces=self.spaces, notify=self.send_bridge_notice
        )
        self._route_events()

    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: Bridge, config: Config) -> None:
        cls.bridge = bridge
        cls.config = config
        cls.az = bridge.az
        cls.loop = bridge.loop

    @classmethod
    @async_getter_lock
    async def get_by_mxid(cls, mxid: UserID, *, create: bool = True) -> User | None:
        if not mxid or mxid == cls.az.bot_mxid or Puppet.ghost_ids.is_ghost(mxid):
            return None
        try:
            return cls.by_mxid[mxid]
        except KeyError:
            pass
        row = await DBUser.get_by_mxid(mxid)
        if row is None:
            if not create:
                return None
            row = DBUser(mxid=mxid)
            await row.insert()
        return cls._cached(row)

    @classmethod
    async def all_logged_in(cls) -> list[User]:
        return [
            cls.by_mxid.get(UserID(row.mxid)) or cls._cached(row)
            for row in await DBUser.all_logged_in()
        ]

    @classmethod
    def _cached(cls, row: DBUser) -> User:
        user = cls(row)
        cls.by_mxid[user.mxid] = user
        return user

    @property
    def passport(self) -> str | None:
        return self.row.passport

    @property
    def management_room(self) -> RoomID | None:
        return RoomID(self.row.management_room) if self.row.management_room else None

    async def set_management_room(self, room_id: RoomID) -> None:
        if self.row.management_room != room_id:
            self.row.management_room = room_id
            await self.save()

    async def save(self) -> None:
        await self.row.update()

    # endregion
    # region the MSN session

    @property
    def client(self) -> MSNClient | None:
        return self.session.client

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def connected_since(self) -> float | None:
        return self.session.connected_since

    async def login(self, passport: str, password: str) -> LoginResult:
        """Log in with an e-mail address and password (from the login command).

        Raises whatever MSNClient.login raises; on success the credentials are stored.
        """
        return await self.session.login(normalize_passport(passport), password)

    def ensure_started(self) -> None:
        """Connect in the background with the stored credentials (after a restart)."""
        self.session.ensure_started()

    async def reconnect(self) -> None:
        await self.session.reconnect()

    async def logout(self) -> None:
        """Close the session, forget the credentials and tell the status endpoint."""
        passport = self.passport
        await self.session.logout()
        # Nothing of the old session may keep running: ghost and space syncs.
        self.spaces.stop()
        self.contacts.stop()
        await self.mark_contacts_offline()
        if passport:
            await self.push_bridge_state(BridgeStateEvent.LOGGED_OUT, remote_id=passport)
        row = self.row
        row.passport = row.password = row.ticket = None
        row.ticket_expiry = None
        await self.save()
        self.contacts.clear()

    async def stop(self) -> None:
        """Close the session without forgetting anything (bridge shutdown)."""
        self.spaces.stop()
        self.contacts.stop()
        await self.session.stop()

    async def sync(self, changed: str | None = None) -> int:
        """Re-read the live session's contact list into the contact book (see
        :meth:`ContactBook.reload`); raises :class:`ConnectionError` when not connected."""
        client = self.client
        if client is None or not self.connected:
            raise ConnectionError("not connected")
        return await self.contacts.reload(client, changed)

    async def mark_contacts_offline(self) -> None:
        """Show this user's contacts offline unless another connected user also has them."""
        others: set[str] = set()
        for user in self.by_mxid.values():
            if user is not self and user.connected:
                others.update(user.contacts.contacts)
        await self.contacts.mark_offline(keep=others)

    # endregion
    # region where each MSN event goes

    def _route_events(self) -> None:
        on = self.session.on
        on(TextMessageReceived, self._to_portal(MSNToMatrix.handle_text))
        on(NudgeReceived, self._to_portal(MSNToMatrix.handle_nudge))
        on(OtherMessageReceived, self._to_portal(MSNToMatrix.handle_other))
        on(TypingReceived, self._to_portal(MSNToMatrix.handle_typing, create=False))
        on(SwitchboardJoined, self._on_switchboard_joined)
        on(SwitchboardLeft, self._on_switchboard_left)
        on(SwitchboardClosed, self._on_switchboard_closed)
        on(LoggedIn, self._on_logged_in)
        on(ListSynced, self.contacts.on_list_synced)
        on(ContactAdded, self.contacts.on_contact_added)
        on(ContactRemoved, self.contacts.on_contact_removed)
        on(GroupChanged, self.contacts.on_group_changed)
        on(PresenceChanged, self.contacts.on_presence)
        on(PersonalMessageChanged, self.contacts.on_personal_message)

    def _to_portal(
        self, handle: Callable[[MSNToMatrix, User, M], Awaitable[object]], *, create: bool = True
    ) -> Callable[[M], Awaitable[None]]:
        """A handler that passes a message event to the portal of its conversation."""

        async def route(evt: M) -> None:
            if not evt.conversation:
                # e.g. Escargot's "MSG Hotmail" mail notification on the NS: no conversation
                self.log.debug("Ignoring a message outside any conversation")
                return
            portal = await Portal.get_by_key(self.mxid, evt.conversation, create=create)
            if portal:
                await handle(portal.from_msn, self, evt)

        return route

    async def _on_switchboard_joined(self, evt: SwitchboardJoined) -> None:
        puppet = await Puppet.get_by_passport(evt.passport)
        if puppet and evt.friendly_name:
            await puppet.update_info(evt.friendly_name)
        if not is_group_key(evt.conversation):
            return
        portal = await Portal.get_by_key(self.mxid, evt.conversation, create=True)
        if portal:
            await portal.from_msn.handle_joined(self, evt)

    async def _on_switchboard_left(self, evt: SwitchboardLeft) -> None:
        portal = await Portal.get_by_key(self.mxid, evt.conversation, create=False)
        if portal and not portal.is_direct:
            await portal.from_msn.handle_left(self, evt)

    async def _on_switchboard_closed(self, evt: SwitchboardClosed) -> None:
        self.log.debug("Switchboard %s closed", evt.conversation)

    async def _on_logged_in(self, evt: LoggedIn) -> None:
        self.log.debug("Logged in as %s with MSNP%d", evt.passport, evt.protocol)

    # endregion
    # region mautrix BaseUser API

    async def is_logged_in(self) -> bool:
        return bool(self.row.passport)

    async def get_puppet(self) -> Puppet | None:
        if not self.passport:
            return None
        return await Puppet.get_by_passport(self.passport)

    async def get_portal_with(self, puppet: BasePuppet, create: bool = True) -> Portal | None:
        if not self.passport or not isinstance(puppet, Puppet):
            return None
        return await Portal.get_by_key(self.mxid, puppet.passport, create=create)

    async def open_private_chat(self, passport: str) -> PrivateChat:
        """The private chat portal with ``passport``, its room created (and the user invited)
        when there is none; for the ``pm`` command and the provisioning API."""
        puppet = await Puppet.get_by_passport(passport)
        assert puppet is not None
        contact = self.contacts.get(passport)
        if contact is not None and contact.friendly_name:
            await puppet.update_info(contact.friendly_name)
        portal = await Portal.get_by_key(self.mxid, passport)
        assert portal is not None
        existed = bool(portal.mxid)
        room_id = await portal.ensure_room(self)
        return PrivateChat(room_id, puppet, contact is not None, bool(room_id) and not existed)

    async def get_direct_chats(self) -> dict[UserID, list[RoomID]]:
        chats: dict[UserID, list[RoomID]] = {}
        for portal in await Portal.all_for_owner(self.mxid):
            if portal.is_direct and portal.mxid:
                chats[Puppet.ghost_ids.mxid(portal.conv_key)] = [portal.mxid]
        return chats

    async def fill_bridge_state(self, state: BridgeState) -> None:
        await super().fill_bridge_state(state)
        if self.passport:
            state.remote_id = self.passport
            state.remote_name = self.session.friendly_name or self.passport

    async def get_bridge_states(self) -> list[BridgeState]:
        return [self.session.bridge_state()] if self.passport else []

    def state_description(self) -> str:
        """A short text for `ping` when not connected."""
        return self.session.state_description()

    # endregion
    # region spaces and notices

    async def get_space_room(self) -> RoomID | None:
        """The user's "MSN" space (created on first use) holding their portal rooms."""
        return await self.spaces.get_root()

    async def add_portal_to_space(self, portal: Portal) -> None:
        await self.spaces.place_portal(portal)

    async def send_bridge_notice(self, text: str, *, html: str | None = None) -> EventID | None:
        room = self.management_room
        if not room:
            self.log.debug("No management room for notice: %s", text)
            return None
        try:
            return await self.az.intent.send_notice(room, text, html=html)
        except (IntentError, MForbidden) as e:
            # The bot is no longer in the room (kicked, or the room is gone): stop using it; the
            # next room where the user talks to the bot becomes the management room.
            self.log.info("Management room %s is unusable (%s), forgetting it", room, e)
            if self.row.management_room == room:
                self.row.management_room = None
                await self.save()
            return None
        except Exception:
            self.log.warning("Failed to send notice to management room", exc_info=True)
            return None

    # endregion
