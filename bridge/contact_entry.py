"""What the bridge knows about one contact: its own immutable :class:`ContactEntry`.

The contact book (:mod:`bridge.contact_book`) keeps one entry per contact and makes a new one
for each change; the library's contacts are copied into entries with their texts cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.clean_text import clean_line
from bridge.msnp.values import Contact, Lists, Status

__all__ = ["ContactEntry", "friend_count"]


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """What the bridge knows about one contact (a snapshot; changes make a new entry)."""

    passport: str
    friendly_name: str = ""
    lists: Lists = Lists.NONE
    guid: str | None = None
    groups: tuple[str, ...] = ()
    status: Status = Status.OFFLINE
    personal_message: str = ""
    #: the user was told this person added them (see :mod:`bridge.friend_requests`)
    request_announced: bool = False

    @classmethod
    def of(cls, contact: Contact) -> ContactEntry:
        """A snapshot of the library's (mutable) contact, its texts cleaned."""
        return cls(
            passport=contact.passport.lower(),
            friendly_name=clean_line(contact.friendly_name),
            lists=contact.lists,
            guid=contact.guid,
            groups=tuple(contact.groups),
            status=contact.status,
            personal_message=clean_line(contact.personal_message),
        )

    @property
    def display_name(self) -> str:
        return self.friendly_name or self.passport


def friend_count(contacts: Iterable[Contact | ContactEntry]) -> int:
    """How many contacts the user has, as people count them: the forward list (not people who
    only added the user, or who are only allowed or blocked). ``login`` and ``ping`` say it."""
    return sum(1 for contact in contacts if contact.lists & Lists.FORWARD)
