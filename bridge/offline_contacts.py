"""Messages to an offline contact in a direct chat (MSNP 12 and older, which have no offline
messages): instead of failing at once, the conversation's outgoing queue waits until the
contact signs in, for at most ``bridge.offline_contacts.timeout`` seconds.

MSN answers the call into a conversation with ``217`` when the contact is offline (or appears
offline). If the contact is on the user's forward list, MSN reports their presence, so the
conversation is *held*: its send condition stays unset until a presence change shows the
contact signed in. A contact MSN does not report the presence of (not on the forward list)
cannot be waited for: their messages fail at once, as they do with the feature off. At MSNP13+
the MSN library stores such a message as an offline message (OIM) and no ``217`` comes here.

One owner per user (:class:`OfflineContacts`): the holds, by contact, at most one each.
"""

from __future__ import annotations

from typing import Any, Protocol

from bridge.msnp.errors import ErrorCode, MSNPError
from bridge.msnp.events import PresenceChanged
from bridge.msnp.flag import Flag
from bridge.msnp.values import Status

__all__ = [
    "DEFAULT_TIMEOUT",
    "OfflineContacts",
    "duration",
    "offline_notice",
    "queue_timeout",
]

#: Seconds a message may wait for an offline contact (``bridge.offline_contacts.timeout``).
DEFAULT_TIMEOUT = 86400.0


class _Condition(Protocol):
    def is_set(self) -> bool: ...

    async def wait(self) -> Any: ...


def queue_timeout(config: Any, is_direct: bool) -> float:
    """How long a message of a conversation may wait in its queue: ``send_queue.timeout``, or
    in a direct chat with the feature on ``offline_contacts.timeout`` (whatever it waits for:
    the contact, the connection, or one then the other)."""
    enabled, offline_timeout = _settings(config)
    if is_direct and enabled:
        return offline_timeout
    return float((config["bridge.send_queue"] or {}).get("timeout", 300))


def _settings(config: Any) -> tuple[bool, float]:
    section = config["bridge.offline_contacts"] or {}
    return bool(section.get("enabled", True)), float(section.get("timeout", DEFAULT_TIMEOUT))


def duration(seconds: float) -> str:
    """``seconds`` as people say it (``"24 hours"``, ``"5 minutes"``, ``"30 seconds"``)."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def offline_notice(name: str, timeout: float) -> str:
    """The one notice of a hold: why the messages wait, and for how long."""
    return (
        f"{name} is offline. Your messages are kept and sent when they sign in (they show as "
        f"pending until then); if they do not sign in within {duration(timeout)} of a "
        "message, it fails."
    )


class _Hold:
    """One contact waited for: ``signed_in`` is set when they come online."""

    __slots__ = ("signed_in", "told")

    def __init__(self) -> None:
        self.signed_in = Flag()
        self.told = False  # the user got the notice explaining the wait


class _HeldCondition:
    """Connected to MSN, and the held contact signed in."""

    __slots__ = ("_hold", "_online")

    def __init__(self, online: _Condition, hold: _Hold) -> None:
        self._online = online
        self._hold = hold

    def is_set(self) -> bool:
        return self._online.is_set() and self._hold.signed_in.is_set()

    async def wait(self) -> bool:
        while not self.is_set():
            await self._hold.signed_in.wait()
            await self._online.wait()
        return True


class OfflineContacts:
    """The direct chats of one user waiting for their contact to sign in (see the module)."""

    def __init__(self, enabled: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.enabled = enabled
        self.timeout = timeout
        self._held: dict[str, _Hold] = {}
        self._retried: set[str] = set()  # refused while seen online: tried again once

    @classmethod
    def from_config(cls, config: Any) -> OfflineContacts:
        return cls(*_settings(config))

    def __len__(self) -> int:
        return len(self._held)

    def held(self, passport: str) -> bool:
        return passport.lower() in self._held

    def condition(self, passport: str, online: _Condition) -> _Condition:
        """When the direct chat with ``passport`` can be delivered (``online``: connected)."""
        hold = self._held.get(passport.lower())
        return online if hold is None else _HeldCondition(online, hold)

    def hold(
        self,
        passport: str,
        error: BaseException,
        presence_reported: bool,
        seen_online: bool = False,
    ) -> bool:
        """After ``error`` calling ``passport`` into a direct chat: whether its messages wait
        (the feature is on, MSN said they are offline, and MSN reports their presence:
        ``presence_reported``, they are on the forward list). They wait for the contact to
        sign in, except once if the contact is ``seen_online`` (they signed in between the
        call and its refusal): then they are tried again at once."""
        if not (self.enabled and presence_reported):
            return False
        if not (isinstance(error, MSNPError) and error.code == ErrorCode.NOT_ONLINE):
            return False
        # (one entry per contact on the forward list at most: bounded as the list is)
        key = passport.lower()
        if seen_online and key not in self._retried:
            self._retried.add(key)
            return True
        self._retried.discard(key)
        self._held.setdefault(key, _Hold())
        return True

    def tell_once(self, passport: str) -> bool:
        """Whether the user is to be told now why the chat with ``passport`` waits (once per
        hold)."""
        hold = self._held.get(passport.lower())
        if hold is None or hold.told:
            return False
        hold.told = True
        return True

    def on_presence(self, evt: PresenceChanged) -> None:
        """A contact signed in (any status but offline): their chat's messages go."""
        if evt.status is Status.OFFLINE:
            return
        hold = self._held.pop(evt.passport.lower(), None)
        if hold is not None:
            hold.signed_in.set()

    def release_all(self) -> None:
        """Stop waiting for anyone (logout): the queues try again, and fail as MSN answers."""
        holds, self._held = self._held, {}
        self._retried.clear()
        for hold in holds.values():
            hold.signed_in.set()
