"""SOAP envelopes and faults (1.1 and 1.2, in the body or straight under the envelope)."""

from __future__ import annotations

import pytest

from bridge.msnp.errors import ProtocolError, SoapFault
from bridge.msnp.soap import SoapRequest, envelope, fault_from, parse_envelope, parse_response
from bridge.msnp.xmlsafe import parse_xml

AB_FAULT = b"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
 <soap:Body><soap:Fault>
  <faultcode>soap:Client</faultcode>
  <faultstring>Full sync required.</faultstring>
  <faultactor>http://www.msn.com/webservices/AddressBook/ABFindAll</faultactor>
  <detail>
   <errorcode xmlns="http://www.msn.com/webservices/AddressBook">FullSyncRequired</errorcode>
   <errorstring xmlns="http://www.msn.com/webservices/AddressBook">Full sync required.</errorstring>
   <additionalDetails><originalExceptionErrorMessage>x</originalExceptionErrorMessage>
   </additionalDetails>
  </detail>
 </soap:Fault></soap:Body>
</soap:Envelope>"""

OIM_FAULT = b"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
 <soap:Body><soap:Fault>
  <faultcode xmlns:q0="http://messenger.msn.com/ws/2004/09/oim/">q0:AuthenticationFailed</faultcode>
  <faultstring>Exception of type SoapException was thrown.</faultstring>
  <detail>
   <TweenerChallenge xmlns="http://messenger.msn.com/ws/2004/09/oim/">ct=1,rver=1</TweenerChallenge>
   <LockKeyChallenge xmlns="http://messenger.msn.com/ws/2004/09/oim/">72292454</LockKeyChallenge>
  </detail>
 </soap:Fault></soap:Body>
</soap:Envelope>"""


def test_soap11_fault_with_error_code() -> None:
    fault = fault_from(parse_envelope(AB_FAULT), status=500)
    assert fault is not None
    assert fault.code == "Client"
    assert fault.error_code == "FullSyncRequired"
    assert fault.text == "Full sync required."
    assert fault.status == 500
    assert fault.detail["originalExceptionErrorMessage"] == "x"
    assert "FullSyncRequired" in str(fault)


def test_fault_detail_challenges() -> None:
    fault = fault_from(parse_envelope(OIM_FAULT))
    assert fault is not None
    assert fault.code == "AuthenticationFailed"
    assert fault.detail == {"TweenerChallenge": "ct=1,rver=1", "LockKeyChallenge": "72292454"}


def test_fault_detail_is_bounded() -> None:
    many = b"".join(b"<d%d>v</d%d>" % (i, i) for i in range(200))
    doc = (
        b'<E:Envelope xmlns:E="http://schemas.xmlsoap.org/soap/envelope/"><E:Body><E:Fault>'
        b"<faultcode>x</faultcode><detail>" + many + b"</detail></E:Fault></E:Body></E:Envelope>"
    )
    fault = fault_from(parse_envelope(doc))
    assert fault is not None and len(fault.detail) == 32


def test_fault_detail_holds_the_details_not_the_detail_element() -> None:
    doc = (
        b'<E:Envelope xmlns:E="http://schemas.xmlsoap.org/soap/envelope/"><E:Body><E:Fault>'
        b"<faultcode>x</faultcode><detail>only text</detail></E:Fault></E:Body></E:Envelope>"
    )
    fault = fault_from(parse_envelope(doc))
    assert fault is not None and fault.detail == {} and fault.error_code == ""


def test_parse_response() -> None:
    doc = envelope("<H/>", '<FooResponse xmlns="urn:x"><FooResult>1</FooResult></FooResponse>')
    root, body = parse_response(doc, "FooResponse")
    assert body.findtext("FooResult") == "1"
    assert root.find("Header/H") is not None
    with pytest.raises(ProtocolError, match="expected BarResponse"):
        parse_response(doc, "BarResponse")
    with pytest.raises(SoapFault) as info:
        parse_response(AB_FAULT, "ABFindAllResponse")
    assert info.value.error_code == "FullSyncRequired"
    with pytest.raises(ProtocolError):
        parse_response(b"<notsoap/>", "X")
    with pytest.raises(ProtocolError):
        parse_response(envelope("", ""), "X")


def test_envelope_is_well_formed_and_request_repr_hides_body() -> None:
    root = parse_xml(envelope("", "<x>secret</x>"))
    assert root.name == "Envelope" and root.findtext("Body/x") == "secret"
    request = SoapRequest("urn:a", envelope("", "<x>secret</x>"))
    assert "secret" not in repr(request)


@pytest.mark.parametrize(
    ("action", "repeatable"),
    [
        ("http://www.msn.com/webservices/AddressBook/ABFindAll", True),
        ("http://www.msn.com/webservices/AddressBook/ABFindContactsPaged", True),
        ("http://www.msn.com/webservices/AddressBook/FindMembership", True),
        ("http://www.hotmail.msn.com/ws/2004/09/oim/rsi/GetMetadata", True),
        ("http://www.hotmail.msn.com/ws/2004/09/oim/rsi/GetMessage", True),
        (None, True),  # Passport's token request
        ("http://www.msn.com/webservices/AddressBook/ABContactAdd", False),
        ("http://www.msn.com/webservices/AddressBook/ABGroupContactDelete", False),
        ("http://www.msn.com/webservices/AddressBook/AddMember", False),
        ("http://www.hotmail.msn.com/ws/2004/09/oim/rsi/DeleteMessages", False),
        ("http://messenger.live.com/ws/2006/09/oim/Store2", False),
        ("ABFindAllAndDeleteEverything", False),  # the whole name counts, not a prefix
    ],
)
def test_only_reads_may_be_sent_again(action: str | None, repeatable: bool) -> None:
    assert SoapRequest(action, b"<x/>").repeatable is repeatable
