"""The user's Matrix presence and display name driving their MSN status and friendly name
(opt-in: ``bridge.matrix_presence``), unless they chose one with the bot's ``status`` or
``nick`` (a choice wins until ``status auto`` / ``nick auto`` clears it).

Matrix presence reaches the bridge as the ephemeral ``m.presence`` events Synapse pushes to
the appservice (``receive_ephemeral``) for users sharing a room with the bridge bot (the
management room); the display name as ``m.room.member`` changes in the bridge's rooms. After
each MSN login the current ones are read back from the homeserver, so a restart or reconnect
does not wait for the next change.

Online → Online (NLN); unavailable → Away (AWY) or Idle (IDL); offline → kept as it is, or
Appear Offline (HDN): clients report "offline" whenever the app is closed, which rarely means
"hide me from my contacts".
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol
import asyncio

from mautrix.types import PresenceState, UserID
from mautrix.util.logging import TraceLogger

from bridge.db.user import User as DBUser
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPException
from bridge.msnp.flag import Flag
from bridge.msnp.values import Status

__all__ = [
    "Settings",
    "after_login",
    "clear_name",
    "clear_status",
    "on_name",
    "on_presence",
    "problems",
]

#: The MSN name limit (as the ``nick`` command's).
MAX_NAME = 129
#: Seconds after the ``LoggedIn`` event to wait for the session to be ready.
LOGIN_WAIT = 60.0

_UNAVAILABLE = {"away": Status.AWAY, "idle": Status.IDLE}
_OFFLINE = {"keep": None, "invisible": Status.HIDDEN}


def problems(config: Any) -> list[tuple[str, str]]:
    """``(key, message)`` for each wrong value in ``bridge.matrix_presence``."""
    section = config["bridge.matrix_presence"] or {}
    found = []
    for key, allowed in (("unavailable", _UNAVAILABLE), ("offline", _OFFLINE)):
        value = section.get(key)
        if value is not None and value not in allowed:
            found.append((f"bridge.matrix_presence.{key}", f"Use {' or '.join(allowed)}."))
    return found


class Settings(NamedTuple):
    status: bool = False
    unavailable: Status = Status.AWAY
    offline: Status | None = None  # None: keep the status as it is
    display_name: bool = False

    @classmethod
    def of(cls, config: Any) -> Settings:
        section = config["bridge.matrix_presence"] or {}
        return cls(
            status=bool(section.get("status", False)),
            unavailable=_UNAVAILABLE.get(str(section.get("unavailable", "away")), Status.AWAY),
            offline=_OFFLINE.get(str(section.get("offline", "keep"))),
            display_name=bool(section.get("display_name", False)),
        )

    def status_for(self, presence: PresenceState | str) -> Status | None:
        """The MSN status for a Matrix presence (None: leave the status as it is)."""
        if presence == PresenceState.ONLINE:
            return Status.ONLINE
        if presence == PresenceState.UNAVAILABLE:
            return self.unavailable
        if presence == PresenceState.OFFLINE:
            return self.offline
        return None


class Owner(Protocol):
    """What this module needs of a :class:`bridge.user.User`."""

    config: ClassVar[Any]
    az: Any
    mxid: UserID
    row: DBUser
    log: TraceLogger

    @property
    def client(self) -> MSNClient | None: ...

    @property
    def connected(self) -> bool: ...


def _live(user: Owner) -> MSNClient | None:
    client = user.client
    return client if client is not None and user.connected else None


#: Per user: the status Matrix presence asks for last, and the lock that sends it (presence
#: events are handled concurrently: the last one asked for is the one that stays).
_wanted: dict[str, Status] = {}
_locks: dict[str, asyncio.Lock] = {}


async def _set_status(user: Owner, status: Status) -> None:
    _wanted[user.mxid] = status
    async with _locks.setdefault(user.mxid, asyncio.Lock()):
        status = _wanted[user.mxid]
        client = _live(user)
        if client is None or user.row.chosen_status is not None or client.status is status:
            return
        try:
            await client.set_status(status)
            user.log.debug("MSN status follows Matrix presence: %s", status.value)
        except MSNPException as e:
            user.log.warning("Could not set the MSN status from Matrix presence: %s", e)


async def _set_name(user: Owner, name: str | None) -> None:
    client = _live(user)
    name = (name or "").strip()[:MAX_NAME]
    if client is None or not name or user.row.chosen_friendly_name is not None:
        return
    if client.friendly_name == name:
        return
    try:
        await client.set_friendly_name(name)
        user.log.debug("MSN name follows the Matrix display name")
    except MSNPException as e:
        user.log.warning("Could not set the MSN name from the Matrix display name: %s", e)


async def on_presence(user: Owner, presence: PresenceState | str) -> None:
    """The user's Matrix presence changed (``m.presence`` from the homeserver)."""
    settings = Settings.of(user.config)
    if not settings.status:
        return
    if user.row.chosen_status is not None:
        user.log.debug("Matrix presence %s not mirrored: a status was chosen", presence)
        return
    status = settings.status_for(presence)
    if status is not None:
        await _set_status(user, status)


async def on_name(user: Owner) -> None:
    """The user's display name changed in a room: their profile's name (not a name for one
    room) becomes the MSN name."""
    if not Settings.of(user.config).display_name:
        return
    if user.row.chosen_friendly_name is not None:
        user.log.debug("Matrix display name not mirrored: a name was chosen")
        return
    await _set_name(user, await _matrix_name(user))


async def _matrix_status(user: Owner, settings: Settings) -> Status | None:
    try:
        content = await user.az.intent.get_presence(user.mxid)
    except Exception as e:
        user.log.debug("Could not read the Matrix presence of %s: %s", user.mxid, e)
        return None
    return settings.status_for(content.presence)


async def _matrix_name(user: Owner) -> str | None:
    try:
        name = await user.az.intent.get_displayname(user.mxid)
    except Exception as e:
        user.log.debug("Could not read the Matrix display name of %s: %s", user.mxid, e)
        return None
    return str(name) if name else None


async def after_login(user: Owner, online: Flag) -> None:
    """After each MSN login (once the session is ``online``): the current Matrix presence and
    name, where they drive."""
    settings = Settings.of(user.config)
    if not (settings.status or settings.display_name):
        return
    try:
        await asyncio.wait_for(online.wait(), LOGIN_WAIT)
    except TimeoutError:
        return
    if settings.status and user.row.chosen_status is None:
        status = await _matrix_status(user, settings)
        if status is not None:
            await _set_status(user, status)
    if settings.display_name and user.row.chosen_friendly_name is None:
        await _set_name(user, await _matrix_name(user))


async def clear_status(user: Owner, save: Any) -> str:
    """``status auto``: forget the chosen status; Matrix presence drives it again (if on),
    else Online. Returns the reply."""
    user.row.chosen_status = None
    await save()
    settings = Settings.of(user.config)
    status = await _matrix_status(user, settings) if settings.status else None
    await _set_status(user, status or Status.ONLINE)
    if settings.status:
        return "Your MSN status follows your Matrix presence again."
    return "Your chosen MSN status was cleared: you go online as **Online**."


async def clear_name(user: Owner, save: Any) -> str:
    """``nick auto``: forget the chosen name; the Matrix display name drives it (if on)."""
    user.row.chosen_friendly_name = None
    await save()
    if Settings.of(user.config).display_name:
        await _set_name(user, await _matrix_name(user))
        return "Your MSN name follows your Matrix display name again."
    return "Your chosen MSN name was cleared (MSN keeps the current one)."
