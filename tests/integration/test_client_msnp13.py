"""MSNClient at MSNP13-18 against tests/msn_server: RST/SSO login, the address book as the
contact list, presence, chat, several endpoints of one account, the negotiated version."""

from __future__ import annotations

import pytest

from bridge.msnp.ab_login import fetch_lists
from bridge.msnp.ab_store import dump_cache, load_cache
from bridge.msnp.circles import CirclesLoaded
from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.errors import AuthError, MSNPError
from bridge.msnp.events import (
    ContactAdded,
    ListSynced,
    LoggedIn,
    OfflineMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    TextMessageReceived,
)
from bridge.msnp.passport import PassportServices, service_urls
from bridge.msnp.soap import SoapRequest
from bridge.msnp.sso import CONTACTS, TokenRequest
from bridge.msnp.values import Lists, Status
from tests.msn_server import AL, BL, FL, MSNServer
from tests.msn_server.fixtures import running_server
from tests.msn_server.msnp13_helpers import sign_in
from tests.msn_server.rawclient import RawClient
from tests.support.client_fixtures import Recorder, client_config, logged_in

pytestmark = pytest.mark.timeout(60)

GUID_A = "{11111111-2222-3333-4444-555555555555}"
GUID_B = "{66666666-7777-8888-9999-AAAAAAAAAAAA}"
TEXT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"


@pytest.mark.parametrize("protocol", range(13, 19))
async def test_login_lists_and_presence_every_version(protocol: int) -> None:
    async with running_server() as server:
        bob, _ = await logged_in(server, "bob@example.com", protocol)
        await bob.set_status(Status.BUSY)
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            assert client.connected and client.protocol == protocol
            logged = await rec.wait(LoggedIn)
            assert logged.protocol == protocol
            synced = await rec.wait(ListSynced)
            assert set(synced.contacts) == {"bob@example.com", "carol@example.com"}
            bob_entry = client.contacts["bob@example.com"]
            wanted = Lists.FORWARD | Lists.ALLOW | Lists.REVERSE
            assert bob_entry.lists & wanted == wanted
            assert bob_entry.friendly_name == "Bob"
            assert bob_entry.guid == server.account("bob@example.com").guid
            names = {client.groups[g].name for g in bob_entry.groups if g in client.groups}
            assert names == {"Friends"}
            presence = await rec.wait(PresenceChanged, passport="bob@example.com")
            assert presence.status is Status.BUSY
            assert server.online("alice@example.com") == "NLN"
            # the address book and the token service were used, SYN was not
            assert server.counters["http_rst"] >= 2 and server.counters["http_abservice"] >= 2
            await bob.set_personal_message("at lunch")
            await rec.wait(
                PersonalMessageChanged, passport="bob@example.com", personal_message="at lunch"
            )
        finally:
            await client.close()
            await bob.close()


@pytest.mark.parametrize("protocol", [13, 18])
async def test_a_session_keeps_only_what_it_uses_after_the_login(protocol: int) -> None:
    """The login's answer has tickets for seven services and a profile: the session goes on
    with the address book's and the offline messages' tickets only, and hands the profile out
    (in the login's result and event) instead of keeping it."""
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            ns = client._ns
            assert ns.tickets is not None and ns.tokens is not None
            kept = {"contacts.msn.com", "messenger.msn.com", "messengersecure.live.com"}
            assert set(ns.tickets.tokens.tokens) == kept == set(ns.tokens.tokens)
            assert ns.tickets.ticket((CONTACTS,))
            assert ns.profile == {}
            assert (await rec.wait(LoggedIn)).profile  # (the LoginResult's: test_client_login)
            # the services still work: an address-book edit and an offline message
            await client.add_group("Work")
            await client.send_text("carol@example.com", "kept for later")
            assert [m.text for m in server.oims["carol@example.com"]] == ["kept for later"]
        finally:
            await client.close()


