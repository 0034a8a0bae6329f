"""SharingService (MSNP13+ membership lists): request builders and answer parsers.

Who may see us (allow), who may not (block), who has us on their list (reverse) and who asks
to (pending) are "memberships" of the Messenger service at ``contacts.msn.com``.
``FindMembership`` fetches them, whole or as changes since the previous answer's
``LastChange``; ``AddMember``/``DeleteMember`` change one role of one member (block,
unblock, accept a pending request). Members are Passport accounts, e-mail members (other
networks, with the network in the ``MSN.IM.BuddyType`` annotation), phone numbers or circles.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from enum import Enum, StrEnum

from .abch import ABCH_NS, ServiceHeader, abch_request, parse_annotations, parse_service_header
from .endpoints import NetworkId
from .soap import SoapRequest, parse_response, soap_bool
from .values import Lists
from .xmlsafe import Element, reads_xml, text

__all__ = [
    "Member",
    "MemberKind",
    "Memberships",
    "Role",
    "add_member",
    "delete_member",
    "find_membership",
    "merge",
    "parse_ack",
    "parse_find_membership",
]

_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_SERVICE_TYPES: Final = ("Messenger", "Invitation", "SocialNetwork", "Space", "Profile")
_BUDDY_TYPE: Final = "MSN.IM.BuddyType"


class Role(StrEnum):
    """A membership role (``MemberRole``) and the classic list it stands for."""

    ALLOW = "Allow"
    BLOCK = "Block"
    REVERSE = "Reverse"
    PENDING = "Pending"

    @property
    def lists(self) -> Lists:
        return _ROLE_LISTS[self]

    @classmethod
    def for_list(cls, lists: Lists) -> Role:
        for role, bit in _ROLE_LISTS.items():
            if bit == lists:
                return role
        raise ValueError(f"no membership role for {lists!r}")


_ROLE_LISTS: Final = {
    Role.ALLOW: Lists.ALLOW,
    Role.BLOCK: Lists.BLOCK,
    Role.REVERSE: Lists.REVERSE,
    Role.PENDING: Lists.PENDING,
}


class MemberKind(Enum):
    PASSPORT = "Passport"
    EMAIL = "Email"
    PHONE = "Phone"
    CIRCLE = "Circle"


_KINDS: Final = {
    "PassportMember": MemberKind.PASSPORT,
    "EmailMember": MemberKind.EMAIL,
    "PhoneMember": MemberKind.PHONE,
    "CircleMember": MemberKind.CIRCLE,
}


@dataclass(frozen=True, slots=True)
class Member:
    """One member of one role. ``address`` is the Passport name, e-mail, phone number or
    circle id, by ``kind``; ``membership_id`` identifies it for ``DeleteMember``."""

    role: Role
    kind: MemberKind
    address: str
    network: NetworkId = NetworkId.WINDOWS_LIVE
    membership_id: str | None = None
    display_name: str = ""
    state: str = "Accepted"
    deleted: bool = False
    last_changed: str | None = None
    cid: str | None = None


@dataclass(frozen=True, slots=True)
class Memberships:
    """A ``FindMembership`` answer; ``last_change`` is the cookie for the next deltas call."""

    members: tuple[Member, ...]
    last_change: str | None
    header: ServiceHeader

    def role(self, role: Role) -> list[Member]:
        """The (not deleted) members of one role."""
        return [m for m in self.members if m.role is role and not m.deleted]


def find_membership(
    ticket: str,
    *,
    last_change: str | None = None,
    cache_key: str | None = None,
    scenario: str = "Initial",
) -> SoapRequest:
    """``FindMembership``: all memberships, or the changes since ``last_change``."""
    types = "".join(f"<ServiceType>{kind}</ServiceType>" for kind in _SERVICE_TYPES)
    deltas = ""
    if last_change is not None:
        deltas = (
            "<View>Full</View><deltasOnly>true</deltasOnly>"
            f"<lastChange>{text(last_change)}</lastChange>"
        )
    body = (
        f'<FindMembership xmlns="{ABCH_NS}"><serviceFilter><Types>{types}</Types>'
        f"</serviceFilter>{deltas}</FindMembership>"
    )
    return abch_request("FindMembership", body, ticket, scenario=scenario, cache_key=cache_key)


def _member_xml(address: str, network: NetworkId, membership_id: str | None) -> str:
    ident = f"<MembershipId>{text(membership_id)}</MembershipId>" if membership_id else ""
    if network is NetworkId.WINDOWS_LIVE:
        return (
            f'<Member xsi:type="PassportMember" xmlns:xsi="{_XSI}">{ident}<Type>Passport</Type>'
            f"<State>Accepted</State><PassportName>{text(address)}</PassportName></Member>"
        )
    return (
        f'<Member xsi:type="EmailMember" xmlns:xsi="{_XSI}">{ident}<Type>Email</Type>'
        f"<State>Accepted</State><Email>{text(address)}</Email><Annotations><Annotation>"
        f"<Name>{_BUDDY_TYPE}</Name><Value>{int(network)}:</Value></Annotation></Annotations>"
        "</Member>"
    )


def _member_action(
    action: str,
    ticket: str,
    role: Role,
    address: str,
    network: NetworkId,
    membership_id: str | None,
    cache_key: str | None,
    scenario: str,
) -> SoapRequest:
    body = (
        f'<{action} xmlns="{ABCH_NS}"><serviceHandle><Id>0</Id><Type>Messenger</Type>'
        "<ForeignId></ForeignId></serviceHandle><memberships><Membership>"
        f"<MemberRole>{role.value}</MemberRole><Members>"
        f"{_member_xml(address, network, membership_id)}</Members></Membership></memberships>"
        f"</{action}>"
    )
    return abch_request(action, body, ticket, scenario=scenario, cache_key=cache_key)


def add_member(
    ticket: str,
    role: Role,
    address: str,
    *,
    network: NetworkId = NetworkId.WINDOWS_LIVE,
    cache_key: str | None = None,
    scenario: str = "BlockUnblock",
) -> SoapRequest:
    """``AddMember``: give ``address`` the role (allow, block...)."""
    return _member_action("AddMember", ticket, role, address, network, None, cache_key, scenario)


def delete_member(
    ticket: str,
    role: Role,
    address: str,
    *,
    network: NetworkId = NetworkId.WINDOWS_LIVE,
    membership_id: str | None = None,
    cache_key: str | None = None,
    scenario: str = "BlockUnblock",
) -> SoapRequest:
    """``DeleteMember``: take the role from ``address`` (named by its ``membership_id`` too
    when known from ``FindMembership``)."""
    return _member_action(
        "DeleteMember", ticket, role, address, network, membership_id, cache_key, scenario
    )


def _member(role: Role, node: Element) -> Member | None:
    kind = _KINDS.get(node.get("type"))
    if kind is None:
        kind = next((k for k in MemberKind if k.value == node.findtext("Type").strip()), None)
    if kind is None:
        return None
    network = NetworkId.WINDOWS_LIVE
    if kind is MemberKind.PASSPORT:
        address = node.findtext("PassportName").strip()
    elif kind is MemberKind.EMAIL:
        address = node.findtext("Email").strip()
        buddy = parse_annotations(node.child("Annotations")).get(_BUDDY_TYPE, "").partition(":")[0]
        try:
            network = NetworkId.parse(buddy.strip()) if buddy.strip() else NetworkId.YAHOO
        except ValueError:
            network = NetworkId.YAHOO
    elif kind is MemberKind.PHONE:
        address, network = node.findtext("PhoneNumber").strip(), NetworkId.TELEPHONE
    else:
        address, network = node.findtext("CircleId").strip(), NetworkId.CIRCLE
    deleted = soap_bool(node.findtext("Deleted"))
    if not address and not deleted:
        return None
    return Member(
        role=role,
        kind=kind,
        address=address,
        network=network,
        membership_id=node.findtext("MembershipId").strip() or None,
        display_name=node.findtext("DisplayName").strip(),
        state=node.findtext("State").strip() or "Accepted",
        deleted=deleted,
        last_changed=node.findtext("LastChanged").strip() or None,
        cid=node.findtext("CID").strip() or None,
    )


@reads_xml
def parse_find_membership(data: bytes) -> Memberships:
    """The members of the Messenger service's roles from a ``FindMembership`` answer."""
    root, response = parse_response(data, "FindMembershipResponse")
    members: list[Member] = []
    last_change: str | None = None
    for service in response.findall("FindMembershipResult/Services/Service"):
        if service.findtext("Info/Handle/Type").strip() not in ("Messenger", ""):
            continue
        last_change = service.findtext("LastChange").strip() or last_change
        for membership in service.findall("Memberships/Membership"):
            try:
                role = Role(membership.findtext("MemberRole").strip())
            except ValueError:
                continue  # roles the bridge has no use for (ProfileExpression...)
            for node in membership.findall("Members/Member"):
                member = _member(role, node)
                if member is not None:
                    members.append(member)
    return Memberships(tuple(members), last_change, parse_service_header(root))


def parse_ack(data: bytes, action: str) -> ServiceHeader:
    """Check an ``AddMember``/``DeleteMember`` answer; its service header."""
    root, _ = parse_response(data, f"{action}Response")
    return parse_service_header(root)


def merge(base: Memberships, delta: Memberships) -> Memberships:
    """``base`` with a deltas-only answer applied: a member is identified by its role, kind
    and address (case-insensitively); deleted ones are dropped."""

    def key(member: Member) -> tuple[Role, MemberKind, str]:
        return member.role, member.kind, member.address.lower()

    members = {key(m): m for m in base.members if not m.deleted}
    for member in delta.members:
        if member.deleted:
            members.pop(key(member), None)
        else:
            members[key(member)] = member
    return Memberships(
        tuple(members.values()), delta.last_change or base.last_change, delta.header
    )
