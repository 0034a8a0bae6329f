"""The outgoing queue of a conversation, on the real database (SQLite and PostgreSQL), with a
recording sender: order, the bound, PENDING once, waiting for its condition, retries that wrote
nothing, expiry with the reason, and at most one write per message across a stop."""

from __future__ import annotations

from collections.abc import Callable
import asyncio
import logging

from mautrix.types import MessageStatusReason
from mautrix.util.async_db import Database
from mautrix.util.logging import TraceLogger
import pytest

from bridge.db.model import next_seq
from bridge.db.outgoing import Outgoing
from bridge.db.portal import Portal as DBPortal
from bridge.db.user import User as DBUser
from bridge.portal.outbox import Outbox, RetryLater
from bridge.texts import SendFailure

pytestmark = pytest.mark.timeout(60)

OWNER, CONV = "@alice:hs", "bob@example.com"
LOG = logging.getLogger("mau.test.outbox")
assert isinstance(LOG, TraceLogger)


class Sender:
    """Records what the queue asks of it; ``plan`` decides each delivery's outcome."""

    def __init__(self) -> None:
        self.online = asyncio.Event()
        self.online.set()
        self.written: list[str] = []
        self.outcomes: dict[str, SendFailure | None] = {}
        self.pending: list[str] = []
        self.plan: Callable[[Outgoing], None] = lambda item: None
        self.changed = asyncio.Event()

    def condition(self) -> asyncio.Event:
        return self.online

    async def deliver(self, item: Outgoing) -> None:
        self.plan(item)  # may raise RetryLater / SendFailure before "writing"
        await item.set_progress("sending", 0)
        self.written.append(item.text)
        await item.set_progress("queued", 1)

    async def report(self, item: Outgoing, failure: SendFailure | None) -> None:
        self.outcomes[item.event_id] = failure
        self._kick()

    async def report_pending(self, item: Outgoing) -> None:
        self.pending.append(item.event_id)
        self._kick()

    def _kick(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await self.changed.wait()


@pytest.fixture
async def conversation(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    await DBPortal(owner=OWNER, conv_key=CONV, room_id="!room").insert()


async def queue(outbox: Outbox, text: str, queued_at: int | None = None) -> Outgoing:
    item = Outgoing(
        room_id="!room",
        event_id=f"${text}",
        owner=OWNER,
        conv_key=CONV,
        seq=next_seq(),
        text=text,
        queued_at=queued_at if queued_at is not None else int(outbox._clock() * 1000),
    )
    await item.insert()
    assert await outbox.put(item)
    return item


async def stored() -> list[str]:
    return [i.text for i in await Outgoing.for_conversation(OWNER, CONV)]


async def test_waits_for_its_condition_then_sends_in_order(conversation: None) -> None:
    sender = Sender()
    sender.online.clear()
    outbox = Outbox(sender, LOG, max_size=10, timeout=60)
    assert (outbox._items, outbox._announced) == ((), ())  # nothing queued: no containers
    for i in range(5):
        await queue(outbox, f"m{i}")
    await sender.wait(lambda: len(sender.pending) == 5)
    assert sender.pending == [f"$m{i}" for i in range(5)]  # each reported waiting, once
    assert sender.written == [] and await stored() == [f"m{i}" for i in range(5)]
    sender.online.set()
    await sender.wait(lambda: len(sender.outcomes) == 5)
    assert sender.written == [f"m{i}" for i in range(5)]
    assert all(f is None for f in sender.outcomes.values())
    assert await stored() == [] and len(sender.pending) == 5
    assert (outbox._items, outbox._announced) == ((), ())  # emptied: none kept either


async def test_is_bounded(conversation: None) -> None:
    sender = Sender()
    sender.online.clear()
    outbox = Outbox(sender, LOG, max_size=3, timeout=60)
    for i in range(3):
        await queue(outbox, f"m{i}")
    assert outbox.full()
    extra = Outgoing(
        room_id="!room", event_id="$x", owner=OWNER, conv_key=CONV, seq=next_seq(), text="x"
    )
    assert not await outbox.put(extra)
    await outbox.stop(1)


async def test_retries_what_wrote_nothing_and_expires_with_the_reason(
    conversation: None,
) -> None:
    now = [1000.0]
    sender = Sender()
    attempts = 0

    def refuse(item: Outgoing) -> None:
        nonlocal attempts
        attempts += 1
        now[0] += 4  # each attempt "takes" 4 seconds of the queue's clock
        raise RetryLater("the conversation could not be opened (no switchboard)")

    sender.plan = refuse
    outbox = Outbox(sender, LOG, max_size=10, timeout=10, clock=lambda: now[0])
    await queue(outbox, "late", queued_at=1000 * 1000)
    await sender.wait(lambda: "$late" in sender.outcomes)
    failure = sender.outcomes["$late"]
    assert failure is not None and attempts == 3
    assert "within 10 seconds" in failure.message and "no switchboard" in failure.message
    assert sender.written == [] and sender.pending == ["$late"]
    assert await stored() == []


async def test_a_refused_message_fails_and_the_next_goes_on(conversation: None) -> None:
    sender = Sender()

    def nak_first(item: Outgoing) -> None:
        if item.text == "refused":
            raise SendFailure("bob is offline", MessageStatusReason.NETWORK_ERROR)

    sender.plan = nak_first
    outbox = Outbox(sender, LOG, max_size=10, timeout=60)
    await queue(outbox, "refused")
    await queue(outbox, "next")
    await sender.wait(lambda: len(sender.outcomes) == 2)
    failure = sender.outcomes["$refused"]
    assert failure is not None and failure.message == "bob is offline"
    assert sender.outcomes["$next"] is None and sender.written == ["next"]


async def test_a_stop_finishes_the_write_in_progress_and_keeps_the_rest(
    conversation: None,
) -> None:
    sender = Sender()
    writing = asyncio.Event()
    release = asyncio.Event()

    async def slow_deliver(item: Outgoing) -> None:
        await item.set_progress("sending", 0)
        writing.set()
        await release.wait()  # e.g. waiting for MSN's acknowledgement
        sender.written.append(item.text)
        await item.set_progress("queued", 1)

    sender.deliver = slow_deliver  # type: ignore[method-assign]
    outbox = Outbox(sender, LOG, max_size=10, timeout=60)
    for i in range(3):
        await queue(outbox, f"m{i}")
    await writing.wait()
    stopping = asyncio.create_task(outbox.stop(5))
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the acknowledgement
    release.set()
    await stopping
    assert sender.written == ["m0"] and list(sender.outcomes) == ["$m0"]
    assert await stored() == ["m1", "m2"]  # for the next start

    # the next start takes the stored rows back and sends them, in order
    resumed = Sender()
    again = Outbox(resumed, LOG, max_size=10, timeout=60)
    again.resume(await Outgoing.for_conversation(OWNER, CONV))
    await resumed.wait(lambda: len(resumed.outcomes) == 2)
    assert resumed.written == ["m1", "m2"]


async def test_a_message_cut_off_while_sending_is_never_written_again(
    conversation: None,
) -> None:
    # A crash while MSN had the message but had not acknowledged it: the row says
    # "sending". It may have arrived; writing it again could show it twice.
    sender = Sender()
    sender.online.clear()
    outbox = Outbox(sender, LOG, max_size=10, timeout=60)
    cut = await queue(outbox, "cut off")
    await queue(outbox, "after")
    await cut.set_progress("sending", 0)
    await outbox.stop(1)

    resumed = Sender()
    again = Outbox(resumed, LOG, max_size=10, timeout=60)
    again.resume(await Outgoing.for_conversation(OWNER, CONV))
    await resumed.wait(lambda: len(resumed.outcomes) == 2)
    failure = resumed.outcomes["$cut off"]
    assert failure is not None and "may or may not have arrived" in failure.message
    assert resumed.outcomes["$after"] is None
    assert resumed.written == ["after"]
