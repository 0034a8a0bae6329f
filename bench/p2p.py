"""File transfers over P2P: throughput through tests/msn_server, and the bridge's memory.

Run with ``python bench/p2p.py [--megabytes N] [--skip-bridge]``.

1. **Throughput** (in one process, tests/msn_server on 127.0.0.1): the independent test peer
   (``tests.p2p_peer``) sends an N MB file to the library (:class:`MSNClient`, which accepts the
   :class:`FileOffered` and reads every chunk), and the library sends one to the peer. Baseline,
   same run, same bytes, same pacing: the peer sends the very frames of the file (1202 data
   bytes each, ``MSG D``, waiting for each ``ACK``) to a raw switchboard reader that only counts
   them - the switchboard relay alone, no P2P on the receiving side.
2. **Bridge memory** (the whole stack: Synapse, PostgreSQL-less SQLite bridge, test server):
   ten contacts send the user a 10 MB file each, at the same time; the bridge process's
   resident memory is sampled every 20 ms. Baseline, same run: its memory just before. The
   files are streamed (P2P chunks -> 64 KB pieces -> the homeserver upload), so the growth
   should be far below the 100 MB in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
import argparse
import asyncio
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.events import FileOffered
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import P2PPeer, wire
from tests.p2p_peer.client import RawNS, RawSB
from tests.support.client_fixtures import PASSWORDS, logged_in

ALICE, BOB = "alice@example.com", "bob@example.com"
MB = 1024 * 1024


def file_frame(data: bytes, offset: int) -> bytes:
    """One P2P file-data frame of ``data`` (what a sending client puts in one MSG)."""
    piece = data[offset : offset + wire.CHUNK]
    flags = wire.FLAG_FILE_DATA
    return wire.pack_frame(ALICE, 7, 1000, offset, len(data), piece, flags, 99, app=wire.APP_FILE)


async def raw_relay(server: object, data: bytes) -> float:
    """Seconds for the peer to push ``data``'s frames to a reader that only counts them."""
    received = 0
    done = asyncio.Event()

    def count(sb: RawSB, sender: str, payload: bytes) -> None:
        nonlocal received
        received += len(payload)
        if received >= expected:
            done.set()

    ns_address, passport = server.ns_address, server.passport_url  # type: ignore[attr-defined]
    reader = await RawNS.login(ns_address, passport, ALICE, PASSWORDS[ALICE], 0, None, count)
    peer = await P2PPeer.login(ns_address, passport, BOB, PASSWORDS[BOB])
    try:
        assert peer.ns is not None
        sb = await peer.ns.open_switchboard(ALICE)
        frames = [file_frame(data, offset) for offset in range(0, len(data), wire.CHUNK)]
        expected = sum(len(f) for f in frames)
        started = time.perf_counter()
        for frame in frames:
            assert await sb.send(frame, "D")
        await asyncio.wait_for(done.wait(), 120)
        return time.perf_counter() - started
    finally:
        await peer.close()
        await reader.close()


async def library_receives(server: object, data: bytes) -> float:
    """Seconds for the peer to send ``data`` as a P2P file the library accepts and reads."""
    alice, rec = await logged_in(server, ALICE, 12)  # type: ignore[arg-type]
    ns_address, passport = server.ns_address, server.passport_url  # type: ignore[attr-defined]
    peer = await P2PPeer.login(ns_address, passport, BOB, PASSWORDS[BOB])
    try:
        assert peer.ns is not None
        await peer.ns.open_switchboard(ALICE)
        got = asyncio.get_running_loop().create_future()

        async def read(offer_evt: FileOffered) -> None:
            total = 0
            async for chunk in offer_evt.offer.accept():
                total += len(chunk)
            got.set_result(total)

        started = time.perf_counter()
        sending = asyncio.create_task(peer.send_file(ALICE, "f.bin", data, timeout=120))
        offer = await rec.wait(FileOffered, timeout=20)
        reading = asyncio.create_task(read(offer))
        assert await sending == "done" and await got == len(data)
        await reading
        return time.perf_counter() - started
    finally:
        await alice.close()
        await peer.close()


async def library_sends(server: object, data: bytes) -> float:
    alice, _ = await logged_in(server, ALICE, 12)  # type: ignore[arg-type]
    ns_address, passport = server.ns_address, server.passport_url  # type: ignore[attr-defined]
    peer = await P2PPeer.login(ns_address, passport, BOB, PASSWORDS[BOB])

    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    try:
        started = time.perf_counter()
        await alice.p2p.send_file(BOB, "f.bin", len(data), source())
        received = await asyncio.wait_for(peer.received.get(), 120)
        assert received.data == data
        return time.perf_counter() - started
    finally:
        await alice.close()
        await peer.close()


