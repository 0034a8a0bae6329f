"""bridge.offline_contacts: which refusals hold a direct chat, what its condition waits for,
one notice per hold, and the sign-in that releases it."""

from __future__ import annotations

import asyncio

from bridge.msnp.errors import DeliveryFailed, MSNPError
from bridge.msnp.events import PresenceChanged
from bridge.msnp.values import Status
from bridge.offline_contacts import OfflineContacts, duration, queue_timeout

OFFLINE = MSNPError(217)


def _presence(passport: str, status: Status) -> PresenceChanged:
    return PresenceChanged(passport=passport, status=status, friendly_name=None)


def test_only_an_offline_contact_whose_presence_msn_reports_is_held() -> None:
    book = OfflineContacts(enabled=True)
    assert not book.hold("bob@x.com", OFFLINE, presence_reported=False)
    assert not book.hold("bob@x.com", MSNPError(215), presence_reported=True)
    assert not book.hold("bob@x.com", DeliveryFailed("NAK"), presence_reported=True)
    assert len(book) == 0
    assert book.hold("Bob@X.com", OFFLINE, presence_reported=True)
    assert book.held("bob@x.com") and len(book) == 1
    assert book.hold("bob@x.com", OFFLINE, presence_reported=True)  # still one hold
    assert len(book) == 1


def test_the_feature_off_holds_nothing() -> None:
    book = OfflineContacts(enabled=False)
    assert not book.hold("bob@x.com", OFFLINE, presence_reported=True)
    online = asyncio.Event()
    assert book.condition("bob@x.com", online) is online


async def test_a_held_chat_waits_for_the_sign_in_and_the_connection() -> None:
    book = OfflineContacts(enabled=True)
    online = asyncio.Event()
    online.set()
    book.hold("bob@x.com", OFFLINE, presence_reported=True)
    condition = book.condition("bob@x.com", online)
    assert not condition.is_set()
    assert book.condition("carol@x.com", online) is online  # other chats are not held
    waiter = asyncio.ensure_future(condition.wait())
    book.on_presence(_presence("carol@x.com", Status.ONLINE))
    book.on_presence(_presence("bob@x.com", Status.OFFLINE))
    await asyncio.sleep(0)
    assert not waiter.done()
    online.clear()  # disconnected meanwhile: the sign-in alone is not enough
    book.on_presence(_presence("BOB@x.com", Status.AWAY))
    await asyncio.sleep(0)
    assert not waiter.done() and not book.held("bob@x.com")
    online.set()
    assert await asyncio.wait_for(waiter, 1) is True
    assert book.condition("bob@x.com", online) is online


def test_one_notice_per_hold() -> None:
    book = OfflineContacts(enabled=True)
    assert not book.tell_once("bob@x.com")  # not held
    book.hold("bob@x.com", OFFLINE, presence_reported=True)
    assert book.tell_once("bob@x.com")
    assert not book.tell_once("bob@x.com")
    book.on_presence(_presence("bob@x.com", Status.ONLINE))
    book.hold("bob@x.com", OFFLINE, presence_reported=True)  # offline again: a new hold
    assert book.tell_once("bob@x.com")


async def test_logout_releases_every_hold() -> None:
    book = OfflineContacts(enabled=True)
    online = asyncio.Event()
    online.set()
    book.hold("bob@x.com", OFFLINE, presence_reported=True)
    condition = book.condition("bob@x.com", online)
    book.release_all()
    assert condition.is_set() and len(book) == 0


def test_queue_timeout_and_duration() -> None:
    config = {
        "bridge.send_queue": {"timeout": 300},
        "bridge.offline_contacts": {"enabled": True, "timeout": 7200},
    }
    assert queue_timeout(config, is_direct=True) == 7200
    assert queue_timeout(config, is_direct=False) == 300
    config["bridge.offline_contacts"] = {"enabled": False, "timeout": 7200}
    assert queue_timeout(config, is_direct=True) == 300
    assert OfflineContacts.from_config(config).enabled is False
    assert duration(86400) == "1 day" and duration(7200) == "2 hours"
    assert duration(60) == "1 minute" and duration(30) == "30 seconds"


def test_a_contact_seen_online_is_tried_again_once_before_being_waited_for() -> None:
    # (they signed in between the call and MSN's refusal: their NLN came first)
    book = OfflineContacts(enabled=True)
    assert book.hold("bob@x.com", OFFLINE, presence_reported=True, seen_online=True)
    assert not book.held("bob@x.com")  # tried again at once
    assert book.hold("bob@x.com", OFFLINE, presence_reported=True, seen_online=True)
    assert book.held("bob@x.com")  # refused again: now it waits for a sign-in
