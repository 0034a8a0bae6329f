"""Machine GUIDs, network ids and MSNP13-18 address forms."""

from __future__ import annotations

import re
import uuid

import pytest

from bridge.msnp.endpoints import (
    Address,
    NetworkId,
    format_address,
    format_guid,
    new_machine_guid,
    parse_address,
    parse_guid,
)

GUID_RE = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
G = uuid.UUID("f52973b6-c926-4bad-9ba8-7c1e840e4ab0")


def test_new_machine_guid() -> None:
    first, second = new_machine_guid(), new_machine_guid()
    assert GUID_RE.match(first) and GUID_RE.match(second)
    assert first != second
    assert parse_guid(first).version == 4


@pytest.mark.parametrize(
    "text",
    [
        "{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}",
        "f52973b6-c926-4bad-9ba8-7c1e840e4ab0",
        " {f52973b6-C926-4bad-9ba8-7c1e840e4ab0} ",
    ],
)
def test_parse_and_format_guid(text: str) -> None:
    assert parse_guid(text) == G
    assert format_guid(text) == "{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"
    assert format_guid(G) == "{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"


@pytest.mark.parametrize(
    "text",
    ["", "{}", "not-a-guid", "f52973b6c9264bad9ba87c1e840e4ab0", "{f52973b6-c926-4bad-9ba8}"],
)
def test_bad_guids(text: str) -> None:
    with pytest.raises(ValueError):
        parse_guid(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bob@example.com", Address("bob@example.com")),
        ("1:bob@example.com", Address("bob@example.com")),
        ("32:yo@yahoo.com", Address("yo@yahoo.com", NetworkId.YAHOO)),
        (
            "bob@example.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}",
            Address("bob@example.com", endpoint=G),
        ),
        (
            "1:bob@example.com;{f52973b6-c926-4bad-9ba8-7c1e840e4ab0}",
            Address("bob@example.com", endpoint=G),
        ),
        (
            "1:bob@example.com;via=9:00000000-0000-0000-0009-000000000001@live.com",
            Address("bob@example.com", via="9:00000000-0000-0000-0009-000000000001@live.com"),
        ),
        (
            "9:00000000-0000-0000-0009-000000000001@live.com",
            Address("00000000-0000-0000-0009-000000000001@live.com", NetworkId.CIRCLE),
        ),
    ],
)
def test_parse_address(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bob",
        "bob@",
        "@example.com",
        "a@b@c",
        "7:bob@example.com",
        "bob@example.com;{nope}",
        "bob@example.com;junk",
        "bob@example.com;via=a;via=b",
        "bob smith@example.com",
        "x" * 600 + "@example.com",
    ],
)
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_endpoint_id_property() -> None:
    assert Address("a@b.c", endpoint=G).endpoint_id == "{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"
    assert Address("a@b.c").endpoint_id is None


def test_format_address() -> None:
    assert format_address("bob@example.com", 15) == "bob@example.com"
    assert format_address("bob@example.com", 18) == "1:bob@example.com"
    assert format_address("yo@yahoo.com", 18, network=NetworkId.YAHOO) == "32:yo@yahoo.com"
    assert (
        format_address("bob@example.com", 16, endpoint=G)
        == "bob@example.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"
    )
    assert (
        format_address("bob@example.com", 18, endpoint=str(G))
        == "1:bob@example.com;{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}"
    )
    with pytest.raises(ValueError):
        format_address("bob@example.com", 15, endpoint=G)
    for protocol in (13, 16, 18):
        text = format_address("bob@example.com", protocol, endpoint=G if protocol >= 16 else None)
        assert parse_address(text).email == "bob@example.com"


def test_network_id_parse() -> None:
    assert NetworkId.parse("32") is NetworkId.YAHOO
    assert NetworkId.parse(1) is NetworkId.WINDOWS_LIVE
    for bad in ("", "x", "3", "-1"):
        with pytest.raises(ValueError):
            NetworkId.parse(bad)
