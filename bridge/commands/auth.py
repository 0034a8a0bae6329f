"""``login``, ``logout``, ``reconnect`` and ``ping``."""

from __future__ import annotations

from typing import Any, cast
from html import escape
import datetime
import json
import logging

from mautrix.bridge import BaseUser
from mautrix.types import EventID, EventType, Format, MessageType, TextMessageEventContent

from bridge import own_presence
from bridge.msnp.events import Status
from bridge.password_login import Outcome, password_login
from bridge.texts import md

from .common import (
    SECTION_AUTH,
    CommandEvent,
    command_handler,
    contact_count,
    contacts_text,
    parse_passport,
)

__all__ = [
    "awaiting_password",
    "login",
    "logout",
    "ping",
    "reconnect",
    "redact_secret",
]

log = logging.getLogger("mau.commands.auth")


async def redact_secret(evt: CommandEvent, what: str = "password") -> None:
    """Redact the message that holds a password (or another secret, ``what``); ask the user
    to do it if the bot cannot."""
    intent = evt.az.intent if evt.has_bridge_bot else evt.main_intent
    try:
        await intent.redact(evt.room_id, evt.event_id, reason=f"Message contained a {what}")
    except Exception as e:
        log.warning("Could not redact a %s message in %s: %s", what, evt.room_id, e)
        await evt.reply(
            f"I could not delete your message containing the {what} (the bot needs the power "
            "to remove messages in this room). Please delete it yourself."
        )


def _password_from(evt: CommandEvent) -> str:
    """The raw text of the message (so spaces in the password survive)."""
    body = getattr(evt.content, "body", "") or ""
    prefix = evt.command_prefix + " "
    if body.startswith(prefix):
        body = body[len(prefix) :]
    return body.strip("\r\n")


@command_handler(
    needs_auth=False,
    help_section=SECTION_AUTH,
    help_text=(
        "Log in to MSN. Without the password, the bot sends a link to the web login page (when "
        "the bridge has one) or asks for the password and deletes your reply right away."
    ),
    help_args="[_e-mail_] [_password_]",
)
async def login(evt: CommandEvent) -> EventID | None:
    if not evt.is_management:
        if len(evt.args) > 1:
            await redact_secret(evt)
        return await evt.reply(
            "For your password's sake, `login` only works in a private chat with the bridge bot."
        )
    passport = parse_passport(evt.args[0]) if evt.args else None
    if len(evt.args) < 2 and (passport is not None or not evt.args):
        # No password in the message: the web login page, when there is one.
        sent = await _send_login_link(evt, passport)
        if sent is not None:
            return sent
    if passport is None:
        if evt.args:
            # The message may contain a password: do not leave it in the room.
            await redact_secret(evt)
        return await evt.reply(
            "**Usage:** `$cmdprefix+sp login <e-mail> [password]` (an e-mail address of at "
            "most 129 characters)"
        )
    if len(evt.args) > 1:
        await redact_secret(evt)
    other = _other_account(evt, passport)
    if other:
        return await evt.reply(other)
    if len(evt.args) > 1:
        body = _password_from(evt)
        # everything after "login <e-mail> "
        parts = body.split(" ", 2)
        password = parts[2] if len(parts) > 2 else ""
        if not password:
            return await evt.reply("**Usage:** `$cmdprefix+sp login <e-mail> [password]`")
        return await _do_login(evt, passport, password)
    evt.sender.command_status = {
        "action": "Login",
        "room_id": evt.room_id,
        "next": enter_password,
        "passport": passport,
    }
    return await evt.reply(
        f"Please send the password of **{md(passport)}** as your next message. The bot deletes it "
        "from the room right away. Send `$cmdprefix+sp cancel` to cancel."
    )


def awaiting_password(user: BaseUser | None, room_id: str) -> bool:
    """Whether the bot asked ``user`` for their password in ``room_id`` (so their next message
    there holds it; see :mod:`bridge.log_redaction`)."""
    status = user.command_status if user is not None else None
    if not status:
        return False
    return status.get("next") is enter_password and status.get("room_id") == room_id


async def enter_password(evt: CommandEvent) -> EventID | None:
    status = evt.sender.command_status or {}
    if status.get("room_id") != evt.room_id:
        return None
    evt.sender.command_status = None
    await redact_secret(evt)
    password = _password_from(evt)
    if not password:
        return await evt.reply("The password was empty. Send `login <e-mail>` to start again.")
    return await _do_login(evt, status["passport"], password)


def _other_account(evt: CommandEvent, passport: str) -> str | None:
    """Switching accounts goes through ``logout`` (which deletes the stored password): the
    reply to a login as another address (see :class:`Outcome.OTHER_ACCOUNT`), asked before the
    password is."""
    current = evt.sender.passport
    if current and current != passport:
        return (
            f"You are logged in to MSN as **{md(current)}**. To use **{md(passport)}** instead, "
            "send `$cmdprefix+sp logout` first."
        )
    return None


