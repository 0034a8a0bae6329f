"""One bridge user's MSN session: it owns the MSNClient, opens it (a `login` and every
reconnect take the same path, through the bridge-wide login gate), retries with backoff, tells
the user once per incident, reports the bridge state, and passes the client's events to its
:class:`~bridge.session_events.SessionEvents` (in order, to the handlers registered for their
type, in a bounded queue that makes the client wait when the handlers fall behind; what
contacts sent stored until handled).

An incident starts when the connection drops or a connect attempt fails, and ends once a new
session has stayed up for ``bridge.reconnect.stable_after`` seconds: the user gets one notice
at its start and one ("Reconnected") at its end, however many attempts it took, and the
backoff starts again from its initial delay only then.
"""

from __future__ import annotations

from typing import Protocol, TypeVar
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
import asyncio
import time

from mautrix.types import EventID, UserID
from mautrix.util import background_task
from mautrix.util.bridge_state import BridgeState, BridgeStateEvent
from mautrix.util.logging import TraceLogger

from bridge import metrics, msn_http, own_presence, session_login, texts
from bridge.clean_text import clean_line
from bridge.config import Config
from bridge.db.incoming import Incoming
from bridge.db.user import User as DBUser
from bridge.gc_policy import policy as gc_policy
from bridge.limits import Limits
from bridge.msnp.client import LoginResult, MSNClient
from bridge.msnp.errors import AuthError, MSNPException, is_auth_failure
from bridge.msnp.events import Disconnected, Event
from bridge.msnp.flag import Flag
from bridge.msnp.values import DisconnectReason
from bridge.reconnect import Backoff, LoginGate
from bridge.session_events import Routes, SessionEvents
from bridge.session_state import StateReport

__all__ = ["MSNSession", "SessionOwner"]

E = TypeVar("E", bound=Event)


class SessionOwner(Protocol):
    """What a session needs from the Matrix user it belongs to."""

    mxid: UserID
    row: DBUser

    async def save(self) -> None: ...

    def unsaved(self) -> bool:
        """Whether :attr:`row` holds a change :meth:`save` has not written."""

    async def send_bridge_notice(
        self, text: str, *, html: str | None = None
    ) -> EventID | None: ...

    async def push_bridge_state(
        self, state_event: BridgeStateEvent, error: str | None = None, message: str | None = None
    ) -> None: ...

    async def mark_contacts_offline(self) -> None:
        """The session ended for good (not a reconnect): the contacts' ghosts go offline."""


