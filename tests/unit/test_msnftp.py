"""The MSNFTP sans-IO codec: invitations and the receiver's side of the TCP conversation."""

from __future__ import annotations

import os

import pytest

from bridge.msnp.errors import TransferFailed
from bridge.msnp.msnftp import (
    BYE_COMPLETE,
    MsnftpReceiver,
    build_accept,
    build_cancel,
    parse_invitation,
)

INVITE = (
    b"Application-Name: File Transfer\r\n"
    b"Application-GUID: {5D3E02AB-6190-11d3-BBBB-00C04F795683}\r\n"
    b"Invitation-Command: INVITE\r\nInvitation-Cookie: 4711\r\n"
    b"Application-File: ../evil/notes.txt\r\nApplication-FileSize: 2048\r\n\r\n"
)


def test_an_invite_is_parsed() -> None:
    inv = parse_invitation(INVITE)
    assert inv is not None and inv.is_file_transfer
    assert (inv.command, inv.cookie, inv.size) == ("INVITE", "4711", 2048)
    assert inv.filename == ".._evil_notes.txt"
    assert inv.address is None


def test_the_senders_accept_names_its_address() -> None:
    inv = parse_invitation(
        b"Invitation-Command: ACCEPT\r\nInvitation-Cookie: 4711\r\n"
        b"IP-Address: 192.0.2.7\r\nPort: 6891\r\nAuthCookie: 99\r\n"
    )
    assert inv is not None and inv.address == ("192.0.2.7", 6891, "99")
    bad = parse_invitation(b"Invitation-Command: ACCEPT\r\nInvitation-Cookie: 1\r\nPort: 70000")
    assert bad is not None and bad.address is None


@pytest.mark.parametrize(
    "body",
    [b"Invitation-Command: INVITE\r\nInvitation-Cookie: x1\r\n", b"Invitation-Cookie: 1\r\n"],
)
def test_invitations_without_a_command_or_cookie_are_not_read(body: bytes) -> None:
    assert parse_invitation(body) is None


def test_answers() -> None:
    accept = build_accept("4711")
    assert b"Invitation-Command: ACCEPT\r\nInvitation-Cookie: 4711\r\n" in accept
    assert b"Request-Data: IP-Address:\r\n" in accept
    assert b"Cancel-Code: FAIL\r\n" in build_cancel("4711", "FAIL")
    with pytest.raises(ValueError):
        build_accept("47\r\n11")


def blocks(data: bytes, size: int = 2045) -> bytes:
    out = bytearray()
    for i in range(0, len(data), size):
        part = data[i : i + size]
        out += bytes((0, len(part) & 0xFF, len(part) >> 8)) + part
    return bytes(out)


def test_the_receiver_speaks_msnftp_even_a_byte_at_a_time() -> None:
    data = os.urandom(5000)
    rx = MsnftpReceiver("me@example.com", "1234", 10_000, len(data))
    assert rx.start() == b"VER MSNFTP\r\n"
    sent, got = bytearray(), bytearray()
    for byte in b"VER MSNFTP\r\n" + f"FIL {len(data)}\r\n".encode() + blocks(data):
        out, chunks = rx.feed(bytes([byte]))
        sent += out
        got += b"".join(chunks)
    assert bytes(got) == data and rx.done
    assert bytes(sent) == b"USR me@example.com 1234\r\nTFR\r\n" + BYE_COMPLETE


@pytest.mark.parametrize(
    "stream",
    [
        b"VER MSNP8\r\n",
        b"VER MSNFTP\r\nFIL 99999\r\n",  # over the limit
        b"VER MSNFTP\r\nFIL 10\r\n",  # not the size offered
        b"VER MSNFTP\r\nFIL 100\r\n\x01\x00\x00",  # the sender cancels
        b"VER MSNFTP\r\nFIL 100\r\n\x00\xff\x0f",  # a block over 2045 bytes
        b"VER MSNFTP\r\nFIL 100\r\n\x00\x65\x00",  # a block past the end
        b"VER MSNFTP\r\nFIL 100\r\n" + blocks(bytes(100)) + b"x",  # more than the file
        b"VER " + b"A" * 600,  # an endless line
    ],
)
def test_the_receiver_ends_on_anything_unexpected(stream: bytes) -> None:
    rx = MsnftpReceiver("me@example.com", "1", 1000, 100)
    with pytest.raises(TransferFailed):
        rx.feed(stream)
