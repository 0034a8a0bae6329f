"""A login turn of the bridge-wide gate holds only the network login: what a login needs from
the database and the user's display picture are ready before the turn, so a restart storm
reaches the gate's limit however slow the database or the homeserver is."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
from io import BytesIO
import asyncio
import base64
import hashlib
import logging
import re
import urllib.parse

from mautrix.types import ContentURI, UserID
from mautrix.util.async_db import Database
from mautrix.util.logging import TraceLogger
from PIL import Image
import pytest

from bridge import list_cache, session_login
from bridge.db.own_picture import OwnPicture
from bridge.db.user import User as DBUser
from bridge.msnp.values import ListCache
from bridge.own_avatar import OwnAvatar, to_display_picture
from bridge.reconnect import LoginGate
from tests.integration.test_session import make_config, make_session
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def server() -> AsyncIterator[MSNServer]:
    async with running_server() as server:
        yield server


def user_row(i: int) -> DBUser:
    return DBUser(mxid=f"@u{i}:hs", passport=f"user{i}@scale.example", password="password")


async def test_slow_database_reads_do_not_hold_a_login_turn(
    server: MSNServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One turn at a time: while the kept list of one user is slow to read, another logs in.
    server.seed_accounts(2, contacts=2, groups=1)
    config = make_config(server.server_address, server.passport_url)
    gate = LoginGate(1)
    (slow, slow_owner), (fast, fast_owner) = (
        make_session(config, user_row(i), gate) for i in (0, 1)
    )
    reading, release = asyncio.Event(), asyncio.Event()

    async def load(row: DBUser, passport: str) -> ListCache | None:
        if row is slow.row:
            reading.set()
            await release.wait()
        return None  # nothing kept: the list is downloaded

    monkeypatch.setattr(list_cache, "load", load)
    try:
        slow.ensure_started()
        await asyncio.wait_for(reading.wait(), 10)
        fast.ensure_started()
        await fast_owner.wait_for(lambda: fast.connected, timeout=20)
        assert not slow.connected and gate.active == 0
        release.set()
        await slow_owner.wait_for(lambda: slow.connected, timeout=20)
        assert (gate.peak, gate.admitted) == (1, 2)
    finally:
        release.set()
        await asyncio.gather(slow.stop(), fast.stop())


class StalledHomeserver:
    """The appservice intent of :class:`OwnAvatar`, behind a backlog: avatar reads wait until
    :attr:`answer` is set, then return :attr:`avatars` (None: no avatar)."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.avatars: dict[str, ContentURI | None] = {}
        self.asked = 0
        self.api: Any = None  # no download: the tests' avatars are unchanged or removed

    async def get_avatar_url(self, mxid: UserID) -> ContentURI | None:
        self.asked += 1
        await self.answer.wait()
        return self.avatars[mxid]


def sha1d_of(msn_object: str | None) -> str | None:
    found = re.search(r'SHA1D="([^"]*)"', urllib.parse.unquote(msn_object or ""))
    return found.group(1) if found else None


