"""The web front ends' :class:`bridge.web.backend.Backend` on the running bridge: the only module
of ``bridge.web`` that touches the bridge's users, portals and ghosts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mautrix.types import UserID

from bridge.commands.common import parse_passport
from bridge.msnp.values import Lists
from bridge.password_login import LoginOutcome, password_login
from bridge.puppet import Puppet
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
    """:class:`bridge.web.backend.Backend` on the running bridge."""

    def __init__(self, bridge: MSNBridge) -> None:
        self.bridge = bridge
        self.bridge_name = str(bridge.config["appservice.bot_displayname"] or bridge.name)

    def permission(self, mxid: str) -> str:
        if mxid == self.bridge.az.bot_mxid or Puppet.ghost_ids.is_ghost(mxid):
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
            state = user.session.bridge_state()
            client = user.client if user.connected else None
            msn = {
                "email": user.passport,
                "connected": user.connected,
                "friendly_name": client.friendly_name if client else None,
                "protocol": client.protocol if client else None,
                "connected_since": user.connected_since,
                "state": {
                    "state_event": state.state_event.value,
                    "error": state.error,
                    "message": state.message,
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
        book = user.contacts
        entries = [
            {
                "email": entry.passport,
                "friendly_name": entry.display_name,
                "status": entry.status.name.lower(),
                "personal_message": entry.personal_message,
                "groups": [book.groups[g] for g in entry.groups if g in book.groups],
                "lists": [name for flag, name in _LIST_NAMES if entry.lists & flag],
                "mxid": Puppet.ghost_ids.mxid(entry.passport),
            }
            for entry in sorted(book.contacts.values(), key=lambda c: c.passport)
        ]
        return {"connected": user.connected, "contacts": entries}

    async def open_chat(self, mxid: str, email: str) -> dict[str, Any]:
        user = await self._logged_in(mxid)
        if email == user.passport:
            raise WebError(400, INVALID_PARAM, "You cannot open a chat with yourself.")
        chat = await user.open_private_chat(email)
        if not chat.room_id:
            raise WebError(500, UNKNOWN, f"Failed to create a room for {email}.")
        return {
            "room_id": chat.room_id,
            "just_created": chat.created,
            "email": email,
            "mxid": chat.puppet.default_mxid,
            "on_contact_list": chat.on_contact_list,
        }

    async def notify(self, mxid: str, text: str) -> None:
        user = await self._user(mxid)
        await user.send_bridge_notice(text)
