"""Offline messages: mail data, the RSI requests and answers, the message format, ordering,
and sending with Store2 (run ids, sequence numbers, the lock-key challenge)."""

from __future__ import annotations

from datetime import UTC, datetime
import base64

import pytest

from bridge.msnp import oim_store
from bridge.msnp.errors import LocalProtocolError, ProtocolError, SoapFault
from bridge.msnp.oim import (
    RSI_NS,
    MailData,
    OfflineMessage,
    OimInfo,
    decode_mime_words,
    delete_messages,
    get_message,
    get_metadata,
    parse_delete_messages,
    parse_get_message,
    parse_get_metadata,
    parse_mail_data,
    parse_oim_message,
    parse_oim_notification,
    sort_messages,
    split_ticket,
)
from bridge.msnp.soap import envelope, fault_from, parse_envelope
from bridge.msnp.xmlsafe import Element, parse_xml

MD = (
    "<MD><E><I>0</I><IU>0</IU></E><Q><QTM>409600</QTM></Q>"
    "<M><T>11</T><S>6</S><RT>2024-01-02T03:04:05Z</RT><RS>0</RS><SZ>1234</SZ>"
    "<E>bob@example.com</E><I>11111111-AAAA-BBBB-CCCC-000000000001</I>"
    "<F>00000000-0000-0000-0000-000000000009</F><N>=?utf-8?B?Qm9iIPCfmIA=?=</N></M>"
    "<M><T>11</T><S>6</S><RT>2024-01-02T03:05:00Z</RT><SZ>99</SZ><E>eve@example.com</E>"
    "<I>11111111-AAAA-BBBB-CCCC-000000000002</I><N>Plain Eve</N></M>"
    "<M><E>nobody@example.com</E></M>"
    "</MD>"
)


def test_parse_mail_data() -> None:
    data = parse_mail_data(MD)
    assert not data.too_large
    assert data.messages == (
        OimInfo(
            "11111111-AAAA-BBBB-CCCC-000000000001",
            "bob@example.com",
            "Bob \U0001f600",
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            1234,
        ),
        OimInfo(
            "11111111-AAAA-BBBB-CCCC-000000000002",
            "eve@example.com",
            "Plain Eve",
            datetime(2024, 1, 2, 3, 5, tzinfo=UTC),
            99,
        ),
    )
    assert parse_mail_data("too-large") == MailData(too_large=True)
    assert parse_mail_data("") == MailData()
    with pytest.raises(ProtocolError):
        parse_mail_data("<NotMD/>")


@pytest.mark.parametrize(
    "content_type", ["text/x-msmsgsinitialmdatanotification", "text/x-msmsgsoimnotification"]
)
def test_notification_payloads(content_type: str) -> None:
    payload = (
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=UTF-8\r\n\r\n"
        f"Mail-Data: {MD}\r\nInbox-URL: /cgi-bin/HoTMaiL\r\n"
    ).encode()
    data = parse_oim_notification(payload)
    assert data is not None and len(data.messages) == 2


def test_other_notifications_are_not_mail_data() -> None:
    payload = (
        b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsprofile; charset=UTF-8\r\n\r\n"
        b"LoginTime: 1\r\n"
    )
    assert parse_oim_notification(payload) is None
    too_large = (
        b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinitialmdatanotification\r\n\r\n"
        b"Mail-Data: too-large\r\n"
    )
    assert parse_oim_notification(too_large) == MailData(too_large=True)


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("=?utf-8?B?Wm/Dqw==?=", "Zoë"),
        ("=?utf-8?Q?Zo=C3=AB_S?=", "Zoë S"),
        ("=?utf-8?B?QQ==?= =?utf-8?B?Qg==?=", "AB"),
        ("plain =?utf-8?B?!!?= text", "plain =?utf-8?B?!!?= text"),
        ("=?no-such-charset?B?QQ==?=", "=?no-such-charset?B?QQ==?="),
        ("=?iso-8859-1?Q?caf=E9?=", "café"),
    ],
)
def test_decode_mime_words(value: str, decoded: str) -> None:
    assert decode_mime_words(value) == decoded


def _rsi(request_body: bytes, action: str) -> tuple[str, str, Element]:
    root = parse_xml(request_body)
    cookie = root.find("Header/PassportCookie")
    assert cookie is not None and cookie.ns == RSI_NS
    node = root.findall(f"Body/{action}")[0]
    return cookie.findtext("t"), cookie.findtext("p"), node


