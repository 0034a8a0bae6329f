"""Fuzz tests (hypothesis) of the client's handling of what servers send, over real sockets.

A tiny scripted notification server (and switchboard) on 127.0.0.1 plays a login, then sends
hypothesis-generated traffic: valid and mutated commands, wrong argument counts, garbage,
oversized lines and payload announcements, invalid UTF-8. A reference :class:`Parser` says
what the stream means, so each example checks a precise outcome:

* nothing but :class:`MSNPException` subclasses reaches the caller, no background task dies
  (the loop's exception handler and ERROR log records stay empty);
* malformed framing ends in ``Disconnected(PROTOCOL_ERROR)``, a well-framed stream leaves the
  session usable (a transaction still succeeds), ``OUT`` ends it with the matching reason;
* buffers and the contact dict stay bounded; everything finishes within timeouts.

``message.py``'s pure parse functions are fuzzed directly at the end.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import asyncio
import logging
import os

from hypothesis import HealthCheck, event, example, given, settings, strategies as st
import pytest

from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.codec import SERVER_PAYLOAD_COMMANDS, Command, Parser, Role
from bridge.msnp.errors import ConnectionClosed, MSNPException, ProtocolError
from bridge.msnp.events import (
    Disconnected,
    Event,
    NudgeReceived,
    OtherMessageReceived,
    SwitchboardClosed,
    TextMessageReceived,
    TypingReceived,
)
from bridge.msnp.message import (
    Message,
    format_header,
    is_nudge,
    parse_format,
    parse_message,
    split_text,
)
from bridge.msnp.values import DisconnectReason, MessageFormat
from tests.support.client_fixtures import Recorder

pytestmark = pytest.mark.timeout(120)

ME = "alice@example.com"
MAX_LINE = 600
MAX_PAYLOAD = 2048
#: Transaction ids the client uses during the scripted login are 1-6; the probe after the
#: fuzzed traffic gets 7 + (number of CHL answered). Generated trids avoid 7..999 so that a
#: fuzzed reply can never be mistaken for the probe's.
_LOW_TRIDS = st.integers(0, 6)
_HIGH_TRIDS = st.integers(1000, 2**40)
_CLIENT_PAYLOAD = frozenset({"QRY", "UUX", "MSG", "ADL", "RML", "FQY", "UUN", "PAG", "SDC"})

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_CLIENT_EXAMPLES", "70")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# ------------------------------------------------------------------ strategies


def _no_probe_trid(token: str) -> str:
    return "#" + token if token.isascii() and token.isdigit() else token


numbers = st.one_of(
    _LOW_TRIDS.map(str),
    _HIGH_TRIDS.map(str),
    st.sampled_from(["-1", "00", "1e5", "0x10", "\u0663", "9" * 400, "4294967296", "1.5"]),
)
passports = st.sampled_from(
    [
        "bob@example.com",
        "Bob@Example.COM",
        "carol@example.com",
        ME,
        "x",
        "@",
        "%41lice@example.com",
        "\u00fcn\u00ef@example.com",
        "bob@example.com;{0f0e}",
        "N=bob@example.com",
        "C=12345678-1234-1234-1234-123456789abc",
        "12345678-1234-1234-1234-123456789abc",
    ]
)
weird_text = st.text(
    alphabet=st.characters(blacklist_characters=" \r\n", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
).map(_no_probe_trid)
weird_bytes = st.binary(min_size=1, max_size=8).map(
    lambda b: b.replace(b" ", b"_").replace(b"\r", b"_").replace(b"\n", b"_")
)
words = st.sampled_from(
    [
        "NLN",
        "BSY",
        "AWY",
        "HDN",
        "FLN",
        "zzz",
        "FL",
        "AL",
        "BL",
        "RL",
        "PL",
        "XX",
        "OK",
        "0",
        "SB",
        "NS",
        "CKI",
        "MFN",
        "OTH",
        "SSD",
        "Friends",
        "Hello%20World",
        "%",
        "%zz",
        "=",
        "N=",
        "F=",
    ]
)
token = st.one_of(
    passports.map(str.encode),
    weird_text.map(str.encode),
    weird_bytes.filter(lambda b: not (b.isascii() and b.isdigit())),
    numbers.map(str.encode),
    words.map(str.encode),
)
tokens = st.lists(token, max_size=7)


def line(name: bytes, *args: bytes, payload: bytes | None = None) -> bytes:
    parts = [name, *args]
    if payload is not None:
        parts.append(str(len(payload)).encode())
    data = b" ".join(parts) + b"\r\n"
    return data if payload is None else data + payload


def enc(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def cmd(name: str, *parts: object, payload: bytes | None = None) -> bytes:
    return line(name.encode(), *(enc(p) for p in parts), payload=payload)


# MIME payloads (switchboard and NS MSG)
charsets = st.sampled_from(
    [
        "",
        "UTF-8",
        "utf-8",
        '"UTF-8"',
        "iso-8859-1",
        "utf-16",
        "utf-7",
        "ascii",
        "undefined",
        "idna",
        "punycode",
        "base64",
        "rot13",
        "x-bogus",
        "unicode_escape",
    ]
)
content_types = st.sampled_from(
    [
        "text/plain",
        "TEXT/Plain",
        "text/x-msmsgscontrol",
        "text/x-msnmsgr-datacast",
        "text/x-msmsgsprofile",
        "application/x-msnmsgrp2p",
        "text/x-mms-emoticon",
        "",
        ";;",
    ]
)
header_names = st.sampled_from(
    [
        "MIME-Version",
        "Content-Type",
        "X-MMS-IM-Format",
        "TypingUser",
        "P2P-Dest",
        "ID",
        "",
        " ",
        "x",
        "content-type",
    ]
)
header_values = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
        max_size=30,
    ),
    st.sampled_from(["FN=Arial; EF=BIUS; CO=ff00; CS=0; PF=22", "FN=%zz; CO=zzzzzzzz; EF=;"]),
)


@st.composite
def mime_payloads(draw: st.DrawFn) -> bytes:
    headers: list[bytes] = []
    if draw(st.booleans()):
        ctype = draw(content_types)
        charset = draw(charsets)
        value = f"{ctype}; charset={charset}" if charset else ctype
        headers.append(f"Content-Type: {value}".encode())
    for name, value in draw(st.lists(st.tuples(header_names, header_values), max_size=4)):
        headers.append(f"{name}: {value}".encode())
    headers.extend(draw(st.lists(st.binary(max_size=16), max_size=2)))
    sep = draw(st.sampled_from([b"\r\n\r\n", b"\n\n", b"\r\n", b""]))
    body = draw(
        st.one_of(
            st.binary(max_size=64),
            st.sampled_from(
                [b"ID: 1\r\n\r\n", b"hello", "h\u00e9llo \u263a".encode(), b"\xff\xfe"]
            ),
        )
    )
    return draw(st.sampled_from([b"\r\n", b"\n"])).join(headers) + sep + body


ubx_xml = st.one_of(
    st.binary(max_size=80),
    st.tuples(header_values, header_values).map(
        lambda t: (
            f"<Data><PSM>{t[0]}</PSM><CurrentMedia>{t[1]}</CurrentMedia></Data>".encode(
                "utf-8", "surrogatepass"
            )
        )
    ),
)


def ns_commands(sb_address: str) -> st.SearchStrategy[bytes]:
    """Well-framed notification-server lines: valid shapes with fuzzed values."""
    trid = st.one_of(_LOW_TRIDS, _HIGH_TRIDS)
    p, t, n = passports, token, st.one_of(numbers, st.sampled_from(["0", "1", "11", "31"]))
    lists = st.sampled_from(["FL", "AL", "BL", "RL", "PL", "XL", "fl", ""])
    status = st.sampled_from(["NLN", "BSY", "IDL", "BRB", "AWY", "PHN", "LUN", "HDN", "FLN", "?"])
    opt = st.lists(t, max_size=2)
    addr = st.sampled_from(
        [
            sb_address,
            "127.0.0.1:99999",
            "127.0.0.1:-1",
            "127.0.0.1:",
            ":1863",
            "127.0.0.1:0",
            "127.0.0.1:1x",
            "127.0.0.1\x00:5",
            "[::1]:65536",
            "127.0.0.1:0001863",
        ]
    )
    return st.one_of(
        st.builds(lambda *a: cmd("NLN", *a[:4], *a[4]), status, p, t, n, opt),
        st.builds(lambda *a: cmd("ILN", *a[:5], *a[5]), trid, status, p, t, n, opt),
        st.builds(lambda a, b: cmd("FLN", a, *b), p, opt),
        st.builds(lambda a, b, x: cmd("UBX", a, *b, payload=x), p, opt, ubx_xml),
        st.builds(lambda *a: cmd("LST", *a[:7], *a[7]), trid, lists, n, n, n, p, t, opt),
        st.builds(lambda *a: cmd("LST", *a[:3], *a[3]), p, t, n, opt),
        st.builds(
            lambda a, b, c, d, e: cmd("LST", f"N={a}", f"F={b}", f"C={c}", d, *e),
            p,
            weird_text,
            weird_text,
            n,
            opt,
        ),
        st.builds(lambda *a: cmd("LSG", *a[:2], *a[2]), t, t, opt),
        st.builds(lambda *a: cmd("LSG", *a[:6]), trid, n, n, n, n, t),
        st.builds(
            lambda a, b, c, d, e: cmd("ADC", a, b, f"N={c}", f"F={d}", *e), trid, lists, p, t, opt
        ),
        st.builds(lambda a, b, c: cmd("ADC", a, b, *c), trid, lists, tokens),
        st.builds(lambda *a: cmd("ADD", *a[:5], *a[5]), trid, lists, n, p, t, opt),
        st.builds(lambda a, b, c, d: cmd("REM", a, b, *c, *d), trid, lists, opt, opt),
        st.builds(lambda a, b, c: cmd("REM", a, "RL", c, *b), trid, st.lists(n, max_size=1), p),
        st.builds(lambda *a: cmd("ADG", *a[:2], *a[2]), trid, t, opt),
        st.builds(lambda a, b: cmd("RMG", a, *b), trid, opt),
        st.builds(lambda a, b: cmd("PRP", a, *b), trid, opt),
        st.builds(lambda a, b: cmd("BLP", a, *b), trid, opt),
        st.builds(lambda a, b, c, d, e: cmd("RNG", a, b, "CKI", c, d, *e), t, addr, t, p, opt),
        st.builds(lambda a, b: cmd("RNG", *a, *b), opt, opt),
        st.builds(lambda a, b, c: cmd("XFR", a, b, c, "CKI", "x"), trid, words, addr),
        st.builds(lambda a: cmd("CHL", 0, a), st.one_of(numbers, weird_text)),
        st.just(cmd("CHL", 0)),
        st.builds(lambda a: cmd("QNG", *a), st.lists(numbers, max_size=1)),
        st.builds(lambda a, b: cmd("MSG", *a, payload=b), opt, mime_payloads()),
        st.builds(lambda a: cmd("NOT", payload=a), st.binary(max_size=60)),
        st.builds(
            lambda a, b: cmd(a, b), st.sampled_from(["911", "200", "500", "999", "000"]), trid
        ),
        # any name, any arguments (payload commands keep a correct length)
        st.builds(
            lambda name, args, payload: line(
                name.encode(),
                *args,
                payload=payload if name in SERVER_PAYLOAD_COMMANDS else None,
            ),
            st.sampled_from(
                [
                    "NLN",
                    "ILN",
                    "FLN",
                    "UBX",
                    "LST",
                    "LSG",
                    "ADC",
                    "ADD",
                    "REM",
                    "RNG",
                    "XFR",
                    "CHL",
                    "QNG",
                    "MSG",
                    "NOT",
                    "PRP",
                    "BLP",
                    "ADG",
                    "RMG",
                    "SBS",
                    "GTC",
                    "BPR",
                    "UBN",
                    "IPG",
                    "GCF",
                    "NFY",
                    "ZZZ",
                    "A",
                    "1",
                    "UUX",
                    "ADL",
                    "FQY",
                    "SYN",
                    "CHG",
                ]
            ),
            tokens,
            st.binary(max_size=40),
        ),
        st.sampled_from([b"\r\n", b"\n", b" \r\n", b"NLN\n"]),
    )


# Lines that break the framing (or are meant to); the reference parser says which do.
breaking = st.one_of(
    st.binary(max_size=48),
    st.builds(lambda n: cmd("MSG", "a", "b", n), st.integers(MAX_PAYLOAD + 1, 10**13)),
    st.builds(lambda n: b"MSG a b " + b"9" * n + b"\r\n", st.integers(12, 30)),
    st.builds(lambda k: b"NLN " + b"x" * (MAX_LINE + k) + b"\r\n", st.integers(0, 3000)),
    st.sampled_from([b"MSG a b\r\n", b"UBX bob@example.com\r\n", b"\xff\xfe 1\r\n", b"NOT\r\n"]),
    st.sampled_from([b"NLN NLN bob@example.com Bob\r", b"N\x00L 1\r\n", b"UBX a 10\r\nshort"]),
    st.builds(lambda n: cmd("MSG", "a", "b", n) + b"x" * (n // 2), st.integers(2, 200)),
)


def ns_traffic(sb_address: str) -> st.SearchStrategy[list[bytes]]:
    framed = ns_commands(sb_address)
    return st.one_of(
        st.lists(framed, max_size=25),
        st.lists(st.one_of(framed, framed, framed, breaking), max_size=25),
    )


# -------------------------------------------------------------- scripted server


@dataclass
class ScriptedServer:
    """A scripted NS (login for ``version``, then ``traffic``) and a scripted switchboard."""

    version: int
    traffic: list[bytes] = field(default_factory=list)
    iro: list[tuple[str, str]] = field(default_factory=list)
    sb_traffic: list[bytes] = field(default_factory=list)
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    sb_done: asyncio.Event = field(default_factory=asyncio.Event)
    qry_count: int = 0
    sb_answered: bool = False
    _ns_writer: asyncio.StreamWriter | None = None
    _servers: list[asyncio.Server] = field(default_factory=list)
    _handlers: set[asyncio.Task[Any]] = field(default_factory=set)

    async def start(self) -> None:
        self._servers.append(await asyncio.start_server(self._ns, "127.0.0.1", 0))
        self._servers.append(await asyncio.start_server(self._sb, "127.0.0.1", 0))

    def address(self, index: int) -> str:
        port = self._servers[index].sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def stop(self) -> None:
        self.close_ns()
        for server in self._servers:
            server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def close_ns(self) -> None:
        if self._ns_writer is not None:
            self._ns_writer.close()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> list[str] | None:
        raw = await reader.readline()
        if not raw:
            return None
        words = raw.decode("utf-8", "replace").split()
        if words and words[0] in _CLIENT_PAYLOAD and words[-1].isdigit():
            await reader.readexactly(int(words[-1]))
        return words or [""]

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, *chunks: bytes) -> None:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    async def _ns(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._ns_writer = writer
        v = self.version
        try:
            while (words := await self._read(reader)) is not None:
                name, t = words[0], words[1] if len(words) > 1 else "0"
                if name == "VER":
                    reply = cmd("VER", t, f"MSNP{v}", "CVR0")
                elif name == "CVR":
                    reply = cmd("CVR", t, "7.0.0816", "7.0.0816", "7.0.0816", "x", "x")
                elif name == "INF":
                    reply = cmd("INF", t, "MD5")
                elif name == "USR" and words[3:4] == ["I"]:
                    reply = cmd("USR", t, words[2], "S", "1013928519.693957190")
                elif name == "USR":
                    extra = ("1", "0") if v >= 8 else ()
                    name_arg = () if v >= 10 else ("Alice",)
                    reply = cmd("USR", t, "OK", ME, *name_arg, *extra)
                elif name == "SYN":
                    reply = cmd("SYN", t, "0")
                elif name == "CHG":
                    reply = cmd("CHG", t, *words[2:])
                    if not self.sent.is_set():
                        try:
                            await self._write(writer, reply, *self.traffic)
                        finally:
                            self.sent.set()
                        continue
                elif name == "PNG":
                    reply = b"QNG 50\r\n"
                elif name == "QRY":
                    self.qry_count += 1
                    reply = cmd("QRY", t)
                elif name == "OUT":
                    break
                else:
                    reply = cmd(name, *words[1:])  # echo: BLP t AL -> BLP t AL
                await self._write(writer, reply)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.sent.set()
            writer.close()

    async def _sb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            words = await self._read(reader)
            if words and words[0] == "ANS" and not self.sb_answered:
                self.sb_answered = True
                t = words[1]
                iro = [
                    cmd("IRO", t, i + 1, len(self.iro), p, n) for i, (p, n) in enumerate(self.iro)
                ]
                await self._write(writer, *iro, cmd("ANS", t, "OK"), *self.sb_traffic)
        except OSError:
            pass
        finally:
            writer.close()
            self.sb_done.set()


# ------------------------------------------------------------------ harness


def reference(traffic: list[bytes], version: int | None) -> tuple[list[Command], bool, int]:
    """What a parser makes of the stream: (commands, protocol error?, bytes left over)."""
    parser = Parser(Role.CLIENT, version=version, max_line=MAX_LINE, max_payload=MAX_PAYLOAD)
    commands: list[Command] = []
    try:
        for chunk in traffic:
            parser.feed(chunk)
            commands.extend(parser)
    except ProtocolError:
        return commands, True, 0
    return commands, False, parser.buffered


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def watched() -> Iterator[tuple[list[dict[str, Any]], _Records]]:
    """Collect loop exception-handler calls and log records for the duration."""
    handler = _Records()
    root = logging.getLogger()
    msnp = logging.getLogger("msnp")
    old_level = msnp.level
    msnp.setLevel(logging.INFO)  # the "ignored with a log line" warnings are checked too
    root.addHandler(handler)
    try:
        yield [], handler
    finally:
        root.removeHandler(handler)
        msnp.setLevel(old_level)


def run(body: Callable[[], Awaitable[None]]) -> _Records:
    """Run one example on a fresh loop; fail on any unexpected exception anywhere."""
    tasks: list[asyncio.Task[Any]] = []

    def task_factory(
        loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        tasks.append(task)
        return task

    with watched() as (loop_errors, records):

        async def main() -> None:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
            loop.set_task_factory(task_factory)
            await asyncio.wait_for(body(), 20)

        asyncio.run(main())
    # a task that died with an exception nobody retrieved would log "Task exception was never
    # retrieved" once collected; look for it directly (a gc.collect() per example is slow)
    died = [t for t in tasks if t.done() and not t.cancelled() and t._log_traceback]
    assert not died, [(t, t.exception()) for t in died]
    assert not loop_errors, loop_errors
    bad = [
        r
        for r in records.records
        if r.levelno >= logging.ERROR
        or "Unhandled" in r.getMessage()
        or "never retrieved" in r.getMessage()
    ]
    assert not bad, [(r.name, r.getMessage(), r.exc_info) for r in bad]
    return records


def config(address: str, version: int) -> ClientConfig:
    return ClientConfig(
        server=address,
        protocols=(version,),
        connect_timeout=2.0,
        transaction_timeout=1.0,
        switchboard_join_timeout=1.0,
        ack_timeout=1.0,
        keepalive_interval=30.0,
        keepalive_timeout=2.0,
        max_line=MAX_LINE,
        max_payload=MAX_PAYLOAD,
        allow_md5_login=version < 8,  # the MSNP2-7 examples log in with MD5 on purpose
    )


async def login(server: ScriptedServer) -> tuple[MSNClient, Recorder]:
    recorder = Recorder()
    client = MSNClient(config(server.address(0), server.version), recorder)
    if server.version >= 8:
        await client.login(ME, None, ticket="t=fuzz&p=fuzz")
    else:
        await client.login(ME, "alice123")
    return client, recorder


def check_events(recorder: Recorder) -> Disconnected:
    assert all(isinstance(e, Event) for e in recorder.events)
    gone = [e for e in recorder.events if isinstance(e, Disconnected)]
    assert len(gone) == 1, gone
    assert recorder.events[-1] is gone[0]
    return gone[0]


_OUT_REASONS = {"OTH": DisconnectReason.OTHER_LOCATION, "SSD": DisconnectReason.SERVER_SHUTDOWN}
_VERSIONS = st.sampled_from([2, 5, 7, 8, 9, 10, 11, 12])

# ------------------------------------------------------------------ NS fuzzing


SB_PLACEHOLDER = "sb.invalid:1"


@FUZZ
@given(traffic=ns_traffic(SB_PLACEHOLDER), version=_VERSIONS)
@example(traffic=[], version=12)  # the plain path: nothing fuzzed, the session survives
# regressions: each of these once crashed a handler or a background task
@example(traffic=[b"RNG 1 127.0.0.1:99999 CKI c bob@example.com Bob\r\n"], version=12)
@example(traffic=["RNG 1 127.0.0.1:\u00b2 CKI c bob@example.com Bob\r\n".encode()], version=9)
@example(traffic=[b"QNG " + b"9" * 400 + b"\r\n"], version=11)
def test_ns_traffic(traffic: list[bytes], version: int) -> None:
    async def body() -> None:
        server = ScriptedServer(version)
        await server.start()
        sb = server.address(1).encode()
        server.traffic = [chunk.replace(SB_PLACEHOLDER.encode(), sb) for chunk in traffic]
        try:
            await exercise(server)
        finally:
            await server.stop()

    run(body)


async def exercise(server: ScriptedServer) -> None:
    commands, broken, leftover = reference(server.traffic, server.version)
    out = next((c for c in commands if c.name == "OUT"), None)
    outcome = "OUT" if out else "broken" if broken else "incomplete" if leftover else "clean"
    event(f"NS stream: {outcome}")
    client, recorder = await login(server)
    try:
        await asyncio.wait_for(server.sent.wait(), 5)
        probe_error: MSNPException | None = None
        try:
            await client.set_privacy(True)  # BLP: a transaction after the fuzzed traffic
        except MSNPException as e:
            probe_error = e
        conn = client._ns.conn
        assert conn is not None
        assert conn.parser.buffered <= max(MAX_LINE + 1, MAX_PAYLOAD) + MAX_LINE
        # every contact came from one command (no growth beyond what was sent)
        # (an unterminated last line completes with the probe's reply)
        assert len(client.contacts) <= len(commands) + (leftover > 0)
        if out is not None or broken:
            assert isinstance(probe_error, ConnectionClosed), probe_error
        elif leftover == 0:
            assert probe_error is None, probe_error
        server.close_ns()
        gone = await recorder.wait(Disconnected, timeout=5)
    finally:
        await asyncio.wait_for(client.close(), 10)
    assert check_events(recorder) is gone
    assert not client.connected
    if out is not None:
        assert gone.reason is _OUT_REASONS.get(
            out.arg(0).upper(), DisconnectReason.CONNECTION_LOST
        )
    elif broken:
        assert gone.reason is DisconnectReason.PROTOCOL_ERROR, gone
    elif leftover == 0:
        assert gone.reason is DisconnectReason.CONNECTION_LOST, gone
    else:
        assert gone.reason in (DisconnectReason.PROTOCOL_ERROR, DisconnectReason.CONNECTION_LOST)


# ------------------------------------------------------------------ SB fuzzing

sb_passports = st.sampled_from(
    ["bob@example.com", "carol@example.com", "Dave@Example.com", ME, "x;{guid}", "%zz"]
)


def sb_commands() -> st.SearchStrategy[bytes]:
    trid = st.one_of(_LOW_TRIDS, _HIGH_TRIDS)
    opt = st.lists(token, max_size=2)
    return st.one_of(
        st.builds(
            lambda p, n, x: cmd("MSG", p, n, payload=x), sb_passports, token, mime_payloads()
        ),
        st.builds(
            lambda p, n, x: cmd("MSG", p, n, payload=x), sb_passports, token, mime_payloads()
        ),
        st.builds(lambda p, x: cmd("MSG", p, payload=x), sb_passports, mime_payloads()),
        st.builds(lambda x: cmd("MSG", payload=x), mime_payloads()),
        st.builds(lambda p, n, o: cmd("JOI", p, n, *o), sb_passports, token, opt),
        st.builds(lambda p, o: cmd("BYE", p, *o), sb_passports, st.lists(numbers, max_size=1)),
        st.builds(lambda t, o: cmd("ACK", t, *o), trid, opt),
        st.builds(lambda t, o: cmd("NAK", t, *o), trid, opt),
        st.builds(lambda a: cmd("IRO", *a), tokens),
        st.builds(lambda a: cmd("JOI", *a), st.lists(token, max_size=1)),
        st.builds(lambda a: cmd("BYE", *a), st.lists(token, max_size=1)),
        st.builds(lambda c, t: cmd(c, t), st.sampled_from(["217", "282", "911"]), trid),
        st.builds(lambda n, a: line(n, *a), st.sampled_from([b"ZZZ", b"CAL", b"USR"]), tokens),
    )


@dataclass
class _Members:
    """The switchboard's participant bookkeeping, for the oracle."""

    present: set[str] = field(default_factory=set)
    ever: bool = False

    def join(self, passport: str) -> None:
        key = passport.split(";", 1)[0].lower()
        if key != ME:
            self.present.add(key)
            self.ever = True

    def leave(self, passport: str) -> bool:
        """False once the switchboard closes itself (everybody left)."""
        self.present.discard(passport.split(";", 1)[0].lower())
        return bool(self.present) or not self.ever


