"""The MSN session of a bridge user against the MSN test server, without a homeserver: one open
path for `login` and reconnects, backoff, bridge states, notices and the event handler table."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator, Callable
from pathlib import Path
import asyncio
import contextlib
import gc
import logging

from mautrix.types import EventID, UserID
from mautrix.util.bridge_state import BridgeStateEvent
from mautrix.util.logging import TraceLogger
import pytest

from bridge import own_presence, texts
from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPError
from bridge.msnp.events import ListSynced, LoggedIn, PresenceChanged
from bridge.msnp.values import DisconnectReason, Status
from bridge.reconnect import LoginGate
from bridge.session import MSNSession
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import PASSWORDS, Recorder, client_config
from tests.support.harness import poll

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"
ALICE, ALICE_PASSWORD = "alice@example.com", "alice123"
BOB = "bob@example.com"
BOB_PASSWORD = PASSWORDS[BOB]


class RecordingOwner:
    """Stands in for the Matrix user: records notices, bridge states and saves."""

    def __init__(self, row: DBUser) -> None:
        self.mxid = UserID(row.mxid)
        self.row = row
        self.notices: list[str] = []
        self.states: list[tuple[BridgeStateEvent, str | None]] = []
        self.saves = 0
        self.failing_saves = 0  # the next saves that raise
        self._stored = row.column_values()
        self.offline_marks = 0
        self._changed = asyncio.Event()

    def _kick(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def save(self) -> None:
        self.saves += 1
        if self.failing_saves:
            self.failing_saves -= 1
            raise OSError("database gone")
        self._stored = self.row.column_values()

    def unsaved(self) -> bool:
        return self.row.column_values() != self._stored

    async def send_bridge_notice(self, text: str, *, html: str | None = None) -> EventID | None:
        self.notices.append(text)
        self._kick()
        return None

    async def push_bridge_state(
        self, state_event: BridgeStateEvent, error: str | None = None, message: str | None = None
    ) -> None:
        self.states.append((state_event, error))
        self._kick()

    async def mark_contacts_offline(self) -> None:
        self.offline_marks += 1

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()


def make_config(server_address: str, passport_url: str | None) -> Config:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    for key, value in {
        "msn.server": server_address,
        "msn.passport_url": passport_url,
        "msn.nexus_url": None,
        "msn.force_scheme": None,
        "msn.protocol_max": 12,  # the MSNP12 session (Passport ticket, SYN); 13-18: *_msnp13.py
        "msn.connect_timeout": 5,
        "msn.transaction_timeout": 5,
        "bridge.reconnect.initial_delay": 0.1,
        "bridge.reconnect.max_delay": 0.2,
        "bridge.reconnect.stable_after": 0.5,
    }.items():
        config[key] = value
    return config


def make_session(
    config: Config, row: DBUser, gate: LoginGate | None = None
) -> tuple[MSNSession, RecordingOwner]:
    owner = RecordingOwner(row)
    log = logging.getLogger(f"mau.test.session.{row.mxid}")
    assert isinstance(log, TraceLogger)
    return MSNSession(owner, config, log, gate or LoginGate(10)), owner


@pytest.fixture
async def server() -> AsyncIterator[MSNServer]:
    async with running_server() as server:
        yield server


async def test_login_and_reconnect_open_the_session_the_same_way(server: MSNServer) -> None:
    session, owner = make_session(
        make_config(server.server_address, server.passport_url), DBUser(mxid="@alice:hs")
    )
    lists: list[ListSynced] = []
    logins = asyncio.Queue[LoggedIn]()

    async def on_list(evt: ListSynced) -> None:
        lists.append(evt)

    session.on(ListSynced, on_list)
    session.on(LoggedIn, logins.put)
    try:
        result = await session.login(ALICE, ALICE_PASSWORD)
        row = owner.row
        assert (row.passport, row.password, row.protocol) == (ALICE, ALICE_PASSWORD, 12)
        assert row.ticket and row.ticket_expiry and not row.credentials_lost
        assert owner.saves == 1 and session.connected and result.protocol == 12
        assert owner.states == [(BridgeStateEvent.CONNECTED, None)]
        await asyncio.wait_for(logins.get(), 5)
        await owner.wait_for(lambda: len(lists) == 1)
        assert set(lists[0].contacts) == {"bob@example.com", "carol@example.com"}

        # the server drops the connection: the stored credentials open a new session
        await server.drop(ALICE)
        await owner.wait_for(lambda: texts.RECONNECTED in owner.notices)
        assert owner.notices == [
            texts.disconnected(DisconnectReason.CONNECTION_LOST, 0.1),
            texts.RECONNECTED,
        ]
        assert [s for s, _ in owner.states] == [
            BridgeStateEvent.CONNECTED,
            BridgeStateEvent.TRANSIENT_DISCONNECT,
            BridgeStateEvent.CONNECTING,
            BridgeStateEvent.CONNECTED,
        ]
        await asyncio.wait_for(logins.get(), 5)  # the handlers belong to the session
        await owner.wait_for(lambda: len(lists) == 2)
        assert session.connected and server.online(ALICE) == "NLN"
        assert owner.saves == 1  # the reconnect (the kept ticket) changed nothing to save
    finally:
        await session.stop()
    assert not session.connected


async def test_a_login_whose_save_failed_saves_at_the_next_login(server: MSNServer) -> None:
    """A login that changes nothing in the user's row does not write it; one whose save
    failed (the login fails with it) writes it at the next login, which changes nothing."""
    row = DBUser(mxid="@alice:hs", passport=ALICE, password=ALICE_PASSWORD)
    session, owner = make_session(make_config(server.server_address, server.passport_url), row)
    owner.failing_saves = 1
    try:
        session.ensure_started()  # the first attempt fails at the save, the retry saves
        await owner.wait_for(lambda: session.connected)
        assert owner.saves == 2 and not owner.unsaved() and row.ticket and row.protocol == 12
        await session.reconnect()
        await owner.wait_for(lambda: _connected_count(owner) == 2)
        assert session.connected and owner.saves == 2  # nothing changed since the last save
    finally:
        await session.stop()


def _connected_count(owner: RecordingOwner) -> int:
    return sum(state == BridgeStateEvent.CONNECTED for state, _ in owner.states)


async def test_rejected_stored_password_is_not_retried(server: MSNServer) -> None:
    row = DBUser(mxid="@alice:hs", passport=ALICE, password="not-the-password")
    session, owner = make_session(make_config(server.server_address, server.passport_url), row)
    try:
        session.ensure_started()
        await owner.wait_for(lambda: texts.CREDENTIALS_REJECTED in owner.notices)
        assert owner.states[-1] == (BridgeStateEvent.BAD_CREDENTIALS, texts.STATE_BAD_CREDENTIALS)
        # the connect loop has ended: `ping` does not say "connecting"
        assert session.state_description().startswith("the stored credentials were rejected")
        assert [s for s, _ in owner.states].count(BridgeStateEvent.CONNECTING) == 1
    finally:
        await session.stop()


async def test_stopping_during_a_connect_is_quiet() -> None:
    # A server that accepts connections and never answers: the sessions are stopped (as at
    # bridge shutdown, all at once) while they wait for the reply to VER. That is a shutdown,
    # not a failed connection: no notice, no error state.
    received: list[bytes] = []
    writers: list[asyncio.StreamWriter] = []
    all_waiting = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        received.append(await reader.readline())
        if len(received) == SESSIONS:
            all_waiting.set()
        with contextlib.suppress(ConnectionError):
            await reader.read()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    config = make_config(f"127.0.0.1:{listener.sockets[0].getsockname()[1]}", None)
    sessions = [
        make_session(config, DBUser(mxid=f"@u{i}:hs", passport=ALICE, password=ALICE_PASSWORD))
        for i in range(SESSIONS)
    ]
    try:
        for session, _ in sessions:
            session.ensure_started()
        await asyncio.wait_for(all_waiting.wait(), 5)
        assert all(line.startswith(b"VER ") for line in received)
        connecting = _tasks_named("msn-connect-")
        assert len(connecting) == SESSIONS
        await asyncio.gather(*(session.stop() for session, _ in sessions))
        await asyncio.wait_for(asyncio.gather(*connecting, return_exceptions=True), 5)
        for _, owner in sessions:
            assert owner.notices == []
            assert owner.states == [(BridgeStateEvent.CONNECTING, None)]
    finally:
        for writer in writers:
            writer.close()
        listener.close()
        await listener.wait_closed()


SESSIONS = 10


def _tasks_named(prefix: str) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith(prefix)]


async def test_a_flapping_server_meets_growing_delays_and_one_notice(server: MSNServer) -> None:
    # The server drops every session shortly after its login. Each login succeeds, so a
    # backoff that starts again at every login retries every initial_delay and tells the user
    # twice per round ("Disconnected", "Reconnected"); it must grow instead, and the user
    # hears once that the connection is lost and once that it is back.
    config = make_config(server.server_address, server.passport_url)
    config["bridge.reconnect.initial_delay"] = 0.1
    config["bridge.reconnect.max_delay"] = 10
    config["bridge.reconnect.stable_after"] = 1.0
    session, owner = make_session(config, DBUser(mxid="@alice:hs"))
    server.drop_after_login = 0.2
    try:
        await session.login(ALICE, ALICE_PASSWORD)
        logins_before = server.counters["logins"]
        await asyncio.sleep(3.0)
        logins = server.counters["logins"] - logins_before
        # delays drawn from [0.05, 0.1], [0.1, 0.2], [0.2, 0.4], ...: at most 6 rounds fit in
        # 3 s even at their shortest (each round also spends 0.2 s logged in); a backoff that
        # restarts at every login makes about one round per 0.35 s
        assert 2 <= logins <= 6, logins
        assert owner.notices == [texts.disconnected(DisconnectReason.CONNECTION_LOST, 0.1)]
        # the server behaves again: the next session stays up, and the incident is over
        server.drop_after_login = None
        await owner.wait_for(lambda: texts.RECONNECTED in owner.notices, timeout=15)
        assert owner.notices == [
            texts.disconnected(DisconnectReason.CONNECTION_LOST, 0.1),
            texts.RECONNECTED,
        ]
        assert session.connected
    finally:
        server.drop_after_login = None
        await session.stop()


async def test_logins_in_progress_are_limited_across_all_users(server: MSNServer) -> None:
    # A restart with many stored users: every session connects at once, but no more than
    # the gate's limit log in at the same time (the server counts logins in progress).
    users = 12
    server.seed_accounts(users, contacts=2, groups=1)
    config = make_config(server.server_address, server.passport_url)
    gate = LoginGate(2)
    sessions = [
        make_session(
            config,
            DBUser(mxid=f"@u{i}:hs", passport=f"user{i}@scale.example", password="password"),
            gate,
        )
        for i in range(users)
    ]
    server.reset_stats()
    try:
        for session, _ in sessions:
            session.ensure_started()
        for session, owner in sessions:
            await owner.wait_for(lambda s=session: s.connected, timeout=30)  # type: ignore[misc]
        stats = server.stats()
        assert stats["logins"] == users
        assert stats["logins_in_progress_max"] <= 2, stats
        assert (gate.peak, gate.admitted, gate.active, gate.waiting) == (2, users, 0, 0)
    finally:
        await asyncio.gather(*(session.stop() for session, _ in sessions))


async def test_the_chosen_status_name_and_message_survive_reconnects(server: MSNServer) -> None:
    # Bob watches Alice. Alice chose Appear Offline, a name and a personal message: every
    # connection starts hidden (its first CHG is HDN, so Bob is never told she is online)
    # and puts back the name and message when the server's differ.
    bob = MSNClient(client_config(server, 12), Recorder())
    await bob.login(BOB, BOB_PASSWORD)
    row = DBUser(
        mxid="@alice:hs",
        passport=ALICE,
        password=ALICE_PASSWORD,
        chosen_status=Status.HIDDEN.value,
        chosen_friendly_name="Alice, chosen",
        chosen_personal_message="gone fishing",
    )
    session, owner = make_session(make_config(server.server_address, server.passport_url), row)
    try:
        session.ensure_started()
        await owner.wait_for(lambda: session.connected)
        assert server.online(ALICE) == "HDN"
        assert server.account(ALICE).name == "Alice, chosen"
        assert b"gone fishing" in server.account(ALICE).psm

        # changed elsewhere meanwhile; the connection drops; the bridge connects again
        server.account(ALICE).name, server.account(ALICE).psm = "Changed elsewhere", b""
        await server.drop(ALICE)
        await owner.wait_for(lambda: texts.RECONNECTED in owner.notices)
        assert server.online(ALICE) == "HDN"
        assert server.account(ALICE).name == "Alice, chosen"
        assert b"gone fishing" in server.account(ALICE).psm
        assert server.shown_as(ALICE) == []  # nobody was ever told she was online

        # a new choice is applied at once and kept (Bob sees this one)
        assert await own_presence.choose(row, owner.save, session.client, status=Status.BUSY)
        assert server.online(ALICE) == "BSY" and row.chosen_status == "BSY"
        assert server.shown_as(ALICE, to=BOB) == ["BSY"]
    finally:
        await session.stop()
        await bob.close()


async def test_a_choice_made_offline_waits_and_a_refused_one_is_not_kept(
    server: MSNServer,
) -> None:
    row = DBUser(mxid="@alice:hs", passport=ALICE, password=ALICE_PASSWORD)
    session, owner = make_session(make_config(server.server_address, server.passport_url), row)
    try:
        # not connected: stored, applied at the next connection
        assert not await own_presence.choose(row, owner.save, None, status=Status.AWAY)
        assert row.chosen_status == "AWY" and owner.saves == 1
        session.ensure_started()
        await owner.wait_for(lambda: session.connected)
        assert server.online(ALICE) == "AWY"
        assert server.shown_as(ALICE) == []  # Bob is offline: nobody to tell

        # MSN refuses a name longer than it allows: the earlier choice stays
        assert await own_presence.choose(row, owner.save, session.client, friendly_name="Ally")
        with pytest.raises(MSNPError):
            await own_presence.choose(row, owner.save, session.client, friendly_name="€" * 129)
        assert row.chosen_friendly_name == "Ally" and server.account(ALICE).name == "Ally"
    finally:
        await session.stop()


def _events_in_memory(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


async def test_a_flood_waits_at_the_server_not_in_the_bridge(server: MSNServer) -> None:
    # While the handlers are stuck, 20,000 presence lines for different addresses must not
    # pile up in the bridge: its queue fills, then the client's, then the client stops
    # reading (the rest waits in socket buffers and the server). Nothing is dropped: once the
    # handlers go on, every event arrives, in order.
    config = make_config(server.server_address, server.passport_url)
    config["bridge.limits.event_queue"] = 50
    session, _ = make_session(config, DBUser(mxid="@alice:hs"))
    release = asyncio.Event()
    seen: list[str] = []

    async def on_presence(evt: PresenceChanged) -> None:
        await release.wait()
        if evt.passport.endswith("@flood.example"):
            seen.append(evt.passport)

    session.on(PresenceChanged, on_presence)
    count = 20_000
    try:
        await session.login(ALICE, ALICE_PASSWORD)
        client = session.client
        assert client is not None
        before = _events_in_memory(PresenceChanged)
        flood = b"".join(b"NLN NLN p%d@flood.example P%d 0\r\n" % (i, i) for i in range(count))
        await server.send_raw(ALICE, flood)

        async def client_queue_full() -> bool:
            limit = client.config.max_pending_events
            return client.counters["events_queued_peak"] >= limit

        await poll(client_queue_full, 15, "the MSN client's own queue to fill (back-pressure)")
        waiting = _events_in_memory(PresenceChanged) - before
        assert waiting <= client.config.max_pending_events + 50 + 10, waiting
        assert session.counters["events_waiting"] <= 50
        assert session.counters["backpressure_waits"] >= 1

        release.set()

        async def all_seen() -> bool:
            return len(seen) >= count

        await poll(all_seen, 60, f"all {count} presence events handled")
        assert seen == [f"p{i}@flood.example" for i in range(count)]
        assert session.counters["typing_dropped"] == 0
    finally:
        release.set()
        await session.stop()
