"""Hostile input against the MSN client: per shape, the worst event-loop stall and peak memory.

Run with ``python bench/hostile.py [--size-kb 1024] [--only SHAPE ...] [--timeout 90]``.

Each shape runs in its own subprocess (twice: once timed, once under ``tracemalloc`` for the peak
of Python allocations), against our MSN test server (``tests.msn_server``) and, for switchboard
shapes, a scripted hostile switchboard in this process that answers ``ANS`` and then streams the
shape. A real :class:`MSNClient` logs in (MSNP12) and the input reaches it over real sockets:

* notification-server shapes are written into the client's NS connection
  (``MSNServer.send_raw``), followed by a marker presence line;
* switchboard shapes arrive after an injected ``RNG`` that points at the hostile switchboard,
  followed by a marker message.

The *stall* is the CPU time of the longest event-loop callback while the shape is handled
(garbage collections timed apart, so the figure does not depend on what else the machine runs);
a 1 ms ticker also reports how late the loop woke it by the wall clock. The shape ends when the
marker reached the event handler (or the client disconnected) and a status change round-trips.
A shape that has not finished within ``--timeout`` seconds is reported as ``>timeout``.
The baseline row ``idle`` runs the same login, marker and probe with no hostile input.

A second table times the pure parsing functions on 1 MB of each worst shape, bypassing the
size caps (CPU ms per 100 KB, best of a few runs; sizes double from 64 KB until 1 MB or until
one call takes > 3 s). Charsets are listed when they cost 2 ms per 100 KB or more; the worst of
the others is summed up in one line.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable
from pathlib import Path
import argparse
import asyncio
import codecs
import encodings.aliases
import json
import os
import pkgutil
import subprocess
import sys
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fuzz_client import StepTimer
from bridge.msnp import message as msnp_message, notification as msnp_ns
from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.codec import Parser, Role
from bridge.msnp.events import (
    Disconnected,
    Event,
    PresenceChanged,
    SwitchboardClosed,
    TextMessageReceived,
    TypingReceived,
)
from bridge.msnp.values import Status
from tests.msn_server.fixtures import running_server

ME = "alice@example.com"
PASSWORD = "alice123"
EVIL = "evil@example.com"
MARKER = "END-OF-SHAPE"


# ----------------------------------------------------------------------- measuring


class LoopMonitor:
    """Ticks every millisecond; the worst lateness is the longest event-loop stall."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.peak_fds = 0
        self.base_fds = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.base_fds = len(os.listdir("/proc/self/fd"))
        self.peak_fds = self.base_fds
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        tick = 0.001
        count = 0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(tick)
            late = time.perf_counter() - before - tick
            self.worst = max(self.worst, late)
            count += 1
            if count % 20 == 0:
                self.peak_fds = max(self.peak_fds, len(os.listdir("/proc/self/fd")))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


