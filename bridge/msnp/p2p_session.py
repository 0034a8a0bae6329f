"""P2P over switchboards for one client: fetch contacts' MSN objects, serve ours, files both ways.

:class:`P2PManager` sits on two switchboard hooks: every received
``application/x-msnmsgrp2p`` message goes to :meth:`P2PManager.feed` (synchronous, safe to
call from the read loop), and a :class:`~.p2p_transfer.P2PLink` sends. Nothing it receives
can close the switchboard: malformed or hostile P2P traffic only ends the P2P session
concerned. Peers, sessions, buffered bytes and sizes are bounded (:class:`P2PLimits`).

* :meth:`P2PManager.fetch_object` - a contact's display picture or emoticon (SHA1D checked);
* ``object_provider`` - serves our own MSN objects when contacts ask for them;
* ``on_file_offer`` - a contact offers a file: a :class:`~.p2p_files.FileOffer` to answer;
* :meth:`P2PManager.send_file` - offer a file and stream it once accepted.
"""

from __future__ import annotations

from typing import Final
from collections.abc import AsyncIterable, Callable, Coroutine
import asyncio
import logging
import secrets

from . import p2p_files, p2p_objects, slp
from .errors import (
    MSNPException,
    P2PError,
    P2PLimitExceeded,
    P2PProtocolError,
    TransferDeclined,
    TransferTimeout,
)
from .message import Message
from .msnobject import MSNObject
from .p2p import decode_packet
from .p2p_files import FileOffer, IncomingFile
from .p2p_objects import ObjectProvider
from .p2p_transfer import Budget, P2PLimits, P2PLink, Peer, SendPipe, Session, SessionInbox
from .p2p_transport import (
    AckReceived,
    DataComplete,
    DataReceived,
    P2PTransport,
    SessionAborted,
    SLPReceived,
    TransportEvent,
)
from .p2p_v2 import Target, decode_v2_packet, p2p_target
from .tasks import Tasks

__all__ = [
    "FileOffer",
    "FileOfferHandler",
    "IncomingFile",
    "ObjectProvider",
    "P2PLimits",
    "P2PLink",
    "P2PManager",
]

log = logging.getLogger("msnp.p2p")

FileOfferHandler = Callable[[FileOffer], None]
_NO_NONCE: Final = "{00000000-0000-0000-0000-000000000000}"
_STATS: Final = (
    "objects_fetched",
    "objects_served",
    "files_received",
    "files_sent",
    "declined",
    "dropped",
    "sessions_aborted",
    "v2_refused",
)


