"""Table-driven codec tests: wire lines in both directions -> expected :class:`Command`.

The lines follow the shapes shown in the public MSNP documentation transcripts
(hypothetic.org "MSN Messenger Protocol" v2, the NINA wiki MSNP8/MSNP11 pages and the msnp-wiki
command pages by yellows111), with our own values. Each table row is
``(version, wire bytes, expected command)``; ``version`` is what the parser is told after VER
(``None`` = before VER).
"""

from __future__ import annotations

import random

import pytest

from bridge.msnp.codec import Command, Parser, Role, encode


def P(header: str, payload: bytes) -> bytes:
    """Wire bytes of a payload command: the header line gets the payload length appended."""
    return f"{header} {len(payload)}\r\n".encode() + payload


PROFILE = (
    b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\n"
    b"LoginTime: 1100000000\r\nEmailEnabled: 1\r\nMemberIdHigh: 1\r\nMemberIdLow: 2\r\n"
    b"lang_preference: 1033\r\nPreferredEmail: alice@example.com\r\ncountry: US\r\n"
    b"Kid: 0\r\nFlags: 1027\r\nsid: 507\r\nkv: 11\r\nMSPAuth: 7Abc$$\r\n"
    b"ClientIP: 192.0.2.10\r\nClientPort: 40000\r\n\r\n"
)
TEXT_MSG = (
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
    b"X-MMS-IM-Format: FN=Arial; EF=I; CO=0; CS=0; PF=22\r\n\r\nHello, Alice!\r\nLine two"
)
TYPING = (
    b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgscontrol\r\n"
    b"TypingUser: alice@example.com\r\n\r\n\r\n"
)
PSM = b"<Data><PSM>at work</PSM><CurrentMedia></CurrentMedia></Data>"
HOTMAIL = b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinitialemailnotification\r\n\r\nInbox-Unread: 3\r\n"
GUID = "8a6b0f1c-2a4b-4c8e-9d0e-1f2a3b4c5d6e"
GUID2 = "0f1c2a4b-8a6b-4c8e-9d0e-6e5d4c3b2a1f"

C = Command

# --- lines a server sends, parsed by a client (Role.CLIENT) -------------------------------------

