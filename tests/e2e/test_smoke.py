"""The bridge starts against a real Synapse, registers its bot and answers ``help``."""

from __future__ import annotations

import re

from tests.support.harness import Stack


async def test_bridge_starts_and_answers_help(stack: Stack) -> None:
    # The registration lets Synapse push typing and receipts to the bridge.
    assert stack.registration.get("receive_ephemeral") is True
    assert stack.registration["url"] == f"http://127.0.0.1:{stack.as_port}"

    bot = stack.bot_mxid
    status, profile = await stack.as_request("GET", f"/_matrix/client/v3/profile/{bot}")
    assert status == 200, profile

    user = await stack.matrix_user(stack.unique("smoke"))
    room = await user.create_dm(bot)
    await user.wait_for_membership(room, bot, "join", timeout=20)

    help_id = await user.send_text(room, "help")
    await user.wait_for_event(room, predicate=lambda e: e.get("event_id") == help_id)
    after = next(i for i, e in enumerate(user.timeline[room]) if e.get("event_id") == help_id)
    # The help text lists the commands (the welcome message also mentions `login`).
    reply = await user.wait_for_message(
        room, re.compile(r"\*\*login\*\*"), sender=bot, after=after, timeout=20
    )
    assert reply["content"]["msgtype"] in ("m.notice", "m.text")


async def test_bridge_stops_cleanly_on_sigterm(stack: Stack) -> None:
    # Let requests in flight (e.g. the status event of the last command) finish first: an
    # interrupted request is expected to be logged; anything else at shutdown is a bug.
    await stack.bridge.wait_quiet(1.0, timeout=10)
    mark = stack.bridge.log_mark()
    kills = stack.bridge.kills
    code = await stack.bridge.stop()
    try:
        log = stack.bridge.log_since(mark)
        assert stack.bridge.kills == kills, log[-3000:]
        assert code == 0, log[-3000:]
        assert "Everything stopped" in log
        errors = stack.bridge.errors_since(mark)
        assert not errors, "\n\n".join(errors)
    finally:
        await stack.bridge.start()
    # ... and comes back: the bot answers again.
    status, _ = await stack.as_request("GET", f"/_matrix/client/v3/profile/{stack.bot_mxid}")
    assert status == 200
