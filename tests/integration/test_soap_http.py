"""The SOAP transport against a real HTTP server on 127.0.0.1: what it sends, what it returns,
and every failure as a typed error (fault, HTTP error, redirect, oversize, timeout, refused)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import asyncio
import contextlib
import logging
import socket

from aiohttp import ClientSession, web
import pytest

from bridge.msnp.errors import ServiceUnavailable, SoapFault
from bridge.msnp.soap import SoapRequest, envelope
from bridge.msnp.soap_http import post_soap

pytestmark = pytest.mark.timeout(60)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FAULT = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>nope</faultstring><detail>"
    b'<errorcode xmlns="http://www.msn.com/webservices/AddressBook">ContactDoesNotExist'
    b"</errorcode></detail></soap:Fault></soap:Body></soap:Envelope>"
)
SECRET = "hunter2-secret-ticket"


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/abservice/abservice.asmx?x=1"
    finally:
        await runner.cleanup()


def _request() -> SoapRequest:
    return SoapRequest(
        "http://www.msn.com/webservices/AddressBook/ABFindAll", envelope("", f"<x>{SECRET}</x>")
    )


async def test_success_sends_action_and_body() -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["method"] = request.method
        seen["action"] = request.headers.get("SOAPAction")
        seen["type"] = request.headers.get("Content-Type")
        seen["body"] = await request.read()
        return web.Response(body=b"<ok/>", content_type="text/xml")

    async with serve(handler) as url, ClientSession() as http:
        assert await post_soap(http, url, _request()) == b"<ok/>"
    assert seen["method"] == "POST"
    assert seen["action"] == "http://www.msn.com/webservices/AddressBook/ABFindAll"
    assert seen["type"] == "text/xml; charset=utf-8"
    assert seen["body"] == _request().body


async def test_no_soapaction_for_rst() -> None:
    seen: dict[str, object] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["has_action"] = "SOAPAction" in request.headers
        seen["type"] = request.headers.get("Content-Type")
        return web.Response(body=b"<ok/>")

    request = SoapRequest(None, b"<x/>", "application/soap+xml; charset=utf-8")
    async with serve(handler) as url, ClientSession() as http:
        await post_soap(http, url, request)
    assert seen == {"has_action": False, "type": "application/soap+xml; charset=utf-8"}


async def test_fault_in_error_answer() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, body=FAULT, content_type="text/xml")

    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(SoapFault) as info:
            await post_soap(http, url, _request())
    assert info.value.error_code == "ContactDoesNotExist" and info.value.status == 500


async def test_fault_in_200_answer_is_left_to_the_parser() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=200, body=FAULT)

    async with serve(handler) as url, ClientSession() as http:
        assert await post_soap(http, url, _request()) == FAULT


@pytest.mark.parametrize(
    ("status", "body", "match"),
    [
        (500, b"<html>Internal Server Error</html>", "HTTP 500"),
        (503, b"", "HTTP 503"),
        (404, b"<soap:Fault>not really</soap:Fault", "HTTP 404"),
        (302, b"", "redirected"),
    ],
)
async def test_http_errors(status: int, body: bytes, match: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        headers = {"Location": "http://127.0.0.1:1/elsewhere"} if status == 302 else None
        return web.Response(status=status, body=body, headers=headers)

    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match=match) as info:
            await post_soap(http, url, _request())
    assert info.value.status == status
    assert "x=1" not in str(info.value)  # no query string in messages


async def test_oversized_by_content_length() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match="5000 bytes"):
            await post_soap(http, url, _request(), max_bytes=4096)
        assert await post_soap(http, url, _request(), max_bytes=5000) == b"x" * 5000


async def test_oversized_streamed_answer_is_cut_off() -> None:
    sent = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(1000):  # would be 64 MB
                await response.write(b"y" * 65536)
                sent += 65536
        return response

    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match="more than"):
            await post_soap(http, url, _request(), max_bytes=200_000)
    assert sent < 64 * 65536


async def test_timeout() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=b"late")

    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await post_soap(http, url, _request(), timeout=0.3)
        release.set()


async def test_connection_refused_and_bad_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await post_soap(http, f"http://127.0.0.1:{port}/x", _request())
        with pytest.raises(ServiceUnavailable):
            await post_soap(http, "not a url", _request())


async def test_bodies_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=500, body=FAULT.replace(b"nope", SECRET.encode()))

    caplog.set_level(logging.DEBUG)
    async with serve(handler) as url, ClientSession() as http:
        with pytest.raises(SoapFault):
            await post_soap(http, url, _request())
    assert caplog.records, "expected debug logging of the call"
    assert all(SECRET not in record.getMessage() for record in caplog.records)


class ClosingServer:
    """A raw HTTP/1.1 server that answers the first request of each connection, keeping it
    alive, and closes the connection on its next request without answering: a kept-alive
    connection the server let go of just as the client reused it. ``answer_first=False``:
    it answers nothing at all."""

    def __init__(self, *, answer_first: bool = True, hold: asyncio.Event | None = None) -> None:
        self.answer_first = answer_first
        self.requests: list[tuple[int, str]] = []  # (connection number, SOAPAction)
        self.connections = 0
        #: set at each request; ``hold``: a request not answered waits for it before the close
        self.asked = asyncio.Event()
        self.hold = hold

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append((number, headers.get("soapaction", "")))
                self.asked.set()
                if answered or not self.answer_first:
                    if self.hold is not None:
                        await self.hold.wait()
                    break  # closed without an answer
                answered += 1
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n"
                    b"Connection: keep-alive\r\n\r\n<ok/>"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def closing_server(server: ClosingServer) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/abservice/abservice.asmx"
    finally:
        listener.close()
        await listener.wait_closed()


def _change() -> SoapRequest:
    return SoapRequest("http://www.msn.com/webservices/AddressBook/ABContactAdd", b"<x/>")


async def test_a_read_is_asked_again_when_a_reused_connection_was_closed() -> None:
    server = ClosingServer()
    async with closing_server(server) as url, ClientSession() as http:
        assert await post_soap(http, url, _request()) == b"<ok/>"
        # the same connection again: the server closes it unanswered; asked once more anew
        assert await post_soap(http, url, _request()) == b"<ok/>"
    action = _request().action
    assert server.requests == [(1, action), (1, action), (2, action)]


async def test_a_change_is_not_sent_twice() -> None:
    server = ClosingServer()
    async with closing_server(server) as url, ClientSession() as http:
        await post_soap(http, url, _request())
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await post_soap(http, url, _change())
    # it reached the server once: it may have been made, so it is not made again
    assert [a for _, a in server.requests].count(_change().action) == 1


async def test_a_read_is_asked_again_only_once() -> None:
    server = ClosingServer(answer_first=False)  # never answers anything
    async with closing_server(server) as url, ClientSession() as http:
        with pytest.raises(ServiceUnavailable, match="unreachable"):
            await post_soap(http, url, _request())
    assert len(server.requests) == 2
    # Passport's token request (no SOAPAction) is a read too
    server = ClosingServer()
    rst = SoapRequest(None, b"<x/>", "application/soap+xml; charset=utf-8")
    async with closing_server(server) as url, ClientSession() as http:
        assert await post_soap(http, url, rst) == b"<ok/>"
        assert await post_soap(http, url, rst) == b"<ok/>"
    assert len(server.requests) == 3


async def test_a_read_cut_off_by_closing_the_client_is_not_asked_again() -> None:
    # the client's HTTP session closes while a read is under way (the client was closed): the
    # read fails as the service being unavailable, and is not sent again on the closed session
    server = ClosingServer(answer_first=False, hold=asyncio.Event())
    async with closing_server(server) as url:
        http = ClientSession()
        post = asyncio.create_task(post_soap(http, url, _request()))
        await server.asked.wait()
        await http.close()
        assert server.hold is not None
        server.hold.set()
        with pytest.raises(ServiceUnavailable):
            await post
    assert len(server.requests) == 1
