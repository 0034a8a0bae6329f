"""End to end: pictures and files in an encrypted DM, as Matrix encrypted attachments.

A Matrix client with its own Olm device (tests/support/olm_client.py) and an MSN contact that
speaks P2P from its own implementation (tests/p2p_peer), on a stack with
``bridge.encryption.allow`` and ``default`` on. The client encrypts and decrypts attachments
with its own code (tests/support/attachments.py), not the bridge's nor mautrix's.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
import asyncio
import base64
import hashlib
import io
import os

from mautrix.types import ContentURI, RoomID
from PIL import Image
import pytest
import pytest_asyncio

from tests.e2e.test_e2be import _configure, encrypted_dm, logged_in, plaintext_messages
from tests.p2p_peer import DEFAULT_CAPS, P2PPeer
from tests.support.attachments import decrypt_attachment, encrypt_attachment
from tests.support.harness import Pair, Stack, poll
from tests.support.olm_client import EncryptedMatrixClient
from tests.support.synapse import synapse_python


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-e2be-media"), "sqlite", configure=_configure(False))
    async with stack.running():
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def clients() -> AsyncIterator[list[EncryptedMatrixClient]]:
    made: list[EncryptedMatrixClient] = []
    yield made
    for client in made:
        await client.close()


@pytest_asyncio.fixture(loop_scope="session")
async def peers() -> AsyncIterator[list[P2PPeer]]:
    made: list[P2PPeer] = []
    yield made
    for peer in made:
        await peer.close()


async def setup(
    stack: Stack,
    clients: list[EncryptedMatrixClient],
    peers: list[P2PPeer],
    caps: int = DEFAULT_CAPS,
) -> tuple[Pair, EncryptedMatrixClient, RoomID, P2PPeer]:
    """A logged-in user with an encrypted DM with a contact (P2P-capable by default), who is
    online."""
    pair = stack.new_pair()
    user, _ = await logged_in(stack, clients, pair)
    bob = await P2PPeer.login(
        stack.msn.ns_address, stack.msn.passport_url, pair.contact, pair.contact_password,
        caps=caps,
    )  # fmt: skip
    peers.append(bob)

    async def online() -> bool:  # the bridge saw the contact online (with P2P)
        return await stack.ghost_presence(pair.contact_ghost) == "online"

    await poll(online, 30, "the contact online")
    room = RoomID(await encrypted_dm(stack, user, pair))
    return pair, user, room, bob


async def attachment(user: EncryptedMatrixClient, content: dict[str, Any]) -> bytes:
    """Download an encrypted attachment and decrypt it with the test's own code; it has no
    ``url`` in clear."""
    assert "url" not in content, content
    info = content["file"]
    ciphertext = await user.api.download_media(ContentURI(info["url"]))
    return decrypt_attachment(ciphertext, info)


async def test_a_file_from_msn_arrives_as_an_encrypted_attachment(
    stack: Stack, clients: list[EncryptedMatrixClient], peers: list[P2PPeer]
) -> None:
    pair, user, room, bob = await setup(stack, clients, peers)
    ghost = pair.contact_ghost
    assert bob.ns is not None
    await bob.ns.open_switchboard(pair.passport)

    data = b"%PDF-1.4\n" + os.urandom(2 * 1024 * 1024 + 17)
    mark = user.mark(room)
    assert await bob.send_file(pair.passport, "report.pdf", data, timeout=60) == "done"
    evt = await user.wait_for_decrypted(room, "report.pdf", sender=ghost, after=mark, timeout=60)
    content = evt["content"]
    assert content["msgtype"] == "m.file"
    assert content["info"] == {"mimetype": "application/pdf", "size": len(data)}
    got = await attachment(user, content)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    # the homeserver holds only ciphertext
    stored = await user.api.download_media(ContentURI(content["file"]["url"]))
    assert len(stored) == len(data) and data[:4096] not in stored

    # ink (handwriting as GIF) becomes an encrypted image too
    out = io.BytesIO()
    Image.new("P", (40, 20), 3).save(out, "GIF")
    ink = out.getvalue()
    sb = await bob.wait_switchboard_with(pair.passport)
    mark = user.mark(room)
    head = b"MIME-Version: 1.0\r\nContent-Type: image/gif\r\n\r\nbase64:"
    assert await sb.send(head + base64.b64encode(ink), "A")
    evt = await user.wait_for_decrypted(room, "ink.gif", sender=ghost, after=mark, timeout=30)
    assert evt["content"]["msgtype"] == "m.image"
    assert await attachment(user, evt["content"]) == ink
    # nothing the bridge posted went out in clear
    assert plaintext_messages(user, room, {ghost, stack.bot_mxid}) == []


async def send_encrypted_file(
    user: EncryptedMatrixClient, room: RoomID, name: str, data: bytes, damage: bool = False
) -> str:
    """Encrypt ``data`` as an attachment, upload it, send it in an encrypted event; with
    ``damage``, one byte of the uploaded ciphertext is altered after the hash was taken."""
    ciphertext, info = encrypt_attachment(data)
    if damage:
        altered = bytearray(ciphertext)
        altered[len(altered) // 2] ^= 0x01
        ciphertext = bytes(altered)
    mxc = await user.api.upload_media(ciphertext, mime_type="application/octet-stream")
    content = {
        "msgtype": "m.file",
        "body": name,
        "file": {**info, "url": mxc},
        "info": {"size": len(data), "mimetype": "application/octet-stream"},
    }
    return await user.send_encrypted(room, content)


async def test_an_encrypted_file_from_matrix_reaches_msn_decrypted_and_checked(
    stack: Stack, clients: list[EncryptedMatrixClient], peers: list[P2PPeer]
) -> None:
    pair, user, room, bob = await setup(stack, clients, peers)

    data = os.urandom(3 * 1024 * 1024 + 5)
    event_id = await send_encrypted_file(user, room, "holiday.zip", data)
    received = await asyncio.wait_for(bob.received.get(), 90)
    assert (received.sender.lower(), received.name, received.size) == (
        pair.passport.lower(),
        "holiday.zip",
        len(data),
    )
    assert hashlib.sha256(received.data).digest() == hashlib.sha256(data).digest()
    await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=30)  # type: ignore[arg-type]

    # a file whose ciphertext does not match its hash: the transfer is cancelled before its
    # end, the sender gets a failed status saying why, the contact no file
    event_id = await send_encrypted_file(user, room, "tampered.bin", os.urandom(300_000), True)
    status = await user.wait_for_send_status(room, event_id, "FAIL_PERMANENT", timeout=60)  # type: ignore[arg-type]
    assert "does not match its SHA-256 hash" in status["content"]["error"]
    assert [name for _, name, _ in bob.offers] == ["holiday.zip", "tampered.bin"]
    assert bob.received.empty()


async def test_an_encrypted_file_for_a_contact_without_p2p_fails_with_the_reason(
    stack: Stack, clients: list[EncryptedMatrixClient], peers: list[P2PPeer]
) -> None:
    """A link cannot carry an encrypted file (it would lead to ciphertext)."""
    _, user, room, old_client = await setup(stack, clients, peers, caps=0)
    event_id = await send_encrypted_file(user, room, "photo.jpg", b"\xff\xd8\xff" + os.urandom(99))
    status = await user.wait_for_send_status(room, event_id, "FAIL_PERMANENT", timeout=30)  # type: ignore[arg-type]
    assert "reaches MSN only as a file transfer" in status["content"]["error"]
    assert old_client.offers == []
