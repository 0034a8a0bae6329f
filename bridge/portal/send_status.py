"""Message send status: ``com.beeper.message_send_status`` events (pending, success, failure),
checkpoints, error notices."""

from __future__ import annotations

from mautrix.types import (
    BeeperMessageStatusEventContent,
    EventID,
    EventType,
    MessageStatus,
    MessageType,
    RelatesTo,
    RelationType,
)
from mautrix.util.message_send_checkpoint import MessageSendCheckpointStatus

from bridge.texts import SendFailure

from .interfaces import PortalOwner, PortalRoom

__all__ = ["send_status"]

NETWORK = "msn"


async def send_status(
    portal: PortalRoom,
    user: PortalOwner | None,
    event_id: EventID,
    msgtype: MessageType | None,
    failure: SendFailure | None = None,
    *,
    pending: bool = False,
) -> None:
    """Send the message status event, the remote checkpoint and (on failure) a notice;
    ``pending``: the message waits in the outgoing queue (no notice)."""
    if not portal.mxid:
        return
    if user is not None:
        if pending:
            status = MessageSendCheckpointStatus.WILL_RETRY
        elif failure is None:
            status = MessageSendCheckpointStatus.SUCCESS
        else:
            status = MessageSendCheckpointStatus.PERM_FAILURE
        try:
            user.send_remote_checkpoint(
                status,
                event_id,
                portal.mxid,
                EventType.ROOM_MESSAGE,
                message_type=msgtype,
                error=failure.message if failure else None,
            )
        except Exception:
            portal.log.debug("Failed to send checkpoint", exc_info=True)
    if portal.config.get("bridge.message_status_events", True):
        content = BeeperMessageStatusEventContent(
            network=NETWORK,
            relates_to=RelatesTo(rel_type=RelationType.REFERENCE, event_id=event_id),
        )
        if pending:
            content.status = MessageStatus.PENDING
        elif failure is None:
            content.status = MessageStatus.SUCCESS
        else:
            content.status = MessageStatus.RETRIABLE if failure.retriable else MessageStatus.FAIL
            content.reason = failure.reason
            content.error = failure.message
            content.message = failure.message
        try:
            await portal.main_intent.send_message_event(
                portal.mxid, EventType.BEEPER_MESSAGE_STATUS, content
            )
        except Exception as e:
            # e.g. the event was redacted meanwhile; nothing the user could act on
            portal.log.debug("Failed to send message status event for %s: %r", event_id, e)
    if failure is not None and portal.config.get("bridge.delivery_error_notices", True):
        await portal.send_portal_notice(f"Your message was not delivered: {failure.message}.")
