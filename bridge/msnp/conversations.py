"""The conversation methods of :class:`~.client.MSNClient`: text, typing, nudges and invitations.

They go through the pool's switchboards (:mod:`.pool`), a conversation being named by its key
(a contact's passport, or ``group:...``), or to an MSNP18 circle (``group:circle:<id>``,
:mod:`.circle_session`); text to an offline contact falls back to an offline
message at MSNP13+ (:mod:`.offline`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .circles import circle_of_key
from .errors import ErrorCode, MSNPError
from .notification import NotificationSession
from .offline import OfflineMessages
from .pool import GROUP_PREFIX, SwitchboardPool
from .values import MessageFormat

__all__ = ["ConversationMethods"]


class ConversationMethods:
    """Mixed into :class:`~.client.MSNClient`, which owns the pool, the offline messages and
    the notification session these use."""

    __slots__ = ()

    _ns: NotificationSession
    _pool: SwitchboardPool
    _oim: OfflineMessages

    async def open_conversation(self, conversation: str) -> None:
        """Make sure the conversation's switchboard is open and its participants joined
        (re-opening it and calling them if needed) without sending anything, so a failure
        here means nothing was sent. Raises what :meth:`send_text` raises (not 217 at
        MSNP13+, where :meth:`send_text` stores the text as an offline message)."""
        if circle_of_key(conversation):
            self._ns.circles.participants(conversation)  # (raises for an unknown circle)
            return
        try:
            async with self._pool.using(conversation):
                pass
        except MSNPError as e:
            if not self._offline_text_ok(e, conversation):
                raise

    def _offline_text_ok(self, error: MSNPError, conversation: str) -> bool:
        """Whether text to ``conversation`` that failed with ``error`` goes as an OIM."""
        return (
            error.code == ErrorCode.NOT_ONLINE
            and not conversation.startswith(GROUP_PREFIX)
            and self._oim.outbox() is not None
        )

    async def send_text(
        self, conversation: str, text: str, fmt: MessageFormat | None = None
    ) -> None:
        """Send text (split into several messages when longer than one MSG allows).

        Raises MSNPError(217) when the contact is offline (at MSNP13+ the text is then stored
        as an offline message instead, and only a refusal of that raises ServiceError),
        DeliveryFailed on NAK and TransactionTimeout when no ACK arrives in ``ack_timeout``.
        """
        if not text:
            raise ValueError("cannot send an empty message")
        if circle_of_key(conversation):
            await self._ns.circles.send_text(conversation, text)
            return
        try:
            async with self._pool.using(conversation) as sb:
                await sb.send_text(text, fmt)
        except MSNPError as e:
            outbox = self._oim.outbox()
            if outbox is None or not self._offline_text_ok(e, conversation):
                raise
            await outbox.send(conversation, self._ns.friendly_name, text)

    async def send_typing(self, conversation: str) -> None:
        if circle_of_key(conversation):
            return  # (typing is not sent to circles)
        async with self._pool.using(conversation) as sb:
            await sb.send_typing()

    async def send_nudge(self, conversation: str) -> None:
        async with self._pool.using(conversation) as sb:
            await sb.send_nudge()

    async def _send_invitation(self, conversation: str, payload: bytes) -> None:
        async with self._pool.using(conversation) as sb:
            await sb.send_payload(payload, "N")

    async def invite(self, conversation: str, passport: str) -> str:
        """Bring ``passport`` into the conversation; returns its (possibly new) key."""
        async with self._pool.using(conversation) as sb:
            await sb.call(passport)
            return sb.key

    async def leave(self, conversation: str) -> None:
        if not circle_of_key(conversation):  # (a circle is left on the server, not here)
            await self._pool.leave(conversation)

    def restore_group(self, conversation: str, participants: Iterable[str]) -> None:
        """Make a ``group:`` key from an earlier session usable: sending to it re-opens a
        switchboard and invites ``participants`` (ignored while the key is known)."""
        self._pool.restore_group(conversation, participants)

    def participants(self, conversation: str) -> tuple[str, ...]:
        if circle_of_key(conversation):
            return self._ns.circles.participants(conversation)
        return self._pool.participants(conversation)

    def conversations(self) -> dict[str, tuple[str, ...]]:
        """Open switchboard conversations and joined circles, and their participants."""
        return {**self._pool.conversations(), **self._ns.circles.conversations()}