async def _do_login(evt: CommandEvent, passport: str, password: str) -> EventID:
    user = evt.sender
    other = _other_account(evt, passport)
    if other:
        return await evt.reply(other)
    if not (user.connected and user.passport == passport):
        await evt.reply(f"Logging in to MSN as **{md(passport)}**...")
    outcome = await password_login(user, passport, password)
    if outcome.outcome is Outcome.OTHER_ACCOUNT:  # another login finished meanwhile
        return await evt.reply(_other_account(evt, passport) or outcome.error)
    if outcome.outcome is Outcome.ALREADY:
        return await evt.reply(f"You are already logged in as **{md(passport)}**.")
    if not outcome.logged_in:
        return await evt.reply(md(outcome.error))
    name = outcome.friendly_name
    shown = (
        f"**{md(name)}** ({md(passport)})" if name.lower() != passport else f"**{md(passport)}**"
    )
    chosen = own_presence.chosen_status(user.row)
    note = "" if chosen is Status.ONLINE else f" Your status is **{chosen.label}**, as you chose."
    return await evt.reply(
        f"Logged in as {shown} with MSNP{outcome.protocol}; {contacts_text(outcome.contacts)}."
        f"{note}"
    )


async def _send_login_link(evt: CommandEvent, passport: str | None) -> EventID | None:
    """Answer with a one-time link to the web login page, if it is enabled. The link's token
    stays out of the bridge's log."""
    link = evt.bridge.web.login_link(evt.sender.mxid, passport)
    if link is None:
        return None
    minutes = max(1, round(evt.bridge.web.link_lifetime / 60))
    rest = (
        f"It works for one login and expires in {minutes} minute{'s' if minutes != 1 else ''}. "
        "Your password goes from that page straight to the bridge, never through Matrix. "
        "Do not share the link."
    )
    intro = "Open this link in your browser to log in to MSN:"
    content = TextMessageEventContent(
        msgtype=MessageType.NOTICE,
        body=f"{intro} {link}\n\n{rest}",
        format=Format.HTML,
        formatted_body=(
            f'<p>{intro} <a href="{escape(link)}">{escape(link)}</a></p><p>{escape(rest)}</p>'
        ),
    )
    # As bytes, mautrix logs the request as "<N bytes>" instead of its content.
    raw = json.dumps(content.serialize()).encode()
    return await evt.az.intent.send_message_event(
        evt.room_id, EventType.ROOM_MESSAGE, cast(Any, raw)
    )


@command_handler(
    needs_auth=True,
    help_section=SECTION_AUTH,
    help_text="Log out of MSN and forget the stored password.",
)
async def logout(evt: CommandEvent) -> EventID:
    user = evt.sender
    passport = user.passport
    await user.logout()
    return await evt.reply(f"Logged out of **{md(passport)}**. Your stored password was deleted.")


@command_handler(
    needs_auth=True,
    help_section=SECTION_AUTH,
    help_text="Reconnect to MSN with the stored credentials (e.g. after logging in elsewhere).",
)
async def reconnect(evt: CommandEvent) -> EventID:
    await evt.sender.reconnect()
    return await evt.reply("Reconnecting to MSN... Use `$cmdprefix+sp ping` to check.")


def _since(ts: float) -> str:
    when = datetime.datetime.fromtimestamp(ts, tz=datetime.UTC)
    now = datetime.datetime.now(datetime.UTC).timestamp()
    delta = datetime.timedelta(seconds=int(max(0.0, now - ts)))
    return f"{when:%Y-%m-%d %H:%M:%S} UTC ({delta} ago)"


@command_handler(
    needs_auth=False,
    help_section=SECTION_AUTH,
    help_text="Show whether you are connected to MSN, and to which server.",
)
async def ping(evt: CommandEvent) -> EventID:
    user = evt.sender
    if not user.passport:
        return await evt.reply("You are not logged in. Use `$cmdprefix+sp login <e-mail>`.")
    server = evt.config["msn.server"]
    client = user.client
    if user.connected and client is not None:
        since = _since(user.connected_since) if user.connected_since else "unknown"
        name = user.session.friendly_name or user.passport
        shown = (
            f"**{md(name)}** ({md(user.passport)})"
            if name.lower() != user.passport
            else f"**{md(name)}**"
        )
        return await evt.reply(
            f"Connected as {shown} to `{server}` with MSNP{client.protocol}; "
            f"{contacts_text(contact_count(client))}; connected since {since}."
        )
    state = user.state_description()
    return await evt.reply(f"Logged in as **{md(user.passport)}** but not connected: {state}.")
