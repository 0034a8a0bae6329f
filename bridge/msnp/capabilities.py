"""MSN client capability flags: the number a client sends in ``CHG`` and reads in ILN/NLN/JOI.

The low bits are independent features (ink, multi-packet messages, winks, ...). The top four
bits are not flags but a number: the highest MSN client protocol (``MSNC1`` = MSN Messenger
6.0 ... ``MSNC7`` = Messenger 8.1) the client speaks. ``MSNC1`` and later mean the client
speaks P2P/MSNSLP over the switchboard (display pictures, custom emoticons, P2P files).
:class:`ClientCapabilities` therefore has composite members for ``MSNC2`` and up, and
:func:`msnc_version` / :func:`with_msnc` read and set that number.
"""

from __future__ import annotations

from typing import Final
from enum import IntFlag

__all__ = [
    "EXTENDED_P2P_V2",
    "MSNC_MASK",
    "OWN_EXTENDED",
    "ClientCapabilities",
    "msnc_version",
    "parse_capabilities",
    "parse_extended_capabilities",
    "supports_chunking",
    "supports_p2p",
    "with_msnc",
]

#: Extended capabilities (MSNP16+, after the ``:``): the client speaks P2P v2 (see .p2p_v2).
EXTENDED_P2P_V2: Final = 0x20
#: The extended capabilities this library advertises: none. It frames P2P as v1 only, so a
#: Windows Live Messenger 2009 contact (which offers v2) stays on v1 with us.
OWN_EXTENDED: Final = 0

#: The bits that hold the MSNC version number.
MSNC_MASK: Final = 0xF0000000
_MSNC_SHIFT: Final = 28


class ClientCapabilities(IntFlag):
    """Client capability bits (MSNP8+). ``MSNCn`` members are values of the top nibble."""

    NONE = 0
    MOBILE_ONLINE = 0x00000001
    MSN8_USER = 0x00000002
    INK_GIF = 0x00000004  # renders ink sent as GIF (image/gif)
    INK_ISF = 0x00000008  # renders ink sent as ISF (application/x-ms-ink)
    WEBCAM = 0x00000010
    MULTI_PACKET = 0x00000020  # reassembles MSGs split with Message-ID/Chunks/Chunk
    MOBILE_ENABLED = 0x00000040
    DIRECT_DEVICE = 0x00000080
    WEB_IM = 0x00000200
    FEDERATED = 0x00000800
    HAS_SPACE = 0x00001000
    MEDIA_CENTER = 0x00002000
    DIRECT_IM = 0x00004000
    WINKS = 0x00008000
    SHARED_SEARCH = 0x00010000
    BOT = 0x00020000
    VOICE_CLIPS = 0x00040000
    SECURE_CHANNEL = 0x00080000
    SIP_INVITE = 0x00100000
    SHARED_FOLDERS = 0x00400000
    # MSN client protocol versions (the top nibble holds a number, not bits)
    MSNC1 = 0x10000000  # MSN Messenger 6.0: MSNSLP/P2P, MSN objects
    MSNC2 = 0x20000000  # 6.1
    MSNC3 = 0x30000000  # 6.2
    MSNC4 = 0x40000000  # 7.0
    MSNC5 = 0x50000000  # 7.5
    MSNC6 = 0x60000000  # 8.0
    MSNC7 = 0x70000000  # 8.1


def msnc_version(capabilities: int) -> int:
    """The MSNC version number (0: none, i.e. no P2P) in a capability value."""
    return (capabilities & MSNC_MASK) >> _MSNC_SHIFT


def with_msnc(capabilities: int, version: int) -> ClientCapabilities:
    """``capabilities`` with its MSNC version replaced by ``version`` (0-15)."""
    if not 0 <= version <= 15:
        raise ValueError(f"MSNC version {version} is out of range")
    return ClientCapabilities((capabilities & ~MSNC_MASK & 0xFFFFFFFF) | (version << _MSNC_SHIFT))


def supports_p2p(capabilities: int) -> bool:
    """Whether a client with these capabilities speaks MSNSLP over the switchboard."""
    return msnc_version(capabilities) >= 1


def supports_chunking(capabilities: int) -> bool:
    """Whether a client reassembles multi-packet messages."""
    return bool(capabilities & ClientCapabilities.MULTI_PACKET)


def parse_capabilities(token: str | None) -> int:
    """The capability number in an ILN/NLN/JOI/IRO argument (``"0"`` when absent or bad).

    MSNP16+ sends ``basic:extended``; the basic part is returned. Values are unsigned 32-bit.
    """
    if not token:
        return 0
    basic = token.split(":", 1)[0]
    if not (basic.isascii() and basic.isdigit()) or len(basic) > 10:
        return 0
    value = int(basic)
    return value if value <= 0xFFFFFFFF else 0


def parse_extended_capabilities(token: str | None) -> int:
    """The extended part of an MSNP16+ ``basic:extended`` capability token (0 when absent)."""
    if not token or ":" not in token:
        return 0
    extended = token.split(":", 1)[1]
    if not (extended.isascii() and extended.isdigit()) or len(extended) > 10:
        return 0
    value = int(extended)
    return value if value <= 0xFFFFFFFF else 0