@pytest.mark.parametrize("protocol", [13, 15, 18])
async def test_chat_both_ways(protocol: int) -> None:
    async with running_server() as server:
        bob, bob_rec = await logged_in(server, "bob@example.com", protocol)
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            await alice.send_text("bob@example.com", "hello bob")
            got = await bob_rec.wait(TextMessageReceived, sender="alice@example.com")
            assert got.text == "hello bob"
            await bob.send_text("alice@example.com", "hi alice")
            back = await rec.wait(TextMessageReceived, sender="bob@example.com")
            assert back.text == "hi alice"
        finally:
            await alice.close()
            await bob.close()


async def test_negotiates_the_highest_version_the_server_accepts() -> None:
    async with running_server(protocols=tuple(range(2, 16))) as server:
        config = client_config(server, 18, protocols=tuple(range(18, 7, -1)))
        client = MSNClient(config, Recorder())
        result = await client.login("alice@example.com", "alice123")
        try:
            assert result.protocol == 15 and client.protocol == 15
            assert result.ticket is None  # SSO tickets are not reusable alone
        finally:
            await client.close()


@pytest.mark.parametrize("protocol", [13, 15, 18])
async def test_wrong_password_is_an_auth_error(protocol: int) -> None:
    async with running_server() as server:
        client = MSNClient(client_config(server, protocol), Recorder())
        with pytest.raises(AuthError, match="wrong e-mail address or password"):
            await client.login("alice@example.com", "wrong")
        assert server.online("alice@example.com") is None


async def test_two_endpoints_of_one_account_both_stay_on() -> None:
    async with running_server() as server:
        first = MSNClient(client_config(server, 18), Recorder())
        await first.login("alice@example.com", "alice123", machine_guid=GUID_A)
        second_rec = Recorder()
        second = MSNClient(client_config(server, 18), second_rec)
        await second.login("alice@example.com", "alice123", machine_guid=GUID_B)
        try:
            guids = {ep.machine_guid for ep in server.endpoints["alice@example.com"]}
            assert guids == {GUID_A.lower(), GUID_B.lower()}
            assert first.connected and second.connected
            names = {ep.ep_name for ep in server.endpoints["alice@example.com"]}
            assert "Matrix bridge" in names
        finally:
            await second.close()
            await first.close()


class _Recording:
    """The client's web-service poster, recording what was asked and answered."""

    def __init__(self, inner: PassportServices) -> None:
        self.inner = inner
        self.sent: list[bytes] = []
        self.answers: list[bytes] = []

    async def post(self, url: str, request: SoapRequest) -> bytes:
        self.sent.append(request.body)
        answer = await self.inner.post(url, request)
        self.answers.append(answer)
        return answer


async def _tokens(server: MSNServer, config: ClientConfig) -> tuple[PassportServices, str]:
    web = PassportServices(config)
    tokens = await web.security_tokens(
        "alice@example.com", "alice123", [TokenRequest(CONTACTS, "MBI")]
    )
    return web, tokens.ticket(CONTACTS)


async def test_a_login_with_the_cache_fetches_only_the_changes() -> None:
    async with running_server() as server:
        config = client_config(server, 18)
        first = MSNClient(config, Recorder())
        await first.login("alice@example.com", "alice123")
        cache = first.ab_cache
        await first.close()
        assert cache is not None
        stored = dump_cache(cache)
        server.add_contact("alice@example.com", "dave@example.com", lists=FL | AL)
        web, ticket = await _tokens(server, config)
        try:
            recording = _Recording(web)
            _, ab_base = service_urls(config)
            fetched = await fetch_lists(recording, ab_base, ticket, load_cache(stored))
        finally:
            await web.close()
        assert all(b"<deltasOnly>true</deltasOnly>" in body for body in recording.sent)
        assert len(recording.sent) == 2
        # the delta names the new contact, not the unchanged ones
        assert b"dave@example.com" in recording.answers[1]
        assert b"carol@example.com" not in recording.answers[1]
        emails = {c.email for c in fetched.book.contacts}
        assert emails == {"bob@example.com", "carol@example.com", "dave@example.com"}
        second_rec = Recorder()
        second = MSNClient(config, second_rec)
        await second.login("alice@example.com", "alice123", ab_cache=load_cache(stored))
        try:
            assert set(second.contacts) >= {"bob@example.com", "dave@example.com"}
            assert second.contacts["dave@example.com"].lists & Lists.FORWARD
        finally:
            await second.close()


