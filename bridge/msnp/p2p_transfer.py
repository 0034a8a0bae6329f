"""What one P2P session is made of: its link, bounded inbox, ordered send pipe and helpers.

:mod:`.p2p_session` keeps the registry of peers and sessions; the flows live in
:mod:`.p2p_objects` and :mod:`.p2p_files`. This module holds the small objects they share:
:class:`P2PLimits`, :class:`P2PLink` (the switchboard hook), :class:`Budget` (bytes held across a client),
:class:`SessionInbox` (what arrived for one session, bounded in items and bytes),
:class:`SendPipe` (packets to one contact, in order, a window of messages in flight),
:class:`Peer` and :class:`Session` (with the MSNSLP/ACK steps every flow uses).
"""

from __future__ import annotations

from typing import Final, Protocol
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
import asyncio
import logging

from . import slp
from .errors import TransferDeclined, TransferFailed, TransferTimeout
from .p2p_transport import (
    AckReceived,
    DataComplete,
    DataReceived,
    P2PTransport,
    SessionAborted,
    TransportLimits,
)

__all__ = [
    "Budget",
    "InboxItem",
    "P2PLimits",
    "P2PLink",
    "Peer",
    "SendPipe",
    "Session",
    "SessionInbox",
]

log = logging.getLogger("msnp.p2p")

InboxItem = slp.SLPMessage | DataReceived | DataComplete | AckReceived | SessionAborted
#: Most undelivered items one session holds (data is bounded separately, in bytes).
MAX_INBOX_ITEMS: Final = 4096


@dataclass(frozen=True, slots=True)
class P2PLimits:
    max_sessions: int = 32
    max_sessions_per_peer: int = 4
    max_peers: int = 64
    max_object_size: int = 1024 * 1024
    max_file_size: int = 2**32 - 1
    #: bytes of an incoming file waiting for its reader before the transfer is given up
    receive_buffer: int = 1024 * 1024
    #: bytes buffered across all sessions of this manager
    max_buffered: int = 16 * 1024 * 1024
    #: switchboard messages in flight per contact
    send_window: int = 8
    max_posted: int = 256
    #: a whole object fetch or serve
    object_timeout: float = 60.0
    #: how long a contact has to accept a file we offer, and we to answer theirs
    file_invite_timeout: float = 300.0
    #: no data or acknowledgement for this long ends a transfer
    stall_timeout: float = 60.0
    #: MSNFTP (MSN 4-5 files): connect to senders at private/loopback/link-local addresses
    msnftp_private_addresses: bool = False
    #: MSNFTP: how long connecting to the sender's computer may take
    msnftp_connect_timeout: float = 15.0
    transport: TransportLimits = field(default_factory=TransportLimits)


class P2PLink(Protocol):
    """What the P2P layer needs from a switchboard: send one ``MSG`` payload.

    ``send_p2p`` sends ``payload`` as ``MSG trid D len`` and returns once the switchboard
    acknowledged it; it raises (any exception) when it cannot be delivered. Calls that
    overlap must be written to the socket in the order they were made.
    """

    async def send_p2p(self, payload: bytes) -> None: ...


