"""Codec limits and bad input: caps, malformed lines, sticky errors, argument encoding."""

from __future__ import annotations

import traceback
import tracemalloc

import pytest

from bridge.msnp.codec import (
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_PAYLOAD,
    Command,
    Parser,
    Role,
    decode_arg,
    encode,
    encode_arg,
)
from bridge.msnp.errors import LocalProtocolError, MSNPException, ProtocolError


def test_defaults_are_sane() -> None:
    parser = Parser()
    assert parser.role is Role.CLIENT and parser.version is None
    assert parser.max_line == DEFAULT_MAX_LINE >= 1024
    assert parser.max_payload == DEFAULT_MAX_PAYLOAD >= 64 * 1024


# --- line length ---------------------------------------------------------------------------------


def test_line_of_exactly_max_line_is_accepted() -> None:
    parser = Parser(max_line=32)
    line = b"NLN NLN " + b"a" * 24  # 32 bytes
    parser.feed(line + b"\r\n")
    assert parser.next_command() == Command("NLN", None, ("NLN", "a" * 24))


@pytest.mark.parametrize("ending", [b"\r\n", b"\n"])
def test_line_over_max_line_with_terminator_raises(ending: bytes) -> None:
    parser = Parser(max_line=32)
    parser.feed(b"NLN NLN " + b"a" * 25 + ending)
    with pytest.raises(ProtocolError, match="longer than 32 bytes"):
        parser.next_command()


def test_endless_line_raises_before_growing_past_the_cap() -> None:
    parser = Parser(max_line=64)
    fed = 0
    with pytest.raises(ProtocolError, match="longer than 64"):
        while True:
            parser.feed(b"x" * 7)
            fed += 7
            assert parser.next_command() is None
            assert parser.buffered <= 64 + 1
    assert fed <= 64 + 1 + 7
    assert parser.buffered == 0  # the buffer was dropped


def test_overlong_line_split_across_feeds_before_its_newline() -> None:
    parser = Parser(max_line=16)
    parser.feed(b"ACK " + b"1" * 13)  # 17 bytes, no newline yet: might still be ok...
    assert parser.next_command() is None
    parser.feed(b"\r\n")  # ...but the line is one byte too long
    with pytest.raises(ProtocolError):
        parser.next_command()


# --- payload length -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"MSG bob@example.com Bob 2147483648\r\n",  # a 2 GB announcement
        b"UBX bob@example.com 4294967295\r\n",
        b"MSG bob@example.com Bob 99999999999999999999999999\r\n",
        b"NOT 1048577\r\n",
    ],
)
def test_oversized_payload_announcement_raises_without_allocating(line: bytes) -> None:
    parser = Parser(max_payload=1024 * 1024)
    tracemalloc.start()
    try:
        parser.feed(line)
        with pytest.raises(ProtocolError, match="payload"):
            parser.next_command()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024
    assert parser.buffered == 0


def test_payload_of_exactly_max_payload_is_accepted() -> None:
    parser = Parser(max_payload=100)
    parser.feed(b"MSG a b 100\r\n" + b"p" * 100)
    cmd = parser.next_command()
    assert cmd is not None and cmd.payload == b"p" * 100
    parser.feed(b"MSG a b 101\r\n")
    with pytest.raises(ProtocolError, match="101-byte payload"):
        parser.next_command()


def test_incomplete_payload_waits() -> None:
    parser = Parser()
    parser.feed(b"MSG a b 10\r\nhello")
    assert parser.next_command() is None
    assert parser.buffered == 5
    parser.feed(b"world")
    cmd = parser.next_command()
    assert cmd == Command("MSG", None, ("a", "b"), b"helloworld")
    assert parser.next_command() is None


@pytest.mark.parametrize(
    ("role", "line"),
    [
        (Role.CLIENT, b"MSG bob@example.com Bob\r\n"),  # length missing
        (Role.CLIENT, b"MSG\r\n"),
        (Role.CLIENT, b"UBX bob@example.com\r\n"),
        (Role.SERVER, b"MSG 4 N\r\n"),
        (Role.SERVER, b"QRY 7 msmsgs@msnmsgr.com\r\n"),
    ],
)
def test_payload_command_without_length_raises(role: Role, line: bytes) -> None:
    parser = Parser(role)
    parser.feed(line)
    with pytest.raises(ProtocolError, match="without a payload length"):
        parser.next_command()


# --- malformed lines and sticky errors ------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b" MSG 1\r\n",  # leading space: empty command name
        b"HELLO 1\r\n",  # command names are 1-3 characters
        b"\x00\x01\x02\r\n",
        b"A-B 1\r\n",
        b"\xc3\xa9\xc3\xa9 1\r\n",  # non-ASCII name
        b"MSG\t1 2\r\n",  # tabs do not separate arguments
    ],
)
def test_malformed_line_raises(line: bytes) -> None:
    parser = Parser()
    parser.feed(line)
    with pytest.raises(ProtocolError, match="malformed"):
        parser.next_command()