async def test_a_restart_storm_does_not_wait_for_the_homeservers_avatars(
    server: MSNServer, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every user's picture was stored by the previous run; the homeserver is stalled. All log
    # in, up to the gate's limit at once, with the stored picture in the first CHG; once the
    # homeserver answers, the one whose avatar was removed meanwhile (its member event in the
    # homeserver's backlog) announces no picture, and only that one's avatar is read.
    users, limit = 6, 3
    # The first `limit` logins wait, each holding its turn, until that many hold one: the
    # limit is reached only if no login waits for the homeserver before its turn (without
    # this, how many overlap would depend on how fast the test server answers).
    in_turn, all_in = 0, asyncio.Event()
    network_login = session_login.log_in

    async def log_in_together(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_turn
        in_turn += 1
        if in_turn >= limit:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 20)
        return await network_login(*args, **kwargs)

    monkeypatch.setattr(session_login, "log_in", log_in_together)
    server.seed_accounts(users, contacts=2, groups=1)
    config = make_config(server.server_address, server.passport_url)
    config["bridge.reconnect.stable_after"] = 30
    gate = LoginGate(limit)
    out = BytesIO()
    Image.new("RGB", (50, 30), (200, 30, 30)).save(out, "PNG")
    picture = to_display_picture(out.getvalue())
    sha1d = base64.b64encode(hashlib.sha1(picture).digest()).decode()
    homeserver = StalledHomeserver()
    sessions, avatars = [], []
    for i in range(users):
        row = user_row(i)
        await row.insert()
        mxc = ContentURI(f"mxc://hs/avatar{i}")
        await OwnPicture(mxid=row.mxid, mxc=mxc, picture=picture).store()
        homeserver.avatars[row.mxid] = None if i == 0 else mxc
        session, owner = make_session(config, row, gate)
        log = logging.getLogger(f"mau.test.avatar.{i}")
        assert isinstance(log, TraceLogger)
        avatar = OwnAvatar(UserID(row.mxid), homeserver, log)  # type: ignore[arg-type]
        session.before_login = avatar.before_login
        sessions.append((session, owner))
        avatars.append(avatar)
    server.reset_stats()
    try:
        for session, _ in sessions:
            session.ensure_started()
        for session, owner in sessions:
            await owner.wait_for(lambda s=session: s.connected, timeout=30)  # type: ignore[misc]
        assert not homeserver.answer.is_set()
        stats = server.stats()
        assert stats["logins"] == users and stats["logins_in_progress_max"] <= limit, stats
        assert gate.peak == limit
        for i in range(users):
            ns = server.ns_session(f"user{i}@scale.example")
            assert ns is not None and sha1d_of(ns.msn_object) == sha1d, i

        homeserver.answer.set()
        await avatars[0].changed()
        for (session, _), avatar in zip(sessions, avatars, strict=True):
            assert session.client is not None
            await avatar.after_login(session.client)
        assert homeserver.asked == 1
        removed = server.ns_session("user0@scale.example")
        assert removed is not None and removed.msn_object is None
        kept = server.ns_session("user1@scale.example")
        assert kept is not None and sha1d_of(kept.msn_object) == sha1d
        stored = await OwnPicture.get("@u0:hs")
        assert stored is not None and (stored.mxc, stored.picture) == (None, None)
    finally:
        homeserver.answer.set()
        await asyncio.gather(*(session.stop() for session, _ in sessions))


@pytest.mark.parametrize("next_process", [False, True], ids=["same process", "next process"])
async def test_an_avatar_change_while_away_is_read_after_the_next_login(
    server: MSNServer, db: Database, next_process: bool
) -> None:
    # A login with the stored picture and no change reads nothing. The homeserver then tells
    # of a new avatar (removed) while the user is not connected: the next login reads it, also
    # in the next process when the bridge stopped before (the stored picture was dropped).
    server.seed_accounts(1, contacts=1, groups=1)
    config = make_config(server.server_address, server.passport_url)
    out = BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, "PNG")
    picture = to_display_picture(out.getvalue())
    row = user_row(0)
    await row.insert()
    mxc = ContentURI("mxc://hs/avatar0")
    await OwnPicture(mxid=row.mxid, mxc=mxc, picture=picture).store()
    homeserver = StalledHomeserver()
    homeserver.answer.set()
    homeserver.avatars[row.mxid] = mxc
    log = logging.getLogger("mau.test.avatar.away")
    assert isinstance(log, TraceLogger)

    def own_avatar() -> OwnAvatar:
        return OwnAvatar(UserID(row.mxid), homeserver, log)  # type: ignore[arg-type]

    async def logged_in(avatar: OwnAvatar) -> Any:
        session, owner = make_session(config, row, LoginGate(1))
        session.before_login = avatar.before_login
        session.ensure_started()
        await owner.wait_for(lambda: session.connected, timeout=30)
        assert session.client is not None
        await avatar.after_login(session.client)
        return session

    avatar = own_avatar()
    session = await logged_in(avatar)
    try:
        assert homeserver.asked == 0
        ns = server.ns_session("user0@scale.example")
        assert ns is not None and sha1d_of(ns.msn_object) is not None
    finally:
        await session.stop()
    homeserver.avatars[row.mxid] = None
    await avatar.changed()
    assert await OwnPicture.get(row.mxid) is None and homeserver.asked == 0

    session = await logged_in(own_avatar() if next_process else avatar)
    try:
        assert homeserver.asked == 1
        ns = server.ns_session("user0@scale.example")
        assert ns is not None and ns.msn_object is None
        stored = await OwnPicture.get(row.mxid)
        assert stored is not None and (stored.mxc, stored.picture) == (None, None)
    finally:
        await session.stop()


async def test_an_avatar_change_before_the_stored_picture_was_read_drops_it(db: Database) -> None:
    # The homeserver's backlog can tell of a change before the user's first login of the
    # process read the stored picture: it is dropped all the same, and the login reads the
    # avatar as if none were stored.
    await user_row(0).insert()
    await OwnPicture(mxid="@u0:hs", mxc="mxc://hs/old", picture=b"old").store()
    homeserver = StalledHomeserver()
    log = logging.getLogger("mau.test.avatar.early")
    assert isinstance(log, TraceLogger)
    avatar = OwnAvatar(UserID("@u0:hs"), homeserver, log)  # type: ignore[arg-type]
    await avatar.changed()
    assert await OwnPicture.get("@u0:hs") is None and homeserver.asked == 0
