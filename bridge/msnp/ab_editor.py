"""The user's own list changes over MSNP13+: the address book and memberships, then ADL/RML.

The same calls as :class:`~.list_editor.ListEditor` (MSNP2-12), made the way Windows Live
Messenger makes them: a forward-list contact is added with ``ABContactAdd`` (the service puts
it on the allow list too) and announced to the notification server with ``ADL``, removed with
``ABContactDelete`` and ``RML``; allow and block are memberships (``AddMember`` /
``DeleteMember``) followed by ``ADL``/``RML``; groups are ``ABGroup*`` actions. Each change is
applied to the roster and reported once the services confirmed it, as at MSNP2-12.
"""

from __future__ import annotations

from collections.abc import Callable

from . import abedit, sharing
from .adl import ListEntry, build_ml
from .connection import Connection
from .errors import ErrorCode, MSNPError
from .events import Event
from .list_editor import ListEditor
from .login import PassportService
from .roster import Roster
from .sharing import Role
from .soap import SoapRequest
from .values import Group, Lists

__all__ = ["AbListEditor"]

_ROLES = {Lists.ALLOW: Role.ALLOW, Lists.BLOCK: Role.BLOCK}


class AbListEditor(ListEditor):
    """List changes of one MSNP13+ session through the address-book services at ``ab_base``
    with the contacts.msn.com ``ticket``."""

    __slots__ = ("_ab_base", "_ticket", "_web")

    def __init__(
        self,
        roster: Roster,
        live: Callable[[], Connection],
        emit: Callable[[Event], None],
        web: PassportService,
        ab_base: str,
        ticket: str,
    ) -> None:
        super().__init__(roster, live, emit)
        self._web = web
        self._ab_base = ab_base
        self._ticket = ticket

    async def _ab(self, request: SoapRequest) -> bytes:
        self._live()
        return await self._web.post(self._ab_base + "/abservice/abservice.asmx", request)

    async def _sharing(self, request: SoapRequest) -> bytes:
        self._live()
        return await self._web.post(self._ab_base + "/abservice/SharingService.asmx", request)

    async def _ml(self, command: str, passport: str, lists: Lists) -> None:
        conn = self._live()
        for payload in build_ml([ListEntry(passport, lists)]):
            await conn.transaction(command, (), payload)

    async def add_contact(
        self,
        passport: str,
        list_: Lists = Lists.FORWARD,
        group: str | None = None,
        friendly_name: str | None = None,
    ) -> None:
        known = self.roster.get(passport)
        if list_ is not Lists.FORWARD:
            role = _ROLES.get(list_)
            if role is None:
                raise ValueError(f"cannot add to {list_!r}")
            sharing.parse_ack(
                await self._sharing(sharing.add_member(self._ticket, role, passport)),
                "AddMember",
            )
            await self._ml("ADL", passport, list_)
            self._emit(self.roster.added(passport, list_, name=friendly_name))
            return
        guid = known.guid if known is not None else None
        if known is None or not known.lists & Lists.FORWARD or guid is None:
            created = abedit.parse_contact_add(
                await self._ab(
                    abedit.contact_add(self._ticket, passport, display_name=friendly_name)
                )
            )
            guid = created.guid
            await self._ml("ADL", passport, Lists.FORWARD | Lists.ALLOW)
            self._emit(self.roster.added(passport, Lists.FORWARD, name=friendly_name, guid=guid))
            if known is None or not known.lists & Lists.ALLOW:
                self._emit(self.roster.added(passport, Lists.ALLOW))
        if group is None:
            return
        abedit.parse_ack(
            await self._ab(abedit.group_contact_add(self._ticket, group, [guid])),
            "ABGroupContactAdd",
        )
        self._emit(self.roster.added(passport, Lists.FORWARD, guid=guid, group=group))

    async def remove_contact(
        self, passport: str, list_: Lists = Lists.FORWARD, group: str | None = None
    ) -> None:
        known = self.roster.get(passport)
        if list_ is not Lists.FORWARD:
            role = _ROLES.get(list_)
            if role is None:
                raise ValueError(f"cannot remove from {list_!r}")
            sharing.parse_ack(
                await self._sharing(sharing.delete_member(self._ticket, role, passport)),
                "DeleteMember",
            )
            await self._ml("RML", passport, list_)
            self._emit(self.roster.removed(passport, list_))
            return
        if known is None or known.guid is None:
            raise MSNPError(ErrorCode.NOT_ON_LIST, command="ABContactDelete")
        if group is not None:
            abedit.parse_ack(
                await self._ab(abedit.group_contact_delete(self._ticket, group, [known.guid])),
                "ABGroupContactDelete",
            )
            self._emit(self.roster.removed(passport, list_, group))
            return
        abedit.parse_ack(
            await self._ab(abedit.contact_delete(self._ticket, [known.guid])), "ABContactDelete"
        )
        await self._ml("RML", passport, Lists.FORWARD)
        self._emit(self.roster.removed(passport, Lists.FORWARD))

    async def add_group(self, name: str) -> Group:
        created = abedit.parse_group_add(await self._ab(abedit.group_add(self._ticket, name)))
        group = Group(created.guid, name)
        event = self.roster.group_set(group)
        if event is not None:
            self._emit(event)
        return group

    async def remove_group(self, group_id: str) -> None:
        abedit.parse_ack(
            await self._ab(abedit.group_delete(self._ticket, [group_id])), "ABGroupDelete"
        )
        event = self.roster.group_removed(group_id)
        if event is not None:
            self._emit(event)

    async def rename_group(self, group_id: str, name: str) -> None:
        abedit.parse_ack(
            await self._ab(abedit.group_update(self._ticket, group_id, name)), "ABGroupUpdate"
        )
        event = self.roster.group_set(Group(group_id, name))
        if event is not None:
            self._emit(event)
