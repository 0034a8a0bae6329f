"""Bridge behaviour found wrong (or at risk) when the whole bridge ran against Escargot.

The shared stack runs our own MSN server; what Escargot does differently is injected here: its
``MSG Hotmail`` mail notification on the notification connection, and Passport tickets that are
no longer valid when the bridge restarts (Escargot's ``/login`` tickets live 30 seconds).
"""

from __future__ import annotations

import re

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import Stack

_MAIL_NOTIFICATION = (
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/x-msmsgsinitialemailnotification; charset=UTF-8\r\n"
    b"\r\n"
    b"Inbox-Unread: 2\r\n"
    b"Folders-Unread: 0\r\n"
    b"\r\n"
)


async def test_mail_notification_outside_a_conversation_is_ignored(stack: Stack) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    mark = stack.bridge.log_mark()
    header = b"MSG Hotmail Hotmail %d\r\n" % len(_MAIL_NOTIFICATION)
    await stack.msn.send_raw(pair.passport, header + _MAIL_NOTIFICATION)

    # conversations (and the space they are put in) still work afterwards
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    await bob.client.send_text(pair.passport, "after the mail notice")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    await user.wait_for_message(room, "after the mail notice", sender=pair.contact_ghost)
    await stack.bridge.wait_quiet(0.5)
    assert stack.bridge.errors_since(mark) == []


async def test_add_and_remove_update_the_contact_list(stack: Stack) -> None:
    pair = stack.new_pair()
    dave = stack.unique("dave") + "@example.com"
    stack.msn.add_account(dave, "davepw", "Dave")
    user, mgmt = await stack.logged_in(pair)

    await stack.command(user, mgmt, f"add {dave}", f"Added {dave}")
    listed = await stack.command(user, mgmt, "contacts", pair.contact)
    assert dave in listed["content"]["body"]

    await stack.command(user, mgmt, f"remove {dave}", f"Removed {dave}")
    listed = await stack.command(user, mgmt, "contacts", pair.contact)
    assert dave not in listed["content"]["body"]


async def test_restart_with_an_expired_ticket_logs_in_with_the_password(stack12: Stack) -> None:
    """A stored Passport 1.4 ticket is MSNP8-12 (at 13+ every login asks the token service
    with the password): the stack12 bridge."""
    stack = stack12
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bot = stack.bot_mxid
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    await stack.bridge.stop()
    stack.msn.tickets.expire_all()
    mark = stack.bridge.log_mark()
    room_mark = user.mark(mgmt)
    await stack.bridge.start()

    await stack.wait_msn_online(pair.passport, timeout=10)
    log = stack.bridge.log_since(mark)
    assert f"ticket for {pair.passport} rejected" in log
    assert stack.bridge.errors_since(mark) == []
    assert pair.password not in stack.bridge.log_text()
    await stack.command(user, mgmt, "ping", "Connected as")
    notices = [
        e["content"].get("body", "")
        for e in user.timeline.get(mgmt, [])[room_mark:]
        if e.get("type") == "m.room.message" and e.get("sender") == bot
    ]
    assert not [n for n in notices if re.search("Wrong|refused|Could not", n)], notices

    # and the session works: a message from MSN arrives
    await bob.client.send_text(pair.passport, "welcome back")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    await user.wait_for_message(room, "welcome back", sender=pair.contact_ghost)
    mark_bob = bob.mark()
    await user.send_text(room, "thanks")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "thanks", after=mark_bob)
