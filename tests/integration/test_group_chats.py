"""bridge.group_chats on a real database (SQLite and PostgreSQL), without a homeserver: which
portal the messages of multi-party switchboards go to, room reuse by participant set (across
switchboards and restarts), the per-contact limit on new rooms with the direct-chat fallback
and its one notice."""

from __future__ import annotations

import logging

from mautrix.util.async_db import Database

from bridge.db.portal import Portal as DBPortal, participant_set
from bridge.db.user import User as DBUser
from bridge.group_chats import GroupChats, Route
from bridge.limits import Limits
from tests.support.clock import VirtualClock

OWNER = "@alice:hs.test"
ME = "alice@example.com"
BOB, CAROL, DAVE = "bob@example.com", "carol@example.com", "dave@example.com"


class Notices(list[tuple[str, str]]):
    async def __call__(self, text: str, html: str) -> None:
        self.append((text, html))


def make(clock: VirtualClock, notices: Notices, per_contact: int = 3) -> GroupChats:
    limits = Limits(group_rooms_per_contact=per_contact, group_rooms_window=600)
    return GroupChats(OWNER, lambda: ME, limits, notices, logging.getLogger("test.groups"), clock)


async def deliver(groups: GroupChats, key: str, sender: str, *others: str) -> Route:
    """What the user does with a message: route it, and make the portal a new route names
    (storing its participants)."""
    route = await groups.route(key, sender, (ME.upper(), *others), sender_name=sender)
    row = await DBPortal.get_by_key(OWNER, route.conv_key)
    if row is None:
        kind = "dm" if route.direct else "group"
        row = DBPortal(owner=OWNER, conv_key=route.conv_key, kind=kind)
        await row.insert()
    if route.participants and row.participants != route.participants:
        row.participants = route.participants
        await row.update()
    return route


async def test_the_same_people_reuse_one_room(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    notices = Notices()
    groups = make(VirtualClock(), notices)
    # twenty switchboards with bob and carol (in any order and case), one message each
    routes = [
        await deliver(
            groups, f"group:{i:04x}", BOB, *((CAROL.upper(), BOB) if i % 2 else (BOB, CAROL))
        )
        for i in range(20)
    ]
    assert {r.conv_key for r in routes} == {"group:0000"}
    assert routes[5] == Route("group:0000", f"{BOB} {CAROL}")
    rows = await DBPortal.all_for_owner(OWNER)
    assert [(r.conv_key, r.participants) for r in rows] == [("group:0000", f"{BOB} {CAROL}")]
    # the user's replies go to the switchboard seen last
    assert groups.library_key("group:0000") == "group:0013"
    assert groups.portal_key("group:0007") == "group:0000"
    assert groups.library_key(BOB) == BOB
    assert notices == []

    # after a restart (a new GroupChats, nothing in memory) the stored set still matches;
    # another set of people gets its own room
    again = make(VirtualClock(), notices)
    assert (await deliver(again, "group:beef", CAROL, CAROL, BOB)).conv_key == "group:0000"
    assert (await deliver(again, "group:cafe", CAROL, CAROL, BOB, DAVE)).conv_key == "group:cafe"
    assert again.portal_key("group:f00d") == "group:f00d"  # unknown: its own key, no room made
    assert await DBPortal.get_by_key(OWNER, "group:f00d") is None


async def test_a_group_of_one_is_a_direct_chat(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    groups = make(VirtualClock(), Notices())
    # the others left before anyone wrote: the message goes to the sender's direct chat
    assert await deliver(groups, "group:0001", BOB, BOB) == Route(BOB)
    assert await deliver(groups, BOB.upper(), BOB, BOB) == Route(BOB)
    # a switchboard whose room exists keeps it when people leave
    assert (await deliver(groups, "group:0002", BOB, BOB, CAROL)).conv_key == "group:0002"
    assert await deliver(groups, "group:0002", BOB, BOB) == Route("group:0002", None)


async def test_new_rooms_are_limited_per_contact_and_nothing_is_lost(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    clock, notices = VirtualClock(), Notices()
    groups = make(clock, notices, per_contact=3)
    people = [f"p{i}@example.com" for i in range(10)]
    # the spammer opens a conversation with different people each time
    routes = [await deliver(groups, f"group:{i:04x}", BOB, BOB, people[i]) for i in range(6)]
    assert [r.conv_key for r in routes] == [
        "group:0000",
        "group:0001",
        "group:0002",
        BOB,
        BOB,
        BOB,
    ]
    # later messages of a redirected switchboard go to the direct chat of whoever wrote them
    assert await deliver(groups, "group:0004", people[4], BOB, people[4]) == Route(people[4])
    assert groups.redirected == 4
    # one notice, which starts with fixed text and quotes the contact's name
    assert len(notices) == 1
    text, html = notices[0]
    assert text.startswith("A contact started more new group chats than the bridge opens rooms")
    assert f"\u201c{BOB}\u201d ({BOB})" in text and "3 per 10 minutes" in text
    assert "<code>bob@example.com</code>" in html
    # the limit is per contact: carol still gets rooms, and the same people reuse theirs
    assert (await deliver(groups, "group:00c0", CAROL, CAROL, DAVE)).conv_key == "group:00c0"
    assert (await deliver(groups, "group:00b0", BOB, BOB, people[1])).conv_key == "group:0001"
    # once the window has passed, bob may open rooms again (and is named again if needed)
    await clock.advance(600)
    assert (await deliver(groups, "group:00aa", BOB, BOB, people[8])).conv_key == "group:00aa"
    rows = {r.conv_key for r in await DBPortal.all_for_owner(OWNER) if r.kind == "group"}
    assert rows == {"group:0000", "group:0001", "group:0002", "group:00c0", "group:00aa"}


def test_participant_sets_are_one_form() -> None:
    assert participant_set(["Carol@X.com", "bob@x.com", "ME@x.com", "bob@X.com"], "me@X.com") == (
        "bob@x.com carol@x.com"
    )
    assert participant_set([], None) == ""


async def test_a_circle_has_its_own_room_whoever_writes(db: Database) -> None:
    """An MSNP18 circle's messages go to the circle's portal: not to a direct chat when one
    other member is in it, not to another room with the same people, never limited."""
    await DBUser(mxid=OWNER).insert()
    notices = Notices()
    groups = make(VirtualClock(), notices, per_contact=1)
    same_people = await deliver(groups, "group:00aa", BOB, BOB, CAROL)
    circle = "group:circle:00000000-0000-0000-0009-0123456789ab"
    routes = [await deliver(groups, circle, BOB, BOB, CAROL), await deliver(groups, circle, BOB)]
    assert routes == [Route(circle), Route(circle)]
    assert not routes[0].direct and same_people.conv_key != circle
    assert groups.library_key(circle) == circle and notices == []