async def test_full_sync_required_fetches_everything() -> None:
    async with running_server(escargot_mode=True) as server:
        config = client_config(server, 18)
        first = MSNClient(config, Recorder())
        await first.login("alice@example.com", "alice123")
        assert first.ab_cache is not None
        stored = dump_cache(first.ab_cache)
        web, ticket = await _tokens(server, config)  # escargot_mode: alice must be signed in
        try:
            recording = _Recording(web)
            _, ab_base = service_urls(config)
            fetched = await fetch_lists(recording, ab_base, ticket, load_cache(stored))
        finally:
            await web.close()
            await first.close()
        # the delta request was refused (FullSyncRequired), then both lists came whole
        assert b"<deltasOnly>true</deltasOnly>" in recording.sent[0]
        assert len(recording.sent) == 3 and len(recording.answers) == 2
        assert all(b"<deltasOnly>true</deltasOnly>" not in body for body in recording.sent[1:])
        assert {c.email for c in fetched.book.contacts} == {
            "bob@example.com",
            "carol@example.com",
        }


@pytest.mark.parametrize("protocol", [13, 18])
async def test_list_changes_go_through_the_address_book(protocol: int) -> None:
    async with running_server() as server:
        dave, dave_rec = await logged_in(server, "dave@example.com", protocol)
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            if protocol >= 18:  # (after the login, the circles are looked up: one more call)
                await rec.wait(CirclesLoaded)
                await dave_rec.wait(CirclesLoaded)
            # the bridge takes the fetched address book (into its database): the client
            # then holds none, and its list changes need none
            assert alice.take_ab_cache() is not None
            assert alice.ab_cache is None and alice.take_ab_cache() is None
            ab_calls, sharing_calls = (
                server.counters["http_abservice"],
                server.counters["http_sharing"],
            )
            group = await alice.add_group("Work")
            work = server.account("alice@example.com").group_by_id(group.id)
            assert work is not None and work.name == "Work"
            await alice.add_contact("dave@example.com", group=group.id, friendly_name="Dave")
            account = server.account("alice@example.com")
            entry = account.contacts["dave@example.com"]
            assert entry.lists & (FL | AL) == FL | AL and work.number in entry.groups
            assert alice.contacts["dave@example.com"].guid
            assert group.id in alice.contacts["dave@example.com"].groups
            # dave hears of it from the server (ADL push, reverse list)
            pushed = await dave_rec.wait(ContactAdded, passport="alice@example.com")
            assert pushed.list_ is Lists.REVERSE
            await rec.wait(ContactAdded, passport="dave@example.com", list_=Lists.FORWARD)

            await alice.rename_group(group.id, "Office")
            assert work.name == "Office"
            await alice.block("bob@example.com")
            bob_entry = server.account("alice@example.com").contacts["bob@example.com"]
            assert bob_entry.lists & BL and not bob_entry.lists & AL
            assert alice.contacts["bob@example.com"].lists & Lists.BLOCK
            await alice.unblock("bob@example.com")
            bob_entry = server.account("alice@example.com").contacts["bob@example.com"]
            assert bob_entry.lists & AL and not bob_entry.lists & BL

            await alice.remove_contact("dave@example.com")
            assert not server.account("alice@example.com").on("dave@example.com", FL)
            assert not alice.contacts["dave@example.com"].lists & Lists.FORWARD
            await alice.remove_group(group.id)
            assert server.account("alice@example.com").group_by_id(group.id) is None
            assert group.id not in alice.groups
            # ABGroupAdd, ABContactAdd, ABGroupContactAdd, ABGroupUpdate, ABContactDelete,
            # ABGroupDelete; DeleteMember/AddMember twice for block and unblock
            assert server.counters["http_abservice"] - ab_calls == 6
            assert server.counters["http_sharing"] - sharing_calls == 4
        finally:
            await alice.close()
            await dave.close()


