"""The MSN test server: SYN formats per version and contact/group operations."""

from __future__ import annotations

import asyncio

import pytest

from tests.msn_server import AL, BL, FL, RL, MSNServer
from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient, Reply, login_md5, login_twn

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))
PASSWORDS = {ALICE: "alice123", BOB: "bob123", CAROL: "carol123", DAVE: "dave123"}


async def login(server: MSNServer, email: str, version: int) -> RawClient:
    if version < 8:
        return await login_md5(server.ns_address, email, PASSWORDS[email], version)
    return await login_twn(
        server.ns_address, server.passport_url, email, PASSWORDS[email], version
    )


async def read_lines(client: RawClient, count: int) -> list[str]:
    return [(await client.read()).line for _ in range(count)]


async def test_syn_msnp2() -> None:
    async with running_server() as server, await login(server, ALICE, 2) as c:
        ser = server.account(ALICE).ser
        trid = await c.cmd("SYN", 0)
        t = trid
        assert await read_lines(c, 9) == [
            f"SYN {t} {ser}",
            f"GTC {t} {ser} A",
            f"BLP {t} {ser} AL",
            f"LST {t} FL {ser} 1 2 {BOB} Bob",
            f"LST {t} FL {ser} 2 2 {CAROL} Carol",
            f"LST {t} AL {ser} 1 2 {BOB} Bob",
            f"LST {t} AL {ser} 2 2 {CAROL} Carol",
            f"LST {t} BL {ser} 0 0",
            f"LST {t} RL {ser} 1 2 {BOB} Bob",
        ]
        assert (await c.read()).line == f"LST {t} RL {ser} 2 2 {CAROL} Carol"
        await c.nothing(0.1)
        trid = await c.cmd("SYN", ser)  # up to date: only the SYN line
        assert (await c.read()).line == f"SYN {trid} {ser}"
        await c.nothing(0.1)


async def test_syn_msnp7_has_groups() -> None:
    async with running_server() as server, await login(server, ALICE, 7) as c:
        ser = server.account(ALICE).ser
        t = await c.cmd("SYN", 0)
        lines = await read_lines(c, 12)
        assert lines[:7] == [
            f"SYN {t} {ser}",
            f"GTC {t} {ser} A",
            f"BLP {t} {ser} AL",
            f"LSG {t} {ser} 1 2 0 Other%20Contacts 0",
            f"LSG {t} {ser} 2 2 1 Friends 0",
            f"LST {t} FL {ser} 1 2 {BOB} Bob 1",
            f"LST {t} FL {ser} 2 2 {CAROL} Carol 0",
        ]
        assert lines[7] == f"LST {t} AL {ser} 1 2 {BOB} Bob"
        assert lines[9] == f"LST {t} BL {ser} 0 0"


async def test_syn_msnp8() -> None:
    async with running_server() as server:
        server.add_contact(DAVE, ALICE, FL | BL)
        async with await login(server, ALICE, 8) as c:
            ser = server.account(ALICE).ser
            t = await c.cmd("SYN", 0)
            assert await read_lines(c, 8) == [
                f"SYN {t} {ser} 3 2",
                "GTC A",
                "BLP AL",
                "LSG 0 Other%20Contacts 0",
                "LSG 1 Friends 0",
                f"LST {BOB} Bob 11 1",
                f"LST {CAROL} Carol 11 0",
                f"LST {DAVE} Dave 8",  # dave added (and blocked) alice: RL only
            ]


@pytest.mark.parametrize("version", [10, 12])
async def test_syn_msnp10_12(version: int) -> None:
    async with running_server() as server, await login(server, BOB, version) as c:
        bob = server.account(BOB)
        friends = bob.group_by_name("Friends")
        assert friends is not None
        t = await c.cmd("SYN", "0", "0")
        lines = await read_lines(c, 7)
        syn = lines[0].split(" ")
        assert syn[:2] == ["SYN", str(t)] and syn[4:] == ["2", "1"]
        assert "T" in syn[2] and syn[2] == syn[3]
        one = " 1" if version >= 12 else ""
        alice_guid, carol_guid = server.account(ALICE).guid, server.account(CAROL).guid
        assert lines[1:] == [
            "GTC A",
            "BLP AL",
            "PRP MFN Bob",
            f"LSG Friends {friends.guid}",
            f"LST N={ALICE} F=Alice C={alice_guid} 11{one} {friends.guid}",
            f"LST N={CAROL} F=Carol C={carol_guid} 11{one}",
        ]


