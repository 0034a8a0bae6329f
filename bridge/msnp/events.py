"""The events :class:`bridge.msnp.client.MSNClient` hands to its handler (frozen dataclasses)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Mapping
from dataclasses import dataclass, field

# The value types lived here before values.py; code written against that layout still finds them.
if TYPE_CHECKING:
    from .msnftp_transfer import MsnftpOffer
    from .p2p_files import FileOffer

from .values import (
    Contact as Contact,
    DisconnectReason as DisconnectReason,
    Group as Group,
    Lists as Lists,
    MessageFormat as MessageFormat,
    Status as Status,
)

__all__ = [
    "ContactAdded",
    "ContactRemoved",
    "Disconnected",
    "Event",
    "FileOffered",
    "GroupChanged",
    "ListSynced",
    "LoggedIn",
    "NudgeReceived",
    "OfflineMessageReceived",
    "OtherMessageReceived",
    "PersonalMessageChanged",
    "PresenceChanged",
    "SwitchboardClosed",
    "SwitchboardJoined",
    "SwitchboardLeft",
    "TextMessageReceived",
    "TypingReceived",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of all client events."""


@dataclass(frozen=True, slots=True)
class LoggedIn(Event):
    passport: str
    friendly_name: str
    protocol: int
    #: the server's profile message; its MSPAuth holds the ticket, so it is not in the repr
    profile: dict[str, str] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ListSynced(Event):
    """The whole list once downloaded at login: read-only mappings of frozen values (contacts
    by lower-cased passport, groups by id), a snapshot that later changes leave alone."""

    contacts: Mapping[str, Contact]
    groups: Mapping[str, Group]
    #: the list version the server gave (MSNP8-12; "" before), to keep for :class:`ListCache`
    version: str = ""
    #: True when the server said the cached list given to the login is current (no download)
    from_cache: bool = False


@dataclass(frozen=True, slots=True)
class PresenceChanged(Event):
    passport: str
    status: Status
    friendly_name: str | None
    capabilities: int = 0
    msn_object: str | None = None
    initial: bool = False  # ILN (state at login) rather than NLN/FLN


@dataclass(frozen=True, slots=True)
class PersonalMessageChanged(Event):
    passport: str
    personal_message: str
    current_media: str = ""


@dataclass(frozen=True, slots=True)
class ContactAdded(Event):
    """A contact was put on one of our lists (``list_ == REVERSE``: someone added us), or into
    ``group``: pushed by the server, or the user's own change once the server confirmed it."""

    passport: str
    list_: Lists
    friendly_name: str = ""
    guid: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRemoved(Event):
    """A contact left one of our lists, or only ``group`` (pushed, or the user's own change
    once confirmed). Off the forward list, a contact is in no group any more."""

    passport: str
    list_: Lists
    group: str | None = None


@dataclass(frozen=True, slots=True)
class GroupChanged(Event):
    """A group was created or renamed, or ``removed`` (pushed, or the user's own change once
    confirmed); a removed group's members left it."""

    group: Group
    removed: bool = False


@dataclass(frozen=True, slots=True)
class TextMessageReceived(Event):
    """``conversation`` is the key of the switchboard conversation (see MSNClient)."""

    conversation: str
    sender: str
    sender_name: str
    text: str
    format: MessageFormat
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OfflineMessageReceived(Event):
    """An offline message (MSNP13+), reported in the order its sender wrote it; ``sent`` is
    when the server received it (unix seconds, None when unknown). It stays on the server
    until :meth:`~.client.MSNClient.delete_offline_messages` is called with its id."""

    message_id: str
    sender: str
    sender_name: str
    text: str
    sent: float | None


@dataclass(frozen=True, slots=True)
class TypingReceived(Event):
    conversation: str
    sender: str
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NudgeReceived(Event):
    conversation: str
    sender: str
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OtherMessageReceived(Event):
    conversation: str
    sender: str
    content_type: str
    headers: dict[str, str]
    body: bytes
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileOffered(Event):
    """A contact offers a file over P2P: answer ``offer`` (``accept()`` streams the data,
    ``decline()``); an offer nobody answers is declined after ``P2PLimits.file_invite_timeout``.
    ``conversation`` is the sender's one-to-one conversation."""

    conversation: str
    sender: str
    offer: FileOffer | MsnftpOffer = field(repr=False)  # P2P, or MSNFTP (MSN 4-5)
    participants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SwitchboardJoined(Event):
    conversation: str
    passport: str
    friendly_name: str
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SwitchboardLeft(Event):
    conversation: str
    passport: str
    idle_timeout: bool
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SwitchboardClosed(Event):
    conversation: str


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    reason: DisconnectReason
    detail: str = ""
