"""The MSN test server: dispatch, login (MD5 and Passport/TWN), keepalive, challenges."""

from __future__ import annotations

import asyncio
import hashlib

import aiohttp
import pytest

from tests.msn_server.challenge import msnp8_answer, msnp11_answer, verify
from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient, login_md5, login_twn, passport_ticket

pytestmark = pytest.mark.timeout(30)

ALICE = "alice@example.com"


async def test_dispatch_redirects_to_the_ns() -> None:
    async with running_server() as server:
        assert server.ds_address is not None and server.ds_address != server.ns_address
        async with await RawClient.connect(server.ds_address) as ds:
            await ds.cmd("VER", "MSNP8", "CVR0")
            assert (await ds.read()).line == "VER 1 MSNP8 CVR0"
            await ds.cmd(
                "CVR", "0x0409", "winnt", "5.1", "i386", "MSNMSGR", "6.0", "MSMSGS", ALICE
            )
            assert (await ds.read()).name == "CVR"
            await ds.cmd("USR", "TWN", "I", ALICE)
            xfr = await ds.read()
            assert xfr.line == f"XFR 3 NS {server.ns_address} 0 {server.ds_address}"
            assert await ds.expect_closed() == []
        assert server.counters["ds_connections"] == 1


async def test_escargot_mode_has_no_dispatch_server() -> None:
    async with running_server(escargot_mode=True) as server:
        assert server.ds_address is None
        assert server.server_address == server.ns_address


async def test_md5_login_msnp7() -> None:
    async with running_server() as server:
        client = await login_md5(server.ns_address, ALICE, "alice123", 7)
        async with client:
            assert server.online(ALICE) == ""  # logged in, no CHG yet
            trid = await client.cmd("CHG", "NLN")
            assert (await client.read()).line == f"CHG {trid} NLN"
            assert server.online(ALICE) == "NLN"
        await asyncio.sleep(0.05)
        assert server.online(ALICE) is None


async def test_md5_ok_line_per_version() -> None:
    async with running_server() as server:
        for version, tail in ((5, "Alice"), (6, "Alice 1")):
            async with await RawClient.connect(server.ns_address) as c:
                await c.cmd("VER", f"MSNP{version}")
                assert (await c.read()).line == f"VER 1 MSNP{version}"
                await c.cmd("USR", "MD5", "I", ALICE)
                salt = (await c.read()).tokens[4]
                digest = hashlib.md5((salt + "alice123").encode()).hexdigest()
                await c.cmd("USR", "MD5", "S", digest)
                assert (await c.read()).line == f"USR 3 OK {ALICE} {tail}"


async def test_md5_wrong_password_911_and_close() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP7")
        await c.read()
        await c.cmd("USR", "MD5", "I", ALICE)
        await c.read()
        await c.cmd("USR", "MD5", "S", "0" * 32)
        assert [r.line for r in await c.expect_closed()] == ["911 3"]


async def test_no_common_version() -> None:
    async with (
        running_server(protocols=range(8, 13)) as server,
        await RawClient.connect(server.ns_address) as c,
    ):
        await c.cmd("VER", "MSNP7", "MSNP6", "CVR0")
        assert [r.line for r in await c.expect_closed()] == ["VER 1 0"]


async def test_md5_at_msnp8_closes_silently() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP8", "CVR0")
        await c.read()
        await c.cmd("INF")
        assert await c.expect_closed() == []


async def test_twn_login_msnp12_profile_and_sbs() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP12", "MSNP11", "CVR0")
        assert (await c.read()).line == "VER 1 MSNP12 CVR0"
        await c.cmd("USR", "TWN", "I", ALICE)
        assert (await c.read()).line == ("USR 2 TWN S ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1")
        async with aiohttp.ClientSession() as http:
            status, ticket = await passport_ticket(http, server.passport_url, ALICE, "alice123")
        assert status == 200 and ticket.startswith("t=") and "&p=" in ticket
        await c.cmd("USR", "TWN", "S", ticket)
        assert (await c.read()).line == f"USR 3 OK {ALICE} 1 0"
        assert (await c.read()).line == "SBS 0 null"
        profile = await c.read()
        assert profile.tokens[:3] == ["MSG", "Hotmail", "Hotmail"]
        assert profile.payload is not None
        assert b"Content-Type: text/x-msmsgsprofile; charset=UTF-8" in profile.payload
        token = ticket[2:].split("&")[0]
        assert f"MSPAuth: {token}".encode() in profile.payload
        assert b"ClientIP: 127.0.0.1" in profile.payload
        await c.cmd("GCF", "Shields.xml")
        gcf = await c.read()
        assert gcf.tokens[:3] == ["GCF", "4", "Shields.xml"]
        assert gcf.payload is not None and gcf.payload.startswith(b"<?xml")


async def test_twn_ok_line_msnp8_has_name() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP8", "CVR0")
        await c.read()
        await c.cmd("USR", "TWN", "I", ALICE)
        await c.read()
        async with aiohttp.ClientSession() as http:
            _, ticket = await passport_ticket(http, server.passport_url, ALICE, "alice123")
        token = ticket[2:].split("&")[0]
        await c.cmd("USR", "TWN", "S", token)  # the bare token works too
        assert (await c.read()).line == f"USR 3 OK {ALICE} Alice 1 0"
        assert (await c.read()).name == "MSG"


