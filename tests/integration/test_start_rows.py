"""The rows a start reads for a page of users at once (bridge.start_rows) on a real database
(SQLite and PostgreSQL): one statement per table for every user of the page, each user's
contact book, spaces and display picture taking their own, and then reading nothing at the
first login; what they take is refused once they read or wrote those tables themselves."""

from __future__ import annotations

from types import SimpleNamespace
import asyncio
import logging

from mautrix.types import ContentURI, UserID
from mautrix.util.async_db import Database
from mautrix.util.logging import TraceLogger
import pytest

from bridge import start_rows
from bridge.added_notices import GATHER_SECONDS
from bridge.contact_book import ContactBook
from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.own_picture import OwnPicture
from bridge.db.puppet import Puppet as DBPuppet
from bridge.db.space import SpaceChild, SpaceState
from bridge.db.user import User as DBUser
from bridge.ids import GhostIDs
from bridge.msnp.values import Lists
from bridge.own_avatar import OwnAvatar
from bridge.puppet import Puppet
from bridge.spaces import SpaceManager
from tests.integration.test_contact_book import (
    OWNER,
    Notices,
    RecordedGhosts,
    RecordedSpaces,
    _tamper,
    make_book,
    sample_list,
    stored,
)
from tests.integration.test_list_cache import count_statements
from tests.support.clock import VirtualClock

OTHER = "@zed:hs.test"


def new_book(clock: VirtualClock, notices: Notices | None = None) -> ContactBook:
    """Another process's book of OWNER (its user row is stored by make_book)."""
    return ContactBook(
        OWNER,
        logging.getLogger("test.book"),
        spaces=RecordedSpaces(),
        notify=notices if notices is not None else Notices(),
        ghosts=RecordedGhosts(),
        clock=clock,
    )


async def rows_of(
    owner: str,
) -> tuple[list[DBContact], list[DBContactGroup], list[DBContactGroupMember]]:
    return (
        (await DBContact.of_owners([owner])).get(owner, []),
        (await DBContactGroup.of_owners([owner])).get(owner, []),
        (await DBContactGroupMember.of_owners([owner])).get(owner, []),
    )


async def test_rows_of_many_owners_in_one_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_book()
    await DBUser(mxid=OTHER).insert()
    for owner, passport in [(OWNER, "a@x.com"), (OWNER, "b@x.com"), (OTHER, "c@x.com")]:
        await DBContact(owner, passport).insert()
    sent = count_statements(db, monkeypatch)
    found = await DBContact.of_owners([OWNER, OTHER, "@nobody:hs.test"])
    assert len(sent) == 1
    assert {o: sorted(c.passport for c in rows) for o, rows in found.items()} == {
        OWNER: ["a@x.com", "b@x.com"],
        OTHER: ["c@x.com"],
    }
    assert await DBContact.of_owners([]) == {} and len(sent) == 1


