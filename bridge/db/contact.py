"""``contact``, ``contact_group`` and ``contact_group_member``: each user's MSN contact list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mautrix.util.async_db.connection import LoggingConnection

from .model import Model, quote

__all__ = [
    "Contact",
    "ContactGroup",
    "ContactGroupMember",
    "ContactListVersion",
    "ListPrint",
    "list_print",
    "rows_print",
    "store_list",
    "stored_print",
]

_OWNER = quote("owner")


@dataclass
class Contact(Model, table="contact", primary_key=("owner", "passport")):
    owner: str  # Matrix ID of the bridge user
    passport: str  # lower case
    guid: str | None = None  # contact GUID (MSNP10+)
    lists: int = 0  # bitmask of bridge.msnp.events.Lists
    #: the user was told that this person added them (while their request is open)
    request_announced: bool = False

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[Contact]:
        return await cls._get_all(f"{_OWNER}=$1", owner, order_by=quote("passport"))

    @classmethod
    async def replace_for_owner(cls, owner: str, contacts: Iterable[Contact]) -> None:
        """Atomically make ``contacts`` the whole contact list of ``owner``."""
        rows = list(contacts)
        for contact in rows:
            if contact.owner != owner:
                raise ValueError(f"contact {contact.passport} belongs to {contact.owner}")
        conn: LoggingConnection  # (mautrix types acquire() as returning the connection)
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {quote(cls._table)} WHERE {_OWNER}=$1", owner)
            if rows:
                await conn.executemany(cls._sql().insert, [c._values() for c in rows])


@dataclass
class ContactListVersion(Model, table="contact_list_version", primary_key=("owner",)):
    """The server's version of the list the contact tables hold (bridge.list_cache)."""

    owner: str
    protocol: int
    version: str
    allow_unlisted: bool | None = None  # BLP AL then
    reverse_prompt: bool | None = None  # GTC A then

    @classmethod
    async def get(cls, owner: str) -> ContactListVersion | None:
        return await cls._get_one(f"{_OWNER}=$1", owner)

    async def store(self) -> None:
        """Insert or replace the row of ``owner``."""
        await self.db.execute(f"DELETE FROM {quote(self._table)} WHERE {_OWNER}=$1", self.owner)
        await self.insert()

    @classmethod
    async def forget(cls, owner: str) -> None:
        await cls.db.execute(f"DELETE FROM {quote(cls._table)} WHERE {_OWNER}=$1", owner)


@dataclass
class ContactGroup(Model, table="contact_group", primary_key=("owner", "group_id")):
    owner: str
    group_id: str  # group number (<MSNP10) or GUID (MSNP10+), as text
    name: str = ""
    space_room: str | None = None

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[ContactGroup]:
        return await cls._get_all(f"{_OWNER}=$1", owner, order_by=quote("group_id"))


@dataclass
class ContactGroupMember(
    Model, table="contact_group_member", primary_key=("owner", "group_id", "passport")
):
    owner: str
    group_id: str
    passport: str

    @classmethod
    async def groups_of(cls, owner: str, passport: str) -> list[str]:
        """IDs of the groups ``passport`` is in on ``owner``'s list."""
        rows = await cls.db.fetch(
            f"SELECT {quote('group_id')} FROM {quote(cls._table)} "
            f"WHERE {_OWNER}=$1 AND {quote('passport')}=$2 ORDER BY {quote('group_id')}",
            owner,
            passport.lower(),
        )
        return [row["group_id"] for row in rows]

    @classmethod
    async def all_for_owner(cls, owner: str) -> list[ContactGroupMember]:
        return await cls._get_all(
            f"{_OWNER}=$1", owner, order_by=f"{quote('group_id')}, {quote('passport')}"
        )

    @classmethod
    async def replace_for_owner(cls, owner: str, memberships: Iterable[tuple[str, str]]) -> None:
        """Atomically replace ``owner``'s memberships with ``(group_id, passport)`` pairs."""
        rows = sorted({(group_id, passport.lower()) for group_id, passport in memberships})
        conn: LoggingConnection  # (mautrix types acquire() as returning the connection)
        async with cls.db.acquire() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM {quote(cls._table)} WHERE {_OWNER}=$1", owner)
            if rows:
                await conn.executemany(
                    cls._sql().insert, [(owner, group_id, passport) for group_id, passport in rows]
                )


#: What a list's three tables hold, as hashes (contacts, groups, memberships): see
#: :func:`store_list`. Kept in memory only (Python's string hashes differ between processes).
ListPrint = tuple[int, int, int]


def list_print(
    contacts: Iterable[Contact], groups: Mapping[str, str], members: Iterable[tuple[str, str]]
) -> ListPrint:
    """The :data:`ListPrint` of a list as :func:`store_list` would store it."""
    return (
        hash(
            frozenset((c.passport, c.guid, c.lists, bool(c.request_announced)) for c in contacts)
        ),
        hash(frozenset(groups.items())),
        hash(frozenset((g, p.lower()) for g, p in members if g in groups)),
    )


def rows_print(
    contacts: Iterable[Contact],
    groups: Iterable[ContactGroup],
    members: Iterable[ContactGroupMember],
) -> ListPrint:
    """The :data:`ListPrint` of one owner's rows of the three tables."""
    return list_print(
        contacts, {g.group_id: g.name for g in groups}, [(m.group_id, m.passport) for m in members]
    )


async def stored_print(owner: str, contacts: Iterable[Contact] | None = None) -> ListPrint:
    """The :data:`ListPrint` of what the tables hold for ``owner`` now (``contacts``: the
    contact rows, when the caller has just read them)."""
    groups = await ContactGroup.all_for_owner(owner)
    members = await ContactGroupMember.all_for_owner(owner)
    if contacts is None:
        contacts = await Contact.all_for_owner(owner)
    return rows_print(contacts, groups, members)


async def store_list(
    owner: str,
    contacts: Iterable[Contact],
    groups: Mapping[str, str],
    members: Iterable[tuple[str, str]],
    stored: ListPrint | None = None,
) -> tuple[list[ContactGroup], ListPrint]:
    """Make ``contacts``, ``groups`` (names by id) and ``members`` (group id, passport; those
    of unknown groups are left out) the whole list of ``owner``. Returns the group rows that
    were deleted (their spaces go) and the print of the list now stored.

    ``stored`` is the print of what the tables hold (from an earlier call; read when None):
    only the tables whose part of it changed are written, so a login with an unchanged list
    writes nothing."""
    rows = list(contacts)
    pairs = [(g, p) for g, p in members if g in groups]
    new = list_print(rows, groups, pairs)
    if stored is None:
        stored = await stored_print(owner)
    if new[0] != stored[0]:
        await Contact.replace_for_owner(owner, rows)
    removed: list[ContactGroup] = []
    if new[1] != stored[1]:
        old_groups = {g.group_id: g for g in await ContactGroup.all_for_owner(owner)}
        for gid, name in groups.items():
            row = old_groups.pop(gid, None)
            if row is None:
                await ContactGroup(owner=owner, group_id=gid, name=name).insert()
            elif row.name != name:
                row.name = name
                await row.update()
        for row in old_groups.values():
            await row.delete()
        removed = list(old_groups.values())
    if new[2] != stored[2]:
        await ContactGroupMember.replace_for_owner(owner, pairs)
    return removed, new
