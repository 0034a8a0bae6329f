"""End to end: double puppeting with the homeserver's appservice method (a second
registration whose ``as_token`` is in ``bridge.login_shared_secret_map``), on a stack of its
own; and the manual ``login-matrix`` / ``ping-matrix`` / ``logout-matrix``.

The user's own message from MSN: the bridge speaks MSNP2-12, and below MSNP16 neither this
project's test server nor Escargot relays anything of the user's own to them (one login per
account; an MSNP16+ login signs older endpoints out with ``OUT OTH``). At MSNP16+ both relay a
switchboard ``MSG`` to every other endpoint of the sender in the conversation; the test below
has the test server write that relayed line (as its ``MSG`` handler writes it) on the bridge's
switchboard connection. The leave as the user is driven directly in
tests/integration/test_as_user.py: no server sends a client a ``BYE`` of its own account.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bridge.msnp.events import TextMessageReceived
from tests.msn_server.framing import encode_name
from tests.support.double_puppet import write_registration
from tests.support.harness import Stack, poll
from tests.support.synapse import synapse_python

TOKEN: dict[str, str] = {}


def _configure(config: dict[str, Any]) -> None:
    config["bridge"]["login_shared_secret_map"] = {
        Stack.SERVER_NAME: f"as_token:{TOKEN['as_token']}"
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    workdir = tmp_path_factory.mktemp("e2e-double-puppet")
    registration = workdir / "doublepuppet.yaml"
    TOKEN["as_token"] = write_registration(registration, Stack.SERVER_NAME)
    stack = Stack(workdir, "sqlite", configure=_configure)
    stack.extra_registrations.append(registration)
    async with stack.running():
        yield stack


TEXT_HEADER = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"


def _relay_from_other_endpoint(stack: Stack, passport: str, contact: str, text: str) -> None:
    """The server relays what ``passport`` wrote from another endpoint in the conversation
    with ``contact`` to the bridge's endpoint there (what an MSNP16+ server does)."""
    for session in stack.msn.sessions_of(passport):
        if session.has_account(contact.lower()):
            # keyed "email;{machine guid}" at MSNP16+
            conn = next(
                c for c in session.participants.values() if c.account.key == passport.lower()
            )
            name = encode_name(conn.account.name)
            conn.send("MSG", conn.account.email, name, payload=TEXT_HEADER + text.encode())
            return
    raise AssertionError(f"no switchboard of {passport} with {contact}")


async def _double_puppet_of(stack: Stack, passport: str) -> str | None:
    rows = await stack.db_values(f"SELECT custom_mxid FROM puppet WHERE passport = '{passport}'")
    return rows[0] if rows else None


async def test_double_puppeting_comes_with_the_msn_login_and_goes_with_the_logout(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    user, room = await stack.logged_in(pair)

    async def enabled() -> bool:
        return await _double_puppet_of(stack, pair.passport) == pair.mxid

    await poll(enabled, 20, "double puppeting enabled at login")
    await stack.command(user, room, "ping-matrix", "Your Matrix login is working")
    stored = await stack.db_values(
        f"SELECT access_token FROM puppet WHERE passport = '{pair.passport}'"
    )
    assert stored and stored[0] and "appservice-config" not in stored[0]  # encrypted
    assert TOKEN["as_token"] not in stack.bridge.log_text()

    # the user's own Matrix messages still reach MSN (only the bridge's are marked as its own)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    dm, _ = await stack.open_dm(pair, user, bob, "hi alice")
    mark = bob.mark()
    await user.send_text(dm, "hi bob")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "hi bob", after=mark)

    # what the user wrote from their other Messenger: their own Matrix account says it
    mark = bob.mark()
    _relay_from_other_endpoint(stack, pair.passport, pair.contact, "typed in Messenger")
    evt = await user.wait_for_message(dm, "typed in Messenger", timeout=20)
    assert evt["sender"] == pair.mxid
    assert evt["content"]["fi.mau.double_puppet_source"]
    # ... and the bridge does not send it back to MSN: the next message bob gets is the next
    # one the user sends from Matrix
    await user.send_text(dm, "after the echo")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "after the echo", after=mark)
    assert stack.texts_after(bob, mark) == ["after the echo"]

    await stack.command(user, room, "logout", "Logged out")

    async def disabled() -> bool:
        return await _double_puppet_of(stack, pair.passport) is None

    await poll(disabled, 10, "double puppeting forgotten at logout")


async def test_login_matrix_ping_matrix_logout_matrix(stack: Stack) -> None:
    pair = stack.new_pair()
    user, room = await stack.logged_in(pair)

    async def enabled() -> bool:
        return await _double_puppet_of(stack, pair.passport) == pair.mxid

    await poll(enabled, 20, "double puppeting enabled at login")
    await stack.command(user, room, "logout-matrix", "Successfully disabled double puppeting")
    await stack.command(user, room, "ping-matrix", "not logged in with your Matrix account")
    assert await _double_puppet_of(stack, pair.passport) is None
    token = user.api.api.token
    await stack.command(user, room, f"login-matrix {token}", "Successfully enabled")
    await stack.command(user, room, "ping-matrix", "Your Matrix login is working")
    stored = await stack.db_values(
        f"SELECT access_token FROM puppet WHERE passport = '{pair.passport}'"
    )
    assert stored and stored[0] and token not in stored[0]
    # a restart checks the stored double puppet and keeps it
    await stack.restart_bridge()
    await stack.command(user, room, "ping-matrix", "Your Matrix login is working")
