"""The MSN test server at scale: seeding, the reverse presence index, login stats, the bench."""

from __future__ import annotations

from typing import Any
from collections.abc import Iterator
from pathlib import Path
import asyncio
import json
import signal
import sys

import aiohttp
import pytest

from tests.msn_server import FL, MSNServer, ServerConfig
from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient, login_twn, passport_ticket
from tests.msn_server.seed import SeedSpec

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def test_seeded_accounts_are_mutual_ring_neighbours_in_groups() -> None:
    server = MSNServer()
    accounts = server.seed_accounts(50, contacts=6, groups=2, domain="seed.test")
    assert [a.email for a in accounts[:2]] == ["user0@seed.test", "user1@seed.test"]
    for i, account in enumerate(accounts):
        assert account.password == "password"
        assert sorted(g.name for g in account.groups.values()) == ["Group 1", "Group 2"]
        neighbours = {f"user{(i + d) % 50}@seed.test" for d in (1, 2, 3, -1, -2, -3)}
        assert {e.email for e in account.contacts.values()} == neighbours
        for entry in account.contacts.values():
            assert entry.lists == 11
            assert len(entry.groups) == 1 and entry.groups[0] in account.groups
            other = server.account(entry.email)
            assert other.contacts[account.key].lists == 11  # mutual
        # the reverse index: exactly the accounts holding this one on their FL
        holders = {a.key for a in accounts if a.on(account.email, FL)}
        assert account.watched_by == holders
    per_group = [sum(1 for e in accounts[0].contacts.values() if e.groups == [n]) for n in (1, 2)]
    assert per_group == [3, 3]


@pytest.mark.parametrize(
    ("count", "contacts", "expected"), [(4, 3, 3), (10, 3, 3), (5, 20, 4), (2, 20, 1), (1, 5, 0)]
)
def test_seed_contact_counts(count: int, contacts: int, expected: int) -> None:
    server = MSNServer()
    accounts = server.seed_accounts(count, contacts=contacts, groups=0)
    assert {len(a.contacts) for a in accounts} == {expected}
    assert SeedSpec(count, contacts).offsets().__len__() == expected


async def test_reverse_index_follows_list_commands() -> None:
    async with running_server() as server:
        dave = server.account("dave@example.com")
        alice = server.account("alice@example.com")
        assert alice.watched_by == {"bob@example.com", "carol@example.com"}
        client = await login_twn(server.ns_address, server.passport_url, dave.email, "dave123")
        async with client:
            t = await client.cmd("ADC", "FL", "N=alice@example.com", "F=Alice")
            assert (await client.expect("ADC")).tokens[1] == str(t)
            assert "dave@example.com" in alice.watched_by
            t = await client.cmd("ADC", "AL", "N=alice@example.com")
            await client.expect("ADC")
            t = await client.cmd("REM", "FL", alice.guid)
            assert (await client.expect("REM")).tokens[1] == str(t)
            assert "dave@example.com" not in alice.watched_by  # still on AL: not a watcher


