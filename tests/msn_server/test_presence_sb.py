"""The MSN test server: presence fan-out, switchboards, Escargot quirks and fault hooks."""

from __future__ import annotations

import asyncio

import pytest

from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient, login_md5, login_twn

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))
PASSWORDS = {ALICE: "alice123", BOB: "bob123", CAROL: "carol123", DAVE: "dave123"}
TEXT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nhello"


async def online(server: MSNServer, email: str, version: int = 12, caps: str = "0") -> RawClient:
    """Log in and send the initial CHG NLN; ILN lines stay unread."""
    if version < 8:
        client = await login_md5(server.ns_address, email, PASSWORDS[email], version)
        trid = await client.cmd("CHG", "NLN")
    else:
        client = await login_twn(
            server.ns_address, server.passport_url, email, PASSWORDS[email], version
        )
        trid = await client.cmd("CHG", "NLN", caps)
    assert (await client.expect("CHG")).tokens[1] == str(trid)
    return client


async def open_sb(server: MSNServer, ns: RawClient, email: str) -> tuple[RawClient, str]:
    """XFR SB + USR; returns the SB client and nothing else read."""
    t = await ns.cmd("XFR", "SB")
    xfr = await ns.expect("XFR")
    assert xfr.tokens[:3] == ["XFR", str(t), "SB"] and xfr.tokens[4] == "CKI"
    assert xfr.tokens[3] == server.sb_address
    sb = await RawClient.connect(xfr.tokens[3])
    t = await sb.cmd("USR", email, xfr.tokens[5])
    assert (await sb.read()).tokens[:3] == ["USR", str(t), "OK"]
    return sb, xfr.tokens[5]


async def invite(inviter_sb: RawClient, invitee_ns: RawClient, email: str) -> RawClient:
    t = await inviter_sb.cmd("CAL", email)
    cal = await inviter_sb.read()
    assert cal.tokens[:3] == ["CAL", str(t), "RINGING"]
    rng = await invitee_ns.expect("RNG")
    session_id, address, _, cookie = rng.tokens[1:5]
    assert session_id == cal.tokens[3]
    sb = await RawClient.connect(address)
    await sb.cmd("ANS", email, cookie, session_id)
    return sb


async def test_presence_fan_out_between_versions() -> None:
    async with running_server() as server:
        bob = await online(server, BOB, 12, "1342177280")
        alice = await online(server, ALICE, 7)
        async with bob, alice:
            assert (await alice.expect("ILN")).line == f"ILN 6 NLN {BOB} Bob"
            assert (await bob.expect("NLN")).line == f"NLN NLN {ALICE} Alice 0"
            await alice.cmd("CHG", "AWY")
            assert (await bob.expect("NLN")).line == f"NLN AWY {ALICE} Alice 0"
            await alice.cmd("CHG", "HDN")
            assert (await bob.expect("FLN")).line == f"FLN {ALICE}"
            assert server.online(ALICE) == "HDN"
            await alice.cmd("CHG", "NLN")
            assert (await bob.expect("NLN")).line == f"NLN NLN {ALICE} Alice 0"
            t = await alice.cmd("REA", ALICE, "Alice%20B.")
            assert (await alice.expect("REA")).line.startswith(f"REA {t} ")
            assert (await bob.expect("NLN")).line == f"NLN NLN {ALICE} Alice%20B. 0"
            await bob.cmd(
                "UUX", payload=b"<Data><PSM>hi</PSM><CurrentMedia></CurrentMedia></Data>"
            )
            assert (await bob.expect("UUX")).line.endswith(" 0")
            await alice.write(b"OUT\r\n")
            assert (await bob.expect("FLN")).line == f"FLN {ALICE}"
            carol = await online(server, CAROL, 11)
            async with carol:
                ubx = await carol.expect("UBX")
                assert ubx.line.startswith(f"UBX {BOB} ") and ubx.payload is not None
                assert b"<PSM>hi</PSM>" in ubx.payload
                await server.drop(CAROL)
                assert (await bob.expect("FLN")).line == f"FLN {CAROL}"


async def test_blocked_contact_sees_nothing() -> None:
    async with running_server() as server:
        server.add_contact(ALICE, DAVE, 4)  # dave on alice's BL
        server.add_contact(DAVE, ALICE, 1)  # dave watches alice
        dave = await online(server, DAVE, 9)
        alice = await online(server, ALICE, 9)
        async with dave, alice:
            await alice.cmd("CHG", "BSY", "0")
            await alice.expect("CHG")
            await dave.nothing(0.2)
            sb, _ = await open_sb(server, dave, DAVE)
            async with sb:
                t = await sb.cmd("CAL", ALICE)
                assert (await sb.read()).line == f"217 {t}"


