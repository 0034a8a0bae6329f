"""What the bridge reads from files and pictures crossing over P2P: MIME types sniffed from
the content, and the user's avatar turned into an MSN display picture."""

from __future__ import annotations

from io import BytesIO
import struct
import zlib

from mautrix.types import MessageType
from PIL import Image
import pytest

from bridge.media_types import message_type, sniff
from bridge.own_avatar import MAX_PIXELS, to_display_picture


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "x.txt", "image/png"),  # the content wins
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "", "image/jpeg"),
        (b"GIF89a\x01\0", "a.gif", "image/gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "", "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", "", "audio/wav"),
        (b"RIFF\0\0\0\0AVI LIST", "", "video/x-msvideo"),
        (b"\0\0\0\x18ftypmp42", "", "video/mp4"),
        (b"ID3\x03\0", "", "audio/mpeg"),
        (b"%PDF-1.4\n", "report", "application/pdf"),
        (b"PK\x03\x04\x14\0", "letter.docx", "application/vnd.openxmlformats-officedocument"
         ".wordprocessingml.document"),
        (b"PK\x03\x04\x14\0", "", "application/zip"),
        (b"hello, world\r\n", "notes.txt", "text/plain"),
        (b"just words", "", "text/plain"),
        (bytes(range(32)), "movie.avi", "application/octet-stream"),  # the name alone: no
        (b"", "", "application/octet-stream"),
    ],
)  # fmt: skip
def test_sniff(head: bytes, name: str, expected: str) -> None:
    assert sniff(head, name) == expected


def test_message_types() -> None:
    assert message_type("image/png") == MessageType.IMAGE
    assert message_type("video/mp4") == MessageType.VIDEO
    assert message_type("audio/ogg") == MessageType.AUDIO
    assert message_type("application/pdf") == MessageType.FILE


def _png(width: int, height: int) -> bytes:
    out = BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def test_avatar_becomes_a_96_pixel_png() -> None:
    out = to_display_picture(_png(300, 150))
    with Image.open(BytesIO(out)) as image:
        assert (image.format, image.size) == ("PNG", (96, 96))
        assert image.getpixel((48, 48))[:3] == (200, 10, 10)


def test_avatar_that_is_no_picture_is_refused() -> None:
    with pytest.raises(ValueError):
        to_display_picture(b"<html>not a picture</html>")


def test_avatar_claiming_huge_dimensions_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 10
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    chunk = (
        struct.pack(">I", len(ihdr))
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    with pytest.raises(ValueError, match="pixels"):
        to_display_picture(head + chunk + b"\0\0\0\0IEND\xaeB`\x82")


def test_emoticons_inline_escaped_longest_first() -> None:
    from bridge.emoticons import inline

    images = {"(c)": "mxc://x/c", "(cat)": "mxc://x/cat"}
    out = inline({"msgtype": "m.text", "body": "<b> (cat) & (c)"}, images)
    assert out["body"] == "<b> (cat) & (c)"
    assert out["formatted_body"] == (
        '&lt;b&gt; <img src="mxc://x/cat" alt="(cat)" title="(cat)" height="19"> &amp; '
        '<img src="mxc://x/c" alt="(c)" title="(c)" height="19">'
    )
    assert inline({"body": "none"}, {}) == {"body": "none"}


def test_ink_and_datacasts() -> None:
    import base64

    from bridge.emoticons import datacast_notice, decode_ink
    from bridge.msnp.events import OtherMessageReceived

    def evt(ctype: str, body: bytes) -> OtherMessageReceived:
        return OtherMessageReceived("bob@x", "bob@x", ctype, {}, body, ("bob@x",))

    gif = b"GIF89a" + bytes(20)
    assert decode_ink(evt("image/gif", b"base64:" + base64.b64encode(gif))) == gif
    assert decode_ink(evt("image/gif", b"base64:" + base64.b64encode(b"not a gif"))) is None
    assert decode_ink(evt("image/gif", b"base64:" + b"A" * 600_000)) is None  # too large
    assert datacast_notice(evt("text/x-msnmsgr-datacast", b"ID: 3\r\nData: x\r\n")) == (
        "Sent a voice clip, which the bridge cannot show in Matrix."
    )
    assert datacast_notice(evt("text/x-msnmsgr-datacast", b"ID: 99\r\n")) is None
