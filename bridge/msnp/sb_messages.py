"""Which event a contact's switchboard message becomes: text, typing, a nudge or another type.

Pure: the pool (:mod:`.pool`) has already joined split messages and handed P2P ones to the
client's P2P layer; it emits what :func:`message_event` returns.
"""

from __future__ import annotations

from .events import (
    Event,
    NudgeReceived,
    OtherMessageReceived,
    TextMessageReceived,
    TypingReceived,
)
from .message import TYPING, TEXT_PLAIN, Message, is_nudge

__all__ = ["message_event"]


def message_event(
    key: str, sender: str, sender_name: str, message: Message, participants: tuple[str, ...]
) -> Event:
    """The event for ``message`` from ``sender`` in conversation ``key``."""
    ctype = message.content_type
    if ctype == TEXT_PLAIN:
        return TextMessageReceived(
            key, sender, sender_name, message.text, message.format, participants
        )
    if ctype == TYPING:
        # the switchboard vouches for the sender; TypingUser is whatever the peer wrote
        return TypingReceived(key, sender, participants)
    if is_nudge(message):
        return NudgeReceived(key, sender, participants)
    return OtherMessageReceived(
        key, sender, ctype, dict(message.headers), message.body, participants
    )
