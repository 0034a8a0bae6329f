"""The address book (MSNP13+): ABService and SharingService SOAP 1.1 endpoints, with deltas.

``POST /abservice/abservice.asmx`` (SOAPAction ``http://www.msn.com/webservices/AddressBook/<X>``)
answers ABFindAll, ABFindContactsPaged, ABContactAdd, ABContactDelete, ABContactUpdate,
ABGroupAdd, ABGroupDelete, ABGroupUpdate, ABGroupContactAdd, ABGroupContactDelete and ABAdd;
``POST /abservice/SharingService.asmx`` answers FindMembership, AddMember and DeleteMember.
Every request carries ``ABAuthHeader/TicketToken``: a contacts.msn.com token of the account
(escargot_mode: any token of an account signed in to the NS, as Escargot finds the account
through its NS session).

The address book is the NS lists seen another way: contacts = the FL (``contactId`` = the
contact's GUID, as ``C=`` at MSNP10-12), groups = the groups, memberships = Allow (AL), Block
(BL), Reverse (RL) and Pending (friend requests). Changes made here are the NS's changes:
the contact gets its RL push (``ADL 0 ... l="8"`` at MSNP13+, ``ADC 0 RL`` below), presence
follows, and the account's own MSNP13+ endpoints get a ``NOT`` (address book changed).

Deltas: a request with ``deltasOnly``/``DeltasOnly`` ``true`` and the ``lastChange`` of an
earlier answer (``ab/lastChange`` or ``OwnerNamespace/LastChange``) gets only what changed
after it, deletions as ``fDeleted``/``Deleted`` ``true``. The server remembers the latest 500
deletions per account (its change cache); older ``lastChange`` values get the
``FullSyncRequired`` fault, as do all delta requests in escargot_mode (Escargot has no deltas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import Awaitable, Callable
from xml.etree import ElementTree as ET
import logging
import secrets
import uuid

from aiohttp import web

from . import circles, soap
from .soap import esc, iso
from .state import AL, BL, FL, PL, RL, ROLES, Account, ContactEntry, Group, ListError, ListFlag

if TYPE_CHECKING:
    from .server import MSNServer

__all__ = ["AB_NS", "add_routes"]

log = logging.getLogger("msn_server")

AB_NS: Final = "http://www.msn.com/webservices/AddressBook"
DEFAULT_AB: Final = "00000000-0000-0000-0000-000000000000"
GROUP_TYPE: Final = "C8529CE2-6EAD-434d-881F-341E17DB3FF8"
CONTACTS_DOMAIN: Final = "contacts.msn.com"
NEVER: Final = "0001-01-01T00:00:00"


class ABFault(Exception):
    def __init__(self, code: str, message: str, extra: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


Action = Callable[["Request"], Awaitable[str]]


class Request:
    """One authenticated address-book request."""

    def __init__(self, server: MSNServer, account: Account, action: ET.Element) -> None:
        self.server = server
        self.account = account
        self.action = action
        self.name = soap.local(action.tag)

    def text(self, path: str) -> str | None:
        return soap.text(self.action, path)

    def since(self, deltas_path: str, last_path: str) -> int | None:
        """The stamp a delta request asks from; None for a full answer."""
        if (self.text(deltas_path) or "").lower() != "true":
            return None
        if self.server.config.escargot_mode:
            raise ABFault(
                "FullSyncRequired", "Full sync required.  Details: Delta syncs disabled."
            )
        since = soap.parse_iso(self.text(last_path))
        if not since:
            return None
        if since < self.account.ab_horizon:
            raise ABFault("FullSyncRequired", "Full sync required.  Details: too old.")
        return since


def _header() -> str:
    return (
        f'<ServiceHeader xmlns="{AB_NS}"><Version>15.01.1408.0000</Version>'
        f"<CacheKey>12r1:{secrets.token_urlsafe(48)}</CacheKey><CacheKeyChanged>true"
        "</CacheKeyChanged><PreferredHostName>localhost</PreferredHostName>"
        f"<SessionId>{uuid.uuid4()}</SessionId></ServiceHeader>"
    )


def _annotations(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    items = "".join(
        f"<Annotation><Name>{esc(n)}</Name><Value>{esc(v)}</Value></Annotation>" for n, v in pairs
    )
    return f"<annotations>{items}</annotations>"


_CONTACT_TAIL: Final = (
    "<IsNotMobileVisible>false</IsNotMobileVisible><isMobileIMEnabled>false</isMobileIMEnabled>"
    "<isFavorite>false</isFavorite><isSmtp>false</isSmtp><hasSpace>false</hasSpace>"
    "<spotWatchState>NoDevice</spotWatchState><birthdate>0001-01-01T00:00:00</birthdate>"
    "<primaryEmailType>ContactEmailPersonal</primaryEmailType>"
    "<PrimaryLocation>ContactLocationPersonal</PrimaryLocation>"
    "<PrimaryPhone>ContactPhonePersonal</PrimaryPhone><IsPrivate>false</IsPrivate>"
    "<Gender>Unspecified</Gender><TimeZone>None</TimeZone>"
)


def contact_xml(owner: Account, entry: ContactEntry, contact: Account) -> str:
    groups = "".join(f"<guid>{owner.groups[n].guid}</guid>" for n in entry.groups)
    name = entry.name or contact.name
    notes = [("AB.NickName", entry.nickname)] if entry.nickname else []
    return (
        f"<Contact><contactId>{contact.guid}</contactId><contactInfo>{_annotations(notes)}"
        f"<contactType>Regular</contactType><quickName>{esc(name)}</quickName>"
        f"<passportName>{esc(contact.email)}</passportName>"
        f"<IsPassportNameHidden>false</IsPassportNameHidden><displayName>{esc(name)}"
        f"</displayName><puid>0</puid>{f'<groupIds>{groups}</groupIds>' if groups else ''}"
        f"<CID>{contact.cid}</CID><isMessengerUser>"
        f"{'true' if entry.is_messenger_user else 'false'}</isMessengerUser>{_CONTACT_TAIL}"
        f"</contactInfo><propertiesChanged /><fDeleted>false</fDeleted>"
        f"<lastChange>{iso(entry.changed or owner.ab_created)}</lastChange></Contact>"
    )


def me_xml(account: Account) -> str:
    notes = [
        ("MSN.IM.MBEA", "0"),
        ("MSN.IM.GTC", "1" if account.gtc == "A" else "2"),
        ("MSN.IM.BLP", "1" if account.blp == "AL" else "2"),
        *sorted(account.annotations.items()),
    ]
    return (
        f"<Contact><contactId>{account.guid}</contactId><contactInfo>{_annotations(notes)}"
        f"<contactType>Me</contactType><quickName>{esc(account.name)}</quickName>"
        f"<passportName>{esc(account.email)}</passportName>"
        f"<IsPassportNameHidden>false</IsPassportNameHidden><displayName>{esc(account.name)}"
        f"</displayName><puid>0</puid><CID>{account.cid}</CID>"
        f"<isMessengerUser>false</isMessengerUser>{_CONTACT_TAIL}</contactInfo>"
        f"<propertiesChanged /><fDeleted>false</fDeleted>"
        f"<lastChange>{iso(account.me_changed or account.ab_created)}</lastChange></Contact>"
    )


def group_xml(account: Account, group: Group) -> str:
    return (
        f"<Group><groupId>{group.guid}</groupId><groupInfo>"
        f"{_annotations([('MSN.IM.Display', '1')])}<groupType>{GROUP_TYPE}</groupType>"
        f"<name>{esc(group.name)}</name><IsNotMobileVisible>false</IsNotMobileVisible>"
        f"<IsPrivate>false</IsPrivate><IsFavorite>{'true' if group.favorite else 'false'}"
        f"</IsFavorite></groupInfo><propertiesChanged /><fDeleted>false</fDeleted>"
        f"<lastChange>{iso(group.changed or account.ab_created)}</lastChange></Group>"
    )


def _deleted(tag: str, id_tag: str, ident: str, stamp: int) -> str:
    return (
        f"<{tag}><{id_tag}>{esc(ident)}</{id_tag}><propertiesChanged /><fDeleted>true</fDeleted>"
        f"<lastChange>{iso(stamp)}</lastChange></{tag}>"
    )


def ab_items(req: Request, since: int | None) -> tuple[str, str]:
    """(groups XML, contacts XML) of the individual address book, all or changed since."""
    account, directory = req.account, req.server.directory
    groups = [group_xml(account, g) for g in account.groups.values()
              if since is None or g.changed > since]  # fmt: skip
    contacts: list[str] = []
    live: set[str] = set()
    for entry in account.contacts.values():
        contact = directory.get(entry.email)
        if contact is None or not entry.lists & FL:
            continue
        live.add(contact.guid.lower())
        if since is None or entry.changed > since:
            contacts.append(contact_xml(account, entry, contact))
    if since is None or account.me_changed > since:
        contacts.append(me_xml(account))
    if since is not None:
        live_groups = {g.guid.lower() for g in account.groups.values()}
        for (kind, ident), stamp in account.tombstones.items():
            if stamp <= since:
                continue
            if kind == "contact" and ident not in live:
                contacts.append(_deleted("Contact", "contactId", ident, stamp))
            elif kind == "group" and ident not in live_groups:
                groups.append(_deleted("Group", "groupId", ident, stamp))
    return "".join(groups), "".join(contacts)


def ab_info(account: Account, tag: str = "ab") -> str:
    return (
        f"<{tag}><abId>{DEFAULT_AB}</abId><abInfo><ownerPuid>0</ownerPuid>"
        f"<OwnerCID>{account.cid}</OwnerCID><ownerEmail>{esc(account.email)}</ownerEmail>"
        "<fDefault>true</fDefault><joinedNamespace>false</joinedNamespace><IsBot>false</IsBot>"
        "<IsParentManaged>false</IsParentManaged><SubscribeExternalPartner>false"
        "</SubscribeExternalPartner><NotifyExternalPartner>false</NotifyExternalPartner>"
        "<AddressBookType>Individual</AddressBookType></abInfo>"
        f"<lastChange>{iso(max(account.ab_changed, account.ab_created))}</lastChange>"
        f"<DynamicItemLastChanged>{NEVER}</DynamicItemLastChanged>"
        f"<createDate>{iso(account.ab_created)}</createDate><propertiesChanged /></{tag}>"
    )


# -- ABService -------------------------------------------------------------------------------
def _check_ab_id(req: Request, path: str = "abId") -> None:
    ab_id = req.text(path)
    if ab_id not in (None, "", DEFAULT_AB):
        raise ABFault("ABDoesNotExist", "Address book does not exist")


async def ab_find_all(req: Request) -> str:
    _check_ab_id(req)
    since = req.since("deltasOnly", "lastChange")
    groups, contacts = ab_items(req, since)
    return (
        f'<ABFindAllResponse xmlns="{AB_NS}"><ABFindAllResult><groups>{groups}</groups>'
        f"<contacts>{contacts}</contacts>{ab_info(req.account)}</ABFindAllResult>"
        "</ABFindAllResponse>"
    )


async def ab_find_contacts_paged(req: Request) -> str:
    ab_id = req.text(".//abHandle/ABId")
    if ab_id and ab_id != DEFAULT_AB:
        return circles.find_contacts_paged(req.server, req.account, ab_id)
    since = req.since(".//filterOptions/DeltasOnly", ".//filterOptions/LastChanged")
    groups, contacts = ab_items(req, since)
    circle_contacts, circle_result = circles.ab_entries(req.server, req.account)
    return (
        f'<ABFindContactsPagedResponse xmlns="{AB_NS}"><ABFindContactsPagedResult>'
        f"<Groups>{groups}</Groups><Contacts>{contacts}{circle_contacts}</Contacts>"
        f"{circle_result}{ab_info(req.account, 'Ab')}</ABFindContactsPagedResult>"
        "</ABFindContactsPagedResponse>"
    )


def _contact_by_id(req: Request, contact_id: str | None) -> Account:
    contact = req.server.directory.by_guid(contact_id or "")
    if contact is None or not req.account.on(contact.email, FL):
        raise ABFault("ContactDoesNotExist", "Contact does not exist")
    return contact


async def ab_contact_add(req: Request) -> str:
    _check_ab_id(req)
    info = soap.find(req.action, ".//contacts/Contact/contactInfo")
    email = soap.text(info, "passportName") or ""
    if "@" not in email:
        raise ABFault("BadEmailArgument", "Email is missing the @ sign")
    contact = req.server.directory.get(email)
    if contact is None:
        raise ABFault("InvalidPassportUser", f"{email} is not a valid passport user")
    account = req.account
    if account.on(contact.email, FL) and not req.server.config.escargot_mode:
        raise ABFault(
            "ContactAlreadyExists", "Contact already exists",
            f"<additionalDetails><conflictObjectId>{contact.guid}</conflictObjectId>"
            "</additionalDetails>",
        )  # fmt: skip
    req.server.list_add(account, contact.email, FL)
    entry = account.entry(contact.email)
    assert entry is not None
    for note in soap.findall(info, "annotations/Annotation"):
        if soap.text(note, "Name") == "AB.NickName":
            entry.nickname = soap.text(note, "Value") or None
    allow = (soap.text(req.action, ".//options/EnableAllowListManagement") or "").lower()
    if allow == "true" and not account.on(contact.email, AL | BL):
        req.server.list_add(account, contact.email, AL)
    account.touch(entry)
    return (
        f'<ABContactAddResponse xmlns="{AB_NS}"><ABContactAddResult><guid>{contact.guid}</guid>'
        "</ABContactAddResult></ABContactAddResponse>"
    )


async def ab_contact_delete(req: Request) -> str:
    _check_ab_id(req)
    ids = [soap.text(c, "contactId") for c in soap.findall(req.action, ".//contacts/Contact")]
    contacts = [_contact_by_id(req, i) for i in ids]
    for contact in contacts:
        req.server.list_remove(req.account, contact.email, FL)
    return f'<ABContactDeleteResponse xmlns="{AB_NS}" />'


async def ab_contact_update(req: Request) -> str:
    _check_ab_id(req)
    account = req.account
    for node in soap.findall(req.action, ".//contacts/Contact"):
        info = soap.find(node, "contactInfo")
        changed = (soap.text(node, "propertiesChanged") or "").split()
        if soap.text(info, "contactType") == "Me":
            _update_me(req, info, changed)
            continue
        contact = _contact_by_id(req, soap.text(node, "contactId"))
        entry = account.entry(contact.email)
        assert entry is not None
        if "DisplayName" in changed or "ContactQuickName" in changed:
            name = soap.text(info, "displayName") or soap.text(info, "quickName")
            if name:
                entry.name = name
        if "IsMessengerUser" in changed:
            entry.is_messenger_user = (soap.text(info, "isMessengerUser") or "").lower() == "true"
        if "Annotation" in changed:
            for note in soap.findall(info, "annotations/Annotation"):
                if soap.text(note, "Name") == "AB.NickName":
                    entry.nickname = soap.text(note, "Value") or None
        account.touch(entry)
    return f'<ABContactUpdateResponse xmlns="{AB_NS}" />'


def _update_me(req: Request, info: ET.Element | None, changed: list[str]) -> None:
    account, server = req.account, req.server
    if "DisplayName" in changed:
        name = soap.text(info, "displayName") or ""
        if not name.strip() or len(name) > 387:
            raise ABFault("BadArgument", "Invalid display name")
        account.name = name
        conn = server.ns_session(account.email)
        if conn is not None:
            server.broadcast_presence(conn)
    if "Annotation" in changed:
        for note in soap.findall(info, "annotations/Annotation"):
            name, value = soap.text(note, "Name") or "", soap.text(note, "Value") or ""
            if name == "MSN.IM.BLP" and value in ("1", "2"):
                before = server.visibility_snapshot(account)
                account.blp = "AL" if value == "1" else "BL"
                server.apply_visibility_change(account, before)
            elif name == "MSN.IM.GTC" and value in ("1", "2"):
                account.gtc = "A" if value == "1" else "N"
            elif name:
                account.annotations[name] = value
    account.me_changed = account.stamp()
    account.bump()


def _group_by_guid(account: Account, guid: str | None) -> Group:
    group = account.group_by_id(guid or "") if guid and not guid.isdigit() else None
    if group is None:
        raise ABFault("GroupDoesNotExist", "Group does not exist")
    return group


_GROUP_ERRORS: Final = {
    228: ("GroupNameTooLong", "Group name too long"),
    231: ("GroupAlreadyExists", "Group already exists"),
    201: ("BadArgument", "Invalid group name"),
}


def _group_error(e: ListError) -> ABFault:
    code, message = _GROUP_ERRORS.get(e.code, ("BadArgument", "Invalid argument"))
    return ABFault(code, message)


async def ab_group_add(req: Request) -> str:
    _check_ab_id(req)
    name = soap.text(req.action, ".//groupInfo/GroupInfo/name") or ""
    try:
        group = req.account.add_group(name)
    except ListError as e:
        raise _group_error(e) from None
    req.server.address_book_changed(req.account)
    return (
        f'<ABGroupAddResponse xmlns="{AB_NS}"><ABGroupAddResult><guid>{group.guid}</guid>'
        "</ABGroupAddResult></ABGroupAddResponse>"
    )


async def ab_group_delete(req: Request) -> str:
    _check_ab_id(req)
    groups = [_group_by_guid(req.account, (n.text or "").strip())
              for n in soap.findall(req.action, ".//groupFilter/groupIds/guid")]  # fmt: skip
    for group in groups:
        req.account.remove_group(group.guid)
    req.server.address_book_changed(req.account)
    return f'<ABGroupDeleteResponse xmlns="{AB_NS}" />'


async def ab_group_update(req: Request) -> str:
    _check_ab_id(req)
    for node in soap.findall(req.action, ".//groups/Group"):
        group = _group_by_guid(req.account, soap.text(node, "groupId"))
        changed = (soap.text(node, "propertiesChanged") or "").split()
        if "GroupName" in changed:
            try:
                req.account.rename_group(group.guid, soap.text(node, "groupInfo/name") or "")
            except ListError as e:
                raise _group_error(e) from None
    req.server.address_book_changed(req.account)
    return f'<ABGroupUpdateResponse xmlns="{AB_NS}" />'


def _group_targets(req: Request) -> tuple[list[Group], list[str]]:
    groups = [_group_by_guid(req.account, (n.text or "").strip())
              for n in soap.findall(req.action, ".//groupFilter/groupIds/guid")]  # fmt: skip
    emails = []
    for node in soap.findall(req.action, ".//contacts/Contact"):
        email = soap.text(node, "contactInfo/passportName")
        if email and soap.text(node, "contactId") is None:
            if req.server.directory.get(email) is None:
                raise ABFault("InvalidPassportUser", f"{email} is not a valid passport user")
            emails.append(email)
        else:
            emails.append(_contact_by_id(req, soap.text(node, "contactId")).email)
    if not groups or not emails:
        raise ABFault("BadArgument", "No group or no contact")
    return groups, emails


async def ab_group_contact_add(req: Request) -> str:
    _check_ab_id(req)
    groups, emails = _group_targets(req)
    for email in emails:
        for group in groups:
            entry = req.account.entry(email)
            if entry is not None and entry.lists & FL and group.number in entry.groups:
                continue
            req.server.list_add(req.account, email, FL, group=group)
    guid = req.server.directory.require(emails[0]).guid
    return (
        f'<ABGroupContactAddResponse xmlns="{AB_NS}"><ABGroupContactAddResult><guid>{guid}'
        "</guid></ABGroupContactAddResult></ABGroupContactAddResponse>"
    )


async def ab_group_contact_delete(req: Request) -> str:
    _check_ab_id(req)
    groups, emails = _group_targets(req)
    for email in emails:
        entry = req.account.entry(email)
        for group in groups:
            if entry is None or group.number not in entry.groups:
                raise ABFault("ContactDoesNotExist", "Contact is not in the group")
    for email in emails:
        for group in groups:
            req.server.list_remove(req.account, email, FL, group=group)
    return f'<ABGroupContactDeleteResponse xmlns="{AB_NS}" />'


async def ab_add(req: Request) -> str:
    return (
        f'<ABAddResponse xmlns="{AB_NS}"><ABAddResult>{DEFAULT_AB}</ABAddResult></ABAddResponse>'
    )


AB_ACTIONS: Final[dict[str, Action]] = {
    "ABFindAll": ab_find_all,
    "ABFindContactsPaged": ab_find_contacts_paged,
    "ABContactAdd": ab_contact_add,
    "ABContactDelete": ab_contact_delete,
    "ABContactUpdate": ab_contact_update,
    "ABGroupAdd": ab_group_add,
    "ABGroupDelete": ab_group_delete,
    "ABGroupUpdate": ab_group_update,
    "ABGroupContactAdd": ab_group_contact_add,
    "ABGroupContactDelete": ab_group_contact_delete,
    "ABAdd": ab_add,
}


# -- SharingService --------------------------------------------------------------------------
def _member_xml(
    role: str, contact: Account, stamp: int, *, pending_name: str | None = None
) -> str:
    name = f"<DisplayName>{esc(pending_name)}</DisplayName>" if pending_name else ""
    return (
        f'<Member xsi:type="PassportMember"><MembershipId>{role}/{contact.guid}</MembershipId>'
        f"<Type>Passport</Type>{name}<State>Accepted</State><Deleted>false</Deleted>"
        f"<LastChanged>{iso(stamp)}</LastChanged><JoinedDate>{iso(stamp)}</JoinedDate>"
        f"<ExpirationDate>{NEVER}</ExpirationDate><Changes /><PassportName>{esc(contact.email)}"
        "</PassportName><IsPassportNameHidden>false</IsPassportNameHidden><PassportId>0"
        f"</PassportId><CID>{contact.cid}</CID><PassportChanges /></Member>"
    )


def _deleted_member_xml(role: str, email: str, stamp: int) -> str:
    return (
        f'<Member xsi:type="PassportMember"><MembershipId>{role}/{esc(email)}</MembershipId>'
        f"<Type>Passport</Type><State>Accepted</State><Deleted>true</Deleted>"
        f"<LastChanged>{iso(stamp)}</LastChanged><Changes /><PassportName>{esc(email)}"
        "</PassportName></Member>"
    )


def _in_role(entry: ContactEntry, flag: ListFlag) -> bool:
    if flag == PL:
        return entry.pending
    if flag == RL:
        return bool(entry.lists & RL) and not entry.pending
    return bool(entry.lists & flag)


async def find_membership(req: Request) -> str:
    since = req.since(".//deltasOnly", ".//lastChange")
    account, directory = req.account, req.server.directory
    members: dict[str, list[str]] = {role: [] for role in ROLES}
    for entry in account.contacts.values():
        contact = directory.get(entry.email)
        if contact is None or (since is not None and entry.changed <= since):
            continue
        for role, flag in ROLES.items():
            if _in_role(entry, flag):
                pending_name = contact.name if flag == PL else None
                members[role].append(_member_xml(role, contact, entry.changed or account.ab_created,
                                                 pending_name=pending_name))  # fmt: skip
    if since is not None:
        for (kind, ident), stamp in account.tombstones.items():
            role, _, email = ident.partition("/")
            role = next((r for r in ROLES if r.lower() == role), role)
            current = account.entry(email)
            if kind != "member" or stamp <= since or role not in ROLES:
                continue
            if current is not None and _in_role(current, ROLES[role]):
                continue
            members[role].append(_deleted_member_xml(role, email, stamp))
    memberships = "".join(
        f"<Membership><MemberRole>{role}</MemberRole><Members>{''.join(items)}</Members>"
        "<MembershipIsComplete>true</MembershipIsComplete></Membership>"
        for role, items in members.items()
    )
    last = iso(max(account.ab_changed, account.ab_created))
    return (
        f'<FindMembershipResponse xmlns="{AB_NS}"><FindMembershipResult><Services><Service>'
        f"<Memberships>{memberships}</Memberships><Info><Handle><Id>1</Id><Type>Messenger</Type>"
        "<ForeignId /></Handle><InverseRequired>false</InverseRequired><AuthorizationCriteria>"
        "Everyone</AuthorizationCriteria><IsBot>false</IsBot></Info><Changes />"
        f"<LastChange>{last}</LastChange><Deleted>false</Deleted></Service></Services>"
        f"<OwnerNamespace><Info><Handle><Id>{DEFAULT_AB}</Id><IsPassportNameHidden>false"
        f"</IsPassportNameHidden><CID>0</CID></Handle><CreatorPuid>0</CreatorPuid><CreatorCID>"
        f"{account.cid}</CreatorCID><CreatorPassportName>{esc(account.email)}"
        "</CreatorPassportName><CircleAttributes><IsPresenceEnabled>false</IsPresenceEnabled>"
        "<Domain>WindowsLive</Domain></CircleAttributes><MessengerApplicationServiceCreated>"
        f"false</MessengerApplicationServiceCreated></Info><Changes /><CreateDate>"
        f"{iso(account.ab_created)}</CreateDate><LastChange>{last}</LastChange>"
        "</OwnerNamespace></FindMembershipResult></FindMembershipResponse>"
    )


def _memberships(req: Request) -> list[tuple[ListFlag, Account]]:
    """(list, contact) of every Member of an AddMember/DeleteMember request."""
    result = []
    for membership in soap.findall(req.action, ".//memberships/Membership"):
        role = soap.text(membership, "MemberRole") or ""
        if role not in ROLES:
            raise ABFault("BadArgument", f"Unknown role {role!r}")
        for member in soap.findall(membership, "Members/Member"):
            email = soap.text(member, "PassportName") or soap.text(member, "Email")
            contact = req.server.directory.get(email) if email else None
            if contact is None:
                ident = (soap.text(member, "MembershipId") or "").partition("/")[2]
                contact = req.server.directory.by_guid(ident)
            if contact is None:
                raise ABFault("MemberDoesNotExist", "Member does not exist")
            result.append((ROLES[role], contact))
    if not result:
        raise ABFault("BadArgument", "No member")
    return result


async def add_member(req: Request) -> str:
    server, account = req.server, req.account
    targets = _memberships(req)
    for flag, _ in targets:
        if flag not in (AL, BL):
            raise ABFault("BadArgument", "Only Allow and Block memberships can be added")
    for flag, contact in targets:
        opposite = BL if flag == AL else AL
        if account.on(contact.email, opposite):
            server.list_remove(account, contact.email, opposite)
        if not account.on(contact.email, flag):
            server.list_add(account, contact.email, flag)
    return f'<AddMemberResponse xmlns="{AB_NS}" />'


async def delete_member(req: Request) -> str:
    server, account = req.server, req.account
    targets = _memberships(req)
    for flag, contact in targets:
        entry = account.entry(contact.email)
        if entry is None or not _in_role(entry, flag) or flag == RL:
            raise ABFault("MemberDoesNotExist", "Member does not exist")
    for flag, contact in targets:
        if flag == PL:
            server.directory.dismiss_pending(account, contact.email)
            server.address_book_changed(account)
        else:
            server.list_remove(account, contact.email, flag)
    return f'<DeleteMemberResponse xmlns="{AB_NS}" />'


SHARING_ACTIONS: Final[dict[str, Action]] = {
    "FindMembership": find_membership,
    "AddMember": add_member,
    "DeleteMember": delete_member,
}


# -- HTTP ------------------------------------------------------------------------------------
def _fault(action: str, code: str, message: str, extra: str = "") -> web.Response:
    detail = (
        f'<errorcode xmlns="{AB_NS}">{esc(code)}</errorcode>'
        f'<errorstring xmlns="{AB_NS}">{esc(message)}</errorstring>{extra}'
    )
    text = soap.fault("soap:Client", message, actor=f"{AB_NS}/{action}", detail=detail)
    return soap.xml_response(text, status=500)


def _expired(action: str) -> web.Response:
    """An expired ticket: the security-context fault real clients renew their token on."""
    text = soap.fault(
        "q0:BadContextToken",
        "Token has expired",
        actor=f"{AB_NS}/{action}",
        code_ns="http://schemas.xmlsoap.org/ws/2005/02/sc",
    )
    return soap.xml_response(text, status=500)


def _authenticate(server: MSNServer, root: ET.Element) -> Account | None:
    token = soap.text(root, ".//ABAuthHeader/TicketToken") or ""
    ticket = server.tickets.lookup(token)
    if ticket is None:
        return None
    if server.config.escargot_mode:
        return server.directory.get(ticket.email) if server.ns_session(ticket.email) else None
    if ticket.domain != CONTACTS_DOMAIN:
        return None
    return server.directory.get(ticket.email)


def add_routes(app: web.Application, server: MSNServer) -> None:
    def make(
        actions: dict[str, Action], counter: str
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            server.counters[counter] += 1
            try:
                root = await soap.read_request(request)
            except soap.SoapError as e:
                return _fault("", "BadArgument", str(e))
            body = soap.find(root, "Body")
            if body is None or not len(body):
                return _fault("", "BadArgument", "No SOAP body")
            action = body[0]
            name = soap.local(action.tag)
            account = _authenticate(server, root)
            if account is None:
                token = soap.text(root, ".//ABAuthHeader/TicketToken") or ""
                if server.tickets.expired(token):
                    return _expired(name)
                return _fault(name, "PassportAuthFail", "Passport authentication failed")
            handler = actions.get(name)
            if handler is None:
                return _fault(name, "NotImplemented", f"{name} is not implemented")
            try:
                body_xml = await handler(Request(server, account, action))
            except ABFault as e:
                return _fault(name, e.code, e.message, e.extra)
            log.debug("AB: %s for %s", name, account.email)
            return soap.xml_response(soap.envelope(body_xml, _header()))

        return handle

    app.router.add_post("/abservice/abservice.asmx", make(AB_ACTIONS, "http_abservice"))
    app.router.add_post("/abservice/SharingService.asmx", make(SHARING_ACTIONS, "http_sharing"))
