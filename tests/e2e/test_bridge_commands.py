"""Bot commands end to end, permission refusal, and credentials lost to a key change."""

from __future__ import annotations

from pathlib import Path
import asyncio
import re
import sqlite3

from mautrix.types import RoomCreatePreset
from ruamel.yaml import YAML

from bridge.msnp.events import PersonalMessageChanged, PresenceChanged
from bridge.msnp.values import Status
from tests.support.harness import Stack


async def test_presence_and_contact_commands(stack: Stack) -> None:
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)

    def about_alice(evt: object) -> bool:
        return getattr(evt, "passport", "").lower() == pair.passport

    # nick: bob sees the new friendly name
    new_name = f"{pair.name} (on Matrix)"
    mark = bob.mark()
    await stack.command(user, mgmt, f"nick {new_name}", "Your MSN name is now")
    await bob.wait_for_type(
        PresenceChanged, lambda e: about_alice(e) and e.friendly_name == new_name, after=mark
    )

    # psm: bob sees the personal message
    mark = bob.mark()
    await stack.command(user, mgmt, "psm Bridging since 2003", "personal message is now")
    await bob.wait_for_type(
        PersonalMessageChanged,
        lambda e: about_alice(e) and e.personal_message == "Bridging since 2003",
        after=mark,
    )

    # status: bob sees BSY
    mark = bob.mark()
    await stack.command(user, mgmt, "status busy", "Busy")
    await bob.wait_for_type(
        PresenceChanged, lambda e: about_alice(e) and e.status == Status.BUSY, after=mark
    )

    # contacts: name, e-mail, status, group
    reply = await stack.command(user, mgmt, "contacts", pair.contact)
    body = reply["content"]["body"]
    assert pair.contact_name in body
    assert "Online" in body
    assert "Friends" in body

    # sync
    await stack.command(user, mgmt, "sync", "Synchronised 1 contact.")

    # pm opens the DM; after leaving it, pm invites again
    await stack.command(user, mgmt, f"pm {pair.contact}", "Private chat")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    await user.api.leave_room(room)
    await user.wait_for(lambda: room in user.left, 10, "leaving the DM")
    await stack.command(user, mgmt, f"pm {pair.contact}", "Private chat")
    again = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(again)
    mark = bob.mark()
    await user.send_text(again, "back again")
    await bob.wait_for(lambda e: getattr(e, "text", None) == "back again", after=mark)

    # unknown commands and bad arguments get a clear answer
    await stack.command(user, mgmt, "frobnicate", "Unknown command")
    for bad in ("pm not-an-email", "status sleepy", "nick", "add", "remove a b"):
        await stack.command(user, mgmt, bad, "Usage")


def _config_with(stack: Stack, mxid: str, level: str) -> None:
    yaml = YAML()
    path: Path = stack.config_path
    config = yaml.load(path.read_text())
    config["bridge"]["permissions"][mxid] = level
    with open(path, "w") as f:
        yaml.dump(config, f)


async def _break_stored_credentials(stack: Stack, mxid: str) -> None:
    """What a changed bridge.credential_key looks like: ciphertext the key cannot open."""
    garbage = "gAAAAABnot-a-token-for-this-key"
    sql = 'UPDATE "user" SET password=$1, ticket=$1 WHERE mxid=$2'
    if stack.backend == "sqlite":
        path = stack.db_url.split(":", 1)[1]

        def update() -> int:
            with sqlite3.connect(path) as conn:
                return conn.execute(
                    sql.replace("$1", "?1").replace("$2", "?2"), (garbage, mxid)
                ).rowcount

        assert await asyncio.to_thread(update) == 1
    else:
        import asyncpg

        conn = await asyncpg.connect(stack.db_url)
        try:
            result = await conn.execute(sql, garbage, mxid)
        finally:
            await conn.close()
        assert result == "UPDATE 1"


async def test_refusal_and_lost_credentials_after_restart(stack: Stack) -> None:
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bot = stack.bot_mxid
    stranger_local = stack.unique("stranger")
    stranger_mxid = stack.synapse.mxid(stranger_local)

    # let the login's space set-up ("MSN" and "Friends") finish before stopping the bridge
    await user.wait_for(lambda: len(user.invites) >= 2, 20, "the space invites")
    await stack.bridge.stop()
    _config_with(stack, stranger_mxid, "none")
    await _break_stored_credentials(stack, pair.mxid)
    mark = user.mark(mgmt)
    await stack.bridge.start()

    # the user is asked to log in again (not told that MSN rejected the password)
    notice = await user.wait_for_message(
        mgmt,
        re.compile("can no longer read your stored MSN password"),
        bot,
        after=mark,
        timeout=30,
    )
    assert f"login {pair.passport}" in notice["content"]["body"]
    assert "rejected" not in notice["content"]["body"]
    assert stack.msn.online(pair.passport) is None
    ping = await stack.command(user, mgmt, "ping", "not connected")
    assert "can no longer be read" in ping["content"]["body"]
    assert pair.password not in stack.bridge.log_text()
    await stack.command(user, mgmt, f"login {pair.passport} {pair.password}", "Logged in as")
    assert stack.msn.online(pair.passport) is not None

    # a Matrix user without bridge permission gets a clear refusal from the bot
    stranger = await stack.matrix_user(stranger_local)
    room = await stranger.api.create_room(
        invitees=[bot], is_direct=True, preset=RoomCreatePreset.TRUSTED_PRIVATE
    )
    refusal = await stranger.wait_for_message(
        room, re.compile("not whitelisted"), sender=bot, timeout=20
    )
    assert "bridge.permissions" in refusal["content"]["body"]
    await stranger.wait_for_membership(room, bot, "leave", timeout=20)
    # ... also for commands sent in a room the bot stays in
    shared = await stack.management_room(user)
    await user.api.invite_user(shared, stranger.mxid)
    await stranger.wait_for_invite(timeout=20)
    await stranger.join(shared)
    mark = stranger.mark(shared)
    await stranger.send_text(shared, f"{stack.command_prefix} login x@example.com pw")
    await stranger.wait_for_message(
        shared, re.compile("not allowed to use this bridge"), sender=bot, after=mark, timeout=20
    )