def test_blank_lines_are_skipped() -> None:
    parser = Parser()
    parser.feed(b"\r\n\r\n  \r\n\t\r\nACK 1\r\n\n")
    assert list(parser) == [Command("ACK", 1)]
    assert parser.buffered == 0


def test_lf_only_terminators_and_repeated_spaces_are_tolerated() -> None:
    parser = Parser()
    parser.feed(b"ACK 1\nNLN  NLN bob@example.com  Bob 0\r\n")
    assert list(parser) == [
        Command("ACK", 1),
        Command("NLN", None, ("NLN", "bob@example.com", "Bob", "0")),
    ]


def test_after_an_error_the_parser_keeps_raising() -> None:
    parser = Parser(max_line=16)
    parser.feed(b"ACK 1\r\n" + b"x" * 40)
    assert parser.next_command() == Command("ACK", 1)
    with pytest.raises(ProtocolError) as first:
        parser.next_command()
    # the stream is out of sync: nothing more is accepted or returned, even valid data
    for _ in range(2):
        with pytest.raises(ProtocolError) as again:
            parser.next_command()
        assert again.value is first.value
        with pytest.raises(ProtocolError):
            parser.feed(b"ACK 2\r\n")
        with pytest.raises(ProtocolError):
            list(parser)
    assert parser.buffered == 0
    # re-raising does not pile up tracebacks (and the frames they keep alive)
    for _ in range(50):
        with pytest.raises(ProtocolError) as again:
            parser.next_command()
    assert len(traceback.extract_tb(again.value.__traceback__)) <= 3


def test_protocol_error_is_an_msnp_exception() -> None:
    assert issubclass(ProtocolError, MSNPException)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, ValueError)


def test_non_utf8_line_is_decoded_as_latin1() -> None:
    parser = Parser()
    parser.feed(b"NLN NLN bob@example.com Zo\xeb 0\r\n")
    cmd = parser.next_command()
    assert cmd is not None and cmd.args[2] == "Zo\xeb"


def test_raw_utf8_arguments_are_decoded() -> None:
    parser = Parser()
    parser.feed("NLN NLN bob@example.com Zoë 0\r\n".encode())
    cmd = parser.next_command()
    assert cmd is not None and cmd.args[2] == "Zoë"


def test_long_number_is_not_a_trid() -> None:
    parser = Parser(Role.SERVER)
    parser.feed(b"CHL 15570131571988941333\r\n")
    assert parser.next_command() == Command("CHL", None, ("15570131571988941333",))


# --- encoding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("Alice Smith", "Alice%20Smith"),
        ("Zoë", "Zo%C3%AB"),
        ("日本語", "%E6%97%A5%E6%9C%AC%E8%AA%9E"),
        ("100% sure", "100%25%20sure"),
        ("a\tb\r\nc", "a%09b%0D%0Ac"),
        ("bob@example.com", "bob@example.com"),
        ("(>_<) ~ hi!", "(%3E_%3C)%20~%20hi!"),
        ("", ""),
    ],
)
def test_encode_arg_round_trip(text: str, wire: str) -> None:
    assert encode_arg(text) == wire
    assert decode_arg(wire) == text
    assert wire.isascii() and " " not in wire


@pytest.mark.parametrize("raw", ["%", "100%", "%ZZ", "%4", "plain"])
def test_decode_arg_leaves_malformed_escapes(raw: str) -> None:
    assert decode_arg(raw) == raw


def test_decode_arg_replaces_invalid_utf8() -> None:
    assert decode_arg("a%FFb") == "a\ufffdb"


def test_encoded_non_ascii_names_survive_the_wire() -> None:
    name = "Zoë 🙂 O'Neil"
    wire = encode(Command("REA", 5, ("zoe@example.com", encode_arg(name))))
    parser = Parser(Role.SERVER)
    parser.feed(wire)
    cmd = parser.next_command()
    assert cmd is not None and decode_arg(cmd.args[1]) == name


@pytest.mark.parametrize(
    ("command", "match"),
    [
        (Command("REA", 1, ("Zoë",)), "non-ASCII"),
        (Command("REA", 1, ("two words",)), "white space"),
        (Command("REA", 1, ("",)), "empty"),
        (Command("REA", 1, ("a\r\nOUT",)), "white space"),
        (Command("MSGS", 1), "invalid command name"),
        (Command("", 1), "invalid command name"),
        (Command("M G", 1), "invalid command name"),
        (Command("ACK", -1), "negative"),
    ],
)
def test_encode_rejects_unsendable_commands(command: Command, match: str) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        encode(command)


def test_encode_appends_payload_length() -> None:
    assert encode(Command("MSG", 3, ("N",), b"hi")) == b"MSG 3 N 2\r\nhi"
    assert encode(Command("UUX", 4, (), b"")) == b"UUX 4 0\r\n"
    assert encode(Command("PNG")) == b"PNG\r\n"
    payload = "héllo".encode()
    assert encode(Command("MSG", 1, ("N",), payload)).startswith(b"MSG 1 N 6\r\n")
