"""``status``, ``nick`` and ``psm``: what MSN contacts see of you, chosen once and kept (see
:mod:`bridge.own_presence`)."""

from __future__ import annotations

from typing import Any

from mautrix.types import EventID

from bridge import matrix_presence, own_presence
from bridge.msnp.errors import MSNPException
from bridge.msnp.values import Status
from bridge.texts import command_failure, md

from .common import SECTION_PRESENCE, CommandEvent, command_handler

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


async def _choose(evt: CommandEvent, action: str, done: str, later: str, **choice: Any) -> EventID:
    """Store the sender's choice and apply it now if connected (see :mod:`bridge.own_presence`):
    reply ``done`` when applied, ``later`` when it waits for the next connection."""
    user = evt.sender
    client = user.client if user.connected else None
    try:
        applied = await own_presence.choose(user.row, user.save, client, **choice)
    except MSNPException as e:
        return await evt.reply(command_failure(e, action))
    return await evt.reply(done if applied else later)


@command_handler(
    needs_auth=True,
    help_section=SECTION_PRESENCE,
    help_text="Set your MSN status; it stays chosen across reconnects and restarts (`auto`: "
    "forget the choice; your Matrix presence drives it if the bridge is set up so).",
    help_args="<online|busy|away|brb|phone|lunch|idle|invisible|auto>",
)
async def status(evt: CommandEvent) -> EventID:
    usage = "**Usage:** `$cmdprefix+sp status <" + "|".join(STATUS_NAMES) + "|auto>`"
    if [a.lower() for a in evt.args] == ["auto"]:
        return await evt.reply(await matrix_presence.clear_status(evt.sender, evt.sender.save))
    if len(evt.args) != 1 or evt.args[0].lower() not in STATUS_NAMES:
        return await evt.reply(usage)
    new = STATUS_NAMES[evt.args[0].lower()]
    return await _choose(
        evt,
        "change your status",
        f"Your MSN status is now **{new.label}**.",
        f"You are not connected to MSN right now; your status will be **{new.label}** as soon "
        "as the bridge connects.",
        status=new,
    )


@command_handler(
    needs_auth=True,
    help_section=SECTION_PRESENCE,
    help_text="Change your MSN display name (friendly name; `auto`: forget the choice, your "
    "Matrix display name drives it if the bridge is set up so).",
    help_args="<_name_|auto>",
)
async def nick(evt: CommandEvent) -> EventID:
    name = _rest(evt)
    if not name:
        return await evt.reply("**Usage:** `$cmdprefix+sp nick <name|auto>`")
    if name.lower() == "auto":
        return await evt.reply(await matrix_presence.clear_name(evt.sender, evt.sender.save))
    if len(name) > MAX_NICK:
        return await evt.reply(f"That name is too long: MSN allows at most {MAX_NICK} characters.")
    return await _choose(
        evt,
        "change your name",
        f"Your MSN name is now **{md(name)}**.",
        f"You are not connected to MSN right now; your name will be **{md(name)}** as soon as "
        "the bridge connects.",
        friendly_name=name,
    )


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
    user = evt.sender
    protocol = (user.client.protocol if user.client and user.connected else None) or (
        user.row.protocol
    )
    if protocol and protocol < own_presence.PSM_PROTOCOL:
        return await evt.reply(
            f"Personal messages need MSNP11 or newer; this session uses MSNP{protocol}."
        )
    done = (
        f"Your personal message is now: {md(text)}"
        if text
        else "Your personal message was cleared."
    )
    later = "You are not connected to MSN right now; your personal message will be " + (
        f"set to: {md(text)}" if text else "cleared"
    )
    return await _choose(
        evt,
        "set your personal message",
        done,
        later + " as soon as the bridge connects.",
        personal_message=text,
    )