def test_rsi_requests() -> None:
    ticket = "t=ABC+def/=&p=XYZ"
    assert split_ticket(ticket) == ("ABC+def/=", "XYZ")
    with pytest.raises(LocalProtocolError):
        split_ticket("nonsense")
    request = get_metadata(ticket)
    assert request.action == f"{RSI_NS}/GetMetadata"
    assert _rsi(request.body, "GetMetadata")[:2] == ("ABC+def/=", "XYZ")
    request = get_message(ticket, "m-1", mark_read=False)
    assert request.action == f"{RSI_NS}/GetMessage"
    _, _, node = _rsi(request.body, "GetMessage")
    assert node.findtext("messageId") == "m-1"
    assert node.findtext("alsoMarkAsRead") == "false"
    request = delete_messages(ticket, ["m-1", "m-2"])
    _, _, node = _rsi(request.body, "DeleteMessages")
    assert [m.text for m in node.findall("messageIds/messageId")] == ["m-1", "m-2"]
    with pytest.raises(LocalProtocolError):
        delete_messages(ticket, [])


def _rsi_answer(inner: str) -> bytes:
    return envelope("", inner)


def test_get_metadata_answer_as_xml_or_text() -> None:
    as_xml = _rsi_answer(f'<GetMetadataResponse xmlns="{RSI_NS}">{MD}</GetMetadataResponse>')
    escaped = MD.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    as_text = _rsi_answer(f'<GetMetadataResponse xmlns="{RSI_NS}">{escaped}</GetMetadataResponse>')
    assert parse_get_metadata(as_xml) == parse_get_metadata(as_text) == parse_mail_data(MD)


def _mime(text: str, run: str, seq: int, extra: str = "") -> str:
    body = base64.b64encode(text.encode()).decode()
    lines = "\r\n".join(body[i : i + 76] for i in range(0, len(body), 76))
    return (
        "X-Message-Info: abc\r\n"
        "Received: from OIM-SSI02.phx.gbl ([65.54.237.206]) by oim1-f1.hotmail.com with SMTPSVC;\r\n"
        "\t Tue, 2 Jan 2024 03:04:05 -0800\r\n"
        "From: =?utf-8?B?Qm9iIPCfmIA=?= <bob@example.com>\r\n"
        "To: me@example.com\r\n"
        "Subject: \r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "X-OIM-Message-Type: OfflineMessage\r\n"
        f"X-OIM-Run-Id: {{{run}}}\r\n"
        f"X-OIM-Sequence-Num: {seq}\r\n"
        f"{extra}"
        "Date: 2 Jan 2024 03:04:05 -0800\r\n"
        "\r\n" + lines
    )


RUN = "3a3be82c-a5c7-4aba-9b15-0db4aa7c0ab8"


def test_parse_oim_message() -> None:
    text = "Hello ünïcode \U0001f600\r\nsecond line " + "x" * 200
    message = parse_oim_message(
        "m-1",
        _mime(
            text,
            RUN,
            3,
            "X-OriginalArrivalTime: 02 Jan 2024 11:04:05.0120 (UTC) FILETIME=[1:2]\r\n",
        ),
    )
    assert message == OfflineMessage(
        message_id="m-1",
        sender="bob@example.com",
        sender_name="Bob \U0001f600",
        text=text.replace("\r\n", "\n"),
        sent=datetime(2024, 1, 2, 11, 4, 5, 12000, tzinfo=UTC),
        run_id=RUN.upper(),
        sequence=3,
    )


def test_date_fallbacks() -> None:
    # no X-OriginalArrivalTime: the Date header (with its offset)
    message = parse_oim_message("m", _mime("hi", RUN, 1))
    assert message.sent == datetime(2024, 1, 2, 11, 4, 5, tzinfo=UTC)
    # nothing usable: the time from the mail data
    received = datetime(2024, 5, 5, tzinfo=UTC)
    plain = "From: bob@example.com\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhi there"
    message = parse_oim_message("m", plain, received=received)
    assert (message.sender, message.text, message.sent, message.run_id) == (
        "bob@example.com",
        "hi there",
        received,
        None,
    )


@pytest.mark.parametrize(
    "mime",
    [
        "no blank line at all",
        "Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        "From: a@b.c\r\n\r\n" + "x" * (300 << 10),
    ],
)
def test_bad_messages(mime: str) -> None:
    with pytest.raises(ProtocolError):
        parse_oim_message("m", mime)


