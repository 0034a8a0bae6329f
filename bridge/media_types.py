"""What a file is, read from its first bytes: the MIME type and the Matrix message type.

Names and headers that arrive from MSN say little (a file's name is whatever the sender typed),
so the bridge looks at the content; the name's extension only decides among types the content
does not tell apart, and anything unknown is ``application/octet-stream``.
"""

from __future__ import annotations

from typing import Final
import mimetypes

from mautrix.types import MessageType

__all__ = ["SNIFF_BYTES", "message_type", "sniff"]

#: How many leading bytes :func:`sniff` needs.
SNIFF_BYTES: Final = 64

_MAGIC: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"\x1a\x45\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"Rar!\x1a\x07", "application/vnd.rar"),
    (0, b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"MZ", "application/vnd.microsoft.portable-executable"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (4, b"ftypqt", "video/quicktime"),
    (4, b"ftyp", "video/mp4"),
)
#: RIFF containers: the form type at offset 8.
_RIFF: Final = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}
#: Types the content cannot tell apart from others of the same container.
_REFINE_BY_NAME: Final = frozenset({"application/zip", "application/x-ole-storage"})


def sniff(head: bytes, filename: str = "") -> str:
    """The MIME type of a file whose first bytes are ``head`` (at least :data:`SNIFF_BYTES`
    when the file is that long)."""
    if head.startswith(b"RIFF") and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        found: str | None = "audio/mpeg"  # an MPEG audio frame sync
    else:
        found = next(
            (t for off, magic, t in _MAGIC if head[off : off + len(magic)] == magic), None
        )
    if found is None or found in _REFINE_BY_NAME:
        guessed, _ = mimetypes.guess_type(filename or "", strict=False)
        if found is None and guessed and guessed.startswith("text/") and _is_text(head):
            return guessed
        if found is not None and guessed and guessed.startswith("application/"):
            return guessed  # a .docx is a zip, a .doc an OLE file
        if found is None:
            return "text/plain" if head and _is_text(head) else "application/octet-stream"
    return found


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut at the end
            return False
    return not any(b < 0x09 or 0x0D < b < 0x20 for b in head if b != 0x1B)


def message_type(mime: str) -> MessageType:
    """The Matrix message type for a file of type ``mime``."""
    kind = mime.split("/", 1)[0]
    if kind == "image":
        return MessageType.IMAGE
    if kind == "video":
        return MessageType.VIDEO
    if kind == "audio":
        return MessageType.AUDIO
    return MessageType.FILE
