"""End to end: end-to-bridge encryption with a Matrix client that has its own Olm device
(tests/support/olm_client.py, python-olm only), on a stack of its own with
``bridge.encryption.allow`` and ``default`` on.

Two stacks: SQLite with the bridge bot syncing for its to-device events (mautrix's default),
and PostgreSQL with appservice mode (MSC2409 to-device events and MSC3202 device lists and key
counts in the appservice transactions, switched on in Synapse).
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
import re
import secrets

import pytest
import pytest_asyncio

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import Pair, Stack, poll, redacts
from tests.support.olm_client import EncryptedMatrixClient
from tests.support.synapse import synapse_python

APPSERVICE_MODE = {
    "experimental_features": {
        "msc2409_to_device_messages_enabled": True,
        "msc3202_transaction_extensions": True,
    }
}


def _configure(appservice_mode: bool) -> Any:
    def configure(config: dict[str, Any]) -> None:
        enc = config["bridge"]["encryption"]
        enc["allow"] = True
        enc["default"] = True
        enc["appservice"] = appservice_mode

    return configure


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["sync", "appservice"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    appservice_mode = request.param == "appservice"
    backend = "postgres" if appservice_mode else "sqlite"
    pg = request.getfixturevalue("pg_server") if appservice_mode else None
    stack = Stack(
        tmp_path_factory.mktemp(f"e2e-e2be-{request.param}"),
        backend,
        pg,
        configure=_configure(appservice_mode),
    )
    if appservice_mode:
        stack.synapse.extra_config = APPSERVICE_MODE
    async with stack.running():
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def clients() -> AsyncIterator[list[EncryptedMatrixClient]]:
    """The encrypted clients a test made, closed after it."""
    made: list[EncryptedMatrixClient] = []
    yield made
    for client in made:
        await client.close()


async def encrypted_user(
    stack: Stack, clients: list[EncryptedMatrixClient], localpart: str, password: str
) -> EncryptedMatrixClient:
    token = await stack.synapse.register_user(localpart, password)
    client = EncryptedMatrixClient(stack.synapse.url, stack.synapse.mxid(localpart), token)
    await client.start()
    clients.append(client)
    return client


async def logged_in(
    stack: Stack, clients: list[EncryptedMatrixClient], pair: Pair
) -> tuple[EncryptedMatrixClient, str]:
    """``pair``'s Matrix user with an Olm device, logged in to MSN through the bot."""
    user = await encrypted_user(stack, clients, pair.localpart, pair.password)
    room = await stack.management_room(user)
    mark = user.mark(room)
    command = await user.send_text(room, f"login {pair.passport} {pair.password}")
    await user.wait_for_event(
        room, "m.room.redaction", predicate=lambda e: redacts(e) == command, timeout=20
    )
    await user.wait_for_message(
        room, re.compile("Logged in as"), sender=stack.bot_mxid, after=mark, timeout=30
    )
    return user, room


async def encrypted_dm(stack: Stack, user: EncryptedMatrixClient, pair: Pair) -> str:
    """An encrypted DM with the contact's ghost, created as Element creates it; returns it
    once the bridge set it up (its encrypted greeting decrypted)."""
    room = await user.create_encrypted_dm(pair.contact_ghost)  # type: ignore[arg-type]
    await user.wait_for_membership(room, pair.contact_ghost, "join", timeout=20)
    await user.wait_for_membership(room, stack.bot_mxid, "join", timeout=20)
    await user.wait_for_decrypted(
        room, re.compile("This is your chat with"), sender=pair.contact_ghost, timeout=30
    )
    return room


def plaintext_messages(user: EncryptedMatrixClient, room: str, senders: set[str]) -> list[Any]:
    return [
        evt
        for evt in user.events(room, "m.room.message")  # type: ignore[arg-type]
        if evt.get("sender") in senders
    ]


