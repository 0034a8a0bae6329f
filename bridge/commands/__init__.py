"""Bot commands (``help`` lists them): auth, contacts and presence sections."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
import re

from mautrix.bridge.commands import (
    CommandEvent,
    CommandProcessor as BaseCommandProcessor,
    HelpSection,
)

from bridge.texts import NOT_CONNECTED, command_failure

if TYPE_CHECKING:
    from bridge.msnp.client import MSNClient
    from bridge.user import User

__all__ = [
    "NOT_CONNECTED",
    "SECTION_AUTH",
    "SECTION_CONTACTS",
    "SECTION_PRESENCE",
    "CommandProcessor",
    "command_failure",
    "command_user",
    "connected_client",
    "parse_passport",
]

SECTION_AUTH = HelpSection("Authentication", 10, "")
SECTION_CONTACTS = HelpSection("Contacts and chats", 20, "")
SECTION_PRESENCE = HelpSection("Your MSN status", 30, "")

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: MSN accepts Passport addresses of at most 129 characters.
MAX_PASSPORT = 129
#: Matrix user IDs are at most 255 bytes long (the contact's ghost needs one).
MAX_MXID = 255


def command_user(evt: CommandEvent) -> User:
    return evt.sender  # type: ignore[return-value]


def connected_client(evt: CommandEvent) -> MSNClient | None:
    """The sender's MSN client while it is connected (reply :data:`NOT_CONNECTED` if None)."""
    user = command_user(evt)
    return user.client if user.connected else None


def parse_passport(arg: str) -> str | None:
    """The lower-cased address if ``arg`` is a usable MSN Passport address, else None."""
    from bridge.puppet import Puppet

    passport = arg.strip().lower()
    if len(passport) > MAX_PASSPORT or not _EMAIL.match(passport):
        return None
    if len(Puppet.ghost_ids.mxid(passport).encode()) > MAX_MXID:
        return None
    return passport


class CommandProcessor(BaseCommandProcessor):
    """Remembers the room where a user talks to the bot as their management room."""

    async def handle(
        self,
        room_id: Any,
        event_id: Any,
        sender: Any,
        command: str,
        args: list[str],
        content: Any,
        portal: Any,
        is_management: bool,
        has_bridge_bot: bool,
    ) -> None:
        if is_management and portal is None:
            setter = getattr(sender, "set_management_room", None)
            if setter is not None and getattr(sender, "management_room", None) != room_id:
                await setter(room_id)
        await super().handle(
            room_id,
            event_id,
            sender,
            command,
            args,
            content,
            portal,
            is_management,
            has_bridge_bot,
        )


from . import auth, contacts, status  # noqa: E402  (registers the handlers)

__all__ += ["auth", "contacts", "status"]