def test_get_message_and_delete_answers() -> None:
    mime = _mime("hi", RUN, 1).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    answer = _rsi_answer(
        f'<GetMessageResponse xmlns="{RSI_NS}"><GetMessageResult>{mime}</GetMessageResult>'
        "</GetMessageResponse>"
    )
    message = parse_get_message(answer, "m-9")
    assert (message.message_id, message.text, message.sequence) == ("m-9", "hi", 1)
    parse_delete_messages(_rsi_answer(f'<DeleteMessagesResponse xmlns="{RSI_NS}"/>'))
    with pytest.raises(ProtocolError):
        parse_delete_messages(answer)


def _msg(text: str, minute: int | None, run: str | None, seq: int | None) -> OfflineMessage:
    sent = datetime(2024, 1, 1, 0, minute, tzinfo=UTC) if minute is not None else None
    return OfflineMessage(text, "bob@example.com", "Bob", text, sent, run, seq)


def test_sort_messages() -> None:
    messages = [
        _msg("run-b second", 1, "B", 2),
        _msg("lonely late", 30, None, None),
        _msg("run-a second (same minute)", 5, "A", 2),
        _msg("run-a first", 5, "A", 1),
        _msg("run-b first", 9, "B", 1),  # clock says later, but sequence 1 of a run begun at :01
        _msg("no time", None, None, None),
        _msg("lonely early", 0, None, None),
    ]
    assert [m.text for m in sort_messages(messages)] == [
        "lonely early",
        "run-b first",
        "run-b second",
        "run-a first",
        "run-a second (same minute)",
        "lonely late",
        "no time",
    ]


# --- sending ---------------------------------------------------------------------------------


def test_run_numbering() -> None:
    run = oim_store.OimRun()
    assert run.run_id.startswith("{") and run.run_id.endswith("}") and len(run.run_id) == 38
    assert [run.take(), run.take(), run.take()] == [1, 2, 3]
    assert oim_store.OimRun().run_id != run.run_id


