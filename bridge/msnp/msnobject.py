"""MSN objects: the ``<msnobj .../>`` descriptors of display pictures, emoticons and winks.

Contacts advertise their display picture as the last argument of ``ILN``/``NLN``/``CHG``
(URL-encoded XML); custom emoticons travel in ``text/x-mms-emoticon`` messages. The object is
fetched over P2P (see :mod:`.p2p_session`), and ``SHA1D`` (the base64 SHA-1 of the data) is
what identifies a picture for caching. ``SHA1C`` is the base64 SHA-1 of the other fields::

    "Creator" + creator + "Size" + size + "Type" + type + "Location" + location
    + "Friendly" + friendly + "SHA1D" + sha1d

:func:`parse_msnobject` is a single forward scan (no regular expressions) over an input whose
length is checked first, so hostile descriptors cost linear time and bounded memory.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import unquote
import base64
import binascii
import hashlib

from .errors import P2PProtocolError

__all__ = [
    "MAX_MSNOBJ_LENGTH",
    "MSNObject",
    "MSNObjectType",
    "build_msnobject",
    "compute_sha1c",
    "decode_friendly",
    "encode_friendly",
    "parse_emoticons",
    "parse_msnobject",
    "sha1d_of",
]

#: Longest descriptor accepted (real ones are 200-600 characters).
MAX_MSNOBJ_LENGTH: Final = 4096
#: Most attributes accepted in one descriptor.
MAX_ATTRIBUTES: Final = 32
#: Most custom emoticons read from one ``text/x-mms-emoticon`` message.
MAX_EMOTICONS: Final = 16
#: Largest ``Size`` accepted in a descriptor (the fetch applies its own, smaller limit).
MAX_DECLARED_SIZE: Final = 2**31 - 1

_NAME_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:"
)
_ENTITIES: Final = {"quot": '"', "amp": "&", "lt": "<", "gt": ">", "apos": "'"}


class MSNObjectType(IntEnum):
    AVATAR = 1
    CUSTOM_EMOTICON = 2
    DISPLAY_PICTURE = 3
    SHARED_FILE = 4
    BACKGROUND = 5
    HISTORY = 6
    DYNAMIC_DISPLAY_PICTURE = 7
    WINK = 8
    MAP_FILE = 9
    DYNAMIC_BACKGROUND = 10
    VOICE_CLIP = 11
    PLUGIN_STATE = 12
    ROAMING_OBJECT = 13
    SIGNATURE_SOUND = 14


@dataclass(frozen=True, slots=True)
class MSNObject:
    """One parsed descriptor. ``xml`` is the descriptor as received (echoed in fetches)."""

    creator: str
    size: int
    type: int
    location: str
    friendly: str  # the Friendly attribute as on the wire (base64 of UTF-16LE)
    sha1d: str
    sha1c: str
    attributes: tuple[tuple[str, str], ...]
    xml: str

    @property
    def friendly_name(self) -> str:
        """The decoded Friendly name ("" when absent or undecodable)."""
        return decode_friendly(self.friendly)

    @property
    def expected_sha1c(self) -> str:
        return compute_sha1c(
            self.creator, self.size, self.type, self.location, self.friendly, self.sha1d
        )

    @property
    def sha1c_valid(self) -> bool:
        """True when SHA1C is absent or matches the other fields."""
        return not self.sha1c or self.sha1c == self.expected_sha1c

    def get(self, name: str, default: str = "") -> str:
        """Any attribute by name (case-insensitive), e.g. ``contenttype``."""
        lowered = name.lower()
        for key, value in self.attributes:
            if key.lower() == lowered:
                return value
        return default

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is what this descriptor describes (size and SHA1D)."""
        return len(data) == self.size and sha1d_of((data,)) == self.sha1d