class Budget:
    """Bytes held for P2P sessions across one client (reserve before buffering)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0

    def reserve(self, amount: int) -> bool:
        if self.used + amount > self.limit:
            return False
        self.used += amount
        self.peak = max(self.peak, self.used)
        return True

    def release(self, amount: int) -> None:
        self.used = max(0, self.used - amount)


class SessionInbox:
    """Events for one session, awaited by its task; an overflow fails the session."""

    def __init__(self, budget: Budget, max_bytes: int) -> None:
        self._items: deque[InboxItem] = deque()
        self._wake = asyncio.Event()
        self._budget = budget
        self._max_bytes = max_bytes
        self.buffered = 0
        self.failure: str | None = None
        #: called once when the inbox overflows (the session must then be torn down)
        self.on_overflow: Callable[[str], None] | None = None

    def push(self, item: InboxItem) -> None:
        if self.failure is not None:
            return
        if isinstance(item, DataReceived):
            size = len(item.data)
            if self.buffered + size > self._max_bytes or not self._budget.reserve(size):
                self._overflow("too much data waiting to be read")
                return
            self.buffered += size
        elif len(self._items) >= MAX_INBOX_ITEMS:
            self._overflow("too many P2P messages waiting")
            return
        self._items.append(item)
        self._wake.set()

    def _overflow(self, reason: str) -> None:
        self.fail(reason)
        if self.on_overflow is not None:
            callback, self.on_overflow = self.on_overflow, None
            callback(reason)

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failure = reason
        self._items.clear()
        self._budget.release(self.buffered)
        self.buffered = 0
        self._wake.set()

    def poll(self) -> InboxItem | None:
        """The next item without waiting (None when empty); raises once failed."""
        if not self._items:
            if self.failure is not None:
                raise TransferFailed(self.failure)
            return None
        item = self._items.popleft()
        if isinstance(item, DataReceived):
            self.buffered -= len(item.data)
            self._budget.release(len(item.data))
        return item

    async def next(self, timeout: float) -> InboxItem:
        """The next item; :class:`TransferTimeout` when none comes within ``timeout``."""
        while True:
            item = self.poll()
            if item is not None:
                return item
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                raise TransferTimeout(f"nothing from the contact for {timeout:g} s") from None


class SendPipe:
    """Packets to one contact in order, at most ``window`` switchboard messages in flight."""

    def __init__(self, window: int, max_posted: int) -> None:
        self._window = asyncio.Semaphore(window)
        self._max_posted = max_posted
        self._posted = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, link: P2PLink, payload: bytes) -> asyncio.Task[None]:
        """Wait for room in the window, start sending; the task raises if delivery fails."""
        await self._window.acquire()
        task = asyncio.create_task(self._send_one(link, payload))
        self._track(task)
        return task

    def post(self, link: P2PLink, payload: bytes) -> bool:
        """Send without waiting (ACKs, answers from inside the read loop); False if full."""
        if self._posted >= self._max_posted:
            return False
        self._posted += 1
        self._track(asyncio.create_task(self._posted_send(link, payload)))
        return True

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_one(self, link: P2PLink, payload: bytes) -> None:
        try:
            await link.send_p2p(payload)
        finally:
            self._window.release()

    async def _posted_send(self, link: P2PLink, payload: bytes) -> None:
        try:
            await self._window.acquire()
        finally:
            self._posted -= 1
        try:
            await link.send_p2p(payload)
        except Exception as e:  # nobody waits for posted sends: log and go on
            log.debug("P2P: a posted packet was not delivered: %s", e)
        finally:
            self._window.release()

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class Peer:
    """P2P state with one contact: transport, send pipe, the link last heard on, sessions."""

    def __init__(
        self,
        own_passport: str,
        passport: str,
        transport: P2PTransport,
        pipe: SendPipe,
        link: P2PLink,
    ) -> None:
        self.own_passport = own_passport
        self.passport = passport
        self.transport = transport
        self.pipe = pipe
        self.link = link
        self.sessions: dict[int, Session] = {}
        self.calls: dict[str, Session] = {}

    def post_slp(self, data: bytes) -> None:
        """Queue an MSNSLP message without waiting (answers, BYEs)."""
        _, payloads = self.transport.frame_message(0, data)
        for payload in payloads:
            self.pipe.post(self.link, payload)

    def answer(self, invite: slp.SLPMessage, status: int, reason: str, session_id: int) -> None:
        fields = [("SessionID", str(session_id))] if session_id else []
        self.post_slp(slp.build_response(invite, status, reason, fields=fields))


class Session:
    """One MSNSLP session (Call-ID, session id) with a contact, and its inbox."""

    def __init__(
        self,
        peer: Peer,
        session_id: int,
        call_id: str,
        inbox: SessionInbox,
        on_end: Callable[[Session], None],
    ) -> None:
        self.peer = peer
        self.session_id = session_id
        self.call_id = call_id
        self.inbox = inbox
        self._on_end = on_end
        #: an incoming INVITE waiting for our answer (file offers)
        self.invite: slp.SLPMessage | None = None

    @property
    def open(self) -> bool:
        return self.peer.sessions.get(self.session_id) is self

    def end(self) -> None:
        self._on_end(self)

    def bye(self) -> None:
        """Tell the contact the session is over."""
        peer = self.peer
        bye = slp.build_request(
            "BYE", peer.passport, peer.own_passport, call_id=self.call_id,
            content_type=slp.SESSION_CLOSE,
        )  # fmt: skip
        peer.post_slp(bye)

    async def send_message(
        self, data: bytes, *, session_id: int = 0, flags: int = 0, app_id: int = 0
    ) -> int:
        """Send one whole P2P message; returns its identifier once the switchboard took it."""
        peer = self.peer
        identifier, payloads = peer.transport.frame_message(
            session_id, data, flags=flags, app_id=app_id
        )
        tasks = [await peer.pipe.send(peer.link, p) for p in payloads]
        try:
            await asyncio.gather(*tasks)
        except Exception as e:
            raise TransferFailed(f"the switchboard did not take a P2P message: {e}") from e
        return identifier

    async def wait_ok(self, timeout: float) -> None:
        """Wait for the answer to our INVITE: 200 returns, anything else raises."""
        while True:
            item = await self.inbox.next(timeout)
            if isinstance(item, slp.SLPMessage):
                if item.method == "BYE":
                    raise TransferFailed(f"{self.peer.passport} ended the session")
                if not item.is_request:
                    if item.status == 200:
                        return
                    raise TransferDeclined(
                        f"{self.peer.passport} answered {item.status} {item.reason}"
                    )
            elif isinstance(item, SessionAborted):
                raise TransferFailed(f"session aborted: {item.reason}")

    async def wait_ack(self, identifier: int, timeout: float) -> None:
        """Wait until the contact acknowledged our message ``identifier``."""
        while True:
            item = await self.inbox.next(timeout)
            if isinstance(item, AckReceived) and item.acked_identifier == identifier:
                return
            self._check_cancelled(item)

    def _check_cancelled(self, item: InboxItem | None) -> None:
        if isinstance(item, SessionAborted):
            raise TransferFailed(f"session aborted: {item.reason}")
        if isinstance(item, slp.SLPMessage) and item.method == "BYE":
            raise TransferFailed(f"{self.peer.passport} cancelled the transfer")

    async def stream_out(self, payloads: list[bytes], inflight: deque[asyncio.Task[None]]) -> None:
        """Send data packets through the window; fail fast on a delivery error or a BYE."""
        for payload in payloads:
            inflight.append(await self.peer.pipe.send(self.peer.link, payload))
            while inflight and inflight[0].done():
                _raise_failed(inflight.popleft())
            self._check_cancelled(self.inbox.poll())

    @staticmethod
    async def drain(inflight: deque[asyncio.Task[None]]) -> None:
        """Wait until every packet in flight was taken by the switchboard."""
        while inflight:
            task = inflight[0]
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    raise TransferFailed("sending was cancelled") from None
                raise
            except Exception:
                pass
            _raise_failed(inflight.popleft())


def _raise_failed(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        raise TransferFailed("sending was cancelled")
    error = task.exception()
    if error is not None:
        raise TransferFailed(f"the switchboard did not take P2P data: {error}") from error
