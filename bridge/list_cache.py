"""The contact list the bridge keeps between sessions (MSNP8-12), so that a reconnect or restart
downloads the list only when it changed: the ``contact`` tables are read back as the library's
:class:`~bridge.msnp.values.ListCache`, with the list version and privacy settings stored
(``contact_list_version``, owned by this module) when the list arrived.

The version is stored only with a whole list (at login), never after a change during the
session: the server's version moves on with every change, so the stored one stays the version
of a list the tables hold or older (then the server sends the whole list again).

From MSNP13 the list comes from the address book, with no version: a login whose previous one
was MSNP13+ reads none (that login left none, and this one would not use it), and an owner known
to have none is not deleted again, so an MSNP13+ restart costs this module no statement.
"""

from __future__ import annotations

import logging

from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup,
    ContactGroupMember,
    ContactListVersion,
)
from bridge.db.model import quote
from bridge.db.user import User as DBUser
from bridge.endpoint_state import FIRST_AB_VERSION
from bridge.msnp.events import ListSynced
from bridge.msnp.values import Contact, Group, ListCache, Lists

__all__ = ["forget", "load", "remember"]

log = logging.getLogger("mau.list_cache")

#: owners whose kept version this process knows to be absent (read, or deleted, or the last
#: login was MSNP13+): no statement is spent on them until a version is stored again
_none_kept: set[str] = set()


async def load(row: DBUser, passport: str) -> ListCache | None:
    """The kept list of ``row``'s account ``passport`` (None: none, another account's, or it
    could not be read: then the list is downloaded, as without a cache)."""
    if row.passport != passport:
        return None
    if row.protocol is not None and row.protocol >= FIRST_AB_VERSION:
        _none_kept.add(row.mxid)
        return None
    try:
        return await _read(row)
    except Exception:
        log.warning("Failed to read the kept contact list of %s", row.mxid, exc_info=True)
        return None


async def _read(row: DBUser) -> ListCache | None:
    kept_version = await ContactListVersion.get(row.mxid)
    if kept_version is None:
        _none_kept.add(row.mxid)
        return None
    contacts = await DBContact.all_for_owner(row.mxid)
    names = {
        r["passport"]: r["friendly_name"]
        for r in await DBContact.db.fetch(
            f"SELECT c.{quote('passport')}, p.{quote('friendly_name')} FROM {quote('contact')} c"
            f" JOIN {quote('puppet')} p ON p.{quote('passport')} = c.{quote('passport')}"
            f" WHERE c.{quote('owner')}=$1",
            row.mxid,
        )
    }
    groups_of: dict[str, list[str]] = {}
    for member in await ContactGroupMember.all_for_owner(row.mxid):
        groups_of.setdefault(member.passport, []).append(member.group_id)
    kept = {
        c.passport: Contact(
            c.passport,
            names.get(c.passport) or c.passport,
            Lists(c.lists),
            c.guid,
            tuple(groups_of.get(c.passport, ())),
        )
        for c in contacts
    }
    groups = {
        g.group_id: Group(g.group_id, g.name) for g in await ContactGroup.all_for_owner(row.mxid)
    }
    return ListCache(
        kept_version.version,
        kept_version.protocol,
        kept,
        groups,
        kept_version.allow_unlisted,
        kept_version.reverse_prompt,
    )


async def remember(
    owner: str, protocol: int, evt: ListSynced, allow_unlisted: bool | None, ask: bool | None
) -> None:
    """Keep the version and settings of the whole list ``evt`` (call it once the list itself
    is stored)."""
    if not evt.version:
        if owner not in _none_kept:
            await forget(owner)
        return
    _none_kept.discard(owner)
    await ContactListVersion(owner, protocol, evt.version, allow_unlisted, ask).store()


async def forget(owner: str) -> None:
    """No kept list (logout: the next account's list is another)."""
    await ContactListVersion.forget(owner)
    _none_kept.add(owner)
