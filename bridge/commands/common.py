"""What the command modules share: the typed command event, the help sections, argument
parsing, and the skeleton of a command that asks MSN for something (:func:`ask_msn`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from collections.abc import Awaitable, Callable, Mapping
import re

from mautrix.bridge.commands import (
    CommandEvent as BaseCommandEvent,
    CommandHandler,
    HelpSection,
    command_handler as mautrix_command_handler,
)
from mautrix.types import EventID

from bridge.config import Config
from bridge.contact_entry import friend_count
from bridge.ids import normalize_passport
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPError, MSNPException
from bridge.portal import Portal
from bridge.puppet import Puppet
from bridge.texts import NOT_CONNECTED, command_failure
from bridge.user import User

if TYPE_CHECKING:
    from bridge.app import MSNBridge

__all__ = [
    "SECTION_AUTH",
    "SECTION_CONTACTS",
    "SECTION_PRESENCE",
    "CommandEvent",
    "ask_msn",
    "ask_msn_about",
    "command_handler",
    "contact_count",
    "contacts_text",
    "parse_passport",
]

SECTION_AUTH = HelpSection("Authentication", 10, "")  # type: ignore[call-arg]
SECTION_CONTACTS = HelpSection("Contacts and chats", 20, "")  # type: ignore[call-arg]
SECTION_PRESENCE = HelpSection("Your MSN status", 30, "")  # type: ignore[call-arg]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: MSN accepts Passport addresses of at most 129 characters.
MAX_PASSPORT = 129
#: Matrix user IDs are at most 255 bytes long (the contact's ghost needs one).
MAX_MXID = 255


class CommandEvent(BaseCommandEvent):
    """A command as this bridge's processor makes it (its ``event_class``): sent by one of
    our users, in one of our portals or not, under our config."""

    sender: User
    portal: Portal | None
    config: Config
    bridge: MSNBridge


Handler = Callable[[CommandEvent], Awaitable[Any]]


def command_handler(**kwargs: Any) -> Callable[[Handler], CommandHandler]:
    """mautrix's ``@command_handler`` for handlers that take this bridge's :class:`CommandEvent`
    (which the processor creates, so the narrower type holds)."""
    return cast(Callable[[Handler], CommandHandler], mautrix_command_handler(**kwargs))


def contact_count(client: MSNClient) -> int:
    """The user's contact count as ``login`` and ``ping`` say it (see :func:`friend_count`)."""
    return friend_count(client.contacts.values())


def contacts_text(count: int) -> str:
    return f"{count} contact{'s' if count != 1 else ''}"


def parse_passport(arg: str) -> str | None:
    """The lower-cased address if ``arg`` is a usable MSN Passport address, else None."""
    passport = normalize_passport(arg)
    if len(passport) > MAX_PASSPORT or not _EMAIL.match(passport):
        return None
    if len(Puppet.ghost_ids.mxid(passport).encode()) > MAX_MXID:
        return None
    return passport


async def ask_msn(
    evt: CommandEvent,
    action: str,
    request: Callable[[MSNClient], Awaitable[str]],
    refusals: Mapping[int, str] | None = None,
) -> EventID:
    """Run ``request`` on the sender's connected MSN client and reply what it returns.

    Without a connected session the reply is :data:`~bridge.texts.NOT_CONNECTED`. When MSN
    refuses, the reply is the text ``refusals`` has for the error code, or else says that MSN
    refused to ``action`` (e.g. "add bob@example.com") and why.
    """
    user = evt.sender
    client = user.client
    if client is None or not user.connected:
        return await evt.reply(NOT_CONNECTED)
    try:
        reply = await request(client)
    except MSNPException as e:
        if refusals and isinstance(e, MSNPError) and e.code in refusals:
            return await evt.reply(refusals[e.code])
        return await evt.reply(command_failure(e, action))
    return await evt.reply(reply)


async def ask_msn_about(
    evt: CommandEvent, command: str, request: Callable[[MSNClient, str], Awaitable[str]]
) -> EventID:
    """:func:`ask_msn` for a command that takes one e-mail address: its usage when the
    argument is not one, else ``request(client, address)``."""
    passport = parse_passport(evt.args[0]) if len(evt.args) == 1 else None
    if passport is None:
        return await evt.reply(f"**Usage:** `$cmdprefix+sp {command} <e-mail>`")
    return await ask_msn(evt, f"{command} {passport}", lambda client: request(client, passport))