class Handler:
    """The client's event handler: counts events, spots the marker, optionally slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.events = 0
        self.typing = 0
        self.texts = 0
        self.marker = asyncio.Event()
        self.disconnected: Disconnected | None = None
        self.sb_closed_ends = False
        self.closed_sb = False
        self.last_event = time.monotonic()

    async def __call__(self, event: Event) -> None:
        self.events += 1
        self.last_event = time.monotonic()
        if isinstance(event, TypingReceived):
            self.typing += 1
        if isinstance(event, TextMessageReceived):
            self.texts += 1
            if event.text == MARKER:
                self.marker.set()
        if isinstance(event, PresenceChanged) and event.friendly_name == MARKER:
            self.marker.set()
        if isinstance(event, Disconnected):
            self.disconnected = event
            self.marker.set()
        if isinstance(event, SwitchboardClosed) and self.sb_closed_ends:
            self.closed_sb = True
            self.marker.set()
        if self.delay:
            await asyncio.sleep(self.delay)


# ----------------------------------------------------------------------- hostile peers


def _line(*parts: object) -> bytes:
    return (" ".join(str(p) for p in parts) + "\r\n").encode()


def _payload_cmd(head: str, payload: bytes) -> bytes:
    return f"{head} {len(payload)}\r\n".encode() + payload


def text_msg(text: str, charset: str = "UTF-8", sender: str = EVIL) -> bytes:
    payload = (
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()
        + text.encode("utf-8")
    )
    return _payload_cmd(f"MSG {sender} Evil", payload)


SBScript = Callable[[int], list[bytes]]


class HostileSwitchboard:
    """Answers ``ANS`` (IRO + OK) and then writes what ``script(connection_number)`` returns."""

    def __init__(self, script: SBScript, hold: bool = True) -> None:
        self.script = script
        self.hold = hold
        self.connections = 0
        self.open = 0
        self.peak_open = 0
        self.finished = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        self._writers.add(writer)
        try:
            line = await reader.readline()
            tokens = line.decode(errors="replace").split()
            if len(tokens) >= 2 and tokens[0] == "ANS":
                trid = tokens[1]
                writer.write(_line("IRO", trid, 1, 1, f"inviter{number}@example.com", "Evil"))
                writer.write(_line("ANS", trid, "OK"))
                for chunk in self.script(number):
                    writer.write(chunk)
                    await writer.drain()
            self.finished += 1
            if self.hold:
                await reader.read()  # until the client closes
        except (ConnectionError, OSError):
            pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()


class BlackHole(HostileSwitchboard):
    """Accepts connections and never answers."""

    def __init__(self) -> None:
        super().__init__(lambda _: [], hold=True)

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        self._writers.add(writer)
        try:
            await reader.read()
        except (ConnectionError, OSError):
            pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()


def rng_line(i: int, port: int, inviter: str) -> bytes:
    return _line("RNG", 10000 + i, f"127.0.0.1:{port}", "CKI", f"{i}.{i}.1", inviter, "Evil")


# ----------------------------------------------------------------------- shapes


def _sized(unit: bytes, size: int) -> bytes:
    return unit * max(1, size // len(unit))


def ubx(payload: bytes, who: str = "carol@example.com") -> bytes:
    return _payload_cmd(f"UBX {who}", payload)


def marker_line() -> bytes:
    return _line("NLN", "NLN", "carol@example.com", MARKER, 0)


def all_codec_names() -> list[str]:
    """Every codec name Python resolves (one name per codec): the alias table and every module
    of the ``encodings`` package (punycode, idna, ... have no alias)."""
    candidates = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    candidates |= {m.name for m in pkgutil.iter_modules(encodings.__path__)}
    names: dict[str, str] = {}
    for alias in sorted(candidates):
        try:
            info = codecs.lookup(alias)
        except LookupError:
            continue
        names.setdefault(info.name, alias)
    return sorted(names.values())


#: Bodies tried with every charset (quadratic codecs need particular shapes).
def charset_bodies(size: int) -> list[bytes]:
    return [
        b"-" + _sized(b"9", size - 1),  # punycode: one long extended part, big deltas
        _sized(b"+AAAA", size),  # utf-7 shifts
        _sized(b"\xff\xfe", size),
        _sized(b"a", size),
    ]


class Shape:
    def __init__(
        self,
        name: str,
        *,
        ns: Callable[[int], list[bytes]] | None = None,
        sb: SBScript | None = None,
        rings: int = 1,
        distinct_inviters: bool = False,
        black_hole: bool = False,
        handler_delay: float = 0.0,
        quiet: float = 0.0,
        about: str = "",
    ) -> None:
        self.name = name
        self.ns = ns
        self.sb = sb
        self.rings = rings
        self.distinct_inviters = distinct_inviters
        self.black_hole = black_hole
        self.handler_delay = handler_delay
        self.quiet = quiet
        self.about = about


def sb_charsets(size: int) -> SBScript:
    bodies = charset_bodies(size // 8)
    names = all_codec_names()

    def script(_: int) -> list[bytes]:
        out = []
        for name in names:
            for body in bodies:
                payload = (
                    f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={name}\r\n\r\n"
                ).encode() + body
                out.append(_payload_cmd(f"MSG {EVIL} Evil", payload))
        out.append(text_msg(MARKER))
        return out

    return script


def shapes(size: int) -> dict[str, Shape]:
    line_max = 16 * 1024 - 64
    n_lines = max(1, size // line_max)
    group_ids = ",".join(f"{i:08x}-0000-0000-0000-000000000000" for i in range(400))[:line_max]
    long_name = "%41" * (line_max // 6 - 40)
    result = [
        Shape("idle", ns=lambda s: [], about="baseline: login, marker and probe only"),
        Shape(
            "ubx-unclosed",
            ns=lambda s: [ubx(_sized(b"<PSM>", s))],
            about="UBX: <PSM> repeated, never closed",
        ),
        Shape(
            "ubx-nested",
            ns=lambda s: [
                ubx(
                    b"<Data>"
                    + _sized(b"<PSM><CurrentMedia>", s // 2 - 8)
                    + _sized(b"</PSM  </CurrentMedia  ", s // 2 - 8)
                )
            ],
            about="UBX: nested opening tags, closing tags without '>'",
        ),
        Shape(
            "ubx-oversize",
            ns=lambda s: [ubx(b"<Data><PSM>" + _sized(b"x", s - 30) + b"</PSM></Data>")],
            about="UBX: a well-formed 1 MB personal message",
        ),
        Shape(
            "ns-msg-headers",
            ns=lambda s: [_payload_cmd("MSG Hotmail Hotmail", _sized(b"X-H: v\r\n", s))],
            about="NS MSG: 1 MB of header lines",
        ),
        Shape(
            "lst-long",
            ns=lambda s: [
                _line("LST", f"N=x{i}@example.com", "F=X", f"C={i:08x}", 11, 1, group_ids)
                for i in range(n_lines)
            ],
            about="LST lines of 16 KB (group ids)",
        ),
        Shape(
            "iln-long",
            ns=lambda s: [
                _line("ILN", 7, "NLN", "carol@example.com", long_name, 0, long_name)
                for _ in range(n_lines)
            ],
            about="ILN lines of 16 KB (name, msnobj)",
        ),
        Shape(
            "presence-unknown",
            ns=lambda s: [
                b"".join(_line("NLN", "NLN", f"u{i}@example.com", "U", 0) for i in range(s // 40))
            ],
            about="NLN for 1 MB worth of addresses not on any list",
        ),
        Shape(
            "sb-headers",
            sb=lambda _: [
                _payload_cmd(f"MSG {EVIL} Evil", _sized(b"X-H: v\r\n", size - 8) + b"\r\n"),
                text_msg(MARKER),
            ],
            about="SB MSG: 1 MB of header lines",
        ),
        Shape(
            "sb-header-long",
            sb=lambda _: [
                _payload_cmd(
                    f"MSG {EVIL} Evil",
                    b"Content-Type: text/plain; charset=" + _sized(b"x", size - 40) + b"\r\n\r\n",
                ),
                text_msg(MARKER),
            ],
            about="SB MSG: one 1 MB header line",
        ),
        Shape(
            "sb-oversize",
            sb=lambda _: [text_msg("x" * (size - 80)), text_msg(MARKER)],
            about="SB MSG: a 1 MB text message",
        ),
        Shape(
            "sb-charsets",
            sb=sb_charsets(size),
            about="SB MSG: every registered codec name x 4 bodies of size/8",
        ),
        Shape(
            "rng-flood",
            rings=1500,
            black_hole=True,
            about="1,500 RNG from one inviter to a switchboard that never answers",
        ),
        Shape(
            "rng-flood-many",
            rings=1500,
            distinct_inviters=True,
            black_hole=True,
            about="1,500 RNG from 1,500 inviters to a switchboard that never answers",
        ),
        Shape(
            "sb-flood",
            rings=300,
            distinct_inviters=True,
            sb=lambda _: [text_msg(f"flood {i}") for i in range(50)],
            quiet=1.0,
            about="300 answered switchboards from 300 inviters, 50 messages each",
        ),
        Shape(
            "sb-joi-flood",
            sb=lambda _: [
                b"".join(_line("JOI", f"j{i}@example.com", "J") for i in range(size // 32)),
                text_msg(MARKER),
            ],
            about="one switchboard: JOI of 1 MB worth of distinct addresses",
        ),
        Shape(
            "typing-flood-slow-handler",
            sb=lambda _: [
                b"".join(
                    _payload_cmd(
                        f"MSG {EVIL} Evil",
                        b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n"
                        b"TypingUser: evil@example.com\r\n\r\n\r\n",
                    )
                    for _ in range(size // 128)
                ),
                text_msg(MARKER),
            ],
            handler_delay=0.0005,
            about="1 MB of typing notifications while the handler needs 0.5 ms per event",
        ),
    ]
    return {s.name: s for s in result}


# ----------------------------------------------------------------------- running one shape


def client_config(server_address: str, passport_url: str) -> ClientConfig:
    return ClientConfig(
        server=server_address,
        protocols=(12,),
        passport_url=passport_url,
        transaction_timeout=60.0,
        connect_timeout=10.0,
        switchboard_join_timeout=10.0,
        keepalive_interval=600.0,
        keepalive_timeout=600.0,
    )


async def run_shape(shape: Shape, size: int, memory: bool) -> dict[str, Any]:
    async with running_server() as server:
        handler = Handler(shape.handler_delay)
        handler.sb_closed_ends = shape.sb is not None and shape.rings == 1
        client = MSNClient(client_config(server.server_address, server.passport_url), handler)
        await client.login(ME, PASSWORD)
        await asyncio.sleep(0.2)  # let the login's own events through
        peers: list[HostileSwitchboard] = []
        data: list[bytes] = []
        if shape.ns is not None:
            data = [*shape.ns(size), marker_line()]
        if shape.rings:
            peer: HostileSwitchboard
            if shape.black_hole:
                peer = BlackHole()
            elif shape.sb is not None:
                # built before measuring: the peer's own work is not the client's stall
                chunks = shape.sb(0)
                peer = HostileSwitchboard(lambda _: chunks)
            else:
                peer = None  # type: ignore[assignment]
            if peer is not None:
                await peer.start()
                peers.append(peer)
                inviters = [
                    f"inviter{i}@example.com" if shape.distinct_inviters else EVIL
                    for i in range(shape.rings)
                ]
                data = [b"".join(rng_line(i, peer.port, inviters[i]) for i in range(shape.rings))]
                if shape.black_hole or shape.quiet:
                    data.append(marker_line())
        monitor = LoopMonitor()
        if memory:
            tracemalloc.start()
            tracemalloc.reset_peak()
        monitor.start()
        steps = StepTimer().__enter__()
        start = time.perf_counter()
        for chunk in data:
            await server.send_raw(ME, chunk)
        await handler.marker.wait()
        if shape.quiet:
            while time.monotonic() - handler.last_event < shape.quiet or peers[0].finished < min(
                shape.rings, peers[0].connections
            ):
                await asyncio.sleep(0.1)
        if shape.black_hole:
            # the rings are answered in background tasks: wait until no new connection for 1 s
            seen = -1
            while seen != peers[0].connections:
                seen = peers[0].connections
                await asyncio.sleep(1.0)
        if client.connected:
            await asyncio.wait_for(client.set_status(Status.AWAY), 120)
        elapsed = time.perf_counter() - start
        steps.__exit__()
        await monitor.stop()
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        if memory:
            tracemalloc.stop()
        result: dict[str, Any] = {
            "shape": shape.name,
            "stall_ms": steps.worst * 1000,
            "gc_ms": steps.gc_worst * 1000,
            "wall_ms": monitor.worst * 1000,
            "elapsed_s": elapsed,
            "peak_mb": peak / 1e6,
            "events": handler.events,
            "disconnected": handler.disconnected.detail[:60] if handler.disconnected else "",
            "sb_closed": handler.closed_sb,
            "fds": monitor.peak_fds - monitor.base_fds,
        }
        if peers:
            result["sb_connections"] = peers[0].connections
            result["sb_peak_open"] = peers[0].peak_open
        counters = getattr(client, "counters", None)
        if counters:
            result["counters"] = dict(counters)
        await client.close()
        for p in peers:
            await p.stop()
        return result


# ----------------------------------------------------------------------- parse functions


def _parse_ubx_old(payload: bytes) -> Any:
    xml = payload.decode("utf-8", errors="replace")
    return msnp_ns._xml_field(xml, "PSM"), msnp_ns._xml_field(xml, "CurrentMedia")


def _parse_ubx_new(payload: bytes) -> Any:
    """``ubx.parse_user_data``'s XML reading with its size and element limits lifted."""
    from bridge.msnp.errors import ProtocolError
    from bridge.msnp.xmlsafe import parse_xml

    try:
        root = parse_xml(payload, max_bytes=1 << 30, max_elements=10**8)
    except ProtocolError:
        return None  # malformed: skipped
    return root.findtext("PSM"), root.findtext("CurrentMedia")


