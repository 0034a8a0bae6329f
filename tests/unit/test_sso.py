"""Passport SSO: the RST request, its answer, and the MBI key (``MSGUSRKEY``) for USR SSO S.

The MBI key vector is the published one: the msnpiki MSNP15:SSO page's first "test value"
(binary secret ``AAAA...A=``, nonce ``AAAA...A=``, an all-zero IV), whose expected result was
quoted in the thread "C++, crypto and MSN..." (Programming Talk forum, 2010-07-11), after its
author fixed the bug in his own code and matched it. The second check is independent of our
code path: it re-derives the keys with ``cryptography``'s HMAC primitive (not ``hmac``),
*decrypts* the cipher block and verifies the hash, the way a server checks the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import base64
import struct

from cryptography.hazmat.primitives import hashes, hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, strategies as st
import pytest

from bridge.msnp.errors import AuthError, LocalProtocolError, ProtocolError, SoapFault
from bridge.msnp.mbi_key import derive_key, mbi_key_response
from bridge.msnp.sso import (
    CONTACTS,
    MESSENGER_CLEAR,
    SecurityToken,
    build_rst_request,
    parse_rst_response,
    parse_sso_challenge,
    sso_token_requests,
    twn_policy_reference,
    twn_token_requests,
)
from bridge.msnp.xmlsafe import parse_xml

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

PUBLISHED_SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
PUBLISHED_NONCE = "A" * 63 + "="
PUBLISHED_BLOB = (
    "HAAAAAEAAAADZgAABIAAAAgAAAAUAAAASAAAAAAAAAAAAAAA7XgT5ohvaZdoXdrWUUcMF2G8OK2JohyYcK5l5MJSitab33"
    "scxJeK/RQXcUr0L+R2ZA9CEAzn0izmUzSMp2LZdxSbHtnuxCmptgtoScHp9E26HjQVkA9YJxgK/HM="
)


def test_mbi_key_published_vector() -> None:
    assert mbi_key_response(PUBLISHED_SECRET, PUBLISHED_NONCE, iv=bytes(8)) == PUBLISHED_BLOB


def _mac(key: bytes, message: bytes) -> bytes:
    h = crypto_hmac.HMAC(key, hashes.SHA1())
    h.update(message)
    return h.finalize()


def _server_side_key(key: bytes, magic: bytes) -> bytes:
    # written from the protocol description, with another HMAC implementation
    h1 = _mac(key, magic)
    h2 = _mac(key, h1 + magic)
    h3 = _mac(key, h1)
    h4 = _mac(key, h3 + magic)
    return h2 + h4[:4]


@given(
    secret=st.binary(min_size=24, max_size=24),
    nonce=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        min_size=64,
        max_size=64,
    ),
)
def test_mbi_key_verifies_like_a_server(secret: bytes, nonce: str) -> None:
    blob = base64.b64decode(mbi_key_response(base64.b64encode(secret).decode(), nonce))
    header = struct.unpack("<7I", blob[:28])
    assert header == (28, 1, 0x6603, 0x8004, 8, 20, 72)
    iv, digest, cipher = blob[28:36], blob[36:56], blob[56:]
    key2 = _server_side_key(secret, b"WS-SecureConversationSESSION KEY HASH")
    key3 = _server_side_key(secret, b"WS-SecureConversationSESSION KEY ENCRYPTION")
    assert digest == _mac(key2, nonce.encode())
    decryptor = Cipher(TripleDES(key3), modes.CBC(iv)).decryptor()
    assert decryptor.update(cipher) + decryptor.finalize() == nonce.encode() + b"\x08" * 8


def test_mbi_key_iv_is_random_unless_given() -> None:
    first = base64.b64decode(mbi_key_response(PUBLISHED_SECRET, PUBLISHED_NONCE))
    second = base64.b64decode(mbi_key_response(PUBLISHED_SECRET, PUBLISHED_NONCE))
    assert first[28:36] != second[28:36]


def test_derive_key_is_24_bytes_and_depends_on_magic() -> None:
    key = b"k" * 24
    assert len(derive_key(key, b"a")) == 24
    assert derive_key(key, b"a") != derive_key(key, b"b")
    assert derive_key(key, b"a") == _server_side_key(key, b"a")


@pytest.mark.parametrize("secret", ["not base64!", ""])
def test_mbi_key_rejects_bad_secret(secret: str) -> None:
    with pytest.raises(ProtocolError):
        mbi_key_response(secret, PUBLISHED_NONCE)


def test_mbi_key_rejects_non_ascii_nonce_and_bad_iv() -> None:
    with pytest.raises(ProtocolError):
        mbi_key_response(PUBLISHED_SECRET, "é" * 64)
    with pytest.raises(ValueError):
        mbi_key_response(PUBLISHED_SECRET, PUBLISHED_NONCE, iv=b"short")


# --- the request -----------------------------------------------------------------------------


def _tokens(root_bytes: bytes) -> list[tuple[str, str | None]]:
    root = parse_xml(root_bytes)
    out = []
    for node in root.iter("RequestSecurityToken"):
        address = node.findtext("AppliesTo/EndpointReference/Address")
        ref = node.child("PolicyReference")
        out.append((address, ref.get("URI") if ref is not None else None))
    return out


def test_rst_request_escapes_credentials_and_lists_tokens() -> None:
    password = "p<a>s&s\"w'ord ü"
    request = build_rst_request("bob&co@example.com", password, sso_token_requests("MBI_KEY_OLD"))
    assert request.action is None
    assert request.content_type.startswith("text/xml")
    root = parse_xml(request.body)
    assert root.name == "Envelope" and root.ns == "http://schemas.xmlsoap.org/soap/envelope/"
    token = root.first("UsernameToken")
    assert token is not None
    assert token.findtext("Username") == "bob&co@example.com"
    assert token.findtext("Password") == password
    assert _tokens(request.body) == [
        ("http://Passport.NET/tb", None),
        ("messengerclear.live.com", "MBI_KEY_OLD"),
        ("messenger.msn.com", "?id=507"),
        ("contacts.msn.com", "MBI"),
        ("messengersecure.live.com", "MBI_SSL"),
        ("storage.msn.com", "MBI_SSL"),
        ("sup.live.com", "MBI"),
    ]
    ids = [node.get("Id") for node in root.iter("RequestSecurityToken")]
    assert ids == [f"RST{i}" for i in range(7)]
    assert "p<a>" not in repr(request) and password not in repr(request)


def test_rst2_request_is_soap12_with_timestamp() -> None:
    now = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    request = build_rst_request("a@b.c", "pw", sso_token_requests("MBI_KEY"), rst2=True, now=now)
    assert request.content_type.startswith("application/soap+xml")
    root = parse_xml(request.body)
    assert root.ns == "http://www.w3.org/2003/05/soap-envelope"
    assert root.findtext("Header/Action").endswith("/RST/Issue")
    stamp = root.first("Timestamp")
    assert stamp is not None
    assert stamp.findtext("Created") == "2024-05-06T07:08:09Z"
    assert stamp.findtext("Expires") == "2024-05-06T07:13:09Z"
    token = root.first("RequestSecurityToken")
    assert token is not None and token.child("RequestType") is not None
    assert token.findtext("RequestType") == "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
    assert ("messengerclear.live.com", "MBI_KEY") in _tokens(request.body)


def test_rst_request_refuses_unrepresentable_password() -> None:
    with pytest.raises(LocalProtocolError) as info:
        build_rst_request("a@b.c", "bad\x01pw", sso_token_requests("MBI_KEY_OLD"))
    assert "bad" not in str(info.value)


def test_twn_policy_reference() -> None:
    challenge = "ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=507,ru=http%3A%2F%2Fmessenger.msn.com"
    assert twn_policy_reference(challenge) == (
        "?ct=1&rver=1&wp=FS_40SEC_0_COMPACT&lc=1&id=507&ru=http://messenger.msn.com"
    )
    tokens = dict(_tokens(build_rst_request("a@b.c", "x", twn_token_requests(challenge)).body))
    assert tokens["messenger.msn.com"] == twn_policy_reference(challenge)
    assert "messengerclear.live.com" not in tokens


def test_sso_challenge_parsing() -> None:
    parsed = parse_sso_challenge(["SSO", "S", "MBI_KEY_OLD", PUBLISHED_NONCE])
    assert (parsed.policy, parsed.nonce) == ("MBI_KEY_OLD", PUBLISHED_NONCE)
    for bad in (
        ["SSO", "S", "MBI_KEY_OLD"],
        ["TWN", "S", "x", "y"],
        ["SSO", "S", "p", "n" * 5000],
    ):
        with pytest.raises(ProtocolError):
            parse_sso_challenge(bad)


# --- the answer ------------------------------------------------------------------------------

RST_OK = b"""<?xml version="1.0" encoding="utf-8"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/">
 <S:Header>
  <psf:pp xmlns:psf="http://schemas.microsoft.com/Passport/SoapServices/SOAPFault">
   <psf:PUID>00112233AABBCCDD</psf:PUID>
   <psf:credProperties><psf:credProperty Name="CID">a1b2c3d4e5f60718</psf:credProperty>
   </psf:credProperties>
  </psf:pp>
 </S:Header>
 <S:Body>
  <wst:RequestSecurityTokenResponseCollection xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust"
    xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext"
    xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy"
    xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing">
   <wst:RequestSecurityTokenResponse>
    <wst:TokenType>urn:passport:legacy</wst:TokenType>
    <wsp:AppliesTo><wsa:EndpointReference><wsa:Address>http://Passport.NET/tb</wsa:Address>
    </wsa:EndpointReference></wsp:AppliesTo>
    <wst:RequestedSecurityToken>
     <EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><CipherData>
      <CipherValue>bGVnYWN5</CipherValue></CipherData></EncryptedData>
    </wst:RequestedSecurityToken>
    <wst:RequestedProofToken><wst:BinarySecret>c2VjcmV0MA==</wst:BinarySecret></wst:RequestedProofToken>
   </wst:RequestSecurityTokenResponse>
   <wst:RequestSecurityTokenResponse>
    <wst:TokenType>urn:passport:compact</wst:TokenType>
    <wsp:AppliesTo><wsa:EndpointReference><wsa:Address>messengerclear.live.com</wsa:Address>
    </wsa:EndpointReference></wsp:AppliesTo>
    <wst:LifeTime><wsu:Created>2024-01-02T03:04:05Z</wsu:Created>
     <wsu:Expires>2024-01-03T03:04:05Z</wsu:Expires></wst:LifeTime>
    <wst:RequestedSecurityToken>
     <wsse:BinarySecurityToken Id="Compact1">t=clearTICKET+/=&amp;p=clearP</wsse:BinarySecurityToken>
    </wst:RequestedSecurityToken>
    <wst:RequestedProofToken><wst:BinarySecret>QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB</wst:BinarySecret>
    </wst:RequestedProofToken>
   </wst:RequestSecurityTokenResponse>
   <wst:RequestSecurityTokenResponse>
    <wst:TokenType>urn:passport:compact</wst:TokenType>
    <wsp:AppliesTo><wsa:EndpointReference><wsa:Address>Contacts.MSN.com</wsa:Address>
    </wsa:EndpointReference></wsp:AppliesTo>
    <wst:LifeTime><wsu:Created>2024-01-02T03:04:05Z</wsu:Created>
     <wsu:Expires>2024-01-03T03:04:05Z</wsu:Expires></wst:LifeTime>
    <wst:RequestedSecurityToken>
     <wsse:BinarySecurityToken Id="Compact2">t=contactsTICKET&amp;p=</wsse:BinarySecurityToken>
    </wst:RequestedSecurityToken>
   </wst:RequestSecurityTokenResponse>
  </wst:RequestSecurityTokenResponseCollection>
 </S:Body>
