"""The contact list, groups, presence and list settings of one session, kept sans-IO.

Changes go in, immutable state and events come out. Whatever reports a change calls the value
methods: :mod:`.list_commands` for what an MSNP2-12 notification server sends,
:mod:`.list_editor` once the server confirmed one of the user's own changes, and the MSNP13+
address book (ABFindAll, ``ADL``) can feed the same calls. Each returns the event to hand on.

Contacts are frozen :class:`~.values.Contact` values: a change replaces the entry, so whatever
was handed out (``ListSynced``, :attr:`Roster.contacts`) never changes under its holder. What
the server sends costs bounded memory: at most ``max_contacts`` contacts, :data:`MAX_GROUPS`
groups, :data:`MAX_CONTACT_GROUPS` groups per contact, names cut at :data:`MAX_NAME`.

Thousands of sessions in one process list the same people: addresses, names and MSN objects
are interned (one string per value, freed with its last user), a contact's group ids are the
group's own id strings and capability numbers are shared, so a contact costs little more than
its :class:`~.values.Contact`.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Mapping
from dataclasses import replace
from sys import intern
from types import MappingProxyType
import logging

from .burst import Tally
from .events import (
    ContactAdded,
    ContactRemoved,
    GroupChanged,
    ListSynced,
    PersonalMessageChanged,
    PresenceChanged,
)
from .values import Contact, Group, ListCache, Lists, Status

__all__ = [
    "MAX_CONTACT_GROUPS",
    "MAX_GROUPS",
    "MAX_MSN_OBJECT",
    "MAX_NAME",
    "PHONE_TYPES",
    "Roster",
]

log = logging.getLogger("msnp.roster")

#: Contact groups kept; MSN servers allowed a few dozen.
MAX_GROUPS: Final = 1000
#: Groups kept per contact, and the longest friendly name / MSN object kept (MSN allowed 129
#: characters of name): a contact costs bounded memory whatever the server sends.
MAX_CONTACT_GROUPS: Final = 32
MAX_NAME: Final = 1024
MAX_MSN_OBJECT: Final = 4096
#: The phone numbers ``BPR``/``PRP`` carry (home, work, mobile, mobile device, MSN Mobile).
PHONE_TYPES: Final = frozenset({"PHH", "PHW", "PHM", "MOB", "MBE"})


#: one int object per capability value seen (bounded), not one per contact and session
_SHARED_INTS: dict[int, int] = {}


def _shared_int(value: int) -> int:
    kept = _SHARED_INTS.get(value)
    if kept is not None:
        return kept
    if len(_SHARED_INTS) < 1024:
        _SHARED_INTS[value] = value
    return value


def _shared_name(name: str, current: str) -> str:
    """``name``, as the object already held when it is unchanged, else interned."""
    return current if name == current else intern(name)


class Roster:
    """One session's list state (see the module documentation).

    ``version`` is the negotiated protocol version: the shapes of the list commands depend on
    it (set it once ``VER`` is answered, like the codec's :attr:`~.codec.Parser.version`).
    ``tally`` counts (and logs once per burst) what was not kept.
    """

    __slots__ = (
        "_contacts", "_groups", "_max_contacts", "_phones", "groups_listed", "last_listed",
        "listed", "lists_complete", "own_name", "own_passport", "privacy_allow_unlisted",
        "reverse_prompt",
        "tally", "version",
    )  # fmt: skip

    def __init__(
        self, version: int = 0, *, max_contacts: int = 5000, tally: Tally | None = None
    ) -> None:
        self.version = version
        self._max_contacts = max_contacts
        self.tally = tally if tally is not None else Tally(log)
        self._contacts: dict[str, Contact] = {}
        self._groups: dict[str, Group] = {}
        #: the user's own friendly name as the server last reported or confirmed it
        self.own_name = ""
        #: the user's own account: MSNP16+ servers report its presence to every endpoint of
        #: it, which is not a contact's
        self.own_passport = ""
        #: ``BLP``: whether people on no list may see the user and talk to them (AL) or not
        self.privacy_allow_unlisted: bool | None = None
        #: ``GTC``: whether the user wants to be asked when someone adds them (A) or not (N)
        self.reverse_prompt: bool | None = None
        #: ``BPR``/``PRP``: phone numbers by lower-cased passport ("" the user's own), made when
        #: the first arrives (only contacts that have some)
        self._phones: dict[str, dict[str, str]] | None = None
        #: list download progress: ``LST`` lines (MSNP8+), ``LSG`` lines, complete lists (<8)
        self.listed = 0
        self.groups_listed = 0
        self.lists_complete = Lists.NONE
        #: the contact the last list line was about (``BPR`` lines that follow belong to it)
        self.last_listed = ""

    # ------------------------------------------------------------------ reading

    @property
    def contacts(self) -> Mapping[str, Contact]:
        """Contacts by lower-cased passport: a read-only view of frozen values."""
        return MappingProxyType(self._contacts)

    @property
    def groups(self) -> Mapping[str, Group]:
        """Groups by id (numeric id at MSNP2-9, GUID from MSNP10): a read-only view."""
        return MappingProxyType(self._groups)

    def get(self, passport: str) -> Contact | None:
        return self._contacts.get(passport.lower())

    def find(self, key: str) -> Contact | None:
        """A contact by passport or GUID."""
        contact = self._contacts.get(key.lower())
        if contact is not None:
            return contact
        lowered = key.lower()
        for contact in self._contacts.values():
            if contact.guid and contact.guid.lower() == lowered:
                return contact
        return None

    def snapshot(self, version: str = "", from_cache: bool = False) -> ListSynced:
        """The whole list as an event: copies of the mappings, holding the frozen values."""
        return ListSynced(
            MappingProxyType(dict(self._contacts)),
            MappingProxyType(dict(self._groups)),
            version,
            from_cache,
        )

    def seed(self, cache: ListCache) -> None:
        """Take a kept list as the session's (the server said it is current), within the
        roster's bounds."""
        for group in list(cache.groups.values())[: self._max_contacts]:
            self.group_set(group)
        for contact in list(cache.contacts.values())[: self._max_contacts]:
            self.list_contact(
                contact.passport,
                contact.friendly_name,
                contact.lists,
                guid=contact.guid,
                groups=tuple(contact.groups),
            )
        self.privacy_allow_unlisted = cache.allow_unlisted
        self.reverse_prompt = cache.reverse_prompt

    # ------------------------------------------------------------------ values

    def list_contact(
        self,
        passport: str,
        name: str,
        lists: Lists,
        *,
        guid: str | None = None,
        groups: tuple[str, ...] | None = (),
        merge: bool = False,
    ) -> None:
        """A contact as a list download (``LST``, or the address book) gives it: on ``lists``
        (with ``merge``: on those too, as MSNP2-7 list each list apart), in ``groups`` (None:
        the groups known stay)."""
        c = self._contacts.get(passport.lower())
        name = name[:MAX_NAME]
        if groups is not None:
            groups = self._own_ids(groups[:MAX_CONTACT_GROUPS])
        if c is None:
            passport = intern(passport)
            contact = Contact(
                passport, intern(name) if name else passport, lists, guid, groups or ()
            )
        else:
            contact = Contact(
                c.passport,
                _shared_name(name, c.friendly_name),
                c.lists | lists if merge else lists,
                guid or c.guid,
                c.groups if groups is None else groups,
                c.status,
                c.capabilities,
                c.msn_object,
                c.personal_message,
                c.current_media,
            )
        self._keep(contact)
        self.last_listed = passport

    def phones(self, passport: str | None = None) -> Mapping[str, str]:
        """The phone numbers (``PHH``, ``MOB`` ...) of a contact, or of the user (None)."""
        numbers = self._phones.get(_phone_key(passport)) if self._phones else None
        return MappingProxyType(numbers or {})

    def set_phone(self, passport: str | None, kind: str, number: str) -> None:
        """A phone number of a contact on the list (None: of the user); an empty one is gone."""
        if kind not in PHONE_TYPES or (passport is not None and self.get(passport) is None):
            return
        key = _phone_key(passport)
        phones = self._phones if self._phones is not None else {}
        numbers = phones.setdefault(key, {})
        number = number[:MAX_NAME]
        if number:
            numbers[kind] = number
        else:
            numbers.pop(kind, None)
        if not numbers:
            del phones[key]
        self._phones = phones or None

    def added(
        self,
        passport: str,
        list_: Lists,
        *,
        name: str | None = None,
        guid: str | None = None,
        group: str | None = None,
        said: str | None = None,
    ) -> ContactAdded:
        """``passport`` is now on ``list_`` (and in ``group``); ``name`` replaces the friendly
        name we know, ``said`` is reported (what a push said: the name of a new contact only)."""
        if name is None and said is not None and passport.lower() not in self._contacts:
            name = said
        contact = self._contact(passport, None if name is None else name[:MAX_NAME])
        groups = contact.groups
        if group is not None and group not in groups and len(groups) < MAX_CONTACT_GROUPS:
            groups = (*groups, group)
        contact = self._keep(
            replace(contact, lists=contact.lists | list_, guid=guid or contact.guid, groups=groups)
        )
        reported = said if said is not None else contact.friendly_name
        return ContactAdded(contact.passport, list_, reported, contact.guid, group)

    def removed(self, key: str, list_: Lists, group: str | None = None) -> ContactRemoved:
        """The contact ``key`` (passport or GUID) left ``list_``, or only ``group``. Off the
        forward list, a contact is in no group any more."""
        contact = self.find(key)
        if contact is None:
            return ContactRemoved(key, list_, group)
        if group is not None:
            groups = tuple(g for g in contact.groups if g != group)
            self._keep(replace(contact, groups=groups))
        else:
            groups = () if list_ & Lists.FORWARD else contact.groups
            self._keep(replace(contact, lists=contact.lists & ~list_, groups=groups))
        return ContactRemoved(contact.passport, list_, group)

    def group_set(self, group: Group) -> GroupChanged | None:
        """A group created or renamed (None: a new group beyond :data:`MAX_GROUPS`)."""
        return GroupChanged(group) if self._set_group(group) else None

    def group_removed(self, group_id: str) -> GroupChanged | None:
        """A group deleted: its members leave it (None: no such group)."""
        group = self._groups.pop(group_id, None)
        if group is None:
            return None
        for key, contact in list(self._contacts.items()):
            if group_id in contact.groups:
                groups = tuple(g for g in contact.groups if g != group_id)
                self._contacts[key] = replace(contact, groups=groups)
        return GroupChanged(group, removed=True)

    def presence(
        self,
        passport: str,
        status: Status,
        name: str | None,
        capabilities: int = 0,
        msn_object: str | None = None,
        initial: bool = False,
        *,
        keep_details: bool = False,
    ) -> PresenceChanged:
        """A contact's status (``keep_details``: only the status changed, as with ``FLN``).
        Presence adds nobody to the list: only list commands do."""
        key = passport.lower()
        c = self._contacts.get(key)
        if c is not None:
            # the commonest change of all (thousands at a login): built positionally, which
            # costs a third of dataclasses.replace
            passport = c.passport
            if keep_details:
                name, capabilities, msn_object = None, c.capabilities, c.msn_object
            self._contacts[key] = Contact(
                passport,
                c.friendly_name if name is None else _shared_name(name, c.friendly_name),
                c.lists,
                c.guid,
                c.groups,
                status,
                _shared_int(capabilities),
                None if msn_object is None else _shared_name(msn_object, c.msn_object or ""),
                c.personal_message,
                c.current_media,
            )
        if keep_details:
            return PresenceChanged(passport, status, None)
        return PresenceChanged(passport, status, name, capabilities, msn_object, initial=initial)

    def personal_message(
        self, passport: str, text: str, current_media: str = ""
    ) -> PersonalMessageChanged:
        key = passport.lower()
        c = self._contacts.get(key)
        if c is not None:
            passport = c.passport
            self._contacts[key] = Contact(
                passport,
                c.friendly_name,
                c.lists,
                c.guid,
                c.groups,
                c.status,
                c.capabilities,
                c.msn_object,
                text,
                current_media,
            )
        return PersonalMessageChanged(passport, text, current_media)

    # ----------------------------------------------------------------- storage

    def _contact(self, passport: str, name: str | None) -> Contact:
        """The contact ``passport`` with ``name`` (when given), or a new one (not stored)."""
        contact = self._contacts.get(passport.lower())
        if contact is None:
            return Contact(passport=passport, friendly_name=name or passport)
        if name is not None and name != contact.friendly_name:
            return replace(contact, friendly_name=name)
        return contact

    def _keep(self, contact: Contact) -> Contact:
        """Store ``contact``; a new one only below ``max_contacts`` (beyond, it is reported
        but not kept)."""
        key = contact.passport.lower()
        if key in self._contacts:
            self._contacts[key] = contact  # (the dict keeps the key it has)
        elif len(self._contacts) < self._max_contacts:
            self._contacts[contact.passport if key == contact.passport else intern(key)] = contact
        else:
            self.tally.hit(
                "contacts_not_kept",
                "more than %d contacts: %s and later ones are not kept",
                self._max_contacts,
                contact.passport,
            )
        return contact

    def _own_ids(self, ids: tuple[str, ...]) -> tuple[str, ...]:
        """``ids`` as the known groups' own id strings (one object per group, not one per
        contact in it)."""
        groups = self._groups
        return tuple(group.id if (group := groups.get(g)) else g for g in ids)

    def _set_group(self, group: Group) -> bool:
        """Keep ``group`` (False: a new group beyond :data:`MAX_GROUPS`, not kept)."""
        if group.id not in self._groups and len(self._groups) >= MAX_GROUPS:
            self.tally.hit(
                "groups_not_kept", "more than %d groups: %s not kept", MAX_GROUPS, group.id
            )
            return False
        self._groups[group.id] = group
        return True


def _phone_key(passport: str | None) -> str:
    return "" if passport is None else passport.lower()