class MSNSession:
    """The MSN side of one :class:`bridge.user.User` (see the module documentation)."""

    def __init__(
        self, owner: SessionOwner, config: Config, log: TraceLogger, gate: LoginGate
    ) -> None:
        self.owner = owner
        self.config = config
        self.log = log
        self.gate = gate
        self.client: MSNClient | None = None
        self.connected_since: float | None = None
        #: Set while the session is connected: the condition outgoing messages wait for.
        self.online = Flag()
        self._ready = False
        reconnect = config["bridge.reconnect"] or {}
        self._backoff = Backoff(
            float(reconnect.get("initial_delay", 2)), float(reconnect.get("max_delay", 300))
        )
        self._stable_after = float(reconnect.get("stable_after", 60))
        self._stable_task: asyncio.Task[None] | None = None
        self._incident = False  # the user was told of a lost connection, not yet of its end
        self._connect_task: asyncio.Task[None] | None = None
        self._login_lock = asyncio.Lock()
        self.events = SessionEvents(
            owner.mxid,
            log,
            limit=Limits.from_config(config).event_queue,
            current=lambda: self.client,
            on_disconnected=self._on_disconnected,
        )
        self._state = StateReport(owner, log)
        #: awaited with each new client before it logs in (never raises)
        self.before_login: Callable[[MSNClient], Awaitable[None]] | None = None

    @property
    def row(self) -> DBUser:
        return self.owner.row

    @property
    def connected(self) -> bool:
        return bool(self.client and self._ready and self.client.connected)

    @property
    def counters(self) -> Counter[str]:
        """What the event queue dropped, merged or waited for; see :class:`SessionEvents`."""
        return self.events.counters

    @property
    def friendly_name(self) -> str | None:
        """The user's own MSN name while connected."""
        return clean_line(self.client.friendly_name) if self.client and self._ready else None

    # region events

    def on(self, kind: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """Hand every event of type ``kind`` to ``handler`` (see :class:`SessionEvents`)."""
        self.events.on(kind, handler)

    def route_with(self, routes: Routes) -> None:
        """Hand the events no :meth:`on` handler takes to ``routes``."""
        self.events.route_with(routes)

    def replay(self, rows: list[Incoming]) -> None:
        """Hand on the messages received before a restart (call before connecting)."""
        self.events.replay(rows)

    def _make_client(self) -> MSNClient:
        client: MSNClient
        # the user's chosen status is the first one the server sees (Appear Offline stays so)
        config = replace(
            self.config.client_config(), initial_status=own_presence.chosen_status(self.row)
        )
        client = MSNClient(
            config, self.events.handler_for(lambda: client), http=msn_http.session()
        )
        return client

    # endregion
    # region opening and closing

    async def login(self, passport: str, password: str) -> LoginResult:
        """Log in with new credentials (the `login` command); they are stored on success.

        Raises whatever :meth:`MSNClient.login` raises.
        """
        async with self._login_lock:
            self._cancel_connect_task()
            self._backoff.reset()
            self._incident = False  # the command's own reply says how it went
            return await self._open(passport, password, None, new_login=True, interactive=True)

    async def _open(
        self,
        passport: str,
        password: str | None,
        ticket: str | None,
        *,
        new_login: bool,
        interactive: bool,
    ) -> LoginResult:
        """The one way a session opens, for a new login and for (re)connecting with the stored
        credentials. Call it with the login lock held."""
        await self._close_client()
        client = self._make_client()
        self._set_client(client)
        if self.before_login is not None:
            await self.before_login(client)  # e.g. the display picture of the first CHG
        try:
            ready = await session_login.prepare(self.row, passport)  # database reads: no turn
            async with self.gate.turn(interactive=interactive):
                with metrics.login_timer("login" if new_login else "reconnect"):
                    result = await session_login.log_in(client, passport, password, ticket, ready)
        except BaseException:
            self._set_client(None)
            await _close_quietly(client)
            raise
        gc_policy.logged_in()
        credentials = (passport, password) if new_login else None
        await session_login.keep(self.row, client, result, credentials, ready)
        if self.owner.unsaved():  # (a restart's login mostly changes nothing: no write)
            await self.owner.save()
        await own_presence.reapply(client, self.row, self.log)
        self._ready = True
        self.connected_since = time.time()
        self.online.set()
        self._stable_task = background_task.create(
            self._confirm_stable(client), name=f"msn-stable-{self.owner.mxid}"
        )
        await self._state.push(BridgeStateEvent.CONNECTED)
        return result

    async def _confirm_stable(self, client: MSNClient) -> None:
        """The session stayed up: the backoff starts again from the beginning, and an incident
        the user was told about is over."""
        await asyncio.sleep(self._stable_after)
        if client is not self.client or not self.connected:
            return
        self._backoff.reset()
        if self._incident:
            self._incident = False
            self.log.info("Connection to MSN stable again")
            await self.owner.send_bridge_notice(texts.RECONNECTED)

    def _cancel_connect_task(self) -> None:
        task = self._connect_task
        self._connect_task = None
        if task and not task.done() and task is not asyncio.current_task():
            task.cancel()

    def _set_client(self, client: MSNClient | None) -> None:
        if self.client is not None and client is not self.client:
            gc_policy.session_ended()
        self.client = client
        self.events.wake()  # events of the old client waiting for room are not wanted now

    def _went_offline(self) -> None:
        self._set_client(None)
        self._ready = False
        self.connected_since = None
        self.online.clear()
        task, self._stable_task = self._stable_task, None
        if task and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _close_client(self) -> None:
        client = self.client
        self._went_offline()
        if client is not None:
            await _close_quietly(client)

    def ensure_started(self) -> None:
        """Connect in the background with the stored credentials (after a restart)."""
        if not self.row.passport or self.connected:
            return
        if self._connect_task and not self._connect_task.done():
            return
        self._start_connecting()

    async def reconnect(self) -> None:
        """Drop the current session (if any) and connect again with the stored credentials
        (the `reconnect` command: at once, whatever the backoff had reached)."""
        self._cancel_connect_task()
        await self._close_client()
        self._backoff.reset()
        self._start_connecting(interactive=True)

    def _start_connecting(self, delay: float | None = None, *, interactive: bool = False) -> None:
        self._connect_task = background_task.create(
            self._connect_loop(delay, interactive), name=f"msn-connect-{self.owner.mxid}"
        )

    async def logout(self) -> None:
        """Close the session and forget its state (the owner forgets the credentials)."""
        self._cancel_connect_task()
        await self._close_client()
        self._incident = False
        self._state.event = None

    async def stop(self) -> None:
        """Close the session without forgetting anything (bridge shutdown). The event being
        handled is finished; received messages not handled yet stay stored for the next
        start (:meth:`replay`)."""
        self._cancel_connect_task()
        await self._close_client()
        await self.events.stop()

    # endregion
    # region reconnecting with backoff

    async def _connect_loop(self, delay: float | None, interactive: bool) -> None:
        """Connect with the stored credentials until it works (``interactive``: the first
        attempt is someone's `reconnect`, which goes before background logins)."""
        if delay:
            await asyncio.sleep(delay)
        row = self.row
        if row.credentials_lost and not row.password and not row.ticket:
            await self._credentials_lost()
            return
        attempt = 0
        while row.passport:
            attempt += 1
            await self._state.push(BridgeStateEvent.CONNECTING)
            try:
                await self._connect_once(row.passport, interactive and attempt == 1)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._connect_task is not asyncio.current_task():
                    # Stopped or replaced meanwhile; the cancellation can be lost when the
                    # awaited reply arrives at the same moment (asyncio.wait_for, Python 3.11).
                    self.log.debug("Connect attempt ended by a stop or a new login: %s", e)
                    return
                metrics.reconnect_attempt(success=False)
                if is_auth_failure(e):
                    self.log.warning("Stored MSN credentials were rejected: %s", e)
                    await self._state.push(
                        BridgeStateEvent.BAD_CREDENTIALS, texts.STATE_BAD_CREDENTIALS
                    )
                    await self.owner.send_bridge_notice(texts.CREDENTIALS_REJECTED)
                    return
                wait = self._backoff.next_delay()
                if isinstance(e, TimeoutError | OSError | MSNPException):
                    await self._connect_failed(e, attempt, wait)
                else:
                    self.log.exception("Unexpected error connecting to MSN")
                    await self._state.push(
                        BridgeStateEvent.UNKNOWN_ERROR, texts.STATE_UNKNOWN_ERROR, type(e).__name__
                    )
            else:
                metrics.reconnect_attempt(success=True)
                return
            await asyncio.sleep(wait)

    async def _connect_once(self, passport: str, interactive: bool) -> None:
        row = self.row
        ticket = session_login.usable_ticket(row)
        if not row.password and not ticket:
            raise AuthError("no stored password or ticket")
        async with self._login_lock:
            result = await self._open(
                passport, row.password, ticket, new_login=False, interactive=interactive
            )
        self.log.info("Connected to MSN as %s (MSNP%s)", passport, result.protocol)

    async def _credentials_lost(self) -> None:
        """The stored password cannot be decrypted (bridge.credential_key changed)."""
        self.log.warning("Stored MSN credentials cannot be decrypted; asking to log in again")
        await self._state.push(BridgeStateEvent.BAD_CREDENTIALS, texts.STATE_CREDENTIALS_LOST)
        await self.owner.send_bridge_notice(texts.credentials_lost(self.row.passport))

    async def _connect_failed(self, err: BaseException, attempt: int, wait: float) -> None:
        self.log.info(
            "Connecting to MSN failed (attempt %d, next in %.1fs): %s", attempt, wait, err
        )
        await self._state.push(
            BridgeStateEvent.TRANSIENT_DISCONNECT,
            texts.STATE_CONNECTION_FAILED,
            str(err) or type(err).__name__,
        )
        if not self._incident:
            self._incident = True
            await self.owner.send_bridge_notice(texts.connect_failed(err, wait))

    async def _on_disconnected(self, client: MSNClient, evt: Disconnected) -> None:
        if client is not self.client or evt.reason == DisconnectReason.CLIENT:
            return
        self.log.info("Disconnected from MSN: %s %s", evt.reason.value, evt.detail)
        metrics.disconnected(evt.reason.name.lower())
        self._went_offline()
        if evt.reason == DisconnectReason.OTHER_LOCATION:
            await self.owner.mark_contacts_offline()
            # told now; nothing reconnects by itself, but once `reconnect` brought the session
            # back (and it stayed up), the user hears that it is back
            self._incident = True
            await self._state.push(BridgeStateEvent.BAD_CREDENTIALS, texts.STATE_OTHER_LOCATION)
            await self.owner.send_bridge_notice(texts.OTHER_LOCATION)
            return
        await self._state.push(
            BridgeStateEvent.TRANSIENT_DISCONNECT,
            texts.STATE_DISCONNECTED,
            texts.disconnect_reason(evt.reason),
        )
        delay = self._backoff.next_delay()
        if self._incident:
            self.log.info(
                "Still reconnecting (attempt %d in %.1fs)", self._backoff.attempts, delay
            )
        else:
            self._incident = True
            await self.owner.send_bridge_notice(texts.disconnected(evt.reason, delay))
        self._cancel_connect_task()
        self._start_connecting(delay)

    # endregion
    # region bridge state

    def bridge_state(self) -> BridgeState:
        """The state to report while logged in (mautrix's ``get_bridge_states``)."""
        return self._state.current(self.connected)

    def state_description(self) -> str:
        """A short text for `ping` when not connected."""
        return self._state.description(bool(self._connect_task and not self._connect_task.done()))

    # endregion


async def _close_quietly(client: MSNClient) -> None:
    try:
        await client.close()
    except Exception:
        pass
