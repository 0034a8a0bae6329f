"""bridge.msnp.circles: the MSNP18 circle codec on hand-built address-book answers and NS
payloads (the shapes Escargot sends)."""

from __future__ import annotations

import base64

import pytest

from bridge.msnp import circles
from bridge.msnp.circles import (
    MAX_CIRCLES,
    MAX_MEMBERS,
    MAX_SDG_TEXT,
    CircleBook,
    build_sdg_text,
    circle_of_key,
    conversation_key,
    parse_circle_notice,
    parse_circles,
    parse_members,
    parse_nfy,
    parse_sdg,
)
from bridge.msnp.errors import SoapFault
from tests.support.scaling import assert_linear

CID = "00000000-0000-0000-0009-0123456789ab"
OTHER = "00000000-0000-0000-0009-ba9876543210"
AB = "http://www.msn.com/webservices/AddressBook"


def _answer(result: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap='
        '"http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<ABFindContactsPagedResponse xmlns="{AB}"><ABFindContactsPagedResult>{result}'
        "</ABFindContactsPagedResult></ABFindContactsPagedResponse></soap:Body></soap:Envelope>"
    ).encode()


def _inverse(circle_id: str, name: str, state: str = "Accepted", deleted: str = "false") -> str:
    return (
        f"<CircleInverseInfo><Content><Handle><Id>{circle_id}</Id></Handle><Info><Domain>1"
        f"</Domain><DisplayName>{name}</DisplayName></Info></Content><PersonalInfo>"
        f"<MembershipInfo><CirclePersonalMembership><Role>Member</Role><State>{state}</State>"
        "</CirclePersonalMembership></MembershipInfo><Name>x</Name></PersonalInfo>"
        f"<Deleted>{deleted}</Deleted></CircleInverseInfo>"
    )


TICKET = (
    '<?xml version="1.0" encoding="utf-16"?><SignedTicket ver="1"><Data>QQ==</Data></SignedTicket>'
)


def _escaped(xml: str) -> str:
    return xml.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_circles_of_the_own_address_book() -> None:
    infos = (
        _inverse(CID.upper(), "Book &amp; club")
        + _inverse(OTHER, "Invited", state="WaitingResponse")
        + _inverse("00000000-0000-0000-0000-000000000001", "not a circle")
        + _inverse(CID, "duplicate")
        + _inverse("00000000-0000-0000-0009-111111111111", "gone", deleted="true")
    )
    book = parse_circles(_answer(
        f"<Contacts/><CircleResult><Circles>{infos}</Circles><CircleTicket>{_escaped(TICKET)}"
        "</CircleTicket></CircleResult>"))  # fmt: skip
    assert [(c.circle_id, c.name, c.accepted) for c in book.circles] == [
        (CID, "Book & club", True), (OTHER, "Invited", False)]  # fmt: skip
    assert book.ticket == TICKET
    assert "QQ==" not in repr(book)
    assert book.circles[0].address == f"9:{CID}@live.com"
    assert circle_of_key(book.circles[0].key) == CID
    assert parse_circles(_answer("<Contacts/>")).circles == ()


