"""``status``, ``nick`` and ``psm``: what MSN contacts see of you."""

from __future__ import annotations

from mautrix.types import EventID

from bridge.msnp.client import MSNClient
from bridge.msnp.events import Status

from .common import SECTION_PRESENCE, CommandEvent, ask_msn, command_handler

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
    new = STATUS_NAMES[evt.args[0].lower()]

    async def request(client: MSNClient) -> str:
        await client.set_status(new)
        return f"Your MSN status is now **{new.label}**."

    return await ask_msn(evt, "change your status", request)


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

    async def request(client: MSNClient) -> str:
        await client.set_friendly_name(name)
        return f"Your MSN name is now **{name}**."

    return await ask_msn(evt, "change your name", request)


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

    async def request(client: MSNClient) -> str:
        if (client.protocol or 0) < 11:
            return (
                "Personal messages need MSNP11 or newer; "
                f"this session uses MSNP{client.protocol}."
            )
        await client.set_personal_message(text)
        if not text:
            return "Your personal message was cleared."
        return f"Your personal message is now: {text}"

    return await ask_msn(evt, "set your personal message", request)
