"""The contact book on a real database (SQLite and PostgreSQL), without a homeserver: the list
events are applied to the bridge's own entries, stored, and mirrored on (recorded) ghosts and
group spaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import FrozenInstanceError, dataclass, field, replace
import asyncio
import logging

from mautrix.util.async_db import Database
import pytest

from bridge.added_notices import GATHER_SECONDS, MAX_LISTED
from bridge.contact_book import ContactBook, ContactEntry
from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.user import User as DBUser
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    GroupChanged,
    ListSynced,
    PersonalMessageChanged,
    PresenceChanged,
)
from bridge.msnp.values import Contact, Group, Lists, Status
from tests.support.clock import VirtualClock

OWNER = "@alice:hs.test"
FL, AL, BL, RL, PL = Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE, Lists.PENDING


@dataclass
class RecordedGhost:
    passport: str
    status: Status = Status.OFFLINE
    names: list[str | None] = field(default_factory=list)
    presence: list[tuple[Status | None, str | None]] = field(default_factory=list)

    async def update_info(self, friendly_name: str | None = None) -> bool:
        self.names.append(friendly_name)
        return True

    async def update_presence(
        self, status: Status | None = None, personal_message: str | None = None
    ) -> None:
        self.presence.append((status, personal_message))
        if status is not None:
            self.status = status


class RecordedGhosts:
    """Stands in for ``Puppet.get_by_passport``; signals each ghost's first name update."""

    def __init__(self) -> None:
        self.ghosts: dict[str, RecordedGhost] = {}
        self.named = asyncio.Queue[str]()

    async def __call__(self, passport: str, *, create: bool = True) -> RecordedGhost | None:
        passport = passport.lower()
        if passport not in self.ghosts:
            if not create:
                return None
            self.ghosts[passport] = _NotifyingGhost(passport, queue=self.named)
        return self.ghosts[passport]

    async def wait_named(self, count: int) -> set[str]:
        return {await asyncio.wait_for(self.named.get(), 5) for _ in range(count)}


@dataclass
class _NotifyingGhost(RecordedGhost):
    queue: asyncio.Queue[str] | None = None
    #: while set, a name update waits for it (``entered`` says that one is waiting)
    hold: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def update_info(self, friendly_name: str | None = None) -> bool:
        if self.hold is not None:
            self.entered.set()
            await self.hold.wait()
        await super().update_info(friendly_name)
        if self.queue is not None and len(self.names) == 1:
            self.queue.put_nowait(self.passport)
        return True


class RecordedSpaces:
    def __init__(self) -> None:
        self.scheduled: list[list[str]] = []
        self.synced: list[list[str]] = []
        self.groups_written_count = 0

    def schedule_sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        self.scheduled.append([g.group_id for g in removed])

    async def sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        self.synced.append([g.group_id for g in removed])

    def groups_written(self) -> None:
        self.groups_written_count += 1


class FakeClient:
    """The part of MSNClient the book reads: its live list."""

    def __init__(self, contacts: dict[str, Contact], groups: dict[str, Group]) -> None:
        self.contacts = contacts
        self.groups = groups


