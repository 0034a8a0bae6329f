"""Matrix events other than messages, in a portal room: each gets an MSN meaning or a clear
answer. A reaction becomes a short text (``* reacted 👍 to "first words…"``, unless
``bridge.reactions_as_text`` is off); a redaction, a reaction when that is off, and any other
event MSN cannot carry get a failed send status saying why."""

from __future__ import annotations

from mautrix.types import (
    Event,
    EventType,
    MessageStatusReason,
    MessageType,
    ReactionEvent,
    RedactionEvent,
    TextMessageEventContent,
)

from bridge.texts import SendFailure

from .interfaces import PortalOwner
from .send_status import send_status

__all__ = ["SNIPPET_LENGTH", "handle_other_event", "reaction_text"]

#: How much of the message reacted to is quoted.
SNIPPET_LENGTH = 30


def reaction_text(key: str, body: str | None) -> str:
    """The text a reaction with ``key`` to a message whose text is ``body`` becomes."""
    key = " ".join(key.split())[:16] or "?"
    if not body:
        return f"* reacted {key} to a message"
    words = " ".join(body.split())
    snippet = words
    if len(words) > SNIPPET_LENGTH:
        cut = words[: SNIPPET_LENGTH + 1]
        space = cut.rfind(" ")  # after whole words, unless a word is very long
        snippet = (cut[:space] if space > SNIPPET_LENGTH // 2 else cut[:-1]).rstrip() + "…"
    return f'* reacted {key} to "{snippet}"'


def _unsupported(what: str) -> SendFailure:
    return SendFailure(what, MessageStatusReason.UNSUPPORTED)


async def handle_other_event(portal: object, user: PortalOwner, evt: Event) -> None:
    """``evt`` (not a message) from the owner in ``portal`` (a :class:`~bridge.portal.Portal`)."""
    from . import Portal  # (it uses this module's siblings)

    assert isinstance(portal, Portal)
    if isinstance(evt, ReactionEvent) and portal.config.get("bridge.reactions_as_text", True):
        relates = evt.content.relates_to
        body, _ = await portal.from_matrix._quoted(relates.event_id)
        text = reaction_text(relates.key or "", body)
        content = TextMessageEventContent(msgtype=MessageType.TEXT, body=text)
        await portal.from_matrix.handle_message(user, content, evt.event_id)
        return
    if isinstance(evt, ReactionEvent):
        failure = _unsupported("reactions are not sent to MSN (bridge.reactions_as_text is off)")
    elif isinstance(evt, RedactionEvent) or evt.type == EventType.ROOM_REDACTION:
        failure = _unsupported("MSN cannot delete a message once it was sent")
    else:
        failure = _unsupported(f"MSN has nothing like this event ({evt.type.t})")
    await send_status(portal, user, evt.event_id, None, failure)
