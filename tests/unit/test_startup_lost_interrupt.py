"""A Ctrl-C during the start-up ends it, whatever the start is awaiting.

Seen in CI: Python 3.11's ``asyncio.wait_for`` returns the awaited result instead of raising
when the task is cancelled in the same loop turn the result arrives (the homeserver checks await
their requests that way); the start then went on, and the bridge ran on, deaf to that Ctrl-C.
Seen in a sweep of interrupt times: a start that kept its cancellation until the homeserver's
answer came, 60 s later. The start now ends a few seconds after the interrupt in any case, and
at once on a second one."""

from __future__ import annotations

from typing import Any
from types import SimpleNamespace
import asyncio
import logging
import signal

from mautrix.bridge import Bridge
import pytest

from bridge import app, metrics, startup
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


def _clean_up(bridge: MSNBridge) -> None:
    for action in bridge.startup_actions:  # mautrix's start, which runs them, was replaced
        action.close()
    for signum in (signal.SIGINT, signal.SIGTERM):
        bridge.loop.remove_signal_handler(signum)


async def _no_metrics(*args: Any) -> None:
    pass


def _sigint_handler(bridge: MSNBridge) -> asyncio.Handle:
    return bridge.loop._signal_handlers[signal.SIGINT]  # type: ignore[attr-defined, no-any-return]


def _ctrl_c(bridge: MSNBridge) -> None:
    """What the loop's SIGINT handler calls."""
    handler = _sigint_handler(bridge)
    handler._callback(*handler._args)  # type: ignore[attr-defined]


async def test_a_ctrl_c_whose_cancellation_is_lost_still_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = _bridge()

    async def start_with_a_reply_arriving_with_the_ctrl_c(self: Bridge) -> None:
        reply: asyncio.Future[str] = bridge.loop.create_future()
        start = asyncio.current_task()

        def reply_and_ctrl_c() -> None:
            reply.set_result("versions")
            # in the same turn as the reply
            assert _sigint_handler(bridge)._args == (start,)
            _ctrl_c(bridge)

        bridge.loop.call_soon(reply_and_ctrl_c)
        await asyncio.wait_for(reply, 5)  # on 3.11 the cancellation is swallowed here
        await asyncio.sleep(0.05)  # the rest of the start

    monkeypatch.setattr(Bridge, "start", start_with_a_reply_arriving_with_the_ctrl_c)
    monkeypatch.setattr(metrics, "serve_from_config", _no_metrics)
    try:
        with pytest.raises(startup.StartupError) as raised:
            await bridge.start()
        assert raised.value.code == startup.EXIT_INTERRUPTED
        assert raised.value.message == "Interrupted before the bridge started."
        # not running: a Ctrl-C now is still an interrupted start, not a stop of a running bridge
        assert _sigint_handler(bridge)._callback == bridge._interrupt_start
    finally:
        _clean_up(bridge)


class _Left(Exception):
    """Stands in for the process leaving (``startup.leave_now`` ends it with os._exit)."""


async def _start_stuck_on_a_request(
    monkeypatch: pytest.MonkeyPatch, bridge: MSNBridge, release: asyncio.Event
) -> asyncio.Task[startup.StartupError | None]:
    """The start awaits a request that keeps its cancellation until the answer arrives (seen:
    a homeserver request with no answer for 60 s)."""

    async def stuck(self: Bridge) -> None:
        while True:
            try:
                await release.wait()
                return
            except asyncio.CancelledError:
                continue  # held on to, until the answer

    monkeypatch.setattr(Bridge, "start", stuck)
    monkeypatch.setattr(metrics, "serve_from_config", _no_metrics)

    async def start() -> startup.StartupError | None:
        try:
            await bridge.start()
        except startup.StartupError as e:  # a SystemExit: not to leave the event loop
            return e
        return None

    task = asyncio.ensure_future(start())
    await asyncio.sleep(0)  # the start installs its signal handlers
    return task


def _leaving(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], list[str]]:
    codes: list[int] = []
    reported: list[str] = []

    def leave_now(code: int) -> None:
        codes.append(code)
        raise _Left

    monkeypatch.setattr(startup, "leave_now", leave_now)
    monkeypatch.setattr(startup, "report", lambda error: reported.append(error.message))
    return codes, reported


async def test_a_start_that_holds_on_to_its_cancellation_is_left_soon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = _bridge()
    monkeypatch.setattr(app, "INTERRUPTED_START_GRACE", 0.2)
    codes, reported = _leaving(monkeypatch)
    release = asyncio.Event()
    task = await _start_stuck_on_a_request(monkeypatch, bridge, release)
    left = bridge.loop.create_future()
    bridge.loop.set_exception_handler(lambda loop, context: left.set_result(context))
    try:
        started = bridge.loop.time()
        _ctrl_c(bridge)
        context = await asyncio.wait_for(left, 5)
        assert isinstance(context.get("exception"), _Left), context
        assert 0.2 <= bridge.loop.time() - started < 2
        assert codes == [startup.EXIT_INTERRUPTED]
        assert reported == ["Interrupted before the bridge started."]
        assert not task.done()  # it was still stuck: only the grace period ended it
    finally:
        bridge.loop.set_exception_handler(None)
        release.set()
        error = await task
        assert error is not None and error.code == startup.EXIT_INTERRUPTED
        _clean_up(bridge)


async def test_a_second_ctrl_c_during_the_start_leaves_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = _bridge()
    codes, reported = _leaving(monkeypatch)
    release = asyncio.Event()
    task = await _start_stuck_on_a_request(monkeypatch, bridge, release)
    try:
        _ctrl_c(bridge)
        assert codes == []  # the first one waits for the start to wind down
        with pytest.raises(_Left):
            _ctrl_c(bridge)
        assert codes == [startup.EXIT_INTERRUPTED]
        assert reported == ["Interrupted before the bridge started."]
    finally:
        release.set()
        error = await task
        assert error is not None and error.code == startup.EXIT_INTERRUPTED
        _clean_up(bridge)


async def test_a_second_ctrl_c_while_stopping_leaves_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bridge = _bridge()
    codes, _ = _leaving(monkeypatch)
    bridge._stop_task = bridge.loop.create_future()
    bridge._signal_stop()  # the first: an orderly stop
    assert bridge._stop_task.result() == 0 and codes == []
    with pytest.raises(_Left):
        bridge._signal_stop()
    assert codes == [startup.EXIT_INTERRUPTED]
