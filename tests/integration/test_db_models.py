"""CRUD round trips for every model, on SQLite and PostgreSQL."""

from __future__ import annotations

from mautrix.util.async_db import Database
import pytest

from bridge.credentials import CredentialCipher, generate_key
from bridge.db import (
    Contact,
    ContactGroup,
    ContactGroupMember,
    Message,
    Portal,
    Puppet,
    User,
    upgrade_table,
)
from bridge.db.model import _build

pytestmark = pytest.mark.timeout(120)

UNICODE_NAME = "Zoë 😀 «ドラゴン» \u202e'; DROP TABLE puppet; --"


async def make_user(mxid: str = "@alice:hs", passport: str | None = "alice@example.com") -> User:
    user = User(mxid=mxid, passport=passport, password="s3cret ✓", ticket="t=abc&p=", protocol=12)
    await user.insert()
    return user


async def message_ids(db: Database, room_id: str, status: str | None = None) -> list[str]:
    """The messages of a room, oldest first (optionally only those with ``status``)."""
    order = " ORDER BY timestamp, mxid"
    if status is None:
        rows = await db.fetch("SELECT mxid FROM message WHERE room_id=$1" + order, room_id)
    else:
        rows = await db.fetch(
            "SELECT mxid FROM message WHERE room_id=$1 AND status=$2" + order, room_id, status
        )
    return [row["mxid"] for row in rows]


async def test_generated_sql_shape() -> None:
    stmts = _build(Message)
    assert stmts.columns[:2] == ("room_id", "mxid")
    assert "$9" in stmts.insert and "$10" not in stmts.insert
    assert stmts.update is not None and stmts.update.endswith('"room_id"=$8 AND "mxid"=$9')
    assert stmts.delete == 'DELETE FROM "message" WHERE "room_id"=$1 AND "mxid"=$2'
    # a table with only key columns has nothing to update
    assert _build(ContactGroupMember).update is None


async def test_user_round_trip_and_encryption(db: Database) -> None:
    user = await make_user()
    assert user.credentials_lost is False
    got = await User.get_by_mxid("@alice:hs")
    assert got == user
    raw = await db.fetchrow('SELECT password, ticket FROM "user" WHERE mxid=$1', "@alice:hs")
    assert raw["password"] not in (None, "s3cret ✓") and "s3cret" not in raw["password"]
    assert raw["ticket"] != "t=abc&p="

    got.management_room = "!mgmt:hs"
    got.ticket = None
    got.ticket_expiry = 1_900_000_000_000
    await got.update()
    again = await User.get_by_mxid("@alice:hs")
    assert again is not None
    assert (again.management_room, again.ticket, again.ticket_expiry) == (
        "!mgmt:hs",
        None,
        1_900_000_000_000,
    )
    assert again.password == "s3cret ✓"

    # an update writes every other column of the key
    await User(mxid="@alice:hs", passport="alice@example.com", protocol=8).update()
    replaced = await User.get_by_mxid("@alice:hs")
    assert replaced is not None and replaced.protocol == 8 and replaced.password is None

    await make_user("@bob:hs", None)
    await make_user("@carol:hs", "carol@example.com")
    assert [u.mxid for u in await User.all_logged_in()] == ["@alice:hs", "@carol:hs"]
    assert await db.fetchval('SELECT COUNT(*) FROM "user"') == 3
    # read a page at a time at start-up: in mxid order, after the last one seen
    await make_user("@dave:hs", "dave@example.com")
    assert await User.count_logged_in() == 3
    first = await User.logged_in_page("", 2)
    assert [u.mxid for u in first] == ["@alice:hs", "@carol:hs"]
    assert first[1].passport == "carol@example.com"
    assert [u.mxid for u in await User.logged_in_page(first[-1].mxid, 2)] == ["@dave:hs"]
    assert await User.logged_in_page("@dave:hs", 2) == []

    await replaced.delete()
    assert await User.get_by_mxid("@alice:hs") is None
    assert await User.get_by_mxid("@nobody:hs") is None


