"""MSNSLP messages and the file context, against a published capture and hand-built text.

The published example is Escargot's quote of a real file transfer (``front/msn/msnp_sb.py``):
an INVITE whose binary header says 1274 bytes with ``Content-Length: 948``, whose Context
begins ``fgIAAAMAAAAAAAAAAAAAAAEAAABhAC4AdAB4AHQA`` (a 638-byte version-3 context for
``a.txt``) and ends in zeros, and a ``603 Decline`` of 331 bytes.
"""

from __future__ import annotations

import base64
import struct

import pytest

from bridge.msnp import slp
from bridge.msnp.errors import LocalProtocolError, P2PProtocolError

BRANCH = "{CDE28DAF-B67C-4B2D-8186-D3F46EEF0916}"
CALL_ID = "{F87327A8-741F-4FEF-AB63-45D06F51A0C2}"

# the 603 Decline as printed in the capture, line by line
DECLINE = (
    b"MSNSLP/1.0 603 Decline\r\n"
    b"To: <msnmsgr:t1h@hotmail.com>\r\n"
    b"From: <msnmsgr:t2h@hotmail.com>\r\n"
    b"Via: MSNSLP/1.0/TLP ;branch={CDE28DAF-B67C-4B2D-8186-D3F46EEF0916}\r\n"
    b"CSeq: 1 \r\n"
    b"Call-ID: {F87327A8-741F-4FEF-AB63-45D06F51A0C2}\r\n"
    b"Max-Forwards: 0\r\n"
    b"Content-Type: application/x-msnmsgr-sessionreqbody\r\n"
    b"Content-Length: 25\r\n"
    b"\r\n"
    b"SessionID: 180646677\r\n\r\n\x00"
)


def published_context() -> bytes:
    """The capture's 638-byte context, assembled field by field from its visible bytes."""
    name = "a.txt".encode("utf-16-le").ljust(520, b"\0")
    return struct.pack("<IIQI", 638, 3, 0, 1) + name + bytes(30) + b"\xff" * 4 + bytes(64)


