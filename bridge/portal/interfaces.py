"""What the parts of a portal need from each other and from the rest of the bridge, declared
as protocols: the portal's owner (a :class:`bridge.user.User`) and the portal's room (a
:class:`bridge.portal.Portal`, as the message directions see it).

Declaring them here lets the portal package use the user without importing it (the user
imports the portal to route MSN events), and lets the message directions be small objects
the portal holds instead of mixins reaching into its state.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from mautrix.appservice import IntentAPI
from mautrix.types import EventID, EventType, MessageEventContent, MessageType, RoomID, UserID
from mautrix.util.logging import TraceLogger
from mautrix.util.message_send_checkpoint import MessageSendCheckpointStatus

from bridge.config import Config
from bridge.contact_book import ContactBook
from bridge.msnp.client import MSNClient
from bridge.offline_contacts import OfflineContacts
from bridge.puppet import Puppet

from .outbox import Condition

__all__ = ["PortalOwner", "PortalRoom"]


@runtime_checkable
class PortalOwner(Protocol):
    """The Matrix user a portal belongs to."""

    #: the user's contact list; the direct chats waiting for their contact to sign in
    contacts: ContactBook
    offline_contacts: OfflineContacts

    @property
    def mxid(self) -> UserID: ...

    @property
    def passport(self) -> str | None: ...

    @property
    def client(self) -> MSNClient | None: ...

    @property
    def connected(self) -> bool: ...

    def send_condition(self, conv_key: str) -> Condition:
        """When messages of the conversation ``conv_key`` can be delivered to MSN."""
        ...

    def may_have_ghost(self, passport: str) -> bool:
        """Whether ``passport`` may get a ghost before they wrote (on the user's lists)."""
        ...

    def msn_conversation(self, conv_key: str) -> str:
        """The MSN library's key for the portal ``conv_key``."""
        ...

    async def add_portal_to_space(self, portal: Any) -> None: ...

    async def update_direct_chats(self, dms: dict[UserID, list[RoomID]] | None = None) -> None: ...

    def send_remote_checkpoint(
        self,
        status: MessageSendCheckpointStatus,
        event_id: EventID,
        room_id: RoomID,
        event_type: EventType,
        message_type: MessageType | None = None,
        error: str | Exception | None = None,
        retry_num: int = 0,
    ) -> object: ...


class PortalRoom(Protocol):
    """The room of one MSN conversation, as the message directions use it."""

    log: TraceLogger

    @property
    def config(self) -> Config: ...

    @property
    def mxid(self) -> RoomID | None: ...

    @property
    def owner(self) -> UserID: ...

    @property
    def conv_key(self) -> str: ...

    @property
    def is_direct(self) -> bool: ...

    @property
    def encrypted(self) -> bool: ...

    @property
    def main_intent(self) -> IntentAPI: ...

    async def ensure_room(self, user: PortalOwner) -> RoomID | None: ...

    async def ensure_ghost_joined(
        self, passport: str, *, create: bool = True
    ) -> Puppet | None: ...

    @property
    def participants(self) -> list[str]: ...

    async def cleanup_and_forget(self, message: str = ...) -> None: ...

    async def get_dm_puppet(self) -> Puppet | None: ...

    async def send_message(
        self,
        intent: IntentAPI,
        content: MessageEventContent,
        event_type: EventType = EventType.ROOM_MESSAGE,
        timestamp: int | None = None,
    ) -> EventID:
        """Send ``content`` to the room as ``intent`` (encrypted if the room is), dated
        ``timestamp`` (ms) when given."""
        ...

    async def send_portal_notice(self, text: str) -> EventID | None: ...

    @property
    def has_relay(self) -> bool: ...

    async def get_relay_user(self) -> Any: ...

    async def apply_relay_message_format(self, sender: Any, content: MessageEventContent) -> None:
        """Relay mode (mautrix): name ``sender`` in ``content`` by the configured format."""
        ...