def expected_messages(iro: list[tuple[str, str]], commands: list[Command]) -> list[Command]:
    """The MSG commands the client must turn into events (it stops once everybody left)."""
    members = _Members()
    for passport, _ in iro:
        members.join(passport)
    out: list[Command] = []
    for command in commands:
        if command.name == "MSG" and command.args:
            out.append(command)
        elif command.name == "JOI" and command.args:
            members.join(command.args[0])
        elif command.name == "BYE" and command.args and not members.leave(command.args[0]):
            break
    return out


def decoded(message: Message) -> str:
    try:
        return message.text
    except (LookupError, ValueError):
        return message.body.decode("utf-8", "replace")


@FUZZ
@given(
    version=st.sampled_from([5, 9, 12]),
    iro=st.lists(st.tuples(sb_passports, weird_text), max_size=3),
    traffic=st.one_of(
        st.lists(sb_commands(), max_size=15),
        st.lists(st.one_of(sb_commands(), sb_commands(), breaking), max_size=15),
    ),
)
# regressions: an undecodable charset crashed the message handler (the message was lost); a
# TypingUser header was trusted over the switchboard's sender; a switchboard closing right
# after ANS was announced (SwitchboardJoined) without ever being closed
@example(
    version=12,
    iro=[("bob@example.com", "Bob")],
    traffic=[
        cmd(
            "MSG",
            "bob@example.com",
            "Bob",
            payload=b"Content-Type: text/plain; charset=undefined\r\n\r\nhi",
        )
    ],
)
@example(
    version=9,
    iro=[],
    traffic=[
        cmd(
            "MSG",
            "bob@example.com",
            "Bob",
            payload=b"Content-Type: text/x-msmsgscontrol\r\nTypingUser: 0\r\n\r\n",
        )
    ],
)
@example(version=5, iro=[("bob@example.com", "Bob")], traffic=[])
# an IRO after the ANS reply made "%zz" a participant: bob's BYE left the switchboard open and
# the MSG after it became a third event where two were due (IRO answers ANS, nothing else)
@example(
    version=12,
    iro=[("bob@example.com", "Bob")],
    traffic=[
        cmd("MSG", "bob@example.com", "Bob", payload=b"Content-Type: text/plain\r\n\r\none"),
        cmd("IRO", 0, 1, 1, "%zz", "Zed"),
        cmd("MSG", "bob@example.com", "Bob", payload=b"Content-Type: text/plain\r\n\r\ntwo"),
        cmd("BYE", "bob@example.com"),
        cmd("MSG", "bob@example.com", "Bob", payload=b"Content-Type: text/plain\r\n\r\nlate"),
    ],
)
def test_switchboard_traffic(
    version: int, iro: list[tuple[str, str]], traffic: list[bytes]
) -> None:
    commands, broken, leftover = reference(traffic, version)
    wanted = expected_messages(iro, commands)

    async def body() -> None:
        server = ScriptedServer(version, iro=iro, sb_traffic=traffic)
        await server.start()
        sb_host, sb_port = server.address(1).split(":")
        server.traffic = [
            cmd("RNG", "1234", f"{sb_host}:{sb_port}", "CKI", "c00k1e", "bob@example.com", "Bob")
        ]
        try:
            client, recorder = await login(server)
            try:
                await asyncio.wait_for(server.sb_done.wait(), 5)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 5
                while client._pool.busy:  # the switchboard winds down
                    assert loop.time() < deadline, "the switchboard did not close"
                    await asyncio.sleep(0.01)
                assert client.conversations() == {}
                # the notification session is untouched by whatever the switchboard sent
                assert client.connected
                await client.set_privacy(False)
            finally:
                await asyncio.wait_for(client.close(), 10)
        finally:
            await server.stop()
        assert check_events(recorder).reason is DisconnectReason.CLIENT
        received = [
            e
            for e in recorder.events
            if isinstance(
                e, TextMessageReceived | TypingReceived | NudgeReceived | OtherMessageReceived
            )
        ]
        assert all(e.conversation for e in received)
        # whatever was announced for the switchboard ends with one SwitchboardClosed
        sb_events = [e for e in recorder.events if getattr(e, "conversation", "")]
        closed = [e for e in sb_events if isinstance(e, SwitchboardClosed)]
        assert len(closed) <= 1
        if len(sb_events) > len(closed):
            assert closed and sb_events[-1] is closed[0], sb_events
            assert closed[0].conversation == sb_events[-2].conversation
        if not broken and leftover == 0:
            assert len(received) == len(wanted), (received, wanted)
            for event, command in zip(received, wanted, strict=True):
                message = parse_message(command.payload or b"")
                assert getattr(event, "sender", None) == command.args[0]
                if isinstance(event, TextMessageReceived):
                    assert message.content_type == "text/plain"
                    assert event.text == decoded(message)
                elif isinstance(event, OtherMessageReceived):
                    assert event.headers == message.headers and event.body == message.body
        else:
            assert len(received) <= len(wanted)

    run(body)


