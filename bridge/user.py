"""A Matrix user of the bridge, and the MSN session (MSNClient) that belongs to them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
import asyncio
import time

from mautrix.bridge import BaseUser
from mautrix.errors import IntentError, MForbidden
from mautrix.types import EventID, RoomID, UserID
from mautrix.util import background_task
from mautrix.util.async_getter_lock import async_getter_lock
from mautrix.util.bridge_state import BridgeState, BridgeStateEvent

from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.user import User as DBUser
from bridge.msnp.client import MSNClient, ProtocolRefused
from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    MD5LoginRefused,
    MSNPError,
    MSNPException,
    ProtocolError,
    TransactionTimeout,
)
from bridge.msnp.events import (
    Contact,
    ContactAdded,
    ContactRemoved,
    Disconnected,
    DisconnectReason,
    Event,
    Group,
    GroupChanged,
    Lists,
    ListSynced,
    LoggedIn,
    NudgeReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    Status,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.portal import Portal
from bridge.puppet import Puppet, decode_friendly_name
from bridge.spaces import SpaceManager

if TYPE_CHECKING:
    from bridge.app import MSNBridge
    from bridge.msnp.client import LoginResult

__all__ = ["User", "describe_login_error"]

#: Passport tickets are not reported with a lifetime; reuse one for this long at most.
TICKET_LIFETIME = 8 * 3600
#: MSNP error codes that mean "these credentials will never work".
AUTH_ERROR_CODES = frozenset({911, 917, 923, 924, 928})
#: How many contacts' ghosts are synced (registered, named) at the same time after a login.
GHOST_SYNC_CONCURRENCY = 8

BridgeState.human_readable_errors.update(
    {
        "msn-other-location": "Logged in to MSN from another location",
        "msn-bad-credentials": "MSN rejected the stored e-mail address or password",
        "msn-credentials-lost": "The stored MSN password can no longer be decrypted: log in again",
        "msn-connection-failed": "Could not connect to the MSN server: {message}",
        "msn-disconnected": "Disconnected from the MSN server: {message}",
        "msn-unknown-error": "Unexpected error while connecting to MSN: {message}",
    }
)

_DISCONNECT_TEXT = {
    DisconnectReason.SERVER_SHUTDOWN: "the MSN server is shutting down",
    DisconnectReason.CONNECTION_LOST: "the connection to the MSN server was lost",
    DisconnectReason.KEEPALIVE_TIMEOUT: "the MSN server stopped answering",
    DisconnectReason.PROTOCOL_ERROR: "the MSN server sent something the bridge did not understand",
    DisconnectReason.OTHER_LOCATION: "you logged in to MSN from another location",
    DisconnectReason.CLIENT: "the bridge closed the connection",
}


def describe_login_error(err: BaseException) -> str:
    """A readable sentence for a failed login (never includes the password)."""
    if isinstance(err, MD5LoginRefused):
        return (
            "The MSN server only speaks MSNP2-7, whose login would send your password as an "
            "MD5 hash that anyone on the network path can crack; the bridge refused. An admin "
            "can allow it with msn.allow_md5_login (not recommended)."
        )
    if isinstance(err, ProtocolRefused):
        return (
            "The MSN server refused every protocol version the bridge offered "
            "(check msn.protocol_min / msn.protocol_max)."
        )
    if isinstance(err, AuthError):
        return "Wrong e-mail address or password (the MSN server refused the login)."
    if isinstance(err, MSNPError):
        if err.code in AUTH_ERROR_CODES:
            return f"The MSN server refused the login: {err.text}."
        return f"The MSN server refused the login: error {err.code} ({err.text})."
    if isinstance(err, ConnectionClosed):
        return f"Could not reach the MSN server: the connection closed during {err.stage}."
    if isinstance(err, TransactionTimeout):
        return "Could not log in: the MSN server did not answer in time."
    if isinstance(err, ProtocolError):
        return f"Could not log in: the MSN server broke the protocol ({err})."
    if isinstance(err, (OSError, asyncio.TimeoutError)):
        detail = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return f"Could not reach the MSN server ({detail})."
    return f"Could not log in: unexpected error ({type(err).__name__})."


class User(BaseUser):
    bridge: ClassVar[MSNBridge]
    config: ClassVar[Any]

    by_mxid: ClassVar[dict[UserID, User]] = {}
    by_passport: ClassVar[dict[str, User]] = {}

    row: DBUser
    client: MSNClient | None
    connected_since: float | None

    def __init__(self, row: DBUser) -> None:
        self.row = row
        self.mxid = row.mxid
        super().__init__()
        perms = _permission_level(self.config, self.mxid)
        self.relay_whitelisted = perms >= 1
        self.is_whitelisted = perms >= 2
        self.is_admin = perms >= 3
        self.client = None
        self.connected_since = None
        self._client_ready = False
        self._connect_task: asyncio.Task | None = None
        self._login_lock = asyncio.Lock()
        self._events: asyncio.Queue[tuple[MSNClient, Event]] = asyncio.Queue()
        self._event_worker: asyncio.Task | None = None
        self._state: BridgeStateEvent | None = None
        self._state_error: str | None = None
        self._state_message: str | None = None
        self._sync_task: asyncio.Task | None = None
        self.spaces = SpaceManager(self)
        self._notified_disconnect = False
        self.contacts: dict[str, Contact] = {}
        self.groups: dict[str, Group] = {}

    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: MSNBridge) -> None:
        cls.bridge = bridge
        cls.config = bridge.config
        cls.az = bridge.az
        cls.loop = bridge.loop

    @property
    def passport(self) -> str | None:
        return self.row.passport

    @property
    def management_room(self) -> RoomID | None:
        return self.row.management_room

    async def set_management_room(self, room_id: RoomID) -> None:
        if self.row.management_room != room_id:
            self.row.management_room = room_id
            await self.save()

    async def save(self) -> None:
        await self.row.update()

    @classmethod
    def _add_to_cache(cls, user: User) -> None:
        cls.by_mxid[user.mxid] = user
        if user.passport:
            cls.by_passport[user.passport] = user

    @classmethod
    @async_getter_lock
    async def get_by_mxid(cls, mxid: UserID, *, create: bool = True) -> User | None:
        if not mxid or mxid == cls.az.bot_mxid or Puppet.is_ghost_mxid(mxid):
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
        user = cls(row)
        cls._add_to_cache(user)
        return user

    @classmethod
    def get_by_passport(cls, passport: str) -> User | None:
        return cls.by_passport.get(passport.lower())

    @classmethod
    async def all_logged_in(cls) -> list[User]:
        users = []
        for row in await DBUser.all_logged_in():
            try:
                users.append(cls.by_mxid[row.mxid])
            except KeyError:
                user = cls(row)
                cls._add_to_cache(user)
                users.append(user)
        return users

    # endregion
    # region mautrix BaseUser API

    async def is_logged_in(self) -> bool:
        return bool(self.row.passport)

    @property
    def connected(self) -> bool:
        return bool(self.client and self._client_ready and self.client.connected)

    async def get_puppet(self) -> Puppet | None:
        if not self.passport:
            return None
        return await Puppet.get_by_passport(self.passport)

    async def get_portal_with(self, puppet: Puppet, create: bool = True) -> Portal | None:
        if not self.passport:
            return None
        return await Portal.get_by_key(self.mxid, puppet.passport, create=create)

    async def get_direct_chats(self) -> dict[UserID, list[RoomID]]:
        chats: dict[UserID, list[RoomID]] = {}
        for portal in await Portal.all_for_owner(self.mxid):
            if portal.is_direct and portal.mxid:
                chats[Puppet.get_mxid_from_passport(portal.conv_key)] = [portal.mxid]
        return chats

    async def fill_bridge_state(self, state: BridgeState) -> None:
        await super().fill_bridge_state(state)
        if self.passport:
            state.remote_id = self.passport
            name = self.client.friendly_name if self.client and self._client_ready else None
            state.remote_name = name or self.passport

    async def get_bridge_states(self) -> list[BridgeState]:
        if not self.passport:
            return []
        if self.connected:
            event, error, message = BridgeStateEvent.CONNECTED, None, None
        else:
            event = self._state or BridgeStateEvent.CONNECTING
            error, message = self._state_error, self._state_message
        return [BridgeState(state_event=event, error=error, message=message)]

    def state_description(self) -> str:
        """A short text for `ping` when not connected."""
        if self._connect_task and not self._connect_task.done():
            detail = f" (last error: {self._state_message})" if self._state_message else ""
            return f"connecting{detail}"
        if self._state == BridgeStateEvent.BAD_CREDENTIALS:
            if self._state_error == "msn-other-location":
                return "you logged in from another location; use `reconnect` to take over"
            if self._state_error == "msn-credentials-lost":
                return (
                    "the stored password can no longer be read (the bridge's encryption key "
                    "changed); use `login` to log in again"
                )
            return "the stored credentials were rejected; use `login` to log in again"
        if self._state_message:
            return f"disconnected ({self._state_message}); use `reconnect` to retry"
        return "disconnected; use `reconnect` to connect"

    async def _push_state(
        self, event: BridgeStateEvent, error: str | None = None, message: str | None = None
    ) -> None:
        self._state, self._state_error, self._state_message = event, error, message
        try:
            await self.push_bridge_state(event, error=error, message=message)
        except Exception:
            self.log.warning("Failed to push bridge state %s", event, exc_info=True)

    # endregion
    # region space

    async def get_space_room(self) -> RoomID | None:
        """The user's "MSN" space (created on first use) holding their portal rooms."""
        return await self.spaces.get_root()

    async def add_portal_to_space(self, portal: Portal) -> None:
        await self.spaces.place_portal(portal)

    # endregion
    # region notices

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
    # region connection lifecycle

    def _make_client(self) -> MSNClient:
        cfg = self.config.client_config()
        client: MSNClient

        async def handler(evt: Event) -> None:
            self._events.put_nowait((client, evt))
            if not self._event_worker or self._event_worker.done():
                self._event_worker = background_task.create(
                    self._event_loop(), name=f"msn-events-{self.mxid}"
                )

        client = MSNClient(cfg, handler)
        return client

    async def login(self, passport: str, password: str) -> LoginResult:
        """Log in with an e-mail address and password (from the login command).

        Raises whatever MSNClient.login raises; on success the credentials are stored.
        """
        passport = passport.strip().lower()
        async with self._login_lock:
            self._cancel_connect_task()
            await self._close_client()
            client = self._make_client()
            self.client = client
            try:
                result = await client.login(passport, password)
            except BaseException:
                self.client = None
                await _close_quietly(client)
                raise
            old_passport = self.row.passport
            self.row.passport = passport
            self.row.password = password
            self.row.credentials_lost = False
            await self._store_login(result)
            if old_passport and old_passport != passport:
                self.by_passport.pop(old_passport, None)
            self.by_passport[passport] = self
            await self._on_connected(client)
            return result

    async def _store_login(self, result: LoginResult) -> None:
        if result.ticket and result.ticket != self.row.ticket:
            self.row.ticket = result.ticket
            self.row.ticket_expiry = int(time.time()) + TICKET_LIFETIME
        self.row.protocol = result.protocol
        await self.save()

    async def _on_connected(self, client: MSNClient) -> None:
        self._client_ready = True
        self.connected_since = time.time()
        await self._push_state(BridgeStateEvent.CONNECTED)
        if self._notified_disconnect:
            self._notified_disconnect = False
            await self.send_bridge_notice("Reconnected to MSN.")

    def _cancel_connect_task(self) -> None:
        task = self._connect_task
        self._connect_task = None
        if task and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _close_client(self) -> None:
        client = self.client
        self.client = None
        self._client_ready = False
        self.connected_since = None
        if client is not None:
            await _close_quietly(client)

    async def ensure_started(self) -> User:
        """Connect in the background with the stored credentials (after a restart)."""
        if not self.passport or self.connected:
            return self
        if self._connect_task and not self._connect_task.done():
            return self
        self._connect_task = background_task.create(
            self._connect_loop(), name=f"msn-connect-{self.mxid}"
        )
        return self

    async def reconnect(self) -> None:
        """Drop the current session (if any) and connect again with the stored credentials."""
        self._cancel_connect_task()
        await self._close_client()
        self._connect_task = background_task.create(
            self._connect_loop(), name=f"msn-connect-{self.mxid}"
        )

    async def _connect_loop(self, delay: float | None = None) -> None:
        reconnect_cfg = self.config["bridge.reconnect"] or {}
        initial = float(reconnect_cfg.get("initial_delay", 2))
        max_delay = float(reconnect_cfg.get("max_delay", 300))
        backoff = initial
        if delay:
            await asyncio.sleep(delay)
        if self.row.credentials_lost and not self.row.password and not self.row.ticket:
            await self._credentials_lost()
            return
        attempt = 0
        while self.passport:
            attempt += 1
            await self._push_state(BridgeStateEvent.CONNECTING)
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except (AuthError, MSNPError) as e:
                if isinstance(e, AuthError) or e.code in AUTH_ERROR_CODES:
                    self.log.warning("Stored MSN credentials were rejected: %s", e)
                    await self._push_state(BridgeStateEvent.BAD_CREDENTIALS, "msn-bad-credentials")
                    await self.send_bridge_notice(
                        "MSN rejected your stored e-mail address or password. "
                        "Use `login EMAIL` to log in again."
                    )
                    return
                await self._connect_failed(e, attempt, backoff)
            except (TimeoutError, OSError, MSNPException) as e:
                await self._connect_failed(e, attempt, backoff)
            except Exception as e:
                self.log.exception("Unexpected error connecting to MSN")
                await self._push_state(
                    BridgeStateEvent.UNKNOWN_ERROR, "msn-unknown-error", type(e).__name__
                )
            else:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_delay)

    async def _credentials_lost(self) -> None:
        """The stored password cannot be decrypted (bridge.credential_key changed)."""
        self.log.warning("Stored MSN credentials cannot be decrypted; asking to log in again")
        await self._push_state(BridgeStateEvent.BAD_CREDENTIALS, "msn-credentials-lost")
        await self.send_bridge_notice(
            f"The bridge can no longer read your stored MSN password for {self.passport} (its "
            "encryption key was changed), so it cannot connect you to MSN. Please log in again "
            f"with `login {self.passport}`."
        )

    async def _connect_failed(self, err: BaseException, attempt: int, backoff: float) -> None:
        self.log.info("Connecting to MSN failed (attempt %d): %s", attempt, err)
        await self._push_state(
            BridgeStateEvent.TRANSIENT_DISCONNECT,
            "msn-connection-failed",
            str(err) or type(err).__name__,
        )
        if attempt == 1 and not self._notified_disconnect:
            self._notified_disconnect = True
            await self.send_bridge_notice(
                f"{describe_login_error(err)} The bridge keeps retrying "
                f"(next attempt in {backoff:g} seconds)."
            )

    async def _connect_once(self) -> None:
        passport = self.passport
        assert passport
        password = self.row.password
        ticket = None
        if self.row.ticket and (self.row.ticket_expiry or 0) > time.time() + 60:
            ticket = self.row.ticket
        if not password and not ticket:
            raise AuthError("no stored password or ticket")
        async with self._login_lock:
            await self._close_client()
            client = self._make_client()
            self.client = client
            try:
                result = await client.login(passport, password, ticket=ticket)
            except BaseException:
                self.client = None
                await _close_quietly(client)
                raise
            await self._store_login(result)
            await self._on_connected(client)
        self.log.info("Connected to MSN as %s (MSNP%s)", passport, result.protocol)

    async def logout(self) -> None:
        """Close the session, forget the credentials and tell the status endpoint."""
        self._cancel_connect_task()
        passport = self.passport
        await self._close_client()
        # Nothing of the old session may keep running: ghost and space syncs.
        self.spaces.stop()
        if self._sync_task and not self._sync_task.done():
            self._sync_task.cancel()
        self._sync_task = None
        self._notified_disconnect = False
        await self._contacts_offline()
        if passport:
            await self.push_bridge_state(BridgeStateEvent.LOGGED_OUT, remote_id=passport)
            self.by_passport.pop(passport, None)
        self._state = None
        self.row.passport = None
        self.row.password = None
        self.row.ticket = None
        self.row.ticket_expiry = None
        await self.save()
        self.contacts = {}
        self.groups = {}

    async def stop(self) -> None:
        """Close the session without forgetting anything (bridge shutdown)."""
        self._cancel_connect_task()
        self.spaces.stop()
        for task in (self._sync_task, self._event_worker):
            if task and not task.done():
                task.cancel()
        await self._close_client()

    async def _contacts_offline(self) -> None:
        """Mark this user's contacts offline unless another connected user also has them."""
        others: set[str] = set()
        for user in self.by_mxid.values():
            if user is not self and user.connected:
                others.update(user.contacts)
        for passport in list(self.contacts):
            if passport in others:
                continue
            puppet = await Puppet.get_by_passport(passport, create=False)
            if puppet:
                await puppet.update_presence(Status.OFFLINE)

    # endregion
    # region MSN events

    async def _event_loop(self) -> None:
        while not self._events.empty():
            client, evt = self._events.get_nowait()
            if client is not self.client and not isinstance(evt, Disconnected):
                continue
            try:
                await self.handle_event(client, evt)
            except Exception:
                self.log.exception("Failed to handle %s", type(evt).__name__)

    async def handle_event(self, client: MSNClient, evt: Event) -> None:
        if isinstance(evt, Disconnected):
            await self._on_disconnected(client, evt)
        elif client is not self.client:
            return
        elif isinstance(evt, TextMessageReceived):
            portal = await self._portal_for(evt.conversation, evt.participants)
            if portal:
                await portal.handle_msn_text(self, evt)
        elif isinstance(evt, TypingReceived):
            portal = await self._portal_for(evt.conversation, evt.participants, create=False)
            if portal:
                await portal.handle_msn_typing(self, evt)
        elif isinstance(evt, NudgeReceived):
            portal = await self._portal_for(evt.conversation, evt.participants)
            if portal:
                await portal.handle_msn_nudge(self, evt)
        elif isinstance(evt, OtherMessageReceived):
            portal = await self._portal_for(evt.conversation, evt.participants)
            if portal:
                await portal.handle_msn_other(self, evt)
        elif isinstance(evt, PresenceChanged):
            await self._on_presence(evt)
        elif isinstance(evt, PersonalMessageChanged):
            puppet = await Puppet.get_by_passport(evt.passport)
            if puppet:
                contact = self.contacts.get(evt.passport.lower())
                if contact:
                    contact.personal_message = evt.personal_message
                await puppet.update_presence(personal_message=evt.personal_message)
        elif isinstance(evt, SwitchboardJoined):
            await self._on_switchboard_joined(evt)
        elif isinstance(evt, SwitchboardLeft):
            portal = await Portal.get_by_key(self.mxid, evt.conversation, create=False)
            if portal and not portal.is_direct:
                await portal.handle_msn_left(self, evt)
        elif isinstance(evt, SwitchboardClosed):
            self.log.debug("Switchboard %s closed", evt.conversation)
        elif isinstance(evt, LoggedIn):
            self.log.debug("Logged in as %s with MSNP%d", evt.passport, evt.protocol)
        elif isinstance(evt, ListSynced):
            await self._on_list_synced(evt)
        elif isinstance(evt, ContactAdded):
            await self._on_contact_added(evt)
        elif isinstance(evt, ContactRemoved):
            await self._on_contact_removed(evt)
        elif isinstance(evt, GroupChanged):
            await self._on_group_changed(evt)
        else:
            self.log.trace("Unhandled event %s", type(evt).__name__)

    async def _portal_for(
        self, conversation: str, participants: tuple[str, ...], create: bool = True
    ) -> Portal | None:
        if not conversation:
            # e.g. Escargot's "MSG Hotmail" mail notification on the NS: no conversation
            self.log.debug("Ignoring a message outside any conversation")
            return None
        return await Portal.get_by_key(self.mxid, conversation, create=create)

    async def _on_disconnected(self, client: MSNClient, evt: Disconnected) -> None:
        if client is not self.client or evt.reason == DisconnectReason.CLIENT:
            return
        self.log.info("Disconnected from MSN: %s %s", evt.reason.value, evt.detail)
        self.client = None
        self._client_ready = False
        self.connected_since = None
        text = _DISCONNECT_TEXT.get(evt.reason, evt.reason.value)
        if evt.reason == DisconnectReason.OTHER_LOCATION:
            await self._contacts_offline()
            self._notified_disconnect = True
            await self._push_state(BridgeStateEvent.BAD_CREDENTIALS, "msn-other-location")
            await self.send_bridge_notice(
                "You were disconnected from MSN because you logged in from another location. "
                "The bridge will not reconnect by itself: use `reconnect` to take the session "
                "back, or `login EMAIL` to log in again."
            )
            return
        await self._push_state(BridgeStateEvent.TRANSIENT_DISCONNECT, "msn-disconnected", text)
        delay = float((self.config["bridge.reconnect"] or {}).get("initial_delay", 2))
        self._notified_disconnect = True
        await self.send_bridge_notice(
            f"Disconnected from MSN: {text}. Reconnecting in {delay:g} seconds."
        )
        self._cancel_connect_task()
        self._connect_task = background_task.create(
            self._connect_loop(delay=delay), name=f"msn-connect-{self.mxid}"
        )

    async def _on_presence(self, evt: PresenceChanged) -> None:
        passport = evt.passport.lower()
        puppet = await Puppet.get_by_passport(passport)
        if not puppet:
            return
        contact = self.contacts.get(passport)
        if contact:
            contact.status = evt.status
            if evt.friendly_name:
                contact.friendly_name = evt.friendly_name
        if evt.friendly_name:
            await puppet.update_info(evt.friendly_name)
        await puppet.update_presence(evt.status)

    async def _on_switchboard_joined(self, evt: SwitchboardJoined) -> None:
        puppet = await Puppet.get_by_passport(evt.passport)
        if puppet and evt.friendly_name:
            await puppet.update_info(evt.friendly_name)
        if not Portal.is_group_key(evt.conversation):
            return
        portal = await Portal.get_by_key(self.mxid, evt.conversation, create=True)
        if portal:
            await portal.handle_msn_joined(self, evt)

    # endregion
    # region contact list

    async def _on_list_synced(self, evt: ListSynced) -> None:
        self.contacts = {p.lower(): c for p, c in evt.contacts.items()}
        self.groups = dict(evt.groups)
        removed = await self._store_contact_list()
        self.spaces.schedule_sync(removed)
        if self._sync_task and not self._sync_task.done():
            self._sync_task.cancel()
        self._sync_task = background_task.create(self._sync_ghosts(), name="msn-sync-ghosts")

    async def _store_contact_list(self) -> list[DBContactGroup]:
        """Store the in-memory contact list; returns the group rows that were deleted."""
        owner = self.mxid
        await DBContact.replace_for_owner(
            owner,
            (
                DBContact(owner=owner, passport=passport, guid=c.guid, lists=int(c.lists))
                for passport, c in self.contacts.items()
            ),
        )
        old_groups = {g.group_id: g for g in await DBContactGroup.all_for_owner(owner)}
        for gid, group in self.groups.items():
            grow = old_groups.pop(gid, None)
            if grow is None:
                await DBContactGroup(owner=owner, group_id=gid, name=group.name).insert()
            elif grow.name != group.name:
                grow.name = group.name
                await grow.update()
        for grow in old_groups.values():
            await grow.delete()
        await DBContactGroupMember.replace_for_owner(
            owner,
            (
                (gid, passport)
                for passport, contact in self.contacts.items()
                for gid in contact.groups
                if gid in self.groups
            ),
        )
        return list(old_groups.values())

    async def _sync_ghosts(self) -> None:
        """Create/update the ghosts of all contacts (names; presence comes with ILN/NLN).

        Up to :data:`GHOST_SYNC_CONCURRENCY` ghosts are synced at a time, in contact list order;
        work on one ghost is serialized by the puppet's own locks. Cancelling this coroutine
        cancels every worker.
        """
        todo = iter(
            [
                (passport, contact)
                for passport, contact in self.contacts.items()
                if contact.lists & (Lists.FORWARD | Lists.REVERSE | Lists.ALLOW)
            ]
        )

        async def worker() -> None:
            # The workers share one iterator: each takes the next contact when it is free.
            for passport, contact in todo:
                try:
                    await self._sync_ghost(passport, contact)
                except Exception:
                    self.log.warning("Failed to sync the ghost of %s", passport, exc_info=True)

        async with asyncio.TaskGroup() as group:
            for _ in range(GHOST_SYNC_CONCURRENCY):
                group.create_task(worker())

    async def _sync_ghost(self, passport: str, contact: Contact) -> None:
        puppet = await Puppet.get_by_passport(passport)
        if puppet:
            await puppet.update_info(contact.friendly_name or None)
            if contact.status != Status.OFFLINE or puppet.status != Status.OFFLINE:
                await puppet.update_presence(contact.status, contact.personal_message)

    async def sync(self) -> int:
        """Re-read the contact list of the live session into the DB and ghosts."""
        if not self.client or not self.connected:
            raise ConnectionError("not connected")
        self.contacts = {p.lower(): c for p, c in self.client.contacts.items()}
        self.groups = dict(self.client.groups)
        removed = await self._store_contact_list()
        await self._sync_ghosts()
        await self.spaces.sync(removed)
        return len(self.contacts)

    async def _on_contact_added(self, evt: ContactAdded) -> None:
        passport = evt.passport.lower()
        contact = self.contacts.get(passport)
        if contact is None:
            contact = Contact(passport=passport, friendly_name=evt.friendly_name or passport)
            self.contacts[passport] = contact
        contact.lists |= evt.list_
        if evt.guid:
            contact.guid = evt.guid
        if evt.group and evt.group not in contact.groups:
            contact.groups.append(evt.group)
        await self._store_contact_list()
        if evt.group or evt.list_ == Lists.FORWARD:
            self.spaces.schedule_sync()
        puppet = await Puppet.get_by_passport(passport)
        if puppet and evt.friendly_name:
            await puppet.update_info(evt.friendly_name)
        if evt.list_ == Lists.REVERSE and not contact.lists & Lists.FORWARD:
            name = decode_friendly_name(evt.friendly_name) or passport
            await self.send_bridge_notice(
                f"{name} ({passport}) added you to their MSN contact list. "
                f"Use `add {passport}` to add them back."
            )

    async def _on_contact_removed(self, evt: ContactRemoved) -> None:
        passport = evt.passport.lower()
        contact = self.contacts.get(passport)
        if contact is None:
            return
        if evt.group:
            if evt.group in contact.groups:
                contact.groups.remove(evt.group)
        else:
            contact.lists &= ~evt.list_
        if not contact.lists:
            del self.contacts[passport]
        await self._store_contact_list()
        if evt.group or evt.list_ == Lists.FORWARD:
            self.spaces.schedule_sync()

    async def _on_group_changed(self, evt: GroupChanged) -> None:
        if evt.removed:
            self.groups.pop(evt.group.id, None)
            for contact in self.contacts.values():
                if evt.group.id in contact.groups:
                    contact.groups.remove(evt.group.id)
        else:
            self.groups[evt.group.id] = evt.group
        removed = await self._store_contact_list()
        self.spaces.schedule_sync(removed)

    # endregion


async def _close_quietly(client: MSNClient) -> None:
    try:
        await client.close()
    except Exception:
        pass


_LEVELS = {"none": 0, "block": 0, "relay": 1, "user": 2, "admin": 3}


def _permission_level(config: Any, mxid: UserID) -> int:
    """bridge.permissions lookup: exact user ID, then server name, then "*"."""
    getter = getattr(config, "get_permissions", None)
    if callable(getter):
        result = getter(mxid)
        if isinstance(result, tuple):
            # (relay, user, admin, level) as in other mautrix bridges
            relay, user, admin = result[0], result[1], result[2]
            return 3 if admin else 2 if user else 1 if relay else 0
        if isinstance(result, str):
            return _LEVELS.get(result, 0)
        if isinstance(result, int):
            return result
    perms: dict[str, str] = config["bridge.permissions"] or {}
    _, _, server = mxid.partition(":")
    for key in (mxid, server, "*"):
        if key in perms:
            return _LEVELS.get(str(perms[key]).lower(), 0)
    return 0
