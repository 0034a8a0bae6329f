"""Group conversations started from Matrix: a contact's ghost invited into a portal room, or a
room the user made with several ghosts.

* A ghost invited into a group portal's room is called into its switchboard (``CAL``) when one
  is open, and is one of the people called when the conversation is opened again.
* A ghost invited into a direct chat starts a group conversation with both contacts in a new
  room, as MSN does (the direct chat stays as it was).
* A room the user made with ghosts becomes a group portal: the conversation opens with the
  first message, calling everyone.

The portal of such a conversation has a ``group:`` key of the bridge's own making and stores its
participants; :meth:`bridge.msnp.client.MSNClient.restore_group` makes the key usable, so
writing calls those participants (again after an idle close).
"""

from __future__ import annotations

from collections.abc import Iterable
import secrets

from mautrix.bridge import RejectMatrixInvite
from mautrix.types import RoomID

from bridge.db.portal import participant_set
from bridge.msnp.client import GROUP_PREFIX
from bridge.msnp.errors import ErrorCode, MSNPError, MSNPException
from bridge.puppet import Puppet

from . import Portal
from .interfaces import PortalOwner

__all__ = ["invite_into", "new_group", "take_over_room"]


def _passport_of(puppet: object) -> str:
    passport = getattr(puppet, "passport", None)
    if not isinstance(passport, str) or not passport:
        raise RejectMatrixInvite("This is not an MSN contact.")
    return passport.lower()


def _checked(user: PortalOwner, passport: str) -> None:
    if passport == (user.passport or "").lower():
        raise RejectMatrixInvite("You are already in this conversation.")
    if user.client is None or not user.connected:
        raise RejectMatrixInvite("The bridge is not connected to MSN right now.")


async def new_group(
    user: PortalOwner, passports: Iterable[str], room_id: RoomID | None = None
) -> Portal:
    """A new group portal for ``passports`` (in ``room_id``, or a new room)."""
    members = participant_set(passports, user.passport)
    portal = await Portal.get_by_key(user.mxid, GROUP_PREFIX + secrets.token_hex(16))
    assert portal is not None
    await portal.remember_participants(members)
    if user.client is not None:
        user.client.restore_group(portal.conv_key, members.split())
    if room_id is None:
        await portal.ensure_room(user)
    else:
        portal.row.room_id = room_id
        await portal.save()
        portal.cache.room_changed(portal, None, room_id)
        await portal.update_bridge_info()
        await portal.add_to_space(user)
    return portal


async def invite_into(portal: Portal, user: PortalOwner, puppet: object) -> None:
    """The owner invited ``puppet`` into ``portal``'s room (see the module documentation);
    raises :class:`RejectMatrixInvite` with the reason when the ghost does not stay."""
    passport = _passport_of(puppet)
    _checked(user, passport)
    client = user.client
    assert client is not None
    if portal.is_direct:
        if passport == portal.conv_key:
            raise RejectMatrixInvite("They are already in this conversation.")
        group = await new_group(user, (portal.conv_key, passport))
        raise RejectMatrixInvite(
            f"A group conversation with both started in a new room ({group.mxid})."
        )
    conversation = user.msn_conversation(portal.conv_key)
    members = set(portal.participants)
    if conversation in client.conversations():  # an open switchboard: call them now
        try:
            await client.invite(conversation, passport)
        except MSNPError as e:
            if e.code == ErrorCode.NOT_ONLINE:
                raise RejectMatrixInvite(f"{passport} is offline.") from e
            raise RejectMatrixInvite(f"MSN refused to call {passport} ({e.code}).") from e
        except MSNPException as e:
            raise RejectMatrixInvite(f"Could not call {passport}: {e}.") from e
    else:
        await client.leave(conversation)  # forget the old set: the next message calls all
        client.restore_group(conversation, (*members, passport))
    await portal.remember_participants(participant_set((*members, passport), user.passport))


async def take_over_room(user: PortalOwner, room_id: RoomID, members: Iterable[str]) -> Portal:
    """A room the user made with the ghosts among ``members`` becomes a group portal."""
    passports = [p for p in map(Puppet.ghost_ids.passport, members) if p]
    return await new_group(user, passports, room_id)