async def test_encrypted_dm_from_a_matrix_client_both_ways(
    stack: Stack, clients: list[EncryptedMatrixClient]
) -> None:
    pair = stack.new_pair()
    user, _ = await logged_in(stack, clients, pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room = await encrypted_dm(stack, user, pair)

    # Matrix -> MSN: decrypted by the bridge, delivered, reported delivered
    mark = bob.mark()
    event_id = await user.send_encrypted_text(room, "hello over olm")  # type: ignore[arg-type]
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "hello over olm", after=mark, timeout=30
    )
    assert got.sender.lower() == pair.passport
    status = await user.wait_for_send_status(room, event_id, timeout=30)  # type: ignore[arg-type]
    assert status["content"]["status"] == "SUCCESS"

    # MSN -> Matrix: encrypted by the bridge for this device
    await bob.client.send_text(pair.passport, "reply from msn")
    reply = await user.wait_for_decrypted(
        room, "reply from msn", sender=pair.contact_ghost, timeout=30  # type: ignore[arg-type]
    )
    assert reply["content"]["msgtype"] == "m.text"
    assert reply["key_from"] == stack.bot_mxid  # the bridge bot's device encrypts for ghosts
    # nothing the bridge said in the room went out in clear text
    assert plaintext_messages(user, room, {pair.contact_ghost, stack.bot_mxid}) == []
    assert user.to_device_errors == []


async def test_undecryptable_message_gets_a_notice_and_a_failed_status(
    stack: Stack, clients: list[EncryptedMatrixClient]
) -> None:
    pair = stack.new_pair()
    user, _ = await logged_in(stack, clients, pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room = await encrypted_dm(stack, user, pair)
    mark = user.mark(room)  # type: ignore[arg-type]
    bob_mark = bob.mark()

    lost = await user.send_undecryptable_text(room, "secret nobody can read")  # type: ignore[arg-type]
    waiting = await user.wait_for_decrypted(
        room, re.compile("cannot decrypt your message yet"), after=mark, timeout=30  # type: ignore[arg-type]
    )
    assert "decryption keys" in waiting["content"]["body"]
    pending = await user.wait_for_send_status(room, lost, "PENDING", timeout=30)  # type: ignore[arg-type]
    assert pending["content"]["reason"] == "com.beeper.undecryptable_event"
    # the bridge asked this device for the missing key (and never gets it)
    await user.wait_for(lambda: user.key_requests, 10, "a room key request")

    final = await user.wait_for_send_status(room, lost, "FAIL_RETRIABLE", timeout=60)  # type: ignore[arg-type]
    assert final["content"]["reason"] == "com.beeper.undecryptable_event"
    edit = await user.wait_for_decrypted(
        room,
        predicate=lambda e: e["content"].get("m.new_content") is not None
        and e["content"].get("m.relates_to", {}).get("event_id") == waiting["event_id"],
        after=mark,
        timeout=30,
    )
    assert "was not sent to MSN" in edit["content"]["m.new_content"]["body"]

    # the next, readable message goes through; the lost one never reached MSN
    await user.send_encrypted_text(room, "this one is readable")  # type: ignore[arg-type]
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "this one is readable", after=bob_mark
    )
    assert Stack.texts_after(bob, bob_mark) == ["this one is readable"]


async def test_room_opened_from_msn_is_encrypted_by_default(
    stack: Stack, clients: list[EncryptedMatrixClient]
) -> None:
    pair = stack.new_pair()
    user, _ = await logged_in(stack, clients, pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)

    await bob.client.send_text(pair.passport, "first words")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=30)
    encryption = next(
        e for e in user.invites[room] if e.get("type") == "m.room.encryption"
    )  # stripped state of the invite
    assert encryption["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    await user.join(room)
    first = await user.wait_for_decrypted(room, "first words", sender=pair.contact_ghost)
    assert first["encrypted"]
    event_id = await user.send_encrypted_text(room, "answer")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "answer", timeout=30)
    await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=30)  # type: ignore[arg-type]
    assert plaintext_messages(user, room, {pair.contact_ghost, stack.bot_mxid}) == []


