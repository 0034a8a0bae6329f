"""``contact``, ``contact_group`` and ``contact_group_member``: each user's MSN contact list."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mautrix.util.async_db.connection import LoggingConnection

from .model import Model, quote

__all__ = ["Contact", "ContactGroup", "ContactGroupMember"]

_OWNER = quote("owner")


@dataclass
class Contact(Model, table="contact", primary_key=("owner", "passport")):
    owner: str  # Matrix ID of the bridge user
    passport: str  # lower case
    guid: str | None = None  # contact GUID (MSNP10+)
    lists: int = 0  # bitmask of bridge.msnp.events.Lists

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