SERVER_LINES: list[tuple[int | None, bytes, Command]] = [
    # dispatch / login (MSNP2-7 and MSNP8+ shapes)
    (None, b"VER 1 MSNP8 CVR0\r\n", C("VER", 1, ("MSNP8", "CVR0"))),
    (None, b"VER 1 0\r\n", C("VER", 1, ("0",))),
    (None, b"INF 2 MD5\r\n", C("INF", 2, ("MD5",))),
    (
        None,
        b"CVR 2 6.0.0602 6.0.0602 6.0.0268 http://dl.example/setup.exe http://im.example\r\n",
        C(
            "CVR",
            2,
            (
                "6.0.0602",
                "6.0.0602",
                "6.0.0268",
                "http://dl.example/setup.exe",
                "http://im.example",
            ),
        ),
    ),
    (
        None,
        b"XFR 3 NS 192.0.2.5:1863 0 192.0.2.1:1863\r\n",
        C("XFR", 3, ("NS", "192.0.2.5:1863", "0", "192.0.2.1:1863")),
    ),
    (
        4,
        b"USR 6 MD5 S 1013928519.693957190\r\n",
        C("USR", 6, ("MD5", "S", "1013928519.693957190")),
    ),
    (
        8,
        b"USR 6 TWN S lc=1033,id=507,tw=40,fs=1,ru=http%3A%2F%2Fim%2Eexample,ct=1062764229,kpp=1\r\n",
        C(
            "USR",
            6,
            (
                "TWN",
                "S",
                "lc=1033,id=507,tw=40,fs=1,ru=http%3A%2F%2Fim%2Eexample,ct=1062764229,kpp=1",
            ),
        ),
    ),
    (
        8,
        b"USR 7 OK alice@example.com Alice%20Smith 1 0\r\n",
        C("USR", 7, ("OK", "alice@example.com", "Alice%20Smith", "1", "0")),
    ),
    (8, P("MSG Hotmail Hotmail", PROFILE), C("MSG", None, ("Hotmail", "Hotmail"), PROFILE)),
    (8, P("MSG Hotmail Hotmail", HOTMAIL), C("MSG", None, ("Hotmail", "Hotmail"), HOTMAIL)),
    # list sync, MSNP2-7: every line carries the SYN trid and the list version
    (7, b"SYN 8 1205\r\n", C("SYN", 8, ("1205",))),
    (7, b"GTC 8 1205 A\r\n", C("GTC", 8, ("1205", "A"))),
    (7, b"BLP 8 1205 AL\r\n", C("BLP", 8, ("1205", "AL"))),
    (7, b"PRP 8 1205 PHH 555%200100\r\n", C("PRP", 8, ("1205", "PHH", "555%200100"))),
    (
        7,
        b"LSG 8 1205 1 2 0 Other%20Contacts 0\r\n",
        C("LSG", 8, ("1205", "1", "2", "0", "Other%20Contacts", "0")),
    ),
    (
        7,
        b"LST 8 FL 1205 1 2 bob@example.com Bob 0,1\r\n",
        C("LST", 8, ("FL", "1205", "1", "2", "bob@example.com", "Bob", "0,1")),
    ),
    (7, b"LST 8 BL 1205 0 0\r\n", C("LST", 8, ("BL", "1205", "0", "0"))),
    # BPR never had a trid: its first argument is the list version
    (
        7,
        b"BPR 1205 bob@example.com PHH 555%200199\r\n",
        C("BPR", None, ("1205", "bob@example.com", "PHH", "555%200199")),
    ),
    # list sync, MSNP8/9: GTC/BLP/PRP/BPR/LST/LSG lose the trid
    (8, b"SYN 8 15 3 2\r\n", C("SYN", 8, ("15", "3", "2"))),
    (8, b"GTC A\r\n", C("GTC", None, ("A",))),
    (8, b"BLP AL\r\n", C("BLP", None, ("AL",))),
    (8, b"PRP PHH 555%200100\r\n", C("PRP", None, ("PHH", "555%200100"))),
    (8, b"LSG 0 Other%20Contacts 0\r\n", C("LSG", None, ("0", "Other%20Contacts", "0"))),
    (8, b"LSG 1 Friends 0\r\n", C("LSG", None, ("1", "Friends", "0"))),
    (
        8,
        b"LST bob@example.com Bob 11 0,1\r\n",
        C("LST", None, ("bob@example.com", "Bob", "11", "0,1")),
    ),
    (
        9,
        b"LST carol@example.com Carol 10\r\n",
        C("LST", None, ("carol@example.com", "Carol", "10")),
    ),
    (8, b"BPR MOB Y\r\n", C("BPR", None, ("MOB", "Y"))),
    # list sync, MSNP10-12: timestamps, GUIDs, N=/F=/C= fields
    (
        11,
        b"SYN 8 2005-04-23T18:57:44.8130000-07:00 2005-04-23T18:57:54.2070000-07:00 2 2\r\n",
        C(
            "SYN",
            8,
            ("2005-04-23T18:57:44.8130000-07:00", "2005-04-23T18:57:54.2070000-07:00", "2", "2"),
        ),
    ),
    (11, f"LSG Friends {GUID}\r\n".encode(), C("LSG", None, ("Friends", GUID))),
    # a group whose name is a number must not be mistaken for a trid at MSNP8+
    (11, f"LSG 2005 {GUID2}\r\n".encode(), C("LSG", None, ("2005", GUID2))),
    (
        11,
        f"LST N=bob@example.com F=Bob C={GUID2} 11 {GUID}\r\n".encode(),
        C("LST", None, ("N=bob@example.com", "F=Bob", f"C={GUID2}", "11", GUID)),
    ),
    (11, b"LST N=dave@example.com 8\r\n", C("LST", None, ("N=dave@example.com", "8"))),
    # presence
    (8, b"CHG 9 NLN 0\r\n", C("CHG", 9, ("NLN", "0"))),
    (
        8,
        b"ILN 9 AWY bob@example.com Bob 268435456\r\n",
        C("ILN", 9, ("AWY", "bob@example.com", "Bob", "268435456")),
    ),
    (2, b"ILN 9 BSY bob@example.com Bob\r\n", C("ILN", 9, ("BSY", "bob@example.com", "Bob"))),
    (
        8,
        b"NLN BRB bob@example.com Bob 268435456\r\n",
        C("NLN", None, ("BRB", "bob@example.com", "Bob", "268435456")),
    ),
    (
        11,
        b"NLN NLN bob@example.com Bob 1342177280 %3Cmsnobj%20Creator%3D%22bob%40example.com%22%2F%3E\r\n",
        C(
            "NLN",
            None,
            (
                "NLN",
                "bob@example.com",
                "Bob",
                "1342177280",
                "%3Cmsnobj%20Creator%3D%22bob%40example.com%22%2F%3E",
            ),
        ),
    ),
    (8, b"FLN bob@example.com\r\n", C("FLN", None, ("bob@example.com",))),
    (11, P("UBX bob@example.com", PSM), C("UBX", None, ("bob@example.com",), PSM)),
    (11, b"UBX bob@example.com 0\r\n", C("UBX", None, ("bob@example.com",), b"")),
    (11, b"UUX 12 0\r\n", C("UUX", 12, (), b"")),
    (11, b"PRP 13 MFN Alice%20S.\r\n", C("PRP", 13, ("MFN", "Alice%20S."))),
    (
        8,
        b"REA 13 1206 alice@example.com Alice%20S.\r\n",
        C("REA", 13, ("1206", "alice@example.com", "Alice%20S.")),
    ),
    # contact list changes
    (
        8,
        b"ADD 0 RL 1207 dave@example.com Dave\r\n",
        C("ADD", 0, ("RL", "1207", "dave@example.com", "Dave")),
    ),
    (
        8,
        b"ADD 14 FL 1208 dave@example.com Dave 0\r\n",
        C("ADD", 14, ("FL", "1208", "dave@example.com", "Dave", "0")),
    ),
    (8, b"REM 0 RL 1209 dave@example.com\r\n", C("REM", 0, ("RL", "1209", "dave@example.com"))),
    (8, b"ADG 15 1210 Work 2 0\r\n", C("ADG", 15, ("1210", "Work", "2", "0"))),
    (
        11,
        f"ADC 16 FL N=dave@example.com F=Dave C={GUID}\r\n".encode(),
        C("ADC", 16, ("FL", "N=dave@example.com", "F=Dave", f"C={GUID}")),
    ),
    (11, b"ADL 17 OK\r\n", C("ADL", 17, ("OK",))),
    # challenges and keep-alives
    (8, b"CHL 0 15570131571988941333\r\n", C("CHL", 0, ("15570131571988941333",))),
    (8, b"QRY 18\r\n", C("QRY", 18)),
    (9, b"QNG 47\r\n", C("QNG", None, ("47",))),
    (8, b"QNG\r\n", C("QNG")),
    # switchboard invitations and transfers
    (
        8,
        b"XFR 19 SB 192.0.2.7:1863 CKI 17262740.1050826919.32308\r\n",
        C("XFR", 19, ("SB", "192.0.2.7:1863", "CKI", "17262740.1050826919.32308")),
    ),
    (
        8,
        b"RNG 11752013 192.0.2.7:1863 CKI 849102291.520491113 bob@example.com Bob%20B.\r\n",
        C(
            "RNG",
            None,
            (
                "11752013",
                "192.0.2.7:1863",
                "CKI",
                "849102291.520491113",
                "bob@example.com",
                "Bob%20B.",
            ),
        ),
    ),
    (
        8,
        P("NOT", b'<NOTIFICATION id="1"></NOTIFICATION>'),
        C("NOT", None, (), b'<NOTIFICATION id="1"></NOTIFICATION>'),
    ),
    (8, b"OUT OTH\r\n", C("OUT", None, ("OTH",))),
    (8, b"OUT SSD\r\n", C("OUT", None, ("SSD",))),
    (8, b"OUT\r\n", C("OUT")),
    # errors: three digits, usually with the failed transaction's trid
    (8, b"911 7\r\n", C("911", 7)),
    (8, b"540 20\r\n", C("540", 20)),
    (8, b"715\r\n", C("715")),
    (8, b"201 21\r\n", C("201", 21)),
    # unknown commands are kept as generic commands
    (8, b"ZZZ 22 some args\r\n", C("ZZZ", 22, ("some", "args"))),
    (8, b"XY hello 5\r\n", C("XY", None, ("hello", "5"))),
    (8, b"999 23\r\n", C("999", 23)),
]

