"""The user's own list changes over MSNP13+: the address book and memberships, then ADL/RML.

The same calls as :class:`~.list_editor.ListEditor` (MSNP2-12), made the way Windows Live
Messenger makes them: a forward-list contact is added with ``ABContactAdd`` (the service puts
it on the allow list too) and announced to the notification server with ``ADL``, removed with
``ABContactDelete`` and ``RML``; allow and block are memberships (``AddMember`` /
``DeleteMember``) followed by ``ADL``/``RML``; groups are ``ABGroup*`` actions. Each change is
applied to the roster and reported once the services confirmed it, as at MSNP2-12. From MSNP14
an address not yet in the address book is first looked up with ``FQY`` (which network it is on;
an unknown address is refused there, before the address book is touched), as Messenger does.
The privacy settings are annotations of the user's own entry (``MSN.IM.GTC``; ``MSN.IM.BLP``
beside the ``BLP`` command): MSNP13+ has no ``GTC`` command (a server closes the connection).
The user's own names for contacts are their ``AB.NickName`` annotations (``ABContactUpdate``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import abedit, sharing
from .adl import ListEntry, build_fqy, build_ml, parse_ml
from .connection import Connection
from .endpoints import NetworkId
from .errors import ErrorCode, MSNPError
from .events import Event
from .list_editor import ListEditor
from .login import PassportService
from .roster import Roster
from .sharing import Role
from .soap import SoapRequest
from .sso import CONTACTS
from .tickets import TicketKeeper
from .values import Group, Lists

__all__ = ["AbListEditor"]

_ROLES = {Lists.ALLOW: Role.ALLOW, Lists.BLOCK: Role.BLOCK}


class AbListEditor(ListEditor):
    """List changes of one MSNP13+ session through the address-book services at ``ab_base``
    with the contacts.msn.com ``ticket``."""

    __slots__ = ("_ab_base", "_nicknames", "_tickets", "_web")

    def __init__(
        self,
        roster: Roster,
        live: Callable[[], Connection],
        emit: Callable[[Event], None],
        web: PassportService,
        ab_base: str,
        tickets: TicketKeeper,
        nicknames: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(roster, live, emit)
        self._web = web
        self._ab_base = ab_base
        self._tickets = tickets
        #: the user's names for contacts (annotation ``AB.NickName``), by lower-case address
        self._nicknames = dict(nicknames or {})

    async def _post(self, path: str, request: Callable[[str], SoapRequest]) -> bytes:
        """``request(ticket)`` to the service at ``path``, with a renewed contacts.msn.com
        ticket when the one in hand expired."""
        self._live()
        url = self._ab_base + path

        async def attempt(ticket: str) -> bytes:
            return await self._web.post(url, request(ticket))

        return await self._tickets.call((CONTACTS,), attempt)

    async def _ab(self, request: Callable[[str], SoapRequest]) -> bytes:
        return await self._post("/abservice/abservice.asmx", request)

    async def _sharing(self, request: Callable[[str], SoapRequest]) -> bytes:
        return await self._post("/abservice/SharingService.asmx", request)

    async def _ml(
        self,
        command: str,
        passport: str,
        lists: Lists,
        network: NetworkId = NetworkId.WINDOWS_LIVE,
    ) -> None:
        conn = self._live()
        for payload in build_ml([ListEntry(passport, lists, network)]):
            await conn.transaction(command, (), payload)

    async def _network_of(self, passport: str) -> NetworkId:
        """``FQY`` (MSNP14+): the network ``passport`` is on. The server's 208 (no account with
        that address) is raised as :data:`ErrorCode.INVALID_USER`, the code an MSNP2-12 ``ADC``
        of the same address gets. Before 14 every contact is on Messenger."""
        if self.roster.version < 14:
            return NetworkId.WINDOWS_LIVE
        try:
            reply = await self._live().transaction("FQY", (), build_fqy(passport))
        except MSNPError as e:
            if e.code == ErrorCode.INVALID_USERNAME:
                raise MSNPError(ErrorCode.INVALID_USER, command="FQY") from e
            raise
        answers = [e for e in parse_ml(reply.payload or b"") if e.email.lower() == passport]
        return answers[0].network if answers else NetworkId.WINDOWS_LIVE

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
                await self._sharing(lambda t: sharing.add_member(t, role, passport)), "AddMember"
            )
            await self._ml("ADL", passport, list_)
            self._emit(self.roster.added(passport, list_, name=friendly_name))
            return
        guid = known.guid if known is not None else None
        if known is None or not known.lists & Lists.FORWARD or guid is None:
            network = await self._network_of(passport.lower())
            created = abedit.parse_contact_add(
                await self._ab(
                    lambda t: abedit.contact_add(
                        t, passport, network=network, display_name=friendly_name
                    )
                )
            )
            guid = created.guid
            await self._ml("ADL", passport, Lists.FORWARD | Lists.ALLOW, network)
            self._emit(self.roster.added(passport, Lists.FORWARD, name=friendly_name, guid=guid))
            if known is None or not known.lists & Lists.ALLOW:
                self._emit(self.roster.added(passport, Lists.ALLOW))
        if group is None:
            return
        member = guid
        abedit.parse_ack(
            await self._ab(lambda t: abedit.group_contact_add(t, group, [member])),
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
                await self._sharing(lambda t: sharing.delete_member(t, role, passport)),
                "DeleteMember",
            )
            await self._ml("RML", passport, list_)
            self._emit(self.roster.removed(passport, list_))
            return
        if known is None or known.guid is None:
            raise MSNPError(ErrorCode.NOT_ON_LIST, command="ABContactDelete")
        guid = known.guid
        if group is not None:
            abedit.parse_ack(
                await self._ab(lambda t: abedit.group_contact_delete(t, group, [guid])),
                "ABGroupContactDelete",
            )
            self._emit(self.roster.removed(passport, list_, group))
            return
        abedit.parse_ack(
            await self._ab(lambda t: abedit.contact_delete(t, [guid])), "ABContactDelete"
        )
        await self._ml("RML", passport, Lists.FORWARD)
        self._emit(self.roster.removed(passport, Lists.FORWARD))

    async def add_group(self, name: str) -> Group:
        created = abedit.parse_group_add(await self._ab(lambda t: abedit.group_add(t, name)))
        group = Group(created.guid, name)
        event = self.roster.group_set(group)
        if event is not None:
            self._emit(event)
        return group

    async def remove_group(self, group_id: str) -> None:
        abedit.parse_ack(
            await self._ab(lambda t: abedit.group_delete(t, [group_id])), "ABGroupDelete"
        )
        event = self.roster.group_removed(group_id)
        if event is not None:
            self._emit(event)

    async def rename_group(self, group_id: str, name: str) -> None:
        abedit.parse_ack(
            await self._ab(lambda t: abedit.group_update(t, group_id, name)), "ABGroupUpdate"
        )
        event = self.roster.group_set(Group(group_id, name))
        if event is not None:
            self._emit(event)

    def nickname(self, passport: str) -> str | None:
        return self._nicknames.get(passport.lower())

    async def set_nickname(self, passport: str, nickname: str) -> None:
        """``ABContactUpdate`` of the contact's ``AB.NickName`` annotation ("" clears it);
        Messenger shows it instead of the contact's own name."""
        known = self.roster.get(passport)
        if known is None or known.guid is None or not known.lists & Lists.FORWARD:
            raise MSNPError(ErrorCode.NOT_ON_LIST, command="ABContactUpdate")
        guid = known.guid
        answer = await self._ab(lambda t: abedit.contact_update(t, guid, nickname=nickname))
        abedit.parse_ack(answer, "ABContactUpdate")
        if nickname:
            self._nicknames[passport.lower()] = nickname
        else:
            self._nicknames.pop(passport.lower(), None)

    async def _own_annotation(self, name: str, on: bool) -> None:
        value = "1" if on else "2"
        answer = await self._ab(
            lambda t: abedit.contact_update(t, None, annotations={name: value}, scenario="Timer")
        )
        abedit.parse_ack(answer, "ABContactUpdate")

    async def set_privacy(self, allow_unlisted: bool) -> None:
        """``BLP`` to the NS, and ``MSN.IM.BLP`` in the address book (read at the next login)."""
        await self._own_annotation("MSN.IM.BLP", allow_unlisted)
        await super().set_privacy(allow_unlisted)

    async def set_reverse_prompt(self, ask: bool) -> None:
        """``MSN.IM.GTC`` on the user's own address-book entry (no ``GTC`` at MSNP13+)."""
        await self._own_annotation("MSN.IM.GTC", ask)
        self.roster.reverse_prompt = ask
