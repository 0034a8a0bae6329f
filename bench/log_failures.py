"""CPU of logging one homeserver failure, with its traceback and as the bridge logs it now.

Run with ``python bench/log_failures.py [-n 2000]``. A local server accepts a connection and
closes it; an aiohttp request to it fails with ``ServerDisconnectedError`` (aiohttp's real
stack, as when the homeserver drops a request). That exception is logged ``-n`` times with
``log.warning(..., exc_info=True)`` through a handler with the example config's format (to a
file), each way:

* ``traceback`` — as Python logs it (the baseline);
* ``brief`` — through :class:`bridge.log_failures.BriefFailures` (the exception's last line);
* ``no exception`` — the same warning without ``exc_info`` (the floor).

Printed: microseconds of CPU per record, and the ratios. The bridge's real failures pass more
frames (mautrix's request and intent layers, the bridge's own), so the traceback costs more
there than here.
"""

from __future__ import annotations

from pathlib import Path
import argparse
import asyncio
import logging
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientError, ClientSession

from bridge.log_failures import BriefFailures

FORMAT = "[%(asctime)s] [%(levelname)s@%(name)s] %(message)s"  # (example-config.yaml)


async def homeserver_failure() -> BaseException:
    """A real ``ServerDisconnectedError``, raised through aiohttp's request stack."""

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ClientSession() as session:
            try:
                async with session.put(f"http://127.0.0.1:{port}/_matrix/client/v3/x") as r:
                    await r.read()
            except ClientError as e:
                return e
    finally:
        server.close()
        await server.wait_closed()
    raise RuntimeError("the request did not fail")


def per_record(error: BaseException, n: int, *, brief: bool, exc: bool) -> float:
    """Microseconds of CPU per warning logged to a file."""
    with tempfile.TemporaryDirectory() as tmp:
        handler = logging.FileHandler(Path(tmp) / "bench.log")
        handler.setFormatter(logging.Formatter(FORMAT))
        if brief:
            handler.addFilter(BriefFailures())
        log = logging.getLogger(f"mau.bench.{int(brief)}{int(exc)}")
        log.propagate = False
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        exc_info = (type(error), error, error.__traceback__) if exc else None
        try:
            started = time.process_time()
            for _ in range(n):
                log.warning("Failed to create the space %r", "MSN", exc_info=exc_info)
            spent = time.process_time() - started
        finally:
            log.removeHandler(handler)
            handler.close()
    return spent / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", type=int, default=2000, help="records per way")
    args = parser.parse_args()
    error = asyncio.run(homeserver_failure())
    frames = 0
    tb = error.__traceback__
    while tb is not None:
        frames, tb = frames + 1, tb.tb_next
    print(f"log_failures: {type(error).__name__} raised through {frames} frames, {args.n} records")
    per_record(error, min(args.n, 200), brief=False, exc=True)  # (warm-up)
    ways = {
        "traceback (Python's logging, the baseline)": per_record(
            error, args.n, brief=False, exc=True
        ),
        "brief (bridge.log_failures)": per_record(error, args.n, brief=True, exc=True),
        "no exception (the floor)": per_record(error, args.n, brief=False, exc=False),
    }
    base = next(iter(ways.values()))
    for name, us in ways.items():
        print(f"  {name:<44} {us:8.1f} us of CPU per record  {us / base:6.3f}x the baseline")


if __name__ == "__main__":
    main()
