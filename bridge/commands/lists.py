"""``block``, ``unblock``, ``groups``, ``group-create``, ``group-rename``, ``group-delete`` and
``move``: the user's MSN lists and groups. Each change is sent to MSN; once the server confirms
it, the library reports it as the same event as a change made elsewhere, and the contact book
applies it (stored list, ghosts, group spaces). Group names with spaces can be quoted
(``group-rename "Old name" "New name"``)."""

from __future__ import annotations

from collections.abc import Mapping
import shlex

from mautrix.types import EventID

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ErrorCode, MSNPError
from bridge.msnp.values import Lists
from bridge.texts import md

from .common import (
    SECTION_CONTACTS,
    CommandEvent,
    ask_msn,
    ask_msn_about,
    command_handler,
    parse_passport,
)

__all__ = [
    "add_to_list",
    "block",
    "find_group",
    "group_create",
    "group_delete",
    "group_rename",
    "groups",
    "move",
    "unblock",
    "words",
]

#: MSN's limit on a group name, in bytes once URL-encoded is larger; this is the text's.
MAX_GROUP_NAME = 61


def words(evt: CommandEvent) -> list[str]:
    """The arguments, with "quoted phrases" as one word (as typed, if the quotes are odd)."""
    try:
        return shlex.split(" ".join(evt.args))
    except ValueError:
        return list(evt.args)


def find_group(groups: Mapping[str, str], name: str) -> str | None:
    """The id of the group called ``name`` (ignoring case), or None."""
    wanted = name.strip().casefold()
    return next((gid for gid, gname in groups.items() if gname.casefold() == wanted), None)


def _group_names(groups: Mapping[str, str]) -> str:
    names = sorted(groups.values(), key=str.casefold)
    return ", ".join(f"**{md(n)}**" for n in names) if names else "none"


async def add_to_list(client: MSNClient, passport: str, group: str | None = None) -> None:
    """Onto the forward list (into ``group``) and the allow list, as MSN clients add someone."""
    await client.add_contact(passport, Lists.FORWARD, group=group)
    contact = client.contacts.get(passport)
    if contact is None or not contact.lists & (Lists.ALLOW | Lists.BLOCK):
        try:
            await client.add_contact(passport, Lists.ALLOW)
        except MSNPError as e:
            if e.code != ErrorCode.ALREADY_THERE:
                raise


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Block someone: they see you offline and cannot message you.",
    help_args="<_e-mail_>",
)
async def block(evt: CommandEvent) -> EventID:
    async def request(client: MSNClient, passport: str) -> str:
        await client.block(passport)
        return f"Blocked {md(passport)}: they see you offline and cannot message you."

    return await ask_msn_about(evt, "block", request)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Unblock someone: they may see your status and message you again.",
    help_args="<_e-mail_>",
)
async def unblock(evt: CommandEvent) -> EventID:
    async def request(client: MSNClient, passport: str) -> str:
        await client.unblock(passport)
        return f"Unblocked {md(passport)}: they may see your status and message you."

    return await ask_msn_about(evt, "unblock", request)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="List your MSN contact groups and how many contacts each has.",
)
async def groups(evt: CommandEvent) -> EventID:
    book = evt.sender.contacts
    if not book.groups:
        return await evt.reply("You have no MSN contact groups. Create one with `group-create`.")
    counts = {gid: 0 for gid in book.groups}
    for entry in book.contacts.values():
        for gid in entry.groups:
            if gid in counts and entry.lists & Lists.FORWARD:
                counts[gid] += 1
    lines = [
        f"* **{md(book.groups[gid])}**: {n} contact{'s' if n != 1 else ''}"
        for gid, n in sorted(counts.items(), key=lambda item: book.groups[item[0]].casefold())
    ]
    return await evt.reply("Your MSN contact groups:\n\n" + "\n".join(lines))


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Create a contact group (it gets a space).",
    help_args="<_name_>",
)
async def group_create(evt: CommandEvent) -> EventID:
    name = " ".join(words(evt)).strip()
    if not name:
        return await evt.reply("**Usage:** `$cmdprefix+sp group-create <name>`")
    if len(name) > MAX_GROUP_NAME:
        return await evt.reply(f"A group name has at most {MAX_GROUP_NAME} characters.")
    if find_group(evt.sender.contacts.groups, name) is not None:
        return await evt.reply(f"You already have a group called **{md(name)}**.")

    async def request(client: MSNClient) -> str:
        await client.add_group(name)
        return f"Created the group **{md(name)}**."

    return await ask_msn(evt, f"create the group {name}", request)