# --- switchboard server lines (Role.CLIENT) -----------------------------------------------------

SWITCHBOARD_LINES: list[tuple[int | None, bytes, Command]] = [
    (
        8,
        b"USR 1 OK alice@example.com Alice\r\n",
        C("USR", 1, ("OK", "alice@example.com", "Alice")),
    ),
    (8, b"CAL 2 RINGING 11752013\r\n", C("CAL", 2, ("RINGING", "11752013"))),
    (8, b"JOI bob@example.com Bob\r\n", C("JOI", None, ("bob@example.com", "Bob"))),
    (
        12,
        b"JOI bob@example.com Bob 1342177280\r\n",
        C("JOI", None, ("bob@example.com", "Bob", "1342177280")),
    ),
    (8, b"IRO 1 1 2 bob@example.com Bob\r\n", C("IRO", 1, ("1", "2", "bob@example.com", "Bob"))),
    (
        8,
        b"IRO 1 2 2 carol@example.com Carol%20C.\r\n",
        C("IRO", 1, ("2", "2", "carol@example.com", "Carol%20C.")),
    ),
    (8, b"ANS 1 OK\r\n", C("ANS", 1, ("OK",))),
    (
        8,
        P("MSG bob@example.com Bob", TEXT_MSG),
        C("MSG", None, ("bob@example.com", "Bob"), TEXT_MSG),
    ),
    (8, P("MSG bob@example.com Bob", TYPING), C("MSG", None, ("bob@example.com", "Bob"), TYPING)),
    (8, b"ACK 4\r\n", C("ACK", 4)),
    (8, b"NAK 5\r\n", C("NAK", 5)),
    (8, b"BYE bob@example.com\r\n", C("BYE", None, ("bob@example.com",))),
    (8, b"BYE bob@example.com 1\r\n", C("BYE", None, ("bob@example.com", "1"))),
    (8, b"217 2\r\n", C("217", 2)),
    (8, b"215 3\r\n", C("215", 3)),
    (8, b"282 6\r\n", C("282", 6)),
]

