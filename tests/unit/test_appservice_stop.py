"""A stopping appservice lets the events it already took in be handled before mautrix closes
what they write to (a state event handled after the answer wrote to a closed database)."""

from __future__ import annotations

import asyncio

from mautrix.appservice import AppService
from mautrix.types import Event, StateEvent
import pytest

from tests.support.appservice import MemoryASStateStore, adopted_appservice


def _member_event() -> StateEvent:
    return StateEvent.deserialize(
        {
            "type": "m.room.member",
            "room_id": "!room:example.com",
            "event_id": "$join",
            "sender": "@alice:example.com",
            "state_key": "@alice:example.com",
            "origin_server_ts": 1,
            "content": {"membership": "join"},
        }
    )


class _Store(MemoryASStateStore):
    closed = False

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def az() -> AppService:
    """A started appservice (its web server on a free port)."""
    appservice = adopted_appservice(_Store())
    await appservice.start("127.0.0.1", 0)
    return appservice


async def test_a_stop_waits_for_the_events_being_handled(az: AppService) -> None:
    order: list[str] = []
    started = asyncio.Event()

    async def slow_handler(event: Event) -> None:
        started.set()
        await asyncio.sleep(0.2)  # e.g. a database write under way
        order.append(f"handled {event.event_id}")

    az.event_handlers = [slow_handler]
    await az.handle_matrix_event(_member_event())
    await started.wait()
    await az.stop()
    order.append("stopped")
    assert order == ["handled $join", "stopped"]
    assert az.state_store.closed  # mautrix's own stop still ran


async def test_a_handler_that_never_ends_does_not_hold_the_stop(
    az: AppService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bridge.appservice.STOP_SECONDS", 0.1)
    never = asyncio.Event()

    async def stuck_handler(event: Event) -> None:
        await never.wait()

    az.event_handlers = [stuck_handler]
    await az.handle_matrix_event(_member_event())
    await asyncio.wait_for(az.stop(), timeout=5)
    assert az.state_store.closed