class P2PManager:
    """P2P for one MSN client (``own_passport``) with all its contacts."""

    def __init__(
        self,
        own_passport: str,
        *,
        limits: P2PLimits | None = None,
        object_provider: ObjectProvider | None = None,
        on_file_offer: FileOfferHandler | None = None,
        own_endpoint: str | None = None,
    ) -> None:
        self.own_passport = own_passport
        #: our MSNP16+ endpoint (``{guid}``): P2P v2 packets are addressed to it
        self.own_endpoint = own_endpoint
        self.limits = limits or P2PLimits()
        self.object_provider = object_provider
        self.on_file_offer = on_file_offer
        self.budget = Budget(self.limits.max_buffered)
        self._peers: dict[str, Peer] = {}
        self._tasks = Tasks(self._task_done)
        self._closed = False
        #: counters for logs, tests and benchmarks
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)

    # ----------------------------------------------------------------- hooks

    def feed(self, link: P2PLink, sender: str, message: Message) -> None:
        """A P2P ``MSG`` from ``sender`` arrived on ``link``. Never raises for bad input."""
        if self._closed:
            return
        target = p2p_target(message.get("P2P-Dest"), self.own_passport, self.own_endpoint)
        if target is Target.OTHER:
            return  # for someone else in a group conversation, or our other endpoint
        try:
            if target is Target.V2:
                self._refuse_v2(sender, message)
                return
            packet = decode_packet(message)
        except P2PProtocolError as e:
            self.stats["dropped"] += 1
            log.debug("P2P from %s dropped: %s", sender, e)
            return
        peer = self._peer(sender, link)
        if peer is None:
            self.stats["dropped"] += 1
            return
        peer.link = link
        try:
            for event in peer.transport.receive(packet):
                self._dispatch(peer, event)
        except MSNPException as e:  # a last line of defence: P2P never breaks the switchboard
            self.stats["dropped"] += 1
            log.warning("P2P from %s: %s", sender, e)
        for payload in peer.transport.data_to_send():
            peer.pipe.post(peer.link, payload)
        self._forget_if_idle(peer)

    def _refuse_v2(self, sender: str, message: Message) -> None:
        """P2P v2, which we never advertise: the session it names cannot go on (it is ended,
        with a BYE); the switchboard and other sessions are untouched."""
        packet = decode_v2_packet(message)
        self.stats["v2_refused"] += 1
        peer = self._peers.get(sender.lower())
        session_id = packet.data.session_id if packet.data is not None else 0
        session = peer.sessions.get(session_id) if peer is not None and session_id else None
        if session is not None:
            self._abort(session, "the contact framed it as P2P v2, which we did not offer")

    def link_closed(self, link: P2PLink) -> None:
        """The switchboard behind ``link`` closed: sessions that were using it fail now."""
        for peer in list(self._peers.values()):
            if peer.link is link:
                for session in list(peer.sessions.values()):
                    session.inbox.fail("the switchboard closed")

    async def close(self) -> None:
        """Fail every session and stop every task (the client is going away)."""
        self._closed = True
        for peer in self._peers.values():
            for session in peer.sessions.values():
                session.inbox.fail("the client is shutting down")
            peer.pipe.cancel()
        await asyncio.gather(*self._tasks.cancel(), return_exceptions=True)
        self._peers.clear()

    @property
    def session_count(self) -> int:
        return sum(len(p.sessions) for p in self._peers.values())

    # ----------------------------------------------------------------- public operations

    async def fetch_object(
        self, link: P2PLink, passport: str, obj: MSNObject, *, timeout: float | None = None
    ) -> bytes:
        """A contact's MSN object (display picture, emoticon), checked against SHA1D.

        Raises :class:`P2PLimitExceeded`, :class:`TransferDeclined`, :class:`TransferTimeout`
        or :class:`TransferFailed`.
        """
        limit = self.limits.max_object_size
        if obj.size > limit:
            raise P2PLimitExceeded(f"{passport}'s object is {obj.size} bytes, over {limit}")
        size = obj.size or limit
        session = self._open(link, passport)
        if not self.budget.reserve(size):
            session.end()
            raise P2PLimitExceeded("too much P2P data buffered")
        try:
            async with asyncio.timeout(timeout or self.limits.object_timeout):
                data = await p2p_objects.fetch(session, obj, size, self.limits.stall_timeout)
        except TransferDeclined:
            raise
        except BaseException as e:
            if session.open:
                session.bye()  # cancel on the other side too
            if isinstance(e, TimeoutError) and not isinstance(e, TransferTimeout):
                raise TransferTimeout(f"{passport} did not send the object in time") from None
            raise
        finally:
            self.budget.release(size)
            session.end()
        self.stats["objects_fetched"] += 1
        return data

    async def send_file(
        self,
        link: P2PLink,
        passport: str,
        filename: str,
        size: int,
        data: AsyncIterable[bytes],
        *,
        invite_timeout: float | None = None,
    ) -> None:
        """Offer a file and stream ``data`` (exactly ``size`` bytes) once it is accepted.

        Returns when the contact acknowledged every byte. Raises :class:`TransferDeclined`,
        :class:`TransferTimeout` (no answer, or the data stopped being acknowledged) or
        :class:`TransferFailed` (cancelled, switchboard gone, ``data`` not ``size`` bytes).
        """
        if not 0 < size <= self.limits.max_file_size:
            raise P2PLimitExceeded(f"cannot send a file of {size} bytes")
        session = self._open(link, passport)
        try:
            await p2p_files.send(
                session, filename, size, data,
                invite_timeout=invite_timeout or self.limits.file_invite_timeout,
                stall_timeout=self.limits.stall_timeout,
            )  # fmt: skip
        except TransferDeclined:
            raise
        except BaseException:
            if session.open:
                session.bye()  # cancel on the other side too
            raise
        finally:
            session.end()
        self.stats["files_sent"] += 1

    # ----------------------------------------------------------------- peers & sessions

    def _peer(self, passport: str, link: P2PLink) -> Peer | None:
        key = passport.lower()
        peer = self._peers.get(key)
        if peer is not None:
            return peer
        if len(self._peers) >= self.limits.max_peers:
            for other in list(self._peers.values()):
                self._forget_if_idle(other)
            if len(self._peers) >= self.limits.max_peers:
                return None
        transport = P2PTransport(self.own_passport, passport, limits=self.limits.transport)
        pipe = SendPipe(self.limits.send_window, self.limits.max_posted)
        peer = self._peers[key] = Peer(self.own_passport, passport, transport, pipe, link)
        return peer

    def _forget_if_idle(self, peer: Peer) -> None:
        key = peer.passport.lower()
        if not peer.sessions and not peer.transport.busy and self._peers.get(key) is peer:
            del self._peers[key]

    def _open(self, link: P2PLink, passport: str) -> Session:
        """A new outgoing session with ``passport`` (limits checked)."""
        peer = self._peer(passport, link)
        if peer is None:
            raise P2PLimitExceeded("too many P2P contacts at once")
        peer.link = link
        try:
            return self._new_session(peer)
        except P2PError:
            self._forget_if_idle(peer)
            raise

    def _new_session(self, peer: Peer, session_id: int = 0, call_id: str = "") -> Session:
        if len(peer.sessions) >= self.limits.max_sessions_per_peer:
            raise P2PLimitExceeded(f"too many P2P sessions with {peer.passport}")
        if self.session_count >= self.limits.max_sessions:
            raise P2PLimitExceeded("too many P2P sessions")
        while session_id == 0 or (session_id in peer.sessions and not call_id):
            session_id = secrets.randbelow(2**31 - 2) + 1
        if session_id in peer.sessions:
            raise P2PProtocolError(f"P2P session {session_id} is already in use")
        call_id = call_id or slp.new_guid()
        if call_id in peer.calls:
            raise P2PProtocolError("MSNSLP Call-ID already in use")
        inbox = SessionInbox(self.budget, self.limits.receive_buffer)
        session = Session(peer, session_id, call_id, inbox, self._end)
        # known to the transport (its ACKs and error flags count), no data until a flow says so
        peer.transport.open_session(session_id, 0)
        inbox.on_overflow = lambda reason: self._abort(session, reason)
        peer.sessions[session_id] = session
        peer.calls[call_id] = session
        return session

    def _end(self, session: Session) -> None:
        peer = session.peer
        if peer.sessions.get(session.session_id) is session:
            del peer.sessions[session.session_id]
            peer.calls.pop(session.call_id, None)
            peer.transport.close_session(session.session_id)
            session.inbox.fail("ended")
            self._forget_if_idle(peer)

    def _abort(self, session: Session, reason: str) -> None:
        """End a session we cannot go on with, telling the contact."""
        log.info("P2P: ending a session with %s: %s", session.peer.passport, reason)
        self.stats["sessions_aborted"] += 1
        if session.open:
            session.bye()
            session.end()

    def _spawn(self, coro: Coroutine[object, object, None], name: str) -> None:
        self._tasks.spawn(coro, name)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("P2P task %s failed", task.get_name(), exc_info=task.exception())

    # ----------------------------------------------------------------- dispatch

    def _dispatch(self, peer: Peer, event: TransportEvent) -> None:
        if isinstance(event, SLPReceived):
            self._on_slp(peer, event.data)
        elif isinstance(event, DataReceived | DataComplete | AckReceived):
            session = peer.sessions.get(event.session_id)
            if session is not None:
                session.inbox.push(event)
        elif isinstance(event, SessionAborted):
            self.stats["sessions_aborted"] += 1
            session = peer.sessions.get(event.session_id)
            if session is not None:
                session.inbox.fail(event.reason)
                if not event.by_peer:
                    session.bye()
        else:
            self.stats["dropped"] += 1

    def _on_slp(self, peer: Peer, data: bytes) -> None:
        try:
            message = slp.parse_slp(data)
        except P2PProtocolError as e:
            self.stats["dropped"] += 1
            log.debug("MSNSLP from %s dropped: %s", peer.passport, e)
            return
        if message.to.lower() != self.own_passport.lower():
            self.stats["dropped"] += 1
            return
        session = peer.calls.get(message.call_id)
        if message.method == "INVITE":
            if message.content_type == slp.TRANSPORT_REQUEST:
                # no direct connections: the data stays on the switchboard
                fields = (("Bridge", "TCPv1"), ("Listening", "false"), ("Nonce", _NO_NONCE))
                answer = slp.build_response(
                    message, 200, "OK", content_type=slp.TRANSPORT_RESPONSE, fields=fields
                )
                peer.post_slp(answer)
            elif session is None:
                self._on_invite(peer, message)
        elif session is not None and message.method == "BYE" and session.invite is not None:
            session.invite = None  # the contact withdrew an offer nobody answered yet
            session.end()
        elif session is not None:
            session.inbox.push(message)

    def _on_invite(self, peer: Peer, invite: slp.SLPMessage) -> None:
        guid = invite.fields.get("EUF-GUID", "").upper()
        session_id = invite.session_id
        if session_id == 0 or invite.content_type != slp.SESSION_REQUEST:
            peer.answer(invite, 500, "Internal Error", 0)
            return
        if guid not in (slp.EUF_GUID_MSNOBJ, slp.EUF_GUID_FILE):
            log.info("P2P: declining %s from %s", slp.describe_euf_guid(guid), peer.passport)
            self.stats["declined"] += 1
            peer.answer(invite, 603, "Decline", session_id)
            return
        try:
            context = slp.decode_context(invite.fields.get("Context", ""))
            session = self._new_session(peer, session_id, invite.call_id)
        except P2PError as e:
            log.info("P2P: refusing an invitation from %s: %s", peer.passport, e)
            self.stats["declined"] += 1
            peer.answer(invite, 603, "Decline", session_id)
            return
        session.invite = invite
        if guid == slp.EUF_GUID_MSNOBJ:
            serve = p2p_objects.answer_fetch(
                session, invite, context, self.object_provider, self.limits, self.stats
            )
            self._spawn(serve, f"p2p-serve-{session_id}")
        else:
            p2p_files.offer(session, context, self.limits, self.stats, self.on_file_offer)
