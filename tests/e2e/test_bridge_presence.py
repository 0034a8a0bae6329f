"""Ghost presence stays up: Synapse drops it ~30 s after it was set, the bridge re-sends it."""

from __future__ import annotations

import asyncio
import time

from mautrix.types import PresenceState, UserID
import pytest

from bridge.msnp.values import Status
from tests.support.harness import Stack

#: Longer than Synapse's 30 s timeout for users that do not sync.
HOLD_SECONDS = 35


async def test_ghost_presence_is_resent_and_follows_msn(stack: Stack) -> None:
    if stack.backend != "sqlite":
        pytest.skip("presence does not touch the bridge database; timed on SQLite only")
    resend = float(stack.config["bridge"]["presence"]["resend_interval"])
    assert 0 < resend < 30, "bridge.presence.resend_interval must be below Synapse's 30 s"
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    ghost = pair.contact_ghost
    # presence is only visible to users who share a room with the ghost
    await bob.client.send_text(pair.passport, "presence check")
    room = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(room)
    await user.wait_for_presence(ghost, "online", timeout=30)

    mark = len(user.presence_events)
    started = time.monotonic()
    while time.monotonic() - started < HOLD_SECONDS:
        await asyncio.sleep(5)
        current = await user.api.get_presence(UserID(ghost))
        assert current.presence == PresenceState.ONLINE, (
            f"ghost presence dropped to {current.presence} after "
            f"{time.monotonic() - started:.0f} s"
        )
    dropped = [
        e
        for e in user.presence_events[mark:]
        if e.get("sender") == ghost and e.get("content", {}).get("presence") != "online"
    ]
    assert not dropped, dropped

    await bob.client.set_status(Status.BUSY)
    content = await user.wait_for_presence(ghost, "unavailable", timeout=20)
    assert "Busy" in (content.get("status_msg") or "")
    current = await user.api.get_presence(UserID(ghost))
    assert current.presence == PresenceState.UNAVAILABLE

    await bob.client.close()
    await user.wait_for_presence(ghost, "offline", timeout=20)
