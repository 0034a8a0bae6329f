"""Fuzzing the MSNP13+ parsers: whatever a server sends, the only exceptions are the typed ones.

Seeds are the valid answers of the other tests, mutated (bytes flipped, cut, spliced,
duplicated); a parser may refuse them with ProtocolError, SoapFault or AuthError, and must
not fail any other way (IndexError, AttributeError, UnicodeError... would be bugs).
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from bridge.msnp import abedit, addressbook, adl, endpoints, oim, oim_store, sharing, sso, ubx
from bridge.msnp.errors import AuthError, ProtocolError, SoapFault
from tests.unit.test_addressbook import FIND_ALL
from tests.unit.test_oim import MD, RUN, _mime
from tests.unit.test_sharing import FIND_MEMBERSHIP
from tests.unit.test_soap import AB_FAULT, OIM_FAULT
from tests.unit.test_sso import AUTH_FAILED_12, RST2_OK, RST_OK

EXPECTED = (ProtocolError, SoapFault, AuthError)

UBX = (
    b"<Data><PSM>hi</PSM><CurrentMedia>\\0Music\\01\\0{0}\\0x\\0</CurrentMedia>"
    b'<EndpointData id="{f52973b6-c926-4bad-9ba8-7c1e840e4ab0}"><Capabilities>1:2</Capabilities>'
    b'</EndpointData><PrivateEndpointData id="{f52973b6-c926-4bad-9ba8-7c1e840e4ab0}">'
    b"<EpName>x</EpName><Idle>false</Idle></PrivateEndpointData></Data>"
)
ML = b'<ml l="1"><d n="example.com"><c n="bob" l="3" t="1" f="Bob"/></d></ml>'
MIME = _mime("hello", RUN, 1).encode()
GET_MESSAGE = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<GetMessageResponse xmlns="urn:rsi"><GetMessageResult>'
    + MIME.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
    + b"</GetMessageResult></GetMessageResponse></soap:Body></soap:Envelope>"
)

SEEDS = [RST_OK, RST2_OK, AUTH_FAILED_12, FIND_ALL, FIND_MEMBERSHIP, AB_FAULT, OIM_FAULT, UBX, ML,
         MD.encode(), MIME, GET_MESSAGE]  # fmt: skip

PARSERS: list[Callable[[bytes], object]] = [
    sso.parse_rst_response,
    addressbook.parse_find_all,
    abedit.parse_contact_add,
    lambda data: abedit.parse_ack(data, "ABContactDelete"),
    sharing.parse_find_membership,
    oim.parse_get_metadata,
    lambda data: oim.parse_get_message(data, "m"),
    lambda data: oim.parse_oim_message("m", data.decode("utf-8", "replace")),
    lambda data: oim.parse_mail_data(data.decode("utf-8", "replace")),
    oim.parse_oim_notification,
    oim_store.parse_store2,
    adl.parse_ml,
    ubx.parse_user_data,
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.integers(min_value=0, max_value=4))
        if not data:
            break
        pos = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if kind == 0:
            data[pos] = draw(st.integers(min_value=0, max_value=255))
        elif kind == 1:
            del data[pos:]
        elif kind == 2:
            end = draw(st.integers(min_value=pos, max_value=len(data)))
            data[pos:pos] = data[pos:end]
        elif kind == 3:
            data[pos:pos] = draw(
                st.sampled_from(
                    [
                        b"<",
                        b">",
                        b"&",
                        b"</x>",
                        b"<x>",
                        b"&#0;",
                        b"\\0",
                        b"{0}",
                        b"=?utf-8?B?",
                        b":",
                    ]
                )
            )
        else:
            end = draw(st.integers(min_value=pos, max_value=len(data)))
            del data[pos:end]
    return bytes(data)


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: getattr(p, "__name__", "lambda"))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(mutated(), st.binary(max_size=300)))
def test_parsers_raise_only_typed_errors(parser: Callable[[bytes], object], data: bytes) -> None:
    try:
        parser(data)
    except EXPECTED:
        pass


@given(st.text(max_size=200))
def test_small_parsers(value: str) -> None:
    ubx.parse_media(value)
    oim.decode_mime_words(value)
    try:
        endpoints.parse_address(value)
    except ValueError:
        pass
    try:
        ubx.ubx_sender(value.split(" "), 18)
        ubx.ubx_sender(value.split(" "), 15)
    except ProtocolError:
        pass
    try:
        sso.parse_sso_challenge(value.split(" "))
    except ProtocolError:
        pass
