"""Creating a portal's Matrix room: who is invited, its name, encryption and initial state.

And what follows once it exists: the bridge bot in an encrypted direct chat, ``m.direct``, the
contacts' ghosts in a group room, the user's space. The portal (:mod:`bridge.portal`) calls
:func:`create_room` under its creation lock and owns everything else about the room.
"""

from __future__ import annotations

from typing import Any, Protocol

from mautrix.appservice import IntentAPI
from mautrix.types import RoomID
from mautrix.util.logging import TraceLogger

from bridge.config import Config
from bridge.db.portal import Portal as DBPortal
from bridge.puppet import Puppet

from . import room_info
from .interfaces import PortalOwner

__all__ = ["NewRoomPortal", "create_room"]


class NewRoomPortal(Protocol):
    """What :func:`create_room` needs of a portal (a :class:`bridge.portal.Portal`)."""

    row: DBPortal
    log: TraceLogger

    @property
    def config(self) -> Config: ...

    @property
    def az(self) -> Any: ...

    @property
    def matrix(self) -> Any: ...

    @property
    def cache(self) -> Any: ...

    @property
    def conv_key(self) -> str: ...

    @property
    def is_direct(self) -> bool: ...

    @property
    def participants(self) -> list[str]: ...

    @property
    def main_intent(self) -> IntentAPI: ...

    @property
    def bridge_info_state_key(self) -> str: ...

    @property
    def bridge_info(self) -> dict[str, Any]: ...

    def get_encryption_state_event_json(self) -> Any: ...

    async def save(self) -> None: ...

    async def ensure_ghost_joined(
        self, passport: str, *, create: bool = True
    ) -> Puppet | None: ...

    async def add_to_space(self, user: PortalOwner) -> None: ...


async def create_room(portal: NewRoomPortal, user: PortalOwner, puppet: Puppet | None) -> RoomID:
    """Create the room of ``portal`` with ``user`` invited; ``puppet``: the contact's ghost
    of a direct chat (which creates it), None for a group."""
    encrypt = bool(portal.matrix.e2ee and portal.config["bridge.encryption.default"])
    invitees = [user.mxid]
    intent = portal.main_intent
    name: str | None = None
    participants: list[str] = []
    if portal.is_direct:
        assert puppet is not None
        intent = puppet.default_mxid_intent
        if encrypt or portal.config["bridge.private_chat_portal_meta"]:
            name = puppet.format_displayname()
        if encrypt:
            invitees.append(portal.az.bot_mxid)
        await intent.ensure_registered()
    else:
        participants = portal.participants or room_info.group_participants(
            user.client, user.msn_conversation(portal.conv_key), user.passport
        )
        name = room_info.circle_name(user.client, portal.conv_key)
        name = name or await room_info.group_room_name(participants)
    encryption = portal.get_encryption_state_event_json() if encrypt else None
    room_id = await intent.create_room(
        name=name,
        is_direct=portal.is_direct,
        invitees=invitees,
        initial_state=room_info.initial_state(
            portal.bridge_info_state_key, portal.bridge_info, encryption
        ),
        creation_content=({} if portal.config["bridge.federate_rooms"] else {"m.federate": False}),
    )
    portal.row.room_id = room_id
    portal.row.name = name
    portal.row.encrypted = encrypt
    await portal.save()
    portal.cache.room_changed(portal, None, room_id)
    portal.log.info("Created room %s", room_id)
    if encrypt and portal.is_direct:
        try:
            await portal.az.intent.ensure_joined(room_id)
        except Exception:
            portal.log.warning("Bridge bot failed to join the encrypted DM", exc_info=True)
    if portal.is_direct:
        try:
            await user.update_direct_chats({intent.mxid: [room_id]})
        except Exception:
            portal.log.debug("Failed to update m.direct", exc_info=True)
    # the contacts' ghosts join a group room; a stranger's when they write (ContactBook)
    for passport in filter(user.may_have_ghost, participants):
        await portal.ensure_ghost_joined(passport)
    await portal.add_to_space(user)
    return room_id
