"""A Ctrl-C during the start-up stops it even when its cancellation is lost on the way.

Seen in CI: Python 3.11's ``asyncio.wait_for`` returns the awaited result instead of raising
when the task is cancelled in the same loop turn the result arrives (the homeserver checks await
their requests that way); the start then went on, and the bridge ran on, deaf to that Ctrl-C."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
import asyncio
import logging
import signal

from mautrix.bridge import Bridge
import pytest

from bridge import metrics, startup
from bridge.app import MSNBridge


def _bridge() -> MSNBridge:
    bridge = MSNBridge.__new__(MSNBridge)
    bridge.loop = asyncio.get_running_loop()
    bridge.args = SimpleNamespace(no_update=True)
    bridge.config = {"appservice.hostname": "127.0.0.1", "appservice.port": 9}
    bridge.startup_actions = []
    bridge.az = SimpleNamespace(bot_mxid="@msnbot:example.org")
    bridge.log = logging.getLogger("mau.init")
    return bridge


async def test_a_ctrl_c_whose_cancellation_is_lost_still_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = _bridge()
    running: list[str] = []

    async def start_with_a_reply_arriving_with_the_ctrl_c(self: Bridge) -> None:
        reply: asyncio.Future[str] = bridge.loop.create_future()
        start = asyncio.current_task()

        def reply_and_ctrl_c() -> None:
            reply.set_result("versions")
            # what the loop's SIGINT handler calls, in the same turn as the reply
            handler = bridge.loop._signal_handlers[signal.SIGINT]  # type: ignore[attr-defined]
            assert handler._args == (start,)
            handler._run()

        bridge.loop.call_soon(reply_and_ctrl_c)
        await asyncio.wait_for(reply, 5)  # on 3.11 the cancellation is swallowed here
        await asyncio.sleep(0.05)  # the rest of the start

    async def no_metrics(*args: Any) -> None:
        running.append("metrics server started")

    monkeypatch.setattr(Bridge, "start", start_with_a_reply_arriving_with_the_ctrl_c)
    monkeypatch.setattr(metrics, "serve_from_config", no_metrics)
    try:
        with pytest.raises(startup.StartupError) as raised:
            await bridge.start()
        assert raised.value.code == startup.EXIT_INTERRUPTED
        assert raised.value.message == "Interrupted before the bridge started."
        # not running: a Ctrl-C now is still an interrupted start, not a stop of a running bridge
        handler = bridge.loop._signal_handlers[signal.SIGINT]  # type: ignore[attr-defined]
        assert handler._callback == bridge._interrupt_start
    finally:
        for action in bridge.startup_actions:  # mautrix's start, which runs them, was replaced
            action.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            bridge.loop.remove_signal_handler(signum)
