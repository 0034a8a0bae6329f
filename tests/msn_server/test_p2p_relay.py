"""The MSN test server relays P2P switchboard traffic faithfully and reports capabilities."""

from __future__ import annotations

import struct

import pytest

from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient
from tests.msn_server.test_presence_sb import ALICE, BOB, invite, online, open_sb

pytestmark = pytest.mark.timeout(30)

P2P_HEAD = b"MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: bob@example.com\r\n\r\n"


def p2p_payload(total: int) -> bytes:
    """A P2P MSG of exactly ``total`` bytes whose binary part holds every byte value."""
    room = total - len(P2P_HEAD) - 52
    data = (b"\r\n\r\n\x00" + bytes(range(256)) * (room // 256 + 1))[:room]
    header = struct.pack("<LLQQLLLLQ", 9, 1000, 0, room, room, 0x20, 77, 0, 0)
    return P2P_HEAD + header + data + b"\x00\x00\x00\x01"


async def conversation(server: object) -> tuple[RawClient, RawClient, RawClient, RawClient]:
    alice_ns = await online(server, ALICE)  # type: ignore[arg-type]
    bob_ns = await online(server, BOB)  # type: ignore[arg-type]
    alice_sb, _ = await open_sb(server, alice_ns, ALICE)  # type: ignore[arg-type]
    bob_sb = await invite(alice_sb, bob_ns, BOB)
    await bob_sb.expect("ANS")
    await alice_sb.expect("JOI")
    return alice_ns, bob_ns, alice_sb, bob_sb


async def test_p2p_at_the_size_limit_is_relayed_byte_for_byte() -> None:
    async with running_server() as server:
        _, _, alice_sb, bob_sb = await conversation(server)
        payload = p2p_payload(1664)
        assert len(payload) == 1664 and b"\r\n\r\n" in payload[len(P2P_HEAD) :]
        trid = await alice_sb.cmd("MSG", "D", payload=payload)
        assert (await alice_sb.read()).line == f"ACK {trid}"
        relayed = await bob_sb.expect("MSG")
        assert relayed.tokens[1] == ALICE and relayed.tokens[-1] == "1664"
        assert relayed.payload == payload
        (record,) = [m for m in server.messages if m.ack_mode == "D"]
        assert record.content_type == "application/x-msnmsgrp2p" and record.delivered


async def test_p2p_over_the_limit_closes_the_sender_only() -> None:
    async with running_server() as server:
        _, _, alice_sb, bob_sb = await conversation(server)
        await alice_sb.cmd("MSG", "D", payload=p2p_payload(1665))
        await alice_sb.expect_closed()
        assert (await bob_sb.expect("BYE")).tokens[1] == ALICE
        assert not [m for m in server.messages if m.ack_mode == "D"]


@pytest.mark.parametrize("mode", ["U", "N", "A"])
async def test_p2p_must_use_mode_d(mode: str) -> None:
    async with running_server() as server:
        _, _, alice_sb, bob_sb = await conversation(server)
        await alice_sb.cmd("MSG", mode, payload=p2p_payload(300))
        await alice_sb.expect_closed()
        await bob_sb.expect("BYE")
        assert server.messages == []


async def test_messages_are_not_recorded_when_told_so() -> None:
    async with running_server(record_messages=False) as server:
        _, _, alice_sb, bob_sb = await conversation(server)
        trid = await alice_sb.cmd("MSG", "D", payload=p2p_payload(500))
        assert (await alice_sb.read()).line == f"ACK {trid}"
        assert (await bob_sb.expect("MSG")).payload == p2p_payload(500)
        assert server.messages == []


async def test_capabilities_in_iln_nln_iro_joi() -> None:
    caps = str(0x40000024)
    async with running_server() as server:
        bob_ns = await online(server, BOB, 12, caps)
        assert server.capabilities_of(BOB) == 0x40000024
        alice_ns = await online(server, ALICE, 12, "1342177312:48")  # MSNP16 form
        assert server.capabilities_of(ALICE) == 1342177312
        iln = await alice_ns.expect("ILN")
        assert iln.tokens[3] == BOB and iln.tokens[5] == caps
        nln = await bob_ns.expect("NLN")
        assert nln.tokens[2] == ALICE and nln.tokens[4] == "1342177312:48"
        alice_sb, _ = await open_sb(server, alice_ns, ALICE)
        bob_sb = await invite(alice_sb, bob_ns, BOB)
        iro = await bob_sb.expect("IRO")
        assert iro.tokens[4] == ALICE and iro.tokens[6] == "1342177312:48"
        joi = await alice_sb.expect("JOI")
        assert joi.tokens[1] == BOB and joi.tokens[3] == caps
        assert server.capabilities_of("carol@example.com") is None


@pytest.mark.parametrize(("escargot", "expected"), [(False, "201"), (True, None)])
async def test_capabilities_must_be_a_number(escargot: bool, expected: str | None) -> None:
    async with running_server(escargot_mode=escargot) as server:
        client = await online(server, ALICE, 12, "0")
        trid = await client.cmd("CHG", "BSY", "lots")
        if expected is None:
            await client.nothing()
        else:
            assert (await client.read()).tokens[:2] == [expected, str(trid)]
        assert server.capabilities_of(ALICE) == 0
