"""Ghost users: one Matrix ghost per MSN account (passport), with name and presence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from collections.abc import Iterable
from functools import cached_property
import asyncio

from mautrix.api import HTTPAPI, Method, Path
from mautrix.appservice import IntentAPI
from mautrix.bridge import BasePuppet
from mautrix.types import ContentURI, PresenceState, UserID
from mautrix.util.async_getter_lock import async_getter_lock

from bridge import lazy_log
from bridge.clean_text import clean_line
from bridge.config import Config
from bridge.db.puppet import Puppet as DBPuppet
from bridge.ids import GhostIDs
from bridge.limits import Limits
from bridge.msnp.values import Status
from bridge.presence_limiter import PresenceLimiter
from bridge.throttle import LatestWins

if TYPE_CHECKING:
    from mautrix.bridge import Bridge

__all__ = ["Puppet", "presence_for"]


def presence_for(
    status: Status | str | None, personal_message: str = ""
) -> tuple[PresenceState, str | None]:
    """Map an MSN status (+ personal message) to a Matrix presence state and status message."""
    try:
        st = Status(status) if status else Status.OFFLINE
    except ValueError:
        st = Status.OFFLINE
    psm = clean_line(personal_message) or None
    if st == Status.ONLINE:
        return PresenceState.ONLINE, psm
    if st in (Status.OFFLINE, Status.HIDDEN):
        return PresenceState.OFFLINE, psm
    label = st.label
    return PresenceState.UNAVAILABLE, f"{label} - {psm}" if psm else label


class Puppet(BasePuppet):
    """The ghost of one MSN account; it mirrors the account's name and presence."""

    config: ClassVar[Config]
    ghost_ids: ClassVar[GhostIDs]
    displayname_template: ClassVar[str]
    presence: ClassVar[PresenceLimiter[str, tuple[PresenceState, str | None]] | None] = None
    #: seconds between two display name changes of one ghost (bridge.limits)
    name_interval: ClassVar[float] = Limits().display_name_interval

    by_passport: ClassVar[dict[str, Puppet]] = {}
    #: every stored double puppet is in ``by_custom_mxid`` (bridge.double_puppet.start_all)
    double_puppets_loaded: ClassVar[bool] = False

    passport: str
    row: DBPuppet

    def __init__(self, row: DBPuppet) -> None:
        self.row = row
        self.passport = row.passport
        self.default_mxid = self.ghost_ids.mxid(self.passport)
        self.custom_mxid = UserID(row.custom_mxid) if row.custom_mxid else None
        self.access_token = row.access_token
        self.base_url = None
        # The intents are made when first used (see default_mxid_intent): most ghosts need
        # none while their contact's name and picture stay as they are (presence goes out
        # without one, see send_presence_now).
        self._default_intent: IntentAPI | None = None
        self._intent: IntentAPI | None = None
        self.log = lazy_log.child(self.log, self.passport)  # (most ghosts never log a line)
        # The MSN status lives in memory only: every login reports it again (ILN), Synapse
        # forgets a ghost's presence soon anyway, and storing each change cost a database
        # write per contact per login. The personal message, which seldom changes, is stored.
        self._status = Status.OFFLINE
        self._target_presence: tuple[PresenceState, str | None] = presence_for(
            None, row.personal_message or ""
        )
        # The locks and the name limiter (below) are made when first used: most ghosts of a
        # restart change nothing (about 0.8 KiB per ghost together).

    @cached_property
    def _info_lock(self) -> asyncio.Lock:
        """One name update at a time: the contact sync and presence events (ILN) of a login
        would otherwise both set the same display name."""
        return asyncio.Lock()

    @cached_property
    def _register_lock(self) -> asyncio.Lock:
        """One registration at a time: the name sync and the presence sender may both be the
        first to touch a new ghost."""
        return asyncio.Lock()

    @cached_property
    def avatar_lock(self) -> asyncio.Lock:
        """One display picture fetch at a time for this ghost (bridge.ghost_avatars)."""
        return asyncio.Lock()

    @cached_property
    def _names(self) -> LatestWins[str | None]:
        """Name churn (a contact renaming themselves a thousand times a minute) reaches the
        homeserver at most once per interval; the last name always does."""
        return LatestWins(self._apply_name, self.name_interval, on_error=self._name_failed)

    def _names_made(self) -> LatestWins[str | None] | None:
        """The name limiter if it was made (reading ``_names`` makes it)."""
        return self.__dict__.get("_names")

    def _name_failed(self, error: BaseException) -> None:
        self.log.warning("Failed to update the name: %s", error)

    # region class setup and lookup

    @classmethod
    def init_cls(cls, bridge: Bridge, config: Config) -> None:
        cls.config = config
        cls.loop = bridge.loop
        cls.mx = bridge.matrix
        cls.az = bridge.az
        cls.ghost_ids = config.ghost_ids
        cls.displayname_template = config["bridge.displayname_template"]
        cls.name_interval = Limits.from_config(config).display_name_interval
        pres = config["bridge.presence"] or {}
        if pres.get("enabled", True):
            cls.presence = PresenceLimiter(
                cls._send_presence,
                max_per_second=float(pres.get("max_per_second", 20) or 0),
                resend_interval=float(pres.get("resend_interval", 20) or 0),
                is_active=lambda value: value[0] != PresenceState.OFFLINE,
                log=cls.log.getChild("presence"),
            )
        else:
            cls.presence = None

    @classmethod
    def stop_all(cls) -> None:
        """Drop the names still waiting for their interval (bridge shutdown, once the sessions
        are closed): applied during the shutdown they met a closing homeserver session and
        database, two warnings per ghost. A row keeps the name last applied, so the next start
        sees the newer one in the contact list and applies it."""
        for puppet in cls.by_passport.values():
            if (names := puppet._names_made()) is not None:
                names.cancel()

    @classmethod
    async def get_by_mxid(  # type: ignore[override]  # mautrix declares no None
        cls, mxid: UserID, create: bool = True
    ) -> Puppet | None:
        passport = cls.ghost_ids.passport(mxid)
        if not passport:
            return None
        return await cls.get_by_passport(passport, create=create)

    @classmethod
    @async_getter_lock
    async def get_by_custom_mxid(  # type: ignore[override]  # mautrix declares no None
        cls, mxid: UserID
    ) -> Puppet | None:
        cached = cls.by_custom_mxid.get(mxid)
        if isinstance(cached, Puppet):
            return cached
        if cls.double_puppets_loaded:
            return None
        row = await DBPuppet.get_by_custom_mxid(mxid)
        if row is None:
            return None
        return await cls.get_by_passport(row.passport)

    @classmethod
    @async_getter_lock
    async def get_by_passport(cls, passport: str, *, create: bool = True) -> Puppet | None:
        passport = passport.lower()
        try:
            return cls.by_passport[passport]
        except KeyError:
            pass
        row = await DBPuppet.get_by_passport(passport)
        if row is None:
            if not create:
                return None
            row = DBPuppet(passport=passport)
            await row.insert()
        return cls._keep(row)

    @classmethod
    def _keep(cls, row: DBPuppet) -> Puppet:
        """The ghost of ``row``: the one in memory, or a new one kept from now on."""
        cached = cls.by_passport.get(row.passport)
        if cached is not None:  # (made from the same row meanwhile: take_stored)
            return cached
        puppet = cls(row)
        cls.by_passport[puppet.passport] = puppet
        if puppet.custom_mxid:
            cls.by_custom_mxid[puppet.custom_mxid] = puppet
        return puppet

    @classmethod
    def take_stored(cls, rows: Iterable[DBPuppet]) -> int:
        """Ghosts' rows read for many contacts at once (:mod:`bridge.start_rows`): each becomes
        the ghost :meth:`get_by_passport` returns, unless there is one already (which may have
        changed its row since). Only a ghost object writes its row, and one is never dropped,
        so a row read while there was none is still what is stored. Returns how many were
        taken."""
        taken = 0
        for row in rows:
            if row.passport not in cls.by_passport:
                cls._keep(row)
                taken += 1
        return taken

    # endregion
    # region naming

    @property
    def default_mxid_intent(self) -> IntentAPI:
        if self._default_intent is None:
            self._default_intent = self.az.intent.user(self.default_mxid)
        return self._default_intent

    @default_mxid_intent.setter
    def default_mxid_intent(self, intent: IntentAPI) -> None:
        self._default_intent = intent

    @property
    def intent(self) -> IntentAPI:
        """The ghost's intent, or the Matrix user's own with double puppeting (mautrix sets it
        again when that changes)."""
        if self._intent is None:
            self._intent = self._fresh_intent()
        return self._intent

    @intent.setter
    def intent(self, intent: IntentAPI) -> None:
        self._intent = intent

    @property
    def friendly_name(self) -> str:
        # (cleaned again: rows stored by older versions may hold control characters)
        return clean_line(self.row.friendly_name)

    @property
    def is_registered(self) -> bool:
        return bool(self.row.is_registered)

    @is_registered.setter
    def is_registered(self, value: bool) -> None:
        self.row.is_registered = value

    @property
    def status(self) -> Status:
        """The contact's MSN status as last reported in this process (offline until then)."""
        return self._status

    @property
    def personal_message(self) -> str:
        return self.row.personal_message or ""

    @property
    def display_text(self) -> str:
        """The contact's readable name, for notices and command output."""
        return self.friendly_name or self.passport

    def format_displayname(self, name: str | None = None) -> str:
        name = name if name is not None else self.friendly_name
        return self.displayname_template.format(
            displayname=name or self.passport, passport=self.passport
        )

    async def save(self) -> None:
        self.row.custom_mxid = self.custom_mxid
        self.row.access_token = self.access_token
        await self.row.update()

    async def _store(self) -> None:
        """Save a name or personal message change. A failure is logged, never raised: the
        change stays in memory and the event that carried it (a message, say) is still
        bridged."""
        try:
            await self.save()
        except Exception:
            self.log.warning("Failed to store the ghost's name or presence", exc_info=True)

    async def update_info(self, friendly_name: str | None = None, *, force: bool = False) -> bool:
        """Update the stored name and the ghost's displayname. Returns whether it changed now:
        a change (or a retry of a failed one) soon after the previous one is applied later
        (``bridge.limits.display_name_interval``), the latest name winning."""
        if force:
            async with self._info_lock:
                return await self._update_info(friendly_name, force)
        name = self.row.friendly_name
        if friendly_name is not None:
            name = clean_line(friendly_name)
        held = (names := self._names_made()) is not None and names.holding
        if name != self.row.friendly_name or not self.row.name_set or held:
            return await self._names.set(name)
        return False

    async def _apply_name(self, name: str | None) -> None:
        async with self._info_lock:
            await self._update_info(name, False)

    async def _update_info(self, friendly_name: str | None, force: bool) -> bool:
        changed = False
        if friendly_name is not None:
            # (The library already URL-decoded the name: no second decoding, "%41" may be text.)
            name = clean_line(friendly_name)
            if name != self.row.friendly_name:
                self.row.friendly_name = name
                self.row.name_set = False
                changed = True
        if changed or force or not self.row.name_set:
            try:
                # A ghost registered just now has the default name (its localpart), which is
                # never the formatted name: no need to ask the homeserver for it first.
                fresh = await self.ensure_ghost_registered()
                await self.default_mxid_intent.set_displayname(
                    self.format_displayname(), check_current=not fresh
                )
                self.row.name_set = True
            except Exception:
                self.log.warning("Failed to set displayname", exc_info=True)
                self.row.name_set = False
            changed = True
        if changed:
            await self._store()
        return changed

    async def ensure_ghost_registered(self) -> bool:
        """Register the ghost on the homeserver unless that is known to be done already.

        Concurrent callers wait for one registration instead of each sending a request.
        Returns whether this call registered it (False if it already was).
        """
        if self.is_registered:
            return False
        async with self._register_lock:
            if self.is_registered:
                return False
            # Sets is_registered (through the bridge state store) and saves the row.
            await self.default_mxid_intent.ensure_registered()
            return True

    # endregion
    # region presence

    async def update_presence(
        self, status: Status | None = None, personal_message: str | None = None
    ) -> None:
        """Take a new MSN status / PSM (a new PSM is stored) and queue a Matrix presence update
        if it changed."""
        dirty = False
        if status is not None and status != self._status:
            self._status = status
            dirty = True
        if personal_message is not None:
            personal_message = clean_line(personal_message)
            if personal_message != (self.row.personal_message or ""):
                self.row.personal_message = personal_message
                dirty = True
                await self._store()
        target = presence_for(self._status, self.row.personal_message or "")
        self._target_presence = target
        if dirty or target != self.sent_presence:
            self.queue_presence()

    def queue_presence(self) -> None:
        if self.presence is not None:
            self.presence.update(self.passport, self._target_presence)

    @property
    def sent_presence(self) -> tuple[PresenceState, str | None] | None:
        return self.presence.last_sent(self.passport) if self.presence is not None else None

    @classmethod
    async def _send_presence(cls, passport: str, value: tuple[PresenceState, str | None]) -> None:
        puppet = await cls.get_by_passport(passport)
        if puppet is not None:
            await puppet.send_presence_now(*value)

    async def send_presence_now(self, state: PresenceState, message: str | None) -> None:
        """``PUT /presence`` as the ghost: what ``IntentAPI.set_presence`` sends, through the
        bot's API with the ghost's ``user_id``. Neither an intent nor mautrix's API object for
        that user is made (with its logger, which is never freed: 2.2 KiB per ghost,
        bench/presence_put.py)."""
        await self.ensure_ghost_registered()
        content: dict[str, str] = {"presence": state.value}
        if message:
            content["status_msg"] = message
        mxid = self.default_mxid
        # (HTTPAPI's request: the appservice API's own would put the bot's user_id in)
        await HTTPAPI.request(
            self.az.intent.api,
            Method.PUT,
            Path.v3.presence[mxid].status,
            content,
            query_params={"user_id": mxid},
        )

    # endregion
    # region avatar

    @property
    def avatar_sha1d(self) -> str | None:
        """The SHA1D of the MSN display picture the ghost's avatar shows (None: none yet)."""
        return self.row.avatar_sha1d

    async def set_avatar(self, data: bytes, mime: str, sha1d: str) -> None:
        """Upload ``data`` (the contact's display picture) and make it the ghost's avatar;
        remembered by ``sha1d`` so the same picture is never uploaded again."""
        await self.ensure_ghost_registered()
        intent = self.default_mxid_intent
        ext = mime.split("/", 1)[1] if "/" in mime else "bin"
        mxc = await intent.upload_media(data, mime_type=mime, filename=f"avatar.{ext}")
        await intent.set_avatar_url(mxc)
        self.row.avatar_url = mxc
        self.row.avatar_sha1d = sha1d
        await self._store()

    async def remove_avatar(self) -> None:
        """The contact shows no display picture any more: neither does the ghost."""
        await self.default_mxid_intent.set_avatar_url(ContentURI(""))
        self.row.avatar_url = None
        self.row.avatar_sha1d = None
        await self._store()

    # endregion

    async def default_puppet_should_leave_room(self, room_id: Any) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Puppet({self.passport!r})"
