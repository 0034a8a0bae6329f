"""Offline messages (MSNP13+): the store, the NS notices, retrieval, deletion, sending."""

from __future__ import annotations

from xml.etree import ElementTree as ET
import base64
import email
import email.utils
import re
import time

import aiohttp
import pytest

from tests.msn_server import MSNServer
from tests.msn_server.challenge import msnp11_answer
from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import sign_in
from tests.msn_server.rawclient import find_all, find_text, rst_tokens, soap_post

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
RSI = "http://www.hotmail.msn.com/ws/2004/09/oim/rsi"
OIM = "http://messenger.live.com/ws/2006/09/oim/"
PRODUCT_ID, PRODUCT_KEY = "PROD0119GSJUC$18", "ILTXC!4IXB5FB*PX"
RUN_ID = "{3A4B5C6D-1111-4222-8333-944455566677}"


def rsi_envelope(token: str, body: str) -> bytes:
    t, _, p = token[2:].partition("&p=")
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
        f'<PassportCookie xmlns="{RSI}"><t>{t}</t><p>{p}</p></PassportCookie></soap:Header>'
        f"<soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def store_envelope(
    sender: str,
    recipient: str,
    token: str,
    lockkey: str,
    seq: int,
    text: str,
    *,
    run_id: str = RUN_ID,
) -> bytes:
    name = "=?utf-8?B?" + base64.b64encode("Bob ✓".encode()).decode() + "?="
    body = base64.b64encode(text.encode()).decode()
    content = (
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: base64\r\nX-OIM-Message-Type: OfflineMessage\r\n"
        f"X-OIM-Run-Id: {run_id}\r\nX-OIM-Sequence-Num: {seq}\r\n\r\n{body}"
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
        f'<From memberName="{sender}" friendlyName="{name}" xml:lang="en-US" proxy="MSNMSGR" '
        f'xmlns="http://messenger.msn.com/ws/2004/09/oim/" msnpVer="MSNP15" buildVer="8.5"/>'
        f'<To memberName="{recipient}" xmlns="http://messenger.msn.com/ws/2004/09/oim/"/>'
        f'<Ticket passport="{token.replace("&", "&amp;")}" appid="{PRODUCT_ID}" '
        f'lockkey="{lockkey}" xmlns="http://messenger.msn.com/ws/2004/09/oim/"/>'
        '<Sequence xmlns="http://schemas.xmlsoap.org/ws/2003/03/rm"><Identifier '
        'xmlns="http://schemas.xmlsoap.org/ws/2002/07/utility">http://messenger.msn.com'
        f"</Identifier><MessageNumber>{seq}</MessageNumber></Sequence></soap:Header><soap:Body>"
        '<MessageType xmlns="http://messenger.msn.com/ws/2004/09/oim/">text</MessageType>'
        f'<Content xmlns="http://messenger.msn.com/ws/2004/09/oim/">{content}</Content>'
        "</soap:Body></soap:Envelope>"
    ).encode()


async def rsi(server: MSNServer, http: aiohttp.ClientSession, token: str, action: str,
              body: str) -> tuple[int, ET.Element]:  # fmt: skip
    return await soap_post(http, f"{server.http_base}/rsi/rsi.asmx", f"{RSI}/{action}",
                           rsi_envelope(token, body))  # fmt: skip


def mail_data(payload: bytes) -> ET.Element:
    match = re.search(rb"Mail-Data: (<MD>.*</MD>)", payload)
    assert match is not None, payload
    return ET.fromstring(match.group(1))


async def test_offline_messages_waiting_at_login_in_order_with_their_times() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        sent = time.time() - 3600
        first = server.store_oim(BOB, ALICE, "are you there?", received=sent)
        second = server.store_oim(CAROL, ALICE, "call me ✆", received=sent + 60)
        alice = await sign_in(server, ALICE, 15)
        async with alice:
            mail = await alice.expect("MSG")
            assert mail.payload is not None
            assert b"Content-Type: text/x-msmsgsinitialmdatanotification" in mail.payload
            md = mail_data(mail.payload)
            items = find_all(md, "M")
            assert [find_text(m, "I") for m in items] == [first.id, second.id]
            assert [find_text(m, "E") for m in items] == [BOB, CAROL]
            rt = find_text(items[0], "RT")
            assert rt is not None and rt.startswith(
                time.strftime("%Y-%m-%dT%H:%M", time.gmtime(sent))
            )
            token = (await rst_tokens(http, server.http_base, ALICE, "alice123")).tokens[
                "messenger.msn.com"]  # fmt: skip
            status, root = await rsi(server, http, token, "GetMetadata",
                                     f'<GetMetadata xmlns="{RSI}" />')  # fmt: skip
            assert status == 200
            assert [find_text(m, "I") for m in find_all(root, "M")] == [first.id, second.id]
            status, root = await rsi(server, http, token, "GetMessage",
                                     f'<GetMessage xmlns="{RSI}"><messageId>{second.id}'
                                     "</messageId><alsoMarkAsRead>false</alsoMarkAsRead>"
                                     "</GetMessage>")  # fmt: skip
            assert status == 200
            raw = find_text(root, "GetMessageResult")
            assert raw is not None
            message = email.message_from_string(raw)
            assert message.get_payload(decode=True).decode() == "call me ✆"  # type: ignore[union-attr]
            when = email.utils.parsedate_to_datetime(message["Date"]).timestamp()
            assert abs(when - (sent + 60)) < 1
            assert message["X-OIM-Run-Id"] == second.run_id
            assert CAROL in message["From"]
            status, root = await rsi(server, http, token, "DeleteMessages",
                                     f'<DeleteMessages xmlns="{RSI}"><messageIds><messageId>'
                                     f"{first.id}</messageId><messageId>{second.id}</messageId>"
                                     "</messageIds></DeleteMessages>")  # fmt: skip
            assert status == 200 and server.oims[ALICE] == []
            notice = await alice.expect("MSG")
            assert notice.payload is not None
            assert b"text/x-msmsgsactivemailnotification" in notice.payload
            assert b"Message-Delta: 2" in notice.payload
            status, root = await rsi(server, http, token, "DeleteMessages",
                                     f'<DeleteMessages xmlns="{RSI}"><messageIds><messageId>'
                                     f"{first.id}</messageId></messageIds></DeleteMessages>")  # fmt: skip
            assert status == 500


