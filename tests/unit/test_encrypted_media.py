"""Encrypted attachments of encrypted rooms (bridge.portal.encrypted_media), checked against an
independent implementation of the spec's AES-CTR attachments (tests/support/attachments.py)."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterable, AsyncIterator
import os

from mautrix.types import ContentURI, EncryptedFile
import pytest

from bridge.portal.encrypted_media import AttachmentError, check, decrypted, encrypted_upload
from tests.support.attachments import decrypt_attachment, encrypt_attachment


class MediaRepository:
    """What ``IntentAPI.upload_media`` is given: the bytes (read as they stream) and how."""

    def __init__(self) -> None:
        self.data = b""
        self.pieces = 0
        self.kwargs: dict[str, Any] = {}

    async def upload_media(self, data: AsyncIterable[bytes], **kwargs: Any) -> ContentURI:
        self.kwargs = kwargs
        async for piece in data:
            self.data += piece
            self.pieces += 1
        return ContentURI("mxc://example.org/abc")


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def collect(chunks: AsyncIterator[bytes], into: list[bytes]) -> bytes:
    async for chunk in chunks:
        into.append(chunk)
    return b"".join(into)


async def test_a_stream_is_uploaded_encrypted_and_decrypts_with_its_file_object() -> None:
    data = os.urandom(200_000)
    repo = MediaRepository()
    file = await encrypted_upload(repo, pieces(data, 65_536), len(data))  # type: ignore[arg-type]
    assert repo.pieces == 4  # streamed piece by piece, never joined
    assert len(repo.data) == len(data) and repo.data[:4096] != data[:4096]
    # the homeserver learns neither the name nor the type
    assert repo.kwargs == {"mime_type": "application/octet-stream", "size": len(data)}
    content = file.serialize()
    assert content["url"] == "mxc://example.org/abc"
    assert decrypt_attachment(repo.data, content) == data
    # a new key and IV each time, the IV's counter half zero
    other = await encrypted_upload(MediaRepository(), b"x", 1)  # type: ignore[arg-type]
    assert other.key.key != file.key.key and other.iv != file.iv


async def test_an_attachment_from_matrix_is_decrypted_as_it_streams() -> None:
    data = os.urandom(150_000)
    ciphertext, info = encrypt_attachment(data)
    file = EncryptedFile.deserialize({**info, "url": "mxc://example.org/x"})
    got: list[bytes] = []
    assert await collect(decrypted(pieces(ciphertext, 65_536), file), got) == data
    assert len(got) == 3


@pytest.mark.parametrize("where", [0, -1])
async def test_a_damaged_attachment_fails_before_its_last_piece(where: int) -> None:
    data = os.urandom(100_000)
    ciphertext, info = encrypt_attachment(data)
    damaged = bytearray(ciphertext)
    damaged[where] ^= 1
    file = EncryptedFile.deserialize(info)
    got: list[bytes] = []
    with pytest.raises(AttachmentError, match="does not match its SHA-256"):
        await collect(decrypted(pieces(bytes(damaged), 30_000), file), got)
    # what was handed on is short of the file: the last piece was held back
    assert sum(map(len, got)) == 90_000


@pytest.mark.parametrize(
    "change, error",
    [
        ({"v": "v1"}, "version"),
        ({"iv": "AAAA"}, "wrong length"),
        ({"iv": "not base64!"}, "not base64"),
        ({"hashes": {}}, "no SHA-256"),
        ({"key": {"kty": "oct", "alg": "A128CTR", "k": "AAAA", "key_ops": []}}, "A256CTR"),
        ({"key": {"kty": "oct", "alg": "A256CTR", "k": "AAAA", "key_ops": []}}, "wrong length"),
    ],
)
def test_an_unusable_file_object_is_refused_before_any_download(
    change: dict[str, Any], error: str
) -> None:
    _, info = encrypt_attachment(b"data")
    with pytest.raises(AttachmentError, match=error):
        check(EncryptedFile.deserialize({**info, **change}))


def test_a_good_file_object_passes_the_check() -> None:
    _, info = encrypt_attachment(b"data")
    check(EncryptedFile.deserialize(info))
