"""Transactions the homeserver pushes to the bridge: what counts as already handled, and when
a transaction may be answered.

mautrix remembers handled transactions by their ID alone. Synapse on SQLite numbers its
transactions from 1 again after a restart, so new events then arrive under an ID already seen
and were dropped without a trace. Here a transaction counts as handled only if its ID *and* its
content were seen (a true retry), and each room event is handled once by its event ID (a retry
whose content differs, e.g. without its ephemeral events, still brings no event twice).

A transaction is answered once its message events were taken in (for a portal: stored in the
outgoing queue), at most :data:`ACCEPT_SECONDS` later: a bridge that stops or crashes after the
answer has lost nothing, since the homeserver retries an unanswered transaction. Events mautrix
handles in the background after the answer (membership and other state, for the state store)
are awaited when the appservice stops, up to :data:`STOP_SECONDS`, before the database closes.

:func:`adopt` turns mautrix's :class:`AppService` object into :class:`MSNAppService` after
mautrix built it (its routes call these methods by name, so the overrides take effect); its
intents are then :mod:`bridge.lean_intent`'s.
"""

from __future__ import annotations

from typing import Any
from collections import OrderedDict
from contextvars import ContextVar
import asyncio
import hashlib

from aiohttp import web
from mautrix.appservice import AppService
from mautrix.appservice.as_handler import HandlerFunc
from mautrix.types import JSON, DeviceID, DeviceLists, DeviceOTKCount, Event, EventType, UserID
from mautrix.util import background_task

from bridge.lean_intent import lean_bot_intent
from bridge.puppet import Puppet

__all__ = ["ACCEPT_SECONDS", "STOP_SECONDS", "BoundedSet", "MSNAppService", "adopt"]

#: How long a transaction's answer waits for its message events to be taken in.
ACCEPT_SECONDS = 10.0
#: How long a stop waits for events still being handled (no new ones arrive by then).
STOP_SECONDS = 10.0
#: Event IDs and transaction keys remembered (a retry comes soon after the original).
MAX_EVENT_IDS = 20_000
MAX_TRANSACTIONS = 5_000
#: Room events whose handling is awaited before the transaction is answered.
_MESSAGE_TYPES = frozenset({"m.room.message", "m.sticker", "m.room.encrypted"})
#: What the bridge's bot and ghosts send for every bridged message (their echoes are skipped).
_ECHO_TYPES = frozenset({"m.room.message", "com.beeper.message_send_status"})

_accepting: ContextVar[list[asyncio.Task[None]] | None] = ContextVar("accepting", default=None)


class BoundedSet:
    """A set that forgets its oldest members beyond ``limit`` (what mautrix expects of
    ``AppService.transactions``: ``add`` and ``in``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class MSNAppService(AppService):
    """mautrix's appservice with the de-duplication and answering rules above."""

    _seen_events: BoundedSet
    _handling: set[asyncio.Task[None]]

    async def _read_transaction_header(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        # mautrix checks the token and whether the bare ID was seen: bare IDs are never
        # stored here (see below), so only the token check and the parsing remain its job.
        txn_id, data = await super()._read_transaction_header(request)
        digest = hashlib.sha256(await request.read()).hexdigest()[:32]
        key = f"{txn_id}#{digest}"
        if key in self.transactions:
            self.log.debug("Transaction %s was handled already (same ID and content)", txn_id)
            raise web.HTTPOk(content_type="application/json", text="{}")
        # mautrix adds the returned ID to self.transactions once the transaction is handled
        return key, data

    async def handle_transaction(
        self,
        txn_id: str,
        *,
        events: list[JSON],
        extra_data: JSON,
        ephemeral: list[JSON] | None = None,
        to_device: list[JSON] | None = None,
        otk_counts: dict[UserID, dict[DeviceID, DeviceOTKCount]] | None = None,
        device_lists: DeviceLists | None = None,
    ) -> JSON:
        fresh: list[JSON] = []
        for raw in events:
            if self._is_echo(raw):
                continue
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            if isinstance(event_id, str):
                if event_id in self._seen_events:
                    self.log.debug("Event %s was handled already, skipping it", event_id)
                    continue
                self._seen_events.add(event_id)
            fresh.append(raw)
        accepting: list[asyncio.Task[None]] = []
        token = _accepting.set(accepting)
        try:
            result = await super().handle_transaction(
                txn_id,
                events=fresh,
                extra_data=extra_data,
                ephemeral=ephemeral,
                to_device=to_device,
                otk_counts=otk_counts,
                device_lists=device_lists,
            )
        finally:
            _accepting.reset(token)
        if accepting:
            _, late = await asyncio.wait(accepting, timeout=ACCEPT_SECONDS)
            if late:
                self.log.debug(
                    "Answering %s before %d of its events were handled", txn_id, len(late)
                )
        return result

    def _is_echo(self, raw: Any) -> bool:
        """A message or send status the bridge itself sent (as its bot or a ghost), which the
        homeserver passes back: mautrix would parse it only to ignore it, so it is left out
        before that (a bridged message's echo costs a fifth of the message otherwise)."""
        if not isinstance(raw, dict) or raw.get("type") not in _ECHO_TYPES or "state_key" in raw:
            return False
        sender = raw.get("sender")
        if not isinstance(sender, str):
            return False
        ghost_ids = getattr(Puppet, "ghost_ids", None)  # (set once the bridge started)
        return sender == self.bot_mxid or (ghost_ids is not None and ghost_ids.is_ghost(sender))

    async def handle_matrix_event(self, event: Event, ephemeral: bool = False) -> None:
        if self.synchronous_handlers:
            await super().handle_matrix_event(event, ephemeral)
            return
        # As mautrix does (its event classes, one task per handler started in order), keeping
        # the tasks: a message's are awaited before the answer, all of them at a stop.
        if ephemeral:
            event_class = EventType.Class.EPHEMERAL
        elif getattr(event, "state_key", None) is not None:
            event_class = EventType.Class.STATE
        else:
            event_class = EventType.Class.MESSAGE
        event.type = event.type.with_class(event_class)
        accepting = _accepting.get()
        awaited = (
            accepting is not None
            and event_class == EventType.Class.MESSAGE
            and event.type.t in _MESSAGE_TYPES
        )
        for handler in self.event_handlers:
            task = background_task.create(self._handle_logged(handler, event))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            if awaited:
                assert accepting is not None
                accepting.append(task)

    async def start(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        await super().start(host, port)
        self._intent = lean_bot_intent(self.intent)  # (bridge/lean_intent.py)

    async def stop(self) -> None:
        """Stop taking transactions, let the events already taken in be handled (they may
        still write to the database, which closes after), then stop as mautrix does."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self._handling:
            _, late = await asyncio.wait(set(self._handling), timeout=STOP_SECONDS)
            if late:
                self.log.warning("Stopping with %d Matrix events still being handled", len(late))
        await super().stop()

    async def _handle_logged(self, handler: HandlerFunc, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            self.log.exception("Exception in Matrix event handler")


def adopt(az: AppService) -> MSNAppService:
    """Give mautrix's appservice object the rules of :class:`MSNAppService`."""
    az.__class__ = MSNAppService
    assert isinstance(az, MSNAppService)
    az.transactions = BoundedSet(MAX_TRANSACTIONS)  # type: ignore[assignment]
    az._seen_events = BoundedSet(MAX_EVENT_IDS)
    az._handling = set()
    return az