def _two_names(evt: CommandEvent, groups: Mapping[str, str]) -> tuple[str, str] | None:
    """OLD and NEW of ``group-rename``: two (quoted) words, or an existing group's name
    followed by the new one."""
    parts = words(evt)
    if len(parts) == 2:
        return parts[0], parts[1]
    for i in range(1, len(parts)):
        old = " ".join(parts[:i])
        if find_group(groups, old) is not None:
            return old, " ".join(parts[i:])
    return None


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Rename a contact group.",
    help_args="<_old name_> <_new name_>",
)
async def group_rename(evt: CommandEvent) -> EventID:
    groups_now = evt.sender.contacts.groups
    names = _two_names(evt, groups_now)
    if names is None:
        return await evt.reply(
            '**Usage:** `$cmdprefix+sp group-rename <old> <new>` (quote names with spaces: "My '
            'friends")'
        )
    old, new = names
    gid = find_group(groups_now, old)
    if gid is None:
        return await evt.reply(
            f"You have no group called **{md(old)}**. Your groups: {_group_names(groups_now)}."
        )
    if len(new) > MAX_GROUP_NAME:
        return await evt.reply(f"A group name has at most {MAX_GROUP_NAME} characters.")

    async def request(client: MSNClient) -> str:
        await client.rename_group(gid, new)
        return f"Renamed the group **{md(old)}** to **{md(new)}**."

    return await ask_msn(evt, f"rename the group {old}", request)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Delete a contact group (its contacts stay on your list).",
    help_args="<_name_>",
)
async def group_delete(evt: CommandEvent) -> EventID:
    name = " ".join(words(evt)).strip()
    groups_now = evt.sender.contacts.groups
    gid = find_group(groups_now, name) if name else None
    if gid is None:
        return await evt.reply(
            f"**Usage:** `$cmdprefix+sp group-delete <name>`. Your groups: "
            f"{_group_names(groups_now)}."
        )

    async def request(client: MSNClient) -> str:
        for contact in list(client.contacts.values()):
            if gid in contact.groups:  # MSN refuses to delete a group that is not empty
                try:
                    await client.remove_contact(contact.passport, Lists.FORWARD, group=gid)
                except MSNPError as e:  # (Escargot: 216 for someone it put there itself)
                    if e.code not in (ErrorCode.NOT_ON_LIST, ErrorCode.USER_NOT_IN_GROUP):
                        raise
        await client.remove_group(gid)
        return f"Deleted the group **{md(name)}**."

    return await ask_msn(evt, f"delete the group {name}", request)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Move a contact into a group (out of the groups they were in).",
    help_args="<_e-mail_> <_group_>",
)
async def move(evt: CommandEvent) -> EventID:
    parts = words(evt)
    passport = parse_passport(parts[0]) if len(parts) >= 2 else None
    if passport is None:
        return await evt.reply("**Usage:** `$cmdprefix+sp move <e-mail> <group>`")
    groups_now = evt.sender.contacts.groups
    name = " ".join(parts[1:])
    gid = find_group(groups_now, name)
    if gid is None:
        return await evt.reply(
            f"You have no group called **{md(name)}**. Your groups: {_group_names(groups_now)}."
        )

    async def request(client: MSNClient) -> str:
        contact = client.contacts.get(passport)
        if contact is None or not contact.lists & Lists.FORWARD:
            return f"{md(passport)} is not on your contact list: `add` them first."
        if gid not in contact.groups:
            await client.add_contact(passport, Lists.FORWARD, group=gid)
        for other in [g for g in contact.groups if g != gid]:
            await client.remove_contact(passport, Lists.FORWARD, group=other)
        return f"Moved {md(passport)} to **{md(groups_now.get(gid, name))}**."

    return await ask_msn(evt, f"move {passport}", request)
