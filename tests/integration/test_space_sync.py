"""A space sync on a real database (SQLite and PostgreSQL) goes through the stored portal rows:
with every link in place it loads no portal and sends nothing; a link that changes loads that
portal alone, for its ghost to set the parent event."""

from __future__ import annotations

from typing import Any
from dataclasses import dataclass, field
from types import SimpleNamespace
import logging

from mautrix.types import EventType
from mautrix.util.async_db import Database
import pytest

from bridge.db.contact import (
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.portal import Portal as DBPortal
from bridge.db.space import SpaceChild, SpaceState
from bridge.db.user import User as DBUser
from bridge.portal import Portal
from bridge.portal.cache import PortalCache
from bridge.spaces import SpaceManager
from tests.integration.test_list_cache import count_statements

OWNER = "@alice:hs.test"
ROOT, FRIENDS = "!root:hs.test", "!friends:hs.test"
BOB_DM, CAROL_DM, GROUP_ROOM = "!bob:hs.test", "!carol:hs.test", "!group:hs.test"


@dataclass
class RecordingIntent:
    """Records the state events it is asked to send (a homeserver that accepts them)."""

    mxid: str
    sent: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def send_state_event(
        self, room_id: str, event_type: EventType, content: Any, state_key: str = ""
    ) -> str:
        self.sent.append((self.mxid, room_id, str(event_type), state_key))
        return "$event"

    async def create_room(self, *, name: str, **_: Any) -> str:
        self.sent.append((self.mxid, "", "create", name))
        return f"!{name.lower()}:hs.test"


@dataclass(eq=False)
class LoadedPortal:
    row: DBPortal
    main_intent: RecordingIntent

    @property
    def mxid(self) -> str | None:
        return self.row.room_id

    @property
    def is_direct(self) -> bool:
        return self.row.kind == "dm"

    @property
    def conv_key(self) -> str:
        return self.row.conv_key


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The conversation keys of the portals the sync loads; each portal's main intent is its
    contact's ghost (DM) or the bot (group), recording into one list with the bot's."""
    loads: list[str] = []

    async def load(row: DBPortal) -> LoadedPortal:
        loads.append(row.conv_key)
        who = f"ghost:{row.conv_key}" if row.kind == "dm" else "bot"
        return LoadedPortal(row, RecordingIntent(who, BOT.sent))

    monkeypatch.setattr(Portal, "cache", PortalCache(load), raising=False)
    return loads


BOT = RecordingIntent("bot")


@pytest.fixture(autouse=True)
def _fresh_bot() -> None:
    BOT.sent.clear()


async def store_linked_user() -> None:
    """alice: the MSN space, the group "Friends" (bob in it) with its sub-space, DMs with bob
    and carol and a group chat, every room where it belongs and the links stored."""
    await DBUser(mxid=OWNER, space_room=ROOT).insert()
    await DBContactGroup(owner=OWNER, group_id="1", name="Friends", space_room=FRIENDS).insert()
    await DBContactGroupMember.replace_for_owner(OWNER, [("1", "bob@example.com")])
    for conv_key, room, kind in (
        ("bob@example.com", BOB_DM, "dm"),
        ("carol@example.com", CAROL_DM, "dm"),
        ("group:00FF", GROUP_ROOM, "group"),
    ):
        await DBPortal(owner=OWNER, conv_key=conv_key, room_id=room, kind=kind).insert()
    await DBPortal(owner=OWNER, conv_key="dave@example.com", kind="dm").insert()  # no room
    await SpaceState(room_id=ROOT, owner=OWNER, name="MSN").store()
    await SpaceState(room_id=FRIENDS, owner=OWNER, name="Friends").store()
    for space, child in ((ROOT, FRIENDS), (ROOT, CAROL_DM), (ROOT, GROUP_ROOM), (FRIENDS, BOB_DM)):
        await SpaceChild(room_id=space, child=child, owner=OWNER).store()


def manager() -> SpaceManager:
    row = DBUser(mxid=OWNER, space_room=ROOT)
    az = SimpleNamespace(intent=BOT)
    return SpaceManager(row, az, "hs.test", logging.getLogger("test.spaces"))  # type: ignore[arg-type]


async def test_nothing_changed_loads_no_portal(db: Database, loaded: list[str]) -> None:
    await store_linked_user()
    await manager().sync()
    assert BOT.sent == []
    assert loaded == []
    assert Portal.cache.by_key == {}


async def test_a_moved_dm_loads_its_portal_alone(db: Database, loaded: list[str]) -> None:
    await store_linked_user()
    # carol joined "Friends" (stored by the contact book): her DM moves from MSN into Friends
    await DBContactGroupMember.replace_for_owner(
        OWNER, [("1", "bob@example.com"), ("1", "carol@example.com")]
    )
    await manager().sync()
    space_child, space_parent = str(EventType.SPACE_CHILD), str(EventType.SPACE_PARENT)
    ghost = "ghost:carol@example.com"
    assert sorted(BOT.sent) == sorted(
        [
            ("bot", ROOT, space_child, CAROL_DM),
            (ghost, CAROL_DM, space_parent, ROOT),
            ("bot", FRIENDS, space_child, CAROL_DM),
            (ghost, CAROL_DM, space_parent, FRIENDS),
        ]
    )
    assert loaded == ["carol@example.com"]
    stored = {(c.room_id, c.child) for c in await SpaceChild.all_for_owner(OWNER)}
    assert (FRIENDS, CAROL_DM) in stored and (ROOT, CAROL_DM) not in stored


async def test_a_portal_in_memory_counts_over_its_row(db: Database, loaded: list[str]) -> None:
    """A portal in memory whose room changed (its row not written yet) is linked by its new
    room, through the loaded portal."""
    await store_linked_user()
    portal = await Portal.get_by_key(OWNER, "carol@example.com", create=False)
    assert portal is not None
    portal.row.room_id = "!carol2:hs.test"  # (as Portal.mxid's setter does, before saving)
    Portal.cache.room_changed(portal, CAROL_DM, "!carol2:hs.test")
    await manager().sync()
    space_child = str(EventType.SPACE_CHILD)
    assert ("bot", ROOT, space_child, "!carol2:hs.test") in BOT.sent
    assert ("ghost:carol@example.com", "!carol2:hs.test", str(EventType.SPACE_PARENT), ROOT) in (
        BOT.sent
    )
    assert loaded == ["carol@example.com"]  # (the one loaded before the sync)


async def handed_manager() -> SpaceManager:
    """A manager given what a start reads for a page of users (bridge.start_rows)."""
    spaces = manager()
    assert spaces.take_stored(
        (await SpaceState.of_owners([OWNER]))[OWNER],
        (await SpaceChild.of_owners([OWNER]))[OWNER],
        (await DBContactGroup.of_owners([OWNER]))[OWNER],
        (await DBContactGroupMember.of_owners([OWNER]))[OWNER],
        (await DBPortal.of_owners([OWNER]))[OWNER],
    )
    return spaces


def group_reads(sent: list[str]) -> list[str]:
    return [q for q in sent if "contact_group" in q]


async def test_the_groups_handed_over_serve_the_first_sync(
    db: Database, loaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await store_linked_user()
    spaces = await handed_manager()
    sent = count_statements(db, monkeypatch)
    await spaces.sync()
    assert sent == [] and BOT.sent == [] and loaded == []
    await spaces.sync()  # a later sync reads what the contact book stored since
    assert len(group_reads(sent)) == 2 and len(sent) == 3 and BOT.sent == []


async def test_a_portal_changed_after_the_hand_over_counts_as_it_is_now(
    db: Database, loaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal rows handed over may be older than the portals: one in memory is placed by
    what it holds; one whose room was given up (row without room) is left where it was."""
    await store_linked_user()
    spaces = await handed_manager()
    carol = await Portal.get_by_key(OWNER, "carol@example.com", create=False)
    assert carol is not None
    carol.row.room_id = "!carol2:hs.test"  # (a new room, not saved yet)
    Portal.cache.room_changed(carol, CAROL_DM, "!carol2:hs.test")
    await DBPortal(owner=OWNER, conv_key="bob@example.com", kind="dm").update()  # room gone
    sent = count_statements(db, monkeypatch)
    await spaces.sync()
    assert group_reads(sent) == []
    assert ("bot", ROOT, str(EventType.SPACE_CHILD), "!carol2:hs.test") in BOT.sent
    assert not [e for e in BOT.sent if BOB_DM in e]


async def test_the_groups_handed_over_are_dropped_once_the_book_wrote(
    db: Database, loaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await store_linked_user()
    spaces = await handed_manager()
    # the contact book stores carol in "Friends" and says so: the sync reads the tables
    await DBContactGroupMember.replace_for_owner(
        OWNER, [("1", "bob@example.com"), ("1", "carol@example.com")]
    )
    spaces.groups_written()
    sent = count_statements(db, monkeypatch)
    await spaces.sync()
    assert len(group_reads(sent)) == 2
    assert ("bot", FRIENDS, str(EventType.SPACE_CHILD), CAROL_DM) in BOT.sent
    assert loaded == ["carol@example.com"]


async def test_placing_a_portal_drops_the_groups_handed_over(
    db: Database, loaded: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new portal placed before the first sync reads the groups and may make a group's
    space: the sync then reads them again, not the rows handed over (which lack that space)."""
    await store_linked_user()
    await DBContactGroup(owner=OWNER, group_id="2", name="Work").insert()  # (no space yet)
    spaces = await handed_manager()
    portal = await Portal.get_by_key(OWNER, "dave@example.com", create=False)
    assert portal is not None
    portal.row.room_id = "!dave:hs.test"
    await spaces.place_portal(portal)  # type: ignore[arg-type]
    assert ("bot", "", "create", "Work") in BOT.sent
    await spaces.sync()
    assert [e for e in BOT.sent if e[2] == "create"] == [("bot", "", "create", "Work")]
    rows = await DBContactGroup.all_for_owner(OWNER)
    assert [(g.group_id, g.space_room) for g in rows] == [
        ("1", FRIENDS),
        ("2", "!work:hs.test"),
    ]