def ubx_parser() -> Callable[[bytes], Any]:
    """How the client reads a UBX payload (the regex in code from before the fix)."""
    return _parse_ubx_old if hasattr(msnp_ns, "_xml_field") else _parse_ubx_new


def _message_text(charset: str) -> Callable[[bytes], Any]:
    head = f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\r\n".encode()

    def run(body: bytes) -> Any:
        return msnp_message.parse_message(head + body).text

    return run


def _parser_lines(data: bytes) -> Any:
    parser = Parser(Role.CLIENT, version=12, max_payload=1 << 30)
    parser.feed(data)
    return sum(1 for _ in parser)


def function_shapes() -> dict[str, tuple[Callable[[bytes], Any], Callable[[int], bytes]]]:
    ubx_parse = ubx_parser()
    lines = 16 * 1024 - 64
    out: dict[str, tuple[Callable[[bytes], Any], Callable[[int], bytes]]] = {
        "ubx <PSM> unclosed": (ubx_parse, lambda n: _sized(b"<PSM>", n)),
        "ubx nested/no '>'": (
            ubx_parse,
            lambda n: _sized(b"<PSM><CurrentMedia>", n // 2) + _sized(b"</PSM  ", n // 2),
        ),
        "ubx mixed case": (ubx_parse, lambda n: _sized(b"<psm><PsM ><pSm\t>", n)),
        "msg header lines": (
            lambda p: msnp_message.parse_message(p).text,
            lambda n: _sized(b"X-H: v\r\n", n),
        ),
        "msg one header line": (
            lambda p: msnp_message.parse_message(p).format,
            lambda n: b"X-MMS-IM-Format: " + _sized(b"FN=a;", n),
        ),
        "LST lines": (
            _parser_lines,
            lambda n: _sized(
                ("LST N=a@b.c F=x C=1 11 1 " + "g," * (lines // 2 - 20) + "\r\n").encode()[:lines]
                + b"\r\n",
                n,
            ),
        ),
    }
    for name in all_codec_names():
        for body in range(len(charset_bodies(16))):
            out[f"charset={name} #{body}"] = (
                _message_text(name),
                lambda n, b=body: charset_bodies(n)[b],  # type: ignore[misc]
            )
    return out


def time_function(fn: Callable[[bytes], Any], make: Callable[[int], bytes]) -> tuple[int, float]:
    """(largest size measured, CPU seconds for it): doubling from 64 KB until 1 MB or > 3 s."""
    size = 64 * 1024
    while True:
        data = make(size)
        best = float("inf")
        for _ in range(2 if size >= 512 * 1024 else 3):
            start = time.thread_time()
            fn(data)
            best = min(best, time.thread_time() - start)
        if best > 3.0 or size >= 1024 * 1024:
            return size, best
        size *= 2


# ----------------------------------------------------------------------- main


def run_child(name: str, size: int, memory: bool, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", name, "--size-kb", str(size // 1024)]
    if memory:
        cmd.append("--memory")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"shape": name, "timeout": True}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    return {"shape": name, "error": (out.stderr or out.stdout)[-400:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-kb", type=int, default=1024)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--skip-functions", action="store_true")
    ap.add_argument("--functions-only", action="store_true")
    ap.add_argument("--child")
    ap.add_argument("--memory", action="store_true")
    args = ap.parse_args()
    size = args.size_kb * 1024
    table = shapes(size)
    if args.child:
        result = asyncio.run(run_shape(table[args.child], size, args.memory))
        print(json.dumps(result))
        return

    names = [] if args.functions_only else args.only or list(table)
    run_shapes(names, table, size, args.timeout)
    if not args.skip_functions:
        run_functions()


def run_shapes(names: list[str], table: dict[str, Shape], size: int, timeout: float) -> None:
    if not names:
        return
    print(f"hostile shapes, payload size {size // 1024} KB (timeout {timeout:g} s)")
    print(
        "stall: CPU time of the longest event-loop callback (GC apart); wall: how late a 1 ms\n"
        "ticker woke (includes time the shared machine ran other processes)\n"
    )
    header = (
        f"{'shape':<26} {'stall ms':>10} {'wall ms':>8} {'time s':>8} {'peak MB':>8} "
        f"{'fds':>5} {'SB conns':>8} {'events':>8}  notes"
    )
    print(header)
    print("-" * len(header))
    for name in names:
        timed = run_child(name, size, False, timeout)
        if timed.get("timeout"):
            print(f"{name:<26} {'>' + format(timeout, 'g') + ' s':>10}   (did not finish)")
            continue
        if "error" in timed:
            print(f"{name:<26} error: {timed['error']!r}")
            continue
        mem = run_child(name, size, True, timeout * 2)
        peak = "timeout" if mem.get("timeout") else f"{mem.get('peak_mb', 0):.1f}"
        notes = []
        if timed.get("disconnected"):
            notes.append(f"disconnected: {timed['disconnected']}")
        if timed.get("sb_closed"):
            notes.append("switchboard closed")
        if timed.get("counters"):
            notes.append(" ".join(f"{k}={v}" for k, v in sorted(timed["counters"].items()) if v))
        if timed.get("gc_ms", 0) > 5:
            notes.append(f"longest GC {timed['gc_ms']:.0f} ms")
        print(
            f"{name:<26} {timed['stall_ms']:>10.1f} {timed['wall_ms']:>8.1f} "
            f"{timed['elapsed_s']:>8.2f} {peak:>8} {timed['fds']:>5} "
            f"{timed.get('sb_connections', ''):>8} {timed['events']:>8}  " + "; ".join(notes)
        )
        sys.stdout.flush()


def run_functions() -> None:
    print("\nparse functions on the worst shapes (caps bypassed)\n")
    print(f"{'input':<34} {'size KB':>8} {'ms':>10} {'ms/100KB':>9}")
    worst_name, worst_rate = "", 0.0
    for name, (fn, make) in function_shapes().items():
        measured, seconds = time_function(fn, make)
        rate = seconds * 1000 / (measured / (100 * 1024))
        if name.startswith("charset=") and rate < 2.0 and measured >= 1024 * 1024:
            if rate > worst_rate:
                worst_name, worst_rate = name, rate
            continue
        flag = "" if measured >= 1024 * 1024 else "  (stopped: > 3 s)"
        print(f"{name:<34} {measured // 1024:>8} {seconds * 1000:>10.1f} {rate:>9.2f}{flag}")
    if worst_name:
        print(
            f"{'other charsets, worst: ' + worst_name[8:]:<34} {1024:>8} {'':>10} "
            f"{worst_rate:>9.2f}"
        )


if __name__ == "__main__":
    main()
