"""A Matrix user of the bridge: the cache of users, mautrix's BaseUser API, notices to the
management room, and the wiring of the user's MSN session, contact book, group chats and
spaces (which MSN event goes where is :mod:`bridge.event_routes`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, NamedTuple
from collections import Counter
from collections.abc import AsyncIterator
import asyncio

from mautrix.bridge import BasePuppet, BaseUser
from mautrix.errors import IntentError, MForbidden
from mautrix.types import EventID, RoomID, UserID
from mautrix.util.async_getter_lock import async_getter_lock
from mautrix.util.bridge_state import BridgeState, BridgeStateEvent

from bridge import double_puppet, list_cache, own_presence
from bridge.config import Config
from bridge.contact_book import ContactBook
from bridge.db.user import User as DBUser
from bridge.event_routes import EventRoutes
from bridge.group_chats import GroupChats
from bridge.ids import normalize_passport
from bridge.limits import Limits
from bridge.login_pace import LoginPace
from bridge.msnp.client import LoginResult, MSNClient
from bridge.offline_contacts import OfflineContacts
from bridge.portal import Portal
from bridge.portal.outbox import Condition
from bridge.puppet import Puppet
from bridge.reconnect import LoginGate
from bridge.session import MSNSession
from bridge.spaces import SpaceManager

if TYPE_CHECKING:
    from mautrix.bridge import Bridge

__all__ = ["PrivateChat", "User"]


class PrivateChat(NamedTuple):
    """See :meth:`User.open_private_chat`; ``room_id`` is None if the room could not be made."""

    room_id: RoomID | None
    puppet: Puppet
    on_contact_list: bool
    created: bool


class User(BaseUser):
    """One Matrix user; :attr:`session` is their MSN connection, :attr:`contacts` their list."""

    config: ClassVar[Config]
    #: The bridge-wide limit on MSN logins in progress (every user's session passes it);
    #: :meth:`init_cls` sets it from ``bridge.reconnect.max_concurrent_logins``.
    login_gate: ClassVar[LoginGate] = LoginGate(10)
    #: What holds background logins to fewer turns while the event loop is late
    #: (``bridge.reconnect.max_loop_lag``; None: off).
    login_pace: ClassVar[LoginPace | None] = None

    by_mxid: ClassVar[dict[UserID, User]] = {}

    row: DBUser
    session: MSNSession
    contacts: ContactBook
    spaces: SpaceManager

    def __init__(self, row: DBUser) -> None:
        self.row = row
        #: the row's values as last read or written (what :meth:`unsaved` compares with)
        self._stored = row.column_values()
        self.mxid = UserID(row.mxid)
        super().__init__()
        self.relay_whitelisted, self.is_whitelisted, self.is_admin, self.permission_level = (
            self.config.get_permissions(self.mxid)
        )
        limits = Limits.from_config(self.config)
        self.session = MSNSession(self, self.config, self.log, self.login_gate)
        self.offline_contacts = OfflineContacts.from_config(self.config)
        self.spaces = SpaceManager(row, self.az, self.config["homeserver.domain"], self.log)
        self.contacts = ContactBook(
            self.mxid,
            self.log,
            spaces=self.spaces,
            notify=self.send_bridge_notice,
            asks=lambda: self.client.reverse_prompt if self.client else None,
            added_notice_interval=limits.added_notice_interval,
        )
        self.groups = GroupChats(
            self.mxid,
            lambda: self.passport,
            limits,
            lambda text, html: self.send_bridge_notice(text, html=html),
            self.log,
        )
        self.routes = EventRoutes(self)

    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: Bridge, config: Config) -> None:
        cls.bridge = bridge
        cls.config = config
        cls.az = bridge.az
        cls.loop = bridge.loop
        cls.login_gate = LoginGate(int(config["bridge.reconnect.max_concurrent_logins"]))
        lag = float(config["bridge.reconnect.max_loop_lag"])
        cls.login_pace = LoginPace(cls.login_gate, lag) if lag > 0 else None

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
            if not cls.config.get_permissions(mxid).relay:
                # Someone the bridge only refuses (any Matrix user anywhere can write to the
                # bot): answered, but neither stored nor kept in memory.
                return cls(DBUser(mxid=mxid))
            row = DBUser(mxid=mxid)
            await row.insert()
        return cls._cached(row)

    @classmethod
    async def all_logged_in(cls) -> list[User]:
        return [user async for page in cls.logged_in_pages() for user in page]

    @classmethod
    async def logged_in_pages(cls, page: int = 200) -> AsyncIterator[list[User]]:
        """Every user with an MSN account, read and set up ``page`` at a time: at start-up with
        thousands of them, one pass would hold the event loop for seconds (decrypting the
        passwords, making each user's session objects), and the first can connect meanwhile."""
        after = ""
        while True:
            rows = await DBUser.logged_in_page(after, page)
            yield [cls.by_mxid.get(UserID(row.mxid)) or cls._cached(row) for row in rows]
            if len(rows) < page:
                return
            after = rows[-1].mxid
            await asyncio.sleep(0)  # (the database may answer at once)

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
        values = self.row.column_values()
        await self.row.update()
        self._stored = values

    def unsaved(self) -> bool:
        """Whether the row holds a change not written yet (a login's, or one whose save
        failed)."""
        return self.row.column_values() != self._stored

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

    def send_condition(self, conv_key: str) -> Condition:
        """Messages to MSN can be delivered while the session is connected (and, in a direct
        chat held for an offline contact, once they signed in: :mod:`bridge.offline_contacts`)."""
        return self.offline_contacts.condition(conv_key, self.session.online)

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
        await double_puppet.disable(self)
        await self.session.logout()
        # Nothing of the old session may keep running: ghost and space syncs.
        self.spaces.stop()
        self.contacts.stop()
        self.offline_contacts.release_all()
        await self.mark_contacts_offline()
        if passport:
            await self.push_bridge_state(BridgeStateEvent.LOGGED_OUT, remote_id=passport)
        row = self.row
        row.passport = row.password = row.ticket = None
        row.ticket_expiry = None
        own_presence.forget_account_texts(row)
        await list_cache.forget(self.mxid)  # (the kept list is the old account's)
        await self.save()
        await row.write_ab_cache(None)  # the address book of the account signed out of
        self.contacts.clear()

    async def stop(self) -> None:
        """Close the session without forgetting anything (bridge shutdown). The session goes
        first: the event it finishes handling may still start space and contact work."""
        await self.session.stop()
        self.routes.stop()
        self.spaces.stop()
        self.contacts.stop()

    async def sync(self) -> int:
        """Re-read the live session's contact list into the contact book (see
        :meth:`ContactBook.reload`); raises :class:`ConnectionError` when not connected."""
        client = self.client
        if client is None or not self.connected:
            raise ConnectionError("not connected")
        return await self.contacts.reload(client)

    async def mark_contacts_offline(self) -> None:
        """Show this user's contacts offline unless another connected user also has them."""
        others: set[str] = set()
        for user in self.by_mxid.values():
            if user is not self and user.connected:
                others.update(user.contacts.contacts)
        await self.contacts.mark_offline(keep=others)

    # endregion
    # region limits and what the portals ask

    def may_have_ghost(self, passport: str) -> bool:
        """Whether ``passport`` may get a ghost without having written (see ContactBook)."""
        return self.contacts.on_lists(passport)

    def msn_conversation(self, conv_key: str) -> str:
        """The MSN library's key for the portal ``conv_key`` (see GroupChats.library_key)."""
        return self.groups.library_key(conv_key)

    @property
    def counters(self) -> Counter[str]:
        """The limits this user's MSN events met: the session's queue, group chats sent to
        direct chats, hidden messages, coalesced notices (see the README's "Limits")."""
        counts = self.session.counters
        counts["group_messages_redirected"] = self.groups.redirected
        counts["messages_hidden"] = self.routes.hidden_messages
        counts["added_notices_coalesced"] = self.contacts.added_notices.coalesced
        return counts

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
