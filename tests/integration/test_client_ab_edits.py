"""MSNClient's address-book edits at MSNP13+ against tests/msn_server: ``FQY`` before a new
contact is added (MSNP14+), the privacy settings as annotations, expired web-service tickets
renewed (address book, offline messages)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.msnp.circles import CirclesLoaded
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import AuthError, ErrorCode, LocalProtocolError, MSNPError
from bridge.msnp.events import OfflineMessageReceived
from bridge.msnp.values import Lists
from tests.msn_server import AL, BL, FL, MSNServer
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, logged_in as _logged_in

pytestmark = pytest.mark.timeout(60)


async def logged_in(server: MSNServer, email: str, protocol: int) -> tuple[MSNClient, Recorder]:
    """A login whose own follow-up requests are over: at MSNP18 the circles are fetched from
    the address book after the login, which would count in the requests a test measures."""
    client, recorder = await _logged_in(server, email, protocol)
    if protocol >= 18:
        await recorder.wait(CirclesLoaded)
    return client, recorder


@pytest.mark.parametrize("protocol", [14, 15, 18])
async def test_a_new_contact_is_looked_up_with_fqy_first(protocol: int) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            before_fqy, before_ab = server.counters["ns_fqy"], server.counters["http_abservice"]
            await alice.add_contact("dave@example.com")
            assert server.counters["ns_fqy"] - before_fqy == 1
            assert server.account("alice@example.com").contacts["dave@example.com"].lists & (
                FL | AL
            ) == (FL | AL)
            assert alice.contacts["dave@example.com"].lists & Lists.FORWARD
            assert server.counters["http_abservice"] - before_ab == 1
            # a contact already in the address book is not looked up again (into a group)
            group = await alice.add_group("Work")
            await alice.add_contact("dave@example.com", group=group.id)
            assert server.counters["ns_fqy"] - before_fqy == 1
        finally:
            await alice.close()


@pytest.mark.parametrize("protocol", [14, 18])
async def test_an_unknown_address_is_refused_by_fqy_before_the_address_book(
    protocol: int,
) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            before_ab = server.counters["http_abservice"]
            with pytest.raises(MSNPError) as refused:
                await alice.add_contact("nobody@example.com")
            assert refused.value.code == ErrorCode.INVALID_USER
            assert server.counters["http_abservice"] == before_ab
            assert "nobody@example.com" not in server.account("alice@example.com").contacts
            assert alice.connected  # the session goes on
            await alice.add_contact("dave@example.com")
        finally:
            await alice.close()


async def test_no_fqy_at_msnp13() -> None:
    """FQY came with MSNP14: a server closes an MSNP13 connection that sends it."""
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 13)
        try:
            await alice.add_contact("dave@example.com")
            assert server.counters["ns_fqy"] == 0
            assert alice.connected
        finally:
            await alice.close()


@pytest.mark.parametrize("protocol", [13, 18])
async def test_privacy_settings_are_address_book_annotations(protocol: int) -> None:
    """No GTC at MSNP13+ (the server closes the connection): MSN.IM.GTC / MSN.IM.BLP of the
    user's own entry, read back at the next login."""
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            assert alice.reverse_prompt and alice.privacy_allow_unlisted
            await alice.set_reverse_prompt(False)
            await alice.set_privacy(False)
            account = server.account("alice@example.com")
            assert (account.gtc, account.blp) == ("N", "BL")
            await alice.set_privacy(True)  # a transaction after both: still signed in
            assert account.blp == "AL" and alice.connected
        finally:
            await alice.close()
        again, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            assert again.reverse_prompt is False
            assert again.privacy_allow_unlisted is True
        finally:
            await again.close()


@pytest.mark.parametrize("protocol", [13, 15, 18])
async def test_an_expired_address_book_ticket_is_renewed_and_the_edit_retried(
    protocol: int,
) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            assert server.tickets.expire("contacts.msn.com") >= 1
            rst, ab = server.counters["http_rst"], server.counters["http_abservice"]
            group = await alice.add_group("Work")  # refused (BadContextToken), renewed, again
            assert server.account("alice@example.com").group_by_id(group.id) is not None
            assert server.counters["http_rst"] - rst == 1
            assert server.counters["http_abservice"] - ab == 2
            await alice.add_contact("dave@example.com", group=group.id)  # the new ticket
            assert server.counters["http_rst"] - rst == 1
            await alice.block("bob@example.com")  # the sharing service takes it too
            assert server.account("alice@example.com").contacts["bob@example.com"].lists & BL
        finally:
            await alice.close()


