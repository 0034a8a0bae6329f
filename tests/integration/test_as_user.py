"""What the user did on MSN outside Matrix, shown in their room: the portal's
``post_as_user`` and ``leave_as_user`` called directly, with the bridge's portal, puppet and
double-puppet code in this process against a real Synapse (the bridge's registration and the
homeserver's appservice double-puppet registration), and a Matrix client for the user.

With double puppeting the message and the leave are the user's own Matrix events; without it,
a notice "You wrote from Messenger: …" and a removal by the bridge. A message whose MSN sender
is the user goes the same way (the MSNP16+ echo of their other endpoints).
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
import asyncio
import re

from mautrix.api import Method, Path as MatrixPath
from mautrix.appservice import AppService
from mautrix.types import (
    EventID,
    EventType,
    Membership,
    MessageType,
    PresenceState,
    RoomID,
    TextMessageEventContent,
    UserID,
)
from mautrix.util.async_db import Database
from mautrix.util.message_send_checkpoint import MessageSendCheckpointStatus
from ruamel.yaml import YAML
import pytest
import pytest_asyncio

from bridge import db as bridge_db, double_puppet
from bridge.config import Config, base_config_path
from bridge.credentials import CredentialCipher, generate_key
from bridge.db.puppet import Puppet as DBPuppet
from bridge.db.user import User as DBUser
from bridge.msnp.events import MessageFormat, TextMessageReceived
from bridge.portal import Portal
from bridge.portal.cache import PortalCache
from bridge.puppet import Puppet
from bridge.state_store import StateStore
from tests.support.double_puppet import write_registration
from tests.support.synapse import MatrixTestClient, SynapseServer, free_port, synapse_python

pytestmark = pytest.mark.skipif(
    synapse_python() is None, reason="Synapse not installed (tests/install-test-deps.sh)"
)

SERVER = "msn.test"
PASSPORT = "alice@example.com"


@dataclass
class Owner:
    """The portal's owner as the portal sees it (:class:`bridge.portal.interfaces.PortalOwner`)."""

    mxid: UserID
    passport: str | None = PASSPORT
    client: Any = None
    connected: bool = False

    def may_have_ghost(self, passport: str) -> bool:
        return True

    def msn_conversation(self, conv_key: str) -> str:
        return conv_key

    async def add_portal_to_space(self, portal: Any) -> None:
        pass

    async def update_direct_chats(self, dms: Any = None) -> None:
        pass

    def send_remote_checkpoint(
        self, status: MessageSendCheckpointStatus, *args: Any, **kwargs: Any
    ) -> None:
        pass


@dataclass
class World:
    synapse: SynapseServer
    user: MatrixTestClient
    owner: Owner
    bot: UserID
    db: Database
    az: AppService

    async def membership_event(self, room: RoomID) -> Any:
        """The user's membership event in ``room`` once they are out of it (as they may
        still read it)."""
        await self.user.wait_for(lambda: room in self.user.left, 20, f"leaving {room}")
        return await self.user.api.get_state_event(
            room, EventType.ROOM_MEMBER, self.user.mxid, format="event"
        )


def _config(tmp_path: Path, synapse_url: str, as_port: int, secret: str) -> Config:
    yaml = YAML()
    data = yaml.load(Path(base_config_path()).read_text())
    data["homeserver"]["address"] = synapse_url
    data["homeserver"]["domain"] = SERVER
    data["appservice"]["address"] = f"http://127.0.0.1:{as_port}"
    data["appservice"]["port"] = as_port
    data["appservice"]["database"] = f"sqlite:{tmp_path / 'bridge.db'}"
    data["bridge"]["permissions"] = {SERVER: "user"}
    data["bridge"]["presence"]["enabled"] = False
    data["bridge"]["login_shared_secret_map"] = {SERVER: secret}
    data["msn"]["passport_url"] = "http://127.0.0.1:1/login"
    path = tmp_path / "config.yaml"
    with open(path, "w") as stream:
        yaml.dump(data, stream)
    path.chmod(0o600)
    config = Config(str(path), str(tmp_path / "registration.yaml"), base_config_path())
    config.load()
    config.update(save=True)
    config.generate_registration()
    config.save()
    return config


