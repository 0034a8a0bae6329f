"""``contacts``, ``pm``, ``sync``, ``add``, ``remove`` and ``alias``."""

from __future__ import annotations

from mautrix.types import EventID

from bridge.clean_text import clean_line
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ErrorCode
from bridge.msnp.values import Lists
from bridge.portal import Portal
from bridge.texts import NOT_CONNECTED, md

from .common import SECTION_CONTACTS, CommandEvent, ask_msn, command_handler, parse_passport
from .lists import add_to_list, find_group, words

__all__ = ["add", "alias", "contacts", "nudge", "pm", "remove", "sync"]

_NOT_ON_LIST = " (not on your contact list: they may not receive messages)"


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
        line = f"* **{md(name)}**"
        if name.lower() != passport:  # a contact without a friendly name is shown once
            line += f" ({md(passport)})"
        nickname = user.client.nickname(passport) if user.client is not None else None
        if nickname:
            line += f" - your nickname **{md(nickname)}**"
        line += f" - {contact.status.label}"
        if contact.personal_message:
            line += f" - _{md(contact.personal_message)}_"
        if contact.lists & Lists.BLOCK:
            line += " (blocked)"
        groups = [book.groups[g] for g in contact.groups if g in book.groups]
        for group in groups or ["No group"]:
            by_group.setdefault(group, []).append(line)
    if not by_group:
        return await evt.reply("Your MSN contact list is empty.")
    sections = []
    for group in sorted(by_group, key=lambda g: (g == "No group", g.lower())):
        sections.append(f"#### {md(group)}\n" + "\n".join(by_group[group]))
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
        return await evt.reply(f"Failed to create a room for {md(passport)}.")
    note = "" if chat.on_contact_list else _NOT_ON_LIST
    return await evt.reply(
        f"Private chat with [{md(chat.puppet.display_text)}](https://matrix.to/#/"
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
    help_text="Add someone to your MSN contact list (into a group).",
    help_args="<_e-mail_> [_group_]",
)
async def add(evt: CommandEvent) -> EventID:
    parts = words(evt)
    passport = parse_passport(parts[0]) if parts else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp add <e-mail> [group]`")
    group_name = " ".join(parts[1:])
    group = find_group(evt.sender.contacts.groups, group_name) if group_name else None
    if group_name and group is None:
        return await evt.reply(
            f"You have no group called **{md(group_name)}** (`group-create` makes one)."
        )

    async def request(client: MSNClient) -> str:
        # the contact book applies the client's ContactAdded events (list, ghost, spaces)
        await add_to_list(client, passport, group)
        where = f" in **{md(group_name)}**" if group else ""
        return f"Added {md(passport)} to your contact list{where}."

    already = f"{md(passport)} is already on your contact list."
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
        await client.remove_contact(passport, Lists.FORWARD)  # then ContactRemoved
        return f"Removed {md(passport)} from your contact list."

    not_there = f"{md(passport)} is not on your contact list."
    return await ask_msn(evt, f"remove {passport}", request, {ErrorCode.NOT_ON_LIST: not_there})


@command_handler(
    needs_auth=True,
    portal_owner_only=True,
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
        await client.send_nudge(evt.sender.msn_conversation(portal.conv_key))
        return "Nudge sent."

    offline = "Nudge not delivered: the contact is offline."
    return await ask_msn(evt, "send the nudge", request, {ErrorCode.NOT_ONLINE: offline})


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Give a contact a nickname of your own, kept in your MSN address book (your "
    "Messenger shows it too; MSNP13+); without a name, clear it.",
    help_args="<_e-mail_> [_name_]",
)
async def alias(evt: CommandEvent) -> EventID:
    passport = parse_passport(evt.args[0]) if evt.args else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp alias <e-mail> [name]`")
    name = clean_line(" ".join(evt.args[1:]))
    client = evt.sender.client
    if client is not None and client.protocol is not None and client.protocol < 13:
        return await evt.reply(
            "MSN keeps nicknames for contacts in the address book of MSNP13 and newer; this "
            f"connection uses MSNP{client.protocol}."
        )

    async def request(client: MSNClient) -> str:
        await client.set_nickname(passport, name)
        if name:
            return f"Your nickname for {md(passport)} is now **{md(name)}**."
        return f"Cleared your nickname for {md(passport)}."

    not_there = f"{md(passport)} is not on your contact list: `add` them first."
    return await ask_msn(
        evt, f"set your nickname for {passport}", request, {ErrorCode.NOT_ON_LIST: not_there}
    )