async def test_user_wrong_key_asks_for_login_and_keeps_ciphertext(db: Database) -> None:
    key = User.cipher
    await make_user()
    raw_before = await db.fetchval('SELECT password FROM "user" WHERE mxid=$1', "@alice:hs")

    User.cipher = CredentialCipher(generate_key())  # the admin changed bridge.credential_key
    user = await User.get_by_mxid("@alice:hs")
    assert user is not None
    assert user.credentials_lost is True
    assert user.password is None and user.ticket is None
    assert user.passport == "alice@example.com"
    # saving other columns does not destroy the undecryptable values
    user.management_room = "!m:hs"
    await user.update()
    assert (
        await db.fetchval('SELECT password FROM "user" WHERE mxid=$1', "@alice:hs") == raw_before
    )

    # the old key comes back: credentials are readable again
    User.cipher = key
    restored = await User.get_by_mxid("@alice:hs")
    assert restored is not None and restored.password == "s3cret ✓"
    assert restored.management_room == "!m:hs"

    # a new login with the new key replaces them; a logout (assigning None) clears them
    User.cipher = CredentialCipher(generate_key())
    relogin = await User.get_by_mxid("@alice:hs")
    assert relogin is not None and relogin.credentials_lost
    relogin.password = "new pass"
    relogin.ticket = None
    await relogin.update()
    fresh = await User.get_by_mxid("@alice:hs")
    assert fresh is not None and fresh.password == "new pass" and fresh.ticket is None
    assert fresh.credentials_lost is False


async def test_user_without_cipher_refuses_to_store_plaintext(db: Database) -> None:
    key = User.cipher
    User.cipher = None
    try:
        with pytest.raises(RuntimeError, match="cipher"):
            await User(mxid="@x:hs", passport="x@y.z", password="pw").insert()
        assert await User.get_by_mxid("@x:hs") is None
    finally:
        User.cipher = key


async def test_puppet_round_trip_unicode(db: Database) -> None:
    puppet = Puppet(passport="bob@example.com", friendly_name=UNICODE_NAME, personal_message="hi")
    await puppet.insert()
    got = await Puppet.get_by_passport("BOB@example.com")
    assert got == puppet
    assert got is not None and got.name_set is False and isinstance(got.name_set, bool)
    got.name_set = True
    got.personal_message = "☕ brb"
    got.custom_mxid = "@bob:hs"
    got.access_token = "tok"
    await got.update()
    assert await Puppet.get_by_custom_mxid("@bob:hs") == got
    await Puppet(passport="bob@example.com", friendly_name="Bob").update()
    over = await Puppet.get_by_passport("bob@example.com")
    assert over is not None and over.friendly_name == "Bob" and over.custom_mxid is None
    await Puppet(passport="zed@example.com").insert()
    passports = [r["passport"] for r in await db.fetch("SELECT passport FROM puppet ORDER BY 1")]
    assert passports == ["bob@example.com", "zed@example.com"]
    await over.delete()
    assert await Puppet.get_by_passport("bob@example.com") is None


async def test_duplicate_insert_fails_and_changes_nothing(db: Database) -> None:
    await Puppet(passport="p@x.com", friendly_name="first").insert()
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await Puppet(passport="p@x.com", friendly_name="second").insert()
    got = await Puppet.get_by_passport("p@x.com")
    assert got is not None and got.friendly_name == "first"