async def test_add_rem_msnp8_with_reverse_push() -> None:
    async with running_server() as server:
        dave = await login(server, DAVE, 9)
        alice = await login(server, ALICE, 8)
        async with dave, alice:
            t = await alice.cmd("ADD", "FL", DAVE, "Dave", "1")
            line = (await alice.read()).line
            ser = server.account(ALICE).ser
            assert line == f"ADD {t} FL {ser} {DAVE} Dave 1"
            line = (await dave.read()).line
            dave_ser = server.account(DAVE).ser
            assert line == f"ADD 0 RL {dave_ser} {ALICE} Alice"
            t = await alice.cmd("ADD", "FL", DAVE, "Dave", "1")
            assert (await alice.read()).line == f"215 {t}"
            t = await alice.cmd("ADD", "FL", "nobody@example.com", "x")
            assert (await alice.read()).line == f"205 {t}"
            t = await alice.cmd("ADD", "FL", DAVE, "Dave", "77")
            assert (await alice.read()).line == f"224 {t}"
            t = await alice.cmd("ADD", "BL", BOB, "Bob")
            assert (await alice.read()).line == f"219 {t}"  # bob is on AL
            t = await alice.cmd("ADD", "RL", BOB, "Bob")
            assert (await alice.read()).line == f"201 {t}"
            t = await alice.cmd("REM", "AL", DAVE)
            assert (await alice.read()).line == f"216 {t}"
            t = await alice.cmd("REM", "FL", DAVE)
            line = (await alice.read()).line
            ser = server.account(ALICE).ser
            assert line == f"REM {t} FL {ser} {DAVE}"
            line = (await dave.read()).line
            dave_ser = server.account(DAVE).ser
            assert line == f"REM 0 RL {dave_ser} {ALICE}"
            assert server.account(DAVE).lists_of(ALICE) == 0
            assert server.account(ALICE).lists_of(DAVE) == 0


async def test_adc_and_rem_by_guid_msnp10() -> None:
    async with running_server() as server, await login(server, ALICE, 10) as c:
        dave_guid = server.account(DAVE).guid
        t = await c.cmd("ADC", "FL", f"N={DAVE}", "F=Dave")
        assert (await c.read()).line == f"ADC {t} FL N={DAVE} F=Dave C={dave_guid}"
        t = await c.cmd("ADG", "Work%20Mates", 0)
        reply = await c.read()
        assert reply.tokens[:3] == ["ADG", str(t), "Work%20Mates"]
        group_guid = reply.tokens[3]
        t = await c.cmd("ADC", "FL", f"C={dave_guid}", group_guid)
        assert (await c.read()).line == f"ADC {t} FL C={dave_guid} {group_guid}"
        t = await c.cmd("ADC", "FL", f"C={dave_guid}", group_guid)
        assert (await c.read()).line == f"215 {t}"
        t = await c.cmd("REM", "FL", dave_guid, group_guid)
        assert (await c.read()).line == f"REM {t} FL {dave_guid} {group_guid}"
        assert server.account(ALICE).lists_of(DAVE) == FL
        t = await c.cmd("ADC", "AL", f"N={DAVE}")
        assert (await c.read()).line == f"ADC {t} AL N={DAVE}"
        t = await c.cmd("REM", "FL", dave_guid)
        assert (await c.read()).line == f"REM {t} FL {dave_guid}"
        assert server.account(ALICE).lists_of(DAVE) == AL
        assert server.account(DAVE).lists_of(ALICE) == 0  # RL dropped on the other side