@pytest_asyncio.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    as_port = free_port()
    synapse = SynapseServer(workdir=tmp_path / "hs", server_name=SERVER, port=free_port())
    token = write_registration(tmp_path / "doublepuppet.yaml", SERVER)
    config = _config(tmp_path, synapse.url, as_port, f"as_token:{token}")
    synapse.app_service_config_files = [
        Path(config.registration_path),
        tmp_path / "doublepuppet.yaml",
    ]
    await synapse.start()
    db = Database.create(config["appservice.database"], upgrade_table=bridge_db.upgrade_table)
    await db.start()
    bridge_db.init(db, CredentialCipher(generate_key()))
    state = StateStore(db, Puppet.get_by_mxid, Puppet.get_by_custom_mxid)
    await state.upgrade_table.upgrade(db)
    az = AppService(
        server=synapse.url,
        domain=SERVER,
        as_token=config["appservice.as_token"],
        hs_token=config["appservice.hs_token"],
        bot_localpart=config["appservice.bot_username"],
        id=config["appservice.id"],
        state_store=state,
        bridge_name="matrix-msn",
    )
    await az.start(host="127.0.0.1", port=as_port)
    bridge = SimpleNamespace(
        az=az,
        loop=asyncio.get_running_loop(),
        matrix=SimpleNamespace(e2ee=None),
        config=config,
        get_puppet=Puppet.get_by_mxid,
    )
    saved = (Portal.cache, dict(Puppet.by_passport), dict(Puppet.by_custom_mxid))
    Portal.cache = PortalCache(Portal._load)
    Puppet.by_passport.clear()
    Puppet.by_custom_mxid.clear()
    Puppet.init_cls(bridge, config)  # type: ignore[arg-type]
    Portal.init_cls(bridge, config)  # type: ignore[arg-type]
    Portal.bridge = bridge  # type: ignore[assignment]
    double_puppet.configure(config)
    await az.intent.ensure_registered()
    user = await synapse.client("alice")
    await DBUser(mxid=user.mxid, passport=PASSPORT).insert()
    try:
        yield World(synapse, user, Owner(user.mxid), az.bot_mxid, db, az)
    finally:
        await user.close()
        Portal.cache, by_passport, by_custom = saved
        Puppet.by_passport.clear()
        Puppet.by_passport.update(by_passport)
        Puppet.by_custom_mxid.clear()
        Puppet.by_custom_mxid.update(by_custom)
        Puppet.double_puppets_loaded = False
        await az.stop()
        await db.stop()
        await synapse.stop()


async def _group_room(world: World, key: str = "group:00aa") -> tuple[Portal, RoomID]:
    portal = await Portal.get_by_key(world.owner.mxid, key)
    assert portal is not None
    portal.row.kind = "group"
    portal.row.participants = "bob@example.com carol@example.com"
    room = await portal.ensure_room(world.owner)
    assert room is not None
    await world.user.wait_for_invite(timeout=20)
    await world.user.join(room)
    return portal, room


def _text(body: str) -> TextMessageEventContent:
    return TextMessageEventContent(msgtype=MessageType.TEXT, body=body)


async def test_with_double_puppeting_the_message_and_the_leave_are_the_users_own(
    world: World,
) -> None:
    assert await double_puppet.enable(world.owner)
    stored = await DBPuppet.get_by_passport(PASSPORT)
    assert stored is not None and stored.custom_mxid == world.owner.mxid
    raw = await world.db.fetchval("SELECT access_token FROM puppet WHERE passport=$1", PASSPORT)
    assert raw and raw != stored.access_token  # encrypted at rest like passwords

    portal, room = await _group_room(world)
    event_id = await portal.from_msn.post_as_user(world.owner, _text("hi from my Messenger"))
    evt = await world.user.wait_for_message(room, "hi from my Messenger", sender=world.owner.mxid)
    assert evt["event_id"] == event_id
    # marked as the bridge's, so the bridge never sends it back to MSN
    assert evt["content"]["fi.mau.double_puppet_source"] == "matrix-msn"

    # the same path for a message whose MSN sender is the user (the MSNP16+ echo)
    echo = TextMessageReceived(
        conversation="group:00aa",
        sender=PASSPORT.upper(),
        sender_name="Alice",
        text="typed in Messenger",
        format=MessageFormat(),
        participants=("bob@example.com", "carol@example.com"),
    )
    await portal.from_msn.handle_text(world.owner, echo)
    await world.user.wait_for_message(room, "typed in Messenger", sender=world.owner.mxid)

    await portal.from_msn.leave_as_user(world.owner)
    left = await world.membership_event(room)
    assert left.content.membership == Membership.LEAVE
    assert left.sender == world.owner.mxid  # the user left; nobody kicked them
    assert await Portal.get_by_mxid(room) is None  # forgotten: a new message opens a new room


