"""Throughput of the MSNP codec on a realistic notification/switchboard server stream.

Run with ``python bench/codec.py [--megabytes N] [--repeat N]``. It builds a mixed stream of
what a busy client receives (ILN/NLN/FLN presence, UBX personal messages, MIME ``MSG``
payloads with text, typing notifications and profiles, LST/LSG list sync, CHL, QNG,
switchboard JOI/IRO/ACK/BYE, ...) and prints, for :class:`bridge.msnp.codec.Parser` fed in
4 KiB chunks and all at once, and for :func:`bridge.msnp.codec.encode`:

* commands per second and MB per second (best of ``--repeat`` runs);
* the ratio against two baselines measured in the same run on the same bytes:
  ``bytes.split(b"\\r\\n")`` (a floor: it splits lines and does nothing else, and is not even
  correct for payloads), and a deliberately naive split-based parser (no caps, no error
  handling, no trid rules beyond "first token is digits").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
import argparse
import random
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.msnp.codec import Command, Parser, Role, encode, encode_arg

CHUNK = 4096
STATUSES = ("NLN", "BSY", "AWY", "IDL", "BRB", "PHN", "LUN")
WORDS = [
    "hello",
    "hi",
    "how",
    "are",
    "you",
    "doing",
    "today",
    "did",
    "you",
    "see",
    "the",
    "match",
    "last",
    "night",
    "lol",
    "brb",
    "ok",
    "sure",
    "thanks",
    "see",
    "you",
    "tomorrow",
    "meeting",
    "at",
    "noon",
    "can",
    "you",
    "send",
    "me",
    "the",
    "file",
]


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _msg_payload(rng: random.Random, sender: str) -> bytes:
    kind = rng.random()
    if kind < 0.55:
        body = _text(rng, 2, 60)
        return (
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "X-MMS-IM-Format: FN=Segoe%20UI; EF=B; CO=ff0000; CS=0; PF=22\r\n"
            f"\r\n{body}"
        ).encode()
    if kind < 0.95:
        return (
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/x-msmsgscontrol\r\n"
            f"TypingUser: {sender}\r\n\r\n\r\n"
        ).encode()
    return (
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\n"
        "LoginTime: 1726321960\r\nEmailEnabled: 1\r\nMemberIdHigh: 1\r\nMemberIdLow: 2\r\n"
        "lang_preference: 1033\r\nPreferredEmail: \r\ncountry: US\r\nKid: 0\r\n"
        "Flags: 1027\r\nsid: 507\r\nkv: 11\r\nMSPAuth: " + "x" * 120 + "$$\r\n"
        "ClientIP: 192.0.2.7\r\nClientPort: 18183\r\n\r\n"
    ).encode()


def build_stream(megabytes: float, seed: int = 1863) -> tuple[bytes, list[Command]]:
    """A mixed server->client stream of about ``megabytes`` MB and its commands."""
    rng = random.Random(seed)
    contacts = [f"contact{i}@example.com" for i in range(400)]
    names = {c: encode_arg(f"Contact {i} ({_text(rng, 1, 3)})") for i, c in enumerate(contacts)}
    commands: list[Command] = []
    size = 0
    target = int(megabytes * 1024 * 1024)
    trid = 1

    def add(cmd: Command) -> None:
        nonlocal size
        commands.append(cmd)
        size += len(encode(cmd))

    # Login + list sync (MSNP8-style LST/LSG without trid are parsed with version=11).
    add(Command("SYN", 5, ("2005-04-23T18:57:44.8130000-07:00", "0", str(len(contacts)), "3")))
    for g, name in enumerate(("Friends", "Family", "Co-Workers")):
        add(Command("LSG", None, (name, f"{g:08x}-1111-2222-3333-444455556666")))
    for c in contacts:
        add(
            Command(
                "LST", None, (f"N={c}", f"F={names[c]}", f"C={rng.getrandbits(64):016x}", "11")
            )
        )
    for c in contacts[:150]:
        status = rng.choice(STATUSES)
        add(Command("ILN", 9, (status, c, names[c], "1342177280")))
    while size < target:
        r = rng.random()
        c = rng.choice(contacts)
        if r < 0.25:
            add(Command("NLN", None, (rng.choice(STATUSES), c, names[c], "1342177280")))
        elif r < 0.35:
            add(Command("FLN", None, (c,)))
        elif r < 0.50:
            psm = _text(rng, 0, 12).replace("&", "&amp;")
            data = f"<Data><PSM>{psm}</PSM><CurrentMedia></CurrentMedia></Data>".encode()
            add(Command("UBX", None, (c,), data))
        elif r < 0.85:
            add(Command("MSG", None, (c, names[c]), _msg_payload(rng, c)))
        elif r < 0.88:
            add(Command("CHL", 0, (str(rng.randrange(10**19, 10**20)),)))
        elif r < 0.91:
            add(Command("QNG", None, (str(rng.randint(30, 60)),)))
        elif r < 0.95:
            trid += 1
            add(Command("ACK", trid))
        elif r < 0.97:
            add(Command("JOI", None, (c, names[c], "1342177280")))
        elif r < 0.98:
            trid += 1
            add(Command("IRO", trid, ("1", "1", c, names[c])))
        else:
            add(Command("BYE", None, (c,)))
    data = b"".join(encode(cmd) for cmd in commands)
    return data, commands


_NAIVE_PAYLOAD = frozenset({"MSG", "UBX", "NOT", "IPG", "UUX", "GCF"})


def naive_parse(data: bytes) -> list[tuple[str, list[str], bytes | None]]:
    """A deliberately naive reference: find CRLF, split on spaces, read payload lengths."""
    out: list[tuple[str, list[str], bytes | None]] = []
    pos = 0
    end = len(data)
    while pos < end:
        nl = data.index(b"\r\n", pos)
        parts = data[pos:nl].decode().split(" ")
        pos = nl + 2
        payload = None
        if parts[0] in _NAIVE_PAYLOAD and parts[-1].isdigit():
            n = int(parts.pop())
            payload = data[pos : pos + n]
            pos += n
        out.append((parts[0], parts[1:], payload))
    return out


def parse_whole(data: bytes) -> int:
    parser = Parser(Role.CLIENT, version=11)
    parser.feed(data)
    return sum(1 for _ in parser)


def parse_chunked(data: bytes) -> int:
    parser = Parser(Role.CLIENT, version=11)
    n = 0
    for i in range(0, len(data), CHUNK):
        parser.feed(data[i : i + CHUNK])
        for _ in parser:
            n += 1
    return n


def measure(repeat: int, cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best time of each case; the cases take turns so that load changes hit all alike."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for label, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - t0)
    return best


SPLIT = "baseline: bytes.split(b'\\r\\n') (floor)"
NAIVE = "baseline: naive split-based parser"


def rows(
    data: bytes, commands: list[Command], repeat: int
) -> Iterator[tuple[str, float, float | None]]:
    """(label, seconds, seconds of the naive baseline or None)."""
    cases: dict[str, Callable[[], object]] = {
        SPLIT: lambda: data.split(b"\r\n"),
        NAIVE: lambda: naive_parse(data),
        "Parser, fed in 4 KiB chunks": lambda: parse_chunked(data),
        "Parser, fed whole": lambda: parse_whole(data),
        "encode() every command + join": lambda: b"".join([encode(c) for c in commands]),
    }
    best = measure(repeat, cases)
    for label, seconds in best.items():
        yield label, seconds, best[NAIVE] if label.startswith("Parser") else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megabytes", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    data, commands = build_stream(args.megabytes)
    assert parse_whole(data) == len(commands) == parse_chunked(data)
    assert len(naive_parse(data)) == len(commands)
    mb = len(data) / 1e6
    print(
        f"stream: {len(data):,} bytes, {len(commands):,} commands "
        f"({sum(c.payload is not None for c in commands):,} with payloads); best of {args.repeat}"
    )
    print(f"{'':44} {'commands/s':>12} {'MB/s':>8} {'time vs naive':>14}")
    for label, seconds, baseline in rows(data, commands, args.repeat):
        ratio = f"{seconds / baseline:.2f}x" if baseline else ""
        print(f"{label:44} {len(commands) / seconds:12,.0f} {mb / seconds:8.1f} {ratio:>14}")
    print(
        "(commands/s for the split floor counts the stream's commands, not the lines it made; "
        "'time vs naive' > 1 means slower than the naive parser)"
    )


if __name__ == "__main__":
    main()