def test_an_answer_that_names_no_circle_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most accounts are in no circle: their answer (the whole address book) is read as none
    without building anything; one that names a circle anywhere, or a fault, is parsed."""
    contacts = "".join(_member(f"c{i}@example.com") for i in range(50))
    plain = _answer(f"<Contacts>{contacts}</Contacts><CircleResult><CircleTicket>"
                    f"{_escaped(TICKET)}</CircleTicket></CircleResult>")  # fmt: skip
    named = _answer(f"<Contacts>{_member('x@example.com', name='CircleInverseInfo')}</Contacts>")
    parsed: list[bytes] = []
    real = circles._result

    def counted(data: bytes, skip: frozenset[str] = frozenset()) -> object:
        parsed.append(data)
        return real(data, skip)

    monkeypatch.setattr(circles, "_result", counted)
    assert parse_circles(plain) == CircleBook(())
    assert parsed == []
    assert parse_circles(named).circles == () and parsed == [named]
    assert parse_circles(_answer(_inverse(CID, "c"))).circles == () and len(parsed) == 2


def test_circles_are_capped() -> None:
    infos = "".join(_inverse(f"{circles.CIRCLE_ID_PREFIX}{i:012x}", f"c{i}") for i in range(200))
    book = parse_circles(_answer(f"<CircleResult><Circles>{infos}</Circles></CircleResult>"))
    assert len(book.circles) == MAX_CIRCLES


def test_a_fault_is_raised() -> None:
    fault = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>Generic SOAP fault"
        b"</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(SoapFault):
        parse_circles(fault)


def _member(email: str, kind: str = "Live", deleted: str = "false", name: str = "") -> str:
    return (
        f"<Contact><contactId>x</contactId><contactInfo><contactType>{kind}</contactType>"
        f"<passportName>{email}</passportName><displayName>{name or email}</displayName>"
        f"</contactInfo><fDeleted>{deleted}</fDeleted></Contact>"
    )


def test_members_of_a_circle() -> None:
    contacts = (
        _member("Bob@Example.com", name="Bob")
        + _member("carol@example.com", "LivePending")
        + _member("gone@example.com", deleted="true")
        + _member(f"{CID}@live.com", "Me")
        + _member("bob@example.com", name="again")
        + _member("no-at-sign")
    )
    members = parse_members(_answer(f"<Contacts>{contacts}</Contacts>"))
    assert [(m.email, m.name, m.pending) for m in members] == [
        ("bob@example.com", "Bob", False), ("carol@example.com", "", True)]  # fmt: skip
    many = "".join(_member(f"m{i}@example.com") for i in range(MAX_MEMBERS + 50))
    assert len(parse_members(_answer(f"<Contacts>{many}</Contacts>"))) == MAX_MEMBERS


def test_requests() -> None:
    own = circles.find_circles("t=ticket&amp")
    assert own.action == f"{AB}/ABFindContactsPaged"
    assert b"CircleResult" in own.body and b"abHandle" not in own.body
    assert b"t=ticket&amp;amp" in own.body
    members = circles.find_members("t", CID)
    assert f"<abHandle><ABId>{CID}</ABId>".encode() in members.body
    with pytest.raises(ValueError):
        circles.find_members("t", "bob@example.com")
    assert base64.b64decode(circles.ticket_argument(TICKET)).decode() == TICKET
    assert circles.join_ml([CID]) == (
        f'<ml><d n="live.com"><c n="{CID}" t="9" l="1" /></d></ml>'.encode())  # fmt: skip


def _sdg(messaging: str, body: bytes, to: str = f"9:{CID}@live.com;path=IM") -> bytes:
    return (
        f"Routing: 1.0\r\nTo: {to}\r\nFrom: 1:Bob@example.com;epid={{abc}}\r\n\r\n"
        f"Reliability: 1.0\r\nStream: 0\r\nSegment: 0\r\n\r\n{messaging}\r\n\r\n"
    ).encode() + body


def test_sdg_text_typing_nudge_and_refusals() -> None:
    body = "héllo".encode()
    text = parse_sdg(_sdg(f"Messaging: 1.0\r\nContent-Length: {len(body)}\r\nMessage-Type: "
                          "Text", body + b"trailing"))  # fmt: skip
    assert text is not None
    assert (text.circle_id, text.sender, text.epid, text.kind, text.text) == (
        CID, "bob@example.com", "{abc}", "Text", "héllo")  # fmt: skip
    typing = parse_sdg(_sdg("Message-Type: Control\r\nMessage-Subtype: Typing", b"\r\n"))
    assert typing is not None and typing.kind == "Typing"
    nudge = parse_sdg(_sdg("Message-Type: Nudge", b"ID: 1\r\n\r\n"))
    assert nudge is not None and nudge.kind == "Nudge"
    assert parse_sdg(_sdg("Message-Type: Text", b"x", to="1:bob@example.com")) is None
    assert parse_sdg(_sdg("Message-Type: Text", b"x", to="9:someone@live.com")) is None
    assert parse_sdg(b"Routing: 1.0\r\nTo: 9:x\r\n\r\n") is None
    assert parse_sdg(_sdg("Message-Type: Text", b"x" * circles.MAX_SDG_PAYLOAD)) is None


def test_built_sdg_is_cut_between_characters_and_reads_back() -> None:
    text = "€" * (MAX_SDG_TEXT // 3 + 10)  # 3 bytes each: the cut falls inside one
    payloads = build_sdg_text(CID, "alice@example.com", "{guid}", text)
    assert len(payloads) == 2
    parts = [parse_sdg(p) for p in payloads]
    assert all(p is not None and p.kind == "Text" for p in parts)
    assert "".join(p.text for p in parts if p is not None) == text
    assert payloads[0].startswith(
        f"Routing: 1.0\r\nTo: 9:{CID}@live.com;path=IM\r\nFrom: 1:alice@example.com;"
        "epid={guid}\r\n\r\nReliability: 1.0\r\n\r\nMessaging: 2.0\r\n".encode())  # fmt: skip
    with pytest.raises(ValueError):
        build_sdg_text(CID, "a@b.c", "{g}", "")
    with pytest.raises(ValueError):
        build_sdg_text("bob@example.com", "a@b.c", "{g}", "hi")


def _nfy(uri: str, body: bytes, sender: str = f"9:{CID}@live.com") -> bytes:
    head = (
        f"Routing: 1.0\r\nTo: 1:alice@example.com\r\nFrom: {sender}\r\n\r\nReliability: 1.0\r\n"
        f"Stream: 0\r\n\r\nNotification: 1.0\r\nUri: {uri}\r\nNotifType: Partial\r\n"
        f"Content-Type: application/circles+xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def test_nfy_roster_and_left_member() -> None:
    roster = b"<circle><roster><id>IM</id><user><id>1:Bob@example.com</id></user><user><id>" \
        b"1:carol@example.com</id></user><user><id>1:bob@example.com</id></user></roster></circle>"  # fmt: skip
    notice = parse_nfy(_nfy("/circle", roster))
    assert notice is not None and notice.circle_id == CID
    assert notice.roster == ("bob@example.com", "carol@example.com")
    left = parse_nfy(_nfy("/circle/roster(IM)/user(1:Carol@example.com)", b""))
    assert left is not None and left.left == "carol@example.com" and left.roster is None
    props = parse_nfy(_nfy("/circle", b"<circle><props/></circle>"))
    assert props is not None and props.roster is None and props.left is None
    assert parse_nfy(_nfy("/circle", roster, sender="1:bob@example.com")) is None


def test_circle_notice() -> None:
    body = (
        '<NOTIFICATION id="0" siteid="45705"><TO pid="0x1:0x2" name="a@b.c"><VIA agent='
        '"messenger" /></TO><MSG id="0"><BODY>\r\n\t&lt;NotificationData&gt;&lt;HasNewItem&gt;'
        f"true&lt;/HasNewItem&gt;&lt;CircleId&gt;{CID.upper()}&lt;/CircleId&gt;"
        "&lt;/NotificationData&gt;</BODY></MSG></NOTIFICATION>"
    )
    assert parse_circle_notice(body.encode()) == CID
    assert parse_circle_notice(body.replace("CircleId", "CID").encode()) is None
    assert parse_circle_notice(b"<NOTIFICATION><MSG>") is None


def test_keys() -> None:
    key = conversation_key(CID.upper())
    assert key == f"group:circle:{CID}" and circle_of_key(key) == CID
    assert circle_of_key("group:0123") is None and circle_of_key("bob@example.com") is None


def test_parsing_costs_linear_time() -> None:
    def roster(n: int) -> bytes:
        users = b"".join(b"<user><id>1:u%d@example.com</id></user>" % i for i in range(n))
        return _nfy("/circle", b"<circle><roster><id>IM</id>" + users + b"</roster></circle>")

    assert_linear(lambda p: parse_nfy(p), roster(50), roster(200))  # type: ignore[arg-type]
    flood = _sdg("Message-Type: Text\r\n" + "X: y\r\n" * 400, b"x")
    assert_linear(lambda p: parse_sdg(p), flood[: len(flood) // 4], flood)  # type: ignore[arg-type]