def sha1d_of(chunks: Iterable[bytes]) -> str:
    """Base64 SHA-1 of the concatenated chunks (computed without joining them)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def compute_sha1c(
    creator: str, size: int | str, obj_type: int | str, location: str, friendly: str, sha1d: str
) -> str:
    text = (
        f"Creator{creator}Size{size}Type{obj_type}Location{location}"
        f"Friendly{friendly}SHA1D{sha1d}"
    )
    return base64.b64encode(hashlib.sha1(text.encode(), usedforsecurity=False).digest()).decode()


def encode_friendly(name: str) -> str:
    """A Friendly attribute value: base64 of the NUL-terminated UTF-16LE name."""
    return base64.b64encode((name + "\0").encode("utf-16-le", errors="replace")).decode()


def decode_friendly(value: str) -> str:
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return ""
    if len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", errors="replace").split("\0", 1)[0]


def _escape(value: str) -> str:
    return (
        value.replace("&", "&amp;")
        .replace('"', "&quot;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def _unescape(value: str) -> str:
    """XML entity references in an attribute value (one forward pass)."""
    if "&" not in value:
        return value
    out: list[str] = []
    pos = 0
    while True:
        amp = value.find("&", pos)
        if amp < 0:
            out.append(value[pos:])
            return "".join(out)
        out.append(value[pos:amp])
        semi = value.find(";", amp + 1, amp + 12)
        if semi < 0:
            raise P2PProtocolError("unterminated entity in an MSN object")
        name = value[amp + 1 : semi]
        if name in _ENTITIES:
            out.append(_ENTITIES[name])
        elif name.startswith("#x") and 2 < len(name) <= 8:
            out.append(_char(name[2:], 16))
        elif name.startswith("#") and 1 < len(name) <= 8:
            out.append(_char(name[1:], 10))
        else:
            raise P2PProtocolError(f"unknown entity &{name[:10]}; in an MSN object")
        pos = semi + 1


def _char(digits: str, base: int) -> str:
    try:
        code = int(digits, base)
    except ValueError:
        raise P2PProtocolError("bad character reference in an MSN object") from None
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise P2PProtocolError("bad character reference in an MSN object")
    return chr(code)


def _scan_attributes(xml: str) -> list[tuple[str, str]]:
    if not xml.startswith("<msnobj") or len(xml) < 8 or xml[7] not in " \t\r\n/>":
        raise P2PProtocolError("not an <msnobj> descriptor")
    attributes: list[tuple[str, str]] = []
    pos, end = 7, len(xml)
    while True:
        while pos < end and xml[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            raise P2PProtocolError("unterminated <msnobj> descriptor")
        if xml.startswith("/>", pos) or xml[pos] == ">":
            return attributes
        start = pos
        while pos < end and xml[pos] in _NAME_CHARS:
            pos += 1
        name = xml[start:pos]
        if not name or pos >= end or xml[pos] != "=":
            raise P2PProtocolError("malformed attribute in an MSN object")
        pos += 1
        if pos >= end or xml[pos] not in "\"'":
            raise P2PProtocolError("unquoted attribute in an MSN object")
        quote = xml[pos]
        close = xml.find(quote, pos + 1)
        if close < 0:
            raise P2PProtocolError("unterminated attribute in an MSN object")
        attributes.append((name, _unescape(xml[pos + 1 : close])))
        if len(attributes) > MAX_ATTRIBUTES:
            raise P2PProtocolError("too many attributes in an MSN object")
        pos = close + 1
        if pos < end and xml[pos] not in " \t\r\n/>":
            raise P2PProtocolError("missing space between attributes in an MSN object")


def _int_field(value: str, name: str, limit: int) -> int:
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 10 or int(value) > limit:
        raise P2PProtocolError(f"bad {name} {value[:16]!r} in an MSN object")
    return int(value)


def parse_msnobject(value: str, *, max_length: int = MAX_MSNOBJ_LENGTH) -> MSNObject:
    """Parse a descriptor, raw XML or URL-encoded (as in ``NLN``). Raises P2PProtocolError.

    ``Creator``, ``Size``, ``Type`` and ``SHA1D`` are required; names compare without case.
    """
    if len(value) > 3 * max_length:
        raise P2PProtocolError("MSN object descriptor too long")
    xml = value.strip()
    if xml.startswith("%3C") or xml.startswith("%3c"):
        xml = unquote(xml, errors="replace").strip()
    xml = xml.rstrip("\0")
    if len(xml) > max_length:
        raise P2PProtocolError("MSN object descriptor too long")
    attributes = _scan_attributes(xml)
    fields: dict[str, str] = {}
    for name, attr in attributes:
        fields.setdefault(name.lower(), attr)
    creator = fields.get("creator", "").strip()
    sha1d = fields.get("sha1d", "").strip()
    if not creator or len(creator) > 256:
        raise P2PProtocolError("MSN object without a Creator")
    if not sha1d:
        raise P2PProtocolError("MSN object without SHA1D")
    return MSNObject(
        creator=creator,
        size=_int_field(fields.get("size", ""), "Size", MAX_DECLARED_SIZE),
        type=_int_field(fields.get("type", ""), "Type", 0xFFFF),
        location=fields.get("location", ""),
        friendly=fields.get("friendly", ""),
        sha1d=sha1d,
        sha1c=fields.get("sha1c", "").strip(),
        attributes=tuple(attributes),
        xml=xml,
    )


def build_msnobject(
    creator: str,
    data: bytes,
    obj_type: int = MSNObjectType.DISPLAY_PICTURE,
    *,
    location: str = "0",
    friendly: str = "",
) -> MSNObject:
    """A descriptor for ``data`` (our display picture or emoticon), SHA1D and SHA1C computed."""
    size = len(data)
    sha1d = sha1d_of((data,))
    friendly_value = encode_friendly(friendly)
    sha1c = compute_sha1c(creator, size, int(obj_type), location, friendly_value, sha1d)
    attributes = (
        ("Creator", creator),
        ("Size", str(size)),
        ("Type", str(int(obj_type))),
        ("Location", location),
        ("Friendly", friendly_value),
        ("SHA1D", sha1d),
        ("SHA1C", sha1c),
    )
    xml = "<msnobj " + " ".join(f'{k}="{_escape(v)}"' for k, v in attributes) + "/>"
    return MSNObject(
        creator, size, int(obj_type), location, friendly_value, sha1d, sha1c, attributes, xml
    )


def parse_emoticons(text: str) -> list[tuple[str, MSNObject]]:
    """The (shortcut, object) pairs of a ``text/x-mms-emoticon`` body.

    The body alternates shortcuts and descriptors, each followed by a tab. Pairs whose
    descriptor does not parse are skipped; at most :data:`MAX_EMOTICONS` are returned.
    """
    parts = text.split("\t", 2 * MAX_EMOTICONS + 1)[: 2 * MAX_EMOTICONS]
    found: list[tuple[str, MSNObject]] = []
    for shortcut, descriptor in zip(parts[0::2], parts[1::2], strict=False):
        shortcut = shortcut.strip("\r\n")
        if not shortcut or len(shortcut) > 64:
            continue
        try:
            found.append((shortcut, parse_msnobject(descriptor)))
        except P2PProtocolError:
            continue
    return found
