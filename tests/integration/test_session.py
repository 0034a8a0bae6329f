"""The MSN session of a bridge user against the MSN test server, without a homeserver: one open
path for `login` and reconnects, backoff, bridge states, notices and the event handler table."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator, Callable
from pathlib import Path
import asyncio
import contextlib
import logging

from mautrix.types import EventID, UserID
from mautrix.util.bridge_state import BridgeStateEvent
from mautrix.util.logging import TraceLogger
import pytest

from bridge import texts
from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.msnp.events import DisconnectReason, ListSynced, LoggedIn
from bridge.session import MSNSession
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"
ALICE, ALICE_PASSWORD = "alice@example.com", "alice123"


class RecordingOwner:
    """Stands in for the Matrix user: records notices, bridge states and saves."""

    def __init__(self, row: DBUser) -> None:
        self.mxid = UserID(row.mxid)
        self.row = row
        self.notices: list[str] = []
        self.states: list[tuple[BridgeStateEvent, str | None]] = []
        self.saves = 0
        self.offline_marks = 0
        self._changed = asyncio.Event()

    def _kick(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def save(self) -> None:
        self.saves += 1

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
        "msn.connect_timeout": 5,
        "msn.transaction_timeout": 5,
        "bridge.reconnect.initial_delay": 0.1,
        "bridge.reconnect.max_delay": 0.2,
    }.items():
        config[key] = value
    return config


def make_session(config: Config, row: DBUser) -> tuple[MSNSession, RecordingOwner]:
    owner = RecordingOwner(row)
    log = logging.getLogger(f"mau.test.session.{row.mxid}")
    assert isinstance(log, TraceLogger)
    return MSNSession(owner, config, log), owner


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
    finally:
        await session.stop()
    assert not session.connected


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
