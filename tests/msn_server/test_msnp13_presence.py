"""MSNP13-18 on the NS: presence formats, ADL/RML/FQY, UUX/UBX, XFR/RNG, friend requests."""

from __future__ import annotations

import pytest

from tests.msn_server import FL, RL
from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import caps_for, sign_in
from tests.msn_server.rawclient import login_twn

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))

BOB_AS_SEEN = {  # what follows the status in ILN/NLN
    13: "bob@example.com Bob 1342177280",
    14: "bob@example.com 1 Bob 1342177280",
    15: "bob@example.com 1 Bob 1342177280",
    16: "bob@example.com 1 Bob 1342177280:0",
    18: "1:bob@example.com Bob 1342177280:0",
}
FLN_BOB = {
    13: "FLN bob@example.com",
    14: "FLN bob@example.com 1 0",
    15: "FLN bob@example.com 1 0",
    16: "FLN bob@example.com 1 0:0",
    18: "FLN 1:bob@example.com 0:0",
}
UBX_BOB = {
    13: "UBX bob@example.com",
    14: "UBX bob@example.com 1",
    15: "UBX bob@example.com 1",
    16: "UBX bob@example.com 1",
    18: "UBX 1:bob@example.com",
}


@pytest.mark.parametrize("version", [13, 14, 15, 16, 18])
async def test_presence_lines_per_version(version: int) -> None:
    async with running_server() as server:
        bob = await login_twn(server.ns_address, server.passport_url, BOB, "bob123", 12)
        async with bob:
            await bob.cmd("UUX", payload=b"<Data><PSM>out &amp; about</PSM><CurrentMedia>"
                          b"</CurrentMedia></Data>")  # fmt: skip
            await bob.expect("UUX")
            t = await bob.cmd("CHG", "NLN", "1342177280")
            await bob.expect(f"CHG {t}")
            alice = await sign_in(server, ALICE, version, status=None)
            async with alice:
                t = await alice.cmd("CHG", "NLN", caps_for(version))
                assert (await alice.read()).line.startswith(f"CHG {t} NLN")
                first = await alice.read()
                if version >= 18:
                    assert first.line == f"NLN NLN {BOB_AS_SEEN[18]}"
                else:
                    assert first.line == f"ILN {t} NLN {BOB_AS_SEEN[version]}"
                ubx = await alice.read()
                assert ubx.line.rsplit(" ", 1)[0] == UBX_BOB[version]
                assert ubx.payload is not None
                assert b"<PSM>out &amp; about</PSM><CurrentMedia></CurrentMedia>" in ubx.payload
                mail = await alice.read()
                assert mail.name == "MSG" and mail.payload is not None
                assert b"text/x-msmsgsinitialmdatanotification" in mail.payload
                await bob.cmd("CHG", "AWY", "1342177280")
                assert (await alice.expect("NLN AWY")).line == f"NLN AWY {BOB_AS_SEEN[version]}"
                await bob.write(b"OUT\r\n")
                assert (await alice.expect("FLN")).line == FLN_BOB[version]


async def test_presence_only_after_the_initial_adl() -> None:
    async with running_server() as server:
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with bob:
            alice = await sign_in(server, ALICE, 18, adl=False, status=None)
            async with alice:
                await alice.cmd("CHG", "BSY", caps_for(18))  # no ADL yet: nothing about bob
                await alice.expect("CHG")
                assert (await alice.read()).name == "MSG"  # the initial mail data
                assert (await alice.read()).line.startswith("NLN BSY 1:alice@example.com ")
                assert (await alice.read()).line.startswith("UBX 1:alice@example.com ")
                await alice.nothing(0.3)
                ml = b'<ml l="1"><d n="example.com"><c n="bob" l="3" t="1" /></d></ml>'
                t = await alice.cmd("ADL", payload=ml)
                assert (await alice.read()).line == f"ADL {t} OK"
                assert (await alice.read()).line.startswith("NLN NLN 1:bob@example.com Bob ")
                assert (await alice.read()).name == "UBX"
                await alice.nothing(0.2)  # carol is on alice's FL but was not named


async def test_escargot_mode_sends_presence_without_adl() -> None:
    async with running_server(escargot_mode=True) as server:
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with bob:
            alice = await sign_in(server, ALICE, 18, adl=False, status=None)
            async with alice:
                await alice.cmd("CHG", "NLN", caps_for(18))
                await alice.expect("CHG")
                assert (await alice.read()).line.startswith("NLN NLN 1:bob@example.com Bob ")


