"""The bridge state a session reports: pushed to its owner, kept for mautrix and for `ping`.

:class:`bridge.session.MSNSession` pushes a state at each step of opening, reconnecting and
losing the connection; the last one pushed is what :meth:`StateReport.current` reports while
the session is not connected, and what :meth:`StateReport.description` tells a `ping`.
"""

from __future__ import annotations

from typing import Protocol

from mautrix.util.bridge_state import BridgeState, BridgeStateEvent
from mautrix.util.logging import TraceLogger

from bridge import texts

__all__ = ["StateOwner", "StateReport"]


class StateOwner(Protocol):
    """The Matrix user the states are pushed to (a :class:`bridge.user.User`)."""

    async def push_bridge_state(
        self, state_event: BridgeStateEvent, error: str | None = None, message: str | None = None
    ) -> None: ...


class StateReport:
    """The last bridge state of one session (see the module documentation)."""

    def __init__(self, owner: StateOwner, log: TraceLogger) -> None:
        self._owner = owner
        self.log = log
        self.event: BridgeStateEvent | None = None
        self.error: str | None = None
        self.message: str | None = None

    async def push(
        self, event: BridgeStateEvent, error: str | None = None, message: str | None = None
    ) -> None:
        self.event, self.error, self.message = event, error, message
        try:
            await self._owner.push_bridge_state(event, error=error, message=message)
        except Exception:
            self.log.warning("Failed to push bridge state %s", event, exc_info=True)

    def current(self, connected: bool) -> BridgeState:
        """The state to report while logged in (mautrix's ``get_bridge_states``)."""
        if connected:
            return BridgeState(state_event=BridgeStateEvent.CONNECTED)
        return BridgeState(
            state_event=self.event or BridgeStateEvent.CONNECTING,
            error=self.error,
            message=self.message,
        )

    def description(self, connecting: bool) -> str:
        """A short text for `ping` when not connected."""
        return texts.not_connected_state(
            connecting=connecting,
            state_error=self.error,
            last_message=self.message,
            bad_credentials=self.event == BridgeStateEvent.BAD_CREDENTIALS,
        )
