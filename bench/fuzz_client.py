"""Fuzz the MSN client with generated server traffic over real sockets: no crash, no hang, no
event-loop stall, bounded memory.

Run with ``python bench/fuzz_client.py [--frames 1000000] [--seed 1] [--batch 2000]``.

A scripted server runs in its own process (so its work does not count as the client's stalls)
and is written only against the wire format, not against ``bridge.msnp``. It logs each client in
(MSNP8-12 in turn, with a ticket), sends a contact list, and then answers every ``CHG`` with a
batch of generated notification-server frames and a sentinel presence line. Some frames are
``RNG`` invitations to its switchboard, which answers ``ANS`` and streams generated switchboard
frames (MIME messages in every registered charset, typing, JOI/BYE/IRO, oversized payloads,
junk) before closing. About one frame in 20,000 breaks the framing; the session then ends with a
protocol error and the client logs in again. Frames are valid shapes with hostile values: long
names, personal-message XML with unclosed and nested tags, long LST/ILN lines, strangers'
addresses, invitations to foreign hosts, bad addresses, challenges.

The client (a real :class:`MSNClient`) waits for each sentinel and sends the next ``CHG``. This
process measures its own event loop (the worst lateness of a 5 ms ticker) and its memory (RSS),
collects unhandled exceptions and ERROR log records, and prints the counts.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator
from pathlib import Path
import argparse
import asyncio
import codecs
import encodings.aliases
import gc
import logging
import os
import pkgutil
import random
import sys
import time
import urllib.parse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ME = "alice@example.com"
SENTINEL = "sentinel@fuzz.invalid"
CONTACTS = [f"c{i}@example.com" for i in range(40)]
INVITERS = [f"inv{i}@example.com" for i in range(12)]


def codec_names() -> list[str]:
    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    names |= {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    found: dict[str, str] = {}
    for name in sorted(names):
        try:
            found.setdefault(codecs.lookup(name).name, name)
        except LookupError:
            pass
    return [*found.values(), "UTF-8", '"utf-8"', "x-bogus", "", "utf-8; q=1"]


# ===================================================================== generated frames (server)


class Frames:
    """Random server frames: mostly well-framed with hostile values; rarely broken."""

    def __init__(self, rng: random.Random, sb_address: str) -> None:
        self.r = rng
        self.sb_address = sb_address
        self.charsets = codec_names()

    # values ---------------------------------------------------------------------------------
    def text(self, lo: int = 0, hi: int = 40) -> str:
        r = self.r
        n = r.randint(lo, hi)
        pool = "abcxyz <>&;:%=\"'\t\u00e9\u263a\U0001f600\u202e\x00\x7f"
        return "".join(r.choice(pool) for _ in range(n))

    def name(self) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.6:
            return urllib.parse.quote(self.text(1, 30)) or "x"
        if roll < 0.7:
            return "%41" * r.randint(1, 1500)  # up to a ~4.5 KB name
        if roll < 0.8:
            return "%" + "".join(r.choice("0123456789abcdefzZ%") for _ in range(r.randint(1, 20)))
        return r.choice(["Bob", "x", "%", "%zz", "%00", "a%20b", "N=", "1"])

    def passport(self) -> str:
        r = self.r
        roll = r.random()
        if roll < 0.6:
            return r.choice(CONTACTS)
        if roll < 0.8:
            return f"u{r.randint(0, 10**6)}@example.com"  # strangers
        return r.choice([ME, "x", "@", "Bob@Example.COM", "a@b.c;{guid}", "\u00fc@x.y", "1"])

    def number(self) -> str:
        r = self.r
        return r.choice(
            [str(r.randint(0, 2**32)), "0", "11", "-1", "1e5", "9" * r.randint(12, 400), "x"]
        )

    def ubx_xml(self) -> bytes:
        r = self.r
        roll = r.random()
        if roll < 0.5:
            return (
                f"<Data><PSM>{self.text()}</PSM><CurrentMedia>{self.text()}</CurrentMedia>"
                f"<MachineGuid>{{{r.randint(0, 99)}}}</MachineGuid></Data>"
            ).encode("utf-8", "surrogatepass")
        unit = r.choice(
            [b"<PSM>", b"<psm >", b"</PSM  ", b"<PSM><CurrentMedia>", b"&amp;", b"&#x", b"<"]
        )
        size = r.choice([100, 1000, 8000, 8192, 9000, 20000])  # the cap is 8 KB
        return unit * (size // len(unit))

    def mime(self, sb: bool) -> bytes:
        r = self.r
        roll = r.random()
        if roll < 0.45:
            charset = r.choice(self.charsets)
            fmt = r.choice(["FN=Arial; EF=B; CO=ff; CS=0; PF=22", f"FN={self.name()}; EF=", ""])
            body = self.body()
            head = f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
            return f"{head}X-MMS-IM-Format: {fmt}\r\n\r\n".encode() + body
        if roll < 0.65:
            return (
                "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n"
                f"TypingUser: {self.passport()}\r\n\r\n\r\n"
            ).encode()
        if roll < 0.7:
            return (
                b"MIME-Version: 1.0\r\nContent-Type: text/x-msnmsgr-datacast\r\n\r\nID: 1\r\n\r\n"
            )
        if roll < 0.78:
            headers = b"".join(b"X-H%d: v\r\n" % i for i in range(r.randint(1, 3000)))
            return headers + b"\r\n" + self.body()
        if roll < 0.82 and sb:
            return b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n" + b"x" * r.randint(
                1600, 5000
            )  # around and over the 1664-byte switchboard limit
        ctype = r.choice(["application/x-msnmsgrp2p", "text/x-mms-emoticon", "", ";;", "a/b"])
        return f"Content-Type: {ctype}\r\nP2P-Dest: {self.passport()}\r\n\r\n".encode() + bytes(
            r.getrandbits(8) for _ in range(r.randint(0, 200))
        )

    def body(self) -> bytes:
        r = self.r
        roll = r.random()
        if roll < 0.6:
            return self.text(0, 200).encode("utf-8", "surrogatepass")
        unit = r.choice([b"-9", b"+AAAA", b"\xff\xfe", b"\x1b$B", b"a"])
        return unit * r.randint(1, 700)

    # frames ---------------------------------------------------------------------------------
    def ns_frame(self) -> bytes:
        r = self.r
        roll = r.random()
        if roll < 0.00005:
            return r.choice(
                [b"!!garbage!! line\r\n", b"MSG a b 99999999999999\r\n", b"NLN " + b"x" * 17000]
            )
        if roll < 0.0001:
            return b"OUT " + r.choice([b"OTH", b"SSD", b"X"]) + b"\r\n"
        kind = r.random()
        if kind < 0.3:
            status = r.choice(["NLN", "BSY", "AWY", "IDL", "BRB", "PHN", "LUN", "HDN", "?"])
            extra = r.choice(["", f" {r.randint(0, 2**31)}", f" {r.randint(0, 9)} {self.name()}"])
            return f"NLN {status} {self.passport()} {self.name()}{extra}\r\n".encode()
        if kind < 0.38:
            return f"ILN {r.randint(0, 9)} NLN {self.passport()} {self.name()} 0\r\n".encode()
        if kind < 0.45:
            return f"FLN {self.passport()}\r\n".encode()
        if kind < 0.6:
            xml = self.ubx_xml()
            return f"UBX {self.passport()} {len(xml)}\r\n".encode() + xml
        if kind < 0.68:
            groups = ",".join(f"{r.randint(0, 9)}-g" for _ in range(r.randint(0, 1500)))
            line = f"LST N={self.passport()} F={self.name()} C={r.randint(0, 99)} 11 1 {groups}"
            return line[:16000].encode() + b"\r\n"
        if kind < 0.72:
            cmd = r.choice(["ADC", "ADD", "REM"])
            lst = r.choice(["FL", "AL", "BL", "RL", "PL", "XX"])
            return f"{cmd} 0 {lst} N={self.passport()} F={self.name()}\r\n".encode()
        if kind < 0.74:
            cmd = r.choice(["ADG", "RMG", "REG", "LSG", "PRP", "BLP", "SBS", "GTC", "BPR"])
            return f"{cmd} {r.randint(0, 9)} {self.name()} {self.number()}\r\n".encode()
        if kind < 0.8:
            address = r.choice(
                [self.sb_address] * 6
                + ["127.0.0.2:1864", "127.0.0.1:0", "127.0.0.1:99999", "x:1", "[::1]:1"]
            )
            inviter = r.choice([*INVITERS, self.passport()])
            return (
                f"RNG {r.randint(0, 10**9)} {address} CKI {r.randint(0, 10**9)}.1 {inviter} "
                f"{self.name()}\r\n"
            ).encode()
        if kind < 0.83:
            return f"CHL 0 {r.randint(0, 10**20)}\r\n".encode()
        if kind < 0.85:
            return f"QNG {self.number()}\r\n".encode()
        if kind < 0.9:
            payload = self.mime(sb=False)
            return f"MSG Hotmail Hotmail {len(payload)}\r\n".encode() + payload
        if kind < 0.92:
            payload = bytes(r.getrandbits(8) for _ in range(r.randint(0, 300)))
            return f"NOT {len(payload)}\r\n".encode() + payload
        if kind < 0.95:
            return (
                f"{r.choice(['911', '500', '217', '999'])} {r.randint(1000, 10**6)}\r\n".encode()
            )
        return f"{r.choice(['ZZZ', 'A', 'SBP', 'BPR'])} {self.name()}\r\n".encode()

    def sb_frame(self) -> bytes:
        r = self.r
        kind = r.random()
        if kind < 0.75:
            payload = self.mime(sb=True)
            who = r.choice([*CONTACTS[:5], self.passport()])
            return f"MSG {who} {self.name()} {len(payload)}\r\n".encode() + payload
        if kind < 0.85:
            return f"JOI {self.passport()} {self.name()}\r\n".encode()
        if kind < 0.9:
            return f"BYE {self.passport()}{r.choice(['', ' 1'])}\r\n".encode()
        if kind < 0.93:
            return f"IRO {r.randint(0, 9)} 1 1 {self.passport()} {self.name()}\r\n".encode()
        if kind < 0.96:
            return f"{r.choice(['ACK', 'NAK', '282', '217'])} {r.randint(0, 10**6)}\r\n".encode()
        return f"{r.choice(['ZZZ', 'USR', 'CAL'])} {self.name()}\r\n".encode()


class ScriptedServer:
    def __init__(self, frames: int, batch: int, seed: int) -> None:
        self.target = frames
        self.batch = batch
        self.rng = random.Random(seed)
        self.ns_frames = 0
        self.sb_frames = 0
        self.rings_answered = 0
        self.frames: Frames | None = None

    @property
    def sent(self) -> int:
        return self.ns_frames + self.sb_frames

    async def start(self) -> tuple[str, str]:
        ns = await asyncio.start_server(self.ns, "127.0.0.1", 0, limit=1 << 20)
        sb = await asyncio.start_server(self.sb, "127.0.0.1", 0, limit=1 << 20)
        self.servers = (ns, sb)
        sb_address = f"127.0.0.1:{sb.sockets[0].getsockname()[1]}"
        self.frames = Frames(self.rng, sb_address)
        return f"127.0.0.1:{ns.sockets[0].getsockname()[1]}", sb_address

    @staticmethod
    async def read(reader: asyncio.StreamReader) -> list[str] | None:
        raw = await reader.readline()
        if not raw:
            return None
        words = raw.decode("utf-8", "replace").split()
        if words and words[0] in ("QRY", "UUX", "MSG") and words[-1].isdigit():
            await reader.readexactly(int(words[-1]))
        return words or [""]

    def contact_list(self, trid: str, v: int) -> bytes:
        out = []
        if v >= 10:
            out.append(f"SYN {trid} 1 1 {len(CONTACTS)} 1\r\nLSG Friends g-1\r\n")
            out += [f"LST N={c} F={c[:3]} C=id-{c} 11 1 g-1\r\n" for c in CONTACTS]
        else:
            out.append(f"SYN {trid} 1 {len(CONTACTS)} 1\r\nLSG 1 Friends 0\r\n")
            out += [f"LST {c} {c[:3]} 11 1\r\n" for c in CONTACTS]
        return "".join(out).encode()

    async def ns(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.frames is not None
        v = 12
        try:
            while (words := await self.read(reader)) is not None:
                name, t = words[0], words[1] if len(words) > 1 else "0"
                if name == "VER":
                    v = int(words[2][4:])
                    writer.write(f"VER {t} MSNP{v} CVR0\r\n".encode())
                elif name == "CVR":
                    writer.write(f"CVR {t} 7.0.0816 7.0.0816 7.0.0816 x x\r\n".encode())
                elif name == "USR" and words[3:4] == ["I"]:
                    writer.write(f"USR {t} TWN S ct=1,rver=1\r\n".encode())
                elif name == "USR":
                    who = f"{ME} 1 0" if v >= 10 else f"{ME} Alice 1 0"
                    writer.write(f"USR {t} OK {who}\r\n".encode())
                elif name == "SYN":
                    writer.write(self.contact_list(t, v))
                elif name == "CHG":
                    writer.write(f"CHG {t} {' '.join(words[2:])}\r\n".encode())
                    await writer.drain()
                    await self.send_batch(writer)
                elif name == "PNG":
                    writer.write(b"QNG 50\r\n")
                elif name == "QRY":
                    writer.write(f"QRY {t}\r\n".encode())
                elif name == "OUT":
                    break
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def send_batch(self, writer: asyncio.StreamWriter) -> None:
        assert self.frames is not None
        if self.sent >= self.target:
            writer.write(
                f"NLN NLN {SENTINEL} DONE-{self.ns_frames}-{self.sb_frames} 0\r\n".encode()
            )
            return
        for _ in range(self.batch // 100):
            chunk = [self.frames.ns_frame() for _ in range(100)]
            writer.write(b"".join(chunk))
            await writer.drain()  # raises once the client closed: the rest is not counted
            self.ns_frames += len(chunk)
        writer.write(f"NLN NLN {SENTINEL} S-{self.ns_frames}-{self.sb_frames} 0\r\n".encode())

    async def sb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.frames is not None
        try:
            words = await self.read(reader)
            if not words or words[0] != "ANS" or len(words) < 2:
                return
            t = words[1]
            self.rings_answered += 1
            inviter = self.rng.choice(CONTACTS[:5])
            writer.write(f"IRO {t} 1 1 {inviter} Inviter\r\nANS {t} OK\r\n".encode())
            for _ in range(self.rng.randint(1, 4)):
                chunk = [self.frames.sb_frame() for _ in range(25)]
                writer.write(b"".join(chunk))
                await writer.drain()
                self.sb_frames += len(chunk)
            writer.write(f"BYE {inviter}\r\n".encode())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def serve(frames: int, batch: int, seed: int) -> None:
    server = ScriptedServer(frames, batch, seed)
    ns, sb = await server.start()
    print(f"{ns} {sb}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until EOF
    print(f"{server.ns_frames} {server.sb_frames} {server.rings_answered}", flush=True)
    loop.set_exception_handler(lambda *_: None)  # handlers cut short at exit are expected
    for listener in server.servers:
        listener.close()


# ===================================================================== the client side


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class StepTimer:
    """The CPU time of every event-loop callback (task steps included): the longest one is the
    longest stall the client's code caused, whatever else ran on the machine. Garbage
    collections (which run inside whatever step allocates) are timed apart."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_what = ""
        self.over_50ms = 0
        self.gc_worst = 0.0
        self.gc_total = 0.0
        self.gc_full = 0
        self._gc_start = 0.0
        self._orig = asyncio.events.Handle._run

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.thread_time()
            return
        spent = time.thread_time() - self._gc_start
        self.gc_total += spent
        self.gc_worst = max(self.gc_worst, spent)
        self.gc_full += info["generation"] == 2

    def __enter__(self) -> StepTimer:
        orig = self._orig
        timer = self

        def _run(handle: asyncio.events.Handle) -> None:
            start = time.thread_time()
            gc_before = timer.gc_total
            orig(handle)
            spent = time.thread_time() - start - (timer.gc_total - gc_before)
            if spent > timer.worst:
                timer.worst = spent
                timer.worst_what = repr(handle)[:160]
            if spent > 0.05:
                timer.over_50ms += 1

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]
        gc.callbacks.append(self._gc)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self._orig  # type: ignore[method-assign]
        gc.callbacks.remove(self._gc)


