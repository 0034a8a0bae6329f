"""``python -m bridge.msnp chat`` through a pseudo-terminal against tests/msn_server."""

from __future__ import annotations

from pathlib import Path
import os
import sys

import pytest

from bridge.msnp.events import NudgeReceived, PresenceChanged, TextMessageReceived
from bridge.msnp.values import Status
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import logged_in
from tests.support.terminal import Terminal

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def chat_terminal(server: MSNServer, email: str, *extra: str) -> Terminal:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    argv = [
        sys.executable,
        "-m",
        "bridge.msnp",
        "chat",
        "--server",
        server.server_address,
        "--passport-url",
        server.passport_url,
        "--email",
        email,
        "--timeout",
        "5",
        *extra,
    ]
    return Terminal(argv, env, cwd=str(ROOT))


async def test_log_in_receive_reply_nudge_and_status() -> None:
    async with running_server() as server:
        bob, seen = await logged_in(server, "bob@example.com", 12)
        term = await chat_terminal(server, "alice@example.com").start()
        try:
            await term.expect("Password:")
            term.type("alice123")
            await term.expect("Signed in as Alice <alice@example.com> with MSNP12.")
            await term.expect("contacts: 2, online: 1")
            await term.expect("Bob <bob@example.com>  Online  [Friends]")
            await term.expect("Carol <carol@example.com>  Offline")

            # receive: the incoming conversation becomes the current one
            await bob.send_text("alice@example.com", "hello alice")
            await term.expect("Bob: hello alice")
            await term.expect("Bob> ")  # the prompt names the conversation now

            # reply
            term.type("hi bob, got it")
            reply = await seen.wait(
                TextMessageReceived, sender="alice@example.com", text="hi bob, got it"
            )
            assert reply.conversation == "alice@example.com"

            # typing and a nudge from bob
            await bob.send_typing("alice@example.com")
            await term.expect("* Bob is typing...")
            await bob.send_nudge("alice@example.com")
            await term.expect("* Bob sent you a nudge!")

            # a nudge back
            term.type("/nudge")
            await seen.wait(NudgeReceived, sender="alice@example.com")
            await term.expect("* nudge sent to Bob")

            # the server's own mail notification (Escargot sends one after login) is not shown
            # as something a contact sent; the CHG answer below comes after it on the same NS
            body = (
                b"MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinitialemailnotification; "
                b"charset=UTF-8\r\n\r\nInbox-Unread: 1\r\nFolders-Unread: 0\r\n\r\n"
            )
            await server.send_raw(
                "alice@example.com", b"MSG Hotmail Hotmail %d\r\n" % len(body) + body
            )

            # status both ways
            term.type("/status away")
            await seen.wait(PresenceChanged, passport="alice@example.com", status=Status.AWAY)
            await term.expect("* status: Away")
            assert "Hotmail" not in term.text and "cannot show" not in term.text
            await bob.set_status(Status.BUSY)
            await term.expect("* Bob is now Busy")

            # open another conversation by the start of a name; carol is offline
            term.type("/open car")
            await term.expect("* talking to Carol")
            term.type("are you there?")
            await term.expect("! message to Carol failed:")

            term.type("/contacts")
            await term.expect("Bob <bob@example.com>  Busy  [Friends]")

            term.type("/quit")
            assert await term.wait() == 0
            await seen.wait(PresenceChanged, passport="alice@example.com", status=Status.OFFLINE)
        finally:
            await term.close()
            await bob.close()


async def test_wrong_password_and_end_of_input() -> None:
    async with running_server() as server:
        term = await chat_terminal(server, "alice@example.com").start()
        try:
            await term.expect("Password:")
            term.type("wrong")
            await term.expect("error: login failed")
            assert await term.wait() == 2
        finally:
            await term.close()
        term = await chat_terminal(server, "dave@example.com").start()
        try:
            await term.expect("Password:")
            term.type("dave123")
            await term.expect("contacts: 0, online: 0")
            term.type("hello?")
            await term.expect("! no conversation open")
            assert await term.end_input() == 0  # Ctrl-D signs out
        finally:
            await term.close()
