"""The :class:`MSNClient` facade: one MSN account, its notification session and switchboards.

Events go to the handler in order from one dispatcher task, so a handler may call back into
the client (e.g. answer a message) without blocking the connection. ``login`` can return
before the handler has seen the login events.

Conversations are keyed: a one-to-one switchboard by the contact's lower-cased passport; once
a second other participant joins, the switchboard gets a ``group:<hex>`` key (announced in
:class:`SwitchboardJoined`). Closed switchboards are re-opened on demand, group ones by
inviting the remembered participants again. A newer one-to-one switchboard with the same
contact replaces the older one, which is closed once nothing is being sent on it.

Limits (see :class:`ClientConfig`): the event queue applies back-pressure (:mod:`.flow`);
switchboards are bounded per account and per inviter and used only on the server's host
(:mod:`.admission`); what was refused or dropped is counted in :attr:`MSNClient.counters`.
"""

from __future__ import annotations

from typing import Final
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
import asyncio
import functools
import logging
import secrets
import time

import aiohttp

from . import codec
from .admission import SwitchboardHosts, SwitchboardLimits
from .auth import passport_ticket
from .bounded import BoundedDict, KeyedLocks
from .burst import Tally
from .connection import DeliveryFailed, ProtocolRefused, UnknownConversation
from .errors import (
    ConnectionClosed,
    MSNPError,
    MSNPException,
    ProtocolError,
    TransactionTimeout,
)
from .events import (
    Contact,
    Disconnected,
    DisconnectReason,
    Event,
    Group,
    Lists,
    MessageFormat,
    NudgeReceived,
    OtherMessageReceived,
    Status,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from .flow import EventQueue
from .message import TYPING, MAX_MSG_PAYLOAD, TEXT_PLAIN, Message, is_nudge
from .notification import MAX_UBX_PAYLOAD, NotificationSession, Ring
from .switchboard import Switchboard

__all__ = [
    "GROUP_PREFIX",
    "ClientConfig",
    "DeliveryFailed",
    "EventHandler",
    "LoginResult",
    "MSNClient",
    "ProtocolRefused",
    "UnknownConversation",
]

log = logging.getLogger("msnp.client")

GROUP_PREFIX: Final = "group:"
#: Group conversations whose participants are remembered for re-opening (least recently used
#: ones are forgotten; the bridge restores them with :meth:`MSNClient.restore_group`).
MAX_REMEMBERED_GROUPS: Final = 256

EventHandler = Callable[[Event], Awaitable[None]]


@dataclass
class ClientConfig:
    server: str = "messenger.hotmail.com:1863"
    protocols: tuple[int, ...] = (12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
    passport_url: str | None = None
    nexus_url: str | None = None
    force_scheme: str | None = None
    verify_tls: bool = True
    locale: str = "0x0409"
    os_type: str = "winnt"
    os_version: str = "5.1"
    arch: str = "i386"
    client_name: str = "MSNMSGR"
    client_version: str = "7.0.0816"
    client_lib: str = "MSMSGS"
    #: MSN client capability flags sent in CHG (MSNP8+): MSNC1 | multi-packet messaging.
    capabilities: int = 0x50000020
    keepalive_interval: float = 45.0
    keepalive_timeout: float = 30.0
    connect_timeout: float = 15.0
    transaction_timeout: float = 20.0
    switchboard_join_timeout: float = 30.0
    ack_timeout: float = 30.0
    initial_status: Status = Status.ONLINE
    max_line: int = codec.DEFAULT_MAX_LINE
    max_payload: int = codec.DEFAULT_MAX_PAYLOAD
    #: Log in with MSNP2-7 (MD5: ``md5(salt + password)`` on the wire, which lets anyone who
    #: sees the connection test password guesses offline). Off: only MSNP8+ is offered.
    allow_md5_login: bool = False
    #: Switchboards open at once (outgoing and answered); invitations beyond are refused.
    max_switchboards: int = 50
    #: Invitations answered at once from one inviter.
    max_switchboards_per_inviter: int = 4
    #: Hosts, IP addresses or networks (``10.0.0.0/8``) where switchboards may be besides the
    #: notification server's own host.
    switchboard_hosts: tuple[str, ...] = ()
    #: Events waiting for the handler before the connections stop reading (back-pressure).
    max_pending_events: int = 1000
    #: ``UBX`` (personal message) and switchboard ``MSG`` payloads above these are dropped.
    max_ubx_payload: int = MAX_UBX_PAYLOAD
    max_switchboard_payload: int = MAX_MSG_PAYLOAD
    #: Contacts kept from the server's lists (MSN allowed 1,000 on the forward list).
    max_contacts: int = 5000


@dataclass(frozen=True, slots=True)
class LoginResult:
    passport: str
    friendly_name: str
    protocol: int
    ticket: str | None
    profile: dict[str, str]


@functools.lru_cache(maxsize=64)
def _switchboard_hosts(allowed: tuple[str, ...]) -> SwitchboardHosts:
    """One (immutable) allow-list per configured value, shared by the clients using it."""
    return SwitchboardHosts(allowed)


class MSNClient:
    """One MSN account. After :class:`Disconnected` (other than CLIENT) the client is dead.

    Thousands of clients share a process: an idle one keeps no task or HTTP session of its own
    (events are handed on by a task that exists while some wait; a session it had to make for
    the Passport login is closed after it). Pass ``http`` to share one session.
    """

    __slots__ = (
        "_all_sbs", "_closing", "_dead", "_dispatcher", "_events", "_finished", "_http",
        "_locks", "_ns", "_own_http", "_remembered", "_sb_hosts", "_sb_limits", "_sbs",
        "_tally", "_tasks", "config", "handler",
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
        self._http = http
        self._own_http: aiohttp.ClientSession | None = None
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
        self._dispatcher: asyncio.Task[None] | None = None  # runs while events wait
        self._finished = False  # no more events are handed to the handler
        self._sbs: dict[str, Switchboard] = {}
        # dicts used as ordered sets: an empty dict is a third of an empty set
        self._all_sbs: dict[Switchboard, None] = {}
        self._remembered: BoundedDict[str, tuple[str, ...]] = BoundedDict(MAX_REMEMBERED_GROUPS)
        self._locks = KeyedLocks()
        self._sb_hosts = _switchboard_hosts(tuple(config.switchboard_hosts))
        self._sb_limits = SwitchboardLimits(
            config.max_switchboards, config.max_switchboards_per_inviter
        )
        self._tasks: dict[asyncio.Task[None], None] = {}
        self._dead = False
        self._closing = False

    # ---------------------------------------------------------------- state

    @property
    def connected(self) -> bool:
        return self._ns.logged_in and not self._dead

    @property
    def protocol(self) -> int | None:
        return self._ns.protocol

    @property
    def passport(self) -> str:
        return self._ns.passport

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
    def contacts(self) -> dict[str, Contact]:
        """Contacts by lower-cased passport (live objects, updated as the server reports)."""
        return self._ns.contacts

    @property
    def groups(self) -> dict[str, Group]:
        return self._ns.groups

    @property
    def counters(self) -> Counter[str]:
        """What was refused or dropped (``rings_refused``, ``payloads_dropped``,
        ``typing_dropped``, ...) and ``events_queued_peak``; a snapshot."""
        counts = Counter(self._tally.counts)
        counts["events_queued_peak"] = self._events.peak
        return counts

    # ----------------------------------------------------------- event queue

    def _emit(self, event: Event) -> None:
        if self._finished:
            return
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
                if isinstance(event, Disconnected):
                    self._finished = True
                    return
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

    async def _fetch_ticket(self, passport: str, password: str, challenge: str) -> str:
        http = self._http
        if http is None:
            if self._own_http is None:
                self._own_http = aiohttp.ClientSession()
            http = self._own_http
        return await passport_ticket(
            http,
            passport,
            password,
            challenge,
            passport_url=self.config.passport_url,
            nexus_url=self.config.nexus_url,
            force_scheme=self.config.force_scheme,
            verify_tls=self.config.verify_tls,
            timeout=self.config.transaction_timeout,
        )

    async def login(
        self, passport: str, password: str | None, *, ticket: str | None = None
    ) -> LoginResult:
        """Connect, authenticate, download the contact list and go online.

        Raises :class:`AuthError`, :class:`ConnectionClosed`, :class:`MSNPError`,
        :class:`ProtocolRefused` or :class:`OSError` (server unreachable).
        """
        if self._ns.logged_in or self._dead:
            raise RuntimeError("this client has already logged in; create a new one")
        bad = [v for v in self.config.protocols if not 2 <= v <= 12]
        if bad or not self.config.protocols:
            raise ValueError(f"unsupported protocol versions {bad}: this library speaks MSNP2-12")
        try:
            used = await self._ns.login(passport, password, ticket, self._fetch_ticket)
        except BaseException:
            self._dead = True
            self._finished = True  # what was emitted is still delivered
            raise
        finally:
            await self._close_http()  # MSNP2-12 needs HTTP for the Passport login only
        assert self._ns.protocol is not None
        return LoginResult(
            self._ns.passport, self._ns.friendly_name, self._ns.protocol, used, self._ns.profile
        )

    async def _close_http(self) -> None:
        if self._own_http is not None:
            await self._own_http.close()
            self._own_http = None

    async def close(self) -> None:
        """Sign out and close every connection; emits ``Disconnected(CLIENT)``."""
        if self._closing:
            return
        self._closing = True
        was_connected = self.connected
        for sb in list(self._all_sbs):
            await sb.leave()
        await self._ns.close()
        if was_connected and not self._dead:
            self._dead = True
            self._emit(Disconnected(DisconnectReason.CLIENT, "closed by the client"))
        self._dead = True
        for task in list(self._tasks):
            task.cancel()
        await self._finish_events()
        await self._close_http()

    def _on_disconnect(self, reason: DisconnectReason, detail: str) -> None:
        self._dead = True
        for sb in list(self._all_sbs):
            sb.conn.abort(DisconnectReason.CLIENT, "the notification session ended")
        if self._own_http is not None:
            self._track(asyncio.create_task(self._close_http()))

    # --------------------------------------------------------------- NS ops

    async def set_status(self, status: Status) -> None:
        await self._ns.set_status(status)

    async def set_friendly_name(self, name: str) -> None:
        await self._ns.set_friendly_name(name)

    async def set_personal_message(self, text: str) -> None:
        """``UUX`` at MSNP11+; below that there is no personal message (no-op)."""
        await self._ns.set_personal_message(text)

    async def add_contact(
        self,
        passport: str,
        list_: Lists = Lists.FORWARD,
        *,
        group: str | None = None,
        friendly_name: str | None = None,
    ) -> None:
        await self._ns.add_contact(passport, list_, group, friendly_name)

    async def remove_contact(
        self, passport: str, list_: Lists = Lists.FORWARD, *, group: str | None = None
    ) -> None:
        await self._ns.remove_contact(passport, list_, group)

    async def add_group(self, name: str) -> Group:
        return await self._ns.add_group(name)

    async def remove_group(self, group_id: str) -> None:
        await self._ns.remove_group(group_id)

    async def rename_group(self, group_id: str, name: str) -> None:
        await self._ns.rename_group(group_id, name)

    async def block(self, passport: str) -> None:
        contact = self._ns.contacts.get(passport.lower())
        if contact is not None and contact.lists & Lists.ALLOW:
            await self._ns.remove_contact(passport, Lists.ALLOW, None)
        if contact is None or not contact.lists & Lists.BLOCK:
            await self._ns.add_contact(passport, Lists.BLOCK, None, None)

    async def unblock(self, passport: str) -> None:
        contact = self._ns.contacts.get(passport.lower())
        if contact is not None and contact.lists & Lists.BLOCK:
            await self._ns.remove_contact(passport, Lists.BLOCK, None)
        if contact is None or not contact.lists & Lists.ALLOW:
            await self._ns.add_contact(passport, Lists.ALLOW, None, None)

    async def set_privacy(self, allow_unlisted: bool) -> None:
        await self._ns.set_privacy(allow_unlisted)

    # -------------------------------------------------------- conversations

    @staticmethod
    def _normalize(conversation: str) -> str:
        return conversation if conversation.startswith(GROUP_PREFIX) else conversation.lower()

    @asynccontextmanager
    async def _using(self, conversation: str) -> AsyncIterator[Switchboard]:
        """The conversation's switchboard (opened and its participants called if needed),
        marked busy while the caller uses it: eviction and replacement wait for that."""
        key = self._normalize(conversation)
        async with self._locks.hold(key):
            sb = self._sbs.get(key)
            if sb is None or sb.closed or not sb.members:
                sb = await self._prepare(key, conversation, sb)
            else:
                sb.busy += 1
        try:
            yield sb
        finally:
            await self._release(sb)

    async def _release(self, sb: Switchboard) -> None:
        sb.busy -= 1
        sb.last_active = time.monotonic()
        if sb.retired and not sb.busy:
            await sb.leave()

    async def _prepare(self, key: str, conversation: str, sb: Switchboard | None) -> Switchboard:
        """Open (or re-use) a switchboard for ``key`` and call its participants; returns it
        busy."""
        if key.startswith(GROUP_PREFIX):
            targets = self._remembered.get(key, ()) or ()
            if not targets:
                raise UnknownConversation(f"unknown group conversation {conversation!r}")
        else:
            if "@" not in key:
                raise ValueError(f"not a passport or group key: {conversation!r}")
            targets = (key,)
        if sb is None or sb.closed:
            sb = await self._open_switchboard(key)  # busy from its creation on
        else:
            sb.busy += 1
        errors: list[MSNPException] = []
        for target in targets:
            try:
                await sb.call(target)
            except (MSNPError, TransactionTimeout, ConnectionClosed) as e:
                errors.append(e)
        if not sb.members:
            sb.busy -= 1
            await sb.leave()
            raise errors[0] if errors else ConnectionClosed("CAL", "nobody joined")
        return sb

    def _new_switchboard(self, key: str) -> Switchboard:
        sb = Switchboard(
            self.config, self._ns.passport, self, key, gate=self._events.gate, tally=self._tally
        )
        self._all_sbs[sb] = None
        return sb

    def _sb_host_allowed(self, host: str, what: str, inviter: str = "") -> bool:
        return self._sb_hosts.check(host, self._ns.server_hosts, self._tally, what, inviter)

    async def _open_switchboard(self, key: str) -> Switchboard:
        if self._dead:
            raise ConnectionClosed("session", "the client is disconnected")
        await self._sb_limits.make_room(self._all_sbs, self._tally)
        sb = self._new_switchboard(key)  # counted from now on: no two opens race past the limit
        sb.busy += 1  # and not a candidate for eviction while it is set up
        self._sbs[key] = sb
        try:
            host, port, cookie = await self._ns.request_switchboard()
            if not self._sb_host_allowed(host, "XFR SB"):
                raise ProtocolError(
                    f"the server handed out a switchboard on {host}, which is not its own host "
                    "(add it to switchboard_hosts if that is right)"
                )
            await sb.connect_outgoing(host, port, cookie)
        except BaseException:
            self._forget(sb)
            raise
        return sb

    async def send_text(
        self, conversation: str, text: str, fmt: MessageFormat | None = None
    ) -> None:
        """Send text (split into several messages when longer than one MSG allows).

        Raises MSNPError(217) when the contact is offline, DeliveryFailed on NAK and
        TransactionTimeout when no ACK arrives in ``ack_timeout``.
        """
        if not text:
            raise ValueError("cannot send an empty message")
        async with self._using(conversation) as sb:
            await sb.send_text(text, fmt)

    async def send_typing(self, conversation: str) -> None:
        async with self._using(conversation) as sb:
            await sb.send_typing()

    async def send_nudge(self, conversation: str) -> None:
        async with self._using(conversation) as sb:
            await sb.send_nudge()

    async def invite(self, conversation: str, passport: str) -> str:
        """Bring ``passport`` into the conversation; returns its (possibly new) key."""
        async with self._using(conversation) as sb:
            await sb.call(passport)
            return sb.key

    async def leave(self, conversation: str) -> None:
        key = self._normalize(conversation)
        self._remembered.pop(key, None)
        sb = self._sbs.get(key)
        if sb is not None:
            await sb.leave()

    def restore_group(self, conversation: str, participants: Iterable[str]) -> None:
        """Make a ``group:`` key from an earlier session usable: sending to it re-opens a
        switchboard and invites ``participants`` (ignored while the key is known)."""
        key = self._normalize(conversation)
        if not key.startswith(GROUP_PREFIX):
            raise ValueError(f"not a group conversation key: {conversation!r}")
        members = tuple(
            sorted({p.lower() for p in participants if p.lower() != self.passport.lower()})
        )
        if members and key not in self._remembered and key not in self._sbs:
            self._remembered[key] = members

    def participants(self, conversation: str) -> tuple[str, ...]:
        key = self._normalize(conversation)
        sb = self._sbs.get(key)
        if sb is not None and not sb.closed and sb.members:
            return sb.participants
        if key.startswith(GROUP_PREFIX):
            return self._remembered.get(key, ()) or ()
        return (key,)

    def conversations(self) -> dict[str, tuple[str, ...]]:
        """Open switchboard conversations and their participants."""
        return {k: sb.participants for k, sb in self._sbs.items() if not sb.closed}

    # ------------------------------------------------------- incoming (SB)

    def _on_ring(self, ring: Ring) -> None:
        """Answer an invitation, unless its host or the limits forbid: refused rings cost no
        socket and no task."""
        if self._dead or not self._sb_host_allowed(ring.host, "an invitation", ring.passport):
            return
        if not self._sb_limits.admit_ring(ring.passport, self._all_sbs, self._tally):
            return
        sb = self._new_switchboard("")
        sb.answering = True
        sb.inviter = ring.passport
        self._track(asyncio.create_task(self._answer(sb, ring)))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks[task] = None
        task.add_done_callback(self._untrack)

    def _untrack(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)

    async def _answer(self, sb: Switchboard, ring: Ring) -> None:
        try:
            await sb.connect_incoming(ring.host, ring.port, ring.cookie, ring.session_id)
        except (OSError, MSNPException) as e:
            log.warning("could not answer the invitation from %s: %s", ring.passport, e)
            self._forget(sb)
            return
        sb.answering = False
        if sb.closed and not sb.key:
            # closed right after ANS, before anything was announced: announce nothing (a
            # SwitchboardJoined now would never be followed by SwitchboardClosed)
            self._forget(sb)
            return
        self._ensure_key(sb)

    def _ensure_key(self, sb: Switchboard) -> str:
        if sb.key:
            return sb.key
        if len(sb.members) >= 2:
            key = GROUP_PREFIX + secrets.token_hex(8)
            self._remembered[key] = sb.participants
        elif sb.members:
            key = next(iter(sb.members))
        else:
            key = sb.inviter.lower()
        sb.key = key
        self._replace(key, sb)
        for passport, name in list(sb.members.values()):
            self._emit(SwitchboardJoined(key, passport, name, sb.participants))
        return key

    def _replace(self, key: str, sb: Switchboard) -> None:
        """Make ``sb`` the switchboard of ``key``; an older open one is retired: closed now,
        or once the send in progress on it is done."""
        old = self._sbs.get(key)
        self._sbs[key] = sb
        if old is None or old is sb or old.closed:
            return
        log.debug("a newer switchboard replaces the one of %s", key)
        self._tally.counts["switchboards_replaced"] += 1
        old.retired = True
        if not old.busy:
            self._track(asyncio.create_task(old.leave()))

    def _forget(self, sb: Switchboard) -> None:
        self._all_sbs.pop(sb, None)
        if sb.key and self._sbs.get(sb.key) is sb:
            del self._sbs[sb.key]

    def sb_joined(self, sb: Switchboard, passport: str, friendly_name: str) -> None:
        if sb.answering and not sb.key:
            return  # announced together once ANS completes
        if not sb.key:
            self._ensure_key(sb)
            return
        if len(sb.members) >= 2 and not sb.key.startswith(GROUP_PREFIX):
            if self._sbs.get(sb.key) is sb:
                del self._sbs[sb.key]
            sb.key = GROUP_PREFIX + secrets.token_hex(8)
            self._sbs[sb.key] = sb
        if sb.key.startswith(GROUP_PREFIX):
            self._remembered[sb.key] = sb.participants
        self._emit(SwitchboardJoined(sb.key, passport, friendly_name, sb.participants))

    def sb_left(self, sb: Switchboard, passport: str, idle_timeout: bool) -> None:
        key = self._ensure_key(sb)
        if key.startswith(GROUP_PREFIX) and not idle_timeout and sb.members:
            self._remembered[key] = sb.participants
        self._emit(SwitchboardLeft(key, passport, idle_timeout, sb.participants))

    def sb_message(self, sb: Switchboard, sender: str, sender_name: str, message: Message) -> None:
        key = self._ensure_key(sb)
        sb.last_active = time.monotonic()
        participants = sb.participants
        ctype = message.content_type
        if ctype == TEXT_PLAIN:
            self._emit(
                TextMessageReceived(
                    key, sender, sender_name, message.text, message.format, participants
                )
            )
        elif ctype == TYPING:
            # the switchboard vouches for the sender; TypingUser is whatever the peer wrote
            self._emit(TypingReceived(key, sender, participants))
        elif is_nudge(message):
            self._emit(NudgeReceived(key, sender, participants))
        else:
            self._emit(
                OtherMessageReceived(
                    key, sender, ctype, dict(message.headers), message.body, participants
                )
            )

    def sb_closed(self, sb: Switchboard) -> None:
        was_current = bool(sb.key) and self._sbs.get(sb.key) is sb
        self._forget(sb)
        if was_current and not self._dead:
            self._emit(SwitchboardClosed(sb.key))
