"""What MSN contacts sent, stored from the moment the MSN client hands it to the bridge until
it is in Matrix: MSN acknowledged the message to its sender when it reached us, so a restart
in between must not lose it.

Only the events that carry a contact's message are kept (text, nudge, other content); the
others (presence, typing, membership) describe a moment that a restart makes obsolete.

While a stored message is handled (:meth:`Inbox.handling`), the record of its copy in Matrix
removes it in the same transaction (:func:`handled_row`): one write instead of two, and no
moment in which a crash would bring the message to Matrix twice.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
import base64
import json
import time

from bridge.db.batch import write_together
from bridge.db.incoming import Incoming
from bridge.db.model import next_seq
from bridge.msnp.events import (
    Event,
    MessageFormat,
    NudgeReceived,
    OtherMessageReceived,
    TextMessageReceived,
)

__all__ = ["KEPT", "Handling", "Inbox", "decode", "encode", "handled_row"]

#: The events kept until handled.
KEPT = (TextMessageReceived, NudgeReceived, OtherMessageReceived)


def encode(evt: Event) -> str:
    """JSON for one of the :data:`KEPT` events."""
    if isinstance(evt, TextMessageReceived):
        fmt = evt.format
        data: dict[str, Any] = {
            "text": evt.text,
            "sender_name": evt.sender_name,
            "format": [
                fmt.font,
                fmt.effects,
                fmt.color,
                fmt.charset,
                fmt.pitch_family,
                fmt.right_to_left,
            ],
        }
    elif isinstance(evt, OtherMessageReceived):
        data = {
            "content_type": evt.content_type,
            "headers": evt.headers,
            "body": base64.b64encode(evt.body).decode(),
        }
    elif isinstance(evt, NudgeReceived):
        data = {}
    else:
        raise TypeError(f"{type(evt).__name__} is not kept")
    data.update(
        conversation=evt.conversation, sender=evt.sender, participants=list(evt.participants)
    )
    return json.dumps(data)


def decode(kind: str, text: str) -> Event:
    data = json.loads(text)
    common = (data["conversation"], data["sender"])
    participants = tuple(data["participants"])
    if kind == TextMessageReceived.__name__:
        font, effects, color, charset, pitch, rtl = data["format"]
        fmt = MessageFormat(font, effects, color, charset, pitch, bool(rtl))
        return TextMessageReceived(*common, data["sender_name"], data["text"], fmt, participants)
    if kind == OtherMessageReceived.__name__:
        body = base64.b64decode(data["body"])
        return OtherMessageReceived(
            *common, data["content_type"], dict(data["headers"]), body, participants
        )
    if kind == NudgeReceived.__name__:
        return NudgeReceived(*common, participants)
    raise ValueError(f"unknown kind of stored message {kind!r}")


class Handling:
    """The stored message being handled; ``removed`` once its removal was written."""

    __slots__ = ("removed", "row")

    def __init__(self, row: Incoming) -> None:
        self.row = row
        self.removed = False


_handling: ContextVar[Handling | None] = ContextVar("inbox_handling", default=None)


def handled_row() -> Handling | None:
    """The stored message being handled in this task, if not removed yet: whoever records its
    copy in Matrix deletes ``row`` in the same transaction and then sets ``removed``."""
    handling = _handling.get()
    return handling if handling is not None and not handling.removed else None


class Inbox:
    """One user's stored received messages."""

    def __init__(self, owner: str) -> None:
        self.owner = owner

    async def keep(self, evt: Event) -> int | None:
        """Store ``evt`` if it is one of :data:`KEPT`; its number for :meth:`done`."""
        if not isinstance(evt, KEPT):
            return None
        row = Incoming(
            owner=self.owner,
            seq=next_seq(),
            kind=type(evt).__name__,
            data=encode(evt),
            received=int(time.time() * 1000),
        )
        # (written together with other writes waiting at the same moment: bridge.db.batch)
        await write_together(Incoming.db, [row.insert_statement()])
        return row.seq

    async def done(self, seq: int) -> None:
        await self._row(seq).delete()

    @contextmanager
    def handling(self, seq: int | None) -> Iterator[Handling | None]:
        """While stored message ``seq`` is handled (None: not stored): see :func:`handled_row`;
        if nobody removed it, call :meth:`done` afterwards."""
        if seq is None:
            yield None
            return
        handling = Handling(self._row(seq))
        token = _handling.set(handling)
        try:
            yield handling
        finally:
            _handling.reset(token)

    def _row(self, seq: int) -> Incoming:
        return Incoming(owner=self.owner, seq=seq, kind="", data="")