</S:Envelope>"""

# RST2: SOAP 1.2, WS-Trust 2005, "Lifetime" spelled differently, and addressing 2005/08.
RST2_OK = b"""<?xml version="1.0" encoding="utf-8" ?>
<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope">
 <S:Body>
  <wst:RequestSecurityTokenResponseCollection xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust"
     xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
     xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
     xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy">
   <wst:RequestSecurityTokenResponse>
    <wsp:AppliesTo xmlns:wsa="http://www.w3.org/2005/08/addressing"><wsa:EndpointReference>
     <wsa:Address>messengerclear.live.com</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>
    <wst:Lifetime><wsu:Created>2024-01-02T03:04:05Z</wsu:Created>
     <wsu:Expires>2024-01-02T04:04:05Z</wsu:Expires></wst:Lifetime>
    <wst:RequestedSecurityToken><wsse:BinarySecurityToken Id="Compact1">t=two&amp;p=</wsse:BinarySecurityToken>
    </wst:RequestedSecurityToken>
    <wst:RequestedProofToken><wst:BinarySecret>c2Vjb25k</wst:BinarySecret></wst:RequestedProofToken>
   </wst:RequestSecurityTokenResponse>
  </wst:RequestSecurityTokenResponseCollection>
 </S:Body>
</S:Envelope>"""


def test_parse_rst_response() -> None:
    tokens = parse_rst_response(RST_OK)
    clear = tokens.get(MESSENGER_CLEAR)
    assert clear is not None
    assert clear.token == "t=clearTICKET+/=&p=clearP"
    assert clear.binary_secret == "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    assert clear.token_type == "urn:passport:compact"
    assert clear.created == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert clear.expires == datetime(2024, 1, 3, 3, 4, 5, tzinfo=UTC)
    assert tokens.ticket("contacts.msn.com") == "t=contactsTICKET&p="
    assert tokens.get("CONTACTS.msn.com") is not None
    legacy = tokens.get("http://Passport.NET/tb")
    assert legacy is not None and legacy.token == "bGVnYWN5"
    assert tokens.cid == "a1b2c3d4e5f60718" and tokens.puid == "00112233AABBCCDD"
    with pytest.raises(ProtocolError):
        tokens.ticket("storage.msn.com")
    assert "clearTICKET" not in repr(tokens) and "QUFB" not in repr(tokens)


def test_tickets_of_one_answer_share_their_times_and_names() -> None:
    """The tickets of an answer carry the same times: one datetime object for each time, and
    the service addresses and ticket types are the same string objects in every answer (a
    session keeps its tickets for hours)."""
    tokens = parse_rst_response(RST_OK)
    clear, contacts = tokens.get(MESSENGER_CLEAR), tokens.get(CONTACTS)
    assert clear is not None and contacts is not None
    assert clear.expires == contacts.expires and clear.expires is contacts.expires
    assert clear.created is contacts.created
    again = parse_rst_response(RST_OK).get(MESSENGER_CLEAR)
    assert again is not None and again.token_type is clear.token_type
    assert again.address is clear.address  # (as issued: lower case already)
    assert contacts.address == "Contacts.MSN.com"  # (as issued, looked up in any case)


def test_only_keeps_the_tickets_named() -> None:
    tokens = parse_rst_response(RST_OK)
    kept = tokens.only([CONTACTS, "messenger.msn.com"])
    assert set(kept.tokens) == {"contacts.msn.com"}
    assert kept.ticket(CONTACTS) == tokens.ticket(CONTACTS)
    assert kept.get(MESSENGER_CLEAR) is None and tokens.get(MESSENGER_CLEAR) is not None
    assert (kept.cid, kept.puid) == (tokens.cid, tokens.puid)


def test_parse_rst2_response() -> None:
    tokens = parse_rst_response(RST2_OK)
    clear = tokens.get(MESSENGER_CLEAR)
    assert clear is not None and clear.token == "t=two&p=" and clear.binary_secret == "c2Vjb25k"
    assert clear.expires == datetime(2024, 1, 2, 4, 4, 5, tzinfo=UTC)


def test_token_expiry() -> None:
    token = SecurityToken("x", "t=1", expires=datetime(2024, 1, 1, tzinfo=UTC))
    assert token.expired(datetime(2024, 1, 1, tzinfo=UTC))
    assert not token.expired(datetime(2023, 12, 31, 23, tzinfo=UTC))
    assert token.expired(datetime(2023, 12, 31, 23, tzinfo=UTC), margin=timedelta(hours=2))
    assert not SecurityToken("x", "t=1").expired()


AUTH_FAILED_11 = b"""<?xml version="1.0"?>
<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"
   xmlns:wsse="http://schemas.xmlsoap.org/ws/2003/06/secext">
 <S:Fault><faultcode>wsse:FailedAuthentication</faultcode>
  <faultstring>Authentication Failure</faultstring></S:Fault>
