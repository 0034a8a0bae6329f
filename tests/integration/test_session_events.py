"""What MSN contacts send is stored from arrival until handled: a bridge stop with a backlog
of received messages loses none of them, and the next start hands them on first, in order
(on SQLite and PostgreSQL, with messages from a real contact through the MSN test server);
the record of a message's Matrix copy removes the stored message in the same transaction."""

from __future__ import annotations

from types import SimpleNamespace
import asyncio
import logging

from mautrix.types import EventID, UserID
from mautrix.util.async_db import Database
from mautrix.util.logging import TraceLogger
import pytest

from bridge.db.incoming import Incoming
from bridge.db.message import Message
from bridge.db.portal import Portal as DBPortal
from bridge.db.user import User as DBUser
from bridge.inbox import Inbox, decode, encode
from bridge.msnp.client import MSNClient
from bridge.msnp.events import (
    Disconnected,
    MessageFormat,
    NudgeReceived,
    OtherMessageReceived,
    TextMessageReceived,
)
from bridge.portal.from_msn import MSNToMatrix
from bridge.session_events import SessionEvents
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import client_config, logged_in

pytestmark = pytest.mark.timeout(60)

OWNER = UserID("@alice:hs")
LOG = logging.getLogger("mau.test.session_events")
assert isinstance(LOG, TraceLogger)


def test_stored_messages_read_back_the_same() -> None:
    events = [
        TextMessageReceived(
            "bob@example.com",
            "bob@example.com",
            "Bob ☃",
            "hi\r\nthere ä€ 😀 \x00",
            MessageFormat("Comic Sans MS", "BI", "ff0000", "0", "22", True),
            ("bob@example.com",),
        ),
        NudgeReceived("group:ab12", "carol@example.com", ("bob@example.com", "carol@example.com")),
        OtherMessageReceived(
            "bob@example.com",
            "bob@example.com",
            "application/x-msnmsgrp2p",
            {"P2P-Dest": "alice@example.com"},
            bytes(range(256)),
            ("bob@example.com",),
        ),
    ]
    for evt in events:
        assert decode(type(evt).__name__, encode(evt)) == evt


async def test_a_stop_keeps_the_backlog_and_the_next_start_hands_it_on_first(
    db: Database,
) -> None:
    await DBUser(mxid=OWNER).insert()
    handled: list[str] = []
    release = asyncio.Event()

    async def slow_handler(evt: TextMessageReceived) -> None:
        await release.wait()  # e.g. the homeserver is slow
        handled.append(evt.text)

    async def on_disconnected(client: MSNClient, evt: Disconnected) -> None:
        pass

    async with running_server() as server:
        current: list[MSNClient] = []
        events = SessionEvents(
            OWNER, LOG, limit=200, current=lambda: current[0], on_disconnected=on_disconnected
        )
        events.on(TextMessageReceived, slow_handler)
        alice = MSNClient(client_config(server, 12), events.handler_for(lambda: current[0]))
        current.append(alice)
        await alice.login("alice@example.com", "alice123")
        bob, _ = await logged_in(server, "bob@example.com", 12)
        try:
            for i in range(5):
                await bob.send_text("alice@example.com", f"m{i}")  # acknowledged by MSN
            # all five stored on arrival, the first one being handled
            async with asyncio.timeout(10):
                while len(await Incoming.all_in_order()) < 5:
                    await asyncio.sleep(0.05)
            stopping = asyncio.create_task(events.stop())
            await asyncio.sleep(0)
            release.set()  # the one being handled finishes; the stop waits for it
            await stopping
        finally:
            await alice.close()
            await bob.close()
    assert handled == ["m0"]
    rows = await Incoming.all_in_order()
    assert [decode(r.kind, r.data).text for r in rows] == [f"m{i}" for i in range(1, 5)]  # type: ignore[attr-defined]

    # the next start: the stored messages first, then what arrives after, nothing twice
    after_restart: list[str] = []
    done = asyncio.Event()

    async def handler(evt: TextMessageReceived) -> None:
        after_restart.append(evt.text)
        if len(after_restart) == 5:
            done.set()

    again = SessionEvents(
        OWNER, LOG, limit=200, current=lambda: None, on_disconnected=on_disconnected
    )
    again.on(TextMessageReceived, handler)
    again.replay(rows)
    await again.handler_for(lambda: None)(  # type: ignore[arg-type]
        TextMessageReceived(
            "bob@example.com", "bob@example.com", "Bob", "new", MessageFormat(), ()
        )
    )
    await asyncio.wait_for(done.wait(), 10)
    assert after_restart == ["m1", "m2", "m3", "m4", "new"]
    async with asyncio.timeout(5):
        while await Incoming.all_in_order():
            await asyncio.sleep(0.05)


