"""The library's value types: presence, list membership, contacts, groups, text formats, why a
connection ended, switchboard invitations."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag, StrEnum

__all__ = ["Contact", "DisconnectReason", "Group", "Lists", "MessageFormat", "Ring", "Status"]


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


@dataclass(frozen=True, slots=True)
class Group:
    """A contact group: ``id`` is the numeric id (MSNP2-9) or the GUID (MSNP10+)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Contact:
    """One person on the user's lists, as the server last reported them (a frozen value: a
    change makes a new one). ``groups`` are group ids; ``guid`` is known from MSNP10 on."""

    passport: str
    friendly_name: str
    lists: Lists = Lists.NONE
    guid: str | None = None
    groups: tuple[str, ...] = ()
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
class Ring:
    """A switchboard invitation (``RNG``)."""

    session_id: str
    host: str
    port: int
    cookie: str = field(repr=False)
    passport: str
    friendly_name: str
