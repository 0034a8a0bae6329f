"""What an idle logged-in MSNClient keeps: thousands share one process (issue 11).

An idle client keeps no task (its connections are the sockets' protocols), no event
dispatcher, keepalive task or HTTP session of its own; closing it from inside its own event
handler does not wait for itself.
"""

from __future__ import annotations

import asyncio

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.events import Disconnected, DisconnectReason, Event, PresenceChanged
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import PASSWORDS, client_config, logged_in, wait_until

pytestmark = pytest.mark.timeout(60)


def msnp_tasks() -> list[str]:
    """The running tasks whose coroutine is the MSN library's (named or not)."""
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task.get_name().startswith("msnp") or "bridge/msnp/" in getattr(
            code, "co_filename", ""
        ):
            found.append(task.get_name())
    return sorted(found)


@pytest.mark.parametrize("protocol", [7, 12])
async def test_an_idle_client_keeps_no_task(protocol: int) -> None:
    async with running_server() as server:
        clients = []
        for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
            client, rec = await logged_in(server, email, protocol, keepalive_interval=0.2)
            clients.append((client, rec))
        try:
            # everyone has seen the others come online: the event bursts are over
            _, alice_events = clients[0]
            await alice_events.wait(PresenceChanged, passport="carol@example.com")
            await wait_until(lambda: msnp_tasks() == [])
            # a few keepalive rounds later (PNG every 0.2 s): still one task each, all online
            await asyncio.sleep(0.7)
            assert msnp_tasks() == []
            assert all(client.connected for client, _ in clients)
            assert all(not rec.of(Disconnected) for _, rec in clients)
        finally:
            for client, _ in clients:
                await client.close()
        assert msnp_tasks() == []


async def test_own_http_session_is_closed_after_the_passport_login() -> None:
    async with running_server() as server:
        client, _ = await logged_in(server, "bob@example.com", 12)
        try:
            assert server.counters["http_login"] == 1  # the Passport login happened
            assert not client._web.owns_session
        finally:
            await client.close()


async def test_close_from_inside_the_event_handler_returns_at_once() -> None:
    """The handler runs in the client's dispatcher; close() must not wait for that task."""
    async with running_server() as server:
        closed = asyncio.get_running_loop().create_future()
        events: list[Event] = []
        client: MSNClient

        async def handler(event: Event) -> None:
            events.append(event)
            if isinstance(event, PresenceChanged) and event.passport == "bob@example.com":
                await client.close()
                closed.set_result(None)

        client = MSNClient(client_config(server, 12), handler)
        await client.login("alice@example.com", PASSWORDS["alice@example.com"])
        bob, _ = await logged_in(server, "bob@example.com", 12)  # alice sees bob come online
        try:
            await asyncio.wait_for(closed, 3)  # it used to wait 10 s for itself, then cancel
        finally:
            await bob.close()
        assert not client.connected
        await wait_until(lambda: any(isinstance(e, Disconnected) for e in events))
        last = events[-1]
        assert isinstance(last, Disconnected) and last.reason is DisconnectReason.CLIENT
