"""A bridge user's session at MSNP18 against the MSN test server: the machine GUID and the
address book are kept (the GUID in the user's row, the address book in the database only), a
reconnect is the same endpoint, and the user's own Messenger (another endpoint of the account)
stays signed in throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import contextlib
import json

from mautrix.util.async_db import Database
import pytest

from bridge import texts
from bridge.db.user import User as DBUser
from bridge.msnp.ab_store import load_cache
from bridge.msnp.client import MSNClient
from bridge.msnp.events import ListSynced
from bridge.session import MSNSession
from tests.integration.test_session import (
    ALICE,
    ALICE_PASSWORD,
    RecordingOwner,
    make_config,
    make_session,
)
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, client_config

pytestmark = pytest.mark.timeout(60)

OWN_MESSENGER = "{0A0A0A0A-1B1B-2C2C-3D3D-4E4E4E4E4E4E}"


@dataclass
class _Bridged:
    """A bridge user's session at MSNP18 beside the user's own Messenger, and the lists the
    session reported."""

    server: MSNServer
    messenger: MSNClient
    session: MSNSession
    owner: RecordingOwner
    lists: list[ListSynced] = field(default_factory=list)

    async def drop_the_bridges_connection(self) -> None:
        """The bridge's NS connection drops (the Messenger's stays): wait until the session
        is back and has reported its list again."""
        count, self.owner.notices[:] = len(self.lists), []
        guid = (self.owner.row.machine_guid or "").lower()
        (bridge_ns,) = [ep for ep in self.server.endpoints[ALICE] if ep.machine_guid == guid]
        bridge_ns.conn.abort()
        await self.owner.wait_for(lambda: texts.RECONNECTED in self.owner.notices)
        await self.owner.wait_for(lambda: len(self.lists) == count + 1)


@contextlib.asynccontextmanager
async def _bridged_at_msnp18(server: MSNServer, user_row: DBUser) -> AsyncIterator[_Bridged]:
    messenger = MSNClient(client_config(server, 18), Recorder())
    await messenger.login(ALICE, ALICE_PASSWORD, machine_guid=OWN_MESSENGER)
    config = make_config(server.server_address, server.passport_url)
    config["msn.protocol_max"] = 18
    session, owner = make_session(config, user_row)
    bridged = _Bridged(server, messenger, session, owner)

    async def on_list(evt: ListSynced) -> None:
        bridged.lists.append(evt)

    session.on(ListSynced, on_list)
    try:
        yield bridged
    finally:
        await session.stop()
        await messenger.close()


async def test_msnp18_session_keeps_its_endpoint_and_address_book(db: Database) -> None:
    user_row = DBUser(mxid="@alice:hs")
    await user_row.insert()
    async with running_server() as server, _bridged_at_msnp18(server, user_row) as bridged:
        owner, lists, messenger = bridged.owner, bridged.lists, bridged.messenger
        result = await bridged.session.login(ALICE, ALICE_PASSWORD)
        row = owner.row
        assert result.protocol == 18 and row.protocol == 18
        assert row.ticket is None  # nothing reusable without the password at MSNP15+
        assert row.machine_guid and row.machine_guid != OWN_MESSENGER
        # the address book is in the database, not held with the row for the session
        assert not hasattr(row, "ab_cache")
        cache = load_cache(await row.read_ab_cache())
        assert cache is not None
        assert {c.email for c in cache.book.contacts} == {
            "bob@example.com",
            "carol@example.com",
        }
        guids = {ep.machine_guid for ep in server.endpoints[ALICE]}
        assert guids == {OWN_MESSENGER.lower(), row.machine_guid.lower()}
        await owner.wait_for(lambda: len(lists) == 1)
        assert set(lists[0].contacts) == {"bob@example.com", "carol@example.com"}

        # a reconnect is the same endpoint, from the stored address book
        first_guid = row.machine_guid
        await bridged.drop_the_bridges_connection()  # the user's Messenger stays
        assert len(lists) == 2
        assert set(lists[1].contacts) == {"bob@example.com", "carol@example.com"}
        assert row.machine_guid == first_guid
        bridge_endpoints = [
            ep for ep in server.endpoints[ALICE] if ep.machine_guid == first_guid.lower()
        ]
        assert len(bridge_endpoints) == 1 and bridge_endpoints[0].ep_name == "Matrix bridge"
        assert messenger.connected and len(server.endpoints[ALICE]) == 2


async def test_the_users_messenger_stays_signed_in_when_the_bridge_signs_in() -> None:
    async with running_server() as server:
        messenger = MSNClient(client_config(server, 18), Recorder())
        await messenger.login(ALICE, ALICE_PASSWORD, machine_guid=OWN_MESSENGER)
        config = make_config(server.server_address, server.passport_url)
        config["msn.protocol_max"] = 18
        session, _ = make_session(config, DBUser(mxid="@alice:hs"))
        try:
            await session.login(ALICE, ALICE_PASSWORD)
            # a round trip on the Messenger's connection: an OUT OTH would have ended it
            await messenger.set_personal_message("still here")
            assert messenger.connected and session.connected
            assert len(server.endpoints[ALICE]) == 2
        finally:
            await session.stop()
            await messenger.close()


async def test_a_reconnect_keeps_the_address_book_again_only_when_it_changed(
    db: Database,
) -> None:
    user_row = DBUser(mxid="@alice:hs")
    await user_row.insert()
    async with running_server() as server, _bridged_at_msnp18(server, user_row) as bridged:
        await bridged.session.login(ALICE, ALICE_PASSWORD)
        row = bridged.owner.row
        written = await row.read_ab_cache()
        assert written is not None
        # the same lists in other JSON: it stays as it is unless the book is written again
        same = json.dumps(json.loads(written), indent=1)
        await row.write_ab_cache(same)

        await bridged.drop_the_bridges_connection()  # nothing changed: the deltas are empty
        assert await row.read_ab_cache() == same

        await bridged.messenger.add_group("Work")  # the user's own Messenger changes the book
        await bridged.drop_the_bridges_connection()
        kept = await row.read_ab_cache()
        assert kept != same
        cache = load_cache(kept)
        assert cache is not None and "Work" in {g.name for g in cache.book.groups}
        assert {c.email for c in cache.book.contacts} == {
            "bob@example.com",
            "carol@example.com",
        }
