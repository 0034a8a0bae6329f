"""End to end: the provisioning API, the web login page in a real headless Chromium, and the
Prometheus endpoint, on one stack of their own (Synapse, the MSN test server, the bridge with
``appservice.public``, ``bridge.provisioning`` and ``metrics`` configured).

The module's ``stack`` fixture replaces the shared per-backend one for these tests only: the
login page changes what the bot's ``login`` answers, which the other e2e tests rely on.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
import re

from aiohttp import ClientSession
from prometheus_client.parser import text_string_to_metric_families
import pytest
import pytest_asyncio

from bridge.msnp.events import PresenceChanged, TextMessageReceived
from bridge.msnp.values import Status
from tests.support.browser import Browser, browser_binaries
from tests.support.harness import Stack, poll
from tests.support.synapse import free_port, synapse_python

SECRET = "e2e-provisioning-secret-0123456789"


def _configure(metrics_port: int) -> Any:
    def configure(config: dict[str, Any]) -> None:
        port = config["appservice"]["port"]
        config["appservice"]["public"] = {
            "enabled": True,
            "prefix": "/public",
            "external": f"http://127.0.0.1:{port}/public",
        }
        config["bridge"]["provisioning"] = {
            "enabled": True,
            "prefix": "/_matrix/provision",
            "shared_secret": SECRET,
        }
        config["bridge"]["login_page"] = {"enabled": None, "link_lifetime": 300}
        config["metrics"] = {"enabled": True, "hostname": "127.0.0.1", "listen_port": metrics_port}
        # the metrics test counts a send to an offline contact failing (MSNP12: from MSNP13 the
        # message becomes an offline message and succeeds)
        config["msn"]["protocol_max"] = 12

    return configure


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    metrics_port = free_port()
    stack = Stack(tmp_path_factory.mktemp("e2e-web"), "sqlite", configure=_configure(metrics_port))
    async with stack.running():
        yield stack


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if browser_binaries() is None:
        pytest.fail(
            "chromium and chromedriver are not installed: run tests/install-test-deps.sh",
            pytrace=False,
        )
    browser = await Browser(javascript=False).start()
    try:
        yield browser
    finally:
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def base(stack: Stack) -> str:
    return f"http://127.0.0.1:{stack.as_port}"


async def provision(
    http: ClientSession,
    stack: Stack,
    method: str,
    path: str,
    user_id: str | None,
    secret: str | None = SECRET,
    **kwargs: Any,
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    params = {"user_id": user_id} if user_id is not None else {}
    async with http.request(
        method,
        f"{base(stack)}/_matrix/provision/v1{path}",
        headers=headers,
        params=params,
        **kwargs,
    ) as resp:
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()


# region provisioning API


async def test_provisioning_login_status_contacts_chat_logout(
    stack: Stack, http: ClientSession
) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    mxid = pair.mxid

    # Without the secret, or with a wrong one: 401 and a JSON error, nothing done.
    for path, method in (("/whoami", "GET"), ("/login", "POST"), ("/contacts", "GET")):
        status, body = await provision(http, stack, method, path, mxid, secret=None)
        assert (status, body["errcode"]) == (401, "M_MISSING_TOKEN"), path
        status, body = await provision(http, stack, method, path, mxid, secret=SECRET + "x")
        assert (status, body["errcode"]) == (401, "M_UNKNOWN_TOKEN"), path
    status, body = await provision(
        http, stack, "POST", "/login", mxid, secret="wrong",
        json={"email": pair.passport, "password": pair.password},
    )  # fmt: skip
    assert status == 401
    assert stack.msn.online(pair.passport) is None

    # Bad input: 400 with a JSON error.
    status, body = await provision(http, stack, "GET", "/whoami", None)
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    status, body = await provision(http, stack, "GET", "/whoami", "not-a-user-id")
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await provision(http, stack, "POST", "/login", mxid, data=b"{nope")
    assert (status, body["errcode"]) == (400, "M_NOT_JSON")
    status, body = await provision(http, stack, "POST", "/login", mxid, json={"email": "x"})
    assert (status, body["errcode"]) == (400, "M_INVALID_PARAM")
    status, body = await provision(
        http, stack, "POST", "/login", mxid, json={"email": pair.passport}
    )
    assert (status, body["errcode"]) == (400, "M_MISSING_PARAM")
    status, body = await provision(http, stack, "GET", "/contacts", mxid)
    assert (status, body["errcode"]) == (400, "NET.MSN.NOT_LOGGED_IN")
    # A Matrix user without bridge permission is refused.
    stranger = stack.synapse.mxid(stack.unique("stranger")).replace(
        f":{stack.SERVER_NAME}", ":elsewhere.test"
    )
    status, body = await provision(http, stack, "GET", "/whoami", stranger)
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")

    # Status before logging in.
    status, body = await provision(http, stack, "GET", "/whoami", mxid)
    assert status == 200, body
    assert body["mxid"] == mxid and body["msn"] is None and body["permissions"] == "user"

    # A wrong password: MSN refuses, the API says so.
    status, body = await provision(
        http, stack, "POST", "/login", mxid, json={"email": pair.passport, "password": "nope"}
    )
    assert (status, body["errcode"]) == (403, "NET.MSN.LOGIN_REFUSED"), body
    # The right one logs the bridge in to MSN: bob sees alice come online.
    mark = bob.mark()
    status, body = await provision(
        http, stack, "POST", "/login", mxid,
        json={"email": pair.passport.upper(), "password": pair.password},
    )  # fmt: skip
    assert status == 200, body
    assert body["email"] == pair.passport and body["friendly_name"] == pair.name
    assert body["contacts"] >= 1
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        after=mark,
    )
    status, body = await provision(
        http, stack, "POST", "/login", mxid,
        json={"email": pair.passport, "password": pair.password},
    )  # fmt: skip
    assert (status, body["errcode"]) == (409, "NET.MSN.ALREADY_LOGGED_IN")

    status, body = await provision(http, stack, "GET", "/whoami", mxid)
    assert status == 200
    assert body["msn"]["email"] == pair.passport
    assert body["msn"]["connected"] is True
    assert body["msn"]["state"]["state_event"] == "CONNECTED"

    async def bob_listed() -> dict[str, Any] | None:
        _, contacts = await provision(http, stack, "GET", "/contacts", mxid)
        return next((c for c in contacts["contacts"] if c["email"] == pair.contact), None)

    bob_entry = await poll(bob_listed, what="bob in the contact list")
    assert bob_entry["friendly_name"] == pair.contact_name
    assert bob_entry["groups"] == ["Friends"]
    assert "forward" in bob_entry["lists"]
    assert bob_entry["mxid"] == pair.contact_ghost

    # Starting a chat returns the room, and the user is invited to it by bob's ghost.
    user = await stack.matrix_user(pair.localpart)
    status, body = await provision(http, stack, "POST", f"/pm/{pair.contact}", mxid)
    assert status == 200, body
    assert body["just_created"] is True and body["mxid"] == pair.contact_ghost
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    assert room == body["room_id"]
    await user.join(room)
    mark = bob.mark()
    await user.send_text(room, "hello through a provisioned chat")
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "hello through a provisioned chat", after=mark
    )
    status, again = await provision(http, stack, "POST", f"/pm/{pair.contact}", mxid)
    assert (status, again["room_id"], again["just_created"]) == (200, room, False)

    # Logout: MSN sees alice go, the status says logged out.
    status, body = await provision(http, stack, "POST", "/logout", mxid)
    assert (status, body) == (200, {"email": pair.passport})

    async def offline() -> bool:
        return stack.msn.online(pair.passport) is None

    await poll(offline, what="alice offline on MSN")
    status, body = await provision(http, stack, "GET", "/whoami", mxid)
    assert body["msn"] is None
    log = stack.bridge.log_text()
    assert pair.password not in log and SECRET not in log


# endregion
# region login page


async def test_login_page_in_a_real_browser(
    stack: Stack, browser: Browser, http: ClientSession
) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user = await stack.matrix_user(pair.localpart)
    mgmt = await stack.management_room(user)

    # `login <e-mail>` answers with a one-time link instead of asking for the password.
    reply = await stack.command(user, mgmt, f"login {pair.passport}", "Open this link")
    body = reply["content"]["body"]
    match = re.search(r"(http://127\.0\.0\.1:\d+/public/login/[A-Za-z0-9_-]+)", body)
    assert match, body
    link = match.group(1)
    assert "send the password" not in body.lower()
    assert link in reply["content"].get("formatted_body", "")  # a clickable link

    # The page: the form, with the address pre-filled and the Matrix account shown.
    await browser.get(link)
    assert await browser.value("email") == pair.passport
    assert await browser.text("mxid") == pair.mxid
    # Its inline style applied (the CSP's hash matches), nothing was blocked, no script ran.
    assert await browser.css("submit", "background-color") == "rgba(43, 108, 176, 1)"
    console = await browser.console()
    assert not [e for e in console if "Content Security Policy" in e.get("message", "")]

    # A wrong password: the page says so and the link still works.
    await browser.type("password", "not-the-password")
    await browser.click_and_wait("submit", "error")
    assert "password" in (await browser.text("error")).lower()
    assert stack.msn.online(pair.passport) is None

    # The right one: success, and the bridge is logged in to MSN.
    mark_bob, mark_room = bob.mark(), user.mark(mgmt)
    await browser.type("password", pair.password)
    await browser.click_and_wait("submit", "success")
    success = await browser.text("success")
    assert pair.name in success and pair.passport in success
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        after=mark_bob,
    )
    assert stack.msn.online(pair.passport) is not None
    await user.wait_for_message(
        mgmt, re.compile("through the web login page"), sender=stack.bot_mxid, after=mark_room
    )
    await stack.command(user, mgmt, "ping", "Connected as")

    # The link is spent: the browser gets a refusal, and so does a direct POST.
    await browser.get(link)
    assert "already used" in (await browser.text("error")).lower()
    async with http.post(link, data={"email": pair.passport, "password": "x"}) as resp:
        assert resp.status == 410
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")

    # The password never reached Matrix or the logs; the token is not in the access log.
    log = stack.bridge.log_text()
    assert pair.password not in log
    assert link.rsplit("/", 1)[1] not in log
    for evt in user.events(mgmt, "m.room.message"):
        assert pair.password not in str(evt["content"])


async def test_login_link_replaced_and_plain_login_still_works(stack: Stack) -> None:
    """A second `login` makes the first link unknown; a password in the command still works."""
    pair = stack.new_pair()
    user = await stack.matrix_user(pair.localpart)
    mgmt = await stack.management_room(user)
    links = []
    for _ in range(2):
        reply = await stack.command(user, mgmt, "login", "Open this link")
        found = re.search(r"http://\S+/public/login/[A-Za-z0-9_-]+", reply["content"]["body"])
        assert found
        links.append(found.group(0))
    async with ClientSession() as http:
        async with http.get(links[0]) as resp:
            assert resp.status == 404
        async with http.get(links[1]) as resp:
            assert resp.status == 200
            assert 'value=""' in await resp.text()  # no address given: nothing pre-filled
    await stack.command(user, mgmt, f"login {pair.passport} {pair.password}", "Logged in as")


# endregion
# region metrics


async def scrape(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    port = stack.config["metrics"]["listen_port"]
    async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): float(s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_after_bridged_messages(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    before = await scrape(stack)
    user, mgmt = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "hello from MSN")
    mark = bob.mark()
    sent = await user.send_text(room, "hello from Matrix")
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "hello from Matrix", after=mark
    )
    # counted when MSN's acknowledgement arrives, just before the status goes out
    await user.wait_for_send_status(room, sent, status="SUCCESS")
    after = await scrape(stack)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("msn_messages_bridged_total", direction="msn_to_matrix") == 1
    assert grew("msn_messages_bridged_total", direction="matrix_to_msn") == 1
    assert grew("msn_bridge_latency_seconds_count", direction="msn_to_matrix") == 1
    assert grew("msn_bridge_latency_seconds_count", direction="matrix_to_msn") == 1
    assert 0 < grew("msn_bridge_latency_seconds_sum", direction="matrix_to_msn") < 10
    assert grew("msn_login_duration_seconds_count", kind="login", outcome="success") == 1
    assert value(after, "msn_connected_users") >= 1
    assert value(after, "msn_logged_in_users") >= value(after, "msn_connected_users")
    assert value(after, "msn_open_switchboards") >= 1
    # the login gate's gauges are served (at least one turn is always allowed)
    assert value(after, "msn_login_turns_allowed") >= 1
    assert ("msn_logins_waiting", frozenset()) in after
    assert value(after, "bridge_matrix_event_count", event_type="m.room.message") > 0

    # A failed send is counted by reason.
    await bob.close()

    async def ghost_offline() -> bool:
        return await stack.ghost_presence(pair.contact_ghost) == "offline"

    await poll(ghost_offline, what="ghost presence offline")
    event_id = await user.send_text(room, "anyone?")
    await user.wait_for_send_status(room, event_id, status="FAIL_PERMANENT", timeout=30)
    failed = await scrape(stack)
    assert (
        value(failed, "msn_send_failures_total", direction="matrix_to_msn", reason="offline")
        - value(after, "msn_send_failures_total", direction="matrix_to_msn", reason="offline")
        == 1
    )
    assert value(failed, "msn_messages_bridged_total", direction="matrix_to_msn") == value(
        after, "msn_messages_bridged_total", direction="matrix_to_msn"
    )

    # A dropped connection: one disconnect, one successful reconnect.
    mark_room = user.mark(mgmt)
    await stack.msn.drop(pair.passport)
    await user.wait_for_message(
        mgmt, "Reconnected to MSN.", stack.bot_mxid, after=mark_room, timeout=30
    )
    reconnected = await scrape(stack)
    assert (
        value(reconnected, "msn_reconnects_total", outcome="success")
        - value(failed, "msn_reconnects_total", outcome="success")
        == 1
    )
    assert (
        value(reconnected, "msn_disconnects_total", reason="connection_lost")
        - value(failed, "msn_disconnects_total", reason="connection_lost")
        == 1
    )
    assert (
        value(reconnected, "msn_login_duration_seconds_count", kind="reconnect", outcome="success")
        - value(failed, "msn_login_duration_seconds_count", kind="reconnect", outcome="success")
        == 1
    )


# endregion
