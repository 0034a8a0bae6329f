"""Answers to the notification server's ``CHL`` challenge (sent back with ``QRY``).

The server sends ``CHL 0 <challenge>`` now and then; the client must answer with
``QRY <trid> <client id> 32`` followed by a 32-character lower-case hex digest, or it is
disconnected with error 540. Two algorithms exist:

* MSNP6-MSNP10: the MD5 digest of the challenge followed by the client's secret key.
* MSNP11 and later: the MD5 digest of challenge + product key is turned into four
  31-bit factors; the challenge + product id, read as little-endian 32-bit words, is run
  through a small multiply-and-modulo hash with those factors; the resulting 64-bit key is
  XOR-ed over the digest.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

from typing import Final
import hashlib
import struct

__all__ = [
    "MSNP7_CLIENT_ID",
    "MSNP7_CLIENT_KEY",
    "MSNP10_CLIENT_ID",
    "MSNP10_CLIENT_KEY",
    "MSNP11_PRODUCT_ID",
    "MSNP11_PRODUCT_KEY",
    "MSNP13_PRODUCT_ID",
    "MSNP13_PRODUCT_KEY",
    "MSNP15_PRODUCT_ID",
    "MSNP15_PRODUCT_KEY",
    "answer",
    "client_id_for",
    "md5_answer",
    "msnp11_answer",
]

#: MSN Messenger 4.x-6.x identity, accepted for MSNP6-MSNP9 (and by lenient servers up to 10).
MSNP7_CLIENT_ID: Final = "msmsgs@msnmsgr.com"
MSNP7_CLIENT_KEY: Final = "Q1P7W2E4J9R8U3S5"
#: MSN Messenger 6.2 identity, used for MSNP10.
MSNP10_CLIENT_ID: Final = "PROD0038W!61ZTF9"
MSNP10_CLIENT_KEY: Final = "VT6PX?UQTM4WM%YR"
#: MSN Messenger 7.0 identity: the MSNP11 algorithm, valid for MSNP11 and MSNP12.
MSNP11_PRODUCT_ID: Final = "PROD0090YUAUV{2B"
MSNP11_PRODUCT_KEY: Final = "YMM8C_H7KCQ2S_KL"
#: Windows Live Messenger 8.0-8.1 identity (MSNP13-14), same algorithm.
MSNP13_PRODUCT_ID: Final = "PROD01065C%ZFN6F"
MSNP13_PRODUCT_KEY: Final = "O4BG@C7BWLYQX?5G"
#: Windows Live Messenger 8.5 and 2009 identity (MSNP15-18; also the OIM lock key's).
MSNP15_PRODUCT_ID: Final = "PROD0113H11T8$X_"
MSNP15_PRODUCT_KEY: Final = "RG@XY*28Q5QHS%Q5"

#: (first protocol version, product id, product key) of the MSNP11 algorithm, newest first.
_PRODUCTS: Final = (
    (15, MSNP15_PRODUCT_ID, MSNP15_PRODUCT_KEY),
    (13, MSNP13_PRODUCT_ID, MSNP13_PRODUCT_KEY),
    (11, MSNP11_PRODUCT_ID, MSNP11_PRODUCT_KEY),
)

_MODULUS: Final = 0x7FFFFFFF
_MULTIPLIER: Final = 0x0E79A9C1


def md5_answer(challenge: str, key: str) -> str:
    """The MSNP6-MSNP10 answer: ``md5(challenge + key)`` as 32 lower-case hex digits."""
    return hashlib.md5((challenge + key).encode("ascii")).hexdigest()


def msnp11_answer(challenge: str, product_id: str, product_key: str) -> str:
    """The MSNP11+ answer for ``challenge`` with the given product id and key."""
    digest = hashlib.md5((challenge + product_key).encode("ascii")).digest()
    digest_words = struct.unpack("<4I", digest)
    a, b, c, d = (word & _MODULUS for word in digest_words)

    data = (challenge + product_id).encode("ascii")
    if len(data) % 8:
        data += b"0" * (8 - len(data) % 8)
    words = struct.unpack(f"<{len(data) // 4}I", data)

    high = low = 0
    for first, second in zip(words[0::2], words[1::2], strict=True):
        step = (first * _MULTIPLIER) % _MODULUS
        step = (a * (step + high) + b) % _MODULUS
        high = (c * ((second + step) % _MODULUS) + d) % _MODULUS
        low += high + step
    high = (high + b) % _MODULUS
    low = (low + d) % _MODULUS

    # The key is XOR-ed over the *unmasked* digest words (high, low, high, low).
    mixed = (
        digest_words[0] ^ high,
        digest_words[1] ^ low,
        digest_words[2] ^ high,
        digest_words[3] ^ low,
    )
    return struct.pack("<4I", *mixed).hex()


def client_id_for(protocol: int) -> str:
    """The client id sent in ``QRY`` for a negotiated protocol version."""
    for first, product_id, _ in _PRODUCTS:
        if protocol >= first:
            return product_id
    if protocol == 10:
        return MSNP10_CLIENT_ID
    return MSNP7_CLIENT_ID


def answer(challenge: str, protocol: int) -> tuple[str, str]:
    """``(client_id, digest)`` to send in ``QRY`` for ``CHL`` at the given protocol version.

    Raises :class:`ValueError` unless the challenge is a non-empty run of printable,
    non-space ASCII (real challenges are 20 decimal digits; the algorithms work on ASCII).
    """
    if not (challenge.isascii() and challenge.isprintable()) or " " in challenge or not challenge:
        raise ValueError(f"invalid challenge {challenge[:40]!r}")
    for first, product_id, key in _PRODUCTS:
        if protocol >= first:
            return product_id, msnp11_answer(challenge, product_id, key)
    if protocol == 10:
        return MSNP10_CLIENT_ID, md5_answer(challenge, MSNP10_CLIENT_KEY)
    return MSNP7_CLIENT_ID, md5_answer(challenge, MSNP7_CLIENT_KEY)
