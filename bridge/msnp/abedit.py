"""ABService (the MSNP13+ address book), changing it: the ``ABContact*``/``ABGroup*`` actions.

Adding a contact (``ABContactAdd``, which also lets the service manage the allow list) gives
back its contact GUID; deleting, updating (nickname annotation, messenger flag, the user's own
display name), and the group actions (create, rename, delete, add or remove members) answer
with nothing but the service header. Builders return a :class:`~bridge.msnp.soap.SoapRequest`;
:func:`parse_created` and :func:`parse_ack` check the answers and raise their faults.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .abch import (
    ABCH_NS,
    ANNOTATION_NICKNAME,
    DEFAULT_AB_ID,
    ServiceHeader,
    ab_id_element,
    abch_request,
    parse_service_header,
)
from .endpoints import NetworkId
from .errors import LocalProtocolError, RemoteProtocolError
from .soap import SoapRequest, parse_response
from .xmlsafe import text

__all__ = [
    "Created",
    "contact_add",
    "contact_delete",
    "contact_update",
    "group_add",
    "group_contact_add",
    "group_contact_delete",
    "group_delete",
    "group_update",
    "parse_ack",
    "parse_contact_add",
    "parse_group_add",
]

#: ``groupType`` of an ordinary contact group.
_GROUP_TYPE: Final = "C8529CE2-6EAD-434d-881F-341E17DB3FF8"


@dataclass(frozen=True, slots=True)
class Created:
    """The GUID of what ``ABContactAdd``/``ABGroupAdd`` created."""

    guid: str
    header: ServiceHeader


def _contact_info(email: str, network: NetworkId, display_name: str | None) -> str:
    if network is NetworkId.WINDOWS_LIVE:
        who = (
            f"<contactType>LivePending</contactType><passportName>{text(email)}</passportName>"
            "<isMessengerUser>true</isMessengerUser>"
        )
    else:
        who = (
            "<emails><ContactEmail><contactEmailType>Messenger2</contactEmailType>"
            f"<email>{text(email)}</email><isMessengerEnabled>true</isMessengerEnabled>"
            f"<Capability>{int(network)}</Capability>"
            "<MessengerEnabledExternally>false</MessengerEnabledExternally>"
            "<propertiesChanged/></ContactEmail></emails>"
        )
    member = (
        f"<MessengerMemberInfo><DisplayName>{text(display_name)}</DisplayName>"
        "</MessengerMemberInfo>"
        if display_name
        else ""
    )
    return f"<contactInfo>{who}{member}</contactInfo>"


def contact_add(
    ticket: str,
    email: str,
    *,
    network: NetworkId = NetworkId.WINDOWS_LIVE,
    display_name: str | None = None,
    cache_key: str | None = None,
    scenario: str = "ContactSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABContactAdd``: put ``email`` in the address book (the forward list) and let the
    service manage the allow list for it."""
    body = (
        f'<ABContactAdd xmlns="{ABCH_NS}">{ab_id_element(ab_id)}<contacts>'
        f'<Contact xmlns="{ABCH_NS}">{_contact_info(email, network, display_name)}</Contact>'
        "</contacts><options><EnableAllowListManagement>true</EnableAllowListManagement>"
        "</options></ABContactAdd>"
    )
    return abch_request("ABContactAdd", body, ticket, scenario=scenario, cache_key=cache_key)


def _contact_ids(contact_ids: Iterable[str]) -> str:
    ids = [f"<Contact><contactId>{text(cid)}</contactId></Contact>" for cid in contact_ids]
    if not ids:
        raise LocalProtocolError("no contact ids given")
    return "<contacts>" + "".join(ids) + "</contacts>"


