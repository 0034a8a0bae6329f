"""What one ghost presence costs the bridge: CPU per ``PUT /presence`` and memory per ghost.

Run with ``python bench/presence_put.py [--ghosts 2000] [--repeat 3] [--json FILE]``. The
homeserver is a small aiohttp server in this process (on 127.0.0.1) that answers every request
with ``{}``, so the figures are the client side only; logging is set up as the bridge's default
config sets it (``mau`` at DEBUG, a console handler at INFO). Each ghost's presence is PUT once
per round, one ghost after the other, through:

* ``intent per ghost`` (stop 16): ``az.intent.user(mxid).set_presence(..., ignore_cache=True)``
  (the bridge re-sends presence on purpose): mautrix makes an ``IntentAPI`` and an API object
  (with a logger) per ghost, kept for good; its first round also registers each ghost;
* ``API object per ghost`` (stop 17): ``az.intent.api.user(mxid).request(...)``: no intent,
  but the per-ghost API object and its logger;
* ``bot API, user_id`` (now, ``Puppet.send_presence_now``): the bot's API object with the
  ghost's ``user_id``: nothing per ghost;
* the floor, in the same run: the same requests through aiohttp alone.

It prints the bridge-side CPU per PUT (best of ``--repeat`` rounds, the first round, which
makes the per-ghost objects, shown apart) and the bytes left allocated per ghost after the
first round (tracemalloc, a separate round).
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable
from pathlib import Path
import argparse
import asyncio
import gc
import json
import logging
import logging.config
import sys
import time
import tracemalloc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, web
from mautrix.api import HTTPAPI, Method, Path as MatrixPath
from mautrix.appservice import AppService, AppServiceAPI
from mautrix.types import PresenceState

from bridge.config import base_config_path

Put = Callable[[AppService, str], Awaitable[Any]]
CONTENT = {"presence": "online", "status_msg": "at work"}


async def intent_per_ghost(az: AppService, mxid: str) -> None:
    intent = az.intent.user(mxid)  # type: ignore
    await intent.set_presence(PresenceState.ONLINE, "at work", ignore_cache=True)


async def api_per_ghost(az: AppService, mxid: str) -> None:
    api = az.intent.api.user(mxid)  # type: ignore
    await api.request(Method.PUT, MatrixPath.v3.presence[mxid].status, CONTENT)


async def bot_api_user_id(az: AppService, mxid: str) -> None:
    await HTTPAPI.request(
        az.intent.api,  # type: ignore
        Method.PUT,
        MatrixPath.v3.presence[mxid].status,
        CONTENT,
        query_params={"user_id": mxid},
    )


def _logging() -> None:
    from ruamel.yaml import YAML

    config = YAML(typ="safe").load(Path(base_config_path()).read_text())["logging"]
    logging.config.dictConfig(config)


async def _serve() -> tuple[web.AppRunner, str]:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _appservice(url: str, session: ClientSession) -> AppService:
    az = AppService(
        server=url,
        domain="msn.test",
        as_token="as-token",
        hs_token="hs-token",
        bot_localpart="msnbot",
        id="msn",
        log=logging.getLogger("mau.as"),
        loop=asyncio.get_running_loop(),
    )
    az._http_session = session
    az._intent = AppServiceAPI(  # as AppService.start makes it, without its web server
        base_url=url,
        bot_mxid=az.bot_mxid,
        log=az.log,
        token=az.as_token,
        state_store=az.state_store,
        client_session=session,
    ).bot_intent()
    return az


async def _round(az: AppService, put: Put, ghosts: list[str]) -> float:
    started = time.thread_time()
    for mxid in ghosts:
        await put(az, mxid)
    return (time.thread_time() - started) / len(ghosts)


async def _measure(
    url: str, session: ClientSession, name: str, put: Put, n: int, repeat: int
) -> dict[str, Any]:
    # ghosts of their own for each path and phase: mautrix's per-user loggers are global
    tag = put.__name__
    ghosts = [f"@msn_{tag}_{i}_example.com:msn.test" for i in range(n)]
    az = _appservice(url, session)
    first = await _round(az, put, ghosts)
    rounds = [await _round(az, put, ghosts) for _ in range(repeat)]
    # memory: a fresh appservice object and new ghosts, one round traced
    az = _appservice(url, session)
    ghosts = [f"@msn_{tag}_mem{i}_example.com:msn.test" for i in range(n)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    await _round(az, put, ghosts)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    kept = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return {
        "path": name,
        "first_ms": first * 1000,
        "ms": min(rounds) * 1000,
        "bytes_per_ghost": kept / n,
    }


async def _floor(url: str, session: ClientSession, n: int, repeat: int) -> dict[str, Any]:
    async def put(mxid: str) -> None:
        async with session.put(
            f"{url}/_matrix/client/v3/presence/{mxid}/status",
            params={"user_id": mxid},
            json=CONTENT,
            headers={"Authorization": "Bearer as-token"},
        ) as response:
            await response.json()

    ghosts = [f"@msn_user{i}_example.com:msn.test" for i in range(n)]
    best = float("inf")
    for _ in range(repeat + 1):
        started = time.thread_time()
        for mxid in ghosts:
            await put(mxid)
        best = min(best, (time.thread_time() - started) / n)
    return {"path": "floor: aiohttp alone", "first_ms": None, "ms": best * 1000}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ghosts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    _logging()
    runner, url = await _serve()
    results: list[dict[str, Any]] = []
    try:
        async with ClientSession() as session:
            results.append(await _floor(url, session, args.ghosts, args.repeat))
            for name, put in (
                ("intent per ghost (stop 16)", intent_per_ghost),
                ("API object per ghost (stop 17)", api_per_ghost),
                ("bot API, user_id (now)", bot_api_user_id),
            ):
                results.append(await _measure(url, session, name, put, args.ghosts, args.repeat))
    finally:
        await runner.cleanup()
    floor = results[0]["ms"]
    print(f"presence PUTs, {args.ghosts} ghosts, client side (best of {args.repeat} rounds)")
    print(f"{'path':34} {'ms/PUT':>7} {'x floor':>8} {'1st round':>10} {'bytes/ghost':>12}")
    for r in results:
        first = f"{r['first_ms']:.3f}" if r["first_ms"] is not None else "-"
        kept = f"{r['bytes_per_ghost']:.0f}" if "bytes_per_ghost" in r else "-"
        print(f"{r['path']:34} {r['ms']:7.3f} {r['ms'] / floor:7.2f}x {first:>10} {kept:>12}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
