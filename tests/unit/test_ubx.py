"""MSNP13+ presence payloads: UUX builders, UBX parsing, CurrentMedia, UBX addresses."""

from __future__ import annotations

import uuid

import pytest

from bridge.msnp.endpoints import Address, NetworkId
from bridge.msnp.errors import ProtocolError
from bridge.msnp.ubx import (
    ENDPOINT_NAME,
    PARSED_KEPT,
    PARSED_KEPT_BYTES,
    Endpoint,
    Media,
    build_endpoint_data,
    build_private_endpoint_data,
    build_user_data,
    parse_media,
    parse_user_data,
    ubx_sender,
)
from bridge.msnp.xmlsafe import parse_xml

G1 = uuid.UUID("f52973b6-c926-4bad-9ba8-7c1e840e4ab0")
G2 = uuid.UUID("0b4c1c1e-8a51-4bd4-9e0f-3a2a3b6a7c10")


def test_user_data_by_protocol() -> None:
    assert build_user_data("hi & <bye>", "", str(G1), protocol=15) == (
        b"<Data><PSM>hi &amp; &lt;bye&gt;</PSM><CurrentMedia></CurrentMedia>"
        b"<MachineGuid>{F52973B6-C926-4BAD-9BA8-7C1E840E4AB0}</MachineGuid></Data>"
    )
    assert (
        build_user_data("", protocol=13)
        == b"<Data><PSM></PSM><CurrentMedia></CurrentMedia></Data>"
    )
    names16 = [
        e.name for e in parse_xml(build_user_data("x", machine_guid=G1, protocol=16)).children
    ]
    assert names16 == ["PSM", "CurrentMedia", "MachineGuid", "SignatureSound"]
    names18 = [
        e.name for e in parse_xml(build_user_data("x", machine_guid=G1, protocol=18)).children
    ]
    assert names18 == [
        "PSM",
        "CurrentMedia",
        "MachineGuid",
        "DDP",
        "SignatureSound",
        "Scene",
        "ColorScheme",
    ]


def test_endpoint_payloads() -> None:
    assert build_endpoint_data(2789003324, 48) == (
        b"<EndpointData><Capabilities>2789003324:48</Capabilities></EndpointData>"
    )
    root = parse_xml(build_private_endpoint_data())
    assert root.name == "PrivateEndpointData"
    assert root.findtext("EpName") == ENDPOINT_NAME == "Matrix bridge"
    assert (root.findtext("Idle"), root.findtext("ClientType"), root.findtext("State")) == (
        "false",
        "1",
        "NLN",
    )
    assert parse_xml(build_private_endpoint_data("Tom & Jerry's", idle=True)).findtext(
        "EpName"
    ) == ("Tom & Jerry's")


def test_parse_user_data_with_endpoints() -> None:
    payload = (
        "<Data><PSM>at work &#x26; busy</PSM>"
        "<CurrentMedia>\\0Music\\01\\0{0} - {1}\\0Song\\0Artist\\0Album\\0\\0</CurrentMedia>"
        f"<MachineGuid>{{{G1}}}</MachineGuid>"
        f'<EndpointData id="{{{G1}}}"><Capabilities>2789003324:48</Capabilities></EndpointData>'
        f'<EndpointData id="{{{G2}}}"><Capabilities>1</Capabilities></EndpointData>'
        '<EndpointData id="garbage"><Capabilities>1</Capabilities></EndpointData>'
        f'<PrivateEndpointData id="{{{G2}}}"><EpName>Matrix bridge</EpName><Idle>true</Idle>'
        "<ClientType>1</ClientType><State>BSY</State></PrivateEndpointData></Data>"
    ).encode()
    data = parse_user_data(payload)
    assert data.personal_message == "at work & busy"
    assert data.machine_guid == f"{{{G1}}}"
    assert data.endpoints == (
        Endpoint(G1, 2789003324, 48),
        Endpoint(G2, 1, 0, name="Matrix bridge", idle=True, client_type="1", state="BSY"),
    )
    assert data.endpoints[1].endpoint_id == "{0B4C1C1E-8A51-4BD4-9E0F-3A2A3B6A7C10}"
    assert data.media == Media("", "Music", True, "{0} - {1}", ("Song", "Artist", "Album"))
    assert data.media is not None and data.media.text == "Song - Artist"