# --- lines a client sends, parsed by a server (Role.SERVER): every leading number is a trid ------

QRY_PAYLOAD = b"8ba1bb9d6dbf624fee31a2053af5fdd0"
CLIENT_LINES: list[tuple[int | None, bytes, Command]] = [
    (
        None,
        b"VER 1 MSNP12 MSNP11 MSNP8 CVR0\r\n",
        C("VER", 1, ("MSNP12", "MSNP11", "MSNP8", "CVR0")),
    ),
    (
        None,
        b"CVR 2 0x0409 winnt 5.1 i386 MSNMSGR 7.0.0816 MSMSGS alice@example.com\r\n",
        C(
            "CVR",
            2,
            (
                "0x0409",
                "winnt",
                "5.1",
                "i386",
                "MSNMSGR",
                "7.0.0816",
                "MSMSGS",
                "alice@example.com",
            ),
        ),
    ),
    (None, b"INF 2\r\n", C("INF", 2)),
    (None, b"USR 3 TWN I alice@example.com\r\n", C("USR", 3, ("TWN", "I", "alice@example.com"))),
    (None, b"USR 3 MD5 I alice@example.com\r\n", C("USR", 3, ("MD5", "I", "alice@example.com"))),
    (
        8,
        b"USR 4 MD5 S 0b6a9f6e3d0d4c1a8e2f3b4c5d6e7f80\r\n",
        C("USR", 4, ("MD5", "S", "0b6a9f6e3d0d4c1a8e2f3b4c5d6e7f80")),
    ),
    (8, b"USR 4 TWN S t=ticket&p=profile\r\n", C("USR", 4, ("TWN", "S", "t=ticket&p=profile"))),
    (8, b"SYN 5 0\r\n", C("SYN", 5, ("0",))),
    (11, b"SYN 5 0 0\r\n", C("SYN", 5, ("0", "0"))),
    (8, b"CHG 6 NLN 0\r\n", C("CHG", 6, ("NLN", "0"))),
    (
        11,
        b"CHG 6 HDN 1342177280 %3Cmsnobj%2F%3E\r\n",
        C("CHG", 6, ("HDN", "1342177280", "%3Cmsnobj%2F%3E")),
    ),
    (8, b"PNG\r\n", C("PNG")),
    (
        8,
        P("QRY 7 msmsgs@msnmsgr.com", QRY_PAYLOAD),
        C("QRY", 7, ("msmsgs@msnmsgr.com",), QRY_PAYLOAD),
    ),
    (
        11,
        P("QRY 7 PROD0090YUAUV{2B", QRY_PAYLOAD),
        C("QRY", 7, ("PROD0090YUAUV{2B",), QRY_PAYLOAD),
    ),
    (11, P("UUX 8", PSM), C("UUX", 8, (), PSM)),
    (11, b"UUX 8 0\r\n", C("UUX", 8, (), b"")),
    (8, b"XFR 9 SB\r\n", C("XFR", 9, ("SB",))),
    (
        8,
        b"ADD 10 FL bob@example.com bob@example.com\r\n",
        C("ADD", 10, ("FL", "bob@example.com", "bob@example.com")),
    ),
    (
        8,
        b"ADD 10 FL bob@example.com bob@example.com 1\r\n",
        C("ADD", 10, ("FL", "bob@example.com", "bob@example.com", "1")),
    ),
    (8, b"REM 11 AL bob@example.com\r\n", C("REM", 11, ("AL", "bob@example.com"))),
    (
        8,
        b"REA 12 alice@example.com New%20Name\r\n",
        C("REA", 12, ("alice@example.com", "New%20Name")),
    ),
    (11, b"PRP 12 MFN New%20Name\r\n", C("PRP", 12, ("MFN", "New%20Name"))),
    (8, b"ADG 13 Work 0\r\n", C("ADG", 13, ("Work", "0"))),
    (8, b"RMG 14 2\r\n", C("RMG", 14, ("2",))),
    (8, b"REG 15 2 Home 0\r\n", C("REG", 15, ("2", "Home", "0"))),
    (8, b"BLP 16 BL\r\n", C("BLP", 16, ("BL",))),
    (8, b"GTC 17 N\r\n", C("GTC", 17, ("N",))),
    (7, b"LST 18 RL\r\n", C("LST", 18, ("RL",))),
    (8, b"OUT\r\n", C("OUT")),
    # switchboard
    (
        8,
        b"USR 1 alice@example.com 17262740.1050826919.32308\r\n",
        C("USR", 1, ("alice@example.com", "17262740.1050826919.32308")),
    ),
    (
        8,
        b"ANS 1 alice@example.com 849102291.520491113 11752013\r\n",
        C("ANS", 1, ("alice@example.com", "849102291.520491113", "11752013")),
    ),
    (8, b"CAL 2 bob@example.com\r\n", C("CAL", 2, ("bob@example.com",))),
    (8, P("MSG 3 A", TEXT_MSG), C("MSG", 3, ("A",), TEXT_MSG)),
    (8, P("MSG 4 U", TYPING), C("MSG", 4, ("U",), TYPING)),
    (8, P("MSG 5 N", TEXT_MSG), C("MSG", 5, ("N",), TEXT_MSG)),
    (8, b"ZZZ 6 unknown\r\n", C("ZZZ", 6, ("unknown",))),
]

