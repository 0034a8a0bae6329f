"""ABService (the MSNP13+ address book), reading it: ``ABFindAll`` and its typed answer.

The forward list, its groups and the user's own entry ("Me") live in the address book at
``contacts.msn.com``. ``ABFindAll`` fetches it, either whole or, given the ``lastChange`` of
the previous answer, only what changed since (deleted entries then come with ``fDeleted``);
a server may refuse deltas with the ``FullSyncRequired`` fault, after which the client asks
for everything. :mod:`.abedit` changes it. The builder returns a
:class:`~bridge.msnp.soap.SoapRequest` for :func:`bridge.msnp.soap_http.post_soap`; the parser
takes the answer's bytes and returns frozen values.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Mapping
from dataclasses import dataclass, field

from .abch import (
    ABCH_NS,
    ANNOTATION_NICKNAME,
    DEFAULT_AB_ID,
    ServiceHeader,
    ab_id_element,
    abch_request,
    parse_annotations,
    parse_service_header,
)
from .endpoints import NetworkId
from .soap import SoapRequest, parse_response, soap_bool
from .xmlsafe import Element, reads_xml, text

__all__ = [
    "AbContact",
    "AbGroup",
    "AddressBook",
    "find_all",
    "merge",
    "parse_find_all",
]

#: ``lastChange`` of a request that wants everything.
_EPOCH: Final = "0001-01-01T00:00:00.0000000-08:00"
_MAX_GROUP_IDS: Final = 256


@dataclass(frozen=True, slots=True)
class AbContact:
    """An address-book entry. ``email`` is the Passport name (or the messenger e-mail of a
    non-Passport contact; empty for a deleted entry that came without one)."""

    contact_id: str
    email: str
    network: NetworkId = NetworkId.WINDOWS_LIVE
    display_name: str = ""
    contact_type: str = "Regular"
    is_messenger_user: bool = True
    group_ids: tuple[str, ...] = ()
    cid: str | None = None
    deleted: bool = False
    last_change: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def nickname(self) -> str | None:
        """The user's own name for this contact (annotation ``AB.NickName``)."""
        return self.annotations.get(ANNOTATION_NICKNAME) or None


@dataclass(frozen=True, slots=True)
class AbGroup:
    group_id: str
    name: str
    is_favorite: bool = False
    deleted: bool = False
    last_change: str | None = None


@dataclass(frozen=True, slots=True)
class AddressBook:
    """An ``ABFindAll`` answer. ``last_change`` is the opaque cookie to send back for deltas
    (persist it); ``me`` is the user's own entry (its annotations hold MSN.IM.BLP/GTC/MPOP)."""

    contacts: tuple[AbContact, ...]
    groups: tuple[AbGroup, ...]
    me: AbContact | None
    last_change: str | None
    header: ServiceHeader
    created: str | None = None


