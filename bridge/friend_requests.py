"""The one rule of what a friend request is, and what the bridge remembers of them.

Someone who added the user (reverse or pending list) and whom the user has neither allowed nor
blocked has an open request: MSN clients ask the user about them. The bridge announces each open
request once (at login for those made while the user was away, live for the others), in one
notice per burst (:class:`bridge.added_notices.AddedNotices`), unless the user turned the
question off (``GTC N``, the ``privacy`` command); whether it did is kept in the ``contact``
table, so a restart does not announce them again. The answers are the ``accept``, ``decline`` and
``block`` commands (:mod:`bridge.commands.requests`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Iterable

from bridge.db.contact import Contact as DBContact
from bridge.msnp.values import Lists

if TYPE_CHECKING:
    from bridge.contact_entry import ContactEntry

__all__ = ["ANSWERED", "REQUESTED", "announced_in", "is_open", "open_requests"]

#: The lists of someone who added the user.
REQUESTED = Lists.REVERSE | Lists.PENDING
#: The lists of someone the user answered.
ANSWERED = Lists.ALLOW | Lists.BLOCK


def is_open(lists: Lists) -> bool:
    """Whether someone on ``lists`` waits for the user's answer."""
    return bool(lists & REQUESTED) and not lists & ANSWERED


def open_requests(entries: Iterable[ContactEntry]) -> list[ContactEntry]:
    """The open requests among ``entries``, by address."""
    return sorted((e for e in entries if is_open(e.lists)), key=lambda e: e.passport)


def announced_in(rows: Iterable[DBContact]) -> set[str]:
    """Whom the owner of the contact ``rows`` (as stored) was told about."""
    return {row.passport for row in rows if row.request_announced}
