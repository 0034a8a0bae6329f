"""Accounts, contact lists, groups and Passport tickets of the test server."""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field
from enum import IntFlag
import secrets
import time
import uuid

__all__ = [
    "AL",
    "BL",
    "FL",
    "PL",
    "RL",
    "Account",
    "Directory",
    "Group",
    "ListError",
    "ListFlag",
    "TicketStore",
]


class ListFlag(IntFlag):
    NONE = 0
    FL = 1
    AL = 2
    BL = 4
    RL = 8
    PL = 16


FL: Final = ListFlag.FL
AL: Final = ListFlag.AL
BL: Final = ListFlag.BL
RL: Final = ListFlag.RL
PL: Final = ListFlag.PL

LIST_CODES: Final[dict[str, ListFlag]] = {"FL": FL, "AL": AL, "BL": BL, "RL": RL, "PL": PL}
MAX_GROUP_NAME: Final = 61


class ListError(Exception):
    """A list operation failed with an MSNP error code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class Group:
    """A group: ``number`` is the id MSNP2-9 clients see, ``guid`` the one of MSNP10+."""

    number: int
    guid: str
    name: str


@dataclass(slots=True)
class ContactEntry:
    email: str
    lists: ListFlag = ListFlag.NONE
    groups: list[int] = field(default_factory=list)  # group numbers (not incl. 0)
    name: str = ""  # the name the owner stores for the contact (MSNP<10 ADD / REA)


@dataclass(slots=True)
class Account:
    email: str
    password: str
    name: str
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    contacts: dict[str, ContactEntry] = field(default_factory=dict)  # key: lower-case email
    groups: dict[int, Group] = field(default_factory=dict)
    ser: int = 0
    blp: str = "AL"
    gtc: str = "A"
    psm: bytes = b""  # the last UUX payload (MSNP11+)
    msn_object: str | None = None
    changed_at: float = field(default_factory=time.time)
    #: keys of the accounts that have this one on their FL (the presence fan-out index)
    watched_by: set[str] = field(default_factory=set)
    _next_group: int = 1

    @property
    def key(self) -> str:
        return self.email.lower()

    def bump(self) -> int:
        self.ser += 1
        self.changed_at = time.time()
        return self.ser

    def entry(self, email: str) -> ContactEntry | None:
        return self.contacts.get(email.lower())

    def lists_of(self, email: str) -> ListFlag:
        entry = self.entry(email)
        return entry.lists if entry else ListFlag.NONE

    def on(self, email: str, flag: ListFlag) -> bool:
        return bool(self.lists_of(email) & flag)

    def allows(self, other: str) -> bool:
        """Whether ``other`` may see this account's presence and contact it."""
        lists = self.lists_of(other)
        if lists & BL:
            return False
        return self.blp == "AL" or bool(lists & AL)

    # groups -----------------------------------------------------------------------------
    def group_by_id(self, group_id: str) -> Group | None:
        """Look a group up by number (MSNP2-9) or GUID (MSNP10+)."""
        if group_id.isdigit():
            return self.groups.get(int(group_id))
        for group in self.groups.values():
            if group.guid.lower() == group_id.lower():
                return group
        return None

    def group_by_name(self, name: str) -> Group | None:
        for group in self.groups.values():
            if group.name == name:
                return group
        return None

    def add_group(self, name: str) -> Group:
        if len(name.encode("utf-8")) > MAX_GROUP_NAME:
            raise ListError(228)
        if not name.strip():
            raise ListError(201)
        if self.group_by_name(name) is not None:
            raise ListError(231)
        group = Group(self._next_group, str(uuid.uuid4()), name)
        self._next_group += 1
        self.groups[group.number] = group
        self.bump()
        return group

    def remove_group(self, group_id: str) -> Group:
        if group_id == "0":
            raise ListError(229)
        group = self.group_by_id(group_id)
        if group is None:
            raise ListError(224)
        del self.groups[group.number]
        for entry in self.contacts.values():
            if group.number in entry.groups:
                entry.groups.remove(group.number)
        self.bump()
        return group

    def rename_group(self, group_id: str, name: str) -> Group:
        if group_id == "0":
            raise ListError(229)
        group = self.group_by_id(group_id)
        if group is None:
            raise ListError(224)
        if len(name.encode("utf-8")) > MAX_GROUP_NAME:
            raise ListError(228)
        other = self.group_by_name(name)
        if other is not None and other is not group:
            raise ListError(231)
        group.name = name
        self.bump()
        return group