def find_all(
    ticket: str,
    *,
    last_change: str | None = None,
    cache_key: str | None = None,
    scenario: str = "Initial",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABFindAll``: everything, or only the changes since ``last_change`` when given."""
    deltas = last_change is not None
    body = (
        f'<ABFindAll xmlns="{ABCH_NS}">{ab_id_element(ab_id)}<abView>Full</abView>'
        f"<deltasOnly>{'true' if deltas else 'false'}</deltasOnly>"
        f"<lastChange>{text(last_change or _EPOCH)}</lastChange></ABFindAll>"
    )
    return abch_request("ABFindAll", body, ticket, scenario=scenario, cache_key=cache_key)


def _messenger_email(info: Element) -> tuple[str, NetworkId]:
    passport = info.findtext("passportName").strip()
    if passport:
        return passport, NetworkId.WINDOWS_LIVE
    emails = info.child("emails")
    for entry in emails.children_named("ContactEmail") if emails is not None else ():
        if not soap_bool(entry.findtext("isMessengerEnabled")):
            continue
        address = entry.findtext("email").strip()
        try:
            network = NetworkId.parse(entry.findtext("Capability").strip() or "32")
        except ValueError:
            network = NetworkId.YAHOO
        if address:
            return address, network
    return "", NetworkId.WINDOWS_LIVE


def _contact(node: Element) -> AbContact | None:
    contact_id = node.findtext("contactId").strip()
    if not contact_id:
        return None
    info = node.child("contactInfo")
    deleted = soap_bool(node.findtext("fDeleted"))
    last_change = node.findtext("lastChange").strip() or None
    if info is None:
        return AbContact(contact_id, "", deleted=deleted, last_change=last_change)
    email, network = _messenger_email(info)
    group_node = info.child("groupIds")
    groups = tuple(
        g.text.strip() for g in (group_node.children_named("guid") if group_node else ())
    )[:_MAX_GROUP_IDS]
    messenger_user = info.findtext("isMessengerUser").strip()
    return AbContact(
        contact_id=contact_id,
        email=email,
        network=network,
        display_name=info.findtext("displayName").strip(),
        contact_type=info.findtext("contactType").strip() or "Regular",
        is_messenger_user=soap_bool(messenger_user) if messenger_user else True,
        group_ids=groups,
        cid=info.findtext("CID").strip() or None,
        deleted=deleted,
        last_change=last_change,
        annotations=parse_annotations(info.child("annotations")),
    )


def _group(node: Element) -> AbGroup | None:
    group_id = node.findtext("groupId").strip()
    if not group_id:
        return None
    info = node.child("groupInfo")
    return AbGroup(
        group_id=group_id,
        name=info.findtext("name").strip() if info is not None else "",
        is_favorite=soap_bool(info.findtext("IsFavorite")) if info is not None else False,
        deleted=soap_bool(node.findtext("fDeleted")),
        last_change=node.findtext("lastChange").strip() or None,
    )


@reads_xml
def parse_find_all(data: bytes) -> AddressBook:
    """The ``ABFindAll`` answer (raises the fault, e.g. ``FullSyncRequired``)."""
    root, response = parse_response(data, "ABFindAllResponse")
    result = response.child("ABFindAllResult")
    contacts: list[AbContact] = []
    groups: list[AbGroup] = []
    me: AbContact | None = None
    if result is not None:
        for node in result.findall("contacts/Contact"):
            contact = _contact(node)
            if contact is None:
                continue
            if contact.contact_type == "Me":
                me = contact
            else:
                contacts.append(contact)
        for node in result.findall("groups/Group"):
            group = _group(node)
            if group is not None:
                groups.append(group)
    ab = result.child("ab") if result is not None else None
    last_change = created = None
    if ab is not None:
        created = ab.findtext("createDate").strip() or None
        last_change = ab.findtext("lastChange").strip() or created
    return AddressBook(
        contacts=tuple(contacts),
        groups=tuple(groups),
        me=me,
        last_change=last_change,
        header=parse_service_header(root),
        created=created,
    )


def merge(base: AddressBook, delta: AddressBook) -> AddressBook:
    """``base`` with a deltas-only answer applied: entries by GUID replaced or, when the
    delta marks them deleted, dropped; the delta's cookie, header and "Me" win."""
    contacts = {c.contact_id: c for c in base.contacts if not c.deleted}
    for contact in delta.contacts:
        if contact.deleted:
            contacts.pop(contact.contact_id, None)
        else:
            contacts[contact.contact_id] = contact
    groups = {g.group_id: g for g in base.groups if not g.deleted}
    for group in delta.groups:
        if group.deleted:
            groups.pop(group.group_id, None)
        else:
            groups[group.group_id] = group
    return AddressBook(
        contacts=tuple(contacts.values()),
        groups=tuple(groups.values()),
        me=delta.me or base.me,
        last_change=delta.last_change or base.last_change,
        header=delta.header,
        created=base.created or delta.created,
    )
