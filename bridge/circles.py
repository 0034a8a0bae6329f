"""The user's MSNP18 circles as portal rooms: one room per circle, named after it, with its
members' ghosts joined as the circle's member list says.

A circle's portal is keyed by the library's conversation key of the circle
(``group:circle:<id>``), so the same circle comes back to the same room across reconnects and
restarts. The room is made when the circle's members are first reported after a login
(:class:`~bridge.msnp.circles.CircleMembersChanged`); every later report joins the ghosts of
new members and makes those of members who left leave (single joins and leaves also come as
``SwitchboardJoined``/``SwitchboardLeft`` of the circle, which the group portal code handles).
Messages both ways go through the portal like any group conversation's: the library sends text
to a circle key as ``SDG`` (:mod:`bridge.msnp.circle_session`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mautrix.types import UserID

from bridge import lazy_log
from bridge.msnp.circles import CircleMembersChanged, CirclesLoaded, circle_of_key
from bridge.portal import Portal
from bridge.portal.ghost_join import join_with_reason
from bridge.puppet import Puppet

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["LEFT_REASON", "CirclePortals", "is_circle_key"]

LEFT_REASON = "Left the MSN circle"


def is_circle_key(conv_key: str) -> bool:
    """Whether the portal ``conv_key`` is an MSNP18 circle's."""
    return circle_of_key(conv_key) is not None


class CirclePortals:
    """Keeps the circle rooms of one user in step with the circles (see the module docs)."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.log = lazy_log.child(user.log, "circles")

    async def on_loaded(self, evt: CirclesLoaded) -> None:
        self.log.debug("%d circle(s): %s", len(evt.circles), [c.name for c in evt.circles])

    async def on_members(self, evt: CircleMembersChanged) -> None:
        user = self.user
        portal = await Portal.get_by_key(user.mxid, evt.conversation, create=True)
        if portal is None or not await portal.ensure_room(user):
            self.log.warning("No room for the circle %s", evt.circle.circle_id)
            return
        if portal.name != evt.circle.name:
            await portal.set_room_name(evt.circle.name)
        own = (user.passport or "").lower()
        members = {m.email for m in evt.members if not m.pending and m.email != own}
        for email in sorted(members):
            await join_with_reason(portal, email, create=True, reason="Member of the MSN circle")
        await self._remove_others(portal, members)

    async def _remove_others(self, portal: Portal, members: set[str]) -> None:
        """Ghosts in the room of people who are no longer members leave it."""
        room_id = portal.mxid
        if not room_id:
            return
        try:
            joined = await portal.main_intent.get_joined_members(room_id)
        except Exception:
            self.log.debug("Could not read the members of %s", room_id, exc_info=True)
            return
        for mxid in joined:
            puppet = await Puppet.get_by_mxid(UserID(mxid), create=False)
            if puppet is None or puppet.passport.lower() in members:
                continue
            try:
                await puppet.default_mxid_intent.leave_room(room_id, reason=LEFT_REASON)
            except Exception:
                self.log.debug("Ghost of %s failed to leave", puppet.passport, exc_info=True)
