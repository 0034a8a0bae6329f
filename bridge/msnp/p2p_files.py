"""File transfers over P2P: offers from contacts (:class:`FileOffer`) and sending ours (:func:`send`).

Both directions::

    INVITE (EUF-GUID {5D3E02AB-...}, AppID 2, Context = the file context: name, size)
    <- 200 OK | 603 Decline
    the data, flags 0x01000030, in chunks of at most 1202 bytes     <- ACK at the end
    BYE (the receiver, once it has everything; either side to cancel)

An accepted offer is an :class:`IncomingFile`: ``async for chunk in incoming`` hands the data
out in order as it arrives, so a file never has to fit in memory; a reader that falls more
than the receive buffer behind ends the transfer instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
import asyncio
import logging

from . import slp
from .errors import P2PLimitExceeded, P2PProtocolError, TransferFailed, TransferTimeout
from .p2p import FILE_DATA_FLAGS, AppID
from .p2p_transfer import P2PLimits, Session
from .p2p_transport import DataComplete, DataReceived, SessionAborted

__all__ = ["FileOffer", "IncomingFile", "offer", "send"]

log = logging.getLogger("msnp.p2p")


class FileOffer:
    """A contact offers us a file; answer with :meth:`accept` or :meth:`decline` (once)."""

    def __init__(
        self,
        session: Session,
        context: slp.FileContext,
        stall_timeout: float,
        stats: dict[str, int],
    ) -> None:
        self._session = session
        self.context = context
        self._stall_timeout = stall_timeout
        self._stats = stats
        self._timer: asyncio.TimerHandle | None = None
        self.answered = False

    def expire_after(self, timeout: float) -> None:
        """Decline by ourselves if nobody answered within ``timeout`` seconds."""
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        if not self.answered:
            log.info("P2P: a file offer from %s was not answered in time", self.passport)
            self.decline()

    def _answered(self) -> None:
        self.answered = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def open(self) -> bool:
        """Unanswered and not withdrawn by the contact."""
        return not self.answered and self._session.invite is not None and self._session.open

    @property
    def passport(self) -> str:
        return self._session.peer.passport

    @property
    def filename(self) -> str:
        return self.context.filename

    @property
    def size(self) -> int:
        return self.context.size

    @property
    def session_id(self) -> int:
        return self._session.session_id

    @property
    def call_id(self) -> str:
        return self._session.call_id

    def accept(self) -> IncomingFile:
        """Say yes; iterate the result to receive the data in chunks."""
        session = self._session
        invite = session.invite
        if self.answered or invite is None or not session.open:
            raise P2PLimitExceeded("this file offer is no longer open")
        self._answered()
        session.invite = None
        session.peer.transport.open_session(session.session_id, self.size)
        session.peer.answer(invite, 200, "OK", session.session_id)
        return IncomingFile(self, session, self._stall_timeout, self._stats)

    def decline(self) -> None:
        if self.answered:
            return
        self._answered()
        session = self._session
        if session.invite is not None and session.open:
            session.peer.answer(session.invite, 603, "Decline", session.session_id)
            self._stats["declined"] += 1
        session.invite = None
        session.end()


def offer(
    session: Session,
    context: bytes,
    limits: P2PLimits,
    stats: dict[str, int],
    handler: Callable[[FileOffer], None] | None,
) -> None:
    """A contact invited us to a file session: hand a :class:`FileOffer` to ``handler``, or
    decline at once (an unreadable context, a size over the limit, nobody to ask)."""
    try:
        file_context = slp.parse_file_context(context)
    except P2PProtocolError as e:
        log.info("P2P: bad file invitation from %s: %s", session.peer.passport, e)
        file_context = None
    made = FileOffer(
        session, file_context or slp.FileContext("file", 0, 0, 0), limits.stall_timeout, stats
    )
    if (
        handler is None
        or file_context is None
        or not 0 < file_context.size <= limits.max_file_size
    ):
        made.decline()
        return
    made.expire_after(limits.file_invite_timeout)
    try:
        handler(made)
    except Exception:
        log.exception("P2P: the file offer handler failed")
        made.decline()


class IncomingFile:
    """An accepted file: ``async for chunk in incoming`` yields its data in order.

    Iteration ends when every byte arrived; it raises :class:`TransferFailed` when the
    contact cancels or the switchboard closes, :class:`TransferTimeout` when data stops.
    """

    def __init__(
        self, offer: FileOffer, session: Session, stall_timeout: float, stats: dict[str, int]
    ) -> None:
        self.offer = offer
        self.received = 0
        self._session = session
        self._stall_timeout = stall_timeout
        self._stats = stats
        self._finished = False

    @property
    def size(self) -> int:
        return self.offer.size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._finished:
            raise StopAsyncIteration
        try:
            while True:
                item = await self._session.inbox.next(self._stall_timeout)
                if isinstance(item, DataReceived):
                    self.received += len(item.data)
                    return item.data
                if isinstance(item, DataComplete) and self.received >= self.size:
                    self._finish()
                    self._stats["files_received"] += 1
                    raise StopAsyncIteration
                if isinstance(item, SessionAborted):
                    raise TransferFailed(f"file transfer aborted: {item.reason}")
                if isinstance(item, slp.SLPMessage) and item.method == "BYE":
                    raise TransferFailed(f"{self.offer.passport} cancelled the file transfer")
        except (TransferFailed, TransferTimeout):
            self._finish()
            raise

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            if self._session.open:
                self._session.bye()
            self._session.end()

    def cancel(self) -> None:
        """Stop receiving (the contact is told with a BYE)."""
        self._finish()


async def send(
    session: Session,
    filename: str,
    size: int,
    data: AsyncIterable[bytes],
    *,
    invite_timeout: float,
    stall_timeout: float,
) -> None:
    """Offer a file, wait for the answer, stream ``data`` through the window, wait for the ACK."""
    peer = session.peer
    context = slp.build_file_context(filename, size)
    invite = slp.build_request(
        "INVITE", peer.passport, peer.own_passport, call_id=session.call_id,
        fields=(
            ("EUF-GUID", slp.EUF_GUID_FILE), ("SessionID", str(session.session_id)),
            ("AppID", str(int(AppID.FILE_TRANSFER))), ("Context", slp.encode_context(context)),
        ),
    )  # fmt: skip
    await session.send_message(invite)
    try:
        await session.wait_ok(invite_timeout)
    except TransferTimeout:
        raise TransferTimeout(f"{peer.passport} did not answer the file offer in time") from None
    stream = peer.transport.stream(
        session.session_id, size, flags=FILE_DATA_FLAGS, app_id=AppID.FILE_TRANSFER
    )
    inflight: deque[asyncio.Task[None]] = deque()
    try:
        async for chunk in data:
            if stream.offset + len(chunk) > size:
                raise TransferFailed(f"the file has more than the {size} bytes announced")
            await session.stream_out(stream.frame(chunk), inflight)
        if not stream.done:
            raise TransferFailed(f"the file ended after {stream.offset} of {size} bytes")
        await session.drain(inflight)
    finally:
        for task in inflight:
            task.cancel()
    await session.wait_ack(stream.identifier, stall_timeout)
