"""The rows each user's first login in a process reads, read for a whole page of users when
the bridge starts them: the stored contact list (contacts, groups, memberships), the spaces'
names and children, the portal rows the first space sync places, the display picture, the kept
address book (MSNP13+) and the ghosts of the contacts.

Read by each user alone, that is eight statements per user at every start and one more per
contact whose ghost the process has not met yet; here it is eight per page
(``bridge.app.START_CHUNK`` users) and one per :data:`GHOSTS_PER_READ` ghosts, handed to each
user's contact book, space manager, display picture and login, and to the ghosts' cache,
before the page's logins begin. Each of those is the only writer of its tables, and takes the
rows only while it has not read or written them itself (rows read before its own write would
be older than it); one that does not take them reads them when needed, as before. A failed
read is logged, and every user of the page reads their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Iterable, Sequence
import asyncio
import logging

from bridge import endpoint_state
from bridge.contact_book import GHOST_LISTS
from bridge.db.contact import Contact, ContactGroup, ContactGroupMember
from bridge.db.own_picture import OwnPicture
from bridge.db.portal import Portal as DBPortal
from bridge.db.puppet import Puppet as DBPuppet
from bridge.db.space import SpaceChild, SpaceState
from bridge.db.user import User as DBUser
from bridge.puppet import Puppet

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["GHOSTS_PER_READ", "hand_over"]

log = logging.getLogger("mau.start_rows")

#: Ghosts' rows asked for in one statement (a page of users can have thousands of contacts).
GHOSTS_PER_READ = 500


async def hand_over(users: Sequence[User]) -> None:
    """Read the rows of ``users`` (one statement per table) and give each user theirs; then
    the stored ghosts of their contacts."""
    owners = [user.mxid for user in users]
    if not owners:
        return
    pictures_wanted = any(user.routes.own_avatar is not None for user in users)
    # (handed afterwards to exactly these: a row that changed meanwhile is not guessed at)
    books_wanted = [user.mxid for user in users if _logs_in_with_book(user.row)]
    try:
        # at once (on PostgreSQL, each on a connection of its own): the page's logins wait
        # for one round trip, not eight, while the earlier pages' logins keep the loop busy
        (contacts, groups, members, states, children, pictures), (books, portals) = (
            await asyncio.gather(
                asyncio.gather(
                    Contact.of_owners(owners),
                    ContactGroup.of_owners(owners),
                    ContactGroupMember.of_owners(owners),
                    SpaceState.of_owners(owners),
                    SpaceChild.of_owners(owners),
                    OwnPicture.of_owners(owners if pictures_wanted else [], "mxid"),
                ),
                asyncio.gather(DBUser.ab_caches_of(books_wanted), DBPortal.of_owners(owners)),
            )
        )
    except Exception:
        log.warning(
            "Failed to read the stored rows of %d users at once", len(owners), exc_info=True
        )
        return
    read_books = set(books_wanted)
    for user in users:
        mxid = user.mxid
        user.contacts.take_stored(
            contacts.get(mxid, ()), groups.get(mxid, ()), members.get(mxid, ())
        )
        stored = states.get(mxid, ()), children.get(mxid, ())
        if _logs_in(user.row):  # (and the rows for the first space sync, which follows a login)
            user.spaces.take_stored(
                *stored, groups.get(mxid, ()), members.get(mxid, ()), portals.get(mxid, ())
            )
        else:
            user.spaces.take_stored(*stored)
        avatar = user.routes.own_avatar
        if avatar is not None:
            avatar.take_stored(next(iter(pictures.get(mxid, ())), None))
        if mxid in read_books:
            user.row.hand_ab_cache(books.get(mxid))
    await _ghosts(contacts.values())


def _logs_in(row: DBUser) -> bool:
    """Whether the user logs in when started (a user whose credentials were lost does not:
    nothing is handed to hold until they do)."""
    return bool(row.passport) and not row.credentials_lost


def _logs_in_with_book(row: DBUser) -> bool:
    """Whether the user's first login reads the kept address book."""
    return _logs_in(row) and endpoint_state.reads_cache(row, row.passport or "")


async def _ghosts(contacts: Iterable[list[Contact]]) -> None:
    """The stored ghosts of the contacts who get one (on a list that makes a ghost) and are
    not in memory yet."""
    wanted = sorted(
        {
            c.passport
            for rows in contacts
            for c in rows
            if c.lists & GHOST_LISTS and c.passport not in Puppet.by_passport
        }
    )
    for start in range(0, len(wanted), GHOSTS_PER_READ):
        chunk = wanted[start : start + GHOSTS_PER_READ]
        try:
            found = await DBPuppet.of_owners(chunk, "passport")
        except Exception:
            log.warning("Failed to read %d ghosts at once", len(chunk), exc_info=True)
            return
        Puppet.take_stored(row for rows in found.values() for row in rows)
