"""``status``, ``nick`` and ``psm``: what MSN contacts see of you."""

from __future__ import annotations

from mautrix.bridge.commands import CommandEvent, command_handler
from mautrix.types import EventID

from bridge.msnp.errors import MSNPException
from bridge.msnp.events import Status

from . import NOT_CONNECTED, SECTION_PRESENCE, command_failure, connected_client

__all__ = ["STATUS_NAMES", "nick", "psm", "status"]

STATUS_NAMES: dict[str, Status] = {
    "online": Status.ONLINE,
    "busy": Status.BUSY,
    "away": Status.AWAY,
    "brb": Status.BE_RIGHT_BACK,
    "phone": Status.ON_THE_PHONE,
    "lunch": Status.OUT_TO_LUNCH,
    "idle": Status.IDLE,
    "invisible": Status.HIDDEN,
}
#: MSN limits friendly names to 129 characters (after URL-encoding: 387 bytes).
MAX_NICK = 129
MAX_PSM = 129


def _rest(evt: CommandEvent) -> str:
    return " ".join(evt.args).strip()


@command_handler(
    needs_auth=True,
    help_section=SECTION_PRESENCE,
    help_text="Set your MSN status.",
    help_args="<online|busy|away|brb|phone|lunch|idle|invisible>",
)
async def status(evt: CommandEvent) -> EventID:
    usage = "**Usage:** `$cmdprefix+sp status <" + "|".join(STATUS_NAMES) + ">`"
    if len(evt.args) != 1 or evt.args[0].lower() not in STATUS_NAMES:
        return await evt.reply(usage)
    client = connected_client(evt)
    if client is None:
        return await evt.reply(NOT_CONNECTED)
    new = STATUS_NAMES[evt.args[0].lower()]
    try:
        await client.set_status(new)
    except MSNPException as e:
        return await evt.reply(command_failure(e, "change your status"))
    return await evt.reply(f"Your MSN status is now **{new.label}**.")


@command_handler(
    needs_auth=True,
    help_section=SECTION_PRESENCE,
    help_text="Change your MSN display name (friendly name).",
    help_args="<_name_>",
)
async def nick(evt: CommandEvent) -> EventID:
    name = _rest(evt)
    if not name:
        return await evt.reply("**Usage:** `$cmdprefix+sp nick <name>`")
    if len(name) > MAX_NICK:
        return await evt.reply(f"That name is too long: MSN allows at most {MAX_NICK} characters.")
    client = connected_client(evt)
    if client is None:
        return await evt.reply(NOT_CONNECTED)
    try:
        await client.set_friendly_name(name)
    except MSNPException as e:
        return await evt.reply(command_failure(e, "change your name"))
    return await evt.reply(f"Your MSN name is now **{name}**.")


@command_handler(
    needs_auth=True,
    help_section=SECTION_PRESENCE,
    help_text="Set your MSN personal message (empty to clear it; MSNP11 and newer).",
    help_args="[_text_]",
)
async def psm(evt: CommandEvent) -> EventID:
    text = _rest(evt)
    if len(text) > MAX_PSM:
        return await evt.reply(
            f"That message is too long: MSN allows at most {MAX_PSM} characters."
        )
    client = connected_client(evt)
    if client is None:
        return await evt.reply(NOT_CONNECTED)
    if (client.protocol or 0) < 11:
        return await evt.reply(
            f"Personal messages need MSNP11 or newer; this session uses MSNP{client.protocol}."
        )
    try:
        await client.set_personal_message(text)
    except MSNPException as e:
        return await evt.reply(command_failure(e, "set your personal message"))
    if not text:
        return await evt.reply("Your personal message was cleared.")
    return await evt.reply(f"Your personal message is now: {text}")
