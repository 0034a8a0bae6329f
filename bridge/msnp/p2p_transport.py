"""Sans-IO P2P transport state with one contact: chunking, reassembly by offset, ACKs.

A message larger than :data:`~.p2p.MAX_CHUNK` bytes is split into chunks that share the
identifier and carry their offset. The receiver acknowledges each complete message with a
header-only packet (flag ``ACK``) naming the acknowledged identifier, its ack session id and
its size. Session 0 carries MSNSLP text, reassembled whole (it is small and bounded); data for
other sessions is accepted only for sessions the layer above opened
(:meth:`P2PTransport.open_session`) and is handed out in order, chunk by chunk, never
buffered whole. Chunks that arrive early wait, a bounded number of them; anything
inconsistent ends that session, never the switchboard.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterator
from dataclasses import dataclass, field
import secrets

from .errors import LocalProtocolError, P2PProtocolError
from .p2p import FOOTER, MAX_CHUNK, P2PFlags, P2PHeader, P2PPacket, encode_packet, mime_head

__all__ = [
    "AckReceived",
    "DataComplete",
    "DataReceived",
    "Dropped",
    "OutgoingStream",
    "P2PTransport",
    "SLPReceived",
    "SessionAborted",
    "TransportEvent",
    "TransportLimits",
]

_U32: Final = 0xFFFFFFFF
_MAX_TOTAL: Final = 2**62
# plain ints: IntFlag arithmetic is slow in the per-packet path
_ACK: Final = int(P2PFlags.ACK)
_ABORT_FLAGS: Final = int(P2PFlags.NAK | P2PFlags.ERROR | P2PFlags.TLP_ERROR | P2PFlags.CLOSE_ACK)

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class TransportEvent:
    """Base class of what :meth:`P2PTransport.receive` reports."""


@dataclass(frozen=True, slots=True)
class SLPReceived(TransportEvent):
    """A complete session-0 message (MSNSLP text, see :func:`.slp.parse_slp`)."""

    identifier: int
    data: bytes


@dataclass(frozen=True, slots=True)
class DataReceived(TransportEvent):
    """The next in-order piece of a message on an open session."""

    session_id: int
    identifier: int
    offset: int
    data: bytes
    total_size: int
    flags: int
    app_id: int


@dataclass(frozen=True, slots=True)
class DataComplete(TransportEvent):
    """Every byte of a message on an open session arrived (and an ACK is queued)."""

    session_id: int
    identifier: int
    total_size: int
    flags: int
    app_id: int


@dataclass(frozen=True, slots=True)
class AckReceived(TransportEvent):
    """The contact acknowledged our message ``acked_identifier``."""

    session_id: int
    acked_identifier: int
    acked_size: int


@dataclass(frozen=True, slots=True)
class SessionAborted(TransportEvent):
    """A session is unusable: the contact signalled an error/close, or sent bad frames."""

    session_id: int
    reason: str
    by_peer: bool


@dataclass(frozen=True, slots=True)
class Dropped(TransportEvent):
    """A packet was ignored (unknown session, over a limit, inconsistent header)."""

    reason: str


# --------------------------------------------------------------------------- state


@dataclass(frozen=True, slots=True)
class TransportLimits:
    #: Largest session-0 (MSNSLP) message accepted.
    max_slp_size: int = 32 * 1024
    #: Session-0 messages being reassembled at once (the oldest is dropped beyond).
    max_partial_slp: int = 8
    #: Out-of-order chunks held per message before the message is given up.
    max_out_of_order: int = 32
    #: Messages being received at once on one session.
    max_messages_per_session: int = 4


class _Reassembly:
    """In-order delivery of one message's chunks; out-of-order chunks wait, bounded."""

    __slots__ = ("held", "max_held", "next_offset", "total")

    def __init__(self, total: int, max_held: int) -> None:
        self.total = total
        self.next_offset = 0
        self.held: dict[int, bytes] = {}
        self.max_held = max_held

    @property
    def complete(self) -> bool:
        return self.next_offset >= self.total

    def add(self, offset: int, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Yields (offset, data) pieces that are now in order; raises on overflow."""
        if offset > self.next_offset:
            if offset not in self.held:
                if len(self.held) >= self.max_held:
                    raise P2PProtocolError("too many out-of-order P2P chunks")
                self.held[offset] = data
            return
        yield from self._take(offset, data)
        while self.held:
            waiting = self.held.pop(self.next_offset, None)
            if waiting is None:
                # a held chunk may start inside what already arrived
                overlapping = [o for o in self.held if o < self.next_offset]
                if not overlapping:
                    return
                for o in overlapping:
                    yield from self._take(o, self.held.pop(o))
                continue
            yield from self._take(self.next_offset, waiting)

    def _take(self, offset: int, data: bytes) -> Iterator[tuple[int, bytes]]:
        end = offset + len(data)
        if end <= self.next_offset:
            return  # a duplicate
        if offset < self.next_offset:
            data = data[self.next_offset - offset :]
            offset = self.next_offset
        self.next_offset = end
        yield offset, data


@dataclass(slots=True)
class _Session:
    max_size: int
    messages: dict[int, _Reassembly] = field(default_factory=dict)


@dataclass(slots=True)
class _SLPBuffer:
    reassembly: _Reassembly
    data: bytearray


class OutgoingStream:
    """Frames one outgoing P2P message of known total size, chunk by chunk."""

    def __init__(
        self, transport: P2PTransport, session_id: int, total_size: int, flags: int, app_id: int
    ) -> None:
        if not 0 < total_size < _MAX_TOTAL:
            raise LocalProtocolError(f"cannot send a P2P message of {total_size} bytes")
        self.transport = transport
        self.session_id = session_id
        self.total_size = total_size
        self.flags = flags
        self.app_id = app_id
        self.identifier = transport.next_identifier()
        self.unique_id = transport.new_unique_id()
        self.offset = 0

    @property
    def done(self) -> bool:
        return self.offset >= self.total_size

    def frame(self, data: bytes) -> list[bytes]:
        """MSG payloads for the next ``data`` bytes (split at :data:`MAX_CHUNK`)."""
        if self.offset + len(data) > self.total_size:
            raise LocalProtocolError("more data than the P2P message's total size")
        view = memoryview(data)
        payloads = []
        head = mime_head(self.transport.peer)
        for start in range(0, len(data), MAX_CHUNK):
            piece = bytes(view[start : start + MAX_CHUNK])
            header = P2PHeader(
                self.session_id,
                self.identifier,
                self.offset,
                self.total_size,
                len(piece),
                self.flags,
                self.unique_id,
            )
            payloads.append(head + header.pack() + piece + FOOTER.pack(self.app_id))
            self.offset += len(piece)
        return payloads


class P2PTransport:
    """The P2P transport state between us and one contact (``peer``)."""

    def __init__(
        self,
        own_passport: str,
        peer: str,
        *,
        limits: TransportLimits | None = None,
        base_identifier: int | None = None,
    ) -> None:
        self.own_passport = own_passport
        self.peer = peer
        self.limits = limits or TransportLimits()
        base = base_identifier if base_identifier is not None else 1000 + secrets.randbelow(2**30)
        self._identifier = base & _U32
        self._sessions: dict[int, _Session] = {}
        self._slp: dict[int, _SLPBuffer] = {}
        self._outbox: list[bytes] = []
        #: counters for logs and tests
        self.dropped = 0
        self.acks_sent = 0

    # ----------------------------------------------------------------- ids

    def next_identifier(self) -> int:
        self._identifier = (self._identifier + 1) & _U32 or 1
        return self._identifier

    @staticmethod
    def new_unique_id() -> int:
        return secrets.randbelow(_U32) + 1

    # ----------------------------------------------------------------- sessions

    def open_session(self, session_id: int, max_size: int) -> None:
        """Accept data for ``session_id``, each message at most ``max_size`` bytes."""
        if not 0 < session_id <= _U32:
            raise LocalProtocolError(f"bad P2P session id {session_id}")
        self._sessions[session_id] = _Session(max_size)

    def close_session(self, session_id: int) -> None:
        """Forget a session; its late packets are dropped."""
        self._sessions.pop(session_id, None)

    def has_session(self, session_id: int) -> bool:
        return session_id in self._sessions

    @property
    def busy(self) -> bool:
        """Whether anything is open or half-received (an idle transport can be discarded)."""
        return bool(self._sessions or self._slp or self._outbox)

    # ----------------------------------------------------------------- sending

    def frame_message(
        self, session_id: int, data: bytes, *, flags: int = 0, app_id: int = 0
    ) -> tuple[int, list[bytes]]:
        """(identifier, MSG payloads) for one whole message (MSNSLP, data preparation)."""
        stream = OutgoingStream(self, session_id, len(data), flags, app_id)
        return stream.identifier, stream.frame(data)

    def stream(
        self, session_id: int, total_size: int, *, flags: int, app_id: int
    ) -> OutgoingStream:
        return OutgoingStream(self, session_id, total_size, flags, app_id)

    def data_to_send(self) -> list[bytes]:
        """Payloads the transport itself wants sent (ACKs), in order; clears the queue."""
        out, self._outbox = self._outbox, []
        return out

    # ----------------------------------------------------------------- receiving

    def receive(self, packet: P2PPacket) -> list[TransportEvent]:
        h = packet.header
        if h.flags & _ACK:
            return [AckReceived(h.session_id, h.ack_session_id, h.ack_data_size)]
        if h.flags & _ABORT_FLAGS:
            if h.session_id and h.session_id in self._sessions:
                self.close_session(h.session_id)
                return [
                    SessionAborted(h.session_id, f"flags 0x{h.flags:x} from the contact", True)
                ]
            return self._drop(f"flags 0x{h.flags:x} outside a session")
        if (
            h.message_size == 0
            or h.total_size == 0
            or h.total_size >= _MAX_TOTAL
            or h.offset + h.message_size > h.total_size
        ):
            return self._bad(h.session_id, "inconsistent P2P header")
        if h.session_id == 0:
            return self._receive_slp(packet)
        return self._receive_data(packet)

    def _drop(self, reason: str) -> list[TransportEvent]:
        self.dropped += 1
        return [Dropped(reason)]

    def _bad(self, session_id: int, reason: str) -> list[TransportEvent]:
        if session_id and session_id in self._sessions:
            self.close_session(session_id)
            return [SessionAborted(session_id, reason, False)]
        return self._drop(reason)

    def _receive_slp(self, packet: P2PPacket) -> list[TransportEvent]:
        h = packet.header
        if h.total_size > self.limits.max_slp_size:
            self._slp.pop(h.identifier, None)
            return self._drop(f"MSNSLP message of {h.total_size} bytes is over the limit")
        buf = self._slp.get(h.identifier)
        if buf is None:
            if h.offset != 0:
                # the switchboard keeps order: a message we have no start of is lost
                return self._drop("MSNSLP chunk without the start of its message")
            if len(self._slp) >= self.limits.max_partial_slp:
                self._slp.pop(next(iter(self._slp)))
                self.dropped += 1
            buf = _SLPBuffer(_Reassembly(h.total_size, self.limits.max_out_of_order), bytearray())
            self._slp[h.identifier] = buf
        elif buf.reassembly.total != h.total_size:
            del self._slp[h.identifier]
            return self._drop("MSNSLP chunks disagree on the total size")
        try:
            for _, piece in buf.reassembly.add(h.offset, packet.body):
                buf.data += piece
        except P2PProtocolError as e:
            del self._slp[h.identifier]
            return self._drop(str(e))
        if not buf.reassembly.complete:
            return []
        del self._slp[h.identifier]
        self._queue_ack(h)
        return [SLPReceived(h.identifier, bytes(buf.data))]

    def _receive_data(self, packet: P2PPacket) -> list[TransportEvent]:
        h = packet.header
        session = self._sessions.get(h.session_id)
        if session is None:
            return self._drop(f"data for unknown P2P session {h.session_id}")
        if h.total_size > session.max_size:
            return self._bad(h.session_id, f"{h.total_size} bytes is over the session's limit")
        message = session.messages.get(h.identifier)
        if message is None:
            if len(session.messages) >= self.limits.max_messages_per_session:
                return self._bad(h.session_id, "too many messages at once on a P2P session")
            message = _Reassembly(h.total_size, self.limits.max_out_of_order)
            session.messages[h.identifier] = message
        elif message.total != h.total_size:
            return self._bad(h.session_id, "P2P chunks disagree on the total size")
        events: list[TransportEvent] = []
        app = packet.app_id
        try:
            for offset, piece in message.add(h.offset, packet.body):
                events.append(
                    DataReceived(
                        h.session_id, h.identifier, offset, piece, h.total_size, h.flags, app
                    )
                )
        except P2PProtocolError as e:
            return self._bad(h.session_id, str(e))
        if message.complete:
            del session.messages[h.identifier]
            self._queue_ack(h)
            events.append(
                DataComplete(h.session_id, h.identifier, h.total_size, h.flags, packet.app_id)
            )
        return events

    def _queue_ack(self, h: P2PHeader) -> None:
        ack = P2PHeader(
            session_id=h.session_id,
            identifier=self.next_identifier(),
            offset=0,
            total_size=h.total_size,
            message_size=0,
            flags=_ACK,
            ack_session_id=h.identifier,
            ack_unique_id=h.ack_session_id,
            ack_data_size=h.total_size,
        )
        self._outbox.append(encode_packet(self.peer, ack, b"", 0))
        self.acks_sent += 1
