"""The user's own list changes over MSNP2-12, applied and reported once the server confirms them.

Each change (``ADD``/``ADC``/``REM``, ``ADG``/``RMG``/``REG``, ``BLP``, ``GTC``) is sent; once the server
confirms it, the roster applies it and its event goes out, as if the server had pushed it. The
MSNP13+ address book (ABService and ``ADL``/``RML``) will offer the same calls.
"""

from __future__ import annotations

from collections.abc import Callable

from .codec import encode_arg
from .connection import Connection
from .errors import ErrorCode, LocalProtocolError, MSNPError, RemoteProtocolError
from .events import Event
from .list_commands import parse_adg
from .roster import Roster
from .values import Group, Lists

__all__ = ["ListEditor"]


class ListEditor:
    """Changes to the lists of one session. ``live()`` is its logged-in connection (or raises
    :class:`~.errors.ConnectionClosed`); ``emit`` hands events on."""

    __slots__ = ("_emit", "_live", "roster")

    def __init__(
        self, roster: Roster, live: Callable[[], Connection], emit: Callable[[Event], None]
    ) -> None:
        self.roster = roster
        self._live = live
        self._emit = emit

    async def add_contact(
        self,
        passport: str,
        list_: Lists = Lists.FORWARD,
        group: str | None = None,
        friendly_name: str | None = None,
    ) -> None:
        """Put ``passport`` on ``list_`` (and, for the forward list, into ``group``)."""
        conn = self._live()
        code = list_.code
        name = encode_arg(friendly_name or passport)
        known = self.roster.get(passport)
        if self.roster.version < 10:
            args: tuple[str, ...] = (code, passport, name)
            if group is not None:
                args = (*args, group)
            await conn.transaction("ADD", args)
            self._emit(self.roster.added(passport, list_, name=friendly_name, group=group))
            return
        guid = known.guid if known else None
        listed = guid is not None and known is not None and bool(known.lists & Lists.FORWARD)
        if list_ is not Lists.FORWARD:
            await conn.transaction("ADC", (code, f"N={passport}"))
            self._emit(self.roster.added(passport, list_, name=friendly_name, guid=guid))
            return
        if not listed:
            reply = await conn.transaction("ADC", (code, f"N={passport}", f"F={name}"))
            guid = next((t[2:] for t in reply.args if t.startswith("C=")), guid)
            # on the forward list now, whatever happens to the group below
            self._emit(self.roster.added(passport, list_, name=friendly_name, guid=guid))
        if group is None:
            return
        if guid is None:
            raise RemoteProtocolError("the server gave the new contact no GUID")
        await conn.transaction("ADC", (code, f"C={guid}", group))
        self._emit(self.roster.added(passport, list_, name=friendly_name, guid=guid, group=group))

    async def remove_contact(
        self, passport: str, list_: Lists = Lists.FORWARD, group: str | None = None
    ) -> None:
        """Take ``passport`` off ``list_`` (or, with ``group``, out of that group only)."""
        conn = self._live()
        known = self.roster.get(passport)
        target = passport
        if self.roster.version >= 10 and list_ is Lists.FORWARD:
            if known is None or known.guid is None:
                raise MSNPError(ErrorCode.NOT_ON_LIST, command="REM")
            target = known.guid
        args: tuple[str, ...] = (list_.code, target)
        if group is not None:
            args = (*args, group)
        await conn.transaction("REM", args)
        self._emit(self.roster.removed(passport, list_, group))

    async def move_contact(self, passport: str, from_group: str | None, to_group: str) -> None:
        """Into ``to_group``, then out of ``from_group`` (if any)."""
        await self.add_contact(passport, Lists.FORWARD, to_group)
        if from_group is not None and from_group != to_group:
            await self.remove_contact(passport, Lists.FORWARD, from_group)

    async def block(self, passport: str) -> None:
        """Off the allow list, onto the block list."""
        known = self.roster.get(passport)
        if known is not None and known.lists & Lists.ALLOW:
            await self.remove_contact(passport, Lists.ALLOW)
        if known is None or not known.lists & Lists.BLOCK:
            await self.add_contact(passport, Lists.BLOCK)

    async def unblock(self, passport: str) -> None:
        """Off the block list, onto the allow list."""
        known = self.roster.get(passport)
        if known is not None and known.lists & Lists.BLOCK:
            await self.remove_contact(passport, Lists.BLOCK)
        if known is None or not known.lists & Lists.ALLOW:
            await self.add_contact(passport, Lists.ALLOW)

    async def add_group(self, name: str) -> Group:
        conn = self._live()
        args: tuple[str, ...] = (encode_arg(name),)
        if self.roster.version < 10:
            args = (*args, "0")
        reply = await conn.transaction("ADG", args)
        group = parse_adg(self.roster.version, reply)
        if group is None:
            raise RemoteProtocolError(f"unexpected ADG reply {reply!r}")
        event = self.roster.group_set(group)
        if event is not None:
            self._emit(event)
        return group

    async def remove_group(self, group_id: str) -> None:
        conn = self._live()
        await conn.transaction("RMG", (group_id,))
        event = self.roster.group_removed(group_id)
        if event is not None:
            self._emit(event)

    async def rename_group(self, group_id: str, name: str) -> None:
        conn = self._live()
        args: tuple[str, ...] = (group_id, encode_arg(name))
        if self.roster.version < 10:
            args = (*args, "0")
        await conn.transaction("REG", args)
        event = self.roster.group_set(Group(group_id, name))
        if event is not None:
            self._emit(event)

    async def set_privacy(self, allow_unlisted: bool) -> None:
        """``BLP``: whether people on no list may see the user and talk to them."""
        conn = self._live()
        await conn.transaction("BLP", ("AL" if allow_unlisted else "BL",))
        self.roster.privacy_allow_unlisted = allow_unlisted

    def nickname(self, passport: str) -> str | None:
        """The user's own name for a contact: kept in the address book from MSNP13 on."""
        return None

    async def set_nickname(self, passport: str, nickname: str) -> None:
        raise LocalProtocolError("contact nicknames are kept in the MSNP13+ address book")

    async def set_reverse_prompt(self, ask: bool) -> None:
        """``GTC``: whether the user wants to be asked when someone adds them."""
        conn = self._live()
        await conn.transaction("GTC", ("A" if ask else "N",))
        self.roster.reverse_prompt = ask
