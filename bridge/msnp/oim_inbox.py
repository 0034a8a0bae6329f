"""Incoming offline messages (MSNP13+): fetched when the server announces them, in order.

The notification server's mail data (at login, and whenever one arrives while we are online)
lists the waiting messages; each is fetched once with ``GetMessage`` (``GetMetadata`` first
when the list was "too-large"), the batch is put in the order its senders wrote it
(:func:`~.oim.sort_messages`) and reported as :class:`~.events.OfflineMessageReceived`, with
the time the server received it. Nothing is deleted here: the receiver calls
:meth:`OimInbox.delete` once the message is safely delivered (the bridge: once Matrix
accepted it), so a crash in between leaves it on the server to be fetched again.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Callable, Iterable
from functools import partial
import asyncio
import logging

from . import oim
from .errors import MSNPException
from .events import Event, OfflineMessageReceived
from .login import PassportService
from .oim import MailData
from .soap import SoapRequest
from .sso import MESSENGER_TICKET
from .tasks import Tasks
from .tickets import TicketKeeper

__all__ = ["MAX_SEEN", "OimInbox"]

log = logging.getLogger("msnp.oim")

#: Message ids remembered as already reported (so a repeated notice does not repeat them).
MAX_SEEN: Final = 4096


def _get_message(ticket: str, message_id: str) -> SoapRequest:
    return oim.get_message(ticket, message_id)


class OimInbox:
    """The offline messages of one session, fetched through ``web`` from ``rsi_url`` with the
    messenger.msn.com ticket of ``tickets`` (renewed when the service says it expired)."""

    __slots__ = ("_emit", "_lock", "_rsi_url", "_seen", "_tasks", "_tickets", "_web")

    def __init__(
        self,
        web: PassportService,
        rsi_url: str,
        tickets: TicketKeeper,
        emit: Callable[[Event], None],
    ) -> None:
        self._web = web
        self._rsi_url = rsi_url
        self._tickets = tickets
        self._emit = emit
        self._seen: dict[str, None] = {}
        self._lock = asyncio.Lock()  # one batch at a time: they are reported in order
        self._tasks = Tasks()

    async def _rsi(self, request: Callable[[str], SoapRequest]) -> bytes:
        async def attempt(ticket: str) -> bytes:
            return await self._web.post(self._rsi_url, request(ticket))

        return await self._tickets.call((MESSENGER_TICKET,), attempt)

    def announced_in(self, body: bytes) -> None:
        """The body of the server's mail-data notice: fetch what it lists."""
        lines = body.decode("utf-8", "replace").splitlines()
        field = next((x for x in lines if x.lower().startswith("mail-data:")), ":")
        try:
            mail_data = oim.parse_mail_data(field.partition(":")[2])
        except MSNPException as e:
            log.warning("unreadable offline-message notice: %s", e)
            return
        self.announced(mail_data)

    def announced(self, mail_data: MailData) -> None:
        """The server listed waiting messages: fetch them in the background."""

        async def run() -> None:
            async with self._lock:
                try:
                    await self.fetch(mail_data)
                except MSNPException as e:
                    log.warning("offline messages not fetched: %s", e)

        self._tasks.spawn(run(), "msnp-oim")

    def close(self) -> None:
        """Stop fetching (the session ended)."""
        self._tasks.cancel()

    async def fetch(self, mail_data: MailData) -> int:
        """Fetch and report the messages ``mail_data`` lists (not reported before); how many
        were reported. A message that cannot be fetched or read is logged and skipped."""
        if mail_data.too_large:
            data = await self._rsi(oim.get_metadata)
            mail_data = oim.parse_get_metadata(data)
        fetched: list[oim.OfflineMessage] = []
        for info in mail_data.messages:
            if info.message_id in self._seen:
                continue
            try:
                data = await self._rsi(partial(_get_message, message_id=info.message_id))
                message = oim.parse_get_message(data, info.message_id, received=info.received)
            except MSNPException as e:
                log.warning("offline message %s not fetched: %s", info.message_id, e)
                continue
            if not message.sender:
                message = oim.OfflineMessage(
                    message.message_id,
                    info.sender,
                    message.sender_name,
                    message.text,
                    message.sent,
                    message.run_id,
                    message.sequence,
                )
            fetched.append(message)
        for message in oim.sort_messages(fetched):
            self._remember(message.message_id)
            self._emit(
                OfflineMessageReceived(
                    message.message_id,
                    message.sender,
                    message.sender_name or message.sender,
                    message.text,
                    message.sent.timestamp() if message.sent is not None else None,
                )
            )
        return len(fetched)

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        if len(self._seen) > MAX_SEEN:
            del self._seen[next(iter(self._seen))]

    async def delete(self, message_ids: Iterable[str]) -> None:
        """``DeleteMessages``: remove delivered messages from the server."""
        ids = list(message_ids)
        if ids:
            data = await self._rsi(lambda t: oim.delete_messages(t, ids))
            oim.parse_delete_messages(data)