# ------------------------------------------------------------- message.py, pure


@settings(max_examples=300, deadline=None)
@given(payload=st.one_of(st.binary(max_size=200), mime_payloads()))
def test_parse_message_never_fails(payload: bytes) -> None:
    message = parse_message(payload)
    assert all(name and name == name.strip() for name in message.headers)
    assert len(message.body) <= len(payload)
    assert payload.endswith(message.body)
    message.content_type, message.charset, message.format  # noqa: B018 - must not raise
    decoded(message)
    if message.charset.lower() in ("", "utf-8"):
        is_nudge(message)


_header_name = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters=":"),
    min_size=1,
    max_size=12,
)
_header_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20
).map(str.strip)


@settings(max_examples=200, deadline=None)
@given(
    headers=st.dictionaries(_header_name, _header_value, min_size=1, max_size=5),
    body=st.binary(max_size=100),
)
def test_message_round_trip(headers: dict[str, str], body: bytes) -> None:
    message = parse_message(Message(headers, body).encode())
    assert message.headers == headers
    assert message.body == body


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=80))
def test_parse_format_never_fails(value: str) -> None:
    fmt = parse_format(value)
    assert set(fmt.effects) <= set("BIUS")
    assert fmt.color == "" or len(fmt.color) == 6
    assert parse_format(format_header(fmt)) == parse_format(format_header(parse_format(value)))


@settings(max_examples=200, deadline=None)
@given(
    fmt=st.builds(
        MessageFormat,
        font=st.text(max_size=20).filter(bool),
        effects=st.sampled_from(["", "B", "BI", "IU", "BIUS"]),
        color=st.text(alphabet="0123456789abcdef", min_size=6, max_size=6),
        charset=st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=2),
        pitch_family=st.text(alphabet="0123456789", min_size=1, max_size=2),
        right_to_left=st.booleans(),
    )
)
def test_format_round_trip(fmt: MessageFormat) -> None:
    assert parse_format(format_header(fmt)) == fmt


@settings(max_examples=150, deadline=None)
@given(text=st.text(min_size=1, max_size=3000), limit=st.integers(200, 1664))
def test_split_text(text: str, limit: int) -> None:
    payloads = split_text(text, None, limit)
    assert all(len(p) <= limit for p in payloads)
    assert "".join(parse_message(p).text for p in payloads) == text
