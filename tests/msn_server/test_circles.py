"""MSNP18 circles: address-book entries, the circle ticket, joining, SDG messages, PUT."""

from __future__ import annotations

from xml.etree import ElementTree as ET
import base64
import html

import aiohttp
import pytest

from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import GUID_A, GUID_B, sign_in
from tests.msn_server.rawclient import (
    RawClient,
    ab_envelope,
    find_all,
    find_text,
    rst_tokens,
    soap_post,
)

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
AB = "http://www.msn.com/webservices/AddressBook"
GUID_BOB = "{b0b0b0b0-0000-4000-8000-000000000000}"


async def find_contacts_paged(server: MSNServer, email: str, password: str,
                              ab_id: str | None = None) -> ET.Element:  # fmt: skip
    async with aiohttp.ClientSession() as http:
        token = (await rst_tokens(http, server.http_base, email, password)).tokens[
            "contacts.msn.com"]  # fmt: skip
        handle = (
            f"<abHandle><ABId>{ab_id}</ABId><Puid>0</Puid><Cid>0</Cid></abHandle>" if ab_id else ""
        )
        body = ("<filterOptions><DeltasOnly>false</DeltasOnly><LastChanged>0001-01-01T00:00:00"
                "</LastChanged><ContactFilter><IncludeHiddenContacts>true</IncludeHiddenContacts>"
                "</ContactFilter></filterOptions><abView>MessengerClient8</abView>"
                f"<extendedContent>AB AllGroups CircleResult</extendedContent>{handle}")  # fmt: skip
        status, root = await soap_post(
            http, f"{server.http_base}/abservice/abservice.asmx", f"{AB}/ABFindContactsPaged",
            ab_envelope(token, "ABFindContactsPaged", body),
        )  # fmt: skip
        assert status == 200, ET.tostring(root)[:400]
        return root


async def join(client: RawClient, ticket: str, circle_guid: str) -> None:
    t = await client.cmd("USR", "SHA", "A", base64.b64encode(ticket.encode()).decode())
    reply = await client.expect(f"USR {t}")
    assert reply.tokens[2:] == ["OK", reply.tokens[3], "0", "0"]
    ml = f'<ml><d n="live.com"><c n="{circle_guid}" t="9" l="1" /></d></ml>'.encode()
    t = await client.cmd("ADL", payload=ml)
    assert (await client.expect(f"ADL {t}")).line == f"ADL {t} OK"


def sdg(circle_guid: str, sender: str, guid: str, text: str) -> bytes:
    body = text.encode()
    return (
        f"Routing: 1.0\r\nTo: 9:{circle_guid}@live.com;path=IM\r\nFrom: 1:{sender};epid={guid}"
        "\r\n\r\nReliability: 1.0\r\n\r\nMessaging: 2.0\r\nContent-Length: "
        f"{len(body)}\r\nContent-Type: Text/plain; charset=UTF-8\r\nMessage-Type: Text\r\n\r\n"
    ).encode() + body


