"""The outgoing queue of one conversation: Matrix messages kept, in order and bounded, and
stored in the database, until they can be delivered to MSN; each ends delivered, or failed
with the reason it could not be sent.

The queue does not know what "can be delivered" means: whoever sends hands it a condition (an
:class:`asyncio.Event` or a :class:`~bridge.msnp.flag.Flag` fits) per conversation. Today that
is "the user's MSN session is connected"; a conversation-specific condition (e.g. "the contact
is online") only needs a different condition object.

A message is written to MSN at most once. Its row is marked ``sending`` before anything is
written, and whatever happens after that (the connection drops before MSN acknowledged it, the
bridge stops) makes it fail with a reason instead of being sent again: MSN has no way to tell a
message apart from its duplicate. A failure before anything was written (not connected, the
conversation could not be opened) keeps it queued (:class:`RetryLater`).
"""

from __future__ import annotations

from typing import Any, Protocol
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
import asyncio
import time

from mautrix.types import MessageStatusReason
from mautrix.util import background_task
from mautrix.util.logging import TraceLogger

from bridge.db.outgoing import Outgoing
from bridge.texts import SendFailure, queue_expired

__all__ = ["Condition", "Delivery", "Outbox", "RetryLater", "stop_all"]

#: Waits between attempts that did not get to write anything (doubling up to the maximum).
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0

#: Queues with a worker running, for :func:`stop_all`; once that ran, no worker starts.
_running: set[Outbox] = set()
_all_stopped = False


async def stop_all(timeout: float) -> None:
    """Stop every queue (bridge shutdown): see :meth:`Outbox.stop`. Messages that arrive
    afterwards are stored and wait for the next start."""
    global _all_stopped
    _all_stopped = True
    await asyncio.gather(*(outbox.stop(timeout) for outbox in list(_running)))


class Condition(Protocol):
    """When a conversation's messages can be delivered (a :class:`~bridge.msnp.flag.Flag` is
    one)."""

    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


