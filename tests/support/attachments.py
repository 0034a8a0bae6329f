"""Matrix encrypted attachments for tests, written from the specification (AES-256-CTR with a
JSON Web Key, a 128-bit IV whose counter half starts at zero, the unpadded-base64 SHA-256 of the
ciphertext) with pycryptodome, independently of the bridge (``cryptography``) and of mautrix's
attachment helpers."""

from __future__ import annotations

from typing import Any
import base64
import hashlib
import os

from Crypto.Cipher import AES

__all__ = ["decrypt_attachment", "encrypt_attachment"]


def _unpadded(data: bytes, urlsafe: bool = False) -> str:
    text = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return text.decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _cipher(key: bytes, iv: bytes) -> Any:
    return AES.new(key, AES.MODE_CTR, nonce=iv[:8], initial_value=iv[8:])


def encrypt_attachment(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """The ciphertext of ``data`` and the ``file`` object (without ``url``) describing it."""
    key, nonce = os.urandom(32), os.urandom(8)
    iv = nonce + bytes(8)
    ciphertext = _cipher(key, iv).encrypt(data)
    info = {
        "v": "v2",
        "key": {
            "kty": "oct",
            "alg": "A256CTR",
            "ext": True,
            "key_ops": ["encrypt", "decrypt"],
            "k": _unpadded(key, urlsafe=True),
        },
        "iv": _unpadded(iv),
        "hashes": {"sha256": _unpadded(hashlib.sha256(ciphertext).digest())},
    }
    return ciphertext, info


def decrypt_attachment(ciphertext: bytes, info: dict[str, Any]) -> bytes:
    """The plaintext of an attachment, after checking its ``file`` object as a client must
    (version, key type and algorithm, IV length, SHA-256 of the ciphertext)."""
    assert info.get("v") == "v2", info
    jwk = info["key"]
    assert jwk["kty"] == "oct" and jwk["alg"] == "A256CTR" and jwk.get("ext") is True, jwk
    assert {"encrypt", "decrypt"} <= set(jwk["key_ops"]), jwk
    key, iv = _decode(jwk["k"]), _decode(info["iv"])
    assert len(key) == 32 and len(iv) == 16, (len(key), len(iv))
    digest = hashlib.sha256(ciphertext).digest()
    assert digest == _decode(info["hashes"]["sha256"]), "the ciphertext does not match its hash"
    return bytes(_cipher(key, iv).decrypt(ciphertext))
