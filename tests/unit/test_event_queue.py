"""bridge.event_queue.EventQueue: back-pressure when full, typing dropped only when behind,
presence churn of one contact merged in place (newest state, older name kept), unwanted events
never waited for."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import REGISTRY

from bridge.event_queue import EventQueue
from bridge.msnp.events import (
    Event,
    MessageFormat,
    PersonalMessageChanged,
    PresenceChanged,
    Status,
    TextMessageReceived,
    TypingReceived,
)

LOG = logging.getLogger("test.event_queue")


def text(i: int) -> TextMessageReceived:
    return TextMessageReceived("bob@x.com", "bob@x.com", "Bob", f"m{i}", MessageFormat(), ())


def make(limit: int) -> EventQueue[Event]:
    return EventQueue(limit, lambda _item, evt: evt, LOG)


async def drain(queue: EventQueue[Event]) -> list[Event]:
    out = []
    while (item := queue.get_nowait()) is not None:
        out.append(item)
    return out


async def test_a_full_queue_makes_the_producer_wait_and_loses_nothing() -> None:
    queue = make(4)
    for i in range(4):
        assert await queue.put(text(i), text(i))
    blocked = asyncio.create_task(queue.put(text(4), text(4)))
    await asyncio.sleep(0.01)
    assert not blocked.done() and len(queue) == 4
    assert queue.counts["backpressure_waits"] == 1
    first = await queue.get()
    assert await asyncio.wait_for(blocked, 1) is True
    rest = await drain(queue)
    assert [e.text for e in [first, *rest]] == [f"m{i}" for i in range(5)]  # type: ignore
    assert queue.peak == 4


def limited(kind: str) -> float:
    return REGISTRY.get_sample_value("msn_limited_total", {"kind": kind}) or 0.0


async def test_typing_is_dropped_only_while_the_handlers_are_behind() -> None:
    dropped_before = limited("typing_dropped")
    queue = make(10)
    typing = TypingReceived("bob@x.com", "bob@x.com", ())
    assert await queue.put(typing, typing)  # nearly empty: kept
    for i in range(4):
        await queue.put(text(i), text(i))
    assert await queue.put(typing, typing) is False  # half full: dropped, not waited for
    assert queue.counts["typing_dropped"] == 1 and len(queue) == 5
    assert limited("typing_dropped") == dropped_before + 1  # the metric counts it too


async def test_presence_churn_of_one_contact_is_merged_in_place() -> None:
    queue = make(100)
    first = PresenceChanged("Bob@x.com", Status.ONLINE, "Bob")
    await queue.put(first, first)
    await queue.put(text(0), text(0))
    for i in range(1000):
        evt = PresenceChanged("bob@x.com", Status.BUSY if i % 2 else Status.AWAY, f"Bob {i}")
        await queue.put(evt, evt)
    last = PresenceChanged("bob@x.com", Status.IDLE, None)  # FLN/NLN without a name
    await queue.put(last, last)
    psm = PersonalMessageChanged("bob@x.com", "a")
    await queue.put(psm, psm)
    await queue.put(
        PersonalMessageChanged("bob@x.com", "b"), PersonalMessageChanged("bob@x.com", "b")
    )
    carol = PresenceChanged("carol@x.com", Status.ONLINE, "Carol")
    await queue.put(carol, carol)
    got = await drain(queue)
    assert got == [
        PresenceChanged("bob@x.com", Status.IDLE, "Bob 999"),  # the newest, at the first's place
        text(0),
        PersonalMessageChanged("bob@x.com", "b"),
        carol,
    ]
    assert queue.counts["presence_coalesced"] == 1002
    # once handled, a new update of the same contact waits again
    again = PresenceChanged("bob@x.com", Status.ONLINE, None)
    assert await queue.put(again, again)
    assert await drain(queue) == [again]


async def test_events_no_longer_wanted_are_not_waited_for() -> None:
    queue = make(2)
    await queue.put(text(0), text(0))
    await queue.put(text(1), text(1))
    wanted = True
    blocked = asyncio.create_task(queue.put(text(2), text(2), wanted=lambda: wanted))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    wanted = False  # e.g. the session closed the client that sent it
    queue.wake()
    assert await asyncio.wait_for(blocked, 1) is False
    assert len(queue) == 2


async def test_an_idle_queue_keeps_no_deque_and_works_again_after_emptying() -> None:
    queue = make(4)
    assert queue._slots is None and len(queue) == 0
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert await queue.put(text(1), text(1))
    assert await asyncio.wait_for(getter, 5) == text(1)
    assert queue._slots is None and len(queue) == 0  # (emptied: the deque is gone again)
    for i in range(3):
        assert await queue.put(text(i), text(i))
    assert len(queue) == 3 and queue.peek() == text(0)
    assert await drain(queue) == [text(0), text(1), text(2)]
    assert queue._slots is None and queue.peek() is None