async def test_contacts_and_groups(db: Database) -> None:
    await make_user()
    await make_user("@bob:hs", "bob@example.com")
    owner = "@alice:hs"
    c1 = Contact(owner=owner, passport="carol@example.com", guid="g-1", lists=1 | 2 | 8)
    c2 = Contact(owner=owner, passport="dave@example.com", lists=1)
    await c1.insert()
    await c2.insert()
    await Contact(owner="@bob:hs", passport="carol@example.com", lists=8).insert()
    assert await Contact.all_for_owner(owner) == [c1, c2]
    assert await Contact.get(owner, "carol@example.com") == c1
    c2.lists = 1 | 4
    await c2.update()
    assert (await Contact.get(owner, "dave@example.com")).lists == 5  # type: ignore[union-attr]

    new_list = [Contact(owner=owner, passport="erin@example.com", lists=3)]
    await Contact.replace_for_owner(owner, new_list)
    assert await Contact.all_for_owner(owner) == new_list
    assert len(await Contact.all_for_owner("@bob:hs")) == 1
    with pytest.raises(ValueError):
        await Contact.replace_for_owner(owner, [Contact(owner="@bob:hs", passport="x@y.z")])
    assert await Contact.all_for_owner(owner) == new_list

    g1 = ContactGroup(owner=owner, group_id="0", name="Friends 🎉")
    g2 = ContactGroup(owner=owner, group_id="1", name=UNICODE_NAME, space_room="!s:hs")
    await g1.insert()
    await g2.insert()
    assert await ContactGroup.all_for_owner(owner) == [g1, g2]
    g1.name = "Best friends"
    await g1.update()
    assert (await ContactGroup.get(owner, "0")).name == "Best friends"  # type: ignore[union-attr]

    await ContactGroupMember.replace_for_owner(
        owner, [("0", "carol@example.com"), ("1", "Carol@example.com"), ("1", "dave@example.com")]
    )
    await ContactGroupMember.replace_for_owner("@bob:hs", [("0", "carol@example.com")])
    assert await ContactGroupMember.groups_of(owner, "carol@example.com") == ["0", "1"]
    assert await ContactGroupMember.groups_of(owner, "dave@example.com") == ["1"]
    members = await ContactGroupMember.all_for_owner(owner)
    assert [m.passport for m in members if m.group_id == "1"] == [
        "carol@example.com",
        "dave@example.com",
    ]
    await ContactGroupMember.replace_for_owner(owner, [("1", "dave@example.com")])
    assert await ContactGroupMember.groups_of(owner, "carol@example.com") == []
    assert [m.passport for m in await ContactGroupMember.all_for_owner(owner)] == [
        "dave@example.com"
    ]
    assert await ContactGroupMember.groups_of("@bob:hs", "carol@example.com") == ["0"]

    # Deleting the user removes everything it owned.
    user = await User.get_by_mxid(owner)
    assert user is not None
    await user.delete()
    assert await Contact.all_for_owner(owner) == []
    assert await ContactGroup.all_for_owner(owner) == []
    assert await ContactGroupMember.all_for_owner(owner) == []


async def test_replace_is_transactional(db: Database) -> None:
    await make_user()
    owner = "@alice:hs"
    await ContactGroupMember.replace_for_owner(owner, [("0", "a@x.com")])
    before = await Contact.all_for_owner(owner)
    await Contact.replace_for_owner(owner, [Contact(owner=owner, passport="a@x.com")])
    before = await Contact.all_for_owner(owner)
    # The second row violates the primary key: the delete and first insert must roll back.
    bad = [Contact(owner=owner, passport="b@x.com"), Contact(owner=owner, passport="b@x.com")]
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await Contact.replace_for_owner(owner, bad)
    assert await Contact.all_for_owner(owner) == before
    # memberships into a group for an owner that does not exist: FK error, nothing changes
    with pytest.raises(Exception, match=r"(?i)foreign"):
        await ContactGroupMember.replace_for_owner("@ghost:hs", [("0", "a@x.com")])
    assert await ContactGroupMember.groups_of(owner, "a@x.com") == ["0"]


