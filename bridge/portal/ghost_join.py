"""A contact's ghost joining a room because they joined the MSN conversation (``JOI``), the
reason shown on the membership, as a leave (``BYE``) shows "Left the MSN chat"."""

from __future__ import annotations

from mautrix.errors import MForbidden

from bridge.puppet import Puppet

from .interfaces import PortalRoom

__all__ = ["JOINED_REASON", "join_with_reason"]

JOINED_REASON = "Joined the MSN chat"


async def join_with_reason(
    portal: PortalRoom, passport: str, *, create: bool, reason: str = JOINED_REASON
) -> Puppet | None:
    """Like :meth:`PortalRoom.ensure_ghost_joined`, the join event carrying ``reason`` (the
    room's main intent invites the ghost first if it may not join)."""
    puppet = await Puppet.get_by_passport(passport, create=create)
    room_id = portal.mxid
    if puppet is None or not room_id:
        return puppet
    intent = puppet.default_mxid_intent
    try:
        if await intent.state_store.is_joined(room_id, intent.mxid):
            return puppet
        await intent.ensure_registered()
        try:
            await intent.join_room_by_id(room_id, extra_content={"reason": reason})
        except MForbidden:
            await portal.main_intent.invite_user(room_id, intent.mxid, reason=reason)
            await intent.join_room_by_id(room_id, extra_content={"reason": reason})
        await intent.state_store.joined(room_id, intent.mxid)
    except Exception:
        portal.log.debug("Ghost of %s failed to join with a reason", passport, exc_info=True)
        return await portal.ensure_ghost_joined(passport, create=create)
    return puppet
