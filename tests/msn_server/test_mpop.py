"""Multiple points of presence (MSNP16+): several endpoints of one account, and the SB."""

from __future__ import annotations

import pytest

from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import GUID_A, GUID_B, sign_in
from tests.msn_server.rawclient import RawClient

pytestmark = pytest.mark.timeout(30)

ALICE, BOB = "alice@example.com", "bob@example.com"
GUID_BOB = "{b0b0b0b0-0000-4000-8000-000000000000}"
TEXT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"


async def test_two_endpoints_stay_signed_in_and_see_each_other() -> None:
    async with running_server() as server:
        first = await sign_in(server, ALICE, 18, guid=GUID_A)
        async with first:
            await first.cmd("UUX", payload=b"<PrivateEndpointData><EpName>Home PC</EpName>"
                            b"</PrivateEndpointData>")  # fmt: skip
            await first.expect("UUX")
            second = await sign_in(server, ALICE, 18, guid=GUID_B)
            async with second:
                assert len(server.endpoints[ALICE]) == 2
                # the first one is told about the second, with both endpoints listed
                while True:
                    ubx = await first.expect("UBX 1:alice@example.com")
                    assert ubx.payload is not None
                    if GUID_B.encode() in ubx.payload:
                        break
                assert ubx.payload.count(b"<EndpointData id=") == 2
                assert b'<PrivateEndpointData id="' + GUID_A.encode() + b'"><EpName>Home PC' \
                    in ubx.payload  # fmt: skip
                t = await first.cmd("PNG")
                assert (await first.expect("QNG")).name == "QNG" and t
                assert server.online(ALICE) == "NLN"
            # one endpoint leaves: the account stays online, no FLN for it
            assert server.online(ALICE) == "NLN"


async def test_below_msnp16_a_second_login_signs_the_first_out() -> None:
    async with running_server() as server:
        first = await sign_in(server, ALICE, 15)
        async with first:
            second = await sign_in(server, ALICE, 15)
            async with second:
                assert (await first.expect("OUT")).line == "OUT OTH"
        first = await sign_in(server, ALICE, 18, guid=GUID_A)
        async with first:
            second = await sign_in(server, ALICE, 15)  # an old client signs everyone out
            async with second:
                assert (await first.expect("OUT")).line == "OUT OTH"


@pytest.mark.parametrize("escargot", [False, True])
async def test_same_machine_guid_replaces_that_endpoint(escargot: bool) -> None:
    async with running_server(escargot_mode=escargot) as server:
        home = await sign_in(server, ALICE, 18, guid=GUID_A)
        work = await sign_in(server, ALICE, 18, guid=GUID_B)
        async with home, work:
            again = await sign_in(server, ALICE, 18, guid=GUID_A)
            async with again:
                assert (await home.expect("OUT")).line == "OUT OTH"
                if escargot:  # Escargot signs every endpoint out then
                    assert (await work.expect("OUT")).line == "OUT OTH"
                else:
                    await work.expect("UBX 1:alice@example.com")  # still there
                    assert {c.machine_guid for c in server.endpoints[ALICE]} == {
                        GUID_A.lower(), GUID_B.lower()}  # fmt: skip


async def _sb_as(server_address: str, ns: RawClient, handle: str) -> RawClient:
    t = await ns.cmd("XFR", "SB")
    xfr = await ns.expect(f"XFR {t}")
    sb = await RawClient.connect(xfr.tokens[3])
    t = await sb.cmd("USR", handle, xfr.tokens[5])
    assert (await sb.read()).tokens[:4] == ["USR", str(t), "OK", handle]
    return sb


async def _answer(ns: RawClient, handle: str) -> tuple[RawClient, list[str]]:
    rng = await ns.expect("RNG")
    session_id, address, _, cookie = rng.tokens[1:5]
    sb = await RawClient.connect(address)
    t = await sb.cmd("ANS", handle, cookie, session_id)
    lines = []
    while True:
        reply = await sb.read()
        lines.append(reply.line)
        if reply.line == f"ANS {t} OK":
            return sb, lines


