"""Encrypted attachments: what encrypting and decrypting costs the bridge per file.

Run with ``python bench/encrypted_media.py [--megabytes N]``.

An N MB file in 64 KB pieces (the bridge's upload and download piece) goes through
:func:`bridge.portal.encrypted_media.encrypted_upload` (into an upload that only reads the
pieces) and :func:`bridge.portal.encrypted_media.decrypted`. Baseline, same run, same pieces:
the same upload reading the pieces unchanged, and a pass-through generator. Printed: MB/s of
each, and the largest piece the encrypting and decrypting paths held at once (memory stays
bounded by one piece whatever the file's size).
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.types import EncryptedFile

from bridge.portal.encrypted_media import decrypted, encrypted_upload
from tests.support.attachments import encrypt_attachment

PIECE = 64 * 1024
MB = 1024 * 1024


class Sink:
    def __init__(self) -> None:
        self.largest = 0
        self.total = 0

    async def upload_media(self, data: AsyncIterable[bytes], **_: Any) -> str:
        async for piece in data:
            self.largest = max(self.largest, len(piece))
            self.total += len(piece)
        return "mxc://bench/x"


async def pieces(data: bytes) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), PIECE):
        yield bytes(view[i : i + PIECE])


async def passthrough(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk


async def drain(chunks: AsyncIterable[bytes]) -> tuple[int, int]:
    total = largest = 0
    async for chunk in chunks:
        total += len(chunk)
        largest = max(largest, len(chunk))
    return total, largest


def rate(size: int, seconds: float) -> str:
    return f"{size / MB / seconds:8.1f} MB/s"


async def main(megabytes: int) -> None:
    data = os.urandom(megabytes * MB)
    ciphertext, info = encrypt_attachment(data)
    file = EncryptedFile.deserialize(info)
    print(f"{megabytes} MB in {PIECE // 1024} KB pieces")

    sink = Sink()
    start = time.perf_counter()
    await sink.upload_media(pieces(data))
    base_up = time.perf_counter() - start
    sink = Sink()
    start = time.perf_counter()
    await encrypted_upload(sink, pieces(data), len(data))  # type: ignore[arg-type]
    enc = time.perf_counter() - start
    assert sink.total == len(data)
    print(f"upload, baseline (clear)     {rate(len(data), base_up)}")
    print(f"upload, encrypted            {rate(len(data), enc)}  largest piece {sink.largest}")

    start = time.perf_counter()
    await drain(passthrough(pieces(ciphertext)))
    base_down = time.perf_counter() - start
    start = time.perf_counter()
    total, largest = await drain(decrypted(pieces(ciphertext), file))
    dec = time.perf_counter() - start
    assert total == len(data)
    print(f"download, baseline (clear)   {rate(len(data), base_down)}")
    print(f"download, decrypted+checked  {rate(len(data), dec)}  largest piece {largest}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    asyncio.run(main(parser.parse_args().megabytes))
