"""What describes a portal room: its ``m.bridge`` state (and the rest of its initial state),
and the name and participants of a group conversation's room."""

from __future__ import annotations

from typing import Any

from mautrix.types import EventType, UserID

from bridge.msnp.circles import circle_of_key
from bridge.msnp.client import MSNClient
from bridge.puppet import Puppet

__all__ = [
    "BRIDGE_INFO_TYPES",
    "BRIDGE_PROTOCOL",
    "bridge_info",
    "bridge_info_state_key",
    "circle_name",
    "group_participants",
    "group_room_name",
    "initial_state",
]

BRIDGE_PROTOCOL = {
    "id": "msn",
    "displayname": "MSN Messenger",
    "external_url": "https://en.wikipedia.org/wiki/MSN_Messenger",
}
#: The bridge-info state event, under its standard and its older name.
BRIDGE_INFO_TYPES = (
    EventType("m.bridge", EventType.Class.STATE),
    EventType("uk.half-shot.bridge", EventType.Class.STATE),
)
#: How many participants a group room's name lists by name.
NAMED_PARTICIPANTS = 4


def bridge_info_state_key(owner: str, conv_key: str) -> str:
    return f"net.maunium.msn://msn/{owner}/{conv_key}"


def bridge_info(bot: UserID, creator: UserID, conv_key: str, name: str | None) -> dict[str, Any]:
    return {
        "bridgebot": bot,
        "creator": creator,
        "protocol": BRIDGE_PROTOCOL,
        "channel": {"id": conv_key, "displayname": name},
    }


def initial_state(
    state_key: str, info: dict[str, Any], encryption: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The state a new portal room is created with (encrypted when ``encryption`` is given)."""
    state: list[dict[str, Any]] = [
        {"type": str(evt_type), "state_key": state_key, "content": info}
        for evt_type in BRIDGE_INFO_TYPES
    ]
    if encryption is not None:
        state.append({"type": str(EventType.ROOM_ENCRYPTION), "content": encryption})
    return state


def group_participants(client: MSNClient | None, conv_key: str, own: str | None) -> list[str]:
    """The other people in the group conversation ``conv_key`` of the live session."""
    if client is None:
        return []
    try:
        return [p for p in client.participants(conv_key) if p != own]
    except Exception:
        return []


def circle_name(client: MSNClient | None, conv_key: str) -> str | None:
    """The name of the MSNP18 circle ``conv_key`` (None for other conversations)."""
    circle_id = circle_of_key(conv_key)
    circle = client.circles.get(circle_id) if client is not None and circle_id else None
    return circle.name if circle is not None else None


async def group_room_name(participants: list[str]) -> str:
    names = []
    for passport in participants[:NAMED_PARTICIPANTS]:
        puppet = await Puppet.get_by_passport(passport, create=False)
        names.append(puppet.display_text if puppet else passport)
    if not names:
        return "MSN group chat"
    extra = len(participants) - NAMED_PARTICIPANTS
    more = f" and {extra} more" if extra > 0 else ""
    return f"MSN group chat with {', '.join(names)}{more}"