def contact_delete(
    ticket: str,
    contact_ids: Iterable[str],
    *,
    cache_key: str | None = None,
    scenario: str = "Timer",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABContactDelete``: remove entries (by contact GUID) from the address book."""
    body = (
        f'<ABContactDelete xmlns="{ABCH_NS}">{ab_id_element(ab_id)}'
        f"{_contact_ids(contact_ids)}</ABContactDelete>"
    )
    return abch_request("ABContactDelete", body, ticket, scenario=scenario, cache_key=cache_key)


def contact_update(
    ticket: str,
    contact_id: str | None,
    *,
    display_name: str | None = None,
    nickname: str | None = None,
    is_messenger_user: bool | None = None,
    annotations: Mapping[str, str] | None = None,
    cache_key: str | None = None,
    scenario: str = "ContactSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABContactUpdate`` of one entry; ``contact_id=None`` updates the user's own entry
    ("Me": its display name and annotations such as ``MSN.IM.MPOP``).

    Only the given properties change (``propertiesChanged`` lists them); ``nickname=""``
    clears the nickname (annotation ``AB.NickName``).
    """
    notes = dict(annotations or {})
    if nickname is not None:
        notes[ANNOTATION_NICKNAME] = nickname
    if contact_id is None and is_messenger_user is not None:
        raise LocalProtocolError("the user's own entry has no messenger-user flag")
    info: list[str] = []
    changed: list[str] = []
    if contact_id is None:
        info.append("<contactType>Me</contactType>")
    if display_name is not None:
        info.append(f"<displayName>{text(display_name)}</displayName>")
        changed.append("DisplayName")
    if is_messenger_user is not None:
        info.append(
            f"<isMessengerUser>{'true' if is_messenger_user else 'false'}</isMessengerUser>"
        )
        changed.append("IsMessengerUser")
    if notes:
        entries = "".join(
            f"<Annotation><Name>{text(name)}</Name><Value>{text(value)}</Value></Annotation>"
            for name, value in notes.items()
        )
        info.append(f"<annotations>{entries}</annotations>")
        changed.append("Annotation")
    if not changed:
        raise LocalProtocolError("ABContactUpdate without a property to change")
    target = f"<contactId>{text(contact_id)}</contactId>" if contact_id is not None else ""
    body = (
        f'<ABContactUpdate xmlns="{ABCH_NS}">{ab_id_element(ab_id)}<contacts>'
        f'<Contact xmlns="{ABCH_NS}">{target}<contactInfo>{"".join(info)}</contactInfo>'
        f"<propertiesChanged>{' '.join(changed)}</propertiesChanged></Contact>"
        "</contacts></ABContactUpdate>"
    )
    return abch_request("ABContactUpdate", body, ticket, scenario=scenario, cache_key=cache_key)


def group_add(
    ticket: str,
    name: str,
    *,
    cache_key: str | None = None,
    scenario: str = "GroupSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABGroupAdd``: create a contact group."""
    body = (
        f'<ABGroupAdd xmlns="{ABCH_NS}">{ab_id_element(ab_id)}'
        "<groupAddOptions><fRenameOnMsgrConflict>false</fRenameOnMsgrConflict>"
        "</groupAddOptions><groupInfo><GroupInfo>"
        f"<name>{text(name)}</name><groupType>{_GROUP_TYPE}</groupType>"
        "<fMessenger>false</fMessenger><annotations><Annotation><Name>MSN.IM.Display</Name>"
        "<Value>1</Value></Annotation></annotations></GroupInfo></groupInfo></ABGroupAdd>"
    )
    return abch_request("ABGroupAdd", body, ticket, scenario=scenario, cache_key=cache_key)


def _group_filter(group_ids: Iterable[str]) -> str:
    ids = "".join(f"<guid>{text(gid)}</guid>" for gid in group_ids)
    if not ids:
        raise LocalProtocolError("no group ids given")
    return f"<groupFilter><groupIds>{ids}</groupIds></groupFilter>"


def group_delete(
    ticket: str,
    group_ids: Iterable[str],
    *,
    cache_key: str | None = None,
    scenario: str = "Timer",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABGroupDelete``: delete groups by GUID."""
    body = (
        f'<ABGroupDelete xmlns="{ABCH_NS}">{ab_id_element(ab_id)}'
        f"{_group_filter(group_ids)}</ABGroupDelete>"
    )
    return abch_request("ABGroupDelete", body, ticket, scenario=scenario, cache_key=cache_key)


def group_update(
    ticket: str,
    group_id: str,
    name: str,
    *,
    cache_key: str | None = None,
    scenario: str = "GroupSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABGroupUpdate``: rename a group."""
    body = (
        f'<ABGroupUpdate xmlns="{ABCH_NS}">{ab_id_element(ab_id)}<groups><Group>'
        f"<groupId>{text(group_id)}</groupId><groupInfo><name>{text(name)}</name></groupInfo>"
        "<propertiesChanged>GroupName</propertiesChanged></Group></groups></ABGroupUpdate>"
    )
    return abch_request("ABGroupUpdate", body, ticket, scenario=scenario, cache_key=cache_key)


def _group_contact(
    action: str,
    ticket: str,
    group_id: str,
    contact_ids: Iterable[str],
    *,
    cache_key: str | None,
    scenario: str,
    ab_id: str,
) -> SoapRequest:
    body = (
        f'<{action} xmlns="{ABCH_NS}">{ab_id_element(ab_id)}{_group_filter([group_id])}'
        f"{_contact_ids(contact_ids)}</{action}>"
    )
    return abch_request(action, body, ticket, scenario=scenario, cache_key=cache_key)


def group_contact_add(
    ticket: str,
    group_id: str,
    contact_ids: Iterable[str],
    *,
    cache_key: str | None = None,
    scenario: str = "GroupSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABGroupContactAdd``: put address-book entries into a group."""
    return _group_contact(
        "ABGroupContactAdd",
        ticket,
        group_id,
        contact_ids,
        cache_key=cache_key,
        scenario=scenario,
        ab_id=ab_id,
    )


def group_contact_delete(
    ticket: str,
    group_id: str,
    contact_ids: Iterable[str],
    *,
    cache_key: str | None = None,
    scenario: str = "GroupSave",
    ab_id: str = DEFAULT_AB_ID,
) -> SoapRequest:
    """``ABGroupContactDelete``: take address-book entries out of a group."""
    return _group_contact(
        "ABGroupContactDelete",
        ticket,
        group_id,
        contact_ids,
        cache_key=cache_key,
        scenario=scenario,
        ab_id=ab_id,
    )


def _created(data: bytes, action: str) -> Created:
    root, response = parse_response(data, f"{action}Response")
    guid = response.findtext(f"{action}Result/guid").strip()
    if not guid:
        raise RemoteProtocolError(f"{action} answer without a GUID")
    return Created(guid, parse_service_header(root))


def parse_contact_add(data: bytes) -> Created:
    """The new entry's contact GUID from an ``ABContactAdd`` answer."""
    return _created(data, "ABContactAdd")


def parse_group_add(data: bytes) -> Created:
    """The new group's GUID from an ``ABGroupAdd`` answer."""
    return _created(data, "ABGroupAdd")


def parse_ack(data: bytes, action: str) -> ServiceHeader:
    """Check the answer to an action with no result (``ABContactDelete``, ``ABGroupUpdate``...)
    and return its service header."""
    root, _ = parse_response(data, f"{action}Response")
    return parse_service_header(root)
