"""Server-side verification of ``CHL``/``QRY`` challenge answers.

Two algorithms existed: up to MSNP10 the answer is ``md5(challenge + client key)`` in hex;
from MSNP11 on it is the "mixed" hash (an MD5 of challenge and product key combined with a
64-bit checksum over challenge and product id). Written from public protocol descriptions.
"""

from __future__ import annotations

from typing import Final
import hashlib
import secrets
import struct

__all__ = ["MSNP8_CLIENTS", "MSNP11_CLIENTS", "make_challenge", "msnp11_answer", "verify"]

#: client id -> client key, MSNP8-10 (md5) algorithm
MSNP8_CLIENTS: Final[dict[str, str]] = {
    "msmsgs@msnmsgr.com": "Q1P7W2E4J9R8U3S5",
    "PROD0038W!61ZTF9": "VT6PX?UQTM4WM%YR",
}
#: product id -> product key, MSNP11+ algorithm
MSNP11_CLIENTS: Final[dict[str, str]] = {
    "PROD0090YUAUV{2B": "YMM8C_H7KCQ2S_KL",  # MSNP11-12
    "PROD0101{0RM?UBW": "CFHUR$52U_{VIX5T",
    "PROD01065C%ZFN6F": "O4BG@C7BWLYQX?5G",  # MSNP13-14
    "PROD0112J1LW7%NB": "RH96F{PHI8PPX_TJ",
    "PROD0113H11T8$X_": "RG@XY*28Q5QHS%Q5",  # MSNP15+ (also the OIM lock key)
    "PROD0114ES4Z%Q5W": "PK}_A_0N_K%O?A9S",
    "PROD0118R6%2WYOS": "YIXPX@5I2P0UT*LK",
    "PROD0119GSJUC$18": "ILTXC!4IXB5FB*PX",
    "PROD0120PW!CCV9@": "C1BX{V4W}Q3*10SM",
}

_MASK31: Final = 0x7FFFFFFF
_MULTIPLIER: Final = 0x0E79A9C1


def make_challenge() -> str:
    """A fresh 20-digit challenge string."""
    return "".join(secrets.choice("0123456789") for _ in range(20))


def msnp8_answer(challenge: str, key: str) -> str:
    return hashlib.md5((challenge + key).encode("ascii")).hexdigest()


def msnp11_answer(challenge: str, product_id: str, product_key: str) -> str:
    digest = hashlib.md5((challenge + product_key).encode("ascii")).digest()
    words = struct.unpack("<4I", digest)
    h0, h1, h2, h3 = (w & _MASK31 for w in words)
    data = (challenge + product_id).encode("ascii")
    if len(data) % 8:
        data += b"0" * (8 - len(data) % 8)
    parts = struct.unpack(f"<{len(data) // 4}I", data)
    high = low = 0
    for i in range(0, len(parts), 2):
        step = (parts[i] * _MULTIPLIER) % _MASK31
        step = (h0 * (step + high) + h1) % _MASK31
        high = (h2 * ((parts[i + 1] + step) % _MASK31) + h3) % _MASK31
        low += high + step
    high = (high + h1) % _MASK31
    low = (low + h3) % _MASK31
    mixed = (words[0] ^ high, words[1] ^ low, words[2] ^ high, words[3] ^ low)
    return struct.pack("<4I", *mixed).hex()


def verify(challenge: str, client_id: str, answer: str, *, protocol: int) -> bool:
    """Whether ``answer`` is a correct reply to ``challenge`` for ``client_id``.

    Both algorithms are accepted at every version, since a client may announce a product id
    belonging to either; the protocol only decides which one is tried first.
    """
    answer = answer.strip().lower()
    candidates: list[str] = []
    if client_id in MSNP11_CLIENTS:
        candidates.append(msnp11_answer(challenge, client_id, MSNP11_CLIENTS[client_id]))
    if client_id in MSNP8_CLIENTS:
        candidates.append(msnp8_answer(challenge, MSNP8_CLIENTS[client_id]))
    if protocol < 11:
        candidates.reverse()
    return any(secrets.compare_digest(answer, c) for c in candidates)
