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
#: deletions remembered per account for address-book deltas; older ones need a full sync
MAX_TOMBSTONES: Final = 500
#: the address-book roles (SharingService ``MemberRole``) of the list bits
ROLES: Final[dict[str, ListFlag]] = {"Allow": AL, "Block": BL, "Reverse": RL, "Pending": PL}


def now_us() -> int:
    """Wall-clock time in whole microseconds (address-book change stamps)."""
    return time.time_ns() // 1000


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
    changed: int = 0  # address-book change stamp (microseconds)
    favorite: bool = False


@dataclass(slots=True)
class ContactEntry:
    email: str
    lists: ListFlag = ListFlag.NONE
    groups: list[int] = field(default_factory=list)  # group numbers (not incl. 0)
    name: str = ""  # the name the owner stores for the contact (MSNP<10 ADD / REA)
    #: a friend request not answered yet (someone put us on FL; we have them on neither AL
    #: nor BL): the SharingService "Pending" role, list bit 16 at MSNP13+
    pending: bool = False
    changed: int = 0  # address-book change stamp (microseconds)
    nickname: str | None = None  # the AB.NickName annotation
    is_messenger_user: bool = True

    def lists13(self) -> int:
        """The list bits as MSNP13+ shows them (with 16 for pending)."""
        return int(self.lists & ~PL) | (int(PL) if self.pending else 0)


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
    #: MSNP13+ address book: creation and last change stamps (microseconds), deletions
    #: remembered for deltas (("contact"|"group"|"member", id) -> stamp) and the stamp
    #: before which deltas are no longer possible
    ab_created: int = field(default_factory=now_us)
    ab_changed: int = 0
    tombstones: dict[tuple[str, str], int] = field(default_factory=dict)
    ab_horizon: int = 0
    annotations: dict[str, str] = field(default_factory=dict)  # of the "Me" contact
    me_changed: int = 0  # change stamp of the "Me" contact (name, annotations)
    psm_text: str = ""  # MSNP13+: parsed from the last UUX with a PSM / CurrentMedia
    current_media: str = ""
    _next_group: int = 1

    @property
    def key(self) -> str:
        return self.email.lower()

    @property
    def cid_hex(self) -> str:
        """The 64-bit contact id (CID) in hex, derived from the account GUID."""
        return self.guid.replace("-", "")[16:].lower()

    @property
    def cid(self) -> int:
        """The CID as the address book writes it: a signed 64-bit decimal."""
        value = int(self.cid_hex, 16)
        return value - (1 << 64) if value >= 1 << 63 else value

    @property
    def puid(self) -> str:
        return self.guid.replace("-", "")[:16].upper()

    def bump(self) -> int:
        self.ser += 1
        self.changed_at = time.time()
        return self.ser

    # address-book change stamps ---------------------------------------------------------
    def stamp(self) -> int:
        """A new address-book change stamp, strictly after every earlier one."""
        stamp = max(now_us(), self.ab_changed + 1)
        self.ab_changed = stamp
        return stamp

    def touch(self, entry: ContactEntry) -> None:
        entry.changed = self.stamp()

    def bury(self, kind: str, ident: str) -> None:
        """Remember a deletion for deltas (the oldest are forgotten past MAX_TOMBSTONES)."""
        self.tombstones[(kind, ident.lower())] = self.stamp()
        while len(self.tombstones) > MAX_TOMBSTONES:
            oldest = min(self.tombstones, key=self.tombstones.__getitem__)
            self.ab_horizon = max(self.ab_horizon, self.tombstones.pop(oldest))

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
        group.changed = self.stamp()
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
                self.touch(entry)
        self.bury("group", group.guid)
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
        group.changed = self.stamp()
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
        else:
            entry.pending = False  # answered: allowed or blocked
        owner.contacts[contact.key] = entry
        owner.touch(entry)
        owner.bump()
        rl_added = False
        if flag == FL:
            back = contact.contacts.get(owner.key)
            if back is None:
                back = ContactEntry(owner.email, name=owner.name)
                contact.contacts[owner.key] = back
            if not back.lists & RL:
                back.lists |= RL
                back.pending = not back.lists & (AL | BL)
                contact.touch(back)
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
            owner.touch(entry)
            owner.bump()
            return contact, False
        entry.lists &= ~flag
        if flag == FL:
            entry.groups.clear()
            contact.watched_by.discard(owner.key)
            owner.bury("contact", contact.guid)
        else:
            owner.bury("member", f"{_role(flag)}/{contact.key}")
        if not entry.lists:
            del owner.contacts[contact.key]
        owner.touch(entry)
        owner.bump()
        rl_removed = False
        if flag == FL:
            back = contact.contacts.get(owner.key)
            if back is not None and back.lists & RL:
                back.lists &= ~RL
                contact.bury("member", f"Reverse/{owner.key}")
                if back.pending:
                    back.pending = False
                    contact.bury("member", f"Pending/{owner.key}")
                if not back.lists:
                    del contact.contacts[owner.key]
                contact.touch(back)
                contact.bump()
                rl_removed = True
        return contact, rl_removed

    def dismiss_pending(self, owner: Account, email: str) -> bool:
        """Answer a friend request without allowing or blocking (DeleteMember Pending)."""
        entry = owner.entry(email)
        if entry is None or not entry.pending:
            return False
        entry.pending = False
        owner.bury("member", f"Pending/{entry.email}")
        owner.touch(entry)
        return True


