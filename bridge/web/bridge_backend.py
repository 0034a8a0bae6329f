"""The web front ends' :class:`bridge.web.backend.Backend` on the running bridge: the only module
of ``bridge.web`` that touches the bridge's users, portals and ghosts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mautrix.types import UserID

from bridge.commands import parse_passport
from bridge.msnp.events import Lists, Status
from bridge.password_login import LoginOutcome, password_login
from bridge.portal import Portal
from bridge.puppet import Puppet, decode_friendly_name
from bridge.user import User

from .errors import INVALID_PARAM, NOT_LOGGED_IN, UNKNOWN, WebError

if TYPE_CHECKING:
    from bridge.app import MSNBridge

__all__ = ["BridgeBackend"]

_LIST_NAMES = (
    (Lists.FORWARD, "forward"),
    (Lists.ALLOW, "allow"),
    (Lists.BLOCK, "block"),
    (Lists.REVERSE, "reverse"),
    (Lists.PENDING, "pending"),
)


def _lists(value: int) -> list[str]:
    return [name for flag, name in _LIST_NAMES if value & flag]


class BridgeBackend:
    """:class:`Backend` on the running bridge."""

    def __init__(self, bridge: MSNBridge) -> None:
        self.bridge = bridge
        self.bridge_name = str(bridge.config["appservice.bot_displayname"] or bridge.name)

    def permission(self, mxid: str) -> str:
        if mxid == self.bridge.az.bot_mxid or Puppet.is_ghost_mxid(UserID(mxid)):
            return "none"
        return self.bridge.config.get_permissions(mxid).level

    def parse_email(self, text: str) -> str | None:
        return parse_passport(text)

    async def _user(self, mxid: str) -> User:
        user: User | None = await User.get_by_mxid(UserID(mxid))
        assert user is not None  # the caller checked it is neither the bot nor a ghost
        return user

    async def _logged_in(self, mxid: str) -> User:
        user = await self._user(mxid)
        if not user.passport:
            raise WebError(400, NOT_LOGGED_IN, "You are not logged in to MSN.")
        return user

    async def whoami(self, mxid: str) -> dict[str, Any]:
        user = await self._user(mxid)
        msn: dict[str, Any] | None = None
        if user.passport:
            states = await user.get_bridge_states()
            state = states[0] if states else None
            client = user.client if user.connected else None
            msn = {
                "email": user.passport,
                "connected": user.connected,
                "friendly_name": client.friendly_name if client else None,
                "protocol": client.protocol if client else None,
                "connected_since": user.connected_since,
                "state": {
                    "state_event": state.state_event.value if state else None,
                    "error": state.error if state else None,
                    "message": state.message if state else None,
                },
            }
        return {
            "mxid": user.mxid,
            "permissions": self.permission(mxid),
            "management_room": user.management_room,
            "msn": msn,
        }

    async def login(self, mxid: str, email: str, password: str) -> LoginOutcome:
        return await password_login(await self._user(mxid), email, password)

    async def logout(self, mxid: str) -> str:
        user = await self._logged_in(mxid)
        passport = str(user.passport)
        await user.logout()
        return passport

    async def contacts(self, mxid: str) -> dict[str, Any]:
        user = await self._logged_in(mxid)
        groups = {gid: group.name for gid, group in user.groups.items()}
        entries = []
        for passport, contact in sorted(user.contacts.items()):
            status = contact.status if isinstance(contact.status, Status) else Status.OFFLINE
            entries.append(
                {
                    "email": passport,
                    "friendly_name": decode_friendly_name(contact.friendly_name) or passport,
                    "status": status.name.lower(),
                    "personal_message": contact.personal_message,
                    "groups": [groups[g] for g in contact.groups if g in groups],
                    "lists": _lists(int(contact.lists)),
                    "mxid": Puppet.get_mxid_from_passport(passport),
                }
            )
        return {"connected": user.connected, "contacts": entries}

    async def open_chat(self, mxid: str, email: str) -> dict[str, Any]:
        user = await self._logged_in(mxid)
        if email == user.passport:
            raise WebError(400, INVALID_PARAM, "You cannot open a chat with yourself.")
        puppet = await Puppet.get_by_passport(email)
        assert puppet is not None
        contact = user.contacts.get(email)
        if contact is not None and contact.friendly_name:
            await puppet.update_info(contact.friendly_name)
        portal = await Portal.get_by_key(user.mxid, email)
        assert portal is not None
        existed = bool(portal.mxid)
        room_id = await portal.ensure_room(user)
        if not room_id:
            raise WebError(500, UNKNOWN, f"Failed to create a room for {email}.")
        return {
            "room_id": room_id,
            "just_created": not existed,
            "email": email,
            "mxid": puppet.mxid,
            "on_contact_list": contact is not None,
        }

    async def notify(self, mxid: str, text: str) -> None:
        user = await self._user(mxid)
        await user.send_bridge_notice(text)
