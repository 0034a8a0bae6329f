"""``login``, ``logout``, ``reconnect`` and ``ping``."""

from __future__ import annotations

import datetime
import logging

from mautrix.types import EventID

from bridge.msnp.errors import MSNPException
from bridge.msnp.events import Lists
from bridge.texts import describe_login_error

from .common import SECTION_AUTH, CommandEvent, command_handler, parse_passport

__all__ = ["login", "logout", "ping", "reconnect"]

log = logging.getLogger("mau.commands.auth")


async def _redact_password(evt: CommandEvent) -> None:
    """Redact the message that holds a password; ask the user to do it if the bot cannot."""
    intent = evt.az.intent if evt.has_bridge_bot else evt.main_intent
    try:
        await intent.redact(evt.room_id, evt.event_id, reason="Message contained a password")
    except Exception as e:
        log.warning("Could not redact a password message in %s: %s", evt.room_id, e)
        await evt.reply(
            "I could not delete your message containing the password (the bot needs the power "
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
        "Log in to MSN. Without the password, the bot asks for it and deletes your reply "
        "right away."
    ),
    help_args="<_e-mail_> [_password_]",
)
async def login(evt: CommandEvent) -> EventID | None:
    if not evt.is_management:
        if len(evt.args) > 1:
            await _redact_password(evt)
        return await evt.reply(
            "For your password's sake, `login` only works in a private chat with the bridge bot."
        )
    passport = parse_passport(evt.args[0]) if evt.args else None
    if passport is None:
        if evt.args:
            # The message may contain a password: do not leave it in the room.
            await _redact_password(evt)
        return await evt.reply(
            "**Usage:** `$cmdprefix+sp login <e-mail> [password]` (an e-mail address of at "
            "most 129 characters)"
        )
    if len(evt.args) > 1:
        await _redact_password(evt)
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
        f"Please send the password of **{passport}** as your next message. The bot deletes it "
        "from the room right away. Send `$cmdprefix+sp cancel` to cancel."
    )


async def enter_password(evt: CommandEvent) -> EventID | None:
    status = evt.sender.command_status or {}
    if status.get("room_id") != evt.room_id:
        return None
    evt.sender.command_status = None
    await _redact_password(evt)
    password = _password_from(evt)
    if not password:
        return await evt.reply("The password was empty. Send `login <e-mail>` to start again.")
    return await _do_login(evt, status["passport"], password)


async def _do_login(evt: CommandEvent, passport: str, password: str) -> EventID:
    user = evt.sender
    if user.connected and user.passport == passport:
        return await evt.reply(f"You are already logged in as **{passport}**.")
    await evt.reply(f"Logging in to MSN as **{passport}**...")
    try:
        result = await user.login(passport, password)
    except Exception as e:
        if isinstance(e, MSNPException | OSError | TimeoutError):
            log.info("Login of %s as %s failed: %s", user.mxid, passport, type(e).__name__)
        else:
            log.exception("Unexpected error during login of %s", user.mxid)
        return await evt.reply(describe_login_error(e))
    name = result.friendly_name or passport
    count = len(user.client.contacts) if user.client else 0
    return await evt.reply(
        f"Logged in as **{name}** ({passport}) with MSNP{result.protocol}; "
        f"{count} contact{'s' if count != 1 else ''}."
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
    return await evt.reply(f"Logged out of **{passport}**. Your stored password was deleted.")


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
        # the contact list as people know it: the forward list (not allow/reverse-only entries)
        count = sum(1 for c in client.contacts.values() if c.lists & Lists.FORWARD)
        since = _since(user.connected_since) if user.connected_since else "unknown"
        name = client.friendly_name or user.passport
        return await evt.reply(
            f"Connected as **{name}** ({user.passport}) to `{server}` with "
            f"MSNP{client.protocol}; {count} contact{'s' if count != 1 else ''}; "
            f"connected since {since}."
        )
    state = user.state_description()
    return await evt.reply(f"Logged in as **{user.passport}** but not connected: {state}.")