</S:Envelope>"""

AUTH_FAILED_12 = b"""<?xml version="1.0"?>
<S:Envelope xmlns:S="http://www.w3.org/2003/05/soap-envelope"
   xmlns:wst="http://schemas.xmlsoap.org/ws/2005/02/trust">
 <S:Body><S:Fault>
  <S:Code><S:Value>S:Sender</S:Value><S:Subcode><S:Value>wst:FailedAuthentication</S:Value>
  </S:Subcode></S:Code>
  <S:Reason><S:Text xml:lang="en-US">Authentication Failure</S:Text></S:Reason>
  <S:Detail><psf:error xmlns:psf="urn:psf"><psf:value>0x80048821</psf:value></psf:error></S:Detail>
 </S:Fault></S:Body>
</S:Envelope>"""

INVALID_REQUEST_12 = AUTH_FAILED_12.replace(b"FailedAuthentication", b"InvalidRequest")


@pytest.mark.parametrize("answer", [AUTH_FAILED_11, AUTH_FAILED_12])
def test_bad_credentials_are_an_auth_error(answer: bytes) -> None:
    with pytest.raises(AuthError) as info:
        parse_rst_response(answer)
    assert info.value.code == 911


def test_other_faults_stay_soap_faults() -> None:
    with pytest.raises(SoapFault) as info:
        parse_rst_response(INVALID_REQUEST_12)
    assert info.value.code == "InvalidRequest"
    assert info.value.text == "Authentication Failure"
    assert info.value.detail["value"] == "0x80048821"


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        b"<html>login</html>",
        b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body/></S:Envelope>',
        b"<!DOCTYPE x [<!ENTITY a 'b'>]><Envelope>&a;</Envelope>",
    ],
)
def test_unusable_answers_are_protocol_errors(answer: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_rst_response(answer)