def test_oim_content() -> None:
    text = "Zoë says hi\nand bye " + "y" * 300
    content = oim_store.build_oim_content(text, "{RUN}", 4)
    head, _, body = content.partition("\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.split("\r\n"))
    assert headers == {
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "base64",
        "X-OIM-Message-Type": "OfflineMessage",
        "X-OIM-Run-Id": "{RUN}",
        "X-OIM-Sequence-Num": "4",
    }
    lines = body.split("\r\n")
    assert all(len(line) <= 76 for line in lines) and len(lines) > 1
    assert base64.b64decode("".join(lines)).decode() == text.replace("\n", "\r\n")
    parsed = parse_oim_message("m", "From: a@b.c\r\n" + content)
    assert parsed.text == text and parsed.sequence == 4 and parsed.run_id == "RUN"
    with pytest.raises(LocalProtocolError):
        oim_store.build_oim_content("x" * 5000, "{R}", 1)
    with pytest.raises(LocalProtocolError):
        oim_store.build_oim_content("x", "{R}", 0)


def test_store2_request() -> None:
    request = oim_store.store2(
        "t=TICK&p=ET",
        "me@example.com",
        "Me & <I>",
        "bob@example.com",
        "offline hello",
        run_id="{RUN}",
        sequence=2,
        lock_key="abc123",
        protocol=18,
    )
    assert request.action == "http://messenger.live.com/ws/2006/09/oim/Store2"
    root = parse_xml(request.body)
    header = root.child("Header")
    assert header is not None
    sender = header.child("From")
    assert sender is not None
    assert sender.get("memberName") == "me@example.com"
    assert decode_mime_words(sender.get("friendlyName")) == "Me & <I>"
    assert sender.get("msnpVer") == "MSNP18" and sender.get("lang") == "en-US"
    recipient = header.child("To")
    assert recipient is not None and recipient.get("memberName") == "bob@example.com"
    ticket = header.child("Ticket")
    assert ticket is not None
    assert (ticket.get("passport"), ticket.get("appid"), ticket.get("lockkey")) == (
        "t=TICK&p=ET",
        oim_store.OIM_APP_ID,
        "abc123",
    )
    assert header.findtext("Sequence/MessageNumber") == "2"
    assert root.findtext("Body/MessageType") == "text"
    content = root.findtext("Body/Content")
    message = parse_oim_message("m", "From: me@example.com\n" + content)
    assert (message.text, message.run_id, message.sequence) == ("offline hello", "RUN", 2)


LOCK_FAULT = b"""<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<soap:Fault><faultcode xmlns:q0="http://messenger.msn.com/ws/2004/09/oim/">q0:AuthenticationFailed</faultcode>
<faultstring>x</faultstring><detail>
<TweenerChallenge xmlns="http://messenger.msn.com/ws/2004/09/oim/">ct=1</TweenerChallenge>
<LockKeyChallenge xmlns="http://messenger.msn.com/ws/2004/09/oim/">11533365622852247127</LockKeyChallenge>
</detail></soap:Fault></soap:Body></soap:Envelope>"""


def test_lock_key_challenge_flow() -> None:
    with pytest.raises(SoapFault) as info:
        oim_store.parse_store2(LOCK_FAULT)
    fault = info.value
    challenge = oim_store.lock_key_challenge(fault)
    assert challenge == "11533365622852247127"
    assert not oim_store.ticket_expired(fault)
    # the published MSNP11-algorithm vector for the WLM 8.1 pair (see test_challenge.py)
    assert (
        oim_store.answer_lock_key(challenge, app_id="PROD0113H11T8$X_", app_key="RG@XY*28Q5QHS%Q5")
        == "f086d1ded067186deca8dba2231602cf"
    )
    key = oim_store.answer_lock_key(challenge)
    assert len(key) == 32 and key != "f086d1ded067186deca8dba2231602cf"
    for bad in ("", "has space", "x" * 65, "ünï"):
        with pytest.raises(ProtocolError):
            oim_store.answer_lock_key(bad)


def test_expired_ticket_and_other_faults() -> None:
    no_lock = LOCK_FAULT.replace(b"11533365622852247127", b"")
    fault = fault_from(parse_envelope(no_lock))
    assert fault is not None
    assert oim_store.ticket_expired(fault) and oim_store.lock_key_challenge(fault) is None
    unavailable = fault_from(
        parse_envelope(LOCK_FAULT.replace(b"AuthenticationFailed", b"SystemUnavailable"))
    )
    assert unavailable is not None
    assert oim_store.lock_key_challenge(unavailable) is None
    assert not oim_store.ticket_expired(unavailable)


def test_store_response() -> None:
    ok = envelope(
        '<SequenceAcknowledgment xmlns="http://schemas.xmlsoap.org/ws/2003/03/rm">'
        '<AcknowledgmentRange Upper="2" Lower="2"/></SequenceAcknowledgment>',
        '<StoreResponse xmlns="http://messenger.msn.com/ws/2004/09/oim/"><PointsConsumed>0'
        "</PointsConsumed></StoreResponse>",
    )
    oim_store.parse_store2(ok)
    with pytest.raises(ProtocolError):
        oim_store.parse_store2(envelope("", "<Other/>"))


def test_non_ascii_digits_are_not_numbers() -> None:
    # "²".isdigit() is True but int("²") raises: such values must read as "unknown"
    data = parse_mail_data("<MD><M><E>a@b.c</E><I>m</I><SZ>\u00b2</SZ></M></MD>")
    assert data.messages[0].size == 0
    message = parse_oim_message("m", "From: a@b.c\r\nX-OIM-Sequence-Num: \u00b2\r\n\r\nhi")
    assert message.sequence is None


def test_folded_headers() -> None:
    mime = (
        "From: =?utf-8?B?Qm9i?=\r\n <bob@example.com>\r\n"
        "from: ignored@example.com\r\n"
        "\tcontinuation of the ignored repeat\r\n"
        "X-OIM-Sequence-Num:\r\n 7\r\n"
        "\r\nbody"
    )
    message = parse_oim_message("m", mime)
    assert (message.sender, message.sender_name, message.sequence, message.text) == (
        "bob@example.com",
        "Bob",
        7,
        "body",
    )


@pytest.mark.parametrize("charset", ["punycode", "\x00TF-8", "no-such-charset"])
def test_a_body_in_an_unknown_or_costly_charset_is_read_as_utf8(charset: str) -> None:
    # punycode decoding is quadratic (a 40 KB body blocked the loop for seconds); a NUL in the
    # name made codecs raise ValueError: only the known charsets are used, else UTF-8
    body = "é" + "a-" * 20000
    mime = (
        "From: bob@example.com\r\nTo: me@example.com\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset={charset}\r\n"
        "Content-Transfer-Encoding: base64\r\nX-OIM-Run-Id: {A}\r\nX-OIM-Sequence-Num: 1\r\n\r\n"
        + base64.b64encode(body.encode("utf-8")).decode("ascii")
    )
    assert parse_oim_message("m", mime).text == body
