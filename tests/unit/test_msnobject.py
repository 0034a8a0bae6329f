"""MSN object descriptors: parsing, building, SHA1D/SHA1C, hostile input."""

from __future__ import annotations

from urllib.parse import quote
import base64
import hashlib

import pytest

from bridge.msnp.errors import P2PProtocolError
from bridge.msnp.msnobject import (
    MAX_MSNOBJ_LENGTH,
    MSNObjectType,
    build_msnobject,
    compute_sha1c,
    decode_friendly,
    encode_friendly,
    parse_emoticons,
    parse_msnobject,
    sha1d_of,
)

# The example descriptor of the NINA wiki's "MSN Object" page (its SHA1C is consistent with
# the other fields, which makes it a test vector for the SHA1C computation).
PUBLISHED = (
    '<msnobj Creator="buddy1@hotmail.com" Size="24539" Type="3" Location="TFR2C.tmp" '
    'Friendly="AAA=" SHA1D="trC8SlFx2sWQxZMIBAWSEnXc8oQ=" SHA1C="U32o6bosZzluJq82eAtMpx5dIEI="/>'
)


def test_published_descriptor() -> None:
    obj = parse_msnobject(PUBLISHED)
    assert (obj.creator, obj.size, obj.type, obj.location) == (
        "buddy1@hotmail.com",
        24539,
        MSNObjectType.DISPLAY_PICTURE,
        "TFR2C.tmp",
    )
    assert obj.friendly == "AAA=" and obj.friendly_name == ""
    assert obj.sha1d == "trC8SlFx2sWQxZMIBAWSEnXc8oQ="
    assert obj.expected_sha1c == obj.sha1c == "U32o6bosZzluJq82eAtMpx5dIEI="
    assert obj.sha1c_valid
    assert obj.xml == PUBLISHED


def test_sha1c_is_the_sha1_of_the_field_concatenation() -> None:
    text = (
        "Creatorbuddy1@hotmail.comSize24539Type3LocationTFR2C.tmpFriendlyAAA="
        "SHA1DtrC8SlFx2sWQxZMIBAWSEnXc8oQ="
    )
    expected = base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()
    assert (
        compute_sha1c(
            "buddy1@hotmail.com", 24539, 3, "TFR2C.tmp", "AAA=", "trC8SlFx2sWQxZMIBAWSEnXc8oQ="
        )
        == expected
        == "U32o6bosZzluJq82eAtMpx5dIEI="
    )


def test_tampered_descriptor_fails_sha1c() -> None:
    obj = parse_msnobject(PUBLISHED.replace("24539", "24540"))
    assert not obj.sha1c_valid


def test_url_encoded_as_in_nln_and_extra_attributes() -> None:
    raw = PUBLISHED.replace("/>", ' contenttype="D" contentid="x&amp;y"/>')
    obj = parse_msnobject(quote(raw, safe=""))
    assert obj.get("ContentType") == "D" and obj.get("contentid") == "x&y"
    assert obj.xml == raw


def test_build_roundtrip_and_matches() -> None:
    data = b"\x89PNG fake picture bytes" * 100
    obj = build_msnobject("alice@example.com", data, friendly="Café ☕")
    assert obj.size == len(data)
    assert obj.sha1d == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert obj.friendly == encode_friendly("Café ☕") and obj.friendly_name == "Café ☕"
    parsed = parse_msnobject(obj.xml)
    assert parsed == obj
    assert parsed.sha1c_valid and parsed.matches(data) and not parsed.matches(data + b"x")
    assert sha1d_of([data[:10], data[10:]]) == obj.sha1d
    assert encode_friendly("") == "AAA="
    assert decode_friendly("not base64!") == ""


def test_xml_special_characters_are_escaped() -> None:
    obj = build_msnobject('we"ird<&>@example.com', b"x", location='a"b')
    assert '"' not in obj.xml.split('Creator="', 1)[1].split('" ', 1)[0]
    assert parse_msnobject(obj.xml).creator == 'we"ird<&>@example.com'
    assert parse_msnobject(obj.xml).location == 'a"b'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<msnobject Creator='a'/>",
        '<msnobj Creator="a@b" Size="1" Type="3"/>',  # no SHA1D
        '<msnobj Size="1" Type="3" SHA1D="x"/>',  # no Creator
        '<msnobj Creator="a@b" Size="-1" Type="3" SHA1D="x"/>',
        '<msnobj Creator="a@b" Size="99999999999" Type="3" SHA1D="x"/>',
        '<msnobj Creator="a@b" Size="1" Type="3" SHA1D="x"',  # unterminated
        '<msnobj Creator="a@b Size="1"/>',
        '<msnobj Creator=a@b Size="1" Type="3" SHA1D="x"/>',
        '<msnobj Creator="a@b"Size="1" Type="3" SHA1D="x"/>',
        '<msnobj Creator="&bogus;" Size="1" Type="3" SHA1D="x"/>',
        '<msnobj Creator="&#0;" Size="1" Type="3" SHA1D="x"/>',
        '<msnobj Creator="&amp" Size="1" Type="3" SHA1D="x"/>',
    ],
)
def test_malformed_descriptors_raise(text: str) -> None:
    with pytest.raises(P2PProtocolError):
        parse_msnobject(text)


def test_hostile_sizes_are_refused_before_parsing() -> None:
    with pytest.raises(P2PProtocolError, match="too long"):
        parse_msnobject("<msnobj " + 'a="' * 10**6)
    with pytest.raises(P2PProtocolError, match="too long"):
        parse_msnobject(quote("<msnobj " + "x" * MAX_MSNOBJ_LENGTH + "/>"))
    many = "<msnobj " + " ".join(f'a{i}="1"' for i in range(40)) + "/>"
    with pytest.raises(P2PProtocolError, match="too many"):
        parse_msnobject(many)
    # many quotes and entities within the limit still parse in one pass
    crowded = '<msnobj Creator="a@b" Size="1" Type="3" SHA1D="' + "&amp;" * 700 + '"/>'
    assert parse_msnobject(crowded).sha1d == "&" * 700


def test_emoticon_message_body() -> None:
    one = build_msnobject("bob@example.com", b"gif1", MSNObjectType.CUSTOM_EMOTICON)
    two = build_msnobject("bob@example.com", b"gif2", MSNObjectType.CUSTOM_EMOTICON)
    body = f"(cat)\t{one.xml}\t:party:\t{two.xml}\tbroken\t<msnobj nope\t"
    assert parse_emoticons(body) == [("(cat)", one), (":party:", two)]
    assert parse_emoticons("") == []
    flood = "\t".join(["x", one.xml] * 100)
    assert len(parse_emoticons(flood)) == 16
