"""An MSNFTP file offer (MSN Messenger 4-5) and its transfer from the sender's computer.

:class:`MsnftpOffer` is carried by a :class:`~.events.FileOffered` event; an accepted offer
connects to the sender's computer (this module owns those sockets).

An :class:`MsnftpOffer` answers like a P2P :class:`~.p2p_files.FileOffer` (``accept()``,
``decline()``, ``open``, ``filename``, ``size``), and ``async for chunk in offer.accept()``
streams the data in order, so a file never has to fit in memory. The sender chooses the
address: unless :attr:`~.p2p_transfer.P2PLimits.msnftp_private_addresses` allows it, only
global addresses are connected to; refused, timed-out and refused-by-rule connections raise
:class:`~.errors.PeerUnreachable` and the sender is told with a ``CANCEL``.
"""

from __future__ import annotations

from typing import Protocol
from collections import deque
from collections.abc import AsyncIterator, Coroutine
import asyncio
import ipaddress
import logging

from .errors import PeerUnreachable, TransferFailed, TransferTimeout
from .msnftp import Invitation, MsnftpReceiver, build_accept, build_cancel
from .p2p_transfer import P2PLimits

__all__ = ["MsnftpIncoming", "MsnftpOffer", "OfferOwner"]

log = logging.getLogger("msnp.msnftp")

#: bytes read from the sender's socket at a time
READ_SIZE = 64 * 1024


class OfferOwner(Protocol):
    """What an offer needs from the client's MSNFTP layer (:class:`~.msnftp_client.ClientMsnftp`)."""

    limits: P2PLimits

    @property
    def own_passport(self) -> str: ...

    async def send(self, conversation: str, payload: bytes) -> None: ...

    def spawn(self, coro: Coroutine[object, object, None]) -> None: ...

    def forget(self, offer: MsnftpOffer) -> None: ...


