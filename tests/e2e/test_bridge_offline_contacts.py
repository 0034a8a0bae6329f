"""End to end: ``bridge.offline_contacts`` (issue 10, bullet 7). At MSNP12 a message to an
offline contact waits, pending with one notice, and arrives when they sign in; or fails after
``bridge.offline_contacts.timeout``. (With the feature off it fails at once, as the shared stacks have it:
``test_bridge.py::test_send_to_offline_contact_fails_visibly`` on the shared stacks.)

One stack of its own, with the feature on and a short timeout, pinned to MSNP12: from MSNP13 the
server keeps such a message as an offline message instead (test_bridge_msnp18)."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
import re
import time

import pytest
import pytest_asyncio

from tests.support.harness import Stack, poll
from tests.support.synapse import synapse_python

TIMEOUT = 30


def _configure(config: dict[str, Any]) -> None:
    config["bridge"]["offline_contacts"] = {"enabled": True, "timeout": TIMEOUT}
    config["msn"]["protocol_max"] = 12


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-offline"), "sqlite", configure=_configure)
    async with stack.running():
        yield stack


async def _offline_dm(stack: Stack) -> tuple[Any, Any, str, Any]:
    """A DM whose contact then signed out (the ghost shows offline)."""
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "about to go offline")
    await bob.close()
    await poll(
        lambda: _offline(stack, pair.contact_ghost), what="ghost presence offline", timeout=20
    )
    return pair, user, room, bob


async def _offline(stack: Stack, ghost: str) -> bool:
    return await stack.ghost_presence(ghost) == "offline"


async def test_message_to_offline_contact_is_delivered_when_they_sign_in(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair, user, room, _ = await _offline_dm(stack)
    first = await user.send_text(room, "are you there?")
    await user.wait_for_send_status(room, first, "PENDING", timeout=20)
    notice = await user.wait_for_message(
        room, re.compile("is offline. Your messages are kept"), msgtype="m.notice", timeout=20
    )
    assert pair.contact_name in notice["content"]["body"]
    second = await user.send_text(room, "second")
    await user.wait_for_send_status(room, second, "PENDING", timeout=20)
    assert not any("are you there?" in repr(m) for m in stack.msn.messages)

    bob = await stack.msn_peer(pair.contact, pair.contact_password)  # signs in
    for event_id in (first, second):
        await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=25)
    await bob.wait_for(
        lambda _: len(stack.texts_after(bob, 0)) >= 2, after=0, what="both held messages"
    )
    assert stack.texts_after(bob, 0) == ["are you there?", "second"]
    notices = [
        e
        for e in user.timeline.get(room, [])
        if "is offline. Your messages are kept" in e.get("content", {}).get("body", "")
    ]
    assert len(notices) == 1, notices
    errors = stack.bridge.errors_since(log_mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


async def test_message_to_offline_contact_fails_after_the_timeout(stack: Stack) -> None:
    _, user, room, _ = await _offline_dm(stack)
    started = time.monotonic()
    event_id = await user.send_text(room, "nobody home")
    await user.wait_for_send_status(room, event_id, "PENDING", timeout=20)
    status = await user.wait_for_event(
        room,
        "com.beeper.message_send_status",
        predicate=lambda e: e["content"].get("m.relates_to", {}).get("event_id") == event_id
        and e["content"].get("status", "").startswith("FAIL"),
        timeout=TIMEOUT + 30,
        what="the failure",
    )
    content = status["content"]
    assert content["status"].startswith("FAIL"), content
    reason = content.get("message") or content.get("error") or ""
    assert f"within {TIMEOUT} seconds" in reason and "offline" in reason, content
    assert time.monotonic() - started >= TIMEOUT - 5
    assert not any("nobody home" in repr(m) for m in stack.msn.messages)
