"""Contacts' MSN display pictures become their ghosts' avatars, each picture fetched once.

A display picture is announced as an MSN object (its SHA1D is a hash of the data) in the
contact's presence (``ILN``/``NLN``). When the SHA1D differs from the one stored with the ghost
(:attr:`bridge.puppet.Puppet.avatar_sha1d`, kept across restarts), the picture is fetched over
P2P, checked against the SHA1D, uploaded and set as the ghost's avatar; when an online contact
announces no picture any more (MSNP9+, where pictures exist), the ghost's avatar is removed.
Bounded: one pending
picture per contact (the latest wins), a few fetches at a time, and a picture whose fetch failed
is not tried again in this session.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Callable
import asyncio

from mautrix.util import background_task
from mautrix.util.logging import TraceLogger

from bridge import lazy_log
from bridge.media_types import SNIFF_BYTES, sniff
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPException, P2PError, P2PProtocolError
from bridge.msnp.events import PresenceChanged
from bridge.msnp.msnobject import MSNObject, MSNObjectType, parse_msnobject
from bridge.msnp.values import Status
from bridge.puppet import Puppet

__all__ = ["GhostAvatars"]

#: Pictures fetched at once for one user.
FETCHES_AT_ONCE: Final = 2
#: Failed pictures remembered (not tried again until the bridge restarts).
MAX_FAILED: Final = 1024
#: The first protocol version with display pictures (before it, no presence names one).
PICTURES_SINCE: Final = 9


class GhostAvatars:
    """The display pictures of one user's contacts (see the module documentation)."""

    def __init__(
        self, client: Callable[[], MSNClient | None], log: TraceLogger, *, enabled: bool = True
    ) -> None:
        self._client = client
        self.log = lazy_log.child(log, "avatars")
        self.enabled = enabled
        #: passport -> the latest picture announced and not fetched yet (None: no picture)
        self._wanted: dict[str, MSNObject | None] = {}
        self._running: set[str] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._failed: set[str] = set()
        #: pictures fetched, and announcements skipped because the ghost already has them
        self.fetched = 0
        self.unchanged = 0

    async def on_presence(self, evt: PresenceChanged) -> None:
        if not self.enabled or evt.status in (Status.OFFLINE, Status.HIDDEN):
            return
        if not evt.msn_object or evt.msn_object == "0":
            await self._no_picture(evt.passport.lower())
            return
        try:
            obj = parse_msnobject(evt.msn_object)
        except P2PProtocolError as e:
            self.log.debug("Ignoring the malformed MSN object of %s: %s", evt.passport, e)
            return
        if obj.type != MSNObjectType.DISPLAY_PICTURE or not obj.sha1d:
            return
        passport = evt.passport.lower()
        puppet = await Puppet.get_by_passport(passport, create=False)
        if puppet is None:
            return
        if puppet.avatar_sha1d == obj.sha1d:
            self.unchanged += 1
            self._wanted.pop(passport, None)
            return
        if obj.sha1d in self._failed:
            return
        self._wanted[passport] = obj
        self._start_workers()

    async def _no_picture(self, passport: str) -> None:
        """An online contact shows no picture: their ghost's avatar goes, if it has one."""
        client = self._client()
        if client is None or (client.protocol or 0) < PICTURES_SINCE:
            return  # this user's server version cannot tell (another user's may)
        puppet = await Puppet.get_by_passport(passport, create=False)
        if puppet is None or not puppet.avatar_sha1d:
            self._wanted.pop(passport, None)
            return
        self._wanted[passport] = None
        self._start_workers()

    def _start_workers(self) -> None:
        while len(self._workers) < min(FETCHES_AT_ONCE, len(self._wanted)):
            task = background_task.create(self._work(), name="msn-ghost-avatars")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    def _next(self) -> tuple[str, MSNObject | None] | None:
        for passport in self._wanted:
            if passport not in self._running:
                return passport, self._wanted.pop(passport)
        return None

    async def _work(self) -> None:
        while (item := self._next()) is not None:
            passport, obj = item
            self._running.add(passport)
            try:
                await self._fetch(passport, obj)
            except Exception:
                self.log.exception("Failed to set the avatar of %s", passport)
            finally:
                self._running.discard(passport)

    async def _fetch(self, passport: str, obj: MSNObject | None) -> None:
        client = self._client()
        puppet = await Puppet.get_by_passport(passport, create=False)
        if client is None or not client.connected or puppet is None:
            return
        async with puppet.avatar_lock:  # another user of the bridge may fetch it too
            if obj is None:
                if puppet.avatar_sha1d:
                    await puppet.remove_avatar()
                    self.log.debug("Removed the avatar of %s (no display picture)", passport)
                return
            if puppet.avatar_sha1d == obj.sha1d:
                self.unchanged += 1
                return
            try:
                data = await client.p2p.fetch_object(passport, obj)
            except P2PError as e:
                self._fail(obj, "%s's display picture could not be fetched: %s", passport, e)
                return
            except MSNPException as e:  # offline, switchboard gone: tried again next time
                self.log.debug("Could not reach %s for their display picture: %s", passport, e)
                return
            mime = sniff(data[:SNIFF_BYTES])
            if not mime.startswith("image/"):
                self._fail(obj, "%s's display picture is not an image (%s)", passport, mime)
                return
            self.fetched += 1
            await puppet.set_avatar(data, mime, obj.sha1d)
            self.log.debug("Set the avatar of %s (%d bytes, %s)", passport, len(data), mime)

    def _fail(self, obj: MSNObject, msg: str, *args: object) -> None:
        self.log.info(msg, *args)
        if len(self._failed) >= MAX_FAILED:
            self._failed.clear()
        self._failed.add(obj.sha1d)
