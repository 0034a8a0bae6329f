"""The HTTP session the bridge's MSN clients share: one pool, and no cookie carried from one
user's request to another's (a real aiohttp server on loopback)."""

from __future__ import annotations

from aiohttp import web

from bridge import msn_http
from tests.integration.test_soap_http import serve


async def test_shared_session_keeps_no_cookie() -> None:
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.Response(text="ok")
        response.set_cookie("MSPAuth", "secret-of-whoever-logged-in")
        return response

    async with serve(handler) as url:
        url = url.replace("127.0.0.1", "localhost")  # (aiohttp keeps no cookie for IP hosts)
        try:
            assert msn_http.session() is None  # not open: a client would open its own
            shared = msn_http.open_session()
            assert msn_http.open_session() is shared and msn_http.session() is shared
            for _ in range(2):  # two users' logins, one after the other
                async with shared.post(url) as response:
                    assert response.status == 200
        finally:
            await msn_http.close()
    assert seen == [None, None]
    assert msn_http.session() is None