async def test_a_contact_list_handed_over_is_not_read_at_the_first_list(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart's first list compares with the rows handed over: the same list reads and
    writes nothing, and whom the user was told about is not told again."""
    clock = VirtualClock()
    book, _, _, notices = await make_book(clock)
    await book.on_list_synced(sample_list())  # (dave, on the reverse list only, is a request)
    await clock.advance(GATHER_SECONDS)
    assert len(notices) == 1 and "dave@example.com" in notices[0]
    want = await stored()

    again = new_book(clock, later := Notices())
    assert again.take_stored(*await rows_of(OWNER))
    sent = count_statements(db, monkeypatch)
    await again.on_list_synced(sample_list())
    await clock.advance(GATHER_SECONDS)
    assert sent == [] and later == []
    assert await stored() == want
    # taken once: a reconnect's list reads the tables again
    await again.on_list_synced(sample_list())
    assert sent != []


async def test_a_changed_list_writes_what_differs_from_the_rows_handed_over(
    db: Database,
) -> None:
    book, _, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    want = await stored()
    await _tamper()  # what the tables hold differs from the list now
    again = new_book(VirtualClock())
    assert again.take_stored(*await rows_of(OWNER))
    await again.on_list_synced(sample_list())
    assert await stored() == want


async def test_rows_are_refused_once_the_book_read_or_wrote_the_tables(db: Database) -> None:
    """Rows read before the book's own write would be older than it: after its first list
    (or anything it stored) the book does not take them, and compares with what it wrote."""
    book, _, _, _ = await make_book()
    old_rows = await rows_of(OWNER)  # (nothing stored yet)
    await book.on_list_synced(sample_list())
    assert not book.take_stored(*old_rows)
    want = await stored()
    await _tamper()
    await book.on_list_synced(sample_list())  # the book's own print: the same list, no write
    assert await stored() != want

    cleared = new_book(VirtualClock())
    cleared.clear()  # (a logout)
    assert not cleared.take_stored(*old_rows)


def space_manager(owner: str) -> SpaceManager:
    return SpaceManager(
        DBUser(mxid=owner), SimpleNamespace(), "hs.test", logging.getLogger("t")  # type: ignore[arg-type]
    )


async def test_spaces_handed_over_are_not_read_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await DBUser(mxid=OWNER).insert()
    await SpaceState(room_id="!root:hs", owner=OWNER, name="MSN").store()
    await SpaceState(room_id="!work:hs", owner=OWNER, name=None).store()
    await SpaceChild(room_id="!root:hs", child="!dm:hs", owner=OWNER).store()
    states, children = await SpaceState.of_owners([OWNER]), await SpaceChild.of_owners([OWNER])

    spaces = space_manager(OWNER)
    assert spaces.take_stored(states[OWNER], children[OWNER])
    sent = count_statements(db, monkeypatch)
    await spaces._load()
    assert sent == []
    assert spaces._names == {"!root:hs": "MSN"}
    assert spaces._children == {"!root:hs": {"!dm:hs"}, "!work:hs": set()}
    assert not spaces.take_stored([], [])  # (a second hand-over changes nothing)
    assert spaces._children["!root:hs"] == {"!dm:hs"}

    loaded = space_manager(OWNER)
    await loaded._load()  # read by itself: rows handed over later are refused
    assert not loaded.take_stored([], [])
    assert loaded._children == spaces._children


async def test_a_display_picture_handed_over_is_not_read_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await DBUser(mxid=OWNER).insert()
    await OwnPicture(mxid=OWNER, mxc="mxc://hs/a", picture=b"png").store()
    (row,) = (await OwnPicture.of_owners([OWNER], "mxid"))[OWNER]
    log = logging.getLogger("mau.test.avatar")
    assert isinstance(log, TraceLogger)
    avatar = OwnAvatar(UserID(OWNER), SimpleNamespace(), log)  # type: ignore[arg-type]
    assert avatar.take_stored(row)
    sent = count_statements(db, monkeypatch)
    await avatar._load()
    assert sent == []
    assert (avatar._made_from, avatar._picture, avatar._known) == (
        ContentURI("mxc://hs/a"),
        b"png",
        True,
    )
    assert not avatar.take_stored(None)
    none = OwnAvatar(UserID(OTHER), SimpleNamespace(), log)  # type: ignore[arg-type]
    assert none.take_stored(None) and not none._known  # (no row: nothing known, nothing read)


async def test_hand_over_reads_each_table_once_for_a_page_of_users(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    book, _, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    want = await stored()
    await DBUser(mxid=OTHER).insert()
    await DBContact(OTHER, "c@x.com").insert()
    await SpaceState(room_id="!zroot:hs", owner=OTHER, name="MSN").store()
    await OwnPicture(mxid=OTHER, mxc=None, picture=None).store()
    log = logging.getLogger("mau.test.avatar")
    assert isinstance(log, TraceLogger)
    users = page_of(OWNER, OTHER)
    users[0].row.passport = "owner@example.com"  # (logs in; OTHER, with no account, does not)
    for user in users:
        user.routes.own_avatar = OwnAvatar(user.mxid, SimpleNamespace(), log)  # type: ignore[arg-type]
    fresh_ghosts(monkeypatch)
    sent = count_statements(db, monkeypatch)
    await start_rows.hand_over(users)  # type: ignore[arg-type]
    # contacts, groups, members, space names, children, pictures, portals, OWNER's kept
    # address book; then the contacts' ghosts
    assert len(sent) == 9
    assert users[1].spaces._names == {"!zroot:hs": "MSN"} and users[0].spaces._names == {}
    assert users[1].routes.own_avatar._known and not users[0].routes.own_avatar._known
    # the groups, memberships and portal rows for the first space sync of a user who logs in
    handed = users[0].spaces._handed
    assert handed is not None and [g.group_id for g in handed[0]] == ["1", "2"]
    assert set(handed[1]) == want[2] and handed[2] == []
    assert users[1].spaces._handed is None
    del sent[:]
    await users[0].contacts.on_list_synced(sample_list())
    assert sent == [] and await stored() == want  # OWNER's list, read for the page, unchanged

    # no display pictures (bridge.p2p.own_avatar off): that table is not read
    for user in users:
        user.routes.own_avatar = None
    del sent[:]
    await start_rows.hand_over(users)  # type: ignore[arg-type]
    assert len(sent) == 8


def fresh_ghosts(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ghost in memory (a new process)."""
    monkeypatch.setattr(Puppet, "ghost_ids", GhostIDs("msn_{userid}", "hs.test"), raising=False)
    monkeypatch.setattr(Puppet, "by_passport", {})
    monkeypatch.setattr(Puppet, "by_custom_mxid", {})


def page_of(*owners: str) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(
            mxid=UserID(owner),
            contacts=ContactBook(
                owner, logging.getLogger("t"), spaces=RecordedSpaces(), notify=Notices(),
                ghosts=RecordedGhosts(),
            ),
            spaces=space_manager(owner),
            routes=SimpleNamespace(own_avatar=None),
            row=DBUser(mxid=owner),
        )
        for owner in owners
    ]  # fmt: skip


