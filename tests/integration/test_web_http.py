"""The provisioning API and the login page over HTTP, on a recording backend (the HTTP layer
alone: authentication, validation, status codes, errcodes, headers, the OpenAPI spec, link
rules). tests/e2e/test_web.py runs them against the real bridge."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
from pathlib import Path
import asyncio
import logging
import re

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ruamel.yaml import YAML
import pytest
import pytest_asyncio

from bridge.password_login import LoginOutcome, Outcome
from bridge.web import errors
from bridge.web.backend import Backend, valid_user_id
from bridge.web.errors import WebError
from bridge.web.login_links import LoginLinks
from bridge.web.login_page import LoginPage
from bridge.web.pages import SECURITY_HEADERS
from bridge.web.provisioning import MAX_BODY, ProvisioningAPI

SECRET = "s3cret-s3cret-s3cret-s3cret"
SPEC = Path(__file__).resolve().parents[2] / "bridge" / "web" / "openapi.yaml"
ALICE = "@alice:hs.test"


class RecordingBackend:
    """Answers as configured and records what it was asked."""

    bridge_name = "MSN <bridge>"

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.levels = {ALICE: "user", "@boss:hs.test": "admin", "@relay:hs.test": "relay"}
        self.logged_in: dict[str, str] = {}
        self.passwords = {"alice@example.com": "right"}
        self.gate: asyncio.Event | None = None

    def permission(self, mxid: str) -> str:
        return self.levels.get(mxid, "none")

    def parse_email(self, text: str) -> str | None:
        text = text.strip().lower()
        return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", text) else None

    async def whoami(self, mxid: str) -> dict[str, Any]:
        self.calls.append(("whoami", mxid))
        email = self.logged_in.get(mxid)
        return {"mxid": mxid, "msn": {"email": email} if email else None}

    async def login(self, mxid: str, email: str, password: str) -> LoginOutcome:
        self.calls.append(("login", mxid, email))
        if self.gate is not None:
            await self.gate.wait()
        if self.logged_in.get(mxid) == email:
            return LoginOutcome(Outcome.ALREADY, email, friendly_name="Alice")
        if email == "down@example.com":
            return LoginOutcome(Outcome.UNREACHABLE, email, error="Could not reach the server.")
        if self.passwords.get(email) != password:
            return LoginOutcome(Outcome.REFUSED, email, error="Wrong <password>.")
        self.logged_in[mxid] = email
        return LoginOutcome(
            Outcome.LOGGED_IN, email, friendly_name="Alice <3", protocol=12, contacts=2
        )

    async def logout(self, mxid: str) -> str:
        self.calls.append(("logout", mxid))
        if mxid not in self.logged_in:
            raise WebError(400, errors.NOT_LOGGED_IN, "You are not logged in to MSN.")
        return self.logged_in.pop(mxid)

    async def contacts(self, mxid: str) -> dict[str, Any]:
        self.calls.append(("contacts", mxid))
        if mxid not in self.logged_in:
            raise WebError(400, errors.NOT_LOGGED_IN, "You are not logged in to MSN.")
        return {"connected": True, "contacts": []}

    async def open_chat(self, mxid: str, email: str) -> dict[str, Any]:
        self.calls.append(("open_chat", mxid, email))
        return {"room_id": "!room:hs.test", "email": email}

    async def notify(self, mxid: str, text: str) -> None:
        self.calls.append(("notify", mxid, text))


def _backend(backend: RecordingBackend) -> Backend:
    return backend


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest_asyncio.fixture
async def api(backend: RecordingBackend) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    app.add_subapp("/_matrix/provision", ProvisioningAPI(_backend(backend), SECRET).app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


AUTH = {"Authorization": f"Bearer {SECRET}"}


async def call(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    user: str | None = ALICE,
    headers: dict[str, str] | None = AUTH,
    **kwargs: Any,
) -> tuple[int, Any]:
    params = {"user_id": user} if user is not None else {}
    resp = await client.request(
        method, f"/_matrix/provision{path}", params=params, headers=headers, **kwargs
    )
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body


# region provisioning


async def test_every_route_needs_the_shared_secret(
    api: TestClient[Any, Any], backend: RecordingBackend
) -> None:
    for method, path in ROUTES:
        path = path.replace("{email}", "bob@example.com")
        status, body = await call(api, method, path, headers=None, json={})
        assert (status, body["errcode"]) == (401, errors.MISSING_TOKEN), path
        for header in (
            f"Bearer {SECRET}x",
            f"Bearer {SECRET[:-1]}",
            SECRET,
            "Basic abc",
            "Bearer ",
        ):
            status, body = await call(api, method, path, headers={"Authorization": header})
            assert status == 401, (path, header)
            assert body["errcode"] in (errors.MISSING_TOKEN, errors.UNKNOWN_TOKEN)
            assert body["error"]
    assert backend.calls == []
    status, body = await call(api, "GET", "/v1/whoami")
    assert status == 200 and body["mxid"] == ALICE


async def test_user_id_is_required_valid_and_allowed(api: TestClient[Any, Any]) -> None:
    cases = [
        (None, 400, errors.MISSING_PARAM),
        ("", 400, errors.MISSING_PARAM),
        ("alice", 400, errors.INVALID_PARAM),
        ("@alice", 400, errors.INVALID_PARAM),
        ("@" + "a" * 300 + ":hs.test", 400, errors.INVALID_PARAM),
        ("@stranger:hs.test", 403, errors.FORBIDDEN),
        ("@relay:hs.test", 403, errors.FORBIDDEN),
    ]
    for user, status, errcode in cases:
        got, body = await call(api, "GET", "/v1/whoami", user=user)
        assert (got, body["errcode"]) == (status, errcode), user
    assert (await call(api, "GET", "/v1/whoami", user="@boss:hs.test"))[0] == 200


async def test_login_validates_its_body(
    api: TestClient[Any, Any], backend: RecordingBackend
) -> None:
    bad: list[tuple[Any, str]] = [
        (b"not json", errors.NOT_JSON),
        (b"\xff\xfe", errors.NOT_JSON),
        (b"[1, 2]", errors.BAD_JSON),
        (b'"text"', errors.BAD_JSON),
        (b"{}", errors.MISSING_PARAM),
        (b'{"email": "alice@example.com"}', errors.MISSING_PARAM),
        (b'{"email": "alice@example.com", "password": ""}', errors.MISSING_PARAM),
        (b'{"email": "alice@example.com", "password": 5}', errors.INVALID_PARAM),
        (b'{"email": ["x"], "password": "pw"}', errors.INVALID_PARAM),
        (b'{"email": "not-an-address", "password": "pw"}', errors.INVALID_PARAM),
        (
            b'{"email": "alice@example.com", "password": "' + b"p" * 1025 + b'"}',
            errors.INVALID_PARAM,
        ),
    ]
    for body, errcode in bad:
        status, answer = await call(api, "POST", "/v1/login", data=body)
        assert (status, answer["errcode"]) == (400, errcode), body[:60]
        assert answer["error"]
    status, answer = await call(api, "POST", "/v1/login", data=b"{" + b" " * MAX_BODY + b"}")
    assert (status, answer["errcode"]) == (413, errors.TOO_LARGE)
    assert backend.calls == []


async def test_login_outcomes(api: TestClient[Any, Any], backend: RecordingBackend) -> None:
    login = {"email": "Alice@Example.com", "password": "wrong"}
    status, body = await call(api, "POST", "/v1/login", json=login)
    assert (status, body["errcode"]) == (403, errors.LOGIN_REFUSED)
    status, body = await call(
        api, "POST", "/v1/login", json={"email": "down@example.com", "password": "pw"}
    )
    assert (status, body["errcode"]) == (502, errors.MSN_UNREACHABLE)
    status, body = await call(api, "POST", "/v1/login", json={**login, "password": "right"})
    assert status == 200
    assert body == {
        "email": "alice@example.com",
        "friendly_name": "Alice <3",
        "protocol": 12,
        "contacts": 2,
    }
    status, body = await call(api, "POST", "/v1/login", json={**login, "password": "right"})
    assert (status, body["errcode"]) == (409, errors.ALREADY_LOGGED_IN)
    assert ("login", ALICE, "alice@example.com") in backend.calls


async def test_logout_contacts_and_chats(
    api: TestClient[Any, Any], backend: RecordingBackend
) -> None:
    status, body = await call(api, "POST", "/v1/logout")
    assert (status, body["errcode"]) == (400, errors.NOT_LOGGED_IN)
    status, body = await call(api, "GET", "/v1/contacts")
    assert (status, body["errcode"]) == (400, errors.NOT_LOGGED_IN)
    backend.logged_in[ALICE] = "alice@example.com"
    assert await call(api, "GET", "/v1/contacts") == (200, {"connected": True, "contacts": []})
    status, body = await call(api, "POST", "/v1/pm/Bob@Example.com")
    assert (status, body["room_id"], body["email"]) == (200, "!room:hs.test", "bob@example.com")
    status, body = await call(api, "POST", "/v1/pm/bob")
    assert (status, body["errcode"]) == (400, errors.INVALID_PARAM)
    assert await call(api, "POST", "/v1/logout") == (200, {"email": "alice@example.com"})


async def test_unknown_routes_and_methods_answer_json(api: TestClient[Any, Any]) -> None:
    status, body = await call(api, "GET", "/v1/nothing")
    assert (status, body["errcode"]) == (404, errors.UNRECOGNIZED)
    status, body = await call(api, "GET", "/v1/login")
    assert (status, body["errcode"]) == (405, errors.UNRECOGNIZED)


async def test_cors_preflight_and_headers(api: TestClient[Any, Any]) -> None:
    resp = await api.options(
        "/_matrix/provision/v1/login",
        headers={"Origin": "https://manager.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]
    resp = await api.get("/_matrix/provision/v1/whoami")  # a 401 carries them too
    assert resp.status == 401 and resp.headers["Access-Control-Allow-Origin"] == "*"


# endregion
# region the OpenAPI document


def _spec() -> dict[str, Any]:
    return dict(YAML(typ="safe").load(SPEC.read_text()))


ROUTES = sorted(
    (method.upper(), path)
    for path, item in _spec()["paths"].items()
    for method in item
    if method in ("get", "post", "put", "delete", "patch")
)


def test_the_routes_are_the_spec_routes() -> None:
    spec = _spec()
    assert spec["servers"] == [{"url": "/_matrix/provision"}]
    app = ProvisioningAPI(_backend(RecordingBackend()), SECRET).app
    served = sorted(
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    )
    assert served == ROUTES


def test_the_spec_documents_the_shared_errors_and_refs_resolve() -> None:
    spec = _spec()
    assert spec["components"]["securitySchemes"]["sharedSecret"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"200", "400", "401"} <= codes, (method, path)
            params = [p.get("$ref") for p in operation["parameters"]]
            assert "#/components/parameters/UserID" in params

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if "$ref" in node else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    for ref in refs(spec):
        node: Any = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


# endregion
# region login page


@pytest_asyncio.fixture
async def page(
    backend: RecordingBackend,
) -> AsyncIterator[tuple[TestClient[Any, Any], LoginLinks]]:
    links = LoginLinks(600)
    app = web.Application()
    app.add_subapp("/public", LoginPage(_backend(backend), links).app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client, links


def _form(email: str = "alice@example.com", password: str = "right") -> dict[str, str]:
    return {"email": email, "password": password}


async def test_login_page_single_use(
    page: tuple[TestClient[Any, Any], LoginLinks], backend: RecordingBackend
) -> None:
    client, links = page
    token = links.issue(ALICE, "alice@example.com")
    resp = await client.get(f"/public/login/{token}")
    html = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
    assert 'value="alice@example.com"' in html and "@alice:hs.test" in html
    assert "MSN &lt;bridge&gt;" in html
    # A second GET still shows the form (previews spend nothing).
    assert (await client.get(f"/public/login/{token}")).status == 200

    resp = await client.post(f"/public/login/{token}", data=_form(password="wrong"))
    assert resp.status == 403
    assert "Wrong &lt;password&gt;." in await resp.text()
    resp = await client.post(f"/public/login/{token}", data=_form())
    html = await resp.text()
    assert resp.status == 200 and 'id="success"' in html and "Alice &lt;3" in html
    assert (
        "notify",
        ALICE,
        "Logged in to MSN as Alice <3 (alice@example.com) through the web login page.",
    ) in backend.calls
    for method in ("GET", "POST"):
        resp = await client.request(method, f"/public/login/{token}", data=_form())
        assert resp.status == 410 and "already used" in await resp.text()
        assert resp.headers["Content-Security-Policy"]
    assert [c for c in backend.calls if c[0] == "login"] == [
        ("login", ALICE, "alice@example.com"),
        ("login", ALICE, "alice@example.com"),
    ]


async def test_login_page_refuses_bad_input_without_spending_the_link(
    page: tuple[TestClient[Any, Any], LoginLinks], backend: RecordingBackend
) -> None:
    client, links = page
    token = links.issue(ALICE)
    url = f"/public/login/{token}"
    resp = await client.post(url, data=_form(email="<b>not-an-address"))
    html = await resp.text()
    assert resp.status == 400 and 'value="&lt;b&gt;not-an-address"' in html
    assert (await client.post(url, data=_form(password=""))).status == 400
    assert (await client.post(url, json=_form())).status == 415
    assert (
        await client.post(url, data={"email": "alice@example.com", "password": "p" * 2000})
    ).status == 400
    assert not [c for c in backend.calls if c[0] == "login"]
    assert (await client.post(url, data=_form())).status == 200


async def test_unknown_tokens_and_paths(page: tuple[TestClient[Any, Any], LoginLinks]) -> None:
    client, _ = page
    for path in ("/public/login/" + "A" * 43, "/public/login/short", "/public/other", "/public/"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert (
            resp.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        )


async def test_one_login_at_a_time_per_link(
    page: tuple[TestClient[Any, Any], LoginLinks], backend: RecordingBackend
) -> None:
    client, links = page
    token = links.issue(ALICE)
    backend.gate = asyncio.Event()
    first = asyncio.create_task(client.post(f"/public/login/{token}", data=_form()))
    while not backend.calls:
        await asyncio.sleep(0.01)
    second = await client.post(f"/public/login/{token}", data=_form())
    assert second.status == 409
    backend.gate.set()
    assert (await first).status == 200


async def test_a_user_who_lost_permission_cannot_use_a_link(
    page: tuple[TestClient[Any, Any], LoginLinks], backend: RecordingBackend
) -> None:
    client, links = page
    token = links.issue(ALICE)
    backend.levels[ALICE] = "none"
    resp = await client.post(f"/public/login/{token}", data=_form())
    assert resp.status == 403
    assert not [c for c in backend.calls if c[0] == "login"]


async def test_tokens_are_kept_out_of_the_access_log(
    page: tuple[TestClient[Any, Any], LoginLinks], caplog: pytest.LogCaptureFixture
) -> None:
    client, links = page
    token = links.issue(ALICE)
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    await client.get(f"/public/login/{token}")
    await client.post(f"/public/login/{token}", data=_form())
    access = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) == 2
    assert all("/login/<redacted>" in r.getMessage() for r in access)
    assert token not in caplog.text and "right" not in caplog.text


# endregion


def test_valid_user_ids() -> None:
    assert valid_user_id("@a:b")
    assert valid_user_id("@alice:hs.test:8448")
    for bad in ("", "a:b", "@a", "@:b", "@a b:c", "@a:" + "b" * 300):
        assert not valid_user_id(bad)
