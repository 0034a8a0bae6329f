"""The sans-IO defences of bridge.msnp against hostile input: charsets, personal-message XML,
per-command payload caps, the event queue's back-pressure, bounded containers, burst logs,
switchboard admission and where a Passport password may be sent.

Linear time is checked by scaling, not by a deadline (tests/support/scaling.py).
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
import asyncio
import logging
import time

from yarl import URL
import pytest

from bridge.msnp.admission import SwitchboardHosts, SwitchboardLimits
from bridge.msnp.auth import _password_refusal
from bridge.msnp.bounded import BoundedDict, KeyedLocks
from bridge.msnp.burst import BurstLog, Tally
from bridge.msnp.charsets import KNOWN_CHARSETS, codec_for, decode_text
from bridge.msnp.codec import Command, Parser, Role
from bridge.msnp.errors import ProtocolError
from bridge.msnp.events import PresenceChanged, TypingReceived
from bridge.msnp.flow import EventQueue
from bridge.msnp.message import parse_message
from bridge.msnp.ubx import parse_user_data
from bridge.msnp.values import Status
from tests.support.scaling import assert_linear as linear


def assert_linear(fn: Callable[[bytes], object], make: Callable[[int], bytes], n: int) -> None:
    linear(fn, make(n), make(4 * n))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ charsets


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("UTF-8", "utf_8"),
        ('"utf-8"', "utf_8"),
        ("windows-1252", "cp1252"),
        ("ISO-8859-1", "latin_1"),
        ("Shift_JIS", "shift_jis"),
        ("GB2312", "gb2312"),
        ("ks_c_5601-1987", "cp949"),
        ("punycode", None),
        ("idna", None),
        ("utf-7", None),
        ("rot13", None),
        ("undefined", None),
        ("zlib", None),
        ("x" * 100, None),
        ("", None),
    ],
)
def test_only_known_charsets_are_honoured(declared: str, codec: str | None) -> None:
    assert codec_for(declared) == codec


def test_unknown_charsets_read_as_utf8() -> None:
    body = b"bcher-kva +AGEA-"
    for charset in ("punycode", "utf-7", "rot13", "no-such-charset"):
        message = parse_message(
            f"Content-Type: text/plain; charset={charset}\r\n\r\n".encode() + body
        )
        assert message.text == "bcher-kva +AGEA-"
    latin = parse_message(b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9")
    assert latin.text == "caf\u00e9"
    assert decode_text(b"\xff\xfe\xa1", "iso-8859-6").count("\ufffd") == 3  # undefined bytes


@pytest.mark.parametrize("codec", sorted(KNOWN_CHARSETS))
def test_known_charsets_decode_in_linear_time(codec: str) -> None:
    for unit in (b"\xff\xfe", b"\x1b$B\x8e", b"-9" * 2, b"+AAAA"):
        assert_linear(
            lambda data: decode_text(data, codec),
            lambda n, unit=unit: unit * (n // 4),  # type: ignore[misc]
            256_000,
        )


# ------------------------------------------------------------------------------ personal XML


def _read_ubx(payload: bytes) -> object:
    try:
        return parse_user_data(payload)
    except ProtocolError:  # malformed: the session skips it
        return None


@pytest.mark.parametrize(
    "unit",
    [
        b"<PSM>",
        b"<Data><PSM><CurrentMedia>",
        b"</PSM  ",
        b"<psm ><PsM\t>",
        b"<PSM" + b" " * 30,
        b"&amp;&#x41;",
    ],
)
def test_personal_message_parsing_is_linear(unit: bytes) -> None:
    """The quadratic regex this replaces took ~10 s for 16,000 unclosed <PSM> tags."""
    assert_linear(_read_ubx, lambda n: unit * (n // len(unit)), 64_000)


# ------------------------------------------------------------------------------ codec caps


def test_payload_over_its_command_limit_is_skipped_unbuffered() -> None:
    parser = Parser(Role.CLIENT, version=12, payload_limits={"UBX": 100})
    parser.feed(b"UBX bob@example.com 5000\r\n" + b"<" * 1000)
    dropped = parser.next_command()
    assert dropped == Command("UBX", None, ("bob@example.com",), None, dropped=5000)
    for _ in range(4):
        assert parser.next_command() is None
        assert parser.buffered == 0
        parser.feed(b"<" * 1000)
    parser.feed(b"UBX bob@example.com 2\r\nokQNG 50\r\n")
    assert parser.next_command() == Command("UBX", None, ("bob@example.com",), b"ok")
    assert parser.next_command() == Command("QNG", None, ("50",))


def test_payload_limit_of_other_commands_and_hard_cap() -> None:
    parser = Parser(Role.CLIENT, max_payload=1000, payload_limits={"UBX": 10})
    parser.feed(b"MSG Hotmail Hotmail 20\r\n" + b"x" * 20)
    assert parser.next_command() == Command("MSG", None, ("Hotmail", "Hotmail"), b"x" * 20)
    parser.feed(b"UBX a@b.c 1001\r\n")
    with pytest.raises(ProtocolError, match="limit 1000"):
        parser.next_command()


# ------------------------------------------------------------------------------ event queue


def presence(i: int) -> PresenceChanged:
    return PresenceChanged(f"c{i}@example.com", Status.ONLINE, str(i))


async def test_event_queue_closes_the_gate_at_the_limit_and_reopens_at_half() -> None:
    tally = Tally(logging.getLogger("test"))
    queue = EventQueue(10, tally)
    for i in range(9):
        queue.put(presence(i))
    assert queue.gate.is_open
    queue.put(presence(9))
    assert not queue.gate.is_open and queue.gate.pauses == 1
    got = [await queue.get() for _ in range(4)]
    assert not queue.gate.is_open  # 6 still waiting
    got.append(await queue.get())
    assert queue.gate.is_open  # down to half
    assert got == [presence(i) for i in range(5)]
    assert queue.peak == 10


async def test_event_queue_drops_only_typing_once_half_full() -> None:
    tally = Tally(logging.getLogger("test"))
    queue = EventQueue(10, tally)
    typing = TypingReceived("bob@example.com", "bob@example.com", ("bob@example.com",))
    for i in range(5):
        queue.put(presence(i))
    queue.put(typing)
    queue.put(presence(5))
    assert len(queue) == 6 and tally.counts["typing_dropped"] == 1
    while len(queue) > 4:
        await queue.get()
    queue.put(typing)
    assert len(queue) == 5 and tally.counts["typing_dropped"] == 1


async def test_gate_stays_open_while_a_reply_is_awaited_up_to_the_hard_limit() -> None:
    queue = EventQueue(4, Tally(logging.getLogger("test")))
    for i in range(4):
        queue.put(presence(i))
    assert not queue.gate.is_open
    with queue.gate.awaiting_reply():
        assert queue.gate.is_open  # the reply must be read
        for i in range(4, 15):
            queue.put(presence(i))
        assert queue.gate.is_open
        queue.put(presence(15))  # 16 = 4 x limit: closed even for replies
        assert not queue.gate.is_open
        for _ in range(8):
            await queue.get()
        assert queue.gate.is_open  # down to half the hard limit, a reply is still awaited
    assert not queue.gate.is_open  # the reply came: behind again
    while len(queue) > 2:
        await queue.get()
    assert queue.gate.is_open


# ------------------------------------------------------------------------------ containers


def test_bounded_dict_evicts_least_recently_used() -> None:
    d: BoundedDict[str, int] = BoundedDict(3)
    for i, key in enumerate("abc"):
        d[key] = i
    assert d.get("a") == 0  # a is now the most recently used
    d["d"] = 3
    assert "b" not in d and list(d) == ["c", "a", "d"]
    for i in range(1000):
        d[f"k{i}"] = i
    assert len(d) == 3


async def test_keyed_locks_are_forgotten_when_free() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def use(key: str, tag: str) -> None:
        async with locks.hold(key):
            order.append(f"{tag}+")
            await asyncio.sleep(0.01)
            order.append(f"{tag}-")

    await asyncio.gather(use("k", "1"), use("k", "2"), *(use(f"x{i}", "x") for i in range(50)))
    assert order.index("1-") < order.index("2+")  # same key: one at a time
    assert len(locks) == 0


# ------------------------------------------------------------------------------ burst logs


def test_burst_log_logs_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    burst = BurstLog(logging.getLogger("test.burst"), "refused %s", quiet=0.2, repeat=60)
    for i in range(1000):
        burst.hit(i)
    assert [r.getMessage() for r in caplog.records] == ["refused 0"]
    time.sleep(0.25)
    burst.hit("again")
    assert caplog.records[-1].getMessage() == (
        "refused again (and 999 more not logged before this one)"
    )
    assert len(caplog.records) == 2


# ------------------------------------------------------------------------------ admission


def test_switchboard_hosts() -> None:
    hosts = SwitchboardHosts(["sb.example.net", "10.1.0.0/16", "2001:db8::/32", " "])
    server = ("ns.example.org", "192.0.2.7")
    assert hosts.allows("NS.example.org.", server)
    assert hosts.allows("192.0.2.7", server)
    assert hosts.allows("sb.example.net", server)
    assert hosts.allows("10.1.200.3", server)
    assert hosts.allows("[2001:db8::1]", server)
    assert not hosts.allows("10.2.0.1", server)
    assert not hosts.allows("evil.example.org", server)
    assert not hosts.allows("192.0.2.8", server)
    assert not SwitchboardHosts().allows("127.0.0.2", ("127.0.0.1", "127.0.0.1"))


def sb(inviter: str = "", busy: int = 0, active: float = 0.0) -> SimpleNamespace:
    return SimpleNamespace(inviter=inviter, busy=busy, answering=False, last_active=active)


def test_switchboard_limits() -> None:
    limits = SwitchboardLimits(max_total=4, max_per_inviter=2)
    open_sbs = [sb("Evil@x"), sb("evil@x")]
    assert limits.ring_refusal("EVIL@X", open_sbs) is not None
    assert limits.ring_refusal("bob@x", open_sbs) is None
    full = [*open_sbs, sb("a@x", active=5.0), sb("b@x", busy=1, active=1.0)]
    assert "4 switchboards" in (limits.ring_refusal("bob@x", full) or "")
    assert limits.to_evict(full) is full[0]
    assert limits.to_evict(open_sbs) is None  # below the limit
    assert limits.to_evict([sb(busy=1) for _ in range(4)]) is None


# ------------------------------------------------------------------------------ Passport


@pytest.mark.parametrize(
    ("source", "target", "trusted", "refused"),
    [
        ("https://login.example/a", "https://login.example/b", False, None),
        ("http://login.example/a", "http://LOGIN.example:81/b", False, None),
        ("https://login.example/a", "http://login.example/b", False, "from https to http"),
        ("http://login.example/a", "http://evil.example/b", False, "another host"),
        ("https://nexus.example/", "https://login.example/", False, "another host"),
        ("https://nexus.example/", "https://login.example/", True, None),
        ("https://nexus.example/", "http://login.example/", True, "from https to http"),
    ],
)
def test_where_the_password_may_go(
    source: str, target: str, trusted: bool, refused: str | None
) -> None:
    reason = _password_refusal(URL(source), URL(target), trusted_source=trusted)
    assert (reason is None) if refused is None else (refused in (reason or ""))


def test_message_parsing_is_linear() -> None:
    assert_linear(lambda p: parse_message(p).text, lambda n: b"X-H: v\r\n" * (n // 8), 64_000)
    long_format = parse_message(b"X-MMS-IM-Format: " + b"FN=a; " * 1000 + b"\r\n\r\nx")
    assert long_format.format.font == ""  # not read: real values are ~60 characters
    assert parse_message(b"X-MMS-IM-Format: FN=Arial; EF=B\r\n\r\nx").format.font == "Arial"


def test_only_the_first_header_lines_are_read() -> None:
    junk = b"".join(b"X-%d: v\r\n" % i for i in range(100))
    message = parse_message(junk + b"Content-Type: text/plain\r\n\r\nhi")
    assert len(message.headers) == 64 and message.content_type == ""
    assert parse_message(b"Content-Type: text/plain\r\n" + junk + b"\r\nhi").content_type
