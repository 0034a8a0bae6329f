"""Relay mode on the real stack: in a portal whose owner turned relaying on (`set-relay`), a
Matrix user without an MSN account talks to the contact through the owner's account, named by
the configured format."""

from __future__ import annotations

from pathlib import Path
import re

from ruamel.yaml import YAML

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import Stack


def _set_relay_enabled(path: Path, enabled: bool) -> None:
    yaml = YAML()
    config = yaml.load(path.read_text())
    config["bridge"]["relay"]["enabled"] = enabled
    with open(path, "w") as f:
        yaml.dump(config, f)


async def test_a_matrix_user_without_msn_talks_through_the_relay(stack: Stack) -> None:
    _set_relay_enabled(stack.config_path, True)
    await stack.restart_bridge()
    try:
        pair = stack.new_pair()
        user, _ = await stack.logged_in(pair)
        bob = await stack.msn_peer(pair.contact, pair.contact_password)
        room, _ = await stack.open_dm(pair, user, bob, "hi alice")
        guest = await stack.matrix_user(stack.unique("guest"))
        await guest.api.set_displayname("Guest Gina")
        await user.api.invite_user(room, guest.api.mxid)
        await guest.join(room)

        # before set-relay: refused, with the reason
        refused = await guest.send_text(room, "too early")
        status = await guest.wait_for_send_status(room, refused, timeout=20)
        assert "set-relay" in status["content"].get("message", "")

        mark = user.mark(room)
        await user.send_text(room, f"{stack.command_prefix} set-relay")
        await user.wait_for_message(
            room, re.compile("bridged through your account"), after=mark, timeout=20
        )
        mark = bob.mark()
        await guest.send_text(room, "hello bob, I am a guest")
        got = await bob.wait_for_type(TextMessageReceived, after=mark, timeout=20)
        assert got.text == "Guest Gina: hello bob, I am a guest"
        assert got.sender.lower() == pair.passport  # through the owner's account
    finally:
        _set_relay_enabled(stack.config_path, False)
        await stack.restart_bridge()
