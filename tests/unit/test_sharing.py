"""SharingService: FindMembership (full and deltas), AddMember and DeleteMember."""

from __future__ import annotations

import pytest

from bridge.msnp.abch import ABCH_NS
from bridge.msnp.addressbook import parse_find_all
from bridge.msnp.adl import ListEntry, build_ml, list_entries
from bridge.msnp.endpoints import NetworkId
from bridge.msnp.errors import ProtocolError
from bridge.msnp.sharing import (
    Member,
    MemberKind,
    Role,
    add_member,
    delete_member,
    find_membership,
    merge,
    parse_ack,
    parse_find_membership,
)
from bridge.msnp.values import Lists
from bridge.msnp.xmlsafe import parse_xml
from tests.unit.test_addressbook import FIND_ALL

TICKET = "t=T&p=P"


def test_find_membership_request() -> None:
    request = find_membership(TICKET)
    assert request.action == f"{ABCH_NS}/FindMembership"
    body = parse_xml(request.body).findall("Body/FindMembership")[0]
    assert [t.text for t in body.findall("serviceFilter/Types/ServiceType")] == [
        "Messenger",
        "Invitation",
        "SocialNetwork",
        "Space",
        "Profile",
    ]
    assert body.child("deltasOnly") is None

    body = parse_xml(find_membership(TICKET, last_change="2024-01-01T00:00:00Z").body)
    node = body.findall("Body/FindMembership")[0]
    assert node.findtext("deltasOnly") == "true"
    assert node.findtext("View") == "Full"
    assert node.findtext("lastChange") == "2024-01-01T00:00:00Z"


def test_member_requests() -> None:
    root = parse_xml(add_member(TICKET, Role.BLOCK, "bob@example.com").body)
    add = root.findall("Body/AddMember")[0]
    assert add.findtext("serviceHandle/Type") == "Messenger"
    membership = add.find("memberships/Membership")
    assert membership is not None and membership.findtext("MemberRole") == "Block"
    member = membership.find("Members/Member")
    assert member is not None
    assert member.get("type") == "PassportMember"
    assert (member.findtext("Type"), member.findtext("State")) == ("Passport", "Accepted")
    assert member.findtext("PassportName") == "bob@example.com"
    assert member.child("MembershipId") is None

    root = parse_xml(
        delete_member(
            TICKET, Role.PENDING, "yo@yahoo.com", network=NetworkId.YAHOO, membership_id="42"
        ).body
    )
    member = root.findall("Body/DeleteMember")[0].find("memberships/Membership/Members/Member")
    assert member is not None
    assert member.get("type") == "EmailMember"
    assert (member.findtext("Email"), member.findtext("MembershipId")) == ("yo@yahoo.com", "42")
    assert member.findtext("Annotations/Annotation/Name") == "MSN.IM.BuddyType"
    assert member.findtext("Annotations/Annotation/Value") == "32:"


def test_roles_and_lists() -> None:
    assert Role.ALLOW.lists is Lists.ALLOW and Role.PENDING.lists is Lists.PENDING
    assert Role.for_list(Lists.BLOCK) is Role.BLOCK
    with pytest.raises(ValueError):
        Role.for_list(Lists.FORWARD)


FIND_MEMBERSHIP = b"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soap:Header><ServiceHeader xmlns="http://www.msn.com/webservices/AddressBook">
  <CacheKey>12r1:MK</CacheKey></ServiceHeader></soap:Header>
 <soap:Body>
  <FindMembershipResponse xmlns="http://www.msn.com/webservices/AddressBook">
   <FindMembershipResult><Services>
    <Service>
     <Memberships>
      <Membership><MemberRole>Allow</MemberRole><Members>
       <Member xsi:type="PassportMember"><MembershipId>101</MembershipId><Type>Passport</Type>
        <State>Accepted</State><Deleted>false</Deleted><LastChanged>2024-01-01T00:00:00Z</LastChanged>
        <PassportName>bob@example.com</PassportName><CID>77</CID></Member>
       <Member xsi:type="EmailMember"><MembershipId>102</MembershipId><Type>Email</Type>
        <State>Accepted</State><Email>yo@yahoo.com</Email>
        <Annotations><Annotation><Name>MSN.IM.BuddyType</Name><Value>32:</Value></Annotation>
        </Annotations></Member>
      </Members></Membership>
      <Membership><MemberRole>Block</MemberRole><Members>
       <Member xsi:type="PassportMember"><MembershipId>103</MembershipId><Type>Passport</Type>
        <State>Accepted</State><Deleted>true</Deleted><PassportName>eve@example.com</PassportName>
       </Member>
       <Member xsi:type="CircleMember"><Type>Circle</Type><State>Accepted</State>
        <CircleId>00000000-0000-0000-0009-000000000001</CircleId></Member>
      </Members></Membership>
      <Membership><MemberRole>Reverse</MemberRole><Members>
       <Member xsi:type="PassportMember"><Type>Passport</Type><State>Accepted</State>
        <PassportName>bob@example.com</PassportName><DisplayName>Bob</DisplayName></Member>
       <Member xsi:type="WeirdMember"><Type>Weird</Type><PassportName>x@y.z</PassportName></Member>
       <Member xsi:type="PassportMember"><Type>Passport</Type></Member>
      </Members></Membership>
      <Membership><MemberRole>Pending</MemberRole><Members>
       <Member xsi:type="PassportMember"><Type>Passport</Type><State>Pending</State>
        <PassportName>new@example.com</PassportName><DisplayName>Newbie</DisplayName></Member>
       <Member xsi:type="PhoneMember"><Type>Phone</Type><PhoneNumber>+15551234</PhoneNumber></Member>
      </Members></Membership>
      <Membership><MemberRole>ProfileExpression</MemberRole><Members>
       <Member xsi:type="PassportMember"><PassportName>p@x.y</PassportName></Member>
      </Members></Membership>
     </Memberships>
     <Info><Handle><Id>1</Id><Type>Messenger</Type></Handle></Info>
     <LastChange>2024-03-04T05:06:07.89-08:00</LastChange>
    </Service>
    <Service>
     <Memberships><Membership><MemberRole>Allow</MemberRole><Members>
      <Member xsi:type="PassportMember"><PassportName>space@x.y</PassportName></Member>
     </Members></Membership></Memberships>
     <Info><Handle><Id>2</Id><Type>Space</Type></Handle></Info>
     <LastChange>1999-01-01T00:00:00Z</LastChange>
    </Service>
   </Services></FindMembershipResult>
  </FindMembershipResponse>
 </soap:Body>
