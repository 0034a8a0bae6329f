"""ABService: ABFindAll (full and deltas) and the ABContact*/ABGroup* actions."""

from __future__ import annotations

import pytest

from bridge.msnp import abedit
from bridge.msnp.abch import ABCH_NS, FULL_SYNC_REQUIRED
from bridge.msnp.addressbook import AbContact, AbGroup, find_all, merge, parse_find_all
from bridge.msnp.endpoints import NetworkId
from bridge.msnp.errors import LocalProtocolError, ProtocolError, SoapFault
from bridge.msnp.soap import SoapRequest
from bridge.msnp.xmlsafe import Element, parse_xml

TICKET = "t=AB+/cd&p=xy"


def _parts(request: SoapRequest, action: str) -> tuple[Element, Element]:
    assert request.action == f"{ABCH_NS}/{action}"
    root = parse_xml(request.body)
    header = root.child("Header")
    assert header is not None
    assert header.findtext("ABAuthHeader/TicketToken") == TICKET
    assert header.findtext("ABApplicationHeader/ApplicationId")
    body = root.findall("Body/" + action)
    assert len(body) == 1 and body[0].ns == ABCH_NS
    return header, body[0]


def test_find_all_full_and_deltas() -> None:
    header, body = _parts(find_all(TICKET), "ABFindAll")
    assert body.findtext("abId") == "00000000-0000-0000-0000-000000000000"
    assert body.findtext("abView") == "Full"
    assert body.findtext("deltasOnly") == "false"
    assert header.findtext("ABApplicationHeader/PartnerScenario") == "Initial"
    assert header.find("ABApplicationHeader/CacheKey") is None

    header, body = _parts(
        find_all(TICKET, last_change="2024-01-02T03:04:05.123-08:00", cache_key="12r1:k&y"),
        "ABFindAll",
    )
    assert body.findtext("deltasOnly") == "true"
    assert body.findtext("lastChange") == "2024-01-02T03:04:05.123-08:00"
    assert header.findtext("ABApplicationHeader/CacheKey") == "12r1:k&y"


FIND_ALL = b"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soap:Header>
  <ServiceHeader xmlns="http://www.msn.com/webservices/AddressBook">
   <Version>15.01.1408.0000</Version><CacheKey>12r1:NEXTKEY</CacheKey>
   <CacheKeyChanged>true</CacheKeyChanged><PreferredHostName>byrdr.omega.contacts.msn.com</PreferredHostName>
   <SessionId>abc</SessionId>
  </ServiceHeader>
 </soap:Header>
 <soap:Body>
  <ABFindAllResponse xmlns="http://www.msn.com/webservices/AddressBook">
   <ABFindAllResult>
    <groups>
     <Group><groupId>11111111-2222-3333-4444-555555555555</groupId>
      <groupInfo><name>Friends &amp; Family</name><IsFavorite>true</IsFavorite></groupInfo>
      <fDeleted>false</fDeleted><lastChange>2024-01-01T00:00:00Z</lastChange></Group>
     <Group><groupId>66666666-2222-3333-4444-555555555555</groupId>
      <groupInfo><name>Work</name></groupInfo><fDeleted>true</fDeleted></Group>
     <Group><groupInfo><name>no id</name></groupInfo></Group>
    </groups>
    <contacts>
     <Contact><contactId>aaaaaaaa-0000-0000-0000-000000000001</contactId>
      <contactInfo>
       <annotations><Annotation><Name>AB.NickName</Name><Value>Bobby</Value></Annotation>
        <Annotation><Name>AB.NickName</Name><Value>second ignored</Value></Annotation></annotations>
       <contactType>Regular</contactType><quickName>Bob</quickName>
       <passportName>bob@example.com</passportName><displayName>Bob &lt;3</displayName>
       <groupIds><guid>11111111-2222-3333-4444-555555555555</guid></groupIds>
       <CID>-123456789</CID><isMessengerUser>true</isMessengerUser>
      </contactInfo>
      <fDeleted>false</fDeleted><lastChange>2024-01-01T00:00:00Z</lastChange></Contact>
     <Contact><contactId>aaaaaaaa-0000-0000-0000-000000000002</contactId>
      <contactInfo>
       <emails>
        <ContactEmail><contactEmailType>ContactEmailPersonal</contactEmailType>
         <email>home@yahoo.com</email><isMessengerEnabled>false</isMessengerEnabled></ContactEmail>
        <ContactEmail><contactEmailType>Messenger2</contactEmailType><email>yo@yahoo.com</email>
         <isMessengerEnabled>true</isMessengerEnabled><Capability>32</Capability></ContactEmail>
       </emails>
       <contactType>Regular</contactType><displayName>Yo</displayName>
       <isMessengerUser>false</isMessengerUser>
      </contactInfo></Contact>
     <Contact><contactId>aaaaaaaa-0000-0000-0000-000000000003</contactId>
      <fDeleted>true</fDeleted></Contact>
     <Contact><contactId>aaaaaaaa-0000-0000-0000-0000000000ff</contactId>
      <contactInfo>
       <annotations><Annotation><Name>MSN.IM.BLP</Name><Value>1</Value></Annotation>
        <Annotation><Name>MSN.IM.MPOP</Name><Value>1</Value></Annotation></annotations>
       <contactType>Me</contactType><passportName>me@example.com</passportName>
       <displayName>It's me</displayName>
      </contactInfo></Contact>
    </contacts>
    <ab><abId>00000000-0000-0000-0000-000000000000</abId>
     <lastChange>2024-02-03T04:05:06.789-08:00</lastChange>
     <createDate>2020-01-01T00:00:00Z</createDate></ab>
   </ABFindAllResult>
  </ABFindAllResponse>
 </soap:Body>
