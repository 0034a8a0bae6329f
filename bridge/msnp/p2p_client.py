"""The P2P side of one :class:`~.client.MSNClient`: its P2PManager, our own MSN objects (the
display picture), and fetching, serving and sending over the conversation's switchboard.

Every switchboard of the client feeds :attr:`ClientP2P.manager` (made at login, when the
passport is known); a contact's file offer becomes a :class:`~.events.FileOffered` event.
"""

from __future__ import annotations

from typing import Final
from collections.abc import AsyncIterable, Callable

from .config import ClientConfig
from .errors import ConnectionClosed
from .events import Event, FileOffered
from .msnobject import MSNObject, MSNObjectType, build_msnobject
from .notification import NotificationSession
from .p2p_files import FileOffer
from .p2p_session import P2PManager
from .pool import SwitchboardPool

__all__ = ["MAX_OWN_OBJECTS", "ClientP2P"]

#: Our own MSN objects served at once (the display picture and a few emoticons).
MAX_OWN_OBJECTS: Final = 16


class ClientP2P:
    """Pictures, emoticons and files over P2P for one client (``client.p2p``)."""

    def __init__(
        self,
        config: ClientConfig,
        ns: NotificationSession,
        pool: SwitchboardPool,
        emit: Callable[[Event], None],
    ) -> None:
        self.config = config
        self._ns = ns
        self._pool = pool
        self._emit = emit
        #: the P2P sessions of every switchboard (None before the login)
        self.manager: P2PManager | None = None
        #: our own MSN objects by SHA1D, served to contacts who ask
        self._own: dict[str, bytes] = {}
        self._picture_at_login: bytes | None = None

    def start(self, passport: str, endpoint: str | None = None) -> None:
        """The login begins: switchboards feed a new manager (``endpoint``: our machine GUID,
        which P2P v2 packets would name); a picture set before the login is shown from its
        first ``CHG`` on (Escargot tells contacts about a picture only with a status change)."""
        if self._picture_at_login:
            obj = build_msnobject(passport, self._picture_at_login)
            self._own[obj.sha1d] = self._picture_at_login
            self._ns.msn_object = obj.xml
        self.manager = self._pool.p2p = P2PManager(
            passport,
            limits=self.config.p2p,
            object_provider=self._provide,
            on_file_offer=self._on_file_offer,
            own_endpoint=endpoint,
        )

    async def close(self) -> None:
        if self.manager is not None:
            await self.manager.close()

    def _live(self) -> P2PManager:
        if self.manager is None or not self._ns.logged_in or self._pool.closed:
            raise ConnectionClosed("session", "not connected")
        return self.manager

    async def fetch_object(self, passport: str, obj: MSNObject) -> bytes:
        """A contact's MSN object (display picture, emoticon) over P2P, checked against its
        SHA1D; a switchboard with them is opened when needed.

        Raises the errors of :meth:`P2PManager.fetch_object` and of opening a switchboard.
        """
        manager = self._live()
        async with self._pool.using(passport) as sb:
            return await manager.fetch_object(sb, passport, obj)

    async def send_file(
        self, passport: str, filename: str, size: int, data: AsyncIterable[bytes]
    ) -> None:
        """Offer a file to a contact over P2P and stream ``data`` once they accept.

        Raises :class:`TransferDeclined`, :class:`TransferTimeout`, :class:`TransferFailed` or
        the errors of opening a switchboard.
        """
        manager = self._live()
        async with self._pool.using(passport) as sb:
            await manager.send_file(sb, passport, filename, size, data)

    def own_object(self, data: bytes, obj_type: int = MSNObjectType.DISPLAY_PICTURE) -> MSNObject:
        """Describe ``data`` as one of our MSN objects and serve it to contacts who ask."""
        obj = build_msnobject(self._ns.passport, data, obj_type)
        if len(self._own) >= MAX_OWN_OBJECTS:
            del self._own[next(iter(self._own))]
        self._own[obj.sha1d] = data
        return obj

    async def set_display_picture(self, data: bytes | None) -> MSNObject | None:
        """Show ``data`` (a PNG, 96x96 is what clients display) as our display picture, or
        none; contacts fetch it over P2P. Sent with ``CHG`` now if connected (MSNP9+), and
        with every later status change; before the login, with its first ``CHG``."""
        if not self._ns.logged_in:
            self._picture_at_login = data or None
            return None
        self._own.clear()
        obj = self.own_object(data) if data else None
        await self._ns.set_msn_object(obj.xml if obj is not None else None)
        return obj

    async def _provide(self, obj: MSNObject, requester: str) -> bytes | None:
        if obj.creator.lower() != self._ns.passport.lower():
            return None
        return self._own.get(obj.sha1d)

    def _on_file_offer(self, offer: FileOffer) -> None:
        key = offer.passport.lower()
        self._emit(FileOffered(key, offer.passport, offer, (key,)))