class Notices(list[str]):
    """The notices sent (their plain text); ``html`` has their HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.html: list[str | None] = []

    async def __call__(self, text: str, *, html: str | None = None) -> None:
        self.append(text)
        self.html.append(html)


async def make_book(
    clock: VirtualClock | None = None,
) -> tuple[ContactBook, RecordedGhosts, RecordedSpaces, Notices]:
    """A book for OWNER (whose user row it needs) with recorded ghosts, spaces and notices
    (on ``clock``, or a clock of its own)."""
    await DBUser(mxid=OWNER).insert()
    ghosts, spaces, notices = RecordedGhosts(), RecordedSpaces(), Notices()
    book = ContactBook(
        OWNER,
        logging.getLogger("test.book"),
        spaces=spaces,
        notify=notices,
        ghosts=ghosts,
        added_notice_interval=60,
        clock=clock or VirtualClock(),
    )
    return book, ghosts, spaces, notices


def sample_list() -> ListSynced:
    return ListSynced(
        contacts={
            "Bob@Example.com": Contact(
                "Bob@Example.com",
                "Bob",
                FL | AL | RL,
                guid="g-bob",
                groups=("1",),
                status=Status.AWAY,
                personal_message="out",
            ),
            "carol@example.com": Contact("carol@example.com", "Carol", FL | AL, groups=("1", "2")),
            "dave@example.com": Contact("dave@example.com", "Dave", RL),
            "eve@example.com": Contact("eve@example.com", "Eve", BL),
        },
        groups={"1": Group("1", "Friends"), "2": Group("2", "Work")},
    )


async def stored() -> tuple[dict[str, int], dict[str, str], set[tuple[str, str]]]:
    contacts = {c.passport: c.lists for c in await DBContact.all_for_owner(OWNER)}
    groups = {g.group_id: g.name for g in await DBContactGroup.all_for_owner(OWNER)}
    members = {(m.group_id, m.passport) for m in await DBContactGroupMember.all_for_owner(OWNER)}
    return contacts, groups, members


async def test_list_at_login_is_stored_and_ghosts_synced(db: Database) -> None:
    book, ghosts, spaces, _ = await make_book()
    evt = sample_list()
    await book.on_list_synced(evt)

    contacts, groups, members = await stored()
    assert contacts == {
        "bob@example.com": int(FL | AL | RL),
        "carol@example.com": int(FL | AL),
        "dave@example.com": int(RL),
        "eve@example.com": int(BL),
    }
    assert groups == {"1": "Friends", "2": "Work"}
    assert members == {
        ("1", "bob@example.com"),
        ("1", "carol@example.com"),
        ("2", "carol@example.com"),
    }
    assert spaces.scheduled == [[]]
    # ghosts for contacts on the forward, allow or reverse list; not for the blocked-only eve
    named = await ghosts.wait_named(3)
    assert named == {"bob@example.com", "carol@example.com", "dave@example.com"}
    assert "eve@example.com" not in ghosts.ghosts
    assert ghosts.ghosts["bob@example.com"].names == ["Bob"]
    assert ghosts.ghosts["bob@example.com"].presence == [(Status.AWAY, "out")]
    assert ghosts.ghosts["carol@example.com"].presence == []  # offline stays as it was
    assert book.get("BOB@example.com") == ContactEntry(
        "bob@example.com", "Bob", FL | AL | RL, "g-bob", ("1",), Status.AWAY, "out"
    )
    assert book.groups == {"1": "Friends", "2": "Work"}


async def test_presence_arriving_during_a_ghost_sync_is_not_undone(db: Database) -> None:
    # A ghost sync (after login, or `sync`) runs while presence events (ILN, NLN) arrive: a
    # contact whose status changed meanwhile keeps the new status.
    book, ghosts, _, _ = await make_book()
    carol = await ghosts("carol@example.com")
    assert isinstance(carol, _NotifyingGhost)
    carol.hold = asyncio.Event()
    live = sample_list()  # carol is offline in it
    sync = asyncio.create_task(book.reload(FakeClient(dict(live.contacts), live.groups)))  # type: ignore[arg-type]
    await asyncio.wait_for(carol.entered.wait(), 5)  # her name is being set now
    await book.on_presence(PresenceChanged("carol@example.com", Status.ONLINE, None))
    carol.hold.set()
    await asyncio.wait_for(sync, 5)
    assert carol.status == Status.ONLINE
    assert carol.presence == [(Status.ONLINE, None), (Status.ONLINE, "")]


async def test_presence_changes_the_books_entry_not_the_librarys(db: Database) -> None:
    book, ghosts, _, _ = await make_book()
    evt = sample_list()
    await book.on_list_synced(evt)
    await ghosts.wait_named(3)
    library_bob = evt.contacts["Bob@Example.com"]

    await book.on_presence(PresenceChanged("bob@example.com", Status.BUSY, "Bobby"))
    await book.on_personal_message(PersonalMessageChanged("bob@example.com", "in a meeting"))

    entry = book.get("bob@example.com")
    assert entry is not None
    assert (entry.status, entry.friendly_name, entry.personal_message) == (
        Status.BUSY,
        "Bobby",
        "in a meeting",
    )
    # the library's value is its own: the book neither changed nor kept it, and it is frozen
    assert (library_bob.status, library_bob.friendly_name) == (Status.AWAY, "Bob")
    with pytest.raises(FrozenInstanceError):
        library_bob.status = Status.ONLINE  # type: ignore[misc]
    assert book.get("bob@example.com") == entry
    bob = ghosts.ghosts["bob@example.com"]
    assert bob.names[-1] == "Bobby"
    assert bob.presence[-2:] == [(Status.BUSY, None), (None, "in a meeting")]
    # someone on none of the lists gets no ghost from a presence line (NLN, UBX): any
    # address can appear there when the server (or someone on the path) wants it to
    await book.on_presence(PresenceChanged("zed@example.com", Status.ONLINE, "Zed"))
    await book.on_personal_message(PersonalMessageChanged("zed@example.com", "hello"))
    assert "zed@example.com" not in ghosts.ghosts
    assert book.get("zed@example.com") is None
    # nor does someone only on the block list
    await book.on_presence(PresenceChanged("eve@example.com", Status.ONLINE, "Eve"))
    assert "eve@example.com" not in ghosts.ghosts
    # a stranger whose ghost exists (they wrote to the user) still shows their presence
    zed = await ghosts("zed@example.com")
    assert zed is not None
    await book.on_presence(PresenceChanged("zed@example.com", Status.BUSY, None))
    assert zed.presence == [(Status.BUSY, None)]


async def test_added_removed_and_groups(db: Database) -> None:
    clock = VirtualClock()
    book, ghosts, spaces, notices = await make_book(clock)
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    spaces.scheduled.clear()

    # someone added us: one notice (after the burst) with Dave, who added us while we were away
    await book.on_contact_added(ContactAdded("Zoe@Example.com", RL, "Zoe  Z"))
    await clock.advance(GATHER_SECONDS)
    assert notices == [
        "New people added you to their MSN contact list: \u201cDave\u201d (dave@example.com), "
        "\u201cZoe Z\u201d (zoe@example.com). Answer with `accept EMAIL`, `decline EMAIL` or "
        "`block EMAIL`."
    ]
    assert ghosts.ghosts["zoe@example.com"].names == ["Zoe Z"]
    assert spaces.scheduled == []  # the reverse list has no space
    # we add them to the forward list, into group 2
    await book.on_contact_added(ContactAdded("zoe@example.com", FL, "Zoe", "g-zoe", group="2"))
    assert len(notices) == 1
    contacts, _, members = await stored()
    assert contacts["zoe@example.com"] == int(FL | RL)
    assert ("2", "zoe@example.com") in members
    assert book.get("zoe@example.com").guid == "g-zoe"  # type: ignore[union-attr]
    assert spaces.scheduled == [[]]

    # out of group 1, then off the forward list; gone once on no list at all
    await book.on_contact_removed(ContactRemoved("carol@example.com", FL, group="1"))
    assert book.get("carol@example.com").groups == ("2",)  # type: ignore[union-attr]
    await book.on_contact_removed(ContactRemoved("dave@example.com", RL))
    contacts, _, members = await stored()
    assert "dave@example.com" not in contacts and book.get("dave@example.com") is None
    assert ("1", "carol@example.com") not in members
    assert ("2", "carol@example.com") in members

    # a group renamed, then removed: its members leave it, and its row goes to the spaces
    await book.on_group_changed(GroupChanged(Group("2", "Colleagues")))
    assert (await stored())[1]["2"] == "Colleagues"
    spaces.scheduled.clear()
    await book.on_group_changed(GroupChanged(Group("2", "Colleagues"), removed=True))
    contacts, groups, members = await stored()
    assert groups == {"1": "Friends"}
    assert members == {("1", "bob@example.com")}
    assert book.get("carol@example.com").groups == ()  # type: ignore[union-attr]
    assert spaces.scheduled == [["2"]]


async def test_the_users_own_add_and_remove_touch_only_that_contact(db: Database) -> None:
    # `add` and `remove` no longer re-read the whole list: the client reports the user's own
    # change with the event a server push would make, and only that contact is touched
    book, ghosts, spaces, notices = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    before = {p: len(g.names) for p, g in ghosts.ghosts.items()}
    spaces.scheduled.clear()

    await book.on_contact_added(ContactAdded("New@Example.com", FL, "Newbie", "g-new"))
    await book.on_contact_added(ContactAdded("new@example.com", AL, "Newbie", "g-new"))
    assert (await stored())[0]["new@example.com"] == int(FL | AL)
    assert ghosts.ghosts["new@example.com"].names == ["Newbie", "Newbie"]
    assert {p: len(g.names) for p, g in ghosts.ghosts.items() if p in before} == before
    assert spaces.scheduled == [[]]  # the forward list changed: the spaces follow
    assert notices == [] and len(book) == 5

    # removed from the forward list: in no group any more, the spaces follow again
    await book.on_contact_removed(ContactRemoved("carol@example.com", FL))
    contacts, _, members = await stored()
    assert contacts["carol@example.com"] == int(AL)
    assert {m for m in members if m[1] == "carol@example.com"} == set()
    assert book.get("carol@example.com").groups == ()  # type: ignore[union-attr]
    assert spaces.scheduled == [[], []]
    assert {p: len(g.names) for p, g in ghosts.ghosts.items() if p in before} == before


async def test_sync_rereads_the_whole_list(db: Database) -> None:
    book, ghosts, spaces, _ = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    before = {p: len(g.names) for p, g in ghosts.ghosts.items()}

    live = sample_list()
    contacts = dict(live.contacts)
    contacts["new@example.com"] = Contact("new@example.com", "Newbie", FL | AL)
    count = await book.reload(FakeClient(contacts, dict(live.groups)))  # type: ignore[arg-type]

    assert count == 5
    assert (await stored())[0]["new@example.com"] == int(FL | AL)
    assert ghosts.ghosts["new@example.com"].names == ["Newbie"]
    assert spaces.synced == [[]]
    # `sync` re-reads everything: every ghost is named again
    assert all(len(ghosts.ghosts[p].names) == n + 1 for p, n in before.items())


async def test_mark_offline_keeps_contacts_of_other_sessions(db: Database) -> None:
    book, ghosts, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    await book.on_presence(PresenceChanged("carol@example.com", Status.ONLINE, None))

    await book.mark_offline(keep={"carol@example.com"})

    assert ghosts.ghosts["bob@example.com"].status == Status.OFFLINE
    assert ghosts.ghosts["carol@example.com"].status == Status.ONLINE
    assert "eve@example.com" not in ghosts.ghosts  # no ghost is created to show it offline


async def test_control_characters_never_reach_the_database_or_the_ghosts(db: Database) -> None:
    # PostgreSQL refuses NUL in a text column: before names were cleaned, a contact or group
    # named "Evil%00..." made every save of the list fail
    clock = VirtualClock()
    book, ghosts, _, notices = await make_book(clock)
    await book.on_list_synced(
        ListSynced(
            contacts={
                "evil@example.com": Contact(
                    "evil@example.com",
                    "Evil\x00Bob\r\n\u202e",
                    FL | AL,
                    groups=["1"],
                    status=Status.ONLINE,
                    personal_message="psm\x00 with\nbreaks\x1b",
                )
            },
            groups={"1": Group("1", "Evil\x00Group\x07")},
        )
    )
    assert (await stored())[1] == {"1": "EvilGroup"}
    assert book.groups == {"1": "EvilGroup"}
    await ghosts.wait_named(1)
    evil = ghosts.ghosts["evil@example.com"]
    assert evil.names == ["EvilBob"]
    assert evil.presence == [(Status.ONLINE, "psm with breaks")]

    await book.on_group_changed(GroupChanged(Group("2", "New\x00\tGroup")))
    await book.on_presence(PresenceChanged("evil@example.com", Status.BUSY, "Still\x00Evil"))
    await book.on_personal_message(PersonalMessageChanged("evil@example.com", "a\x00b"))
    await book.on_contact_added(ContactAdded("zed@example.com", RL, "Zed\x00\u2066Z"))
    assert (await stored())[1] == {"1": "EvilGroup", "2": "New Group"}
    entry = book.get("evil@example.com")
    assert entry is not None
    assert (entry.friendly_name, entry.personal_message) == ("StillEvil", "ab")
    assert evil.names[-1] == "StillEvil" and evil.presence[-1] == (None, "ab")
    assert ghosts.ghosts["zed@example.com"].names == ["ZedZ"]
    await clock.advance(GATHER_SECONDS)
    assert "\u201cZedZ\u201d (zed@example.com)" in notices[-1]


async def test_a_failed_save_does_not_stop_the_event(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = VirtualClock()
    book, ghosts, spaces, notices = await make_book(clock)

    async def broken(*args: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(DBContact, "replace_for_owner", broken)
    # the list is applied in memory and the ghosts are synced, although nothing was stored
    await book.on_list_synced(sample_list())
    assert await ghosts.wait_named(3) == {
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    }
    assert spaces.scheduled == [[]]
    await book.on_contact_added(ContactAdded("zoe@example.com", RL, "Zoe"))
    assert book.get("zoe@example.com") is not None
    assert ghosts.ghosts["zoe@example.com"].names == ["Zoe"]
    await clock.advance(GATHER_SECONDS)
    assert notices and "\u201cZoe\u201d (zoe@example.com)" in notices[-1]


async def test_added_you_notices_come_one_per_burst_and_quote_the_names(db: Database) -> None:
    # A burst of "X added you" (one hostile server, or a crowd) is one notice listing
    # everyone, then at most one per interval; each name is quoted after fixed text.
    clock = VirtualClock()
    book, ghosts, _, notices = await make_book(clock)
    await book.on_list_synced(sample_list())
    evil = "Evil\n**Bob**\u202e <a href='https://x'>click</a> \u201d(admin)"
    await book.on_contact_added(ContactAdded("evil@example.com", RL, evil))
    for i in range(49):
        await book.on_contact_added(ContactAdded(f"fan{i}@example.com", RL, f"Fan {i}"))
    await clock.advance(GATHER_SECONDS)
    assert len(notices) == 1
    text, html = notices[0], notices.html[0]
    assert text.startswith("New people added you to their MSN contact list: ")
    # the name is one line, in quotes it cannot close, with no right-to-left override
    assert (
        "\u201cEvil **Bob** <a href='https://x'>click</a> '(admin)\u201d (evil@example.com)"
        in (text)
    )
    assert "\n" not in text and "\u202e" not in text
    assert html is not None and "<a " not in html and "&lt;a href=" in html
    # with Dave, who added the user while they were away (announced at login)
    listed = ["dave@example.com"] + [f"fan{i}@example.com" for i in range(MAX_LISTED - 2)]
    assert all(f"({p})" in text for p in listed)
    assert f"and {51 - MAX_LISTED} more" in text
    assert book.added_notices.coalesced == 50

    # more during the interval: one more notice, only when the interval has passed
    for i in range(3):
        await book.on_contact_added(ContactAdded(f"late{i}@example.com", RL, f"Late {i}"))
    await clock.advance(30)
    assert len(notices) == 1
    await clock.advance(30)
    assert len(notices) == 2 and all(f"late{i}@example.com" in notices[1] for i in range(3))
    assert ghosts.ghosts["evil@example.com"].names  # on the reverse list: a ghost


async def test_who_gets_a_ghost_and_whose_messages_are_shown(db: Database) -> None:
    book, ghosts, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    # on the forward, allow, reverse or pending list: a ghost; block list only: none
    await book.on_contact_added(ContactAdded("pat@example.com", PL, "Pat"))
    await book.on_contact_added(ContactAdded("mallory@example.com", BL, "Mallory"))
    assert "pat@example.com" in ghosts.ghosts and book.on_lists("PAT@example.com")
    assert "mallory@example.com" not in ghosts.ghosts
    assert not book.on_lists("mallory@example.com") and not book.on_lists("nobody@example.com")

    # messages: MSN's privacy rule (allow list, block list, then BLP for everyone else)
    assert book.may_write("bob@example.com", allow_unlisted=False)  # on AL
    assert not book.may_write("eve@example.com", allow_unlisted=True)  # on BL
    assert not book.may_write("mallory@example.com", allow_unlisted=None)
    assert book.may_write("stranger@example.com", allow_unlisted=True)
    assert book.may_write("stranger@example.com", allow_unlisted=None)  # MSN's default: AL
    assert not book.may_write("stranger@example.com", allow_unlisted=False)
    assert not book.may_write("dave@example.com", allow_unlisted=False)  # RL only, BLP BL


async def test_the_book_keeps_at_most_max_contacts(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    ghosts = RecordedGhosts()
    book = ContactBook(
        OWNER,
        logging.getLogger("test.book"),
        spaces=RecordedSpaces(),
        notify=Notices(),
        ghosts=ghosts,
        max_contacts=10,
        clock=VirtualClock(),
    )
    for i in range(25):
        await book.on_contact_added(ContactAdded(f"c{i}@example.com", RL, f"C {i}"))
    assert len(book) == 10 and len(ghosts.ghosts) == 10
    assert len((await stored())[0]) == 10


async def _tamper() -> None:
    """Change the tables behind the book's back: a write of the book puts them right again."""
    await DBContact.db.execute("DELETE FROM contact WHERE passport=$1", "dave@example.com")
    await DBContact.db.execute("DELETE FROM contact_group_member WHERE group_id=$1", "2")
    await DBContact.db.execute("UPDATE contact_group SET name='x' WHERE group_id='1'")