</soap:Envelope>"""


def test_parse_find_all() -> None:
    book = parse_find_all(FIND_ALL)
    assert book.last_change == "2024-02-03T04:05:06.789-08:00"
    assert book.created == "2020-01-01T00:00:00Z"
    assert book.header.cache_key == "12r1:NEXTKEY"
    assert book.header.cache_key_changed
    assert book.header.preferred_host == "byrdr.omega.contacts.msn.com"
    assert "NEXTKEY" not in repr(book.header)
    assert book.groups == (
        AbGroup(
            "11111111-2222-3333-4444-555555555555",
            "Friends & Family",
            is_favorite=True,
            last_change="2024-01-01T00:00:00Z",
        ),
        AbGroup("66666666-2222-3333-4444-555555555555", "Work", deleted=True),
    )
    bob, yo, gone = book.contacts
    assert bob == AbContact(
        contact_id="aaaaaaaa-0000-0000-0000-000000000001",
        email="bob@example.com",
        display_name="Bob <3",
        group_ids=("11111111-2222-3333-4444-555555555555",),
        cid="-123456789",
        last_change="2024-01-01T00:00:00Z",
        annotations={"AB.NickName": "Bobby"},
    )
    assert bob.nickname == "Bobby"
    assert (yo.email, yo.network, yo.is_messenger_user, yo.nickname) == (
        "yo@yahoo.com",
        NetworkId.YAHOO,
        False,
        None,
    )
    assert gone.deleted and gone.email == ""
    assert book.me is not None
    assert (book.me.email, book.me.display_name) == ("me@example.com", "It's me")
    assert book.me.annotations == {"MSN.IM.BLP": "1", "MSN.IM.MPOP": "1"}


def test_full_sync_required_fault() -> None:
    fault = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>Full sync required</faultstring>"
        b'<detail><errorcode xmlns="http://www.msn.com/webservices/AddressBook">FullSyncRequired'
        b"</errorcode></detail></soap:Fault></soap:Body></soap:Envelope>"
    )
    with pytest.raises(SoapFault) as info:
        parse_find_all(fault)
    assert info.value.error_code == FULL_SYNC_REQUIRED


def test_empty_and_wrong_answers() -> None:
    empty = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<ABFindAllResponse xmlns="http://www.msn.com/webservices/AddressBook"/>'
        b"</soap:Body></soap:Envelope>"
    )
    book = parse_find_all(empty)
    assert (book.contacts, book.groups, book.me, book.last_change) == ((), (), None, None)
    with pytest.raises(ProtocolError):
        parse_find_all(empty.replace(b"ABFindAllResponse", b"ABGroupAddResponse"))


# --- changes ---------------------------------------------------------------------------------


def test_contact_add_passport_and_yahoo() -> None:
    header, body = _parts(
        abedit.contact_add(TICKET, "new@example.com", display_name="N & M"), "ABContactAdd"
    )
    assert header.findtext("ABApplicationHeader/PartnerScenario") == "ContactSave"
    info = body.find("contacts/Contact/contactInfo")
    assert info is not None
    assert info.findtext("passportName") == "new@example.com"
    assert info.findtext("contactType") == "LivePending"
    assert info.findtext("isMessengerUser") == "true"
    assert info.findtext("MessengerMemberInfo/DisplayName") == "N & M"
    assert body.findtext("options/EnableAllowListManagement") == "true"

    _, body = _parts(
        abedit.contact_add(TICKET, "yo@yahoo.com", network=NetworkId.YAHOO), "ABContactAdd"
    )
    email = body.find("contacts/Contact/contactInfo/emails/ContactEmail")
    assert email is not None
    assert (email.findtext("email"), email.findtext("Capability")) == ("yo@yahoo.com", "32")
    assert body.find("contacts/Contact/contactInfo/passportName") is None


def test_contact_delete_and_update() -> None:
    _, body = _parts(abedit.contact_delete(TICKET, ["c1", "c2"]), "ABContactDelete")
    assert [c.findtext("contactId") for c in body.findall("contacts/Contact")] == ["c1", "c2"]
    with pytest.raises(LocalProtocolError):
        abedit.contact_delete(TICKET, [])

    _, body = _parts(abedit.contact_update(TICKET, "c1", nickname="Bobby <3"), "ABContactUpdate")
    contact = body.find("contacts/Contact")
    assert contact is not None
    assert contact.findtext("contactId") == "c1"
    assert contact.findtext("propertiesChanged") == "Annotation"
    annotation = contact.find("contactInfo/annotations/Annotation")
    assert annotation is not None
    assert (annotation.findtext("Name"), annotation.findtext("Value")) == (
        "AB.NickName",
        "Bobby <3",
    )

    _, body = _parts(
        abedit.contact_update(TICKET, None, display_name="Me!", annotations={"MSN.IM.MPOP": "1"}),
        "ABContactUpdate",
    )
    contact = body.find("contacts/Contact")
    assert contact is not None and contact.child("contactId") is None
    assert contact.findtext("contactInfo/contactType") == "Me"
    assert contact.findtext("contactInfo/displayName") == "Me!"
    assert contact.findtext("propertiesChanged") == "DisplayName Annotation"
    notes = contact.findall("contactInfo/annotations/Annotation")
    assert [(n.findtext("Name"), n.findtext("Value")) for n in notes] == [("MSN.IM.MPOP", "1")]

    _, body = _parts(
        abedit.contact_update(TICKET, "c1", is_messenger_user=False), "ABContactUpdate"
    )
    assert body.findtext("contacts/Contact/contactInfo/isMessengerUser") == "false"
    assert body.findtext("contacts/Contact/propertiesChanged") == "IsMessengerUser"
    with pytest.raises(LocalProtocolError):
        abedit.contact_update(TICKET, "c1")
    with pytest.raises(LocalProtocolError):
        abedit.contact_update(TICKET, None, is_messenger_user=True)


def test_group_actions() -> None:
    header, body = _parts(abedit.group_add(TICKET, "Best <friends>"), "ABGroupAdd")
    assert header.findtext("ABApplicationHeader/PartnerScenario") == "GroupSave"
    assert body.findtext("groupInfo/GroupInfo/name") == "Best <friends>"
    assert body.findtext("groupInfo/GroupInfo/groupType").lower() == (
        "c8529ce2-6ead-434d-881f-341e17db3ff8"
    )
    _, body = _parts(abedit.group_delete(TICKET, ["g1"]), "ABGroupDelete")
    assert [g.text for g in body.findall("groupFilter/groupIds/guid")] == ["g1"]
    _, body = _parts(abedit.group_update(TICKET, "g1", "Renamed"), "ABGroupUpdate")
    assert body.findtext("groups/Group/groupId") == "g1"
    assert body.findtext("groups/Group/groupInfo/name") == "Renamed"
    assert body.findtext("groups/Group/propertiesChanged") == "GroupName"
    for build, action in (
        (abedit.group_contact_add, "ABGroupContactAdd"),
        (abedit.group_contact_delete, "ABGroupContactDelete"),
    ):
        _, body = _parts(build(TICKET, "g1", ["c1", "c2"]), action)
        assert [g.text for g in body.findall("groupFilter/groupIds/guid")] == ["g1"]
        assert [c.findtext("contactId") for c in body.findall("contacts/Contact")] == ["c1", "c2"]
    with pytest.raises(LocalProtocolError):
        abedit.group_delete(TICKET, [])


def _answer(action: str, result: str = "") -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
        f'<ServiceHeader xmlns="{ABCH_NS}"><CacheKey>12r1:K</CacheKey></ServiceHeader>'
        f'</soap:Header><soap:Body><{action}Response xmlns="{ABCH_NS}">{result}'
        f"</{action}Response></soap:Body></soap:Envelope>"
    ).encode()


def test_change_answers() -> None:
    created = abedit.parse_contact_add(
        _answer("ABContactAdd", "<ABContactAddResult><guid>c-new</guid></ABContactAddResult>")
    )
    assert (created.guid, created.header.cache_key) == ("c-new", "12r1:K")
    group = abedit.parse_group_add(
        _answer("ABGroupAdd", "<ABGroupAddResult><guid>g-new</guid></ABGroupAddResult>")
    )
    assert group.guid == "g-new"
    with pytest.raises(ProtocolError):
        abedit.parse_contact_add(_answer("ABContactAdd"))
    assert abedit.parse_ack(_answer("ABGroupDelete"), "ABGroupDelete").cache_key == "12r1:K"
    with pytest.raises(ProtocolError):
        abedit.parse_ack(_answer("ABGroupDelete"), "ABContactDelete")


def _delta_answer() -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
        f'<ServiceHeader xmlns="{ABCH_NS}"><CacheKey>12r1:DELTA</CacheKey></ServiceHeader>'
        f'</soap:Header><soap:Body><ABFindAllResponse xmlns="{ABCH_NS}"><ABFindAllResult>'
        "<groups><Group><groupId>66666666-2222-3333-4444-555555555555</groupId>"
        "<groupInfo><name>Work again</name></groupInfo><fDeleted>false</fDeleted></Group>"
        "<Group><groupId>11111111-2222-3333-4444-555555555555</groupId><fDeleted>true</fDeleted>"
        "</Group></groups><contacts>"
        "<Contact><contactId>aaaaaaaa-0000-0000-0000-000000000001</contactId>"
        "<fDeleted>true</fDeleted></Contact>"
        "<Contact><contactId>aaaaaaaa-0000-0000-0000-000000000002</contactId><contactInfo>"
        "<passportName>yo@yahoo.com</passportName><displayName>Renamed</displayName>"
        "</contactInfo></Contact>"
        "<Contact><contactId>aaaaaaaa-0000-0000-0000-000000000004</contactId><contactInfo>"
        "<passportName>new@example.com</passportName></contactInfo></Contact>"
        "</contacts><ab><lastChange>2024-09-09T09:09:09Z</lastChange></ab>"
        "</ABFindAllResult></ABFindAllResponse></soap:Body></soap:Envelope>"
    ).encode()


def test_merge_deltas() -> None:
    merged = merge(parse_find_all(FIND_ALL), parse_find_all(_delta_answer()))
    assert [(c.contact_id[-1], c.email, c.display_name) for c in merged.contacts] == [
        ("2", "yo@yahoo.com", "Renamed"),
        ("4", "new@example.com", ""),
    ]
    assert [(g.group_id[0], g.name) for g in merged.groups] == [("6", "Work again")]
    assert merged.last_change == "2024-09-09T09:09:09Z"
    assert merged.header.cache_key == "12r1:DELTA"
    assert merged.me is not None and merged.me.email == "me@example.com"
    assert merged.created == "2020-01-01T00:00:00Z"