async def test_group_operations_and_errors() -> None:
    async with (
        running_server() as server,
        await login(server, ALICE, 7) as old,
        await login(server, BOB, 12) as new,
    ):
        t = await old.cmd("ADG", "Work", 0)
        reply = await old.read()
        ser = server.account(ALICE).ser
        assert reply.line == f"ADG {t} {ser} Work 2 0"
        t = await old.cmd("ADG", "Work", 0)
        assert (await old.read()).line == f"231 {t}"
        t = await old.cmd("ADG", "x" * 62, 0)
        assert (await old.read()).line == f"228 {t}"
        t = await old.cmd("REG", 2, "Job", 0)
        line = (await old.read()).line
        ser = server.account(ALICE).ser
        assert line == f"REG {t} {ser} 2 Job 0"
        t = await old.cmd("RMG", 0)
        assert (await old.read()).line == f"229 {t}"
        t = await old.cmd("RMG", 9)
        assert (await old.read()).line == f"224 {t}"
        t = await old.cmd("RMG", 2)
        line = (await old.read()).line
        ser = server.account(ALICE).ser
        assert line == f"RMG {t} {ser} 2"
        assert server.account(ALICE).group_by_name("Job") is None

        t = await new.cmd("ADG", "Family")
        reply = await new.read()
        guid = reply.tokens[3]
        assert reply.line == f"ADG {t} Family {guid}" and len(guid) == 36
        t = await new.cmd("REG", guid, "Kin")
        assert (await new.read()).line == f"REG {t} {guid} Kin"
        t = await new.cmd("RMG", guid)
        assert (await new.read()).line == f"RMG {t} {guid}"


async def test_blp_gtc_and_rename() -> None:
    async with (
        running_server() as server,
        await login(server, ALICE, 8) as a,
        await login(server, BOB, 11) as b,
    ):
        t = await a.cmd("BLP", "BL")
        assert (await a.read()).line == f"BLP {t} {server.account(ALICE).ser} BL"
        t = await a.cmd("BLP", "XX")
        assert (await a.read()).line == f"201 {t}"
        t = await b.cmd("GTC", "N")
        assert (await b.read()).line == f"GTC {t} N"
        t = await a.cmd("REA", ALICE, "Alice%20A.")
        assert (await a.read()).line == f"REA {t} {server.account(ALICE).ser} {ALICE} Alice%20A."
        t = await b.cmd("PRP", "MFN", "Bobby")
        assert (await b.read()).line == f"PRP {t} MFN Bobby"
        assert server.account(BOB).name == "Bobby"
        assert server.account(ALICE).name == "Alice A."


async def test_adding_to_fl_shows_presence_and_block_hides_it() -> None:
    async with (
        running_server() as server,
        await login(server, DAVE, 12) as d,
        await login(server, ALICE, 12) as a,
    ):
        await d.cmd("CHG", "BSY", "0")
        await d.expect("CHG")
        await a.cmd("CHG", "NLN", "0")
        await a.expect("CHG")
        t = await a.cmd("ADC", "FL", f"N={DAVE}", "F=Dave")
        assert (await a.expect("ADC")).tokens[1] == str(t)
        assert (await a.expect("NLN")).line == f"NLN BSY {DAVE} Dave 0"
        reverse: Reply = await d.expect("ADC")
        assert reverse.line == f"ADC 0 RL N={ALICE} F=Alice"
        t = await d.cmd("ADC", "BL", f"N={ALICE}")
        assert (await d.expect("ADC")).line == f"ADC {t} BL N={ALICE}"
        assert (await a.expect("FLN")).line == f"FLN {DAVE}"
        await asyncio.sleep(0)
        assert server.account(DAVE).lists_of(ALICE) == BL | RL
        # removing from FL drops us from their RL; MSNP10+ names us by bare address (no N=)
        t = await a.cmd("REM", "FL", server.account(DAVE).guid)
        assert (await a.expect("REM")).line == f"REM {t} FL {server.account(DAVE).guid}"
        assert (await d.expect("REM")).line == f"REM 0 RL {ALICE}"
        assert server.account(DAVE).lists_of(ALICE) == BL