async def test_switchboard_exchange_with_ack() -> None:
    async with running_server() as server:
        alice = await online(server, ALICE, 12, "1073741824")
        bob = await online(server, BOB, 8)
        async with alice, bob:
            sb_a, _ = await open_sb(server, alice, ALICE)
            sb_b = await invite(sb_a, bob, BOB)
            async with sb_a, sb_b:
                iro = await sb_b.read()
                assert iro.line == f"IRO 1 1 1 {ALICE} Alice"  # bob is MSNP8: no caps
                assert (await sb_b.read()).line == "ANS 1 OK"
                assert (await sb_a.read()).line == f"JOI {BOB} Bob 0"  # alice is MSNP12
                t = await sb_a.cmd("MSG", "A", payload=TEXT)
                msg = await sb_b.read()
                assert msg.line == f"MSG {ALICE} Alice {len(TEXT)}" and msg.payload == TEXT
                assert (await sb_a.read()).line == f"ACK {t}"
                await sb_b.cmd("MSG", "U", payload=TEXT)
                assert (await sb_a.read()).payload == TEXT
                await sb_a.nothing(0.1)
                await sb_b.nothing(0.1)
                (session,) = server.sb_sessions.values()
                assert set(session.participants) == {ALICE, BOB}
                delivered = server.messages_in(session.id)
                assert [(m.sender, m.recipients, m.ack_mode) for m in delivered] == [
                    (ALICE, (BOB,), "A"),
                    (BOB, (ALICE,), "U"),
                ]
                assert delivered[0].body == b"hello"
                assert delivered[0].content_type == "text/plain; charset=UTF-8"
                t = await sb_a.cmd("CAL", BOB)
                assert (await sb_a.read()).line == f"215 {t}"
                t = await sb_a.cmd("CAL", DAVE)
                assert (await sb_a.read()).line == f"217 {t}"
                t = await sb_a.cmd("CAL", "nobody@example.com")
                assert (await sb_a.read()).line == f"217 {t}"
                await sb_b.write(b"OUT\r\n")
                assert (await sb_a.read()).line == f"BYE {BOB}"
                t = await sb_a.cmd("MSG", "A", payload=TEXT)  # nobody left to receive it
                assert (await sb_a.read()).line == f"NAK {t}"
                t = await sb_a.cmd("MSG", "N", payload=TEXT)
                assert (await sb_a.read()).line == f"NAK {t}"


async def test_oversized_message_closes_sender() -> None:
    async with running_server() as server:
        alice = await online(server, ALICE)
        bob = await online(server, BOB)
        async with alice, bob:
            sb_a, _ = await open_sb(server, alice, ALICE)
            sb_b = await invite(sb_a, bob, BOB)
            async with sb_a, sb_b:
                await sb_b.expect("ANS")
                await sb_a.expect("JOI")
                body = TEXT + b"x" * (1664 - len(TEXT))
                t = await sb_a.cmd("MSG", "A", payload=body)  # exactly 1664: fine
                assert (await sb_b.read()).payload == body
                assert (await sb_a.read()).line == f"ACK {t}"
                await sb_a.cmd("MSG", "A", payload=body + b"x")
                assert await sb_a.expect_closed() == []
                assert (await sb_b.read()).line == f"BYE {ALICE}"


async def test_nak_hook_and_idle_timeout() -> None:
    async with running_server(sb_idle_timeout=0.4) as server:
        alice = await online(server, ALICE)
        bob = await online(server, BOB)
        async with alice, bob:
            sb_a, _ = await open_sb(server, alice, ALICE)
            sb_b = await invite(sb_a, bob, BOB)
            async with sb_a, sb_b:
                await sb_b.expect("ANS")
                await sb_a.expect("JOI")
                server.nak_messages_from(ALICE)
                t = await sb_a.cmd("MSG", "A", payload=TEXT)
                assert (await sb_a.read()).line == f"NAK {t}"
                await sb_b.nothing(0.1)
                assert not server.messages[-1].delivered
                assert [r.line for r in await sb_a.expect_closed(2)] == [f"BYE {BOB} 1"]
                assert [r.line for r in await sb_b.expect_closed(2)] == [f"BYE {ALICE} 1"]
                assert server.sb_sessions == {}


async def test_escargot_quirks() -> None:
    async with running_server(escargot_mode=True) as server:
        alice = await login_twn(server.ns_address, server.passport_url, ALICE, "alice123", 12)
        async with alice:
            t = await alice.cmd("XFR", "SB")
            assert (await alice.read()).line == f"913 {t}"  # before the first CHG
            await alice.cmd("CHG", "NLN")  # no capabilities: no reply at all
            await alice.nothing(0.2)
            assert server.online(ALICE) == ""
            t = await alice.cmd("CHG", "NLN", "0")
            assert (await alice.read()).line == f"CHG {t} NLN 0"
            t = await alice.cmd("ADC", "FL", f"N={BOB}", "F=Bob")  # already there: no 215
            assert (await alice.read()).line.startswith(f"ADC {t} FL N={BOB} F=Bob C=")
            t = await alice.cmd("QRY", "PROD0090YUAUV{2B", payload=b"0" * 32)
            await alice.nothing(0.2)  # QRY without a challenge is ignored
            sb, _ = await open_sb(server, alice, ALICE)
            async with sb:
                t = await sb.cmd("MSG", "A", payload=TEXT)  # alone, still ACK
                assert (await sb.read()).line == f"ACK {t}"


async def test_xfr_sb_while_hidden_is_913() -> None:
    async with running_server() as server:
        alice = await login_twn(server.ns_address, server.passport_url, ALICE, "alice123", 9)
        async with alice:
            t = await alice.cmd("CHG", "HDN", "0")
            await alice.expect("CHG")
            t = await alice.cmd("XFR", "SB")
            assert (await alice.read()).line == f"913 {t}"


async def test_fault_hooks() -> None:
    async with running_server() as server:
        alice = await online(server, ALICE, 9)
        async with alice:
            await server.send_raw(ALICE, b"\xff\xfe garbage\r\n")
            assert (await alice.read()).line.startswith("\ufffd")
            server.stall(ALICE, 0.4)
            await alice.write(b"PNG\r\n")
            await alice.nothing(0.25)
            assert (await alice.read(1)).line == "QNG 50"
            await server.kick_other_location(ALICE)
            assert [r.line for r in await alice.expect_closed()] == ["OUT OTH"]
        bob = await online(server, BOB, 12)
        async with bob:
            await server.shutdown_notice()
            assert [r.line for r in await bob.expect_closed()] == ["OUT SSD"]
        await asyncio.sleep(0.05)
        assert server.online(BOB) is None
        assert server.counters["ns_connections"] == 2