async def test_the_ghosts_of_a_pages_contacts_are_read_at_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored ghosts of contacts on a list that makes one are read in one statement and
    become the ghosts the bridge looks up (no read at login); a ghost already in memory stays
    (its row may be newer), blocked-only contacts and contacts without a ghost get none."""
    fresh_ghosts(monkeypatch)
    await DBUser(mxid=OWNER).insert()
    await DBUser(mxid=OTHER).insert()
    FL, BL = int(Lists.FORWARD), int(Lists.BLOCK)
    for owner, passport, lists in [
        (OWNER, "bob@x.com", FL),
        (OWNER, "eve@x.com", BL),
        (OWNER, "new@x.com", FL),  # (no ghost stored yet)
        (OTHER, "bob@x.com", FL),
        (OTHER, "carol@x.com", FL),
    ]:
        await DBContact(owner, passport, None, lists).insert()
    for passport in ("bob@x.com", "carol@x.com", "eve@x.com"):
        await DBPuppet(passport=passport, friendly_name=passport.split("@")[0]).insert()
    known = Puppet(DBPuppet(passport="carol@x.com", friendly_name="Carol, renamed"))
    Puppet.by_passport["carol@x.com"] = known

    sent = count_statements(db, monkeypatch)
    await start_rows.hand_over(page_of(OWNER, OTHER))  # type: ignore[arg-type]
    assert len(sent) == 6 + 1  # the six tables (no pictures), then the ghosts
    assert "passport" in sent[-1]
    assert set(Puppet.by_passport) == {"bob@x.com", "carol@x.com"}
    assert Puppet.by_passport["carol@x.com"] is known
    assert Puppet.by_passport["bob@x.com"].row.friendly_name == "bob"
    del sent[:]
    bob = await Puppet.get_by_passport("bob@x.com", create=False)
    assert bob is Puppet.by_passport["bob@x.com"] and sent == []
    assert await Puppet.get_by_passport("eve@x.com", create=False) is not None
    assert len(sent) == 1  # (not handed over: read when needed, as before)


async def test_a_ghost_looked_up_while_it_is_handed_over_is_one_ghost(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup whose read was in flight when the same row was handed over returns the
    ghost made from it, not a second object."""
    fresh_ghosts(monkeypatch)
    await DBPuppet(passport="bob@x.com", friendly_name="bob").insert()
    entered, release = asyncio.Event(), asyncio.Event()
    real = DBPuppet.get_by_passport

    async def held(passport: str) -> DBPuppet | None:
        row = await real(passport)
        entered.set()
        await release.wait()
        return row

    monkeypatch.setattr(DBPuppet, "get_by_passport", held)
    lookup = asyncio.create_task(Puppet.get_by_passport("bob@x.com"))
    await entered.wait()
    (row,) = (await DBPuppet.of_owners(["bob@x.com"], "passport"))["bob@x.com"]
    assert Puppet.take_stored([row]) == 1
    release.set()
    assert await lookup is Puppet.by_passport["bob@x.com"]
    assert Puppet.take_stored([row]) == 0  # (in memory now: not replaced)


