"""The MSNP15+ SSO policy challenge (``MBI_KEY_OLD``): nonces and checking the client's answer.

Written from the public description of the scheme. The server sends a base64 nonce in
``USR trid SSO S MBI_KEY_OLD <nonce>``; the client answers with a base64 blob built from the
BinarySecret that came with its messengerclear.live.com token:

* two 24-byte keys are derived from the decoded secret with HMAC-SHA1 chains over the
  constants ``WS-SecureConversationSESSION KEY HASH`` and ``...SESSION KEY ENCRYPTION``
  (h1 = HMAC(k, c); h2 = HMAC(k, h1 + c); h3 = HMAC(k, h1); h4 = HMAC(k, h3 + c);
  key = h2 + h4[:4]);
* hash = HMAC-SHA1(hash key, nonce) and cipher = 3DES-CBC(encryption key, random IV,
  nonce + PKCS#5 padding), the nonce taken as its ASCII text (not base64-decoded);
* the blob: seven little-endian uint32 (header size 28, CBC mode 1, cipher 0x6603 = 3DES,
  hash 0x8004 = SHA1, IV length 8, hash length 20, cipher length), then IV, hash, cipher.
"""

from __future__ import annotations

from typing import Final
import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, modes

try:  # cryptography >= 43 keeps 3DES among the "decrepit" ciphers
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

__all__ = ["ENCRYPTION_MAGIC", "HASH_MAGIC", "derive_key", "expected_parts", "new_nonce", "verify"]

HASH_MAGIC: Final = b"WS-SecureConversationSESSION KEY HASH"
ENCRYPTION_MAGIC: Final = b"WS-SecureConversationSESSION KEY ENCRYPTION"
HEADER: Final = struct.Struct("<7I")
_FIXED: Final = (28, 1, 0x6603, 0x8004, 8, 20)
#: a blob longer than this is not an answer (the real one is 28 + 8 + 20 + 72 bytes)
MAX_BLOB: Final = 512


def new_nonce() -> str:
    """48 random bytes in base64: 64 characters, as the real servers send."""
    return base64.b64encode(secrets.token_bytes(48)).decode("ascii")


def derive_key(secret: bytes, magic: bytes) -> bytes:
    h1 = hmac.new(secret, magic, hashlib.sha1).digest()
    h2 = hmac.new(secret, h1 + magic, hashlib.sha1).digest()
    h3 = hmac.new(secret, h1, hashlib.sha1).digest()
    h4 = hmac.new(secret, h3 + magic, hashlib.sha1).digest()
    return h2 + h4[:4]


def expected_parts(nonce: str, secret_b64: str, iv: bytes) -> tuple[bytes, bytes]:
    """(hash, cipher) a correct answer to ``nonce`` carries for the given IV."""
    secret = base64.b64decode(secret_b64)
    data = nonce.encode("ascii")
    digest = hmac.new(derive_key(secret, HASH_MAGIC), data, hashlib.sha1).digest()
    pad = 8 - len(data) % 8
    encryptor = Cipher(TripleDES(derive_key(secret, ENCRYPTION_MAGIC)), modes.CBC(iv)).encryptor()
    cipher = encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()
    return digest, cipher


def verify(nonce: str, secret_b64: str, blob_b64: str) -> bool:
    """Whether ``blob_b64`` is a correct MBI answer to ``nonce`` for that BinarySecret."""
    if len(blob_b64) > MAX_BLOB * 2:
        return False
    try:
        blob = base64.b64decode(blob_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(blob) < HEADER.size or len(blob) > MAX_BLOB:
        return False
    *fixed, cipher_len = HEADER.unpack_from(blob)
    if tuple(fixed) != _FIXED or len(blob) != HEADER.size + 8 + 20 + cipher_len:
        return False
    iv = blob[28:36]
    digest, cipher = expected_parts(nonce, secret_b64, iv)
    return hmac.compare_digest(blob[36:56], digest) and hmac.compare_digest(blob[56:], cipher)
