"""A contact list kept from an earlier session (MSNP8-12): ``SYN`` sends its version; when the
server says it is current nothing is downloaded and the kept list is the session's; after a
change elsewhere the whole list comes again. Against tests/msn_server."""

from __future__ import annotations

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.events import ListSynced
from bridge.msnp.values import ListCache, Lists
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import PASSWORDS, Recorder, client_config

pytestmark = pytest.mark.timeout(60)
ALICE = "alice@example.com"


async def _login(server: object, protocol: int, cache: ListCache | None) -> ListSynced:
    recorder = Recorder()
    client = MSNClient(client_config(server, protocol), recorder)  # type: ignore[arg-type]
    await client.login(ALICE, PASSWORDS[ALICE], cache=cache)
    try:
        synced = await recorder.wait(ListSynced)
        assert synced.version
        return synced
    finally:
        await client.close()


def _cache(synced: ListSynced, protocol: int) -> ListCache:
    return ListCache(synced.version, protocol, synced.contacts, synced.groups, False, True)


def _shape(synced: ListSynced) -> dict[str, tuple[Lists, tuple[str, ...]]]:
    return {p: (c.lists, c.groups) for p, c in synced.contacts.items()}


@pytest.mark.parametrize("protocol", [8, 9, 10, 12])
async def test_a_current_list_is_not_downloaded_again(protocol: int) -> None:
    async with running_server() as server:
        first = await _login(server, protocol, None)
        assert not first.from_cache and "bob@example.com" in first.contacts
        again = await _login(server, protocol, _cache(first, protocol))
        assert again.from_cache and again.version == first.version
        assert _shape(again) == _shape(first)
        assert {g.name for g in again.groups.values()} >= {"Friends"}

        # changed elsewhere: the version moves on, the whole list comes
        server.add_contact(ALICE, "dave@example.com")
        changed = await _login(server, protocol, _cache(first, protocol))
        assert not changed.from_cache and changed.version != first.version
        assert "dave@example.com" in changed.contacts


async def test_a_cache_of_another_protocol_is_not_used() -> None:
    async with running_server() as server:
        first = await _login(server, 9, None)
        other = await _login(server, 12, _cache(first, 9))
        assert not other.from_cache and "bob@example.com" in other.contacts
