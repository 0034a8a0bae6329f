"""Nothing lost, nothing twice: messages written while MSN is unreachable wait in the stored
queue (through a bridge restart) and arrive once, in order; a homeserver restart loses no
Matrix event."""

from __future__ import annotations

import re

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import Stack


async def test_queued_messages_survive_a_bridge_restart_and_arrive_once_in_order(
    stack: Stack,
) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "hello")

    stack.msn.close_during_login = "USR"  # the MSN server refuses logins for now
    try:
        mark = user.mark(mgmt)
        await stack.msn.drop(pair.passport)
        await user.wait_for_message(
            mgmt, re.compile("Disconnected from MSN"), sender=stack.bot_mxid, after=mark
        )
        before = [await user.send_text(room, f"queued {i}") for i in range(1, 4)]
        for event_id in before:
            await user.wait_for_send_status(room, event_id, "PENDING")
        await stack.restart_bridge()
        after = [await user.send_text(room, f"queued {i}") for i in range(4, 6)]
        for event_id in after:
            await user.wait_for_send_status(room, event_id, "PENDING", timeout=30)
        mark = bob.mark()
    finally:
        stack.msn.close_during_login = None
    for event_id in before + after:
        await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=40)
    await bob.wait_for(
        lambda _: len(stack.texts_after(bob, mark)) >= 5, after=mark, what="five messages"
    )
    await user.send_text(room, "last")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "last", after=mark)
    assert stack.texts_after(bob, mark) == [f"queued {i}" for i in range(1, 6)] + ["last"]
    errors = stack.bridge.errors_since(log_mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


async def test_homeserver_restart_loses_no_matrix_event(stack: Stack) -> None:
    # Synapse on SQLite numbers its appservice transactions from 1 again after a restart; a
    # bridge that remembers transactions by ID alone would drop everything that follows.
    # Both restarted first, with nothing pending: Synapse numbers from 1 and this bridge
    # process sees those numbers, as after a real start of both.
    await stack.bridge.wait_quiet(1.5, timeout=20)
    await stack.restart_synapse(with_bridge=True)
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "before the homeserver restart")
    for i in range(3):  # a few transactions, so their IDs come again after the restart
        await user.send_text(room, f"before {i}")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "before 2")
    # every transaction answered, so none is left in Synapse's table of unsent ones (whose
    # highest ID is where its numbering resumes)
    await stack.bridge.wait_quiet(1.5, timeout=20)
    # what this bridge process has handled (its memory of transactions) ...
    before = _transaction_ids(stack.bridge.log_since(0).rsplit("===== bridge start", 1)[-1])
    restart_mark = stack.bridge.log_mark()

    await stack.restart_synapse(with_bridge=False)
    mark = bob.mark()
    sent = [await user.send_text(room, f"after {i}") for i in range(5)]
    for event_id in sent:
        await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=30)
    await bob.wait_for(lambda _: len(stack.texts_after(bob, mark)) >= 5, after=mark)
    assert stack.texts_after(bob, mark) == [f"after {i}" for i in range(5)]
    # ... and the case this test is about did happen: transaction IDs came again
    after = _transaction_ids(stack.bridge.log_since(restart_mark))
    assert before & after, (sorted(before), sorted(after))
    await stack.command(user, mgmt, "ping", "Connected as")  # commands arrive too
    await bob.client.send_text(pair.passport, "and back")
    await user.wait_for_message(room, "and back", sender=pair.contact_ghost, timeout=30)
    errors = stack.bridge.errors_since(log_mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


def _transaction_ids(log: str) -> set[str]:
    return set(re.findall(r"Handling transaction ([^#\s]+)", log))