async def test_bad_ticket_911_and_close() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP10")
        await c.read()
        await c.cmd("USR", "TWN", "I", ALICE)
        await c.read()
        await c.cmd("USR", "TWN", "S", "t=deadbeef&p=")
        assert [r.line for r in await c.expect_closed()] == ["911 3"]


async def test_ticket_expiry_and_reuse() -> None:
    async with running_server(ticket_lifetime=0.3) as server:
        async with aiohttp.ClientSession() as http:
            _, ticket = await passport_ticket(http, server.passport_url, ALICE, "alice123")
        assert server.tickets.check(ticket, ALICE)
        assert server.tickets.check(ticket, ALICE)  # reusable
        assert not server.tickets.check(ticket, "bob@example.com")
        await asyncio.sleep(0.35)
        assert not server.tickets.check(ticket, ALICE)


async def test_passport_http_errors_and_nexus() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        status, ticket = await passport_ticket(http, server.passport_url, ALICE, "wrong")
        assert (status, ticket) == (401, "")
        header = "Passport1.4 sign-in=alice%40example.com,pwd=wrong"
        async with http.get(server.passport_url, headers={"Authorization": header}) as resp:
            assert resp.headers["WWW-Authenticate"] == "Passport1.4 da-status=failed"
        async with http.get(server.passport_url) as resp:
            assert resp.status == 400
        async with http.get(server.nexus_url) as resp:
            assert resp.status == 200
            urls = resp.headers["PassportURLs"]
        assert f"DALogin=127.0.0.1:{server.http_port}/login," in urls
    async with (
        running_server(escargot_mode=True, nexus_dalogin_scheme="https") as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(server.nexus_url) as resp:
            assert f"DALogin=https://127.0.0.1:{server.http_port}/login" in (
                resp.headers["PassportURLs"]
            )
        async with http.get(server.passport_url) as resp:
            assert resp.status == 500
        _, ticket = await passport_ticket(http, server.passport_url, ALICE, "alice123")
        assert len(ticket) == 20 and "=" not in ticket  # Escargot: bare token


async def test_png_qng_and_out() -> None:
    async with running_server() as server:
        c = await login_twn(server.ns_address, server.passport_url, ALICE, "alice123", 9)
        async with c:
            await c.write(b"PNG\r\n")
            assert (await c.read()).line == "QNG 50"
            await c.write(b"OUT\r\n")
            assert await c.expect_closed() == []
        c = await login_md5(server.ns_address, ALICE, "alice123", 7)
        async with c:
            await c.write(b"PNG\r\n")
            assert (await c.read()).line == "QNG"


async def test_second_login_kicks_first_with_out_oth() -> None:
    async with running_server() as server:
        first = await login_md5(server.ns_address, ALICE, "alice123", 7)
        async with first:
            second = await login_twn(server.ns_address, server.passport_url, ALICE, "alice123")
            async with second:
                assert [r.line for r in await first.expect_closed()] == ["OUT OTH"]
                assert server.online(ALICE) == ""


async def test_command_before_login_is_302() -> None:
    async with running_server() as server, await RawClient.connect(server.ns_address) as c:
        await c.cmd("VER", "MSNP8")
        await c.read()
        await c.cmd("SYN", 0)
        assert (await c.read()).line == "302 2"


def test_challenge_algorithms() -> None:
    # Public test vector for the MSNP11 algorithm with the MSN 7.0 product id/key.
    answer = msnp11_answer("22940274951814684551", "PROD0090YUAUV{2B", "YMM8C_H7KCQ2S_KL")
    assert answer == "ffeb4c3cf93db6a4b708b246baade0d9"
    assert verify("22940274951814684551", "PROD0090YUAUV{2B", answer, protocol=11)
    md5 = msnp8_answer("15570131571988941333", "Q1P7W2E4J9R8U3S5")
    assert md5 == hashlib.md5(b"15570131571988941333Q1P7W2E4J9R8U3S5").hexdigest()
    assert verify("15570131571988941333", "msmsgs@msnmsgr.com", md5, protocol=8)
    assert not verify("15570131571988941333", "msmsgs@msnmsgr.com", "0" * 32, protocol=8)
    assert not verify("1", "unknown-client", md5, protocol=8)


async def test_challenge_right_and_wrong_answers() -> None:
    async with running_server(challenge_interval=0.05) as server:
        c = await login_twn(server.ns_address, server.passport_url, ALICE, "alice123", 11)
        async with c:
            chl = await c.expect("CHL")
            challenge = chl.tokens[2]
            assert chl.tokens[1] == "0" and len(challenge) == 20 and challenge.isdigit()
            answer = msnp11_answer(challenge, "PROD0090YUAUV{2B", "YMM8C_H7KCQ2S_KL")
            trid = await c.cmd("QRY", "PROD0090YUAUV{2B", payload=answer.encode())
            assert (await c.expect("QRY")).line == f"QRY {trid}"
            chl = await c.expect("CHL")
            trid = await c.cmd("QRY", "PROD0090YUAUV{2B", payload=b"0" * 32)
            assert [r.line for r in await c.expect_closed()][-1] == f"540 {trid}"


async def test_close_during_login_hook() -> None:
    async with running_server() as server:
        server.close_during_login = "SYN"
        c = await login_md5(server.ns_address, ALICE, "alice123", 7)
        async with c:
            await c.cmd("SYN", 0)
            assert await c.expect_closed() == []
