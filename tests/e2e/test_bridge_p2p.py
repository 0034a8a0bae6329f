"""Pictures and files over MSN P2P, end to end: tests/p2p_peer (an independent MSNSLP client)
on tests/msn_server, the bridge, Synapse and the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote
import asyncio
import base64
import hashlib
import io
import os
import re
import socket
import struct
import zlib

from mautrix.types import ContentURI, RoomID
from PIL import Image
import pytest_asyncio

from tests.p2p_peer import DEFAULT_CAPS, P2PPeer, wire
from tests.p2p_peer.msnftp_sender import send_msnftp
from tests.support.harness import Pair, Stack, poll
from tests.support.synapse import MatrixTestClient


def png(width: int = 24, height: int = 24) -> bytes:
    """A valid PNG of random pixels (a different picture each call)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest_asyncio.fixture(loop_scope="session")
async def peers(stack: Stack) -> AsyncIterator[list[P2PPeer]]:
    made: list[P2PPeer] = []
    yield made
    for peer in made:
        await peer.close()


async def login_peer(stack: Stack, pair: Pair, peers: list[P2PPeer], **kw: object) -> P2PPeer:
    peer = await P2PPeer.login(
        stack.msn.ns_address, stack.msn.passport_url, pair.contact, pair.contact_password,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    peers.append(peer)
    return peer


async def ghost_avatar(stack: Stack, ghost: str, not_: str | None = None) -> str:
    """The ghost's avatar URL once it is set (and differs from ``not_``)."""

    async def probe() -> str | None:
        status, data = await stack.as_request(
            "GET", f"/_matrix/client/v3/profile/{ghost}/avatar_url"
        )
        url = data.get("avatar_url") if status == 200 else None
        return str(url) if url and url != not_ else None

    return await poll(probe, 30, f"the avatar of {ghost}")


async def test_display_picture_becomes_the_ghost_avatar_once(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    picture = png()
    bob = await login_peer(stack, pair, peers, picture=picture)
    sha1d = wire.sha1_b64(picture)
    ghost = pair.contact_ghost

    first = await ghost_avatar(stack, ghost)
    assert await user.api.download_media(ContentURI(first)) == picture
    assert bob.fetches[sha1d] == 1
    assert await stack.db_values(
        f"SELECT avatar_sha1d FROM puppet WHERE passport='{pair.contact}'"
    ) == [sha1d]

    # the same picture again (a status change, then the ILN of a restart): not fetched again
    assert bob.ns is not None and bob.picture_msnobj is not None
    await bob.ns.client.cmd("CHG", "BSY", DEFAULT_CAPS, quote(bob.picture_msnobj, safe=""))

    async def busy() -> bool:
        return await stack.ghost_presence(ghost) == "unavailable"

    await poll(busy, 20, "the ghost busy")
    await stack.restart_bridge()
    await stack.wait_msn_online(pair.passport)
    # a new picture is fetched, and only then: the unchanged one was never asked for again
    new_picture = png()
    await bob.set_picture(new_picture)
    second = await ghost_avatar(stack, ghost, not_=first)
    assert await user.api.download_media(ContentURI(second)) == new_picture
    assert bob.fetches[sha1d] == 1 and bob.fetches[wire.sha1_b64(new_picture)] == 1

    # the contact removes their picture (their presence names none): so does the ghost
    await bob.ns.client.cmd("CHG", "NLN", DEFAULT_CAPS)

    async def no_avatar() -> bool:
        status, data = await stack.as_request(
            "GET", f"/_matrix/client/v3/profile/{ghost}/avatar_url"
        )
        return status in (200, 404) and not data.get("avatar_url")

    await poll(no_avatar, 30, f"the avatar of {ghost} removed")
    assert await stack.db_values(
        f"SELECT avatar_sha1d FROM puppet WHERE passport='{pair.contact}'"
    ) == [None]


async def dm_with(stack: Stack, pair: Pair, user: MatrixTestClient, bob: P2PPeer) -> str:
    """Bob opens a switchboard with the user and writes: the DM room, joined."""
    assert bob.ns is not None
    await bob.ns.open_switchboard(pair.passport)
    await bob.send_text(pair.passport, "here it comes")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    await user.wait_for_message(room, "here it comes", sender=pair.contact_ghost, timeout=20)
    return room


async def test_files_from_msn_arrive_whole_or_are_declined_with_a_notice(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await login_peer(stack, pair, peers)
    room = await dm_with(stack, pair, user, bob)
    ghost = pair.contact_ghost

    data = b"%PDF-1.4\n" + os.urandom(3 * 1024 * 1024)
    mark = user.mark(room)
    assert await bob.send_file(pair.passport, "report.pdf", data, timeout=60) == "done"
    evt = await user.wait_for_message(room, "report.pdf", sender=ghost, after=mark, timeout=60)
    content = evt["content"]
    assert content["msgtype"] == "m.file"
    assert content["info"] == {"mimetype": "application/pdf", "size": len(data)}
    downloaded = await user.api.download_media(ContentURI(content["url"]))
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()

    limit = stack.config["bridge"]["p2p"]["max_incoming_file"]
    mark = user.mark(room)
    assert await bob.send_file(pair.passport, "huge.iso", bytes(limit + 1)) == "declined"
    notice = await user.wait_for_message(
        room, re.compile("huge.iso"), sender=ghost, after=mark, timeout=20
    )
    assert notice["content"]["msgtype"] == "m.notice"
    assert "larger than the bridge accepts" in notice["content"]["body"]

    picture = png()
    mark = user.mark(room)
    assert await bob.send_file(pair.passport, "holiday", picture) == "done"
    evt = await user.wait_for_message(room, "holiday", sender=ghost, after=mark, timeout=20)
    assert evt["content"]["msgtype"] == "m.image"
    assert evt["content"]["info"]["mimetype"] == "image/png"


async def send_file(user: MatrixTestClient, room: str, name: str, data: bytes) -> str:
    mxc = await user.api.upload_media(data, mime_type="application/octet-stream", filename=name)
    content = {"msgtype": "m.file", "body": name, "url": mxc, "info": {"size": len(data)}}
    return await user.send_content(RoomID(room), content)


async def test_files_from_matrix_are_offered_over_p2p_with_send_status(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await login_peer(stack, pair, peers)
    room = await dm_with(stack, pair, user, bob)

    data = os.urandom(3 * 1024 * 1024)
    event_id = await send_file(user, room, "holiday.zip", data)
    received = await asyncio.wait_for(bob.received.get(), 60)
    assert (received.sender, received.name, received.size) == (
        pair.passport,
        "holiday.zip",
        len(data),
    )
    assert hashlib.sha256(received.data).digest() == hashlib.sha256(data).digest()
    await user.wait_for_send_status(RoomID(room), event_id, "SUCCESS", timeout=30)

    bob.file_policy = "decline"
    event_id = await send_file(user, room, "no.txt", b"not wanted")
    status = await user.wait_for_send_status(RoomID(room), event_id, "FAIL_PERMANENT", timeout=30)
    assert "declined the file" in status["content"]["error"]

    bob.file_policy = "ignore"
    event_id = await send_file(user, room, "later.txt", b"nobody answers")
    status = await user.wait_for_send_status(RoomID(room), event_id, "FAIL_PERMANENT", timeout=30)
    assert "did not accept the file in time" in status["content"]["error"]
    assert [name for _, name, _ in bob.offers] == ["holiday.zip", "no.txt", "later.txt"]


async def test_a_contact_without_p2p_gets_a_link(stack: Stack, peers: list[P2PPeer]) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    old_client = await login_peer(stack, pair, peers, caps=0)  # e.g. MSN Messenger 5
    room = await dm_with(stack, pair, user, old_client)

    event_id = await send_file(user, room, "photo.jpg", b"\xff\xd8\xff" + os.urandom(100))
    await user.wait_for_send_status(RoomID(room), event_id, "SUCCESS", timeout=30)
    body = b""
    while not body.startswith(b"Sent a file"):
        _, _, body = await asyncio.wait_for(old_client.messages.get(), 20)
    assert b"photo.jpg" in body and b"/_matrix/media/v3/download/" in body
    assert old_client.offers == []


async def test_the_users_matrix_avatar_is_their_display_picture(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await login_peer(stack, pair, peers)
    assert bob.ns is not None
    me = pair.passport.lower()
    await bob.ns.wait_for(lambda: me in bob.ns.presence)  # type: ignore[union-attr]
    assert not bob.ns.presence[me].msnobj  # no Matrix avatar yet: no picture

    avatar = png(200, 120)
    await user.api.set_avatar_url(await user.api.upload_media(avatar, mime_type="image/png"))
    await bob.ns.wait_for(lambda: bool(bob.ns.presence[me].msnobj), 20)  # type: ignore[union-attr]
    msnobj = bob.ns.presence[me].msnobj
    assert wire.msnobj_attr(msnobj, "Creator").lower() == me
    assert wire.msnobj_attr(msnobj, "Type") == "3"

    await bob.ns.open_switchboard(pair.passport)
    picture = await bob.fetch_object(pair.passport, msnobj)
    assert picture is not None and wire.sha1_b64(picture) == wire.msnobj_attr(msnobj, "SHA1D")
    with Image.open(io.BytesIO(picture)) as image:
        assert (image.format, image.size) == ("PNG", (96, 96))


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (40, 20), 3).save(out, "GIF")
    return out.getvalue()


async def test_emoticons_inline_ink_as_image_and_one_notice_per_wink(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await login_peer(stack, pair, peers)
    room = RoomID(await dm_with(stack, pair, user, bob))
    ghost = pair.contact_ghost

    cat = png(19, 19)
    for text in ("look (cat)!", "again (cat) & (cat)"):
        mark = user.mark(room)
        await bob.send_emoticons(pair.passport, text, {"(cat)": cat})
        evt = await user.wait_for_message(room, text, sender=ghost, after=mark, timeout=30)
        html = evt["content"]["formatted_body"]
        images = re.findall(r'<img src="(mxc://[^"]+)" alt="\(cat\)"', html)
        assert len(images) == text.count("(cat)")
        assert evt["content"]["body"] == text and ("&" not in text or "&amp;" in html)
        assert await user.api.download_media(ContentURI(images[0])) == cat
    assert bob.fetches[wire.sha1_b64(cat)] == 1  # the second time from the bridge's memory

    sb = await bob.wait_switchboard_with(pair.passport)
    ink = gif()
    mark = user.mark(room)
    head = b"MIME-Version: 1.0\r\nContent-Type: image/gif\r\n\r\nbase64:"
    assert await sb.send(head + base64.b64encode(ink), "A")
    evt = await user.wait_for_message(room, "ink.gif", sender=ghost, after=mark, timeout=20)
    assert evt["content"]["msgtype"] == "m.image"
    assert await user.api.download_media(ContentURI(evt["content"]["url"])) == ink

    wink = (
        b"MIME-Version: 1.0\r\nContent-Type: text/x-msnmsgr-datacast\r\n\r\nID: 2\r\nData: x\r\n"
    )
    mark = user.mark(room)
    assert await sb.send(wink, "A")
    await bob.send_text(pair.passport, "after the wink")
    await user.wait_for_message(room, "after the wink", sender=ghost, after=mark, timeout=20)
    bodies = [
        e["content"].get("body")
        for e in user.timeline[room][mark:]
        if e.get("type") == "m.room.message" and e.get("sender") == ghost
    ]
    assert bodies == ["Sent a wink, which the bridge cannot show in Matrix.", "after the wink"]


async def test_msn_4_files_arrive_from_the_senders_computer_or_say_why_not(
    stack: Stack, peers: list[P2PPeer]
) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await login_peer(stack, pair, peers)
    room = RoomID(await dm_with(stack, pair, user, bob))
    ghost = pair.contact_ghost

    # a 1 MB file, served by the sender's own computer (MSNFTP), arrives whole
    data = b"%PDF-1.4\n" + os.urandom(1024 * 1024)
    mark = user.mark(room)
    result = await send_msnftp(bob, pair.passport, "old.pdf", data, timeout=60)
    assert result.outcome == "done" and result.bye == "BYE 16777989"
    evt = await user.wait_for_message(room, "old.pdf", sender=ghost, after=mark, timeout=60)
    content = evt["content"]
    assert content["msgtype"] == "m.file"
    assert content["info"] == {"mimetype": "application/pdf", "size": len(data)}
    downloaded = await user.api.download_media(ContentURI(content["url"]))
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(data).digest()

    # the sender's address cannot be reached: a notice, and a CANCEL to the sender
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{s.getsockname()[1]}"
    mark = user.mark(room)
    result = await send_msnftp(bob, pair.passport, "far.doc", b"x" * 100, announce=nobody)
    assert (result.outcome, result.cancel_code) == ("cancelled", "FAIL")
    notice = await user.wait_for_message(
        room, re.compile("far.doc"), sender=ghost, after=mark, timeout=20
    )
    assert notice["content"]["msgtype"] == "m.notice"
    assert "could not reach the sender's computer" in notice["content"]["body"]

    # over the limit: declined before anything is fetched
    limit = stack.config["bridge"]["p2p"]["max_incoming_file"]
    mark = user.mark(room)
    result = await send_msnftp(bob, pair.passport, "huge.iso", bytes(limit + 1))
    assert (result.outcome, result.cancel_code) == ("declined", "REJECT")
    notice = await user.wait_for_message(
        room, re.compile("huge.iso"), sender=ghost, after=mark, timeout=20
    )
    assert "larger than the bridge accepts" in notice["content"]["body"]
