"""``requests``, ``accept``, ``decline`` and ``privacy``: answering the people who added the user
(see :mod:`bridge.friend_requests`; ``block`` is in :mod:`.lists`) and the two MSN settings
about them, GTC (ask me when someone adds me) and BLP (may people on none of my lists see and
message me)."""

from __future__ import annotations

from mautrix.types import EventID

from bridge import friend_requests
from bridge.contact_notices import quoted
from bridge.msnp.client import MSNClient
from bridge.msnp.values import Lists
from bridge.texts import NOT_CONNECTED, md

from .common import SECTION_CONTACTS, CommandEvent, ask_msn, ask_msn_about, command_handler
from .lists import add_to_list

__all__ = ["accept", "decline", "privacy", "requests"]

_ON = {"on": True, "yes": True, "allow": True, "off": False, "no": False, "block": False}


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="List the people who added you and wait for your answer.",
)
async def requests(evt: CommandEvent) -> EventID:
    waiting = friend_requests.open_requests(evt.sender.contacts.contacts.values())
    if not waiting:
        return await evt.reply("Nobody is waiting for your answer.")
    lines = [f"* {md(quoted(e.display_name)[0])} (`{e.passport}`)" for e in waiting]
    return await evt.reply(
        "These people added you to their MSN contact list:\n\n"
        + "\n".join(lines)
        + "\n\nAnswer with `accept EMAIL`, `decline EMAIL` or `block EMAIL`."
    )


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Accept someone who added you: they may see your status and message you, and "
    "they are added to your contact list.",
    help_args="<_e-mail_>",
)
async def accept(evt: CommandEvent) -> EventID:
    async def request(client: MSNClient, passport: str) -> str:
        contact = client.contacts.get(passport)
        if contact is not None and contact.lists & Lists.BLOCK:
            await client.unblock(passport)
        if contact is None or not contact.lists & Lists.FORWARD:
            await add_to_list(client, passport)
        elif not contact.lists & Lists.ALLOW:
            await client.unblock(passport)  # onto the allow list
        return f"Accepted {md(passport)}: they are on your contact list and may message you."

    return await ask_msn_about(evt, "accept", request)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Decline someone who added you: they are not added and see you offline "
    "(`unblock` changes your mind).",
    help_args="<_e-mail_>",
)
async def decline(evt: CommandEvent) -> EventID:
    async def request(client: MSNClient, passport: str) -> str:
        # MSNP below 13 has one "no": the block list (what MSN Messenger's own dialog did)
        await client.block(passport)
        return (
            f"Declined {md(passport)}: they are not on your contact list and see you offline. "
            f"`unblock {passport}` lets them see you again."
        )

    return await ask_msn_about(evt, "decline", request)


def _setting(value: bool | None, yes: str, no: str) -> str:
    return "unknown (the server has not said)" if value is None else (yes if value else no)


@command_handler(
    needs_auth=True,
    help_section=SECTION_CONTACTS,
    help_text="Show or change who may see you and whether you are told when someone adds "
    "you: `privacy notify on|off`, `privacy others allow|block`.",
    help_args="[`notify` _on|off_ | `others` _allow|block_]",
)
async def privacy(evt: CommandEvent) -> EventID:
    user = evt.sender
    client = user.client
    if client is None or not user.connected:
        return await evt.reply(NOT_CONNECTED)
    args = [a.lower() for a in evt.args]
    if not args:
        notify = _setting(client.reverse_prompt, "on", "off")
        others = _setting(
            client.privacy_allow_unlisted,
            "may see your status and message you",
            "see you offline and cannot message you",
        )
        return await evt.reply(
            f"* Tell me when someone adds me (GTC): **{notify}**\n"
            f"* People on neither your allow nor your block list: **{others}**\n\n"
            "Change them with `privacy notify on|off` and `privacy others allow|block`."
        )
    if len(args) != 2 or args[0] not in ("notify", "others") or args[1] not in _ON:
        return await evt.reply(
            "**Usage:** `$cmdprefix+sp privacy [notify on|off | others allow|block]`"
        )
    on = _ON[args[1]]
    if args[0] == "notify":

        async def set_notify(client: MSNClient) -> str:
            await client.set_reverse_prompt(on)
            if on:
                return "You will be told when someone adds you."
            return "You will not be told when someone adds you (`requests` still lists them)."

        return await ask_msn(evt, "change the setting", set_notify)

    async def set_others(client: MSNClient) -> str:
        await client.set_privacy(on)
        if on:
            return "People on neither your allow nor your block list may see you and message you."
        return "Only people on your allow list may see you and message you now."

    return await ask_msn(evt, "change the setting", set_others)