async def test_circle_in_the_address_book_and_a_conversation() -> None:
    async with running_server() as server:
        circle = server.add_circle("Book club", ALICE, [BOB, CAROL])
        root = await find_contacts_paged(server, ALICE, "alice123")
        entries = [c for c in find_all(root, "Contact") if find_text(c, "contactType") == "Circle"]
        assert [find_text(c, "contactId") for c in entries] == [circle.guid]
        assert find_text(entries[0], "RelationshipType") == "5"
        assert find_text(entries[0], "RelationshipState") == "3"
        info = find_all(root, "CircleInverseInfo")
        assert find_text(info[0], "DisplayName") == "Book club"
        assert find_text(info[0], "Role") == "Admin"
        alice_ticket = html.unescape(find_text(root, "CircleTicket") or "")
        assert alice_ticket.startswith("<?xml")
        members = await find_contacts_paged(server, BOB, "bob123", circle.guid)
        assert {find_text(c, "passportName") for c in find_all(members, "Contact")} == {
            ALICE, BOB, CAROL}  # fmt: skip
        bob_ticket = html.unescape(find_text(await find_contacts_paged(server, BOB, "bob123"),
                                             "CircleTicket") or "")  # fmt: skip

        alice = await sign_in(server, ALICE, 18, guid=GUID_A)
        bob = await sign_in(server, BOB, 18, guid=GUID_BOB)
        async with alice, bob:
            await join(alice, alice_ticket, circle.guid)
            notice = await alice.expect("NOT")
            assert notice.payload is not None and circle.guid.encode() in notice.payload
            roster = await alice.expect("NFY")
            assert roster.line.startswith("NFY PUT ") and roster.payload is not None
            assert f"From: 9:{circle.guid}@live.com".encode() in roster.payload
            assert b"<roster><id>IM</id><user><id>1:alice@example.com</id></user></roster>" \
                in roster.payload  # fmt: skip
            await join(bob, bob_ticket, circle.guid)
            via = f"via=9:{circle.guid}@live.com"
            seen = await alice.expect(f"NLN NLN 1:{BOB};{via}")
            assert seen.tokens[3:] == ["Bob", "2788999228:48"]
            roster = await alice.expect("NFY")
            assert roster.payload is not None and b"<id>1:bob@example.com</id>" in roster.payload
            assert (await bob.expect(f"NLN NLN 1:{ALICE};{via}")).name == "NLN"

            message = sdg(circle.guid, ALICE, GUID_A, "hello circle")
            await alice.cmd("SDG", payload=message)
            relayed = await bob.expect("SDG")
            assert relayed.tokens[1] == "0" and relayed.payload == message
            assert server.circle_messages == [(circle.id, ALICE, message)]
            reply = sdg(circle.guid, BOB, GUID_BOB, "hi alice")
            await bob.cmd("SDG", payload=reply)
            assert (await alice.expect("SDG")).payload == reply

            t = await bob.cmd("SDG", payload=sdg(circle.guid, ALICE, GUID_A, "forged"))
            assert (await bob.read()).line == f"201 {t}"

            props = (b"Routing: 1.0\r\nTo: 9:" + circle.guid.encode() + b"@live.com\r\nFrom: 1:"
                     b"alice@example.com\r\n\r\nReliability: 1.0\r\n\r\nPublication: 1.0\r\n"
                     b"Uri: /circle\r\nContent-Type: application/circles+xml\r\n\r\n"
                     b"<circle><props><presence dtype=\"xml\"><Data><PSM>Chapter 3</PSM>"
                     b"</Data></presence></props></circle>")  # fmt: skip
            t = await alice.cmd("PUT", payload=props)
            assert (await alice.expect(f"PUT {t}")).line == f"PUT {t} OK 0"
            full = await bob.expect("NFY")
            assert full.payload is not None and b"<PSM>Chapter 3</PSM>" in full.payload
            assert b"NotifType: Full" in full.payload

            await bob.write(b"OUT\r\n")
            gone = await alice.expect(f"FLN 1:{BOB};{via}")
            assert gone.line.endswith(" 0:0")


async def test_the_own_other_endpoint_gets_the_circle_messages() -> None:
    async with running_server() as server:
        circle = server.add_circle("Family", ALICE, [BOB])
        ticket = html.unescape(find_text(await find_contacts_paged(server, ALICE, "alice123"),
                                         "CircleTicket") or "")  # fmt: skip
        home = await sign_in(server, ALICE, 18, guid=GUID_A)
        bridge = await sign_in(server, ALICE, 18, guid=GUID_B)
        async with home, bridge:
            await join(home, ticket, circle.guid)
            await join(bridge, ticket, circle.guid)
            message = sdg(circle.guid, ALICE, GUID_A, "from my phone")
            await home.cmd("SDG", payload=message)
            assert (await bridge.expect("SDG")).payload == message


async def test_circle_ticket_and_membership_are_checked() -> None:
    async with running_server() as server:
        circle = server.add_circle("Secret", ALICE, [])
        bob_ticket = html.unescape(find_text(await find_contacts_paged(server, BOB, "bob123"),
                                             "CircleTicket") or "")  # fmt: skip
        alice_ticket = html.unescape(find_text(await find_contacts_paged(server, ALICE,
                                                                         "alice123"),
                                               "CircleTicket") or "")  # fmt: skip
        bob = await sign_in(server, BOB, 18, guid=GUID_BOB)
        async with bob:
            ml = f'<ml><d n="live.com"><c n="{circle.guid}" t="9" l="1" /></d></ml>'.encode()
            t = await bob.cmd("ADL", payload=ml)
            assert (await bob.expect(f"{933} {t}")).line == f"933 {t}"  # no ticket yet
            t = await bob.cmd("USR", "SHA", "A", base64.b64encode(alice_ticket.encode()).decode())
            assert (await bob.expect(f"911 {t}")).line == f"911 {t}"  # someone else's
            t = await bob.cmd("USR", "SHA", "A", base64.b64encode(bob_ticket.encode()).decode())
            assert (await bob.expect(f"USR {t}")).line == f"USR {t} OK {BOB} 0 0"
            t = await bob.cmd("ADL", payload=ml)
            assert (await bob.expect(f"933 {t}")).line == f"933 {t}"  # not a member
            t = await bob.cmd("SDG", payload=sdg(circle.guid, BOB, GUID_BOB, "let me in"))
            assert (await bob.read()).line == f"201 {t}"