TABLES = {
    "server": (Role.CLIENT, SERVER_LINES),
    "switchboard": (Role.CLIENT, SWITCHBOARD_LINES),
    "client": (Role.SERVER, CLIENT_LINES),
}
ROWS = [
    pytest.param(
        role, version, wire, expected, id=f"{table}-{i}-{wire[:12].decode(errors='replace')}"
    )
    for table, (role, rows) in TABLES.items()
    for i, (version, wire, expected) in enumerate(rows)
]


def parse_all(
    role: Role, version: int | None, data: bytes, chunks: list[int] | None = None
) -> list[Command]:
    parser = Parser(role, version=version)
    out: list[Command] = []
    if chunks is None:
        parser.feed(data)
        out.extend(parser)
    else:
        pos = 0
        for size in chunks:
            parser.feed(data[pos : pos + size])
            pos += size
            out.extend(parser)
        assert pos >= len(data)
    assert parser.buffered == 0
    assert parser.next_command() is None
    return out


@pytest.mark.parametrize(("role", "version", "wire", "expected"), ROWS)
def test_parse_line(role: Role, version: int | None, wire: bytes, expected: Command) -> None:
    assert parse_all(role, version, wire) == [expected]


@pytest.mark.parametrize(("role", "version", "wire", "expected"), ROWS)
def test_encode_round_trip(
    role: Role, version: int | None, wire: bytes, expected: Command
) -> None:
    assert encode(expected) == wire
    (parsed,) = parse_all(role, version, wire)
    assert encode(parsed) == wire


