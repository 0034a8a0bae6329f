"""Outgoing offline messages (MSNP13+): text to an offline contact stored with ``Store2``.

One run (run id and sequence numbers, :class:`~.oim_store.OimRun`) per recipient and session,
as Messenger numbers them; the service's lock-key challenge is answered once and the request
sent again with the same sequence number; the lock key is kept for the session's later
messages. An expired ticket is renewed and the message sent once more (:mod:`.tickets`). Texts longer than one offline message allows are split at character boundaries.
"""

from __future__ import annotations

from typing import Final

from . import oim_store
from .errors import SoapFault
from .login import PassportService
from .oim_store import MAX_OIM_TEXT, OimRun
from .sso import MESSENGER_TICKET
from .tickets import MESSENGER_SECURE, TicketKeeper

__all__ = ["MAX_RUNS", "OimOutbox", "split_oim_text"]

#: Recipients whose runs are remembered (the oldest is forgotten beyond).
MAX_RUNS: Final = 256
#: the service's ticket, messenger.msn.com when Passport issued no messengersecure one
_TICKETS: Final = (MESSENGER_SECURE, MESSENGER_TICKET)


def split_oim_text(text: str, limit: int = MAX_OIM_TEXT) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-8 bytes (CRLF line ends counted)."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for char in text:
        cost = len(char.encode("utf-8")) + (1 if char == "\n" else 0)
        if size + cost > limit and current:
            parts.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += cost
    if current:
        parts.append("".join(current))
    return parts


class OimOutbox:
    """Offline messages from ``sender`` (named ``sender_name``) through ``web`` to ``url``
    with the ``ticket`` of messenger.msn.com / messengersecure.live.com."""

    __slots__ = ("_lock_key", "_runs", "_tickets", "_url", "_web", "protocol", "sender")

    def __init__(
        self, web: PassportService, url: str, tickets: TicketKeeper, sender: str, protocol: int
    ) -> None:
        self._web = web
        self._url = url
        self._tickets = tickets
        self.sender = sender
        self.protocol = protocol
        self._lock_key = ""
        self._runs: dict[str, OimRun] = {}

    def _run(self, recipient: str) -> OimRun:
        key = recipient.lower()
        run = self._runs.pop(key, None) or OimRun()
        self._runs[key] = run  # most recent last
        if len(self._runs) > MAX_RUNS:
            del self._runs[next(iter(self._runs))]
        return run

    async def send(self, recipient: str, sender_name: str, text: str) -> None:
        """Store ``text`` for ``recipient``. Raises :class:`~.errors.ServiceError` (a
        :class:`~.errors.SoapFault` when the service refused it)."""
        run = self._run(recipient)
        for part in split_oim_text(text):
            sequence = run.take()
            for attempt in (1, 2):

                async def store(ticket: str, text: str = part, number: int = sequence) -> None:
                    request = oim_store.store2(
                        ticket,
                        self.sender,
                        sender_name,
                        recipient,
                        text,
                        run_id=run.run_id,
                        sequence=number,
                        lock_key=self._lock_key,
                        protocol=self.protocol,
                    )
                    oim_store.parse_store2(await self._web.post(self._url, request))

                try:
                    await self._tickets.call(_TICKETS, store)
                    break
                except SoapFault as fault:
                    challenge = oim_store.lock_key_challenge(fault)
                    if challenge is None or attempt == 2:
                        raise
                    self._lock_key = oim_store.answer_lock_key(challenge)