async def test_what_the_user_writes_from_their_messenger_reaches_the_bridge_endpoint() -> None:
    """The user's Messenger (a raw MSNP18 client, GUID A) calls its own address, which rings
    the bridge's endpoint in, then calls bob: the bridge sees both sides of the chat, keyed
    by bob."""
    async with running_server() as server:
        messenger = await sign_in(server, "alice@example.com", 18, guid=GUID_A)
        bridge_rec = Recorder()
        bridge = MSNClient(client_config(server, 18), bridge_rec)
        await bridge.login("alice@example.com", "alice123", machine_guid=GUID_B)
        bob, _ = await logged_in(server, "bob@example.com", 18)
        try:
            async with messenger:
                t = await messenger.cmd("XFR", "SB")
                xfr = await messenger.expect(f"XFR {t}")
                sb = await RawClient.connect(xfr.tokens[3])
                async with sb:
                    t = await sb.cmd("USR", f"alice@example.com;{GUID_A}", xfr.tokens[5])
                    await sb.expect(f"USR {t}")
                    t = await sb.cmd("CAL", "alice@example.com")
                    await sb.expect(f"CAL {t}")
                    while (
                        not (await sb.read())
                        .line.lower()
                        .startswith(f"joi alice@example.com;{GUID_B.lower()} ")
                    ):
                        pass  # until the bridge's endpoint answered
                    t = await sb.cmd("CAL", "bob@example.com")
                    await sb.expect(f"CAL {t}")
                    await sb.expect("JOI bob@example.com")
                    await sb.cmd("MSG", "N", payload=TEXT + b"hi bob, from my Messenger")
                    mine = await bridge_rec.wait(TextMessageReceived, sender="alice@example.com")
                    assert mine.conversation == "bob@example.com"
                    assert mine.text == "hi bob, from my Messenger"
                    await bob.send_text("alice@example.com", "hi alice")
                    theirs = await bridge_rec.wait(TextMessageReceived, sender="bob@example.com")
                    assert theirs.conversation == "bob@example.com" and theirs.text == "hi alice"
                    assert (await sb.expect("MSG bob@example.com")).payload.endswith(b"hi alice")
        finally:
            await bridge.close()
            await bob.close()


@pytest.mark.parametrize("protocol", [16, 18])
async def test_the_own_accounts_presence_is_not_a_contacts(protocol: int) -> None:
    """MSNP16+ servers tell every endpoint of the account its own NLN and UBX (Escargot
    does): that is no contact's presence."""
    async with running_server() as server:
        first = MSNClient(client_config(server, protocol), Recorder())
        await first.login("alice@example.com", "alice123", machine_guid=GUID_A)
        rec = Recorder()
        second = MSNClient(client_config(server, protocol), rec)
        await second.login("alice@example.com", "alice123", machine_guid=GUID_B)
        bob, _ = await logged_in(server, "bob@example.com", protocol)
        try:
            await first.set_status(Status.AWAY)
            await first.set_personal_message("mine")
            await bob.set_personal_message("bob's")
            await rec.wait(
                PersonalMessageChanged, passport="bob@example.com", personal_message="bob's"
            )
            own = [
                e
                for e in rec.events
                if isinstance(e, PresenceChanged | PersonalMessageChanged)
                and e.passport == "alice@example.com"
            ]
            assert own == []
        finally:
            await bob.close()
            await second.close()
            await first.close()