async def test_portal_and_message(db: Database) -> None:
    await make_user()
    owner = "@alice:hs"
    dm = Portal(owner=owner, conv_key="bob@example.com", room_id="!dm:hs", name=UNICODE_NAME)
    await dm.insert()
    grp = Portal(owner=owner, conv_key="group:00ff", kind="group", encrypted=True)
    await grp.insert()
    assert await Portal.get_by_key(owner, "bob@example.com") == dm
    assert await Portal.get_by_room("!dm:hs") == dm
    got_grp = await Portal.get_by_key(owner, "group:00ff")
    assert got_grp is not None and got_grp.encrypted is True and got_grp.room_id is None
    assert [p.conv_key for p in await Portal.all_for_owner(owner)] == [
        "bob@example.com",
        "group:00ff",
    ]
    assert [p for p in await Portal.all_for_owner(owner) if p.room_id] == [dm]
    got_grp.room_id = "!grp:hs"
    got_grp.relay_user_id = "@relay:hs"
    await got_grp.update()
    assert await Portal.get_by_room("!grp:hs") == got_grp
    # room_id is unique
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await Portal(owner=owner, conv_key="x@y.z", room_id="!dm:hs").insert()
    # kind is checked
    with pytest.raises(Exception, match=r"(?i)check"):
        await Portal(owner=owner, conv_key="y@y.z", kind="channel").insert()

    out = Message(
        room_id="!dm:hs",
        mxid="$ev1",
        owner=owner,
        conv_key="bob@example.com",
        msn_id="m1",
        sender=owner,
        direction="out",
        timestamp=1_700_000_000_123,
    )
    await out.insert()
    inc = Message(
        room_id="!dm:hs",
        mxid="$ev2",
        owner=owner,
        conv_key="bob@example.com",
        msn_id="m2",
        sender="bob@example.com",
        direction="in",
        status="delivered",
        timestamp=1_700_000_000_200,
    )
    await inc.insert()
    assert await Message.get_by_mxid("!dm:hs", "$ev1") == out
    assert await Message.get_by_mxid("!dm:hs", "$ev2") == inc
    await out.set_status("delivered")
    assert out.status == "delivered"
    assert (await Message.get_by_mxid("!dm:hs", "$ev1")).status == "delivered"  # type: ignore[union-attr]
    await out.set_status("failed")
    assert await message_ids(db, "!dm:hs") == ["$ev1", "$ev2"]
    assert await message_ids(db, "!dm:hs", status="failed") == ["$ev1"]
    with pytest.raises(Exception, match=r"(?i)check"):
        await out.set_status("lost")
    await inc.delete()
    assert await Message.get_by_mxid("!dm:hs", "$ev2") is None
    # deleting the portal removes its messages
    await dm.delete()
    assert await message_ids(db, "!dm:hs") == []
    await Message(
        room_id="!grp:hs", mxid="$g", owner=owner, conv_key="group:00ff", direction="in"
    ).insert()
    await Message.delete_all_in_room("!grp:hs")
    assert await message_ids(db, "!grp:hs") == []


async def test_init_sets_db_on_all_models(db: Database) -> None:
    from bridge.db import ALL_MODELS

    assert {m.db for m in ALL_MODELS} == {db}
    assert len(upgrade_table.upgrades) >= 2


async def test_double_puppet_token_is_encrypted_like_passwords(db: Database) -> None:
    key = Puppet.cipher
    await Puppet(
        passport="bob@example.com", custom_mxid="@bob:hs", access_token="syt_tok"
    ).insert()
    raw = await db.fetchval("SELECT access_token FROM puppet WHERE passport=$1", "bob@example.com")
    assert raw and "syt_tok" not in raw
    assert key is not None and key.decrypt(raw) == "syt_tok"
    got = await Puppet.get_by_custom_mxid("@bob:hs")
    assert got is not None and got.access_token == "syt_tok"
    assert "syt_tok" not in repr(got)
    try:
        # the key changed: no token (double puppeting off), the stored text is kept
        Puppet.cipher = CredentialCipher(generate_key())
        lost = await Puppet.get_by_passport("bob@example.com")
        assert lost is not None and lost.access_token is None and lost.custom_mxid == "@bob:hs"
        lost.friendly_name = "Bob"
        await lost.update()
        assert await db.fetchval("SELECT access_token FROM puppet") == raw
    finally:
        Puppet.cipher = key


async def test_the_address_book_cache_is_kept_apart_from_the_user_row(db: Database) -> None:
    row = User(mxid="@a:hs", passport="a@x.com")
    await row.insert()
    await row.write_ab_cache('{"book": 1}')
    row.protocol = 18
    await row.update()  # the row's own columns: the cache is not one of them
    assert await row.read_ab_cache() == '{"book": 1}'
    again = await User.get_by_mxid("@a:hs")
    assert again is not None and again.protocol == 18 and not hasattr(again, "ab_cache")
    await again.write_ab_cache(None)
    assert await row.read_ab_cache() is None
