"""MSNFTP offers on the bridge side: the ``bridge.p2p.msnftp`` switch and the size limit decline
them with a notice (and a CANCEL to the sender); the library's offer bookkeeping."""

from __future__ import annotations

from typing import Any
from collections.abc import Coroutine
import asyncio
import logging

import pytest

from bridge.msnp.errors import PeerUnreachable
from bridge.msnp.events import FileOffered, OtherMessageReceived
from bridge.msnp.msnftp import MSNFTP_GUID, parse_invitation
from bridge.msnp.msnftp_transfer import MsnftpOffer
from bridge.msnp.p2p_transfer import P2PLimits
from bridge.portal.incoming_files import handle_file_offer, handle_msnftp_invitation


class Owner:
    """The client's MSNFTP layer, recording what would go to the switchboard."""

    def __init__(self) -> None:
        self.limits = P2PLimits()
        self.sent: list[tuple[str, bytes]] = []
        self.forgotten: list[MsnftpOffer] = []

    @property
    def own_passport(self) -> str:
        return "me@example.com"

    async def send(self, conversation: str, payload: bytes) -> None:
        self.sent.append((conversation, payload))

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        asyncio.get_running_loop().create_task(coro)

    def forget(self, offer: MsnftpOffer) -> None:
        self.forgotten.append(offer)


class Portal:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.encrypted = False
        self.log = logging.getLogger("test")


class FromMsn:
    def __init__(self, config: dict[str, Any]) -> None:
        self.portal = Portal(config)
        self.notices: list[str] = []

    async def send_notice(self, user: object, sender: str, text: str) -> None:
        self.notices.append(text)

    async def room_ready(self, user: object) -> bool:
        return True


def offer(owner: Owner, size: int) -> MsnftpOffer:
    inv = parse_invitation(
        b"Application-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
        b"Invitation-Command: INVITE\r\nInvitation-Cookie: 77\r\n"
        b"Application-File: a.txt\r\nApplication-FileSize: " + str(size).encode() + b"\r\n"
    )
    assert inv is not None
    return MsnftpOffer(owner, "bob@example.com", "bob@example.com", inv)


async def answered(config: dict[str, Any], size: int) -> tuple[MsnftpOffer, Owner, FromMsn]:
    owner, from_msn = Owner(), FromMsn(config)
    o = offer(owner, size)
    evt = FileOffered("bob@example.com", "bob@example.com", o)
    await handle_file_offer(from_msn, object(), evt)  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the CANCEL is sent by a task
    return o, owner, from_msn


async def test_switched_off_msnftp_is_declined_with_a_notice() -> None:
    config = {"bridge.p2p.max_incoming_file": 1000, "bridge.p2p.msnftp": False}
    o, owner, from_msn = await answered(config, 10)
    assert not o.open and o.answered
    assert [b"Cancel-Code: REJECT" in p for _, p in owner.sent] == [True]
    assert len(from_msn.notices) == 1 and "bridge.p2p.msnftp" in from_msn.notices[0]


async def test_over_the_limit_is_declined_with_a_notice() -> None:
    config = {"bridge.p2p.max_incoming_file": 1000, "bridge.p2p.msnftp": True}
    o, owner, from_msn = await answered(config, 1001)
    assert not o.open
    assert [b"Cancel-Code: REJECT" in p for _, p in owner.sent] == [True]
    assert "larger than the bridge accepts" in from_msn.notices[0]


async def test_a_sender_cancel_withdraws_the_offer() -> None:
    owner = Owner()
    o = offer(owner, 10)
    cancel = parse_invitation(b"Invitation-Command: CANCEL\r\nInvitation-Cookie: 77\r\n")
    assert cancel is not None
    o.on_answer(cancel)
    assert not o.open and owner.forgotten == [o]
    o.decline()  # nothing is sent to a sender who withdrew
    await asyncio.sleep(0)
    assert owner.sent == []


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("evil.example.com", True),
        ("10.0.0.1", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("::1", False),
    ],
)
async def test_addresses_the_bridge_does_not_connect_to(address: str, private: bool) -> None:
    owner = Owner()
    owner.limits = P2PLimits(msnftp_private_addresses=private)
    o = offer(owner, 10)
    incoming = o.accept()
    accept = parse_invitation(
        b"Invitation-Command: ACCEPT\r\nInvitation-Cookie: 77\r\nIP-Address: "
        + address.encode()
        + b"\r\nPort: 6891\r\nAuthCookie: 5\r\n"
    )
    assert accept is not None
    o.on_answer(accept)
    with pytest.raises(PeerUnreachable):
        await incoming.__anext__()
    await asyncio.sleep(0)
    assert b"Cancel-Code: FAIL" in owner.sent[-1][1]  # (after our ACCEPT)


class Notices:
    """What :func:`handle_msnftp_invitation` asks the portal to show."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send_notice(self, user: object, sender: str, text: str) -> None:
        self.sent.append((sender, text))


def _invitation(lines: str) -> OtherMessageReceived:
    return OtherMessageReceived(
        "alice@example.com",
        "alice@example.com",
        "text/x-msmsgsinvite",
        {},
        lines.replace("\n", "\r\n").encode(),
        ("alice@example.com",),
    )


@pytest.mark.parametrize(
    ("body", "shown", "text"),
    [
        (  # an INVITE the library could not take up (its cookie is not a number)
            f"Application-GUID: {MSNFTP_GUID}\nInvitation-Command: INVITE\n"
            "Invitation-Cookie: x\nApplication-File: holiday.jpg\nApplication-FileSize: 2048\n",
            True,
            '"holiday.jpg" (2.0 KB)',
        ),
        (  # no name and a size that is not a number: still said, without the size
            f"Application-GUID: {MSNFTP_GUID.lower()}\nInvitation-Command: invite\n"
            "Application-FileSize: lots\n",
            True,
            '"a file"',
        ),
        (f"Application-GUID: {MSNFTP_GUID}\nInvitation-Command: CANCEL\n", True, None),
        ("Application-GUID: {02D3C01F-BF30-4825-A83A-DE7AF41648AA}\n", False, None),
    ],
)
async def test_an_unreadable_msnftp_invitation_is_named_in_a_notice(
    body: str, shown: bool, text: str | None
) -> None:
    notices = Notices()
    evt = _invitation(body)
    assert await handle_msnftp_invitation(notices, object(), evt) is shown  # type: ignore[arg-type]
    if text is None:
        assert notices.sent == []
    else:
        [(sender, notice)] = notices.sent
        assert sender == "alice@example.com"
        assert text in notice and "did not arrive" in notice