</soap:Envelope>"""


def test_parse_find_membership() -> None:
    result = parse_find_membership(FIND_MEMBERSHIP)
    assert result.last_change == "2024-03-04T05:06:07.89-08:00"
    assert result.header.cache_key == "12r1:MK"
    assert result.role(Role.ALLOW) == [
        Member(
            Role.ALLOW,
            MemberKind.PASSPORT,
            "bob@example.com",
            membership_id="101",
            last_changed="2024-01-01T00:00:00Z",
            cid="77",
        ),
        Member(Role.ALLOW, MemberKind.EMAIL, "yo@yahoo.com", NetworkId.YAHOO, membership_id="102"),
    ]
    blocked = [m for m in result.members if m.role is Role.BLOCK]
    assert [(m.address, m.deleted, m.kind) for m in blocked] == [
        ("eve@example.com", True, MemberKind.PASSPORT),
        ("00000000-0000-0000-0009-000000000001", False, MemberKind.CIRCLE),
    ]
    assert [m.address for m in result.role(Role.BLOCK)] == ["00000000-0000-0000-0009-000000000001"]
    assert [(m.address, m.display_name) for m in result.role(Role.REVERSE)] == [
        ("bob@example.com", "Bob")
    ]
    pending = result.role(Role.PENDING)
    assert [(m.address, m.state, m.network) for m in pending] == [
        ("new@example.com", "Pending", NetworkId.WINDOWS_LIVE),
        ("+15551234", "Accepted", NetworkId.TELEPHONE),
    ]
    assert all(m.address != "space@x.y" and m.address != "p@x.y" for m in result.members)


def test_acks_and_errors() -> None:
    answer = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<AddMemberResponse xmlns="http://www.msn.com/webservices/AddressBook"/>'
        b"</soap:Body></soap:Envelope>"
    )
    assert parse_ack(answer, "AddMember").cache_key is None
    with pytest.raises(ProtocolError):
        parse_ack(answer, "DeleteMember")
    with pytest.raises(ProtocolError):
        parse_find_membership(answer)


def test_merge_deltas() -> None:
    delta = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Body>'
        b'<FindMembershipResponse xmlns="http://www.msn.com/webservices/AddressBook">'
        b"<FindMembershipResult><Services><Service><Memberships>"
        b"<Membership><MemberRole>Allow</MemberRole><Members>"
        b'<Member xsi:type="PassportMember"><Deleted>true</Deleted>'
        b"<PassportName>BOB@example.com</PassportName></Member>"
        b'<Member xsi:type="PassportMember"><PassportName>new@example.com</PassportName></Member>'
        b"</Members></Membership></Memberships><Info><Handle><Type>Messenger</Type></Handle>"
        b"</Info><LastChange>2025-01-01T00:00:00Z</LastChange></Service></Services>"
        b"</FindMembershipResult></FindMembershipResponse></soap:Body></soap:Envelope>"
    )
    merged = merge(parse_find_membership(FIND_MEMBERSHIP), parse_find_membership(delta))
    assert [m.address for m in merged.role(Role.ALLOW)] == ["yo@yahoo.com", "new@example.com"]
    assert [m.address for m in merged.role(Role.REVERSE)] == ["bob@example.com"]
    assert all(not m.deleted for m in merged.members)
    assert merged.last_change == "2025-01-01T00:00:00Z"


def test_list_entries_for_the_initial_adl() -> None:
    entries = list_entries(parse_find_all(FIND_ALL), parse_find_membership(FIND_MEMBERSHIP))
    FL, AL, RL, PL = Lists.FORWARD, Lists.ALLOW, Lists.REVERSE, Lists.PENDING
    assert entries == [
        ListEntry("bob@example.com", FL | AL | RL, NetworkId.WINDOWS_LIVE, "Bob <3"),
        # yo@yahoo.com is in the address book but not a messenger user: allow list only
        ListEntry("yo@yahoo.com", AL, NetworkId.YAHOO),
        ListEntry("new@example.com", PL, NetworkId.WINDOWS_LIVE, "Newbie"),
    ]
    assert build_ml(entries, initial=True) == [
        b'<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/></d>'
        b'<d n="yahoo.com"><c n="yo" l="2" t="32"/></d></ml>'
    ]
