"""The switchboard pool of one client: switchboards opened, answered, re-used and evicted.

It keys them by conversation and turns what they report into events. Conversations are keyed: a
one-to-one switchboard by the contact's lower-cased passport; once a second other participant
joins, the switchboard gets a ``group:<hex>`` key (announced in
:class:`~.events.SwitchboardJoined`). Closed switchboards are re-opened on demand, group ones by
inviting the remembered participants again. A newer one-to-one switchboard with the same contact
replaces the older one, which is closed once nothing is being sent on it.

Switchboards are bounded per account and per inviter and used only on the server's host
(:mod:`.admission`); messages split into parts (``Message-ID``/``Chunks``/``Chunk``) are joined
(:mod:`.multipacket`) before they become events (:mod:`.sb_messages`).
"""

from __future__ import annotations

from typing import Final, Protocol
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
import asyncio
import logging
import secrets
import time

from .admission import SwitchboardHosts, SwitchboardLimits
from .bounded import BoundedDict, KeyedLocks
from .burst import Tally
from .config import ClientConfig
from .errors import (
    ConnectionClosed,
    MSNPError,
    MSNPException,
    RemoteProtocolError,
    TransactionTimeout,
    UnknownConversation,
)
from .events import Event, SwitchboardClosed, SwitchboardJoined, SwitchboardLeft
from .flow import ReadGate
from .message import Message
from .multipacket import MultiPacketReassembler
from .p2p import CONTENT_TYPE as P2P_CONTENT_TYPE
from .p2p_session import P2PManager
from .sb_messages import message_event
from .switchboard import Switchboard
from .tasks import Tasks
from .values import Ring

__all__ = ["GROUP_PREFIX", "MAX_REMEMBERED_GROUPS", "NotificationServer", "SwitchboardPool"]

log = logging.getLogger("msnp.pool")

GROUP_PREFIX: Final = "group:"
#: Group conversations whose participants are remembered for re-opening (least recently used
#: ones are forgotten; the bridge restores them with :meth:`MSNClient.restore_group`).
MAX_REMEMBERED_GROUPS: Final = 256


class NotificationServer(Protocol):
    """What the pool asks of the notification session."""

    @property
    def endpoint_address(self) -> str: ...

    @property
    def server_hosts(self) -> tuple[str, ...]: ...

    async def request_switchboard(self) -> tuple[str, int, str]: ...


def normalize(conversation: str) -> str:
    """A conversation key as the pool keeps it (passports lower-cased)."""
    return conversation if conversation.startswith(GROUP_PREFIX) else conversation.lower()