class RetryLater(Exception):
    """Delivery did not start (nothing was written to MSN); ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Delivery(Protocol):
    """What the queue needs from the sender of a conversation."""

    def condition(self) -> Condition: ...

    async def deliver(self, item: Outgoing) -> None:
        """Send ``item`` (its parts from ``item.parts_sent`` on), recording the progress on it.
        Raises :class:`RetryLater` or :class:`~bridge.texts.SendFailure`."""

    async def report(self, item: Outgoing, failure: SendFailure | None) -> None:
        """The message was delivered (``failure`` is None) or given up."""

    async def report_pending(self, item: Outgoing) -> None:
        """The message has to wait (reported once per message)."""


class Outbox:
    """One conversation's queue and the task that empties it (see the module docs)."""

    def __init__(
        self,
        delivery: Delivery,
        log: TraceLogger,
        *,
        max_size: int,
        timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.delivery = delivery
        self.log = log
        self.max_size = max_size
        self.timeout = timeout
        self._clock = clock
        # (made when the first message waits, dropped when the queue is empty again: most
        # conversations have nothing queued, and an empty deque and set cost 0.8 KiB)
        self._items: deque[Outgoing] | tuple[Outgoing, ...] = ()
        self._announced: set[str] | tuple[str, ...] = ()
        self._last_error = ""
        self._worker: asyncio.Task[None] | None = None
        self._busy = False
        self._waiting = False  # the worker waits for the condition or a retry
        self._stopping = False

    def _queue(self) -> deque[Outgoing]:
        if not isinstance(self._items, deque):
            self._items = deque(self._items)
        return self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        return not self._items and not self._busy

    async def put(self, item: Outgoing) -> bool:
        """Queue ``item`` (stored by the caller's transaction or here); False when full."""
        if len(self._items) >= self.max_size:
            return False
        self._queue().append(item)
        self._start()
        if self._waiting:
            await self._announce(item)
        return True

    def resume(self, items: list[Outgoing]) -> None:
        """Take the stored rows of this conversation back after a restart (in ``seq`` order)."""
        known = {i.event_id for i in self._items}
        self._queue().extend(i for i in items if i.event_id not in known)
        if not self._items:
            self._items = ()
        self._start()

    def full(self) -> bool:
        return len(self._items) >= self.max_size

    def _start(self) -> None:
        if self._stopping or _all_stopped or not self._items:
            return
        if self._worker is None or self._worker.done():
            _running.add(self)
            self._worker = background_task.create(self._run())

    async def stop(self, timeout: float) -> None:
        """Start nothing new; let a message being written finish (at most ``timeout``). What
        is still queued stays stored for the next start."""
        self._stopping = True
        worker = self._worker
        if worker is None or worker.done():
            return
        if self._busy:
            try:
                await asyncio.wait_for(asyncio.shield(worker), timeout)
                return
            except TimeoutError:
                self.log.warning("A message was still being sent to MSN when the bridge stopped")
        worker.cancel()

    # region the worker

    async def _run(self) -> None:
        try:
            await self._empty()
        finally:
            _running.discard(self)

    async def _empty(self) -> None:
        retry = RETRY_MIN_SECONDS
        while self._items and not self._stopping:
            item = self._items[0]
            remaining = item.queued_at / 1000 + self.timeout - self._clock()
            if item.state == "sending":
                # Cut off by a stop or a crash after it was (maybe) written: never again.
                await self._finish(item, _interrupted())
                continue
            if remaining <= 0:
                await self._finish(item, queue_expired(self.timeout, self._last_error))
                continue
            condition = self.delivery.condition()
            if not condition.is_set():
                self._last_error = self._last_error or "the bridge is not connected to MSN"
                await self._wait(partial(_until, condition, remaining))
                continue
            failure: SendFailure | None = None
            self._busy = True
            try:
                await self.delivery.deliver(item)
            except RetryLater as e:
                self._busy = False
                self._last_error = e.reason
                self.log.debug("Message %s waits: %s", item.event_id, e.reason)
                await self._wait(partial(asyncio.sleep, min(retry, max(remaining, 0.01))))
                retry = min(retry * 2, RETRY_MAX_SECONDS)
                continue
            except SendFailure as e:
                failure = e
            except Exception:
                self.log.exception("Unexpected error sending %s to MSN", item.event_id)
                failure = SendFailure(
                    "an unexpected error happened in the bridge while sending it",
                    MessageStatusReason.GENERIC_ERROR,
                )
            except BaseException:
                self._busy = False
                raise
            retry = RETRY_MIN_SECONDS
            self._last_error = ""
            try:
                await self._finish(item, failure)
            finally:
                self._busy = False

    async def _wait(self, waiting: Callable[[], Awaitable[Any]]) -> None:
        """Wait (for the condition, or before a retry): every queued message is pending."""
        self._waiting = True
        try:
            for item in list(self._items):
                await self._announce(item)
            await waiting()
        except TimeoutError:
            pass
        finally:
            self._waiting = False

    async def _announce(self, item: Outgoing) -> None:
        if item.event_id in self._announced:
            return
        if not isinstance(self._announced, set):
            self._announced = set()
        self._announced.add(item.event_id)
        try:
            await self.delivery.report_pending(item)
        except Exception:
            self.log.warning("Failed to report %s as pending", item.event_id, exc_info=True)

    async def _finish(self, item: Outgoing, failure: SendFailure | None) -> None:
        """Take ``item`` off the queue and the database (recording the message's outcome in
        the same transaction), then report how it ended."""
        items = self._items
        if isinstance(items, deque) and items and items[0] is item:
            items.popleft()
            if not items:
                self._items = ()
        if isinstance(self._announced, set):
            self._announced.discard(item.event_id)
            if not self._announced:
                self._announced = ()
        try:
            await item.finish("failed" if failure else "delivered")
        except Exception:
            self.log.warning("Failed to remove %s from the queue", item.event_id, exc_info=True)
        try:
            await self.delivery.report(item, failure)
        except Exception:
            self.log.warning("Failed to report the status of %s", item.event_id, exc_info=True)

    # endregion


async def _until(condition: Condition, timeout: float) -> None:
    await asyncio.wait_for(condition.wait(), timeout)


def _interrupted() -> SendFailure:
    return SendFailure(
        "the bridge stopped while it was sending this message to MSN, so it may or may not "
        "have arrived (it is not sent again, to avoid sending it twice)",
        MessageStatusReason.NETWORK_ERROR,
    )