class Directory:
    """All accounts, by lower-case e-mail address and by GUID."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}
        self._by_guid: dict[str, Account] = {}

    def add(self, email: str, password: str, name: str | None = None) -> Account:
        if "@" not in email or " " in email:
            raise ValueError(f"invalid account e-mail address {email!r}")
        if email.lower() in self.accounts:
            raise ValueError(f"account {email!r} exists already")
        account = Account(email=email, password=password, name=name or email)
        self.accounts[account.key] = account
        self._by_guid[account.guid.lower()] = account
        return account

    def get(self, email: str) -> Account | None:
        return self.accounts.get(email.lower())

    def require(self, email: str) -> Account:
        account = self.get(email)
        if account is None:
            raise KeyError(f"no account {email!r}")
        return account

    def by_guid(self, guid: str) -> Account | None:
        return self._by_guid.get(guid.lower())

    # list operations (shared by the NS and the inspection/setup API) -------------------
    def add_to_list(
        self,
        owner: Account,
        email: str,
        flag: ListFlag,
        *,
        group: Group | None = None,
        allow_duplicate: bool = False,
    ) -> tuple[Account, bool]:
        """Put ``email`` on one of ``owner``'s lists; returns (contact, RL newly set).

        Raises ListError 205 (unknown), 215 (already there), 219 (on the opposite list),
        201 (list code not allowed).
        """
        if flag not in (FL, AL, BL):
            raise ListError(201)
        contact = self.get(email)
        if contact is None:
            raise ListError(205)
        entry = owner.contacts.get(contact.key)
        if entry is None:
            entry = ContactEntry(contact.email, name=contact.name)
        already = bool(entry.lists & flag)
        if flag == FL and group is not None:
            if group.number in entry.groups and not allow_duplicate:
                raise ListError(215)
        elif already and not allow_duplicate:
            raise ListError(215)
        opposite = {AL: BL, BL: AL}.get(flag)
        if opposite is not None and entry.lists & opposite:
            raise ListError(219)
        entry.lists |= flag
        if flag == FL:
            contact.watched_by.add(owner.key)
            if group is not None and group.number not in entry.groups:
                entry.groups.append(group.number)
        owner.contacts[contact.key] = entry
        owner.bump()
        rl_added = False
        if flag == FL:
            back = contact.contacts.get(owner.key)
            if back is None:
                back = ContactEntry(owner.email, name=owner.name)
                contact.contacts[owner.key] = back
            if not back.lists & RL:
                back.lists |= RL
                contact.bump()
                rl_added = True
        return contact, rl_added

    def remove_from_list(
        self, owner: Account, email: str, flag: ListFlag, *, group: Group | None = None
    ) -> tuple[Account, bool]:
        """Take ``email`` off a list (or out of one group); returns (contact, RL removed)."""
        if flag not in (FL, AL, BL, RL, PL):
            raise ListError(201)
        contact = self.get(email)
        entry = owner.contacts.get(email.lower())
        if contact is None or entry is None or not entry.lists & flag:
            raise ListError(216)
        if group is not None:
            if flag != FL:
                raise ListError(201)
            if group.number not in entry.groups:
                raise ListError(225)
            entry.groups.remove(group.number)
            owner.bump()
            return contact, False
        entry.lists &= ~flag
        if flag == FL:
            entry.groups.clear()
            contact.watched_by.discard(owner.key)
        if not entry.lists:
            del owner.contacts[contact.key]
        owner.bump()
        rl_removed = False
        if flag == FL:
            back = contact.contacts.get(owner.key)
            if back is not None and back.lists & RL:
                back.lists &= ~RL
                if not back.lists:
                    del contact.contacts[owner.key]
                contact.bump()
                rl_removed = True
        return contact, rl_removed


@dataclass(slots=True)
class Ticket:
    email: str
    expires: float


class TicketStore:
    """Passport tickets: random tokens, reusable until they expire."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self._tickets: dict[str, Ticket] = {}

    def issue(self, email: str) -> str:
        token = secrets.token_hex(10)
        self._tickets[token] = Ticket(email.lower(), time.monotonic() + self.lifetime)
        return token

    @staticmethod
    def token_of(presented: str) -> str:
        """The token inside ``t=<token>&p=...`` or a bare token."""
        if presented.startswith("t="):
            return presented[2:].split("&", 1)[0]
        return presented

    def check(self, presented: str, email: str) -> bool:
        ticket = self._tickets.get(self.token_of(presented))
        if ticket is None:
            return False
        if ticket.expires < time.monotonic():
            self._tickets.pop(self.token_of(presented), None)
            return False
        return ticket.email == email.lower()

    def expire_all(self) -> None:
        self._tickets.clear()