async def test_an_expired_offline_message_ticket_is_renewed_and_the_message_sent() -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 18)
        try:
            await alice.open_conversation("bob@example.com")  # offline: an OIM
            await alice.send_text("bob@example.com", "first")
            for domain in ("messengersecure.live.com", "messenger.msn.com"):
                server.tickets.expire(domain)
            rst = server.counters["http_rst"]
            await alice.send_text("bob@example.com", "after the ticket expired")
            assert [m.text for m in server.oims["bob@example.com"]] == [
                "first",
                "after the ticket expired",
            ]
            assert server.counters["http_rst"] - rst == 1
        finally:
            await alice.close()


async def test_a_ticket_is_renewed_before_its_known_expiry() -> None:
    """The RST answer says when the tickets expire: near it, the keeper renews first (one
    address-book request, no refusal)."""
    async with running_server(rst_token_lifetime=3.0) as server:
        loop = asyncio.get_running_loop()
        issued = loop.time()
        alice, _ = await logged_in(server, "alice@example.com", 18)
        try:
            # a quarter of the lifetime before the expiry, the ticket is due (still valid)
            await asyncio.sleep(max(0.0, issued + 2.4 - loop.time()))
            rst, ab = server.counters["http_rst"], server.counters["http_abservice"]
            await alice.add_group("Work")
            assert server.counters["http_rst"] - rst == 1
            assert server.counters["http_abservice"] - ab == 1
        finally:
            await alice.close()


async def test_a_wrong_password_at_renewal_is_the_services_refusal() -> None:
    """The password changed since the login: the renewal fails as a login would (AuthError),
    the session goes on."""
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 18)
        try:
            server.account("alice@example.com").password = "changed"
            server.tickets.expire("contacts.msn.com")
            with pytest.raises(AuthError):
                await alice.add_group("Work")
            assert alice.connected
        finally:
            await alice.close()


@pytest.mark.parametrize("protocol", [13, 18])
async def test_a_contact_nickname_is_an_address_book_annotation(protocol: int) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            assert alice.nickname("bob@example.com") is None
            await alice.set_nickname("bob@example.com", "Bobby from work")
            entry = server.account("alice@example.com").contacts["bob@example.com"]
            assert entry.nickname == "Bobby from work"
            assert alice.nickname("bob@example.com") == "Bobby from work"
            with pytest.raises(MSNPError) as refused:
                await alice.set_nickname("dave@example.com", "not a contact")
            assert refused.value.code == ErrorCode.NOT_ON_LIST
        finally:
            await alice.close()
        again, _ = await logged_in(server, "alice@example.com", protocol)  # read at login
        try:
            assert again.nickname("bob@example.com") == "Bobby from work"
            await again.set_nickname("bob@example.com", "")  # cleared
            assert not server.account("alice@example.com").contacts["bob@example.com"].nickname
            assert again.nickname("bob@example.com") is None
        finally:
            await again.close()


async def test_no_contact_nicknames_below_msnp13() -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 12)
        try:
            with pytest.raises(LocalProtocolError):
                await alice.set_nickname("bob@example.com", "Bobby")
            assert alice.nickname("bob@example.com") is None and alice.connected
        finally:
            await alice.close()


async def test_an_offline_message_arriving_after_the_ticket_expired_is_fetched() -> None:
    """The RSI service refuses the expired messenger.msn.com ticket: renewed, fetched, and
    deleted with the new one."""
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", 18)
        try:
            assert server.tickets.expire("messenger.msn.com") >= 1
            rst = server.counters["http_rst"]
            server.store_oim("bob@example.com", "alice@example.com", "while you were away")
            got = await rec.wait(OfflineMessageReceived, text="while you were away")
            assert got.sender == "bob@example.com"
            assert server.counters["http_rst"] - rst == 1
            await alice.delete_offline_messages([got.message_id])
            assert not server.oims.get("alice@example.com")
        finally:
            await alice.close()
