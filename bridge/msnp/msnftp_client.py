"""The MSNFTP invitations of one client (``client.msnftp``), turned into file offers.

A file ``INVITE`` on a switchboard becomes a :class:`~.events.FileOffered` event carrying an
:class:`~.msnftp_transfer.MsnftpOffer`; the sender's answers go to that offer. At most
``P2PLimits.max_sessions`` offers at a time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
import logging

from .errors import MSNPException
from .events import Event, FileOffered, OtherMessageReceived
from .msnftp import CONTENT_TYPE, build_cancel, parse_invitation
from .msnftp_transfer import MsnftpOffer
from .p2p_transfer import P2PLimits
from .tasks import Tasks

__all__ = ["ClientMsnftp"]

log = logging.getLogger("msnp.msnftp")

SendPayload = Callable[[str, bytes], Awaitable[None]]


class ClientMsnftp:
    """The MSNFTP offers of one client, by (sender, cookie); at most ``limits.max_sessions``."""

    def __init__(
        self,
        limits: P2PLimits,
        own_passport: Callable[[], str],
        send: SendPayload,
        emit: Callable[[Event], None],
    ) -> None:
        self.limits = limits
        self._own_passport = own_passport
        self._send = send
        self._emit = emit
        self._offers: dict[tuple[str, str], MsnftpOffer] = {}
        self._tasks = Tasks()

    def intercept(self, event: Event) -> bool:
        """Whether ``event`` was an MSNFTP invitation message (then it is handled here)."""
        if not isinstance(event, OtherMessageReceived) or event.content_type != CONTENT_TYPE:
            return False
        inv = parse_invitation(event.body)
        if inv is None:
            return False
        key = (event.sender.lower(), inv.cookie)
        offer = self._offers.get(key)
        if offer is not None and inv.command != "INVITE":
            offer.on_answer(inv)
            return True
        if not inv.is_file_transfer:
            return False
        if inv.command != "INVITE" or offer is not None:
            return True  # an answer to an offer we no longer have, or a repeated INVITE
        if len(self._offers) >= self.limits.max_sessions or inv.size is None:
            log.info("MSNFTP: refused a file offer from %s (too many, or no size)", event.sender)
            self.spawn(self.send(event.conversation, build_cancel(inv.cookie)))
            return True
        offer = MsnftpOffer(self, event.conversation, event.sender, inv)
        self._offers[key] = offer
        offer.expire_after(self.limits.file_invite_timeout)
        self._emit(FileOffered(event.conversation, event.sender, offer, event.participants))
        return True

    def forget(self, offer: MsnftpOffer) -> None:
        if self._offers.get(offer.key) is offer:
            del self._offers[offer.key]

    @property
    def own_passport(self) -> str:
        return self._own_passport()

    async def send(self, conversation: str, payload: bytes) -> None:
        try:
            await self._send(conversation, payload)
        except MSNPException as e:
            log.info("MSNFTP: could not answer an invitation: %s", e)

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        self._tasks.spawn(coro, "msnftp-answer")

    async def close(self) -> None:
        for offer in list(self._offers.values()):
            offer.withdraw("the session closed")
        self._offers.clear()
        self._tasks.cancel()