class MsnftpOffer:
    """A contact offers a file with MSNFTP; answer with :meth:`accept` or :meth:`decline` once."""

    def __init__(
        self, owner: OfferOwner, conversation: str, sender: str, invitation: Invitation
    ) -> None:
        self._owner = owner
        self.conversation = conversation
        self.passport = sender
        self.invitation = invitation
        self.key = (sender.lower(), invitation.cookie)
        self.answered = False
        self._withdrawn = False
        self._timer: asyncio.TimerHandle | None = None
        #: the sender's answer to our ACCEPT (its ACCEPT with the address, or a CANCEL)
        self._answer: asyncio.Future[Invitation] | None = None
        self._incoming: MsnftpIncoming | None = None

    @property
    def filename(self) -> str:
        return self.invitation.filename

    @property
    def size(self) -> int:
        return self.invitation.size or 0

    @property
    def call_id(self) -> str:
        return f"msnftp-{self.invitation.cookie}"

    @property
    def open(self) -> bool:
        """Unanswered and not withdrawn by the sender."""
        return not self.answered and not self._withdrawn

    def expire_after(self, timeout: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        if self.open:
            log.info("MSNFTP: a file offer from %s was not answered in time", self.passport)
            self.decline()

    def _answered(self) -> None:
        self.answered = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def on_answer(self, inv: Invitation) -> None:
        """The sender's ACCEPT (with its address) or CANCEL."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(inv)
        elif inv.command == "CANCEL":
            self.withdraw("the sender cancelled")

    def withdraw(self, reason: str) -> None:
        """The sender cancelled or the session closed: a transfer under way is cut off."""
        self._withdrawn = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(TransferFailed(reason))
        if self._incoming is not None:
            self._incoming.abort()
        if self._timer is not None:
            self._timer.cancel()
        self._owner.forget(self)

    def accept(self) -> MsnftpIncoming:
        """Say yes (``Request-Data: IP-Address:``); iterate the result to receive the data."""
        if not self.open:
            raise TransferFailed("this file offer is no longer open")
        self._answered()
        self._answer = asyncio.get_running_loop().create_future()
        self._owner.spawn(
            self._owner.send(self.conversation, build_accept(self.invitation.cookie))
        )
        self._incoming = MsnftpIncoming(self, self._answer, self._owner.limits)
        return self._incoming

    def decline(self) -> None:
        if self.answered:
            return
        self._answered()
        self._owner.forget(self)
        if not self._withdrawn:
            self.cancel("REJECT")

    def cancel(self, code: str) -> None:
        self._owner.spawn(
            self._owner.send(self.conversation, build_cancel(self.invitation.cookie, code))
        )

    def done(self) -> None:
        self._owner.forget(self)

    def own_passport(self) -> str:
        return self._owner.own_passport


class MsnftpIncoming:
    """An accepted MSNFTP file: ``async for chunk in incoming`` yields its data in order.

    Raises :class:`PeerUnreachable` when the sender's computer cannot be reached,
    :class:`TransferTimeout` when it stops sending, :class:`TransferFailed` otherwise.
    """

    def __init__(
        self, offer: MsnftpOffer, answer: asyncio.Future[Invitation], limits: P2PLimits
    ) -> None:
        self.offer = offer
        self.received = 0
        self._answer = answer
        self._limits = limits
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._codec: MsnftpReceiver | None = None
        self._pending: deque[bytes] = deque()
        self._finished = False

    @property
    def size(self) -> int:
        return self.offer.size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._pending:
            return self._pending.popleft()
        if self._finished:
            raise StopAsyncIteration
        try:
            if self._codec is None:
                await self._connect()
            while not self._pending:
                if self._codec is not None and self._codec.done:
                    await self._complete()
                    raise StopAsyncIteration
                await self._read()
        except StopAsyncIteration:
            raise
        except PeerUnreachable:
            self._fail("FAIL")
            raise
        except TransferTimeout:
            self._fail("FTTIMEOUT")
            raise
        except (TransferFailed, OSError, EOFError) as e:
            self._fail("FAIL")
            if isinstance(e, TransferFailed):
                raise
            raise TransferFailed(f"the connection to the sender broke: {e}") from None
        except BaseException:
            self._fail("FAIL")
            raise
        return self._pending.popleft()

    async def _connect(self) -> None:
        stall = self._limits.stall_timeout
        try:
            inv = await asyncio.wait_for(asyncio.shield(self._answer), stall)
        except TimeoutError:
            raise TransferTimeout(f"{self.offer.passport} did not send its address") from None
        if inv.command != "ACCEPT" or inv.address is None:
            self._finished = True  # the sender cancelled: nothing to tell it
            raise TransferFailed(f"{self.offer.passport} cancelled the file transfer")
        host, port, auth = inv.address
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise PeerUnreachable(f"the sender's address {host[:60]!r} is not an IP") from None
        if ip.is_multicast or ip.is_unspecified:
            raise PeerUnreachable(f"the sender's address {ip} is not a host")
        if not ip.is_global and not self._limits.msnftp_private_addresses:
            raise PeerUnreachable(f"the sender's address {ip} is not a public one")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(str(ip), port), self._limits.msnftp_connect_timeout
            )
        except (TimeoutError, OSError) as e:
            raise PeerUnreachable(
                f"could not connect to {ip}:{port}: {e or 'timed out'}"
            ) from None
        self._reader, self._writer = reader, writer
        self._codec = MsnftpReceiver(
            self.offer.own_passport(), auth, self._limits.max_file_size, self.offer.size
        )
        writer.write(self._codec.start())

    async def _read(self) -> None:
        reader, writer, codec = self._reader, self._writer, self._codec
        assert reader is not None and writer is not None and codec is not None
        try:
            data = await asyncio.wait_for(reader.read(READ_SIZE), self._limits.stall_timeout)
        except TimeoutError:
            raise TransferTimeout(f"{self.offer.passport} stopped sending the file") from None
        if not data:
            raise TransferFailed(f"{self.offer.passport} closed the connection early")
        out, chunks = codec.feed(data)
        if out:
            writer.write(out)
            await writer.drain()
        for chunk in chunks:
            self.received += len(chunk)
            self._pending.append(chunk)

    async def _complete(self) -> None:
        self._finished = True
        self.offer.done()
        writer = self._writer
        if writer is not None:
            try:
                await asyncio.wait_for(writer.drain(), self._limits.stall_timeout)
            except (OSError, TimeoutError):
                pass
            writer.close()

    def _fail(self, code: str) -> None:
        if self._finished:
            self._close()
            return
        self._finished = True
        self._close()
        self.offer.done()
        self.offer.cancel(code)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def cancel(self) -> None:
        """Stop receiving (the sender is told with a CANCEL)."""
        self._fail("FAIL")

    def abort(self) -> None:
        """Close the connection at once (the session is gone: nobody to tell)."""
        self._finished = True
        self._pending.clear()
        self._close()
