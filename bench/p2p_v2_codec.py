"""Cost of reading P2P v2 packets (MSNP16+) next to v1, and of routing by ``P2P-Dest``.

Run with ``python bench/p2p_v2_codec.py [--megabytes N] [--repeat N]``. One file of N MB is cut
into 1202-byte pieces and framed twice - as v1 packets (:func:`~bridge.msnp.p2p.encode_packet`)
and as v2 packets with a data header and its data-remaining TLV
(:func:`~bridge.msnp.p2p_v2.encode_v2_packet`) - then each set is decoded
(``parse_message`` + the decoder). Baseline, same run, same payloads: v1 decoding, which the
bridge has done since MSNP9. Also timed: :func:`~bridge.msnp.p2p_v2.p2p_target` (the routing
every received P2P message now goes through) and the worst v2 header a contact can send (252
bytes of empty TLVs). CPU time (``thread_time``), best of ``--repeat``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
import argparse
import os
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.message import parse_message
from bridge.msnp.p2p import MAX_CHUNK, P2PHeader, decode_packet, encode_packet
from bridge.msnp.p2p_v2 import (
    DataHeader,
    OpCode,
    P2PV2Header,
    TFCombination,
    decode_v2_packet,
    encode_v2_packet,
    p2p_target,
)

ALICE, BOB = "alice@example.com", "bob@example.com"
ALICE_EP, BOB_EP = (
    "{A11CE000-0000-4000-8000-000000000001}",
    "{B0B00000-0000-4000-8000-000000000002}",
)


def best(repeat: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        run()
        times.append(time.thread_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--megabytes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = os.urandom(args.megabytes * 1024 * 1024)
    pieces = [data[i : i + MAX_CHUNK] for i in range(0, len(data), MAX_CHUNK)]
    v1 = [
        encode_packet(ALICE, P2PHeader(7, 9, i * MAX_CHUNK, len(data), len(p), 0x01000030), p, 2)
        for i, p in enumerate(pieces)
    ]
    v2 = []
    done = 0
    for i, p in enumerate(pieces):
        done += len(p)
        tf = TFCombination.FILE | (TFCombination.FIRST if i == 0 else 0)
        header = P2PV2Header(OpCode.RAK if done == len(data) else 0, i * 1222)
        dest, src = f"{ALICE};{ALICE_EP}", f"{BOB};{BOB_EP}"
        data_header = DataHeader(tf, 3, 7, len(data) - done)
        v2.append(encode_v2_packet(dest, src, header, data_header, p, 2))
    messages = [parse_message(p) for p in v2]
    v1_messages = [parse_message(p) for p in v1]
    hostile = encode_v2_packet(
        ALICE, BOB, P2PV2Header(tlvs=tuple((k, b"") for k in range(4, 126))), DataHeader(), b"x"
    )
    mb = len(data) / 1e6
    rows = [
        ("baseline: v1 parse_message + decode_packet", lambda: [decode_packet(parse_message(p)) for p in v1]),
        ("v2 parse_message + decode_v2_packet", lambda: [decode_v2_packet(parse_message(p)) for p in v2]),
        ("p2p_target on every v1 message", lambda: [p2p_target(m.get("P2P-Dest"), ALICE, ALICE_EP) for m in v1_messages]),
        ("p2p_target on every v2 message", lambda: [p2p_target(m.get("P2P-Dest"), ALICE, ALICE_EP) for m in messages]),
    ]  # fmt: skip
    print(f"{args.megabytes} MiB, {len(v1)} packets each, CPU time, best of {args.repeat}")
    base = best(args.repeat, rows[0][1])
    for name, run in rows:
        seconds = base if run is rows[0][1] else best(args.repeat, run)
        print(f"  {name:<46} {mb / seconds:8.1f} MB/s  ({seconds / base:4.2f}x baseline)")
    n = 20_000
    worst = best(args.repeat, lambda: [decode_v2_packet(hostile) for _ in range(n)])
    print(f"  worst-case v2 header ({len(hostile)} bytes): {worst / n * 1e6:.1f} us per packet")


if __name__ == "__main__":
    main()