def published_invite() -> bytes:
    body = (
        b"EUF-GUID: {5D3E02AB-6190-11D3-BBBB-00C04F795683}\r\n"
        b"SessionID: 180646677\r\n"
        b"AppID: 2\r\n"
        b"Context: " + base64.b64encode(published_context()) + b"\r\n\r\n\x00"
    )
    return (
        b"INVITE MSNMSGR:t2h@hotmail.com MSNSLP/1.0\r\n"
        b"To: <msnmsgr:t2h@hotmail.com>\r\n"
        b"From: <msnmsgr:t1h@hotmail.com>\r\n"
        b"Via: MSNSLP/1.0/TLP ;branch={CDE28DAF-B67C-4B2D-8186-D3F46EEF0916}\r\n"
        b"CSeq: 0 \r\n"
        b"Call-ID: {F87327A8-741F-4FEF-AB63-45D06F51A0C2}\r\n"
        b"Max-Forwards: 0\r\n"
        b"Content-Type: application/x-msnmsgr-sessionreqbody\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body


def test_published_invite_sizes_and_prefix() -> None:
    invite = published_invite()
    assert len(invite) == 1274  # the capture's total size
    assert b"Content-Length: 948\r\n" in invite
    assert base64.b64encode(published_context()).startswith(
        b"fgIAAAMAAAAAAAAAAAAAAAEAAABhAC4AdAB4AHQA"
    )


def test_parse_published_invite() -> None:
    message = slp.parse_slp(published_invite())
    assert message.is_request and message.method == "INVITE"
    assert message.target == message.to == "t2h@hotmail.com"
    assert message.from_ == "t1h@hotmail.com"
    assert (message.branch, message.call_id, message.cseq) == (BRANCH, CALL_ID, 0)
    assert message.content_type == slp.SESSION_REQUEST
    assert message.session_id == 180646677
    assert message.fields["EUF-GUID"] == slp.EUF_GUID_FILE
    assert message.fields["AppID"] == "2"
    context = slp.parse_file_context(slp.decode_context(message.fields["Context"]))
    assert context == slp.FileContext("a.txt", 0, 3, 1, b"")


def test_build_reproduces_published_invite_and_decline() -> None:
    ours = slp.build_request(
        "INVITE", "t2h@hotmail.com", "t1h@hotmail.com", call_id=CALL_ID, branch=BRANCH,
        fields=(
            ("EUF-GUID", slp.EUF_GUID_FILE), ("SessionID", "180646677"), ("AppID", "2"),
            ("Context", slp.encode_context(slp.build_file_context("a.txt", 0, version=3))),
        ),
    )  # fmt: skip
    assert ours == published_invite()
    invite = slp.parse_slp(ours)
    decline = slp.build_response(invite, 603, "Decline", fields=(("SessionID", "180646677"),))
    assert decline == DECLINE
    assert len(decline) == 331


def test_parse_published_decline() -> None:
    message = slp.parse_slp(DECLINE)
    assert not message.is_request
    assert (message.status, message.reason) == (603, "Decline")
    assert (message.to, message.from_, message.cseq) == ("t1h@hotmail.com", "t2h@hotmail.com", 1)
    assert message.session_id == 180646677
    assert message.body == b"SessionID: 180646677\r\n\r\n\x00"


def test_bye_and_ok() -> None:
    bye = slp.build_request(
        "BYE", "bob@x.com", "alice@x.com", call_id=CALL_ID, content_type=slp.SESSION_CLOSE
    )
    parsed = slp.parse_slp(bye)
    assert parsed.method == "BYE" and parsed.call_id == CALL_ID
    assert parsed.branch.startswith("{") and parsed.branch != BRANCH
    assert parsed.body == b"\r\n\x00" and parsed.get("Content-Length") == "3"
    ok = slp.parse_slp(slp.build_response(parsed, 200, "OK", fields=(("SessionID", "5"),)))
    assert (ok.status, ok.to, ok.from_, ok.branch) == (
        200,
        "alice@x.com",
        "bob@x.com",
        parsed.branch,
    )
    assert ok.content_type == slp.SESSION_CLOSE and ok.session_id == 5


@pytest.mark.parametrize(
    "data",
    [
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\r\nContent-Length: 5\r\n\r\nabc",
        b"HELLO world\r\n\r\n",
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\r\nno colon here\r\n\r\n",
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\r\nContent-Length: -1\r\n\r\n",
        b"MSNSLP/1.0 200 OK\r\nTo: <msnmsgr:a@b>\r\nContent-Length: 0\r\n\r\n",  # no Call-ID
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\r\n",  # no end of headers
        b"MSNSLP/1.0 200 OK\r\nCall-ID: {x}\r\n" + b"X: y\r\n" * 100 + b"\r\n",
        # found by fuzzing: a NUL or bare LF in a header would be echoed into our answer
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nVia: MSNSLP/1.0/TLP ;branch={\x00}\r\nCall-ID: {x}\r\n\r\n",
        b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\nEvil: 1\r\n\r\n",
    ],
)
def test_malformed_slp_raises(data: bytes) -> None:
    with pytest.raises(P2PProtocolError):
        slp.parse_slp(data)


def test_fields_refuse_line_breaks() -> None:
    with pytest.raises(LocalProtocolError):
        slp.encode_body((("Context", "abc\r\nEvil: 1"),))
    with pytest.raises(LocalProtocolError):
        slp.build_request("INVITE", "a@b\r\nX: y", "c@d", call_id="{x}")


def test_session_id_must_be_32_bit() -> None:
    base = b"INVITE MSNMSGR:a@b MSNSLP/1.0\r\nCall-ID: {x}\r\nContent-Length: %d\r\n\r\n"
    for value, expected in ((b"4294967295", 4294967295), (b"4294967296", 0), (b"12ab", 0)):
        body = b"SessionID: " + value + b"\r\n\r\n\x00"
        assert slp.parse_slp(base % len(body) + body).session_id == expected


def test_file_context_layout() -> None:
    ctx = slp.build_file_context("hello.png", 3_000_000)
    assert len(ctx) == slp.FILE_CONTEXT_SIZE == 574
    assert struct.unpack_from("<IIQI", ctx) == (574, 2, 3_000_000, 1)
    assert ctx[20:38] == "hello.png".encode("utf-16-le")
    assert ctx[38:540] == bytes(502)
    assert ctx[570:574] == b"\xff\xff\xff\xff"
    assert slp.parse_file_context(ctx) == slp.FileContext("hello.png", 3_000_000, 2, 1, b"")


def test_file_context_names_are_sanitized_and_bounded() -> None:
    for sent, expected in (
        ("..\\..\\windows\\evil.exe", "evil.exe"),
        ("/etc/passwd", "passwd"),
        ("bad\x00name.txt", "bad"),
        ("tab\there\u202e.txt", "tabhere.txt"),
        ("...", "file"),
    ):
        raw = struct.pack("<IIQI", 574, 2, 1, 1) + sent.encode("utf-16-le").ljust(520, b"\0")
        assert slp.parse_file_context(raw.ljust(574, b"\0")).filename == expected
    long_name = "x" * 400
    assert len(slp.parse_file_context(slp.build_file_context(long_name, 1)).filename) == 255
    # a name cut inside a surrogate pair does not end in half a character
    emoji = "a" + "\U0001f600" * 200
    name = slp.parse_file_context(slp.build_file_context(emoji, 1)).filename
    assert "\ufffd" not in name


def test_file_context_with_preview_and_bad_lengths() -> None:
    ctx = bytearray(slp.build_file_context("p.jpg", 10))
    struct.pack_into("<I", ctx, 16, 0)  # type 0: a preview follows the 574 bytes
    parsed = slp.parse_file_context(bytes(ctx) + b"PREVIEW")
    assert parsed.preview == b"PREVIEW"
    with pytest.raises(P2PProtocolError):
        slp.parse_file_context(bytes(ctx[:573]))
    struct.pack_into("<I", ctx, 0, 10_000)  # claims more than it has
    with pytest.raises(P2PProtocolError):
        slp.parse_file_context(bytes(ctx))


def test_context_base64_is_bounded() -> None:
    with pytest.raises(P2PProtocolError):
        slp.decode_context("A" * 100_000, max_size=1000)
    with pytest.raises(P2PProtocolError):
        slp.decode_context("é")
    assert slp.decode_context(slp.encode_context(b"\x00\x01")) == b"\x00\x01"