@pytest.mark.parametrize(("role", "version", "wire", "expected"), ROWS)
def test_one_byte_at_a_time(
    role: Role, version: int | None, wire: bytes, expected: Command
) -> None:
    assert parse_all(role, version, wire, [1] * len(wire)) == [expected]


def _streams() -> list[tuple[str, Role, int | None, list[tuple[bytes, Command]]]]:
    """Each table split into runs of consecutive rows parsed at the same version."""
    out: list[tuple[str, Role, int | None, list[tuple[bytes, Command]]]] = []
    for table, (role, rows) in TABLES.items():
        for version in sorted({v for v, _, _ in rows}, key=lambda v: -1 if v is None else v):
            run = [(w, c) for v, w, c in rows if v == version]
            out.append((f"{table}-v{version}", role, version, run))
    return out


STREAMS = [pytest.param(role, version, run, id=name) for name, role, version, run in _streams()]


@pytest.mark.parametrize(("role", "version", "run"), STREAMS)
def test_stream_in_random_chunks(
    role: Role, version: int | None, run: list[tuple[bytes, Command]]
) -> None:
    data = b"".join(w for w, _ in run)
    expected = [c for _, c in run]
    assert parse_all(role, version, data) == expected
    assert parse_all(role, version, data, [1] * len(data)) == expected
    rng = random.Random(len(data))
    for _ in range(25):
        chunks: list[int] = []
        while sum(chunks) < len(data):
            chunks.append(rng.choice((1, 2, 3, 7, 16, 61, 256, 1500)))
        assert parse_all(role, version, data, chunks) == expected
    assert b"".join(encode(c) for c in expected) == data


def test_version_switch_mid_stream() -> None:
    """A client sets ``parser.version`` after VER; from then on LST/LSG have no trid."""
    parser = Parser(Role.CLIENT)
    parser.feed(b"VER 1 MSNP8 CVR0\r\nLSG 0 Other%20Contacts 0\r\n")
    ver = parser.next_command()
    assert ver == C("VER", 1, ("MSNP8", "CVR0"))
    parser.version = int(ver.args[0].removeprefix("MSNP"))
    assert parser.next_command() == C("LSG", None, ("0", "Other%20Contacts", "0"))


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (None, C("LSG", 0, ("Other%20Contacts", "0"))),
        (7, C("LSG", 0, ("Other%20Contacts", "0"))),
        (8, C("LSG", None, ("0", "Other%20Contacts", "0"))),
        (12, C("LSG", None, ("0", "Other%20Contacts", "0"))),
    ],
)
def test_lsg_trid_depends_on_version(version: int | None, expected: Command) -> None:
    assert parse_all(Role.CLIENT, version, b"LSG 0 Other%20Contacts 0\r\n") == [expected]


@pytest.mark.parametrize(("version", "trid"), [(None, 12), (7, 12), (8, None), (11, None)])
def test_lst_trid_depends_on_version(version: int | None, trid: int | None) -> None:
    (cmd,) = parse_all(Role.CLIENT, version, b"LST 12 FL 1205 0 0\r\n")
    assert cmd.trid == trid
    assert cmd.args[-4:] == ("FL", "1205", "0", "0")


def test_server_role_always_reads_trid() -> None:
    """The MSNP8 no-trid rule is about server lines; a client's ``LST 5 FL`` has a trid."""
    assert parse_all(Role.SERVER, 8, b"LST 5 FL\r\nLSG 6\r\n") == [
        C("LST", 5, ("FL",)),
        C("LSG", 6),
    ]