async def test_new_device_of_the_user_gets_the_keys_of_later_messages(
    stack: Stack, clients: list[EncryptedMatrixClient]
) -> None:
    """The user's device list changes: the bridge replaces its Megolm session in the rooms
    it shares with them (mautrix asks the crypto state store which those are), so the new
    device can read what comes next."""
    pair = stack.new_pair()
    user, _ = await logged_in(stack, clients, pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room = await encrypted_dm(stack, user, pair)
    await bob.client.send_text(pair.passport, "before the new device")
    await user.wait_for_decrypted(room, "before the new device", sender=pair.contact_ghost)  # type: ignore[arg-type]

    mark = stack.bridge.log_mark()
    second = await EncryptedMatrixClient.login(stack.synapse.url, user.mxid, pair.password)
    clients.append(second)
    await second.wait_for(lambda: room in second.timeline, 20, "the room on the new device")
    # the bridge learns of the new device (sync or transaction) before the next message

    async def noticed() -> bool:
        return f"Devices of {user.mxid} changed" in stack.bridge.log_since(mark)

    await poll(noticed, 30, "the bridge noticing the new device")
    text = f"after the new device {secrets.token_hex(3)}"
    await bob.client.send_text(pair.passport, text)
    got = await second.wait_for_decrypted(room, text, sender=pair.contact_ghost, timeout=30)  # type: ignore[arg-type]
    assert got["encrypted"]
    await user.wait_for_decrypted(room, text, sender=pair.contact_ghost)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def require_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A stack with ``bridge.encryption.require`` on as well (bot syncing, SQLite)."""
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)

    def configure(config: dict[str, Any]) -> None:
        _configure(False)(config)
        config["bridge"]["encryption"]["require"] = True

    stack = Stack(tmp_path_factory.mktemp("e2e-e2be-require"), "sqlite", configure=configure)
    async with stack.running():
        yield stack


async def test_with_require_an_unencrypted_message_is_refused(
    require_stack: Stack, clients: list[EncryptedMatrixClient]
) -> None:
    stack = require_stack
    pair = stack.new_pair()
    user = await encrypted_user(stack, clients, pair.localpart, pair.password)
    # the chat with the bot must be encrypted too: the login goes encrypted
    mgmt = await user.create_encrypted_dm(stack.bot_mxid)  # type: ignore[arg-type]
    await user.wait_for_membership(mgmt, stack.bot_mxid, "join", timeout=20)
    mark = user.mark(mgmt)
    await user.send_encrypted_text(mgmt, f"login {pair.passport} {pair.password}")
    # the bot's answers there are encrypted too (mautrix-python encrypts only portals')
    await user.wait_for_decrypted(
        mgmt, re.compile("Logged in as"), sender=stack.bot_mxid, after=mark, timeout=30
    )
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room = await encrypted_dm(stack, user, pair)
    mark = user.mark(room)  # type: ignore[arg-type]
    bob_mark = bob.mark()

    plain = await user.send_text(room, "sent in clear")  # type: ignore[arg-type]
    notice = await user.wait_for_decrypted(
        room, re.compile("it is not encrypted"), after=mark, timeout=30  # type: ignore[arg-type]
    )
    assert "bridge.encryption.require" in notice["content"]["body"]
    status = await user.wait_for_send_status(room, plain, timeout=30)  # type: ignore[arg-type]
    assert status["content"]["status"] == "FAIL_RETRIABLE"

    # the next, encrypted message goes through; the clear one never reached MSN
    await user.send_encrypted_text(room, "sent encrypted")  # type: ignore[arg-type]
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "sent encrypted", after=bob_mark
    )
    assert Stack.texts_after(bob, bob_mark) == ["sent encrypted"]
