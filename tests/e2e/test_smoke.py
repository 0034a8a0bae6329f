"""The bridge starts against a real Synapse, registers its bot and answers ``help``."""

from __future__ import annotations

from tests.e2e.harness import Stack


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
    reply = await user.wait_for_message(
        room, lambda body: "login" in body, sender=bot, after=after, timeout=20
    )
    assert reply["content"]["msgtype"] in ("m.notice", "m.text")