@pytest.mark.parametrize("protocol", [13, 18])
async def test_offline_messages_in_order_with_their_times_deleted_when_asked(
    protocol: int,
) -> None:
    async with running_server() as server:
        run = "{5F2E0C4A-0C5B-4D3E-9A1B-2B3C4D5E6F70}"
        # filed out of order: the second of bob's run first
        server.store_oim(
            "bob@example.com", "alice@example.com", "two", received=1e9 + 5, run_id=run, seq=2
        )
        server.store_oim("bob@example.com", "alice@example.com", "one", received=1e9, run_id=run)
        server.store_oim("carol@example.com", "alice@example.com", "later", received=1e9 + 60)
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            await rec.wait(OfflineMessageReceived, text="later")  # the last, as ordered
            got = rec.of(OfflineMessageReceived)
            assert [(m.sender, m.text) for m in got] == [
                ("bob@example.com", "one"),
                ("bob@example.com", "two"),
                ("carol@example.com", "later"),
            ]
            assert got[0].sent == 1e9 and got[2].sent == 1e9 + 60
            assert len(server.oims["alice@example.com"]) == 3  # nothing deleted yet
            await client.delete_offline_messages([got[0].message_id, got[1].message_id])
            assert [m.text for m in server.oims["alice@example.com"]] == ["later"]

            # one arriving while online is announced and fetched at once
            server.store_oim("bob@example.com", "alice@example.com", "while online")
            fresh = await rec.wait(OfflineMessageReceived, text="while online")
            assert fresh.sender == "bob@example.com"
            assert len(rec.of(OfflineMessageReceived)) == 4  # the older ones not again
        finally:
            await client.close()


@pytest.mark.parametrize("protocol", [13, 18])
async def test_text_to_an_offline_contact_becomes_an_offline_message(protocol: int) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        try:
            # bob is offline: opening the conversation is no error (the text will be an
            # OIM); the lock-key challenge is answered, the text stored
            await alice.open_conversation("bob@example.com")
            await alice.send_text("bob@example.com", "see you tomorrow")
            await alice.send_text("bob@example.com", "x" * 5000)  # split in two
            stored = server.oims["bob@example.com"]
            assert [m.sender for m in stored] == ["alice@example.com"] * 3
            assert stored[0].text == "see you tomorrow"
            assert stored[1].text + stored[2].text == "x" * 5000
            assert [m.seq for m in stored] == [1, 2, 3]
            assert len({m.run_id for m in stored}) == 1
        finally:
            await alice.close()
        # bob logs in and gets them, in order
        bob, rec = await logged_in(server, "bob@example.com", protocol)
        try:
            await rec.wait(OfflineMessageReceived, text="see you tomorrow")
        finally:
            await bob.close()


async def test_text_to_an_offline_contact_below_msnp13_is_still_refused() -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 12)
        try:
            with pytest.raises(MSNPError) as info:
                await alice.send_text("bob@example.com", "hello?")
            assert info.value.code == 217
            with pytest.raises(MSNPError) as info:
                await alice.open_conversation("bob@example.com")
            assert info.value.code == 217
        finally:
            await alice.close()


@pytest.mark.parametrize("protocol", [13, 16, 18])
async def test_personal_message_with_current_media_both_ways(protocol: int) -> None:
    media = "\\0Music\\01\\0{0} - {1}\\0Song\\0Artist\\0"
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        bob, _ = await logged_in(server, "bob@example.com", protocol)
        try:
            await bob.set_personal_message("listening", media)
            account = server.account("bob@example.com")
            assert account.psm_text == "listening" and account.current_media == media
            got = await rec.wait(
                PersonalMessageChanged, passport="bob@example.com", personal_message="listening"
            )
            assert got.current_media == media
            # the endpoint is named by the machine GUID of its login (MSNP16+)
            (endpoint,) = server.endpoints["bob@example.com"]
            if protocol >= 16:
                assert endpoint.machine_guid == (bob.machine_guid or "").lower()
        finally:
            await bob.close()
            await alice.close()


async def test_tickets_and_the_password_stay_out_of_the_wire_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running_server() as server:
        with caplog.at_level(1):
            client, _ = await logged_in(server, "alice@example.com", 18)
            await client.close()
    # the client's loggers only (the in-process test server logs its own side)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("msnp"))
    assert "USR" in text and "SSO" in text  # the wire log was on
    assert "alice123" not in text
    assert "t=" not in text and "&p=" not in text
    assert "HAAAAAEAAAAD" not in text  # the start of every MBI answer blob