class CountingSessions(dict[str, Any]):
    """The server's online-session table, counting every entry it hands out."""

    examined = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.examined += 1
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.examined += 1
        return super().__getitem__(key)

    def items(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        for item in super().items():
            self.examined += 1
            yield item

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        for value in super().values():
            self.examined += 1
            yield value

    def __iter__(self) -> Iterator[str]:
        for key in super().__iter__():
            self.examined += 1
            yield key


async def test_a_status_change_examines_the_watchers_not_everyone_online() -> None:
    """The presence fan-out of one user costs in proportion to its contacts: with 60 users
    online, a status change of one with 4 contacts looks at a handful of sessions."""
    async with running_server(demo=False) as server:
        accounts = server.seed_accounts(60, contacts=4, groups=1)
        clients: list[RawClient] = []
        try:
            async with aiohttp.ClientSession() as http:
                for account in accounts:
                    clients.append(await online_raw(server, http, account.email))
            sessions = server.ns_sessions = CountingSessions(server.ns_sessions)
            endpoints = server.endpoints = CountingSessions(server.endpoints)
            trid = await clients[0].cmd("CHG", "BSY", "0")
            await clients[0].expect(f"CHG {trid}")
            for i in (1, 2, 58, 59):  # user0's ring neighbours see it
                await clients[i].expect(f"NLN BSY {accounts[0].email}")
            examined = sessions.examined + endpoints.examined
            assert 0 < examined <= 3 * 4 + 4, examined
        finally:
            for client in clients:
                await client.close()


async def online_raw(server: MSNServer, http: aiohttp.ClientSession, email: str) -> RawClient:
    """An MSNP12 login (sharing one HTTP session) and CHG NLN; what follows stays unread."""
    client = await RawClient.connect(server.ns_address)
    await client.cmd("VER", "MSNP12", "CVR0")
    await client.cmd("CVR", "0x0409", "winnt", "5.1", "i386", "MSNMSGR", "7.5", "MSMSGS", email)
    await client.cmd("USR", "TWN", "I", email)
    await client.expect("USR")
    status, ticket = await passport_ticket(http, server.passport_url, email, "password")
    assert status == 200
    await client.cmd("USR", "TWN", "S", ticket)
    await client.expect("MSG")
    trid = await client.cmd("CHG", "NLN", "0")
    await client.expect(f"CHG {trid}")
    return client


async def start_login(server: MSNServer, email: str) -> RawClient:
    client = await RawClient.connect(server.ns_address)
    await client.cmd("VER", "MSNP12", "CVR0")
    await client.expect("VER")
    await client.cmd("USR", "TWN", "I", email)
    await client.expect("USR")
    return client


async def test_login_stats_count_logins_in_progress_and_their_maximum() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        stats_url = f"{server.http_base}/_test/stats"
        assert server.stats()["logins_in_progress"] == 0
        alice = await start_login(server, "alice@example.com")
        bob = await start_login(server, "bob@example.com")
        carol = await start_login(server, "carol@example.com")
        stats = server.stats()
        assert (stats["logins_in_progress"], stats["logins_in_progress_max"]) == (3, 3)
        # alice completes, bob fails, carol gives up
        _, ticket = await passport_ticket(
            http, server.passport_url, "alice@example.com", "alice123"
        )
        await alice.cmd("USR", "TWN", "S", ticket)
        await alice.expect("MSG")
        await bob.cmd("USR", "TWN", "S", "t=wrong&p=x")
        assert [r.line for r in await bob.expect_closed()] == ["911 3"]
        await carol.close()
        stats = await wait_for_stats(http, stats_url, lambda s: s["logins_in_progress"] == 0)
        assert stats["logins"] == 1 and stats["login_failures"] == 1
        assert stats["logins_in_progress_max"] == 3
        assert stats["online"] == 1 and stats["accounts"] == 4
        assert stats["login_seconds_p50"] is not None and stats["cpu_seconds"] >= 0
        async with http.post(stats_url + "/reset") as resp:
            reset = await resp.json()
        assert (reset["logins"], reset["logins_in_progress_max"]) == (0, 0)
        for client in (alice, bob, carol):
            await client.close()


async def wait_for_stats(
    http: aiohttp.ClientSession, url: str, ready: Any, timeout: float = 5.0
) -> dict[str, Any]:
    """Poll the stats endpoint until ``ready(stats)`` (the server learns of a closed socket
    asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(url) as resp:
            stats: dict[str, Any] = await resp.json()
        if ready(stats) or asyncio.get_running_loop().time() > deadline:
            return stats
        await asyncio.sleep(0.02)


async def test_stats_file_is_written_and_follows_logins(tmp_path: Path) -> None:
    path = tmp_path / "stats.json"
    config = ServerConfig(stats_file=str(path), stats_interval=0.05)
    async with running_server(config) as server:
        client = await login_twn(server.ns_address, server.passport_url, "bob@example.com",
                                 "bob123")  # fmt: skip
        async with client:
            deadline = asyncio.get_running_loop().time() + 5
            while True:
                data = json.loads(path.read_text()) if path.exists() else {}
                if data.get("logins") == 1 or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.02)
            assert data["logins"] == 1 and data["logins_in_progress_max"] == 1
    assert json.loads(path.read_text())["online"] == 0  # written again at stop
    assert not Path(f"{path}.tmp").exists()


async def test_cli_seed_and_stats_file(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.msn_server", "--seed", "30", "--seed-contacts", "4",
        "--seed-groups", "3", "--seed-password", "pw", "--ns-port", "0", "--sb-port", "0",
        "--http-port", "0", "--stats-file", str(stats),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        printed: dict[str, str] = {}
        while "accounts" not in printed:
            line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
            assert line, "the server exited early"
            key, _, value = line.partition(":")
            printed[key.strip()] = value.strip()
        assert printed["accounts"].endswith("(30 in all)")
        login_url = printed["passport login"]
        client = await login_twn(printed["notification server"], login_url,
                                 "user7@scale.example", "pw")  # fmt: skip
        async with client:
            t = await client.cmd("SYN", "0", "0")
            syn = await client.expect(f"SYN {t}")
            assert syn.tokens[-2:] == ["4", "3"]  # 4 contacts, 3 groups
        async with aiohttp.ClientSession() as http, http.get(printed["stats"]) as resp:
            assert (await resp.json())["logins"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert json.loads(stats.read_text())["accounts"] == 30


@pytest.mark.timeout(180)
async def test_scale_benchmark_small_run() -> None:
    """bench/msn_server_scale.py end to end at 40 accounts, so that it cannot rot."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "msn_server_scale.py"), "--counts", "40",
        "--concurrency", "8", "--contacts", "6", "--baseline-rev", "HEAD",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 170)
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-3000:]
    rows = [line for line in text.splitlines() if line.startswith("    40 ")]
    assert [row.split()[1] for row in rows] == ["floor", "before", "after"]
    assert "[server: 40 logins, in progress max" in rows[2] and "<= 8 ok" in rows[2]
    assert "server CPU per login" in text