@pytest.mark.parametrize(
    ("payload", "code", "closes"),
    [
        (b"<ml><d n=", 241, True),
        (b'<ml><d n="example.com"></d></ml>', 240, True),
        (b'<ml><d n="example.com"><c n="bob" l="1" t="3" /></d></ml>', 204, True),
        (b'<ml><d n="example.com"><c n="bob" l="8" t="1" /></d></ml>', 241, True),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><ml/>', 241, True),
        (b'<ml><d n="example.com"><c n="nobody" l="1" t="1" /></d></ml>', 208, False),
    ],
)
async def test_adl_errors(payload: bytes, code: int, closes: bool) -> None:
    async with running_server() as server:
        alice = await sign_in(server, ALICE, 18, adl=False, status=None)
        async with alice:
            t = await alice.cmd("ADL", payload=payload)
            if closes:
                assert [r.line for r in await alice.expect_closed()] == [f"{code} {t}"]
            else:
                assert (await alice.read()).line == f"{code} {t}"
                t = await alice.cmd("PNG")
                assert (await alice.read()).name == "QNG"


async def test_adl_adds_to_the_lists_and_rml_removes() -> None:
    async with running_server() as server:
        alice = await sign_in(server, ALICE, 18)
        dave = await sign_in(server, DAVE, 18, guid="{dddddddd-0000-4000-8000-000000000000}")
        async with alice, dave:
            ml = b'<ml><d n="example.com"><c n="alice" l="3" t="1" /></d></ml>'
            t = await dave.cmd("ADL", payload=ml)
            assert (await dave.expect(f"ADL {t}")).line == f"ADL {t} OK"
            assert server.account(DAVE).lists_of(ALICE) == FL | 2
            assert server.account(ALICE).lists_of(DAVE) == RL
            request = server.account(ALICE).entry(DAVE)
            assert request is not None and request.pending  # a friend request
            push = await alice.expect("ADL")
            assert push.tokens[1] == "0" and push.payload is not None
            assert b'<c n="dave" t="1" l="8" f="Dave" />' in push.payload
            assert b'<d n="example.com">' in push.payload
            assert (await alice.read()).name == "NOT"
            # dave sees alice (she allows everyone by default) once subscribed
            assert (await dave.expect("NLN")).line.startswith("NLN NLN 1:alice@example.com Alice")
            t = await dave.cmd("RML", payload=b'<ml><d n="example.com"><c n="alice" l="1" t="1" />'
                               b"</d></ml>")  # fmt: skip
            assert (await dave.expect(f"RML {t}")).line == f"RML {t} OK"
            assert server.account(DAVE).lists_of(ALICE) == 2
            assert server.account(ALICE).entry(DAVE) is None
            removed = await alice.expect("RML")
            assert removed.payload is not None and b'l="8"' in removed.payload


async def test_fqy() -> None:
    async with running_server() as server:
        alice = await sign_in(server, ALICE, 18, adl=False, status=None)
        async with alice:
            t = await alice.cmd("FQY", payload=b'<ml><d n="example.com"><c n="dave" /></d></ml>')
            reply = await alice.read()
            assert reply.line.startswith(f"FQY {t} ")
            assert reply.payload == b'<ml><d n="example.com"><c n="dave" t="1" /></d></ml>'
            t = await alice.cmd("FQY", payload=b'<ml><d n="example.com"><c n="who" /></d></ml>')
            assert (await alice.read()).line == f"208 {t}"
        old = await login_twn(server.ns_address, server.passport_url, BOB, "bob123", 13)
        async with old:
            await old.cmd("FQY", payload=b'<ml><d n="example.com"><c n="dave" /></d></ml>')
            assert await old.expect_closed() == []