async def throughput(megabytes: int) -> None:
    data = os.urandom(megabytes * MB)
    async with running_server() as server:
        raw = await raw_relay(server, data)
        server.messages.clear()
        into = await library_receives(server, data)
        server.messages.clear()
        out = await library_sends(server, data)
    rate = lambda seconds: megabytes / seconds  # noqa: E731
    print(f"throughput, {megabytes} MB through tests/msn_server (MB/s):")
    print(f"  baseline: raw switchboard relay of the same frames   {rate(raw):7.2f}")
    print(f"  peer -> library (P2P file, accepted and read)        {rate(into):7.2f}"
          f"  ({raw / into:.0%} of the baseline)")  # fmt: skip
    print(f"  library -> peer (P2P file, window of 8 messages)     {rate(out):7.2f}"
          f"  ({raw / out:.0%} of the baseline)")  # fmt: skip


def rss_kb(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) if match else 0


async def bridge_memory(files: int, megabytes: int) -> None:
    from bench._stack import BenchStack
    from tests.support.harness import Pair

    with tempfile.TemporaryDirectory() as tmp:
        stack = BenchStack(Path(tmp), "sqlite", log_level="INFO")
        stack.configure = lambda config: config["bridge"]["p2p"].update(
            max_incoming_file=2 * megabytes * MB, offer_timeout=60
        )
        await stack.start()
        peers: list[P2PPeer] = []
        try:
            pair: Pair = stack.new_pair()
            contacts = [f"filer{i}@example.com" for i in range(files)]
            for contact in contacts:
                stack.msn.add_account(contact, "pw", contact)
                stack.msn.make_mutual(pair.passport, contact)
            user, _ = await stack.logged_in(pair)
            for contact in contacts:
                peer = await P2PPeer.login(
                    stack.msn.ns_address, stack.msn.passport_url, contact, "pw"
                )
                peers.append(peer)
                assert peer.ns is not None
                await peer.ns.open_switchboard(pair.passport)
            assert stack.bridge.proc is not None
            pid = stack.bridge.proc.pid
            data = [os.urandom(megabytes * MB) for _ in range(files)]
            await asyncio.sleep(2)  # let the bridge settle after the logins
            before = rss_kb(pid)
            peak = before
            sending = [
                asyncio.create_task(p.send_file(pair.passport, f"f{i}.bin", d, timeout=300))
                for i, (p, d) in enumerate(zip(peers, data, strict=True))
            ]
            started = time.perf_counter()
            while not all(t.done() for t in sending):
                peak = max(peak, rss_kb(pid))
                await asyncio.sleep(0.02)
            seconds = time.perf_counter() - started
            results = [t.result() for t in sending]
            uploaded = 0
            deadline = time.monotonic() + 120
            while uploaded < files and time.monotonic() < deadline:  # the last uploads end
                peak = max(peak, rss_kb(pid))
                (count,) = await stack.db_values(
                    "SELECT COUNT(*) FROM message WHERE direction='in' AND sender LIKE 'filer%'"
                )
                uploaded = int(count or 0)
                await asyncio.sleep(0.05)
            seconds_all = time.perf_counter() - started
            del user
        finally:
            for peer in peers:
                await peer.close()
            await stack.stop()
    total = files * megabytes
    print(f"bridge memory, {files} files of {megabytes} MB from {files} contacts at once:")
    print(f"  results: {sorted(set(results))}, {uploaded} files posted in Matrix")
    print(f"  baseline: bridge RSS before         {before / 1024:7.1f} MB")
    print(f"  peak bridge RSS during the transfers {peak / 1024:7.1f} MB"
          f"  (+{(peak - before) / 1024:.1f} MB for {total} MB in flight)")  # fmt: skip
    print(f"  {total} MB received in {seconds:.1f} s ({total / seconds:.2f} MB/s), "
          f"all posted after {seconds_all:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=10)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--skip-bridge", action="store_true")
    args = parser.parse_args()
    asyncio.run(throughput(args.megabytes))
    if not args.skip_bridge:
        asyncio.run(bridge_memory(args.files, args.megabytes))


if __name__ == "__main__":
    main()
