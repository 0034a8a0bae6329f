"""Pictures and files end to end at MSNP18, with a contact on Windows Live Messenger 2009.

One stack of its own (Synapse, the MSN test server, the bridge with ``msn.protocol_max: 18``).
The contact is ``tests.p2p_peer`` at MSNP18 with Messenger 2009's capabilities, P2P v2
included: it would frame P2P as v2 with an endpoint offering v2. The bridge's endpoint does
not (``caps:0``), so the contact falls back to v1, which the test checks along the way.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
import asyncio
import hashlib
import io
import os

from mautrix.types import ContentURI, RoomID
from PIL import Image
import pytest
import pytest_asyncio

from tests.p2p_peer import WLM2009_CAPS, WLM2009_CAPS_EX, P2PPeer, wire
from tests.support.harness import Pair, Stack
from tests.support.synapse import MatrixTestClient, synapse_python

from .test_bridge_p2p import ghost_avatar, png, send_file


def _configure(config: dict[str, Any]) -> None:
    config["msn"]["protocol_max"] = 18


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-p2p-msnp18"), "sqlite", configure=_configure)
    async with stack.running():
        yield stack


@pytest_asyncio.fixture(loop_scope="session")
async def peers() -> AsyncIterator[list[P2PPeer]]:
    made: list[P2PPeer] = []
    yield made
    for peer in made:
        await peer.close()


async def messenger_2009(
    stack: Stack, pair: Pair, peers: list[P2PPeer], picture: bytes | None = None
) -> P2PPeer:
    peer = await P2PPeer.login(
        stack.msn.ns_address, stack.msn.passport_url, pair.contact, pair.contact_password,
        picture=picture, caps=WLM2009_CAPS, caps_ex=WLM2009_CAPS_EX, version=18,
        http_base=stack.msn.http_base, contacts=(pair.passport,),
    )  # fmt: skip
    peers.append(peer)
    return peer


def v1_only(peer: P2PPeer) -> None:
    assert peer.sent_versions[2] == 0 and peer.received_versions[2] == 0
    assert peer.sent_versions[1] > 0 and peer.received_versions[1] > 0


async def test_msnp18_display_pictures_both_ways(stack: Stack, peers: list[P2PPeer]) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    (endpoint,) = stack.msn.endpoints[pair.passport]
    assert endpoint.v == 18
    picture = png()
    bob = await messenger_2009(stack, pair, peers, picture)

    # the contact's MSN object, read from the MSNP18 NLN: its picture becomes the ghost's avatar
    avatar = await ghost_avatar(stack, pair.contact_ghost)
    assert await user.api.download_media(ContentURI(avatar)) == picture
    assert bob.fetches[wire.sha1_b64(picture)] == 1

    # the user's Matrix avatar: announced with CHG at MSNP18, fetched by the contact
    assert bob.ns is not None
    me = pair.passport.lower()
    await bob.ns.wait_for(lambda: me in bob.ns.presence, 20)  # type: ignore[union-attr]
    assert bob.ns.presence[me].caps_ex & 0x20 == 0  # the bridge offers no P2P v2
    own = png(120, 120)
    await user.api.set_avatar_url(await user.api.upload_media(own, mime_type="image/png"))
    await bob.ns.wait_for(lambda: bool(bob.ns.presence[me].msnobj), 20)  # type: ignore[union-attr]
    msnobj = bob.ns.presence[me].msnobj
    assert wire.msnobj_attr(msnobj, "Creator").lower() == me
    await bob.ns.open_switchboard(pair.passport)
    fetched = await bob.fetch_object(pair.passport, msnobj)
    assert fetched is not None and wire.sha1_b64(fetched) == wire.msnobj_attr(msnobj, "SHA1D")
    with Image.open(io.BytesIO(fetched)) as image:
        assert (image.format, image.size) == ("PNG", (96, 96))
    v1_only(bob)


async def _dm(stack: Stack, pair: Pair, user: MatrixTestClient, bob: P2PPeer) -> str:
    assert bob.ns is not None
    await bob.ns.open_switchboard(pair.passport)
    await bob.send_text(pair.passport, "from Messenger 2009")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    await user.wait_for_message(room, "from Messenger 2009", sender=pair.contact_ghost, timeout=20)
    return room


async def test_msnp18_files_both_ways(stack: Stack, peers: list[P2PPeer]) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await messenger_2009(stack, pair, peers)
    room = await _dm(stack, pair, user, bob)

    data = b"%PDF-1.4\n" + os.urandom(1024 * 1024)
    mark = user.mark(room)
    assert await bob.send_file(pair.passport, "minutes.pdf", data, timeout=60) == "done"
    evt = await user.wait_for_message(
        room, "minutes.pdf", sender=pair.contact_ghost, after=mark, timeout=60
    )
    assert evt["content"]["msgtype"] == "m.file"
    downloaded = await user.api.download_media(ContentURI(evt["content"]["url"]))
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()

    back = os.urandom(512 * 1024)
    event_id = await send_file(user, room, "reply.zip", back)
    received = await asyncio.wait_for(bob.received.get(), 60)
    assert (received.sender, received.name) == (pair.passport, "reply.zip")
    assert hashlib.sha256(received.data).digest() == hashlib.sha256(back).digest()
    await user.wait_for_send_status(RoomID(room), event_id, "SUCCESS", timeout=30)
    v1_only(bob)