def _role(flag: ListFlag) -> str:
    return next((role for role, bit in ROLES.items() if bit == flag), "Allow")


@dataclass(slots=True)
class Ticket:
    email: str
    expires: float
    #: None: a Passport 1.4 (``/login``) ticket; else the RST domain it was issued for
    domain: str | None = None
    #: the base64 BinarySecret (proof key) issued with it (messengerclear.live.com)
    secret: str | None = None


class TicketStore:
    """Passport tickets: random tokens, reusable until they expire."""

    #: expired tickets are swept out when the store grows past this many; past MAX_TICKETS
    #: the oldest live ones go too (a flood of logins cannot grow it without bound)
    SWEEP_ABOVE: Final = 4096
    MAX_TICKETS: Final = 200_000

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self._tickets: dict[str, Ticket] = {}

    def _add(self, token: str, ticket: Ticket) -> None:
        if len(self._tickets) >= self.SWEEP_ABOVE and len(self._tickets) % 1024 == 0:
            now = time.monotonic()
            for key in [k for k, t in self._tickets.items() if t.expires < now]:
                del self._tickets[key]
        while len(self._tickets) >= self.MAX_TICKETS:
            del self._tickets[next(iter(self._tickets))]
        self._tickets[token] = ticket

    def issue(self, email: str) -> str:
        token = secrets.token_hex(10)
        self._add(token, Ticket(email.lower(), time.monotonic() + self.lifetime))
        return token

    def issue_compact(
        self, email: str, domain: str, *, secret: str | None = None, lifetime: float = 86400.0
    ) -> str:
        """A compact RST token ``t=<token>&p=<proof>`` for ``domain``."""
        token = secrets.token_hex(16)
        self._add(token, Ticket(email.lower(), time.monotonic() + lifetime, domain, secret))
        return f"t={token}&p={secrets.token_hex(8)}"

    @staticmethod
    def token_of(presented: str) -> str:
        """The token inside ``t=<token>&p=...`` or a bare token."""
        if presented.startswith("t="):
            return presented[2:].split("&", 1)[0]
        return presented

    def lookup(self, presented: str) -> Ticket | None:
        """The live ticket behind ``presented`` (a bare token or ``t=...&p=...``)."""
        token = self.token_of(presented)
        ticket = self._tickets.get(token)
        if ticket is None:
            return None
        if ticket.expires < time.monotonic():
            return None  # known until swept: expired() tells it from a made-up one
        return ticket

    def expired(self, presented: str) -> bool:
        """Whether ``presented`` is a ticket this store issued that has expired."""
        ticket = self._tickets.get(self.token_of(presented))
        return ticket is not None and ticket.expires < time.monotonic()

    def expire(self, domain: str) -> int:
        """Let every ticket for the RST ``domain`` expire now (they stay known as expired);
        how many there were."""
        gone = [t for t in self._tickets.values() if t.domain == domain]
        for ticket in gone:
            ticket.expires = 0.0
        return len(gone)

    def check(self, presented: str, email: str) -> bool:
        ticket = self.lookup(presented)
        return ticket is not None and ticket.email == email.lower()

    def expire_all(self) -> None:
        self._tickets.clear()
