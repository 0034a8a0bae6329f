"""Throughput of the sans-IO P2P layer: chunking, framing, decoding and reassembly.

Run with ``python bench/p2p_codec.py [--megabytes N] [--repeat N]``. It pushes one file of N MB
through :class:`bridge.msnp.p2p_transport.P2PTransport` - the sender frames it into switchboard
``MSG`` payloads of at most 1202 data bytes, the receiver parses each payload
(:func:`~bridge.msnp.message.parse_message`, :func:`~bridge.msnp.p2p.decode_packet`) and
reassembles it (:meth:`~bridge.msnp.p2p_transport.P2PTransport.receive`) - and prints MB/s for
framing, for receiving, and for both, best of ``--repeat`` runs. Baseline, same run, same
bytes: a bare copy of the file in 1202-byte slices into new ``bytes`` objects with the same
fixed-size head and footer glued on, and the slices read back out (no parsing, no state).

It also times the async :class:`~bridge.msnp.p2p_session.P2PManager` sending the file to a
second manager over an in-memory link (invitation, 200 OK, window of 8, ACK), to show what
the asyncio layer costs on top of the codec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.message import parse_message
from bridge.msnp.p2p import FILE_DATA_FLAGS, MAX_CHUNK, AppID, decode_packet
from bridge.msnp.p2p_session import FileOffer, P2PManager
from bridge.msnp.p2p_transport import DataReceived, P2PTransport

SOURCE_CHUNK = 64 * 1024
HEAD = b"MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: bob@example.com\r\n\r\n"


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def frame_all(data: bytes) -> tuple[float, list[bytes]]:
    sender = P2PTransport("alice@example.com", "bob@example.com")
    start = time.perf_counter()
    stream = sender.stream(7, len(data), flags=FILE_DATA_FLAGS, app_id=AppID.FILE_TRANSFER)
    payloads: list[bytes] = []
    view = memoryview(data)
    for offset in range(0, len(data), SOURCE_CHUNK):
        payloads.extend(stream.frame(bytes(view[offset : offset + SOURCE_CHUNK])))
    return time.perf_counter() - start, payloads


def receive_all(payloads: list[bytes], size: int) -> float:
    receiver = P2PTransport("bob@example.com", "alice@example.com")
    receiver.open_session(7, size)
    got = 0
    start = time.perf_counter()
    for payload in payloads:
        for event in receiver.receive(decode_packet(parse_message(payload))):
            if isinstance(event, DataReceived):
                got += len(event.data)
    elapsed = time.perf_counter() - start
    assert got == size and len(receiver.data_to_send()) == 1
    return elapsed


def baseline(data: bytes) -> float:
    start = time.perf_counter()
    header, footer = bytes(48), b"\x00\x00\x00\x02"
    framed = [
        HEAD + header + data[i : i + MAX_CHUNK] + footer for i in range(0, len(data), MAX_CHUNK)
    ]
    skip = len(HEAD) + 48
    got = sum(len(p[skip:-4]) for p in framed)
    elapsed = time.perf_counter() - start
    assert got == len(data)
    return elapsed


class MemoryLink:
    def __init__(self, sender: str, target: P2PManager) -> None:
        self.sender = sender
        self.target = target
        self.other: MemoryLink | None = None

    async def send_p2p(self, payload: bytes) -> None:
        assert self.other is not None
        self.target.feed(self.other, self.sender, parse_message(payload))
        await asyncio.sleep(0)


async def managers(data: bytes) -> float:
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def read(offer: FileOffer) -> None:
        total = 0
        async for chunk in offer.accept():
            total += len(chunk)
        done.set_result(total)

    tasks: list[asyncio.Task[None]] = []
    alice = P2PManager(
        "alice@example.com", on_file_offer=lambda o: tasks.append(asyncio.create_task(read(o)))
    )
    bob = P2PManager("bob@example.com")
    to_alice, to_bob = MemoryLink("bob@example.com", alice), MemoryLink("alice@example.com", bob)
    to_alice.other, to_bob.other = to_bob, to_alice

    async def source() -> AsyncIterator[bytes]:
        for offset in range(0, len(data), SOURCE_CHUNK):
            yield data[offset : offset + SOURCE_CHUNK]

    start = time.perf_counter()
    await bob.send_file(to_alice, "alice@example.com", "f.bin", len(data), source())
    assert await done == len(data)
    elapsed = time.perf_counter() - start
    await alice.close()
    await bob.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = os.urandom(args.megabytes * 1024 * 1024)
    mb = len(data) / 1e6
    _, payloads = frame_all(data)
    print(
        f"{args.megabytes} MiB file, {len(payloads)} switchboard payloads, best of {args.repeat}"
    )
    rows = [
        (
            "baseline: bare 1202-byte slice copy + read back",
            best(args.repeat, lambda: baseline(data)),
        ),
        ("frame (sender)", best(args.repeat, lambda: frame_all(data)[0])),
        (
            "parse + reassemble (receiver)",
            best(args.repeat, lambda: receive_all(payloads, len(data))),
        ),
    ]
    rows.append(("frame + receive", rows[1][1] + rows[2][1]))
    rows.append(
        (
            "P2PManager -> P2PManager, in memory",
            best(args.repeat, lambda: asyncio.run(managers(data))),
        )
    )
    base = rows[0][1]
    for name, seconds in rows:
        print(f"  {name:<48} {mb / seconds:9.1f} MB/s  ({seconds / base:5.1f}x baseline time)")


if __name__ == "__main__":
    main()