def test_parse_empty_and_bad() -> None:
    assert parse_user_data(b"").personal_message == ""
    assert parse_user_data(b"<Data/>").endpoints == ()
    with pytest.raises(ProtocolError):
        parse_user_data(b"<Data><PSM>unclosed</Data>")
    with pytest.raises(ProtocolError):
        parse_user_data(b"<!DOCTYPE d [<!ENTITY a 'x'>]><Data><PSM>&a;</PSM></Data>")


def _payload(psm: str, filler: int = 0) -> bytes:
    return f"<Data><PSM>{psm}</PSM><CurrentMedia>{'x' * filler}</CurrentMedia></Data>".encode()


def test_a_payload_seen_again_is_not_parsed_again() -> None:
    # every user of the process with this contact gets the same bytes: one parse, one result
    first = parse_user_data(_payload("shared by all watchers"))
    again = parse_user_data(bytes(_payload("shared by all watchers")))
    assert again is first and again.personal_message == "shared by all watchers"
    assert parse_user_data(_payload("another")) is not first


def test_kept_payloads_are_bounded_in_size_and_number() -> None:
    large = _payload("large", PARSED_KEPT_BYTES)
    assert len(large) > PARSED_KEPT_BYTES
    one, two = parse_user_data(large), parse_user_data(large)
    assert one == two and one is not two  # over the size: parsed each time, never kept
    oldest = parse_user_data(_payload("oldest"))
    for i in range(PARSED_KEPT):
        parse_user_data(_payload(f"newer {i}"))
    # the oldest result was let go to make room: the same bytes are parsed anew
    later = parse_user_data(_payload("oldest"))
    assert later == oldest and later is not oldest


def test_an_unreadable_payload_fails_every_time() -> None:
    bad = b"<Data><PSM>unclosed</Data>"
    for _ in range(2):
        with pytest.raises(ProtocolError):
            parse_user_data(bad)


def test_endpoint_count_is_bounded() -> None:
    many = "".join(
        f'<EndpointData id="{{{uuid.UUID(int=i)}}}"><Capabilities>1</Capabilities></EndpointData>'
        for i in range(200)
    )
    assert len(parse_user_data(f"<Data>{many}</Data>".encode()).endpoints) == 64


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("", None),
        ("\\0Music\\00\\0{0}\\0Song\\0", None),  # switched off
        ("WMP\\0Games\\01\\0Playing {0}\\0Chess\\0", "Playing Chess"),
        ("\\0Music\\01\\0{0} - {5}\\0Song\\0", "Song - "),
        ("\\0Music\\01\\0\\0Song\\0", "Song"),
    ],
)
def test_media(value: str, text: str | None) -> None:
    media = parse_media(value)
    assert (media.text if media is not None else None) == text


def test_media_expansion_is_bounded() -> None:
    media = parse_media("\\0Music\\01\\0" + "{0}" * 500 + "\\0" + "x" * 2000 + "\\0")
    assert media is not None and len(media.text) == 1024


@pytest.mark.parametrize(
    ("args", "protocol", "expected"),
    [
        (("bob@example.com",), 13, Address("bob@example.com")),
        (("yo@yahoo.com", "32"), 15, Address("yo@yahoo.com", NetworkId.YAHOO)),
        (("bob@example.com", "1"), 17, Address("bob@example.com")),
        (("1:bob@example.com",), 18, Address("bob@example.com")),
        (("32:yo@yahoo.com",), 18, Address("yo@yahoo.com", NetworkId.YAHOO)),
    ],
)
def test_ubx_sender(args: tuple[str, ...], protocol: int, expected: Address) -> None:
    assert ubx_sender(args, protocol) == expected


@pytest.mark.parametrize(
    ("args", "protocol"), [((), 15), (("nope",), 15), (("bob@x.y", "77"), 15)]
)
def test_ubx_sender_rejects(args: tuple[str, ...], protocol: int) -> None:
    with pytest.raises(ProtocolError):
        ubx_sender(args, protocol)
