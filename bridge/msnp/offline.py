"""One client's offline messages (MSNP13+): its inbox and outbox, made when first needed.

The client hands every event through :meth:`OfflineMessages.intercept`, which takes the
server's mail-data notices (they start a fetch, :mod:`.oim_inbox`) and lets everything else
pass; texts to offline contacts go out through :meth:`OfflineMessages.outbox`
(:mod:`.oim_outbox`). Both need the tickets of an MSNP13+ login; before it, or below 13,
there are none.
"""

from __future__ import annotations

from typing import Protocol
from collections.abc import Callable, Iterable

from .ab_login import inbox_for, outbox_for
from .config import ClientConfig
from .events import Event, OtherMessageReceived
from .login import PassportService
from .oim import MAIL_DATA_TYPES
from .oim_inbox import OimInbox
from .oim_outbox import OimOutbox
from .sso import SecurityTokens
from .tickets import TicketKeeper

__all__ = ["OfflineMessages"]


class _Session(Protocol):
    @property
    def tokens(self) -> SecurityTokens | None: ...
    @property
    def tickets(self) -> TicketKeeper | None: ...
    @property
    def passport(self) -> str: ...
    @property
    def version(self) -> int: ...


class OfflineMessages:
    """The offline-message services of one client's session ``ns``."""

    __slots__ = ("_config", "_emit", "_inbox", "_ns", "_outbox", "_web", "closed")

    def __init__(
        self,
        config: ClientConfig,
        ns: _Session,
        web: PassportService,
        emit: Callable[[Event], None],
    ) -> None:
        self._config = config
        self._ns = ns
        self._web = web
        self._emit = emit
        self._inbox: OimInbox | None = None
        self._outbox: OimOutbox | None = None
        self.closed = False

    def intercept(self, event: Event) -> bool:
        """True (and a fetch started) for the server's offline-message notice."""
        if not (
            isinstance(event, OtherMessageReceived)
            and not event.conversation
            and event.content_type in MAIL_DATA_TYPES
        ):
            return False
        inbox = self.inbox()
        if inbox is not None and not self.closed:
            inbox.announced_in(event.body)
        return True

    def inbox(self) -> OimInbox | None:
        tickets = self._ns.tickets
        if self._inbox is None and tickets is not None and self._ns.version >= 13:
            self._inbox = inbox_for(self._config, tickets, self._web, self._emit)
        return self._inbox

    def outbox(self) -> OimOutbox | None:
        if self._outbox is None and self._ns.tokens is not None:
            self._outbox = outbox_for(self._config, self._ns, self._web)
        return self._outbox

    async def delete(self, message_ids: Iterable[str]) -> None:
        inbox = self.inbox()
        if inbox is not None:
            await inbox.delete(message_ids)

    def close(self) -> None:
        """The session ended: no more fetching."""
        self.closed = True
        if self._inbox is not None:
            self._inbox.close()
