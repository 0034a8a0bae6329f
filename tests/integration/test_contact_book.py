"""The contact book on a real database (SQLite and PostgreSQL), without a homeserver: the list
events are applied to the bridge's own entries, stored, and mirrored on (recorded) ghosts and
group spaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import asyncio
import logging

from mautrix.util.async_db import Database

from bridge.contact_book import ContactBook, ContactEntry
from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.user import User as DBUser
from bridge.msnp.events import (
    Contact,
    ContactAdded,
    ContactRemoved,
    Group,
    GroupChanged,
    Lists,
    ListSynced,
    PersonalMessageChanged,
    PresenceChanged,
    Status,
)

OWNER = "@alice:hs.test"
FL, AL, BL, RL = Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE


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

    def schedule_sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        self.scheduled.append([g.group_id for g in removed])

    async def sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        self.synced.append([g.group_id for g in removed])


class FakeClient:
    """The part of MSNClient the book reads: its live list."""

    def __init__(self, contacts: dict[str, Contact], groups: dict[str, Group]) -> None:
        self.contacts = contacts
        self.groups = groups


async def make_book() -> tuple[ContactBook, RecordedGhosts, RecordedSpaces, list[str]]:
    """A book for OWNER (whose user row it needs) with recorded ghosts, spaces and notices."""
    await DBUser(mxid=OWNER).insert()
    ghosts, spaces, notices = RecordedGhosts(), RecordedSpaces(), []

    async def notify(text: str) -> None:
        notices.append(text)

    book = ContactBook(
        OWNER, logging.getLogger("test.book"), spaces=spaces, notify=notify, ghosts=ghosts
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
                groups=["1"],
                status=Status.AWAY,
                personal_message="out",
            ),
            "carol@example.com": Contact("carol@example.com", "Carol", FL | AL, groups=["1", "2"]),
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
    # the library's object is its own: the book neither changed nor kept it
    assert (library_bob.status, library_bob.friendly_name) == (Status.AWAY, "Bob")
    library_bob.status = Status.ONLINE
    assert book.get("bob@example.com") == entry
    bob = ghosts.ghosts["bob@example.com"]
    assert bob.names[-1] == "Bobby"
    assert bob.presence[-2:] == [(Status.BUSY, None), (None, "in a meeting")]
    # presence of someone not on the list still reaches (and creates) their ghost
    await book.on_presence(PresenceChanged("zed@example.com", Status.ONLINE, None))
    assert ghosts.ghosts["zed@example.com"].presence == [(Status.ONLINE, None)]
    assert book.get("zed@example.com") is None


async def test_added_removed_and_groups(db: Database) -> None:
    book, ghosts, spaces, notices = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    spaces.scheduled.clear()

    # someone added us: a notice suggests adding them back
    await book.on_contact_added(ContactAdded("Zoe@Example.com", RL, "Zoe  Z"))
    assert notices == [
        "Zoe Z (zoe@example.com) added you to their MSN contact list. "
        "Use `add zoe@example.com` to add them back."
    ]
    assert ghosts.ghosts["zoe@example.com"].names == ["Zoe  Z"]
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


async def test_reload_after_a_change_syncs_only_that_ghost(db: Database) -> None:
    book, ghosts, spaces, _ = await make_book()
    await book.on_list_synced(sample_list())
    await ghosts.wait_named(3)
    before = {p: len(g.names) for p, g in ghosts.ghosts.items()}

    live = sample_list()
    contacts = dict(live.contacts)
    contacts["new@example.com"] = Contact("new@example.com", "Newbie", FL | AL)
    count = await book.reload(FakeClient(contacts, live.groups), changed="New@Example.com")  # type: ignore[arg-type]

    assert count == 5
    assert (await stored())[0]["new@example.com"] == int(FL | AL)
    assert ghosts.ghosts["new@example.com"].names == ["Newbie"]
    assert {p: len(g.names) for p, g in ghosts.ghosts.items() if p in before} == before
    assert spaces.synced == [[]]

    # `sync` re-reads everything: every ghost is named again
    await book.reload(FakeClient(contacts, live.groups))  # type: ignore[arg-type]
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
