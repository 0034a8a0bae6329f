"""The address book web services (MSNP13+): ABService, SharingService, deltas, NS side effects."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import aiohttp
import pytest

from tests.msn_server import AL, BL, FL, RL, MSNServer
from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import sign_in
from tests.msn_server.rawclient import (
    ab_envelope,
    find_all,
    find_text,
    rst_tokens,
    soap_post,
)

pytestmark = pytest.mark.timeout(30)

ALICE, BOB, CAROL, DAVE = (f"{n}@example.com" for n in ("alice", "bob", "carol", "dave"))
AB = "http://www.msn.com/webservices/AddressBook"
NULL_AB = "00000000-0000-0000-0000-000000000000"


class Book:
    """An address-book client of one account (its contacts.msn.com token)."""

    def __init__(self, server: MSNServer, http: aiohttp.ClientSession, token: str) -> None:
        self.server, self.http, self.token = server, http, token

    @classmethod
    async def of(cls, server: MSNServer, http: aiohttp.ClientSession, email: str, pw: str) -> Book:
        tokens = await rst_tokens(http, server.http_base, email, pw)
        return cls(server, http, tokens.tokens["contacts.msn.com"])

    async def call(
        self, action: str, body: str, *, sharing: bool = False
    ) -> tuple[int, ET.Element]:
        path = "SharingService.asmx" if sharing else "abservice.asmx"
        return await soap_post(
            self.http, f"{self.server.http_base}/abservice/{path}", f"{AB}/{action}",
            ab_envelope(self.token, action, body),
        )  # fmt: skip

    async def ok(self, action: str, body: str, *, sharing: bool = False) -> ET.Element:
        status, root = await self.call(action, body, sharing=sharing)
        assert status == 200, ET.tostring(root)[:500]
        return root

    async def find_all(self, last_change: str | None = None) -> ET.Element:
        deltas = "true" if last_change else "false"
        return await self.ok("ABFindAll", f"<abId>{NULL_AB}</abId><abView>Full</abView>"
                             f"<deltasOnly>{deltas}</deltasOnly><lastChange>"
                             f"{last_change or '0001-01-01T00:00:00.0000000-08:00'}</lastChange>")  # fmt: skip

    async def find_membership(self, last_change: str | None = None) -> ET.Element:
        deltas = "true" if last_change else "false"
        return await self.ok(
            "FindMembership",
            "<serviceFilter><Types><ServiceType>Messenger</ServiceType></Types></serviceFilter>"
            f"<View>Full</View><deltasOnly>{deltas}</deltasOnly>"
            f"<lastChange>{last_change or '0001-01-01T00:00:00'}</lastChange>",
            sharing=True,
        )


def contacts(root: ET.Element) -> dict[str, ET.Element]:
    """passportName (or contactId for deleted ones) -> Contact."""
    result = {}
    for contact in find_all(root, "Contact"):
        key = find_text(contact, "passportName") or find_text(contact, "contactId") or "?"
        result[key] = contact
    return result


def members(root: ET.Element) -> dict[str, set[str]]:
    """role -> passport names (deleted ones prefixed with "-")."""
    result: dict[str, set[str]] = {}
    for membership in find_all(root, "Membership"):
        role = find_text(membership, "MemberRole") or "?"
        names = set()
        for member in find_all(membership, "Member"):
            deleted = find_text(member, "Deleted") == "true"
            names.add(("-" if deleted else "") + (find_text(member, "PassportName") or "?"))
        result[role] = names
    return result


async def test_find_all_lists_groups_contacts_and_me() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        book = await Book.of(server, http, ALICE, "alice123")
        root = await book.find_all()
        found = contacts(root)
        assert set(found) == {BOB, CAROL, ALICE}
        bob = found[BOB]
        assert find_text(bob, "contactId") == server.account(BOB).guid
        assert find_text(bob, "contactType") == "Regular"
        assert find_text(bob, "CID") == str(server.account(BOB).cid)
        friends = server.account(ALICE).group_by_name("Friends")
        assert friends is not None
        assert [g.text for g in find_all(bob, "guid")] == [friends.guid]
        assert find_text(found[ALICE], "contactType") == "Me"
        groups = find_all(root, "Group")
        assert [(find_text(g, "groupId"), find_text(g, "name")) for g in groups] == [
            (friends.guid, "Friends")]  # fmt: skip
        assert find_text(root, "lastChange") is not None


async def test_changes_through_the_address_book_reach_the_ns_and_the_deltas() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        dave_ns = await sign_in(server, DAVE, 18, guid="{dddddddd-0000-4000-8000-000000000000}")
        async with dave_ns:
            book = await Book.of(server, http, ALICE, "alice123")
            first = await book.find_all()
            since = find_all(first, "ab")[0].find(f"{{{AB}}}lastChange").text  # type: ignore[union-attr]
            assert since is not None
            unchanged = await book.find_all(since)
            assert contacts(unchanged) == {} and find_all(unchanged, "Group") == []

            root = await book.ok("ABContactAdd", (
                "<abId>00000000-0000-0000-0000-000000000000</abId><contacts><Contact><contactInfo>"
                "<contactType>LivePending</contactType><passportName>dave@example.com"
                "</passportName><isMessengerUser>true</isMessengerUser></contactInfo></Contact>"
                "</contacts><options><EnableAllowListManagement>true</EnableAllowListManagement>"
                "</options>"))  # fmt: skip
            assert find_text(root, "guid") == server.account(DAVE).guid
            assert server.account(ALICE).lists_of(DAVE) == FL | AL
            assert server.account(DAVE).lists_of(ALICE) == RL  # and a friend request:
            push = await dave_ns.expect("ADL")
            assert (
                push.payload is not None
                and b'<c n="alice" t="1" l="8" f="Alice" />' in push.payload
            )

            group = await book.ok("ABGroupAdd", "<abId>00000000-0000-0000-0000-000000000000</abId>"
                                  "<groupAddOptions><fRenameOnMsgrConflict>false"
                                  "</fRenameOnMsgrConflict></groupAddOptions><groupInfo><GroupInfo>"
                                  "<name>Work</name><groupType>C8529CE2-6EAD-434d-881F-341E17DB3FF8"
                                  "</groupType><fMessenger>false</fMessenger></GroupInfo></groupInfo>")  # fmt: skip
            work_id = find_text(group, "guid")
            await book.ok("ABGroupContactAdd", f"<abId>{NULL_AB}</abId><groupFilter><groupIds>"
                          f"<guid>{work_id}</guid></groupIds></groupFilter><contacts><Contact>"
                          f"<contactId>{server.account(DAVE).guid}</contactId></Contact></contacts>")  # fmt: skip
            await book.ok("ABContactDelete", f"<abId>{NULL_AB}</abId><contacts><Contact><contactId>"
                          f"{server.account(CAROL).guid}</contactId></Contact></contacts>")  # fmt: skip
            assert not server.account(ALICE).on(CAROL, FL)

            delta = await book.find_all(since)
            changed = contacts(delta)
            assert set(changed) == {DAVE, server.account(CAROL).guid.lower()}
            assert find_text(changed[server.account(CAROL).guid.lower()], "fDeleted") == "true"
            assert find_text(changed[DAVE], "fDeleted") == "false"
            assert [g.text for g in find_all(changed[DAVE], "guid")] == [work_id]
            assert [find_text(g, "name") for g in find_all(delta, "Group")] == ["Work"]
            # deleting the group shows up as a deleted group
            since2 = find_text(find_all(delta, "ab")[0], "lastChange")
            await book.ok("ABGroupDelete", f"<abId>{NULL_AB}</abId><groupFilter><groupIds>"
                          f"<guid>{work_id}</guid></groupIds></groupFilter>")  # fmt: skip
            delta2 = await book.find_all(since2)
            assert [(find_text(g, "groupId"), find_text(g, "fDeleted"))
                    for g in find_all(delta2, "Group")] == [(work_id, "true")]  # fmt: skip
            assert set(contacts(delta2)) == {DAVE}  # it left the group


async def test_too_old_a_last_change_needs_a_full_sync() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        book = await Book.of(server, http, ALICE, "alice123")
        since = find_text(find_all(await book.find_all(), "ab")[0], "lastChange")
        server.account(ALICE).ab_horizon = server.account(ALICE).stamp()  # the cache forgot
        status, root = await book.call("ABFindAll", f"<abId>{NULL_AB}</abId><deltasOnly>true"
                                       f"</deltasOnly><lastChange>{since}</lastChange>")  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "FullSyncRequired"


async def test_escargot_mode_has_no_deltas_and_needs_a_signed_in_account() -> None:
    async with running_server(escargot_mode=True) as server, aiohttp.ClientSession() as http:
        book = await Book.of(server, http, ALICE, "alice123")
        status, root = await book.call("ABFindAll", f"<abId>{NULL_AB}</abId>")
        assert status == 500 and find_text(root, "errorcode") == "PassportAuthFail"
        alice = await sign_in(server, ALICE, 18)
        async with alice:
            await book.find_all()
            status, root = await book.call("ABFindAll", f"<abId>{NULL_AB}</abId><deltasOnly>true"
                                           "</deltasOnly><lastChange>2020-01-01T00:00:00Z"
                                           "</lastChange>")  # fmt: skip
            assert status == 500 and find_text(root, "errorcode") == "FullSyncRequired"


async def test_wrong_token_and_unknown_actions() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        tokens = await rst_tokens(http, server.http_base, ALICE, "alice123")
        for token in (tokens.tokens["messengerclear.live.com"], "t=nope&p="):
            status, root = await Book(server, http, token).call("ABFindAll", "")
            assert status == 500 and find_text(root, "errorcode") == "PassportAuthFail"
        book = Book(server, http, tokens.tokens["contacts.msn.com"])
        status, root = await book.call("ABFrobnicate", "")
        assert status == 500 and find_text(root, "errorcode") == "NotImplemented"
        status, root = await book.call("ABContactAdd", "<contacts><Contact><contactInfo>"
                                       "<passportName>nobody@example.com</passportName>"
                                       "</contactInfo></Contact></contacts>")  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "InvalidPassportUser"
        status, root = await book.call("ABContactAdd", "<contacts><Contact><contactInfo>"
                                       "<passportName>bob@example.com</passportName>"
                                       "</contactInfo></Contact></contacts>")  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "ContactAlreadyExists"
        assert find_text(root, "conflictObjectId") == server.account(BOB).guid
        status, root = await book.call("ABGroupAdd", "<groupInfo><GroupInfo><name>Friends</name>"
                                       "</GroupInfo></groupInfo>")  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "GroupAlreadyExists"


async def test_contact_update_names_annotations_and_privacy() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        bob = await sign_in(server, BOB, 18, guid="{b0b0b0b0-0000-4000-8000-000000000000}")
        async with bob:
            book = await Book.of(server, http, ALICE, "alice123")
            alice = await sign_in(server, ALICE, 18)
            async with alice:
                await bob.expect("NLN NLN 1:alice@example.com")
                await book.ok("ABContactUpdate", (
                    "<abId>00000000-0000-0000-0000-000000000000</abId><contacts><Contact>"
                    "<contactInfo><contactType>Me</contactType><displayName>Alice W.</displayName>"
                    "<annotations><Annotation><Name>MSN.IM.MPOP</Name><Value>1</Value>"
                    "</Annotation></annotations></contactInfo><propertiesChanged>DisplayName "
                    "Annotation</propertiesChanged></Contact><Contact><contactId>"
                    f"{server.account(BOB).guid}</contactId><contactInfo><annotations><Annotation>"
                    "<Name>AB.NickName</Name><Value>Bobby</Value></Annotation></annotations>"
                    "</contactInfo><propertiesChanged>Annotation</propertiesChanged></Contact>"
                    "</contacts>"))  # fmt: skip
                assert server.account(ALICE).name == "Alice W."
                assert (await bob.expect("NLN NLN 1:alice@example.com")).line.startswith(
                    "NLN NLN 1:alice@example.com Alice%20W. "
                )
                assert server.account(ALICE).annotations == {"MSN.IM.MPOP": "1"}
                root = await book.find_all()
                me = contacts(root)[ALICE]
                assert find_text(me, "displayName") == "Alice W."
                notes = {find_text(a, "Name"): find_text(a, "Value")
                         for a in find_all(me, "Annotation")}  # fmt: skip
                assert notes["MSN.IM.MPOP"] == "1" and notes["MSN.IM.BLP"] == "1"
                assert find_text(contacts(root)[BOB], "Value") == "Bobby"
                # BLP 2 (block everyone not allowed) and bob off the Allow list: he sees FLN
                await book.ok("DeleteMember", "<serviceHandle><Id>0</Id><Type>Messenger</Type>"
                              "</serviceHandle><memberships><Membership><MemberRole>Allow"
                              "</MemberRole><Members><Member><Type>Passport</Type><State>Accepted"
                              "</State><PassportName>bob@example.com</PassportName></Member>"
                              "</Members></Membership></memberships>", sharing=True)  # fmt: skip
                await book.ok("ABContactUpdate", "<contacts><Contact><contactInfo><contactType>Me"
                              "</contactType><annotations><Annotation><Name>MSN.IM.BLP</Name>"
                              "<Value>2</Value></Annotation></annotations></contactInfo>"
                              "<propertiesChanged>Annotation</propertiesChanged></Contact>"
                              "</contacts>")  # fmt: skip
                assert server.account(ALICE).blp == "BL"
                assert (await bob.expect("FLN")).line == "FLN 1:alice@example.com 0:0"


async def test_memberships_pending_requests_and_their_deltas() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        server.add_contact(DAVE, ALICE, FL)  # dave asked alice while she was away
        book = await Book.of(server, http, ALICE, "alice123")
        root = await book.find_membership()
        roles = members(root)
        assert roles["Allow"] == {BOB, CAROL} and roles["Block"] == set()
        assert roles["Reverse"] == {BOB, CAROL} and roles["Pending"] == {DAVE}
        pending = [m for m in find_all(root, "Member") if find_text(m, "PassportName") == DAVE]
        assert find_text(pending[0], "DisplayName") == "Dave"
        since = find_text(find_all(root, "OwnerNamespace")[0], "LastChange")
        assert since is not None
        # accept dave: off Pending, on Allow; block carol (off Allow, on Block)
        await book.ok("DeleteMember", "<memberships><Membership><MemberRole>Pending</MemberRole>"
                      "<Members><Member><Type>Passport</Type><PassportName>dave@example.com"
                      "</PassportName></Member></Members></Membership></memberships>",
                      sharing=True)  # fmt: skip
        await book.ok("AddMember", "<memberships><Membership><MemberRole>Allow</MemberRole>"
                      "<Members><Member><Type>Passport</Type><State>Accepted</State><PassportName>"
                      "dave@example.com</PassportName></Member></Members></Membership>"
                      "<Membership><MemberRole>Block</MemberRole><Members><Member><Type>Passport"
                      "</Type><State>Accepted</State><PassportName>carol@example.com</PassportName>"
                      "</Member></Members></Membership></memberships>", sharing=True)  # fmt: skip
        alice = server.account(ALICE)
        assert alice.lists_of(DAVE) == AL | RL and not alice.entry(DAVE).pending  # type: ignore[union-attr]
        assert alice.lists_of(CAROL) == FL | BL | RL
        delta = members(await book.find_membership(since))
        assert delta["Pending"] == {"-" + DAVE}
        assert delta["Allow"] == {DAVE, "-" + CAROL}
        assert delta["Block"] == {CAROL}
        assert BOB not in delta["Allow"] | delta["Reverse"]  # unchanged
        status, root = await book.call("DeleteMember", "<memberships><Membership><MemberRole>"
                                       "Pending</MemberRole><Members><Member><PassportName>"
                                       "bob@example.com</PassportName></Member></Members>"
                                       "</Membership></memberships>", sharing=True)  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "MemberDoesNotExist"


async def test_group_update_and_group_contact_delete() -> None:
    async with running_server() as server, aiohttp.ClientSession() as http:
        book = await Book.of(server, http, ALICE, "alice123")
        friends = server.account(ALICE).group_by_name("Friends")
        assert friends is not None
        await book.ok("ABGroupUpdate", f"<abId>{NULL_AB}</abId><groups><Group><groupId>"
                      f"{friends.guid}</groupId><groupInfo><name>Best friends</name></groupInfo>"
                      "<propertiesChanged>GroupName</propertiesChanged></Group></groups>")  # fmt: skip
        assert friends.name == "Best friends"
        await book.ok("ABGroupContactDelete", f"<abId>{NULL_AB}</abId><groupFilter><groupIds>"
                      f"<guid>{friends.guid}</guid></groupIds></groupFilter><contacts><Contact>"
                      f"<contactId>{server.account(BOB).guid}</contactId></Contact></contacts>")  # fmt: skip
        assert server.account(ALICE).contacts[BOB].groups == []
        assert server.account(ALICE).on(BOB, FL)
        status, root = await book.call("ABGroupContactDelete", f"<groupFilter><groupIds><guid>"
                                       f"{friends.guid}</guid></groupIds></groupFilter><contacts>"
                                       f"<Contact><contactId>{server.account(BOB).guid}</contactId>"
                                       "</Contact></contacts>")  # fmt: skip
        assert status == 500 and find_text(root, "errorcode") == "ContactDoesNotExist"
