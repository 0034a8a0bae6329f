"""Every Matrix event has an answer, on the real stack: a reaction reaches the contact as a
short text; a redaction gets a failed send status saying MSN cannot delete messages."""

from __future__ import annotations

from mautrix.types import EventID, EventType, RoomID

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import Stack


async def test_a_reaction_is_a_short_text_and_a_redaction_fails_visibly(stack: Stack) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, evt = await stack.open_dm(pair, user, bob, "shall we meet at the station at eight?")

    mark = bob.mark()
    await user.send_content(
        room,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": evt["event_id"], "key": "👍"}},
        type="m.reaction",
    )
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text.startswith("* reacted"), after=mark, timeout=20
    )
    assert got.text == '* reacted 👍 to "shall we meet at the station…"'

    mine = await user.send_text(room, "oops, wrong chat")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "oops, wrong chat")
    redaction = await user.api.redact(RoomID(room), EventID(mine))
    status = await user.wait_for_send_status(room, str(redaction), "FAIL_PERMANENT")
    assert "cannot delete" in status["content"].get("message", "")
    assert EventType.BEEPER_MESSAGE_STATUS.t == status["type"]
