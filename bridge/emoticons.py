"""Custom emoticons, ink and datacasts from one user's MSN contacts.

A contact's client announces its custom emoticons (``text/x-mms-emoticon``: shortcuts and MSN
objects) just before the text that uses them. The announcement is kept for the next text from
that contact in that conversation; the pictures are fetched over P2P (each SHA1D once: the
``mxc://`` URI is remembered) and the text is shown with them inline (``<img>``, the shortcut as
alt text). Fetching is bounded in time (:data:`FETCH_TIMEOUT`): a picture that does not arrive
leaves its shortcut as text.

Ink sent as GIF (``image/gif``, ``base64:`` body) becomes an image; other datacasts (winks, voice
clips) become one short notice naming what arrived.
"""

from __future__ import annotations

from typing import Final
from collections import OrderedDict
from collections.abc import Callable
from html import escape
import asyncio
import base64
import binascii

from mautrix.appservice import IntentAPI
from mautrix.types import ContentURI
from mautrix.util.logging import TraceLogger

from bridge import lazy_log
from bridge.media_types import sniff
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPException
from bridge.msnp.events import OtherMessageReceived, TextMessageReceived
from bridge.msnp.msnobject import MAX_EMOTICONS, MSNObject, parse_emoticons

__all__ = [
    "EMOTICON_TYPES",
    "FETCH_TIMEOUT",
    "Emoticons",
    "datacast_notice",
    "decode_ink",
    "inline",
]

EMOTICON_TYPES: Final = frozenset({"text/x-mms-emoticon", "text/x-mms-animemoticon"})
#: The longest a text waits for its emoticons' pictures.
FETCH_TIMEOUT: Final = 10.0
#: Announcements kept (one per contact and conversation), and pictures remembered.
MAX_PENDING: Final = 256
MAX_REMEMBERED: Final = 2048
#: Largest ink picture accepted, in bytes of base64.
MAX_INK: Final = 512 * 1024

_DATACASTS: Final = {"2": "a wink", "3": "a voice clip", "4": "an action message"}


class Emoticons:
    """One user's announced emoticons and the pictures fetched for them."""

    #: SHA1D -> mxc:// of pictures uploaded (shared by every user: the same data)
    uploaded: OrderedDict[str, ContentURI] = OrderedDict()

    def __init__(self, client: Callable[[], MSNClient | None], log: TraceLogger) -> None:
        self._client = client
        self.log = lazy_log.child(log, "emoticons")
        self._pending: OrderedDict[tuple[str, str], list[tuple[str, MSNObject]]] = OrderedDict()
        self.fetched = 0

    def announce(self, evt: OtherMessageReceived) -> None:
        """Keep the emoticons of ``evt`` for the sender's next text."""
        text = evt.body[: 64 * 1024].decode("utf-8", errors="replace")
        found = parse_emoticons(text)[:MAX_EMOTICONS]
        if not found:
            return
        key = (evt.conversation, evt.sender.lower())
        self._pending.pop(key, None)
        self._pending[key] = found
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)

    async def images_for(self, evt: TextMessageReceived, intent: IntentAPI) -> dict[str, str]:
        """shortcut -> mxc:// for the announced emoticons ``evt`` uses (fetched if needed)."""
        found = self._pending.pop((evt.conversation, evt.sender.lower()), None)
        if not found:
            return {}
        used = [(s, obj) for s, obj in found if s in evt.text]
        images: dict[str, str] = {}
        try:
            async with asyncio.timeout(FETCH_TIMEOUT):
                for shortcut, obj in used:
                    mxc = await self._picture(evt.sender, obj, intent)
                    if mxc:
                        images[shortcut] = mxc
        except TimeoutError:
            self.log.info("The emoticons of %s did not arrive in time", evt.sender)
        return images

    async def _picture(self, sender: str, obj: MSNObject, intent: IntentAPI) -> str | None:
        known = self.uploaded.get(obj.sha1d)
        if known:
            self.uploaded.move_to_end(obj.sha1d)
            return known
        client = self._client()
        if client is None:
            return None
        try:
            data = await client.p2p.fetch_object(sender, obj)
        except MSNPException as e:
            self.log.info("Could not fetch an emoticon of %s: %s", sender, e)
            return None
        self.fetched += 1
        mxc = await intent.upload_media(data, mime_type=_image_type(data), filename="emoticon")
        self.uploaded[obj.sha1d] = mxc
        while len(self.uploaded) > MAX_REMEMBERED:
            self.uploaded.popitem(last=False)
        return mxc


def _image_type(data: bytes) -> str:
    mime = sniff(data[:64])
    return mime if mime.startswith("image/") else "image/png"


def inline(content: dict[str, object], images: dict[str, str]) -> dict[str, object]:
    """``content`` (from :func:`bridge.formatter.msn_to_matrix`) with the shortcuts of
    ``images`` shown as inline pictures."""
    if not images:
        return content
    html = content.get("formatted_body")
    if not isinstance(html, str):
        body = str(content.get("body", ""))
        html = escape(body, quote=False).replace("\n", "<br>")
    # longest first, and in one pass: a shortcut inside another is not replaced twice
    pieces = [html]
    for shortcut in sorted(images, key=len, reverse=True):
        token = escape(shortcut, quote=False)
        img = (
            f'<img src="{escape(images[shortcut])}" alt="{escape(shortcut)}" '
            f'title="{escape(shortcut)}" height="19">'
        )
        split: list[str] = []
        for i, piece in enumerate(pieces):
            if i % 2:  # already an <img>
                split.append(piece)
                continue
            parts = piece.split(token)
            for j, part in enumerate(parts):
                if j:
                    split.append(img)
                split.append(part)
        pieces = split
    return {**content, "format": "org.matrix.custom.html", "formatted_body": "".join(pieces)}


def decode_ink(evt: OtherMessageReceived) -> bytes | None:
    """The GIF of ink sent as ``image/gif`` (a ``base64:`` body), or None."""
    body = evt.body.strip()
    if not body.startswith(b"base64:") or len(body) > MAX_INK:
        return None
    try:
        data = base64.b64decode(body[len(b"base64:") :], validate=False)
    except (binascii.Error, ValueError):
        return None
    return data if data.startswith((b"GIF87a", b"GIF89a")) else None


def datacast_notice(evt: OtherMessageReceived) -> str | None:
    """The notice for a wink, voice clip or other datacast (None: not one of those)."""
    fields = {}
    for line in evt.body[:4096].decode("utf-8", errors="replace").splitlines():
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    what = _DATACASTS.get(fields.get("ID", ""))
    return f"Sent {what}, which the bridge cannot show in Matrix." if what else None
