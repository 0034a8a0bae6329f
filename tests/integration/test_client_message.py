"""MSG payload building/parsing (bridge/msnp/message.py) and wire-log redaction."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from bridge.msnp.auth import md5_response
from bridge.msnp.client import MSNClient
from bridge.msnp.connection import TRACE
from bridge.msnp.message import (
    MAX_MSG_PAYLOAD,
    Message,
    build_nudge,
    build_text,
    build_typing,
    format_header,
    is_nudge,
    parse_format,
    parse_message,
    split_text,
)
from bridge.msnp.values import MessageFormat
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, client_config


def test_parse_format_converts_bgr_and_decodes_font() -> None:
    fmt = parse_format("FN=Segoe%20UI; EF=BIU; CO=ff0000; CS=0; PF=22")
    assert fmt.font == "Segoe UI"
    assert fmt.bold and fmt.italic and fmt.underline and not fmt.strikethrough
    assert fmt.color == "0000ff"  # BGR ff0000 is blue
    assert fmt.pitch_family == "22" and fmt.charset == "0"
    assert parse_format("CO=ff").color == "ff0000"  # short: only the red byte
    assert parse_format("CO=8000").color == "008000"
    assert parse_format("CO=zz").color == ""
    assert parse_format("").font == ""


def test_format_round_trip() -> None:
    fmt = MessageFormat(font="Comic Sans MS", effects="BS", color="12ab34", pitch_family="22")
    header = format_header(fmt)
    assert "FN=Comic%20Sans%20MS" in header and "CO=34ab12" in header
    assert parse_format(header) == MessageFormat(
        font="Comic Sans MS", effects="BS", color="12ab34", charset="0", pitch_family="22"
    )
    assert "CO=ff;" in format_header(MessageFormat(color="ff0000"))


def test_text_message_round_trip() -> None:
    payload = build_text("Grüße ✓", MessageFormat(font="Arial", effects="B"))
    message = parse_message(payload)
    assert message.content_type == "text/plain"
    assert message.charset == "UTF-8"
    assert message.text == "Grüße ✓"
    assert message.format.font == "Arial" and message.format.bold
    assert message.get("mime-version") == "1.0"


def test_parse_bare_lf_and_other_types() -> None:
    message = parse_message(b"MIME-Version: 1.0\nContent-Type: text/x-foo\n\nbody\r\n\r\nmore")
    assert message.content_type == "text/x-foo"
    assert message.body == b"body\r\n\r\nmore"
    typing = parse_message(build_typing("alice@example.com"))
    assert typing.content_type == "text/x-msmsgscontrol"
    assert typing.get("TypingUser") == "alice@example.com"
    assert is_nudge(parse_message(build_nudge()))
    assert not is_nudge(parse_message(b"Content-Type: text/x-msnmsgr-datacast\r\n\r\nID: 2\r\n"))
    assert parse_message(b"no headers at all").body == b""


def test_split_short_text_is_one_payload() -> None:
    assert split_text("hi") == [build_text("hi")]
    with pytest.raises(ValueError):
        split_text("x", limit=50)


@settings(max_examples=60, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(["a", " ", "\n", "é", "€", "😀", "日"]), min_size=0, max_size=3000
    ),
    st.integers(min_value=200, max_value=MAX_MSG_PAYLOAD),
)
def test_split_text_limits_and_utf8(text: str, limit: int) -> None:
    payloads = split_text(text, None, limit)
    assert all(len(p) <= limit for p in payloads)
    bodies = [parse_message(p).body for p in payloads]
    decoded = [b.decode("utf-8") for b in bodies]  # strict: no broken sequences
    assert "".join(decoded) == text
    assert all(bodies) or text == ""


def test_md5_response() -> None:
    assert md5_response("1013928519.693957190", "password") == "7f919fab309532df353c901430df36fa"


@pytest.mark.parametrize("protocol", [7, 12])
async def test_wire_log_redacts_secrets(protocol: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(TRACE, logger="msnp.wire")
    async with running_server() as server:
        client = MSNClient(client_config(server, protocol), Recorder())
        result = await client.login("alice@example.com", "alice123")
        await client.close()
    wire = [r.getMessage() for r in caplog.records if r.name == "msnp.wire"]
    assert all(r.levelno == TRACE for r in caplog.records if r.name == "msnp.wire")
    assert any("VER" in line for line in wire)
    usr = [line for line in wire if " USR " in line and " S " in line]
    assert usr and all("<redacted>" in line for line in usr)
    text = "\n".join(wire)
    assert "alice123" not in text
    if result.ticket:
        assert result.ticket not in text


def test_unusable_charset_is_read_as_utf8() -> None:
    # "idna" and "undefined" raise UnicodeError even with errors="replace"
    for charset in ("idna", "undefined", "no-such-charset"):
        message = Message({"Content-Type": f"text/plain; charset={charset}"}, "héllo".encode())
        assert message.text == "héllo"


def test_lone_surrogate_from_matrix_is_replaced_not_raised() -> None:
    payload = build_text("a\ud800b")
    assert payload.endswith("a\ufffdb".encode())
    assert (
        b"".join(p.split(b"\r\n\r\n", 1)[1] for p in split_text("x\udfff" * 3))
        == ("x\ufffd" * 3).encode()
    )
