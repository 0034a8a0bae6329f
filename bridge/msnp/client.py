"""The :class:`MSNClient` facade: one MSN account's session, switchboards and event dispatch.

Events go to the handler in order from one dispatcher task, so a handler may call back into the
client (e.g. answer a message) without blocking the connection. ``login`` can return before the
handler has seen the login events. The user's own list changes (``add_contact``, ``block``,
``add_group`` ...) are reported like the server's pushes, with :class:`~.events.ContactAdded`,
:class:`~.events.ContactRemoved` and :class:`~.events.GroupChanged`, once the server confirmed
them.

Conversations and their keys are the pool's (:mod:`.pool`). Limits (see :class:`ClientConfig`):
the event queue applies back-pressure (:mod:`.flow`); switchboards are bounded per account and
per inviter (:mod:`.admission`); what was refused or dropped is counted in
:attr:`MSNClient.counters`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
import asyncio
import logging

import aiohttp

from .ab_login import AbCache
from .burst import Tally
from .circles import CircleInfo
from .config import ClientConfig
from .conversations import ConversationMethods
from .endpoints import format_guid, new_machine_guid
from .errors import DeliveryFailed, ProtocolRefused, UnknownConversation
from .events import Disconnected, Event
from .flow import EventQueue
from .login import Credentials
from .msnftp_client import ClientMsnftp
from .notification import NotificationSession
from .offline import OfflineMessages
from .p2p_client import ClientP2P
from .passport import PassportServices
from .pool import GROUP_PREFIX, SwitchboardPool
from .tasks import Tasks
from .values import (
    Contact,
    DisconnectReason,
    Group,
    ListCache,
    Lists,
    Ring,
    Status,
)

__all__ = [
    "GROUP_PREFIX",
    "ClientConfig",
    "Credentials",
    "DeliveryFailed",
    "EventHandler",
    "LoginResult",
    "MSNClient",
    "ProtocolRefused",
    "UnknownConversation",
]

log = logging.getLogger("msnp.client")

EventHandler = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LoginResult:
    passport: str
    friendly_name: str
    protocol: int
    ticket: str | None = field(repr=False)  # secrets stay out of logs and error messages
    profile: dict[str, str] = field(repr=False)  # (its MSPAuth holds the ticket)


class MSNClient(ConversationMethods):
    """One MSN account. After :class:`Disconnected` (other than CLIENT) the client is dead.

    Thousands of clients share a process: an idle one keeps no task or HTTP session of its own
    (events are handed on by a task that exists while some wait; a session it had to make for
    the Passport login is closed after it). Pass ``http`` to share one session.
    """

    __slots__ = (
        "_closing", "_dead", "_dispatcher", "_events", "_finished", "_ns", "_oim", "_pool",
        "_tally", "_tasks", "_web", "config", "handler", "msnftp", "p2p",
    )  # fmt: skip

    def __init__(
        self,
        config: ClientConfig,
        handler: EventHandler,
        *,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self._web = PassportServices(config, http)
        self._tally = Tally(log)
        self._events = EventQueue(config.max_pending_events, self._tally)
        self._ns = NotificationSession(
            config,
            self._emit,
            on_ring=self._on_ring,
            on_disconnect=self._on_disconnect,
            gate=self._events.gate,
            tally=self._tally,
        )
        self._pool = SwitchboardPool(
            config, self._ns, self._emit, gate=self._events.gate, tally=self._tally
        )
        self._dispatcher: asyncio.Task[None] | None = None  # runs while events wait
        self._finished = False  # no more events are handed to the handler
        self._tasks = Tasks()
        #: pictures, emoticons and files over P2P (:mod:`.p2p_client`)
        self.p2p = ClientP2P(config, self._ns, self._pool, self._emit)
        #: files from MSN Messenger 4-5 (:mod:`.msnftp_client`)
        self.msnftp = ClientMsnftp(
            config.p2p, lambda: self._ns.passport, self._send_invitation, self._emit
        )
        self._dead = False
        self._closing = False
        self._oim = OfflineMessages(config, self._ns, self._web, self._emit)  # MSNP13+

    # ---------------------------------------------------------------- state

    @property
    def connected(self) -> bool:
        return self._ns.logged_in and not self._dead

    @property
    def protocol(self) -> int | None:
        """The negotiated protocol version (None before ``VER`` is answered)."""
        return self._ns.version or None

    @property
    def passport(self) -> str:
        return self._ns.passport

    @property
    def ab_cache(self) -> AbCache | None:
        """MSNP13+: the address book as this login fetched it, for the next login."""
        return self._ns.ab_cache

    def take_ab_cache(self) -> AbCache | None:
        """:attr:`ab_cache`, then forgotten (the client needs it no more; 33 KiB at MSNP18
        with 20 contacts): keep it yourself (a database, say) for the next login."""
        cache, self._ns.ab_cache = self._ns.ab_cache, None
        return cache

    @property
    def circles(self) -> Mapping[str, CircleInfo]:
        """MSNP18: the circles joined, by id (their conversation key is ``circle.key``)."""
        return self._ns.circles.circles

    @property
    def machine_guid(self) -> str | None:
        """The machine GUID this client logs in with (MSNP16+ names the endpoint by it)."""
        return self._ns.machine_guid

    @property
    def friendly_name(self) -> str:
        return self._ns.friendly_name

    @property
    def status(self) -> Status:
        return self._ns.status if self.connected else Status.OFFLINE

    @property
    def personal_message(self) -> str:
        return self._ns.personal_message

    @property
    def contacts(self) -> Mapping[str, Contact]:
        """Contacts by lower-cased passport: a read-only view of frozen values, which the
        client replaces as the server reports changes."""
        return self._ns.roster.contacts

    @property
    def groups(self) -> Mapping[str, Group]:
        """Groups by id: a read-only view."""
        return self._ns.roster.groups

    @property
    def privacy_allow_unlisted(self) -> bool | None:
        """Whether people on neither the allow nor the block list may contact the user
        (``BLP AL``), as the server said; None before it did."""
        return self._ns.roster.privacy_allow_unlisted

    @property
    def reverse_prompt(self) -> bool | None:
        """Whether the user wants to be asked when someone adds them (``GTC A``), as the
        server said; None before it did."""
        return self._ns.roster.reverse_prompt

    @property
    def counters(self) -> Counter[str]:
        """What was refused or dropped (``rings_refused``, ``payloads_dropped``,
        ``typing_dropped``, ...) and ``events_queued_peak``; a snapshot."""
        counts = Counter(self._tally.counts)
        counts["events_queued_peak"] = self._events.peak
        if self.p2p.manager is not None:
            counts.update({f"p2p_{k}": v for k, v in self.p2p.manager.stats.items()})
        return counts

    # ----------------------------------------------------------- event queue

    def _emit(self, event: Event) -> None:
        if self._finished:
            return
        if self._oim.intercept(event):
            return  # the server's offline-message notice: fetched, then reported
        if self.msnftp.intercept(event):
            return  # an MSNFTP invitation: a FileOffered event, or an answer to one
        self._events.put(event)
        if self._dispatcher is None or self._dispatcher.done():  # (done: cancelled unstarted)
            self._dispatcher = asyncio.create_task(self._dispatch(), name="msnp-events")

    async def _dispatch(self) -> None:
        """Hand waiting events to the handler in order; ends when none is left."""
        events = self._events
        try:
            while len(events):
                event = events.pop()
                assert isinstance(event, Event)
                try:
                    await self.handler(event)
                except Exception:
                    log.exception("event handler failed on %r", event)
        finally:
            if self._dispatcher is asyncio.current_task():
                self._dispatcher = None

    async def _finish_events(self) -> None:
        """Deliver what was emitted so far (at most 10 s more), then nothing any more."""
        self._finished = True
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher is not asyncio.current_task():
            try:  # (from the handler itself: no wait)
                await asyncio.wait_for(asyncio.shield(dispatcher), 10)
            except TimeoutError:
                dispatcher.cancel()

    # ------------------------------------------------------------------ login

    async def login(
        self,
        passport: str,
        password: str | None,
        *,
        ticket: str | None = None,
        cache: ListCache | None = None,
        machine_guid: str | None = None,
        ab_cache: AbCache | None = None,
    ) -> LoginResult:
        """Connect, authenticate, download the contact list and go online.

        ``ticket`` is a Passport ticket from an earlier login, tried before the password.
        ``cache`` is the list kept from an earlier session (MSNP8-12): when the server says it
        is current, it is not downloaded again (:class:`ListSynced` says ``from_cache``).
        ``machine_guid`` names this endpoint at MSNP16+ (keep one per account; None: a fresh
        one); ``ab_cache`` is :attr:`ab_cache` of an earlier MSNP13+ login (only changes are
        fetched).
        Raises :class:`AuthError`, :class:`ConnectionClosed`, :class:`MSNPError`,
        :class:`ProtocolRefused` or :class:`OSError` (server unreachable).
        """
        if self._ns.logged_in or self._dead:
            raise RuntimeError("this client has already logged in; create a new one")
        bad = [v for v in self.config.protocols if not 2 <= v <= 18]
        if bad or not self.config.protocols:
            raise ValueError(f"unsupported protocol versions {bad}: this library speaks MSNP2-18")
        guid = format_guid(machine_guid) if machine_guid else new_machine_guid()
        self.p2p.start(passport, guid)
        self._ns.ab_cache = ab_cache
        try:
            used = await self._ns.login(
                Credentials(passport, password, ticket, machine_guid=guid), self._web, cache
            )
        except BaseException:
            self._dead = True
            self._pool.closed = True
            self._finished = True  # what was emitted is still delivered
            await self._web.close()
            raise
        if self._ns.version < 13:  # (13+ call the address book and offline messages later)
            await self._web.close()  # MSNP2-12 need HTTP for the Passport login only
        ns = self._ns
        # the profile is handed out, not kept (nothing reads it later; its MSPAuth is a ticket)
        profile, ns.profile = ns.profile, {}
        return LoginResult(ns.passport, ns.friendly_name, ns.version, used, profile)

    async def close(self) -> None:
        """Sign out and close every connection; emits ``Disconnected(CLIENT)``."""
        if self._closing:
            return
        self._closing = True
        was_connected = self.connected
        await self._pool.close()
        await self._ns.close()
        if was_connected and not self._dead:
            self._dead = True
            self._emit(Disconnected(DisconnectReason.CLIENT, "closed by the client"))
        self._dead = True
        self._pool.closed = True
        self._pool.cancel_tasks()
        await self.p2p.close()
        await self.msnftp.close()
        self._tasks.cancel()
        self._oim.close()
        await self._finish_events()
        await self._web.close()

    def _on_disconnect(self, reason: DisconnectReason, detail: str) -> None:
        self._dead = True
        self._pool.closed = True  # no switchboard is opened or answered any more
        self._oim.close()
        self._spawn(self._wind_down())
        self._spawn(self.p2p.close())
        self._spawn(self.msnftp.close())

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        self._tasks.spawn(coro)

    async def _wind_down(self) -> None:
        """The notification session ended. Switchboards live on at the server without it: the
        acknowledgements of messages in flight are awaited, and what contacts send meanwhile
        is still emitted, before each is left; then the dispatcher stops."""
        try:
            await self._pool.wind_down(self.config.ack_timeout)
            if self._web.owns_session:
                await self._web.close()
        finally:
            self._finished = True  # what was emitted until now is still delivered

    def _on_ring(self, ring: Ring) -> None:
        if not self._dead:
            self._pool.on_ring(ring)

    # ------------------------------------------------------- offline messages

    async def delete_offline_messages(self, message_ids: Iterable[str]) -> None:
        """Remove delivered offline messages from the server (MSNP13+; raises
        :class:`~.errors.ServiceError` when the service refuses)."""
        await self._oim.delete(message_ids)

    # --------------------------------------------------------------- NS ops

    async def set_status(self, status: Status) -> None:
        await self._ns.set_status(status)

    async def set_friendly_name(self, name: str) -> None:
        await self._ns.set_friendly_name(name)

    async def set_personal_message(self, text: str, current_media: str = "") -> None:
        """``UUX`` at MSNP11+ (with the media string, e.g. ``\\0Music\\01\\0{0}\\0Song\\0``,
        and from MSNP13 the machine GUID); below MSNP11 there is no personal message (no-op)."""
        await self._ns.set_personal_message(text, current_media)

    async def add_contact(
        self,
        passport: str,
        list_: Lists = Lists.FORWARD,
        *,
        group: str | None = None,
        friendly_name: str | None = None,
    ) -> None:
        await self._ns.lists.add_contact(passport, list_, group, friendly_name)

    async def remove_contact(
        self, passport: str, list_: Lists = Lists.FORWARD, *, group: str | None = None
    ) -> None:
        await self._ns.lists.remove_contact(passport, list_, group)

    async def move_contact(self, passport: str, from_group: str | None, to_group: str) -> None:
        """Put a forward-list contact into ``to_group`` and take them out of ``from_group``."""
        await self._ns.lists.move_contact(passport, from_group, to_group)

    async def block(self, passport: str) -> None:
        await self._ns.lists.block(passport)

    async def unblock(self, passport: str) -> None:
        await self._ns.lists.unblock(passport)

    async def add_group(self, name: str) -> Group:
        return await self._ns.lists.add_group(name)

    async def remove_group(self, group_id: str) -> None:
        await self._ns.lists.remove_group(group_id)

    async def rename_group(self, group_id: str, name: str) -> None:
        await self._ns.lists.rename_group(group_id, name)

    def nickname(self, passport: str) -> str | None:
        """The user's own name for a contact (MSNP13+ address book), if they gave one."""
        return self._ns.lists.nickname(passport)

    async def set_nickname(self, passport: str, nickname: str) -> None:
        """Name a contact for the user ("" clears it); MSNP13+ (below: LocalProtocolError)."""
        await self._ns.lists.set_nickname(passport, nickname)

    async def set_privacy(self, allow_unlisted: bool) -> None:
        await self._ns.lists.set_privacy(allow_unlisted)

    async def set_reverse_prompt(self, ask: bool) -> None:
        await self._ns.lists.set_reverse_prompt(ask)