async def test_a_ghost_made_while_it_is_handed_over_is_one_ghost(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup that stores a new ghost's row, and a hand-over that reads that row before the
    lookup goes on: one ghost, the one handed over."""
    fresh_ghosts(monkeypatch)
    entered, release = asyncio.Event(), asyncio.Event()
    real = DBPuppet.insert

    async def held(self: DBPuppet) -> None:
        await real(self)
        entered.set()
        await release.wait()

    monkeypatch.setattr(DBPuppet, "insert", held)
    lookup = asyncio.create_task(Puppet.get_by_passport("new@x.com"))
    await entered.wait()
    (row,) = (await DBPuppet.of_owners(["new@x.com"], "passport"))["new@x.com"]
    assert Puppet.take_stored([row]) == 1
    handed = Puppet.by_passport["new@x.com"]
    release.set()
    assert await lookup is handed and Puppet.by_passport["new@x.com"] is handed


async def test_a_kept_address_book_handed_over_is_read_once_without_a_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = {
        "@a:hs": DBUser(mxid="@a:hs", passport="a@x.com", protocol=18),  # a kept book
        "@b:hs": DBUser(mxid="@b:hs", passport="b@x.com"),  # none kept (never logged in)
        "@c:hs": DBUser(mxid="@c:hs", passport="c@x.com", protocol=12),  # MSNP12: no book
        "@d:hs": DBUser(mxid="@d:hs", passport="d@x.com", protocol=18),  # credentials lost
    }
    for row in rows.values():
        await row.insert()
        await row.write_ab_cache(f'{{"of": "{row.mxid}"}}' if row.mxid != "@b:hs" else None)
    fresh = {mxid: await DBUser.get_by_mxid(mxid) for mxid in rows}  # (a new process)
    assert all(row is not None for row in fresh.values())
    fresh["@d:hs"].credentials_lost = True  # type: ignore[union-attr]
    users = page_of(*rows)
    for user in users:
        user.row = fresh[user.mxid]
    fresh_ghosts(monkeypatch)
    sent = count_statements(db, monkeypatch)
    await start_rows.hand_over(users)  # type: ignore[arg-type]
    books = [q for q in sent if "ab_cache" in q]
    # contacts, groups, members, space names, children, portals, and the books of @a and @b
    # at once
    assert len(books) == 1 and len(sent) == 7
    del sent[:]
    a, b, c, d = (user.row for user in users)
    assert await a.read_ab_cache() == '{"of": "@a:hs"}' and await b.read_ab_cache() is None
    assert sent == []  # both handed over, "none kept" too
    assert await a.read_ab_cache() == '{"of": "@a:hs"}' and len(sent) == 1  # (once only)
    assert await c.read_ab_cache() == '{"of": "@c:hs"}' and len(sent) == 2  # not handed
    assert d._handed_ab_cache is None  # (it does not log in: nothing held for it)

    # refused once the row wrote (or read) its book itself: the page's copy may be older
    await a.write_ab_cache('{"newer": 1}')
    a.hand_ab_cache('{"of": "@a:hs"}')
    assert await a.read_ab_cache() == '{"newer": 1}'
