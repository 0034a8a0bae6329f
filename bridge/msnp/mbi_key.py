"""The MBI key: the ``USR SSO S`` answer (``MSGUSRKEY`` blob) to the server's nonce.

It is computed from the binary secret Passport issued with the ``messengerclear.live.com``
ticket (:mod:`.sso`):

* key1 is the base64-decoded binary secret; key2 and key3 are derived from it with HMAC-SHA1
  and the constants ``WS-SecureConversationSESSION KEY HASH`` / ``... ENCRYPTION``;
* the blob is a 28-byte little-endian header (28, CBC=1, 3DES=0x6603, SHA1=0x8004, IV length
  8, hash length 20, cipher length), an 8-byte IV, HMAC-SHA1(key2, nonce) and the 3DES-CBC
  encryption with key3 of the nonce padded PKCS#5-style (eight 0x08 bytes for the usual
  64-character nonce); base64-encoded.
"""

from __future__ import annotations

from typing import Final
import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from .errors import RemoteProtocolError

try:  # cryptography >= 43 keeps 3DES among the "decrepit" algorithms
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

__all__ = ["derive_key", "mbi_key_response"]

_HASH_MAGIC: Final = b"WS-SecureConversationSESSION KEY HASH"
_ENCRYPTION_MAGIC: Final = b"WS-SecureConversationSESSION KEY ENCRYPTION"
_CRYPT_MODE_CBC: Final = 1
_CALG_3DES: Final = 0x6603
_CALG_SHA1: Final = 0x8004


def derive_key(key: bytes, magic: bytes) -> bytes:
    """The 24-byte WS-SecureConversation key derived from ``key`` for ``magic``."""

    def mac(message: bytes) -> bytes:
        return hmac.new(key, message, hashlib.sha1).digest()

    first = mac(magic)
    second = mac(first)
    return mac(first + magic) + mac(second + magic)[:4]


def mbi_key_response(binary_secret: str, nonce: str, *, iv: bytes | None = None) -> str:
    """The base64 ``MSGUSRKEY`` blob answering ``nonce`` with the ``messengerclear.live.com``
    binary secret; ``iv`` (8 bytes) is random unless given (tests)."""
    try:
        key1 = base64.b64decode(binary_secret.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise RemoteProtocolError("the binary secret is not base64") from e
    if not key1:
        raise RemoteProtocolError("empty binary secret")
    if iv is None:
        iv = os.urandom(8)
    if len(iv) != 8:
        raise ValueError("the IV must be 8 bytes")
    key2 = derive_key(key1, _HASH_MAGIC)
    key3 = derive_key(key1, _ENCRYPTION_MAGIC)
    try:
        challenge = nonce.encode("ascii")
    except UnicodeEncodeError as e:
        raise RemoteProtocolError("the SSO nonce is not ASCII") from e
    digest = hmac.new(key2, challenge, hashlib.sha1).digest()
    # PKCS#5 padding: for the usual 64-character nonce, eight 0x08 bytes
    pad = 8 - len(challenge) % 8
    encryptor = Cipher(TripleDES(key3), modes.CBC(iv)).encryptor()
    cipher = encryptor.update(challenge + bytes([pad]) * pad) + encryptor.finalize()
    header = struct.pack(
        "<7I", 28, _CRYPT_MODE_CBC, _CALG_3DES, _CALG_SHA1, len(iv), len(digest), len(cipher)
    )
    return base64.b64encode(header + iv + digest + cipher).decode("ascii")