def test_role_decides_payload_commands() -> None:
    """``QRY`` carries a payload from a client but is a bare reply from a server."""
    assert parse_all(Role.CLIENT, 8, b"QRY 7\r\n") == [C("QRY", 7)]
    (qry,) = parse_all(Role.SERVER, 8, P("QRY 7 msmsgs@msnmsgr.com", QRY_PAYLOAD))
    assert qry.payload == QRY_PAYLOAD and qry.args == ("msmsgs@msnmsgr.com",)
    # "NOT" is a payload command only when a server sends it
    assert parse_all(Role.SERVER, 8, b"NOT 5\r\n") == [C("NOT", 5)]


def test_payload_may_contain_crlf_and_command_like_text() -> None:
    payload = b"MIME-Version: 1.0\r\n\r\nMSG 1 N 99999999\r\nOUT\r\n"
    wire = P("MSG bob@example.com Bob", payload) + b"ACK 1\r\n"
    assert parse_all(Role.CLIENT, 8, wire, [1] * len(wire)) == [
        C("MSG", None, ("bob@example.com", "Bob"), payload),
        C("ACK", 1),
    ]


def test_command_helpers() -> None:
    err = C("911", 3)
    assert err.is_error and err.error_code == 911
    msg = C("MSG", None, ("a", "b"), b"x")
    assert not msg.is_error and msg.error_code is None
    assert not C("A1B").is_error
    assert C("٣٣٣").error_code is None  # digits, but not ASCII ones
    assert msg.arg(0) == "a" and msg.arg(-1) == "b" and msg.arg(5) == "" and msg.arg(5, "d") == "d"
    assert msg.arg(-3, "none") == "none"
    assert repr(msg) == "<Command MSG a b +1 bytes>"
    assert repr(C("ACK", 4)) == "<Command ACK trid=4>"
    assert repr(C("QNG", None, ("4",))) == "<Command QNG 4>"


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (C("USR", 3, ("MD5", "S", "0123abcd")), "<Command USR trid=3 MD5 S <redacted>>"),
        (C("USR", 3, ("TWN", "S", "t=TICKET&p=P")), "<Command USR trid=3 TWN S <redacted>>"),
        (C("USR", 3, ("SSO", "S", "t=T", "MBI", "{g}")), "<Command USR trid=3 SSO S <redacted>>"),
        (C("USR", 3, ("SHA", "A", "Y2lyY2xl")), "<Command USR trid=3 SHA A <redacted>>"),
        (C("USR", 3, ("TWN", "I", "a@b.c")), "<Command USR trid=3 TWN I a@b.c>"),
        (C("USR", 1, ("a@b.c", "1234.5678")), "<Command USR trid=1 a@b.c <redacted>>"),
        (C("USR", 1, ("OK", "a@b.c", "A")), "<Command USR trid=1 OK a@b.c A>"),
        (C("ANS", 1, ("a@b.c", "COOKIE", "77")), "<Command ANS trid=1 a@b.c <redacted> 77>"),
        (
            C("XFR", 9, ("SB", "1.2.3.4:1864", "CKI", "COOKIE")),
            "<Command XFR trid=9 SB 1.2.3.4:1864 CKI <redacted>>",
        ),
        (
            C("RNG", None, ("5", "1.2.3.4:1864", "CKI", "COOKIE", "b@c.d", "B")),
            "<Command RNG 5 1.2.3.4:1864 CKI <redacted> b@c.d B>",
        ),
        (C("RNG", None, ("5", "h:1", "CKI")), "<Command RNG 5 h:1 CKI>"),
    ],
)
def test_repr_leaves_secrets_out(command: Command, shown: str) -> None:
    # every log line and error message that shows a command shows it through its repr
    assert repr(command) == shown


def test_a_blank_first_line_does_not_borrow_the_buffers_last_cr() -> None:
    """A buffer that starts with a bare LF (a blank line) and ends in a CR whose LF has not
    arrived: the blank line is skipped, the rest waits, as when the LF came on its own."""
    whole = Parser(Role.CLIENT)
    whole.feed(b"\nOUT\r")
    assert whole.next_command() is None
    whole.feed(b"\n")
    pieces = Parser(Role.CLIENT)
    for part in (b"\n", b"OUT\r", b"\n"):
        pieces.feed(part)
    assert whole.next_command() == pieces.next_command() == Command("OUT", None, (), None)