class Monitor:
    """A 5 ms ticker: how late it wakes (wall clock, which includes the time this process was
    not scheduled on a shared machine) and how much CPU the loop spent between two ticks (all
    the callbacks that ran in between, together)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.over_50ms = 0
        self.cpu_over_50ms = 0
        self.rss_peak = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        tick = 0.005
        n = 0
        while True:
            before = time.perf_counter()
            cpu_before = time.thread_time()
            await asyncio.sleep(tick)
            late = time.perf_counter() - before - tick
            cpu = time.thread_time() - cpu_before
            if late > 0.05:
                self.over_50ms += 1
            if cpu > 0.05:
                self.cpu_over_50ms += 1
            self.worst = max(self.worst, late)
            self.worst_cpu = max(self.worst_cpu, cpu)
            n += 1
            if n % 20 == 0:
                self.rss_peak = max(self.rss_peak, rss_mb())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:200]}")


class Session:
    """One login of the client; counts what its handler sees."""

    def __init__(self, address: str, version: int) -> None:
        from bridge.msnp.client import ClientConfig, MSNClient

        self.sentinels: asyncio.Queue[str] = asyncio.Queue()
        self.events = 0
        self.disconnect = ""
        config = ClientConfig(
            server=address,
            protocols=(version,),
            keepalive_interval=3600,
            transaction_timeout=30,
            connect_timeout=10,
            switchboard_join_timeout=5,
        )
        self.client = MSNClient(config, self.handle)

    async def handle(self, event: Any) -> None:
        from bridge.msnp.events import Disconnected, PresenceChanged

        self.events += 1
        if isinstance(event, PresenceChanged) and event.passport == SENTINEL:
            self.sentinels.put_nowait(event.friendly_name or "")
        elif isinstance(event, Disconnected):
            detail = f": {event.detail[:50]}" if event.reason.value == "protocol" else ""
            self.disconnect = event.reason.value + detail
            self.sentinels.put_nowait("")


async def fuzz(frames: int, batch: int, seed: int, quiet: bool = False) -> dict[str, Any]:
    """Run the fuzz against a server subprocess; returns the figures."""
    from bridge.msnp.errors import MSNPException
    from bridge.msnp.values import Status

    loop = asyncio.get_running_loop()
    crashes: list[str] = []
    old_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, ctx: crashes.append(str(ctx.get("message"))[:200]))
    errors = Errors()
    msnp_log = logging.getLogger("msnp")
    old_level = msnp_log.level
    logging.getLogger().addHandler(errors)
    msnp_log.setLevel(logging.ERROR)  # the refusals' warnings are counted, not printed
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        *("--frames", str(frames), "--batch", str(batch), "--seed", str(seed)),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    ns_address = (await proc.stdout.readline()).decode().split()[0]
    monitor = Monitor()
    steps = StepTimer()
    r: dict[str, Any] = {"sessions": 0, "events": 0, "hangs": 0, "disconnects": {}}
    counters: dict[str, int] = {}
    statuses = [Status.AWAY, Status.BUSY, Status.ONLINE]
    start = time.perf_counter()
    r["rss_start_mb"] = rss_mb()
    r["rss_after_10pct_mb"] = 0.0
    progress = 0
    done = False
    monitor.start()
    try:
        with steps:
            while not done:
                session = Session(ns_address, 8 + r["sessions"] % 5)
                r["sessions"] += 1
                try:
                    await session.client.login(ME, None, ticket="t=fuzz&p=fuzz")
                except MSNPException as e:
                    session.disconnect = f"login: {type(e).__name__}"
                while session.client.connected:
                    try:
                        name = await asyncio.wait_for(session.sentinels.get(), 60)
                    except TimeoutError:
                        r["hangs"] += 1
                        break
                    if not name:  # disconnected
                        break
                    sent = sum(int(x) for x in name.split("-")[1:])
                    if not r["rss_after_10pct_mb"] and sent >= frames // 10:
                        r["rss_after_10pct_mb"] = rss_mb()
                    if sent >= progress + 100_000 and not quiet:
                        progress = sent - sent % 100_000
                        print(
                            f"  {sent:>9,} frames  {time.perf_counter() - start:6.1f} s  "
                            f"worst callback {steps.worst * 1000:5.1f} ms CPU  "
                            f"RSS {rss_mb():6.1f} MB",
                            flush=True,
                        )
                    if name.startswith("DONE"):
                        done = True
                        break
                    try:
                        await session.client.set_status(statuses[r["sessions"] % 3])
                        statuses.append(statuses.pop(0))
                    except MSNPException:
                        break
                await session.client.close()
                r["events"] += session.events
                if session.disconnect:
                    r["disconnects"][session.disconnect] = (
                        r["disconnects"].get(session.disconnect, 0) + 1
                    )
                for key, value in session.client.counters.items():
                    combine = max if key == "events_queued_peak" else int.__add__
                    counters[key] = combine(counters.get(key, 0), value)
    finally:
        monitor.stop()
        proc.stdin.close()
        figures = (await proc.stdout.readline()).split()
        await proc.wait()
        logging.getLogger().removeHandler(errors)
        msnp_log.setLevel(old_level)
        loop.set_exception_handler(old_handler)
    r["elapsed_s"] = time.perf_counter() - start
    r["ns_frames"], r["sb_frames"], r["rings_answered"] = map(int, figures)
    r["frames"] = r["ns_frames"] + r["sb_frames"]
    r.update(
        crashes=crashes,
        error_logs=errors.records,
        counters=counters,
        worst_step_ms=steps.worst * 1000,
        worst_step=steps.worst_what,
        steps_over_50ms=steps.over_50ms,
        gc_worst_ms=steps.gc_worst * 1000,
        gc_full=steps.gc_full,
        worst_stall_ms=monitor.worst * 1000,
        stalls_over_50ms=monitor.over_50ms,
        worst_cpu_stall_ms=monitor.worst_cpu * 1000,
        cpu_stalls_over_50ms=monitor.cpu_over_50ms,
        rss_peak_mb=max(monitor.rss_peak, rss_mb()),
        rss_end_mb=rss_mb(),
    )
    return r


def report(r: dict[str, Any]) -> Iterator[str]:
    yield f"frames sent       {r['frames']:,} ({r['ns_frames']:,} NS, {r['sb_frames']:,} SB)"
    yield f"switchboards      {r['rings_answered']:,} answered"
    yield f"sessions          {r['sessions']} (disconnects: {r['disconnects']})"
    yield f"events handled    {r['events']:,}"
    yield f"time              {r['elapsed_s']:.1f} s ({r['frames'] / r['elapsed_s']:,.0f} frames/s)"
    yield (
        f"worst stall       {r['worst_step_ms']:.1f} ms CPU in one callback "
        f"({r['steps_over_50ms']} callbacks > 50 ms)"
    )
    yield f"  longest         {r['worst_step']}"
    yield (
        f"  garbage coll.   longest pause {r['gc_worst_ms']:.1f} ms CPU "
        f"({r['gc_full']} full collections), not counted above"
    )
    yield (
        f"  ticker (5 ms)   {r['worst_cpu_stall_ms']:.1f} ms of loop CPU between two ticks "
        f"({r['cpu_stalls_over_50ms']} > 50 ms); {r['worst_stall_ms']:.1f} ms late by the wall "
        f"clock ({r['stalls_over_50ms']} > 50 ms; includes time the machine ran others)"
    )
    yield (
        f"memory (RSS)      start {r['rss_start_mb']:.1f} MB, after 10% "
        f"{r['rss_after_10pct_mb']:.1f} MB, peak {r['rss_peak_mb']:.1f} MB, "
        f"end {r['rss_end_mb']:.1f} MB"
    )
    yield f"refused/dropped   {r['counters']}"
    yield f"hangs             {r['hangs']}"
    yield f"crashes           {len(r['crashes'])} {r['crashes'][:3]}"
    yield f"ERROR log lines   {len(r['error_logs'])} {r['error_logs'][:3]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.frames, args.batch, args.seed))
        return
    print(f"fuzzing the MSN client with {args.frames:,} frames (seed {args.seed})")
    result = asyncio.run(fuzz(args.frames, args.batch, args.seed))
    print()
    for line in report(result):
        print(line)
    ok = not (result["hangs"] or result["crashes"] or result["error_logs"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
