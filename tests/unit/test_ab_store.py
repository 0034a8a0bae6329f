"""The stored address-book cache: a round trip keeps what a delta login needs; anything
unusable is refused (None), never an exception."""

from __future__ import annotations

from dataclasses import replace
import json

import pytest

from bridge.msnp.ab_login import AbCache
from bridge.msnp.ab_store import MAX_STORED, dump_cache, load_cache
from bridge.msnp.abch import ServiceHeader
from bridge.msnp.addressbook import AbContact, AbGroup, AddressBook
from bridge.msnp.endpoints import NetworkId
from bridge.msnp.sharing import Member, MemberKind, Memberships, Role

BOOK = AddressBook(
    contacts=(
        AbContact(
            "c1",
            "bob@example.com",
            display_name="Bob",
            group_ids=("g1",),
            cid="-42",
            annotations={"AB.NickName": "Bobby"},
        ),
        AbContact("c2", "yahoo@example.com", network=NetworkId.YAHOO),
        AbContact("c3", "gone@example.com", deleted=True),
    ),
    groups=(AbGroup("g1", "Friends", True), AbGroup("g2", "Old", deleted=True)),
    me=AbContact("me", "alice@example.com", contact_type="Me", annotations={"MSN.IM.BLP": "1"}),
    last_change="2026-12-04T01:00:00.0000000-08:00",
    header=ServiceHeader(cache_key="secret-cache-key"),
    created="2020-01-01T00:00:00Z",
)
MEMBERS = Memberships(
    members=(
        Member(Role.ALLOW, MemberKind.PASSPORT, "bob@example.com", membership_id="7"),
        Member(Role.PENDING, MemberKind.PASSPORT, "eve@example.com", display_name="Eve"),
        Member(Role.BLOCK, MemberKind.PASSPORT, "x@example.com", deleted=True),
    ),
    last_change="2026-12-04T01:00:01Z",
    header=ServiceHeader(),
)


def test_round_trip_keeps_the_live_entries_and_cookies() -> None:
    loaded = load_cache(dump_cache(AbCache(BOOK, MEMBERS)))
    assert loaded is not None
    assert [c.email for c in loaded.book.contacts] == ["bob@example.com", "yahoo@example.com"]
    assert loaded.book.contacts[0] == BOOK.contacts[0]
    assert loaded.book.contacts[1].network is NetworkId.YAHOO
    assert loaded.book.groups == (AbGroup("g1", "Friends", True),)
    assert loaded.book.me == BOOK.me
    assert loaded.book.last_change == BOOK.last_change
    assert loaded.memberships.last_change == MEMBERS.last_change
    assert loaded.memberships.members == MEMBERS.members[:2]


def test_same_lists_ignores_only_the_service_headers() -> None:
    cache = AbCache(BOOK, MEMBERS)
    # a delta that changed nothing: new containers, a new cache key, the same entries
    again = AbCache(
        replace(BOOK, contacts=tuple(BOOK.contacts), header=ServiceHeader(cache_key="new")),
        replace(MEMBERS, header=ServiceHeader(cache_key="new")),
    )
    assert cache.same_lists(again) and again.same_lists(cache)
    renamed = replace(BOOK.contacts[0], display_name="Robert")
    changes = [
        AbCache(replace(BOOK, contacts=(renamed, *BOOK.contacts[1:])), MEMBERS),
        AbCache(replace(BOOK, groups=BOOK.groups[:1]), MEMBERS),
        AbCache(replace(BOOK, me=None), MEMBERS),
        AbCache(replace(BOOK, last_change="2026-12-05T00:00:00Z"), MEMBERS),
        AbCache(BOOK, replace(MEMBERS, members=MEMBERS.members[:1])),
        AbCache(BOOK, replace(MEMBERS, last_change=None)),
    ]
    for changed in changes:
        assert not cache.same_lists(changed) and not changed.same_lists(cache)


def test_the_service_cache_key_is_not_stored() -> None:
    assert "secret-cache-key" not in dump_cache(AbCache(BOOK, MEMBERS))


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "not json",
        "[]",
        '{"format": 2}',
        '{"format": 1, "book": {}}',
        json.dumps({"format": 1, "book": {"contacts": [{"id": 5}]}, "memberships": {}}),
        " " * (MAX_STORED + 1),
    ],
)
def test_unusable_text_gives_none(text: str | None) -> None:
    assert load_cache(text) is None


def test_a_bad_member_role_gives_none() -> None:
    data = json.loads(dump_cache(AbCache(BOOK, MEMBERS)))
    data["memberships"]["members"][0]["role"] = "Owner"
    assert load_cache(json.dumps(data)) is None