async def test_an_unchanged_list_is_not_written_again(db: Database) -> None:
    """A login whose list is what the tables hold writes nothing (a restart of many users
    wrote every list again), also in a new process (a new book reads what is stored); a
    changed part is written, and only that part."""
    book, _, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    want = await stored()
    await _tamper()
    tampered = await stored()
    assert tampered != want
    await book.on_list_synced(sample_list())  # the same list, the same process: no write
    assert await stored() == tampered

    again = ContactBook(
        OWNER, logging.getLogger("test.book"), spaces=RecordedSpaces(), notify=Notices(),
        ghosts=RecordedGhosts(),
    )  # fmt: skip
    await again.on_list_synced(sample_list())  # a new process: it reads, then writes the diff
    assert await stored() == want
    await _tamper()
    changed = sample_list()
    del changed.contacts["eve@example.com"]  # the contacts change; groups and members do not
    await again.on_list_synced(changed)
    contacts, groups, members = await stored()
    assert "eve@example.com" not in contacts and "dave@example.com" in contacts
    assert (groups, members) == (tampered[1], tampered[2])  # not written: they did not change


async def test_the_spaces_hear_when_groups_or_memberships_were_written(db: Database) -> None:
    """The spaces' first sync uses the groups and memberships read when the bridge started the
    user, unless the book wrote them: it says so when a write changed either, or may have."""
    book, _, spaces, _ = await make_book()
    await book.on_list_synced(sample_list())  # (nothing was stored: the first write)
    assert spaces.groups_written_count == 1
    await book.on_list_synced(sample_list())  # unchanged: no write
    changed = sample_list()
    del changed.contacts["eve@example.com"]  # (in no group) the contacts change, nothing else
    await book.on_list_synced(changed)
    assert spaces.groups_written_count == 1
    moved = sample_list()
    carol = moved.contacts["carol@example.com"]
    moved.contacts["carol@example.com"] = replace(carol, groups=("1",))  # out of "Work"
    await book.on_list_synced(moved)
    assert spaces.groups_written_count == 2
    renamed = sample_list()
    renamed.groups["2"] = Group("2", "Office")
    await book.on_list_synced(renamed)
    assert spaces.groups_written_count == 3

    # a book of another process, given the rows a start read: an unchanged list says nothing
    fresh_spaces = RecordedSpaces()
    fresh = ContactBook(
        OWNER, logging.getLogger("test.book"), spaces=fresh_spaces, notify=Notices(),
        ghosts=RecordedGhosts(),
    )  # fmt: skip
    rows = (
        await DBContact.all_for_owner(OWNER),
        await DBContactGroup.all_for_owner(OWNER),
        await DBContactGroupMember.all_for_owner(OWNER),
    )
    assert fresh.take_stored(*rows)
    await fresh.on_list_synced(renamed)
    assert fresh_spaces.groups_written_count == 0


async def test_a_failed_write_is_done_again_next_time(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that failed half-way (contacts written, memberships not) leaves the tables
    unknown: the next list is compared with what they hold, not with the last good print."""
    book, _, _, _ = await make_book()
    await book.on_list_synced(sample_list())
    want = await stored()
    real = DBContactGroupMember.replace_for_owner

    async def failing(owner: str, pairs: object) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(DBContactGroupMember, "replace_for_owner", failing)
    changed = sample_list()
    del changed.contacts["dave@example.com"]
    del changed.contacts["carol@example.com"]  # (her memberships change too: that write fails)
    await book.on_list_synced(changed)
    assert not book.stored
    assert "dave@example.com" not in (await stored())[0]  # the contacts were written
    monkeypatch.setattr(DBContactGroupMember, "replace_for_owner", real)
    await book.on_list_synced(sample_list())  # the list as it was before the failed write
    assert book.stored
    assert await stored() == want
