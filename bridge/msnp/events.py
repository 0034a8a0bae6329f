"""Typed data and events that :class:`bridge.msnp.client.MSNClient` hands to its handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag, StrEnum

__all__ = [
    "Contact",
    "ContactAdded",
    "ContactRemoved",
    "DisconnectReason",
    "Disconnected",
    "Event",
    "Group",
    "GroupChanged",
    "ListSynced",
    "Lists",
    "LoggedIn",
    "MessageFormat",
    "NudgeReceived",
    "OtherMessageReceived",
    "PersonalMessageChanged",
    "PresenceChanged",
    "Status",
    "SwitchboardClosed",
    "SwitchboardJoined",
    "SwitchboardLeft",
    "TextMessageReceived",
    "TypingReceived",
]


class Status(StrEnum):
    """MSN presence states (three-letter codes as on the wire)."""

    ONLINE = "NLN"
    BUSY = "BSY"
    IDLE = "IDL"
    BE_RIGHT_BACK = "BRB"
    AWAY = "AWY"
    ON_THE_PHONE = "PHN"
    OUT_TO_LUNCH = "LUN"
    HIDDEN = "HDN"
    OFFLINE = "FLN"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    Status.ONLINE: "Online",
    Status.BUSY: "Busy",
    Status.IDLE: "Idle",
    Status.BE_RIGHT_BACK: "Be Right Back",
    Status.AWAY: "Away",
    Status.ON_THE_PHONE: "On the Phone",
    Status.OUT_TO_LUNCH: "Out to Lunch",
    Status.HIDDEN: "Appear Offline",
    Status.OFFLINE: "Offline",
}


class Lists(IntFlag):
    """Contact-list membership bitmask as sent in ``LST``."""

    NONE = 0
    FORWARD = 1  # FL: people we added
    ALLOW = 2  # AL
    BLOCK = 4  # BL
    REVERSE = 8  # RL: people who added us
    PENDING = 16  # PL

    @classmethod
    def from_code(cls, code: str) -> Lists:
        return _LIST_CODES[code.upper()]

    @property
    def code(self) -> str:
        for name, value in _LIST_CODES.items():
            if value is self:
                return name
        raise ValueError(f"{self!r} is not a single list")


_LIST_CODES = {
    "FL": Lists.FORWARD,
    "AL": Lists.ALLOW,
    "BL": Lists.BLOCK,
    "RL": Lists.REVERSE,
    "PL": Lists.PENDING,
}


@dataclass(slots=True)
class Group:
    """A contact group: ``id`` is the numeric id (MSNP2-9) or the GUID (MSNP10+)."""

    id: str
    name: str


@dataclass(slots=True)
class Contact:
    passport: str
    friendly_name: str
    lists: Lists = Lists.NONE
    guid: str | None = None
    groups: list[str] = field(default_factory=list)
    status: Status = Status.OFFLINE
    capabilities: int = 0
    msn_object: str | None = None
    personal_message: str = ""
    current_media: str = ""


@dataclass(frozen=True, slots=True)
class MessageFormat:
    """Parsed ``X-MMS-IM-Format``: font name, effects (B I U S), colour ``RRGGBB``, ..."""

    font: str = ""
    effects: str = ""
    color: str = ""  # "rrggbb", converted from MSN's BGR order
    charset: str = ""
    pitch_family: str = ""
    right_to_left: bool = False

    @property
    def bold(self) -> bool:
        return "B" in self.effects

    @property
    def italic(self) -> bool:
        return "I" in self.effects

    @property
    def underline(self) -> bool:
        return "U" in self.effects

    @property
    def strikethrough(self) -> bool:
        return "S" in self.effects


class DisconnectReason(StrEnum):
    OTHER_LOCATION = "OTH"  # OUT OTH: logged in somewhere else
    SERVER_SHUTDOWN = "SSD"  # OUT SSD
    CONNECTION_LOST = "lost"  # socket closed or reset
    KEEPALIVE_TIMEOUT = "timeout"  # no answer to PNG in time
    PROTOCOL_ERROR = "protocol"  # the server sent something we cannot parse
    CLIENT = "client"  # we closed it


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
    contacts: dict[str, Contact]
    groups: dict[str, Group]


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
    """A contact was put on one of our lists (``list_ == REVERSE``: someone added us)."""

    passport: str
    list_: Lists
    friendly_name: str = ""
    guid: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ContactRemoved(Event):
    passport: str
    list_: Lists
    group: str | None = None


@dataclass(frozen=True, slots=True)
class GroupChanged(Event):
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
