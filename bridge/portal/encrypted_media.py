"""Media of encrypted rooms as Matrix encrypted attachments (AES-256-CTR, SHA-256 of the
ciphertext), streamed piece by piece both ways.

From MSN, a file (or ink) is encrypted on its way to the homeserver, which stores only
ciphertext; the event carries ``file`` (the ``mxc://`` URI, the key, the IV and the hash)
instead of ``url``, and it is sent encrypted with the rest of the room. From Matrix, an
attachment's ``file`` is checked before anything is downloaded (a 256-bit key, a 16-byte IV, a
SHA-256), the ciphertext is decrypted as it streams and hashed; the last piece is handed on only
once the hash matched, so a contact never receives the whole of a file that does not match
(:class:`AttachmentError` ends the transfer). CTR keeps the length: the ciphertext is as long as
the file, and the size limits apply unchanged.

Ciphers come from ``cryptography`` (a dependency of the bridge itself): mautrix's attachment
helpers need the whole ciphertext to decrypt, and the ``e2be`` extra to be imported.
"""

from __future__ import annotations

from typing import Final
from collections.abc import AsyncIterable, AsyncIterator
import base64
import binascii
import hashlib
import os

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from mautrix.appservice import IntentAPI
from mautrix.types import ContentURI, EncryptedFile, JSONWebKey

__all__ = ["AttachmentError", "check", "decrypted", "encrypted_upload", "upload"]

#: The attachment version this module writes and reads (the spec's only current one).
VERSION: Final = "v2"
KEY_BYTES: Final = 32
IV_BYTES: Final = 16
_URL_TO_STD: Final = str.maketrans("-_", "+/")


class AttachmentError(ValueError):
    """An encrypted attachment that cannot be used: a bad key, IV or hash, or ciphertext that
    does not match its hash."""


def _b64encode(data: bytes, urlsafe: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(data) if urlsafe else base64.b64encode(data)
    return encoded.decode("ascii").rstrip("=")


def _b64decode(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise AttachmentError(f"the attachment has no {what}")
    try:  # unpadded; the key is base64url, the rest standard base64: accept either alphabet
        return base64.b64decode(
            text.translate(_URL_TO_STD) + "=" * (-len(text) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise AttachmentError(f"the attachment's {what} is not base64") from None


def _ctr(key: bytes, iv: bytes) -> Cipher[modes.CTR]:
    return Cipher(algorithms.AES(key), modes.CTR(iv))


async def encrypted_upload(
    intent: IntentAPI, data: bytes | AsyncIterable[bytes], size: int
) -> EncryptedFile:
    """Encrypt ``data`` (``size`` bytes) with a new key while uploading it as ``intent``; the
    ``file`` of the event that shows it. The homeserver sees neither the name nor the type."""
    key = os.urandom(KEY_BYTES)
    # a random 64-bit nonce; the counter half starts at zero, as the spec asks
    iv = os.urandom(IV_BYTES // 2) + bytes(IV_BYTES // 2)
    encryptor = _ctr(key, iv).encryptor()
    digest = hashlib.sha256()

    async def pieces() -> AsyncIterator[bytes]:
        chunks = _once(data) if isinstance(data, bytes) else data
        async for chunk in chunks:
            sealed = encryptor.update(chunk)
            digest.update(sealed)
            yield sealed
        tail = encryptor.finalize()  # CTR: nothing, kept for form
        if tail:
            digest.update(tail)
            yield tail

    mxc = await intent.upload_media(pieces(), mime_type="application/octet-stream", size=size)
    return EncryptedFile(
        url=mxc,
        key=JSONWebKey(
            key_type="oct",
            key_ops=["encrypt", "decrypt"],
            algorithm="A256CTR",
            key=_b64encode(key, urlsafe=True),
            extractable=True,
        ),
        iv=_b64encode(iv),
        hashes={"sha256": _b64encode(digest.digest())},
        version=VERSION,
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def upload(
    intent: IntentAPI,
    data: bytes | AsyncIterable[bytes],
    *,
    size: int,
    mime: str,
    filename: str,
    encrypted: bool,
) -> tuple[ContentURI | None, EncryptedFile | None]:
    """Upload ``data`` as ``intent``: ``(url, None)`` in clear, ``(None, file)`` encrypted
    (for an encrypted room)."""
    if encrypted:
        return None, await encrypted_upload(intent, data, size)
    mxc = await intent.upload_media(data, mime_type=mime, filename=filename, size=size)
    return mxc, None


def _decryptor(file: EncryptedFile) -> tuple[CipherContext, bytes]:
    """The cipher and the expected SHA-256 of an attachment (its fields checked)."""
    if file.version != VERSION:
        raise AttachmentError(f"attachment version {file.version!r} is not supported")
    jwk = file.key
    if jwk is None or jwk.algorithm != "A256CTR":
        raise AttachmentError("the attachment's key is not an A256CTR key")
    if jwk.key_type != "oct":
        raise AttachmentError("the attachment's key is not a symmetric key")
    key = _b64decode(jwk.key, "key")
    iv = _b64decode(file.iv, "IV")
    expected = _b64decode((file.hashes or {}).get("sha256"), "SHA-256 hash")
    if len(key) != KEY_BYTES or len(iv) != IV_BYTES or len(expected) != 32:
        raise AttachmentError("the attachment's key, IV or hash has the wrong length")
    return _ctr(key, iv).decryptor(), expected


def check(file: EncryptedFile) -> None:
    """Raise :class:`AttachmentError` unless ``file`` can be decrypted (before any download)."""
    _decryptor(file)


async def decrypted(chunks: AsyncIterable[bytes], file: EncryptedFile) -> AsyncIterator[bytes]:
    """The plaintext of the ciphertext ``chunks``, decrypted as they come; the last piece only
    once the whole ciphertext matched its hash (else :class:`AttachmentError`)."""
    decryptor, expected = _decryptor(file)
    digest = hashlib.sha256()
    held: bytes | None = None
    async for chunk in chunks:
        if not chunk:
            continue
        digest.update(chunk)
        if held is not None:
            yield decryptor.update(held)
        held = chunk
    if digest.digest() != expected:
        raise AttachmentError("the file does not match its SHA-256 hash (damaged or altered)")
    if held is not None:
        yield decryptor.update(held) + decryptor.finalize()