async def test_a_disconnection_is_handled_ahead_of_a_backlog(db: Database) -> None:
    # Received messages wait for a slow homeserver; the connection drops meanwhile. The
    # session must learn it at once (to reconnect), not after the backlog is in Matrix.
    await DBUser(mxid=OWNER).insert()
    release = asyncio.Event()
    handled: list[str] = []
    disconnected = asyncio.Event()

    async def slow_handler(evt: TextMessageReceived) -> None:
        await release.wait()
        handled.append(evt.text)

    async def on_disconnected(client: MSNClient, evt: Disconnected) -> None:
        disconnected.set()

    async with running_server() as server:
        current: list[MSNClient] = []
        events = SessionEvents(
            OWNER, LOG, limit=200, current=lambda: current[0], on_disconnected=on_disconnected
        )
        events.on(TextMessageReceived, slow_handler)
        alice = MSNClient(client_config(server, 12), events.handler_for(lambda: current[0]))
        current.append(alice)
        await alice.login("alice@example.com", "alice123")
        bob, _ = await logged_in(server, "bob@example.com", 12)
        try:
            for i in range(3):
                await bob.send_text("alice@example.com", f"m{i}")
            await server.drop("alice@example.com")
            await asyncio.wait_for(disconnected.wait(), 10)
            assert handled == []  # the backlog is still waiting
            release.set()
            async with asyncio.timeout(10):
                while len(handled) < 3:
                    await asyncio.sleep(0.02)
            assert handled == ["m0", "m1", "m2"]  # and is handed on all the same
        finally:
            await alice.close()
            await bob.close()
            await events.stop()


async def test_the_record_of_the_matrix_copy_removes_the_stored_message_with_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The message's copy is recorded in Matrix; the bridge then dies before it could remove
    # the stored message separately. The stored message must be gone all the same (removed in
    # the record's own transaction), or the next start would bring it to Matrix a second time.
    await DBUser(mxid=OWNER).insert()
    await DBPortal(owner=OWNER, conv_key="bob@example.com", room_id="!dm:hs").insert()
    portal = SimpleNamespace(mxid="!dm:hs", owner=OWNER, conv_key="bob@example.com", log=LOG)
    to_matrix = MSNToMatrix(portal)  # type: ignore[arg-type]
    handled = asyncio.Event()

    async def handler(evt: TextMessageReceived) -> None:
        assert await Incoming.all_in_order()  # stored while it is handled
        await to_matrix._record_incoming(EventID("$copy"), evt.sender)
        handled.set()

    async def never_removed_separately(self: object, seq: int) -> None:
        raise ConnectionError("the bridge died here")

    monkeypatch.setattr(Inbox, "done", never_removed_separately)

    async def on_disconnected(client: MSNClient, evt: Disconnected) -> None:
        pass

    events = SessionEvents(
        OWNER, LOG, limit=200, current=lambda: None, on_disconnected=on_disconnected
    )
    events.on(TextMessageReceived, handler)
    await events.handler_for(lambda: None)(  # type: ignore[arg-type]
        TextMessageReceived("bob@example.com", "bob@example.com", "Bob", "hi", MessageFormat(), ())
    )
    await asyncio.wait_for(handled.wait(), 10)
    await events.stop()
    record = await Message.get_by_mxid("!dm:hs", "$copy")
    assert record is not None and record.direction == "in" and record.sender == "bob@example.com"
    assert await Incoming.all_in_order() == []
