"""What the bot says to people who are not bridge developers: help, version, login, contacts."""

from __future__ import annotations

import re

from bridge.commands.meta import FRAMEWORK_HEADING
from tests.msn_server import AL, FL
from tests.support.harness import Stack

FRAMEWORK_COMMANDS = ("login-matrix", "ping-matrix", "set-pl", "set-relay", "clean-rooms")


def headings(body: str) -> list[str]:
    return re.findall(r"^#### (.+)$", body, re.M)


async def test_help_shows_the_bridge_first_and_the_framework_to_admins_only(stack: Stack) -> None:
    newcomer = await stack.matrix_user(stack.unique("helpme"))
    room = await stack.management_room(newcomer)
    body = (await stack.command(newcomer, room, "help", "#### "))["content"]["body"]
    assert body.startswith("This is your chat with the bridge bot")
    assert "once you are logged in" in body
    assert headings(body) == ["Authentication", "General"]

    user, room = await stack.logged_in(stack.new_pair())
    body = (await stack.command(user, room, "help", "#### "))["content"]["body"]
    assert headings(body) == ["Authentication", "Contacts and chats", "Your MSN status", "General"]
    for command in ("login", "logout", "ping", "contacts", "pm", "status", "cancel", "version"):
        assert f"**{command}**" in body
    assert FRAMEWORK_HEADING not in body
    for command in FRAMEWORK_COMMANDS:
        assert f"**{command}**" not in body
    assert "portal" not in body.lower() and "management room" not in body.lower()

    admin = await stack.matrix_user("admin")
    admin_room = await stack.management_room(admin)
    body = (await stack.command(admin, admin_room, "help", "#### "))["content"]["body"]
    assert headings(body) == ["Authentication", "General", FRAMEWORK_HEADING]
    own, framework = body.split(f"#### {FRAMEWORK_HEADING}", 1)
    assert "**set-pl**" in framework and "**set-pl**" not in own
    assert "**login**" in own and "**login**" not in framework


async def test_version_has_no_placeholder_link(stack: Stack) -> None:
    user = await stack.matrix_user(stack.unique("version"))
    room = await stack.management_room(user)
    reply = await stack.command(user, room, "version", "matrix-msn")
    body = reply["content"]["body"]
    assert re.fullmatch(r"matrix-msn \S+ \(mautrix-python \S+\)", body), body
    assert "example.invalid" not in body and "](" not in body


async def test_login_ping_and_contacts_agree_and_name_people_once(stack: Stack) -> None:
    pair = stack.new_pair()
    # someone who added the user (the user's reverse list only) is not one of their contacts
    fan = f"fan{stack.unique('')}@example.com"
    stack.msn.add_account(fan, "fanpw", "A Fan")
    stack.msn.add_contact(fan, pair.passport, FL | AL)
    # a contact without a friendly name (the server uses the address)
    plain = f"plain{stack.unique('')}@example.com"
    stack.msn.add_account(plain, "plainpw")
    stack.msn.make_mutual(pair.passport, plain)

    user, room = await stack.logged_in(pair)
    login = user.events(room, "m.room.message", sender=stack.bot_mxid)[-1]["content"]["body"]
    assert re.search(r"; 2 contacts\.$", login), login
    ping = await stack.command(user, room, "ping", "Connected as")
    assert "; 2 contacts;" in ping["content"]["body"]

    listing = (await stack.command(user, room, "contacts", plain))["content"]["body"]
    line = next(line for line in listing.splitlines() if plain in line)
    assert line.count(plain) == 1, line
    assert f"**{pair.contact_name}** ({pair.contact})" in listing
    assert fan not in listing


async def test_login_to_another_account_asks_for_logout_first(stack: Stack) -> None:
    pair = stack.new_pair()
    other = stack.new_pair()
    user, room = await stack.logged_in(pair)
    reply = await stack.command(user, room, f"login {other.passport} {other.password}", "logout")
    body = reply["content"]["body"]
    assert f"You are logged in to MSN as **{pair.passport}**" in body
    assert f"**{other.passport}**" in body and "`logout` first" in body
    # still the first account, and without the password prompt for the other one
    await stack.command(user, room, "ping", f"({pair.passport})")
    reply = await stack.command(user, room, f"login {other.passport}", "logout")
    assert "password" not in reply["content"]["body"].lower()
    assert stack.msn.online(other.passport) is None


async def test_nudge_outside_a_chat_says_where_it_works(stack: Stack) -> None:
    pair = stack.new_pair()
    user, room = await stack.logged_in(pair)
    reply = await stack.command(user, room, "nudge", "chat with an MSN contact")
    assert "portal" not in reply["content"]["body"].lower()