async def test_rsi_wants_a_messenger_ticket() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        tokens = await rst_tokens(http, server.http_base, ALICE, "alice123")
        status, root = await rsi(server, http, tokens.tokens["contacts.msn.com"], "GetMetadata",
                                 f'<GetMetadata xmlns="{RSI}" />')  # fmt: skip
        assert status == 500 and "AuthenticationFailed" in (find_text(root, "faultcode") or "")


async def test_send_with_the_lock_key_challenge_then_the_recipient_is_told() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        token = (await rst_tokens(http, server.http_base, BOB, "bob123")).tokens[
            "messengerclear.live.com"]  # fmt: skip
        url, action = f"{server.http_base}/OimWS/oim.asmx", f"{OIM}Store2"
        status, root = await soap_post(http, url, action,
                                       store_envelope(BOB, ALICE, token, "", 1, "first"))  # fmt: skip
        assert status == 500
        assert (find_text(root, "faultcode") or "").endswith("AuthenticationFailed")
        challenge = find_text(root, "LockKeyChallenge")
        assert challenge and challenge.isdigit()
        status, root = await soap_post(http, url, action,
                                       store_envelope(BOB, ALICE, token, "0" * 32, 1, "first"))  # fmt: skip
        assert status == 500 and find_text(root, "LockKeyChallenge")  # a wrong key: asked again
        challenge = find_text(root, "LockKeyChallenge")
        assert challenge is not None
        lockkey = msnp11_answer(challenge, PRODUCT_ID, PRODUCT_KEY)
        status, root = await soap_post(http, url, action,
                                       store_envelope(BOB, ALICE, token, lockkey, 1, "first"))  # fmt: skip
        assert status == 200, ET.tostring(root)
        assert find_all(root, "AcknowledgmentRange")[0].get("Upper") == "1"
        alice = await sign_in(server, ALICE, 18)
        async with alice:
            await alice.expect("MSG")  # the initial mail data (one message)
            status, _ = await soap_post(http, url, action,
                                        store_envelope(BOB, ALICE, token, lockkey, 2, "second"))  # fmt: skip
            assert status == 200  # the lock key stays good
            notice = await alice.expect("MSG")
            assert notice.payload is not None
            assert b"text/x-msmsgsoimnotification" in notice.payload
            new = find_all(mail_data(notice.payload), "M")
            assert len(new) == 1 and find_text(new[0], "E") == BOB
        stored = server.oims[ALICE]
        assert [(m.text, m.seq, m.run_id) for m in stored] == [("first", 1, RUN_ID),
                                                                ("second", 2, RUN_ID)]  # fmt: skip
        assert stored[0].sender_name == "Bob ✓"


@pytest.mark.parametrize(
    ("change", "fault"),
    [
        ({"run_id": "not-a-guid"}, "InvalidContent"),
        ({"recipient": "nobody@example.com"}, "SystemUnavailable"),
        ({"token": "t=forged&p="}, "AuthenticationFailed"),
    ],
)
async def test_store_refusals(change: dict[str, str], fault: str) -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        token = (await rst_tokens(http, server.http_base, BOB, "bob123")).tokens[
            "messengerclear.live.com"]  # fmt: skip
        url, action = f"{server.http_base}/OimWS/oim.asmx", f"{OIM}Store2"
        _, root = await soap_post(http, url, action, store_envelope(BOB, ALICE, token, "", 1, "x"))
        challenge = find_text(root, "LockKeyChallenge") or ""
        lockkey = msnp11_answer(challenge, PRODUCT_ID, PRODUCT_KEY)
        envelope = store_envelope(
            BOB,
            change.get("recipient", ALICE),
            change.get("token", token),
            lockkey,
            1,
            "x",
            run_id=change.get("run_id", RUN_ID),
        )
        status, root = await soap_post(http, url, action, envelope)
        assert status == 500 and (find_text(root, "faultcode") or "").endswith(fault)
        assert ALICE not in server.oims


async def test_uum_to_an_offline_contact_is_stored_at_msnp18() -> None:
    async with running_server() as server:
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with bob:
            body = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n" \
                   b"Dest-Agent: client\r\n\r\nsee you"  # fmt: skip
            await bob.cmd("UUM", ALICE, 1, 1, payload=body)
            t = await bob.cmd("PNG")
            await bob.expect("QNG")
            assert t
            assert [m.text for m in server.oims[ALICE]] == ["see you"]