async def test_uux_reaches_watchers_per_version_and_the_own_endpoints() -> None:
    async with running_server() as server:
        old = await login_twn(server.ns_address, server.passport_url, BOB, "bob123", 12)
        async with old:
            t = await old.cmd("CHG", "NLN", "0")
            await old.expect(f"CHG {t}")
            carol = await sign_in(server, CAROL, 18, guid="{cccccccc-0000-4000-8000-000000000000}")
            alice = await sign_in(server, ALICE, 18)
            async with carol, alice:
                payload = (b"<Data><PSM>tea &amp; cake</PSM><CurrentMedia>\\0Music\\01\\0{0}"
                           b"\\0Song\\0\\0</CurrentMedia><MachineGuid>" + GUID.encode() +
                           b"</MachineGuid></Data>")  # fmt: skip
                t = await alice.cmd("UUX", payload=payload)
                assert (await alice.expect(f"UUX {t}")).line == f"UUX {t} 0"
                seen = await carol.expect("UBX 1:alice@example.com")
                assert seen.payload is not None
                assert b"<PSM>tea &amp; cake</PSM>" in seen.payload
                assert (
                    b"<CurrentMedia>\\0Music\\01\\0{0}\\0Song\\0\\0</CurrentMedia>" in seen.payload
                )
                assert (
                    b'<EndpointData id="{aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa}">' in seen.payload
                )
                assert b"PrivateEndpointData" not in seen.payload  # only for oneself
                raw = await old.expect("UBX alice@example.com")
                assert raw.payload == payload  # MSNP11-12 get the UUX as sent
                private = (b"<PrivateEndpointData><EpName>Matrix bridge</EpName><Idle>false</Idle>"
                           b"<ClientType>1</ClientType><State>NLN</State></PrivateEndpointData>")  # fmt: skip
                await alice.cmd("UUX", payload=private)
                mine = await alice.expect("UBX 1:alice@example.com")  # after the first UUX
                assert mine.payload is not None and b"<EpName>" not in mine.payload
                mine = await alice.expect("UBX 1:alice@example.com")
                assert mine.payload is not None
                assert (b'<PrivateEndpointData id="{aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa}">'
                        b"<EpName>Matrix bridge</EpName>") in mine.payload  # fmt: skip
                assert server.account(ALICE).psm_text == "tea & cake"  # not cleared


GUID = "{aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa}"


@pytest.mark.parametrize("version", [13, 14, 18])
async def test_xfr_and_rng_carry_the_new_fields(version: int) -> None:
    async with running_server() as server:
        alice = await sign_in(server, ALICE, version)
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with alice, bob:
            t = await alice.cmd("XFR", "SB")
            xfr = await alice.expect(f"XFR {t}")
            tail = ["U", "messenger.msn.com"] + (["1"] if version >= 14 else [])
            assert xfr.tokens[6:] == tail
            t = await bob.cmd("XFR", "SB")
            xfr = await bob.expect(f"XFR {t}")
            from tests.msn_server.rawclient import RawClient

            sb = await RawClient.connect(xfr.tokens[3])
            async with sb:
                await sb.cmd("USR", "bob@example.com;{b0b0b0b0-0000-4000-8000-000000000000}",
                             xfr.tokens[5])  # fmt: skip
                assert (await sb.read()).tokens[:3] == ["USR", "1", "OK"]
                await sb.cmd("CAL", ALICE)
                await sb.expect("CAL")
                rng = await alice.expect("RNG")
                tail = ["U", "messenger.hotmail.com"] + (["1"] if version >= 14 else [])
                assert rng.tokens[5:8] == ["bob@example.com", "Bob", *tail][:3]
                assert rng.tokens[7:] == tail


async def test_friend_request_made_while_offline_is_pending() -> None:
    async with running_server() as server:
        dave = await sign_in(server, DAVE, 18, guid="{dddddddd-0000-4000-8000-000000000000}")
        async with dave:
            ml = b'<ml><d n="example.com"><c n="alice" l="1" t="1" /></d></ml>'
            t = await dave.cmd("ADL", payload=ml)
            await dave.expect(f"ADL {t}")
        entry = server.account(ALICE).entry(DAVE)
        assert entry is not None and entry.pending and entry.lists == RL
        assert entry.lists13() == 8 | 16


async def test_initial_adl_skips_unknown_people() -> None:
    async with running_server() as server:
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with bob:
            alice = await sign_in(server, ALICE, 18, adl=False, status=None)
            async with alice:
                ml = (b'<ml l="1"><d n="example.com"><c n="gone" l="3" t="1" /><c n="bob" l="3" '
                      b't="1" /></d><d n="yahoo.com"><c n="pal" l="1" t="32" /></d></ml>')  # fmt: skip
                t = await alice.cmd("ADL", payload=ml)
                assert (await alice.read()).line == f"ADL {t} OK"
                t = await alice.cmd("CHG", "NLN", caps_for(18))
                assert (await alice.expect("NLN NLN 1:bob@example.com")).name == "NLN"
                assert server.ns_session(ALICE).subscribed == {BOB}  # type: ignore[union-attr]
