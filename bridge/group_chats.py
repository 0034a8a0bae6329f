"""Which room the messages of one user's multi-party MSN conversations go to, so that contacts
cannot fill Matrix with rooms.

* A multi-party switchboard gets a room only when a message arrives in it (text, nudge, a
  file or anything else shown in the room), never because people joined it.
* The same set of participants reuses its room: a group portal stores its participants
  (:func:`bridge.db.portal.participant_set`), and a switchboard the bridge has not seen yet is
  matched by its participants, across switchboards, reconnects and restarts. The library's
  ``group:`` key of the switchboard is then an alias of the portal's key for this session
  (:meth:`GroupChats.library_key` turns it back when the user writes).
* New rooms are limited per contact (``bridge.limits.group_rooms_per_contact`` per
  ``group_rooms_window`` seconds), counted for the contact whose message would open the room
  (MSN does not tell the invited client who invited whom). Beyond the limit, the messages of
  that switchboard go to the direct chat with whoever wrote them, so nothing is lost, and the
  user gets one notice per contact and window.
* A "group" switchboard that has only one other participant left when its first message
  arrives is a one-to-one conversation: the message goes to the direct chat.

Everything here is bounded: :data:`MAX_TRACKED` switchboards and contacts are remembered.
"""

from __future__ import annotations

from typing import NamedTuple
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
import logging

from bridge import contact_notices, metrics
from bridge.db.portal import Portal as DBPortal, participant_set
from bridge.limits import Limits
from bridge.msnp.bounded import BoundedDict
from bridge.msnp.circles import circle_of_key
from bridge.portal.cache import is_group_key
from bridge.presence_limiter import MONOTONIC, Clock

__all__ = ["MAX_TRACKED", "GroupChats", "Route"]

#: Switchboard keys and contacts remembered (least recently used ones are forgotten).
MAX_TRACKED = 1024

Notify = Callable[[str, str], Awaitable[object]]


class Route(NamedTuple):
    """Where a message goes: the portal ``conv_key``, with the group's ``participants`` to
    store (None for a direct chat)."""

    conv_key: str
    participants: str | None = None

    @property
    def direct(self) -> bool:
        return not is_group_key(self.conv_key)


class GroupChats:
    """The multi-party conversations of the user ``owner`` (see the module documentation)."""

    def __init__(
        self,
        owner: str,
        own_passport: Callable[[], str | None],
        limits: Limits,
        notify: Notify,
        log: logging.Logger,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.owner = owner
        self._own_passport = own_passport
        self.limit = limits.group_rooms_per_contact
        self.window = limits.group_rooms_window
        self._notify = notify
        self._log = log
        self._clock = clock
        # library key -> portal key (itself for a portal made for that switchboard)
        self._portal_of: BoundedDict[str, str] = BoundedDict(MAX_TRACKED)
        # portal key -> the library key of its latest switchboard
        self._library_of: BoundedDict[str, str] = BoundedDict(MAX_TRACKED)
        # library keys whose messages go to the senders' direct chats (over the limit)
        self._to_direct: BoundedDict[str, bool] = BoundedDict(MAX_TRACKED)
        # contact -> when the rooms their messages opened were made (within the window)
        self._opened: BoundedDict[str, deque[float]] = BoundedDict(MAX_TRACKED)
        # contact -> when they were last named in a notice
        self._notified: BoundedDict[str, float] = BoundedDict(MAX_TRACKED)
        #: messages sent to a direct chat because their sender was over the limit
        self.redirected = 0

    # region MSN -> Matrix

    async def route(
        self, key: str, sender: str, participants: Iterable[str], sender_name: str = ""
    ) -> Route:
        """The portal for a message from ``sender`` in the conversation ``key``."""
        sender = sender.lower()
        if not is_group_key(key):
            return Route(key.lower())
        if circle_of_key(key):
            return Route(key)  # an MSNP18 circle: its own room, whoever writes (bridge.circles)
        members = participant_set(participants, self._own_passport())
        group = members if " " in members else None  # two or more others
        known = self._portal_of.get(key)
        if known is not None:
            return Route(known, group)
        if key in self._to_direct:
            self._redirect()
            return Route(sender)
        if await DBPortal.get_by_key(self.owner, key) is not None:
            self._bind(key, key)
            return Route(key, group)
        if group is None:
            return Route(sender)
        found = await DBPortal.find_group(self.owner, group)
        if found is not None:
            self._log.debug("Switchboard %s reuses the room of %s", key, found.conv_key)
            self._bind(key, found.conv_key)
            return Route(found.conv_key, group)
        if not self._may_open(sender):
            self._to_direct[key] = True
            self._redirect()
            await self._over_limit(sender, sender_name)
            return Route(sender)
        self._bind(key, key)
        return Route(key, group)

    def portal_key(self, key: str) -> str:
        """The portal key of the conversation ``key`` as far as it is known (for typing,
        joins and leaves, which never make a room)."""
        if not is_group_key(key):
            return key.lower()
        return self._portal_of.get(key) or key

    def _redirect(self) -> None:
        self.redirected += 1
        metrics.limited("group_messages_redirected")

    def _bind(self, key: str, conv_key: str) -> None:
        self._portal_of[key] = conv_key
        self._library_of[conv_key] = key

    def _may_open(self, sender: str) -> bool:
        now = self._clock.now()
        opened = self._opened.get(sender)
        if opened is None:
            opened = deque()
        while opened and opened[0] <= now - self.window:
            opened.popleft()
        if len(opened) >= self.limit:
            self._opened[sender] = opened
            return False
        opened.append(now)
        self._opened[sender] = opened
        return True

    async def _over_limit(self, sender: str, name: str) -> None:
        now = self._clock.now()
        last = self._notified.get(sender)
        self._log.info(
            "%s opened more than %d group chats in %g s: their new ones go to direct chats",
            sender,
            self.limit,
            self.window,
        )
        if last is not None and now - last < self.window:
            return
        self._notified[sender] = now
        text, html = contact_notices.group_rooms_limited(sender, name, self.limit, self.window)
        try:
            await self._notify(text, html)
        except Exception:
            self._log.warning("Failed to send the group chat limit notice", exc_info=True)

    # endregion
    # region Matrix -> MSN

    def library_key(self, conv_key: str) -> str:
        """The MSN library's key for the portal ``conv_key``: the switchboard last bound to
        it in this session, else the portal's own key."""
        if not is_group_key(conv_key):
            return conv_key
        return self._library_of.get(conv_key) or conv_key

    # endregion
