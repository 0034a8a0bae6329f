"""Friend requests in the contact book on a real database (SQLite and PostgreSQL): who has an
open request, each announced once (at login for those made while the user was away, live for
the others) across reconnects and restarts, and not at all when the user said so (GTC N)."""

from __future__ import annotations

import logging

from mautrix.util.async_db import Database

from bridge import friend_requests
from bridge.added_notices import GATHER_SECONDS
from bridge.contact_book import ContactBook
from bridge.db.contact import Contact as DBContact
from bridge.msnp.events import ContactAdded, ContactRemoved, ListSynced
from bridge.msnp.values import Contact, Lists
from tests.integration.test_contact_book import (
    OWNER,
    Notices,
    RecordedGhosts,
    RecordedSpaces,
    make_book,
)
from tests.support.clock import VirtualClock

FL, AL, BL, RL, PL = Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE, Lists.PENDING


def a_list(*extra: Contact) -> ListSynced:
    contacts = [
        Contact("bob@example.com", "Bob", FL | AL | RL),  # a friend: no request
        Contact("dave@example.com", "Dave", RL),  # added the user while they were away
        Contact("pat@example.com", "Pat", PL),  # pending
        Contact("eve@example.com", "Eve", RL | BL),  # blocked: answered
        Contact("al@example.com", "Al", RL | AL),  # allowed: answered
        *extra,
    ]
    return ListSynced(contacts={c.passport: c for c in contacts}, groups={})


def test_the_rule_of_an_open_request() -> None:
    assert friend_requests.is_open(RL) and friend_requests.is_open(PL)
    assert friend_requests.is_open(RL | FL)  # added back but never allowed nor blocked
    for answered in (RL | AL, RL | BL, PL | BL, FL | AL, Lists.NONE):
        assert not friend_requests.is_open(answered)


async def test_requests_made_while_away_are_announced_once_in_one_notice(db: Database) -> None:
    clock = VirtualClock()
    book, _, _, notices = await make_book(clock)
    await book.on_list_synced(a_list())
    await clock.advance(GATHER_SECONDS)
    assert notices == [
        "New people added you to their MSN contact list: \u201cDave\u201d (dave@example.com), "
        "\u201cPat\u201d (pat@example.com). Answer with `accept EMAIL`, `decline EMAIL` or "
        "`block EMAIL`."
    ]
    assert [e.passport for e in friend_requests.open_requests(book.contacts.values())] == [
        "dave@example.com",
        "pat@example.com",
    ]
    told = friend_requests.announced_in(await DBContact.all_for_owner(OWNER))
    assert told == {"dave@example.com", "pat@example.com"}

    # a reconnect: the same list again; nobody is announced twice
    await book.on_list_synced(a_list())
    await clock.advance(120)
    assert len(notices) == 1

    # a restart (a new book on the same database) with one more request made meanwhile
    restarted = ContactBook(
        OWNER,
        logging.getLogger("test.book"),
        spaces=RecordedSpaces(),
        notify=(later := Notices()),
        ghosts=RecordedGhosts(),
        clock=clock,
    )
    await restarted.on_list_synced(a_list(Contact("zoe@example.com", "Zoe", RL)))
    await clock.advance(GATHER_SECONDS)
    assert later == [
        "Someone added you to their MSN contact list: \u201cZoe\u201d (zoe@example.com). "
        "Answer with `accept zoe@example.com`, `decline zoe@example.com` or "
        "`block zoe@example.com`."
    ]


async def test_live_requests_answers_and_a_second_request(db: Database) -> None:
    clock = VirtualClock()
    book, _, _, notices = await make_book(clock)
    await book.on_list_synced(a_list())
    await clock.advance(GATHER_SECONDS)
    notices.clear()
    await clock.advance(60)  # the interval after the login notice

    await book.on_contact_added(ContactAdded("zoe@example.com", RL, "Zoe"))
    await clock.advance(GATHER_SECONDS)
    assert len(notices) == 1 and "(zoe@example.com)" in notices[0]
    rows = {r.passport: r for r in await DBContact.all_for_owner(OWNER)}
    assert rows["zoe@example.com"].request_announced is True
    # accepted (allow + forward): no longer open, not announced again
    await book.on_contact_added(ContactAdded("zoe@example.com", AL, "Zoe"))
    await book.on_contact_added(ContactAdded("zoe@example.com", FL, "Zoe"))
    assert not friend_requests.is_open(book.contacts["zoe@example.com"].lists)
    # someone announced, who removes the user and adds them again, is a new request
    await book.on_contact_removed(ContactRemoved("dave@example.com", RL))
    await book.on_contact_added(ContactAdded("dave@example.com", RL, "Dave"))
    await clock.advance(60)
    assert len(notices) == 2 and "(dave@example.com)" in notices[1]
    assert "zoe@example.com" not in notices[1]


async def test_no_announcement_when_the_user_turned_it_off(db: Database) -> None:
    clock = VirtualClock()
    notices = Notices()
    await make_book(clock)  # (the user row)
    book = ContactBook(
        OWNER,
        logging.getLogger("test.book"),
        spaces=RecordedSpaces(),
        notify=notices,
        ghosts=RecordedGhosts(),
        asks=lambda: False,  # GTC N
        clock=clock,
    )
    await book.on_list_synced(a_list())
    await book.on_contact_added(ContactAdded("zoe@example.com", RL, "Zoe"))
    await clock.advance(120)
    assert notices == []
    # the requests are still there to list and answer
    waiting = friend_requests.open_requests(book.contacts.values())
    assert [e.passport for e in waiting] == [
        "dave@example.com",
        "pat@example.com",
        "zoe@example.com",
    ]
