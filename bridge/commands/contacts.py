"""``contacts``, ``pm``, ``sync``, ``add`` and ``remove``."""

from __future__ import annotations

import re

from mautrix.types import EventID

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ErrorCode, MSNPError
from bridge.msnp.events import Lists
from bridge.portal import Portal
from bridge.texts import NOT_CONNECTED
from bridge.user import User

from .common import SECTION_CONTACTS, CommandEvent, ask_msn, command_handler, parse_passport

__all__ = ["add", "contacts", "nudge", "pm", "remove", "sync"]

_NOT_ON_LIST = " (not on your contact list: they may not receive messages)"


async def _refresh_contacts(user: User, passport: str) -> None:
    """The library emits no event for the user's own list changes: copy its list now."""
    try:
        await user.sync(changed=passport)
    except Exception:
        user.log.warning("Failed to store the contact list after a change", exc_info=True)


def _md(text: str) -> str:
    """Escape Markdown in a contact-provided string."""
    return re.sub(r"([\\`*_{}\[\]()#+!<>|~])", r"\\\1", text)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="List your MSN contacts with their status and group.",
)
async def contacts(evt: CommandEvent) -> EventID:
    user = evt.sender
    book = user.contacts
    if not book:
        if not user.connected:
            return await evt.reply(NOT_CONNECTED)
        return await evt.reply("Your MSN contact list is empty.")
    by_group: dict[str, list[str]] = {}
    for passport, contact in sorted(book.contacts.items()):
        if not contact.lists & Lists.FORWARD:
            continue
        name = contact.display_name
        line = f"* **{_md(name)}**"
        if name.lower() != passport:  # a contact without a friendly name is shown once
            line += f" ({_md(passport)})"
        line += f" - {contact.status.label}"
        if contact.personal_message:
            line += f" - _{_md(contact.personal_message)}_"
        if contact.lists & Lists.BLOCK:
            line += " (blocked)"
        groups = [book.groups[g] for g in contact.groups if g in book.groups]
        for group in groups or ["No group"]:
            by_group.setdefault(group, []).append(line)
    if not by_group:
        return await evt.reply("Your MSN contact list is empty.")
    sections = []
    for group in sorted(by_group, key=lambda g: (g == "No group", g.lower())):
        sections.append(f"#### {_md(group)}\n" + "\n".join(by_group[group]))
    return await evt.reply("\n\n".join(sections))


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Open (or re-open) the private chat room with an MSN contact.",
    help_args="<_e-mail_>",
)
async def pm(evt: CommandEvent) -> EventID:
    user = evt.sender
    passport = parse_passport(evt.args[0]) if len(evt.args) == 1 else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp pm <e-mail>`")
    if passport == user.passport:
        return await evt.reply("You cannot open a chat with yourself.")
    chat = await user.open_private_chat(passport)
    if not chat.room_id:
        return await evt.reply(f"Failed to create a room for {passport}.")
    note = "" if chat.on_contact_list else _NOT_ON_LIST
    return await evt.reply(
        f"Private chat with [{_md(chat.puppet.display_text)}](https://matrix.to/#/"
        f"{chat.room_id}): you have been invited{note}."
    )


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Synchronise your contact list and the contacts' names now.",
)
async def sync(evt: CommandEvent) -> EventID:
    user = evt.sender
    if not user.connected:
        return await evt.reply(NOT_CONNECTED)
    count = await user.sync()
    return await evt.reply(f"Synchronised {count} contact{'s' if count != 1 else ''}.")


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Add someone to your MSN contact list.",
    help_args="<_e-mail_>",
)
async def add(evt: CommandEvent) -> EventID:
    passport = parse_passport(evt.args[0]) if len(evt.args) == 1 else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp add <e-mail>`")

    async def request(client: MSNClient) -> str:
        await client.add_contact(passport, Lists.FORWARD)
        contact = client.contacts.get(passport)
        if contact is None or not contact.lists & Lists.ALLOW:
            try:
                await client.add_contact(passport, Lists.ALLOW)
            except MSNPError as e:
                if e.code != ErrorCode.ALREADY_THERE:
                    raise
        await _refresh_contacts(evt.sender, passport)
        return f"Added {passport} to your contact list."

    already = f"{passport} is already on your contact list."
    return await ask_msn(evt, f"add {passport}", request, {ErrorCode.ALREADY_THERE: already})


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Remove someone from your MSN contact list.",
    help_args="<_e-mail_>",
)
async def remove(evt: CommandEvent) -> EventID:
    passport = parse_passport(evt.args[0]) if len(evt.args) == 1 else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp remove <e-mail>`")

    async def request(client: MSNClient) -> str:
        await client.remove_contact(passport, Lists.FORWARD)
        await _refresh_contacts(evt.sender, passport)
        return f"Removed {passport} from your contact list."

    not_there = f"{passport} is not on your contact list."
    return await ask_msn(evt, f"remove {passport}", request, {ErrorCode.NOT_ON_LIST: not_there})


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Send a nudge, in a chat with an MSN contact.",
)
async def nudge(evt: CommandEvent) -> EventID:
    portal = evt.portal
    if not isinstance(portal, Portal):
        return await evt.reply(
            "Send `$cmdprefix+sp nudge` in a chat with an MSN contact to nudge them."
        )
    if portal.owner != evt.sender.mxid:
        return await evt.reply("Only the owner of this conversation can send nudges.")

    async def request(client: MSNClient) -> str:
        await client.send_nudge(portal.conv_key)
        return "Nudge sent."

    offline = "Nudge not delivered: the contact is offline."
    return await ask_msn(evt, "send the nudge", request, {ErrorCode.NOT_ONLINE: offline})
