"""Property tests for the codec (hypothesis): robustness, round trips, bounded memory."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given, settings, strategies as st

from bridge.msnp.codec import Command, Parser, Role, encode
from bridge.msnp.errors import LocalProtocolError, ProtocolError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL_LINE = 64
SMALL_PAYLOAD = 128

roles = st.sampled_from([Role.CLIENT, Role.SERVER])
versions = st.sampled_from([None, 2, 7, 8, 11, 12])

# Bytes that look like MSNP often enough to reach the interesting branches.
_FRAGMENTS = [
    b"MSG ",
    b"UBX ",
    b"NOT ",
    b"QRY ",
    b"UUX ",
    b"LST ",
    b"LSG ",
    b"NLN ",
    b"ACK ",
    b"911 ",
    b"ADL ",
    b"OK",
    b"1 ",
    b"12 ",
    b"0 ",
    b"4294967295 ",
    b"99999999999 ",
    b"2147483648",
    b"bob@example.com ",
    b"N ",
    b"A",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"  ",
    b"%20",
    b"\xc3\xa9",
    b"\xff",
    b"\x00",
    b"\t",
]
wireish = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.binary(max_size=8)), max_size=60).map(
        b"".join
    ),
)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def _run(parser: Parser, chunks: list[bytes]) -> tuple[list[Command], ProtocolError | None]:
    """Feed chunks, draining after each; checks the memory bound on the way."""
    out: list[Command] = []
    bound_after_drain = max(parser.max_line + 1, parser.max_payload)
    try:
        for chunk in chunks:
            parser.feed(chunk)
            assert parser.buffered <= parser.max_line + parser.max_payload + len(chunk)
            out.extend(parser)
            assert parser.buffered <= bound_after_drain
    except ProtocolError as e:
        return out, e
    return out, None


@FUZZ
@given(
    data=wireish, cuts=st.lists(st.integers(0, 10_000), max_size=30), role=roles, version=versions
)
@example(data=b"ACK 1\t\r\nNLN a\x00b 0\r\n", cuts=[3], role=Role.CLIENT, version=8)
@example(data=b"MSG a b 2147483648\r\n", cuts=[], role=Role.CLIENT, version=None)
@example(data=b"QRY 1 x 5\r\nabc", cuts=[1, 2, 3], role=Role.SERVER, version=11)
@example(data=b"x" * 70, cuts=[65], role=Role.CLIENT, version=None)
@example(data=b"A \r\x01\n", cuts=[], role=Role.CLIENT, version=None)
# a blank line first, and the buffer ends in a CR: the blank line's "byte before" is not that CR
@example(data=b"\n\x00\r", cuts=[1], role=Role.CLIENT, version=None)
def test_arbitrary_bytes_only_raise_protocol_error(
    data: bytes, cuts: list[int], role: Role, version: int | None
) -> None:
    parser = Parser(role, version=version, max_line=SMALL_LINE, max_payload=SMALL_PAYLOAD)
    chunked, error = _run(parser, _split(data, cuts))  # anything but ProtocolError propagates
    if error is not None:
        # the parser stays failed
        try:
            parser.feed(b"ACK 1\r\n")
        except ProtocolError:
            pass
        else:
            raise AssertionError("feed() accepted data after a ProtocolError")
        assert parser.buffered == 0

    # Chunking changes nothing: same commands, same failure, as when fed at once.
    whole, whole_error = _run(
        Parser(role, version=version, max_line=SMALL_LINE, max_payload=SMALL_PAYLOAD), [data]
    )
    assert chunked == whole
    assert (error is None) == (whole_error is None)
    # Whatever was parsed and can be sent again (encode() refuses non-ASCII, tabs, NULs and a
    # CR inside the line) parses back to the same command.
    for cmd in chunked:
        try:
            wire = encode(cmd)
        except LocalProtocolError:
            assert any(not a.isascii() or any(c in a for c in "\t\0\r") for a in cmd.args)
            continue
        reparsed = Parser(role, version=version)
        reparsed.feed(wire)
        assert list(reparsed) == [cmd]


@settings(max_examples=100, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4096), min_size=1, max_size=40),
    payload_len=st.integers(0, SMALL_PAYLOAD),
)
def test_buffer_stays_bounded_under_a_flood(sizes: list[int], payload_len: int) -> None:
    """A peer that never ends a line, or sends payloads back to back, cannot grow the buffer."""
    flood = (f"MSG a b {payload_len}\r\n".encode() + b"x" * payload_len) * 50 + b"y" * 20_000
    parser = Parser(max_line=SMALL_LINE, max_payload=SMALL_PAYLOAD)
    pos = 0
    commands: list[Command] = []
    chunks = []
    for size in sizes * 100:
        if pos >= len(flood):
            break
        chunks.append(flood[pos : pos + size])
        pos += size
    commands, error = _run(parser, chunks)
    assert all(c.payload == b"x" * payload_len for c in commands)
    if pos >= len(flood):
        assert error is not None and "longer than" in str(error)


# --- valid command streams round-trip --------------------------------------------------------------

# Commands as a server sends them (parsed with Role.CLIENT at version 11).
_SERVER_PAYLOAD = ["MSG", "UBX", "NOT", "IPG"]
_SERVER_NO_TRID = ["NLN", "FLN", "JOI", "BYE", "QNG", "RNG", "OUT", "LST", "LSG", "BPR"]
_SERVER_TRID = [
    "VER",
    "CVR",
    "USR",
    "XFR",
    "CHG",
    "ILN",
    "ADD",
    "REM",
    "CHL",
    "ACK",
    "NAK",
    "IRO",
    "ANS",
    "CAL",
    "SYN",
    "ADC",
    "PRP",
    "911",
    "217",
    "540",
    "ZZZ",
    "QX",
]
# Commands as a client sends them (parsed with Role.SERVER): a leading number is always a trid.
_CLIENT_PAYLOAD = ["MSG", "QRY", "UUX"]
_CLIENT_OTHER = [
    "VER",
    "CVR",
    "USR",
    "SYN",
    "CHG",
    "PNG",
    "XFR",
    "ADD",
    "REM",
    "REA",
    "CAL",
    "ANS",
    "OUT",
    "BLP",
    "ZZZ",
]

_TOKEN_CHARS = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
tokens = st.one_of(
    st.text(_TOKEN_CHARS, min_size=1, max_size=12),
    st.integers(0, 10**12).map(str),
    st.sampled_from(["bob@example.com", "Bob%20B.", "NLN", "0", "OK", "N=x@y.z"]),
)
trids = st.integers(0, 2**32 - 1)
payloads = st.binary(max_size=300) | st.sampled_from([b"", b"\r\n", b"MSG 1 N 5\r\nhello"])


def _uint(token: str) -> bool:
    return token.isascii() and token.isdigit()


@st.composite
def server_commands(draw: st.DrawFn) -> Command:
    kind = draw(st.sampled_from(["payload", "notrid", "trid"]))
    args = draw(st.lists(tokens, max_size=6))
    if kind == "payload":
        return Command(draw(st.sampled_from(_SERVER_PAYLOAD)), None, tuple(args), draw(payloads))
    if kind == "notrid":
        return Command(draw(st.sampled_from(_SERVER_NO_TRID)), None, tuple(args))
    trid = draw(st.none() | trids)
    if trid is None and args and _uint(args[0]):
        args[0] = "x" + args[0]  # would be read as a trid
    return Command(draw(st.sampled_from(_SERVER_TRID)), trid, tuple(args))


@st.composite
def client_commands(draw: st.DrawFn) -> Command:
    payload_cmd = draw(st.booleans())
    args = draw(st.lists(tokens, max_size=6))
    trid = draw(st.none() | trids)
    if trid is None and args and _uint(args[0]):
        args[0] = "x" + args[0]
    if payload_cmd:
        return Command(draw(st.sampled_from(_CLIENT_PAYLOAD)), trid, tuple(args), draw(payloads))
    return Command(draw(st.sampled_from(_CLIENT_OTHER)), trid, tuple(args))


def _roundtrip(role: Role, version: int | None, commands: list[Command], cuts: list[int]) -> None:
    data = b"".join(encode(c) for c in commands)
    parser = Parser(role, version=version)
    parsed, error = _run(parser, _split(data, cuts))
    assert error is None
    assert parsed == commands
    assert parser.buffered == 0
    assert b"".join(encode(c) for c in parsed) == data


@FUZZ
@given(
    commands=st.lists(server_commands(), max_size=25),
    cuts=st.lists(st.integers(0, 10**5), max_size=40),
)
def test_server_stream_round_trips(commands: list[Command], cuts: list[int]) -> None:
    _roundtrip(Role.CLIENT, 11, commands, cuts)


@FUZZ
@given(
    commands=st.lists(client_commands(), max_size=25),
    cuts=st.lists(st.integers(0, 10**5), max_size=40),
)
def test_client_stream_round_trips(commands: list[Command], cuts: list[int]) -> None:
    _roundtrip(Role.SERVER, 11, commands, cuts)


@settings(max_examples=50, deadline=None)
@given(commands=st.lists(server_commands(), min_size=1, max_size=10))
def test_byte_at_a_time_equals_whole(commands: list[Command]) -> None:
    data = b"".join(encode(c) for c in commands)
    one_by_one, error = _run(
        Parser(Role.CLIENT, version=11), [data[i : i + 1] for i in range(len(data))]
    )
    assert error is None and one_by_one == commands