async def test_once_started_a_matrix_user_who_is_no_double_puppet_costs_no_query(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mautrix asks for each event from the homeserver whether its sender is a double puppet:
    after start-up (every stored one loaded) the answer comes from memory."""
    assert await double_puppet.enable(world.owner)
    Puppet.by_custom_mxid.clear()
    Puppet.by_passport.clear()
    await double_puppet.start_all()
    assert Puppet.double_puppets_loaded

    async def no_query(_mxid: str) -> None:
        raise AssertionError("the database was asked")

    monkeypatch.setattr(DBPuppet, "get_by_custom_mxid", no_query)
    mine = await Puppet.get_by_custom_mxid(world.owner.mxid)
    assert mine is not None and mine.passport == PASSPORT
    assert await Puppet.get_by_custom_mxid(UserID("@someone:hs.test")) is None
    await double_puppet.disable(world.owner)  # (switch_mxid keeps the map)
    assert await Puppet.get_by_custom_mxid(world.owner.mxid) is None


async def test_without_automatic_double_puppeting_a_login_reads_no_ghost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enable() runs at every MSN login. Once start-up loaded every double puppet, a user
    whose server has no automatic double puppeting costs no database read: one who gave a
    login-matrix token still has theirs, anyone else has none."""
    monkeypatch.setattr(Puppet, "double_puppets_loaded", False)
    assert await double_puppet.enable(world.owner)  # (the world's shared secret)
    Puppet.by_custom_mxid.clear()
    Puppet.by_passport.clear()
    await double_puppet.start_all()
    # no automatic login any more: the stored token stays, as one given with login-matrix
    monkeypatch.setattr(Puppet, "login_shared_secret_map", {})

    async def no_query(_passport: str) -> None:
        raise AssertionError("the database was asked")

    monkeypatch.setattr(DBPuppet, "get_by_passport", no_query)
    assert await double_puppet.enable(world.owner)
    assert not await double_puppet.enable(world.owner, "someone.else@example.com")
    await double_puppet.disable(world.owner)
    del Puppet.by_passport[PASSPORT]  # as after a restart: no double puppet, not loaded
    assert not await double_puppet.enable(world.owner)


async def test_a_ghosts_presence_goes_out_without_an_intent(world: World) -> None:
    """An IntentAPI is some 8 KiB of closures: a ghost whose presence is all that changes
    (every online contact after a restart) gets none, nor an API object of its own; its
    presence still reaches Synapse, as that ghost."""
    first = await Puppet.get_by_passport("carol@example.com")
    assert first is not None
    await first.ensure_ghost_registered()  # (a registration uses the intent)
    del Puppet.by_passport["carol@example.com"]  # as after a restart: read from the database
    del world.az.intent.api.children[first.default_mxid]  # (mautrix's API object for carol)
    ghost = await Puppet.get_by_passport("carol@example.com")
    assert ghost is not None and ghost is not first and ghost.is_registered
    await ghost.send_presence_now(PresenceState.UNAVAILABLE, "Busy - at work")
    assert ghost._default_intent is None and ghost._intent is None
    # nor mautrix's API object for the user, whose logger would stay for good (1.6 KiB)
    assert ghost.default_mxid not in world.az.intent.api.children
    own = world.az.intent.api.user(ghost.default_mxid)
    seen = await own.request(Method.GET, MatrixPath.v3.presence[ghost.default_mxid].status)
    assert (seen["presence"], seen.get("status_msg")) == ("unavailable", "Busy - at work")
    assert ghost.intent is ghost.default_mxid_intent  # made when first asked for
    assert ghost.intent.mxid == ghost.default_mxid


async def test_without_double_puppeting_a_notice_and_a_removal(world: World) -> None:
    Puppet.login_shared_secret_map = {}  # nothing configured, no login-matrix
    assert not await double_puppet.enable(world.owner)
    portal, room = await _group_room(world, "group:00bb")
    mark = world.user.mark(room)
    await portal.from_msn.post_as_user(world.owner, _text("hi from my Messenger"))
    notice = await world.user.wait_for_message(
        room, re.compile("^You wrote from Messenger: hi from my Messenger$"), after=mark
    )
    assert notice["sender"] == world.bot and notice["content"]["msgtype"] == "m.notice"

    await portal.from_msn.leave_as_user(world.owner)
    removed = await world.membership_event(room)
    assert removed.content.membership == Membership.LEAVE and removed.sender == world.bot
    assert removed.content.reason == "You left this conversation on MSN."


async def test_a_direct_chat_is_not_left(world: World) -> None:
    """Leaving is for group conversations: a one-to-one chat stays (MSN reopens it)."""
    portal = await Portal.get_by_key(world.owner.mxid, "bob@example.com")
    assert portal is not None
    room = await portal.ensure_room(world.owner)
    assert room is not None
    await world.user.wait_for_invite(timeout=20)
    await world.user.join(room)
    await portal.from_msn.leave_as_user(world.owner)
    event_id: EventID | None = await portal.from_msn.post_as_user(world.owner, _text("still here"))
    assert event_id is not None
    assert await Portal.get_by_mxid(room) is portal
