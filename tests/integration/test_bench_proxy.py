"""The benchmarks' counting proxy in front of the homeserver: an upstream that closes the
connection without answering (Synapse stopping with requests in flight) gets a gateway's 502,
recorded like any answer, after one more try; not an exception in the proxy."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession

from bench._stack import CountingProxy


async def test_an_upstream_that_hangs_up_is_answered_502_after_one_retry() -> None:
    accepted = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")  # the request's head, then no answer at all
        writer.close()

    upstream = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    proxy = CountingProxy(f"http://127.0.0.1:{port}")
    await proxy.start()
    try:
        async with ClientSession() as http, http.get(f"{proxy.url}/_matrix/x") as answer:
            assert answer.status == 502
            assert "disconnected" in (await answer.text()).lower()
        assert [(r.path, r.status) for r in proxy.requests] == [("/_matrix/x", 502)]
        assert accepted >= 2 and proxy.in_flight == 0  # (tried again, by the proxy at least)
    finally:
        await proxy.stop()
        upstream.close()
        await upstream.wait_closed()