async def test_messages_to_an_account_reach_all_its_endpoints() -> None:
    async with running_server() as server:
        home = await sign_in(server, ALICE, 18, guid=GUID_A)
        work = await sign_in(server, ALICE, 16, guid=GUID_B)
        bob = await sign_in(server, BOB, 18, guid=GUID_BOB)
        async with home, work, bob:
            bob_sb = await _sb_as(server.sb_address, bob, f"{BOB};{GUID_BOB}")
            async with bob_sb:
                t = await bob_sb.cmd("CAL", ALICE)
                assert (await bob_sb.read()).line.startswith(f"CAL {t} RINGING ")
                home_sb, home_roster = await _answer(home, f"{ALICE};{GUID_A}")
                caps = "1342177280:0"  # bob's CHG caps as MSNP16+ shows them
                assert (
                    home_roster[:2]
                    == [
                        f"IRO 1 1 2 {BOB};{GUID_BOB} Bob 2788999228:48",
                        f"IRO 1 2 2 {BOB} Bob 2788999228:48",
                    ]
                    and caps
                )
                assert (await bob_sb.read()).line == f"JOI {ALICE};{GUID_A} Alice 2788999228:48"
                assert (await bob_sb.read()).line == f"JOI {ALICE} Alice 2788999228:48"
                work_sb, _ = await _answer(work, f"{ALICE};{GUID_B}")
                assert (await bob_sb.read()).line == f"JOI {ALICE};{GUID_B} Alice 2788999228:48"
                assert (await home_sb.read()).line == f"JOI {ALICE};{GUID_B} Alice 2788999228:48"
                async with home_sb, work_sb:
                    t = await bob_sb.cmd("MSG", "A", payload=TEXT + b"hello both")
                    assert (await bob_sb.read()).line == f"ACK {t}"
                    for sb in (home_sb, work_sb):
                        msg = await sb.expect("MSG")
                        assert msg.line.startswith(f"MSG {BOB} Bob ")
                        assert msg.payload is not None and msg.payload.endswith(b"hello both")
                    # one endpoint leaves: per-endpoint BYE, the user is still there
                    await work_sb.write(b"OUT\r\n")
                    assert (await bob_sb.read()).line == f"BYE {ALICE};{GUID_B}"
                    assert (await home_sb.read()).line == f"BYE {ALICE};{GUID_B}"
                    await home_sb.write(b"OUT\r\n")
                    assert (await bob_sb.read()).line == f"BYE {ALICE};{GUID_A}"
                    assert (await bob_sb.read()).line == f"BYE {ALICE}"


async def test_own_message_is_seen_by_the_other_endpoint() -> None:
    """The user's client calls its own address; its other endpoint (the bridge) rings, joins
    and then sees what the user writes to the contact, as Escargot relays it."""
    async with running_server() as server:
        client = await sign_in(server, ALICE, 18, guid=GUID_A)
        bridge = await sign_in(server, ALICE, 18, guid=GUID_B)
        bob = await sign_in(server, BOB, 15)
        async with client, bridge, bob:
            sb = await _sb_as(server.sb_address, client, f"{ALICE};{GUID_A}")
            async with sb:
                t = await sb.cmd("CAL", ALICE)
                assert (await sb.read()).line.startswith(f"CAL {t} RINGING ")
                bridge_sb, roster = await _answer(bridge, f"{ALICE};{GUID_B}")
                assert roster[0] == f"IRO 1 1 1 {ALICE};{GUID_A} Alice 2788999228:48"
                assert (await sb.read()).line == f"JOI {ALICE};{GUID_B} Alice 2788999228:48"
                t = await sb.cmd("CAL", BOB)
                await sb.expect(f"CAL {t}")
                bob_sb, bob_roster = await _answer(bob, BOB)
                assert bob_roster[:-1] == [f"IRO 1 1 1 {ALICE} Alice 2788999228"]
                async with bridge_sb, bob_sb:
                    await sb.cmd("MSG", "N", payload=TEXT + b"hi bob")
                    for other in (bob_sb, bridge_sb):
                        msg = await other.expect("MSG")
                        assert msg.line.startswith(f"MSG {ALICE} Alice ")
                        assert msg.payload is not None and msg.payload.endswith(b"hi bob")
                    await bob_sb.cmd("MSG", "N", payload=TEXT + b"hi alice")
                    for mine in (sb, bridge_sb):
                        assert (await mine.expect("MSG")).payload.endswith(b"hi alice")  # type: ignore[union-attr]


async def test_calling_oneself_without_other_endpoints_joins_oneself() -> None:
    async with running_server() as server:
        client = await sign_in(server, ALICE, 18, guid=GUID_A)
        async with client:
            sb = await _sb_as(server.sb_address, client, f"{ALICE};{GUID_A}")
            async with sb:
                t = await sb.cmd("CAL", ALICE)
                assert (await sb.read()).line.startswith(f"CAL {t} RINGING ")
                assert (await sb.read()).line == f"JOI {ALICE} Alice 2788999228:48"


async def test_sb_login_with_another_endpoints_guid_is_refused() -> None:
    async with running_server() as server:
        client = await sign_in(server, ALICE, 18, guid=GUID_A)
        async with client:
            t = await client.cmd("XFR", "SB")
            xfr = await client.expect(f"XFR {t}")
            async with await RawClient.connect(xfr.tokens[3]) as sb:
                await sb.cmd("USR", f"{ALICE};{GUID_B}", xfr.tokens[5])
                assert [r.line for r in await sb.expect_closed()] == ["911 1"]


async def test_status_is_shared_and_the_last_endpoint_signs_the_account_out() -> None:
    async with running_server() as server:
        bob = await sign_in(server, BOB, 18, guid=GUID_BOB)
        home = await sign_in(server, ALICE, 18, guid=GUID_A)
        work = await sign_in(server, ALICE, 18, guid=GUID_B)
        async with bob:
            await work.cmd("CHG", "AWY", "2788999228:48")
            assert (await bob.expect("NLN AWY")).line.startswith("NLN AWY 1:alice@example.com")
            assert server.online(ALICE) == "AWY"
            assert all(e.status == "AWY" for e in server.endpoints[ALICE])
            await work.write(b"OUT\r\n")
            await work.expect_closed()
            ubx = await bob.expect("UBX 1:alice@example.com")  # one endpoint fewer
            assert ubx.payload is not None and ubx.payload.count(b"<EndpointData") == 1
            await home.write(b"OUT\r\n")
            assert (await bob.expect("FLN")).line == "FLN 1:alice@example.com 0:0"