class SwitchboardPool:
    """The switchboards of one client (see the module documentation)."""

    __slots__ = (
        "_all", "_emit", "_gate", "_hosts", "_limits", "_locks", "_ns", "_parts", "_remembered",
        "_sbs", "_tally", "_tasks", "closed", "config", "p2p",
    )  # fmt: skip

    def __init__(
        self,
        config: ClientConfig,
        ns: NotificationServer,
        emit: Callable[[Event], None],
        *,
        gate: ReadGate | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.config = config
        self._ns = ns
        self._emit = emit
        self._gate = gate
        self._tally = tally if tally is not None else Tally(log)
        #: the current switchboard of each conversation key, and every open one
        self._sbs: dict[str, Switchboard] = {}
        # a dict used as an ordered set: an empty dict is a third of an empty set
        self._all: dict[Switchboard, None] = {}
        self._remembered: BoundedDict[str, tuple[str, ...]] = BoundedDict(MAX_REMEMBERED_GROUPS)
        self._locks = KeyedLocks()
        self._hosts = SwitchboardHosts.shared(tuple(config.switchboard_hosts))
        self._limits = SwitchboardLimits(
            config.max_switchboards, config.max_switchboards_per_inviter
        )
        self._parts: MultiPacketReassembler | None = None  # made with the first split message
        self._tasks = Tasks()
        #: no switchboard is opened or answered any more (the session ended)
        self.closed = False
        #: receives the P2P (MSNSLP) messages of every switchboard, set by the client
        self.p2p: P2PManager | None = None

    @property
    def busy(self) -> bool:
        """Whether a switchboard is open or a task of the pool still runs."""
        return bool(self._all or len(self._tasks))

    # ------------------------------------------------------------- using one

    @asynccontextmanager
    async def using(self, conversation: str) -> AsyncIterator[Switchboard]:
        """The conversation's switchboard (opened and its participants called if needed),
        marked busy while the caller uses it: eviction and replacement wait for that."""
        key = normalize(conversation)
        if self.closed:
            raise ConnectionClosed("session", "the client is disconnected")
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
            sb = await self._open(key)  # busy from its creation on
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

    def _new(self, key: str) -> Switchboard:
        sb = Switchboard(
            self.config, self._ns.endpoint_address, self, key, gate=self._gate, tally=self._tally
        )
        self._all[sb] = None
        return sb

    def _host_allowed(self, host: str, what: str, inviter: str = "") -> bool:
        return self._hosts.check(host, self._ns.server_hosts, self._tally, what, inviter)

    async def _open(self, key: str) -> Switchboard:
        if self.closed:
            raise ConnectionClosed("session", "the client is disconnected")
        await self._limits.make_room(self._all, self._tally)
        sb = self._new(key)  # counted from now on: no two opens race past the limit
        sb.busy += 1  # and not a candidate for eviction while it is set up
        self._sbs[key] = sb
        try:
            host, port, cookie = await self._ns.request_switchboard()
            if not self._host_allowed(host, "XFR SB"):
                raise RemoteProtocolError(
                    f"the server handed out a switchboard on {host}, which is not its own host "
                    "(add it to switchboard_hosts if that is right)"
                )
            await sb.connect_outgoing(host, port, cookie)
        except BaseException:
            self._forget(sb)
            raise
        return sb

    # ---------------------------------------------------------- conversations

    async def leave(self, conversation: str) -> None:
        key = normalize(conversation)
        self._remembered.pop(key, None)
        sb = self._sbs.get(key)
        if sb is not None:
            await sb.leave()

    def restore_group(self, conversation: str, participants: Iterable[str]) -> None:
        """Make a ``group:`` key from an earlier session usable: sending to it re-opens a
        switchboard and invites ``participants`` (ignored while the key is known)."""
        key = normalize(conversation)
        if not key.startswith(GROUP_PREFIX):
            raise ValueError(f"not a group conversation key: {conversation!r}")
        own = self._ns.endpoint_address.partition(";")[0].lower()
        members = tuple(sorted({p.lower() for p in participants if p.lower() != own}))
        if members and key not in self._remembered and key not in self._sbs:
            self._remembered[key] = members

    def participants(self, conversation: str) -> tuple[str, ...]:
        key = normalize(conversation)
        sb = self._sbs.get(key)
        if sb is not None and not sb.closed and sb.members:
            return sb.participants
        if key.startswith(GROUP_PREFIX):
            return self._remembered.get(key, ()) or ()
        return (key,)

    def conversations(self) -> dict[str, tuple[str, ...]]:
        """Open switchboard conversations and their participants."""
        return {k: sb.participants for k, sb in self._sbs.items() if not sb.closed}

    async def close(self) -> None:
        """Leave every switchboard (the client signs out)."""
        await asyncio.gather(*(sb.leave() for sb in list(self._all)))

    async def wind_down(self, timeout: float) -> None:
        """The notification session ended: open nothing more; wait (at most ``timeout``
        seconds) for the acknowledgements in flight on each switchboard, what contacts send
        meanwhile still reported, then leave it."""
        self.closed = True

        async def settle_and_leave(sb: Switchboard) -> None:
            await sb.conn.settle(timeout)
            await sb.leave()

        await asyncio.gather(*(settle_and_leave(sb) for sb in list(self._all)))

    def cancel_tasks(self) -> None:
        self._tasks.cancel()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        self._tasks.spawn(coro)

    # ------------------------------------------------------------- answering

    def on_ring(self, ring: Ring) -> None:
        """Answer an invitation, unless its host or the limits forbid: refused rings cost no
        socket and no task."""
        if self.closed or not self._host_allowed(ring.host, "an invitation", ring.passport):
            return
        if not self._limits.admit_ring(ring.passport, self._all, self._tally):
            return
        sb = self._new("")
        sb.answering = True
        sb.inviter = ring.passport
        self._spawn(self._answer(sb, ring))

    async def _answer(self, sb: Switchboard, ring: Ring) -> None:
        try:
            await sb.connect_incoming(ring.host, ring.port, ring.cookie, ring.session_id)
        except (OSError, MSNPException) as e:
            log.warning("could not answer the invitation from %s: %s", ring.passport, e)
            self._forget(sb)
            return
        sb.answering = False
        if sb.rung_by_own_endpoint:
            return  # our other endpoint rang us in (MPOP): the key waits for the contact
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
            self._spawn(old.leave())

    def _forget(self, sb: Switchboard) -> None:
        self._all.pop(sb, None)
        if sb.key and self._sbs.get(sb.key) is sb:
            del self._sbs[sb.key]

    # ------------------------------------------ what the switchboards report

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
        now = time.monotonic()
        sb.last_active = now
        if message.get("Message-ID"):
            whole = self._join_parts(sender, message, now)
            if whole is None:
                return  # a part: kept until the last one arrives
            message = whole
        if not sb.key and sb.rung_by_own_endpoint:
            return  # said to nobody yet in a session our other endpoint opened
        key = self._ensure_key(sb)
        if message.content_type == P2P_CONTENT_TYPE and self.p2p is not None:
            self.p2p.feed(sb, sender, message)  # never raises, never closes the switchboard
        else:
            self._emit(message_event(key, sender, sender_name, message, sb.participants))

    def _join_parts(self, sender: str, message: Message, now: float) -> Message | None:
        """The whole message once its last part arrived (None meanwhile); parts dropped (over a
        limit, out of order, overdue) are counted and logged once per burst."""
        parts = self._parts
        if parts is None:
            parts = self._parts = MultiPacketReassembler()
        dropped = parts.dropped
        parts.expire(now)
        whole = parts.feed(sender, message, now)
        if parts.dropped > dropped:
            self._tally.hit(
                "multipacket_dropped",
                "dropped %d part(s) of split messages (from %s: over a limit, out of order or "
                "overdue)",
                parts.dropped - dropped,
                sender,
            )
        if not parts.pending:
            self._parts = None  # an idle client keeps no reassembler
        return whole

    def sb_closed(self, sb: Switchboard) -> None:
        was_current = bool(sb.key) and self._sbs.get(sb.key) is sb
        self._forget(sb)
        if self.p2p is not None:
            self.p2p.link_closed(sb)
        if was_current and not self.closed:
            self._emit(SwitchboardClosed(sb.key))
