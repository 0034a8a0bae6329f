"""Matrix -> MSN: one portal's messages (in timeline order, with delivery status) and typing."""

from __future__ import annotations

from typing import Any, cast
import asyncio
import time

from mautrix.types import (
    EventID,
    Format,
    LocationMessageEventContent,
    MediaMessageEventContent,
    MessageEventContent,
    MessageStatusReason,
    MessageType,
    RelationType,
    RoomID,
    TextMessageEventContent,
)
from mautrix.util import background_task

from bridge import formatter, metrics
from bridge.clean_text import clean_line
from bridge.db.message import Message as DBMessage
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import MSNPException
from bridge.puppet import Puppet
from bridge.texts import SendFailure, describe_send_error

from .interfaces import PortalOwner, PortalRoom
from .send_status import send_status

__all__ = ["TYPING_REPEAT_SECONDS", "MatrixToMSN"]

#: While a Matrix user keeps typing, repeat the MSN typing notification this often.
TYPING_REPEAT_SECONDS = 4.0
#: ... but for no longer than this without a new Matrix typing event.
TYPING_MAX_SECONDS = 30.0

_MEDIA_NAMES: dict[MessageType | None, str] = {
    MessageType.IMAGE: "an image",
    MessageType.STICKER: "a sticker",
    MessageType.VIDEO: "a video",
    MessageType.AUDIO: "an audio clip",
    MessageType.FILE: "a file",
}


class MatrixToMSN:
    """Sends what the owner writes in one portal's room to the MSN conversation."""

    def __init__(self, portal: PortalRoom) -> None:
        self.portal = portal
        self.log = portal.log
        # mautrix handles every Matrix event in its own task, started in timeline order. The
        # lock is taken before anything here can yield, so (being FIFO) it keeps the messages
        # of a room in that order all the way to MSN, and makes the duplicate check atomic.
        self._send_lock = asyncio.Lock()
        self._typing_task: asyncio.Task[None] | None = None
        self._typing_deadline = 0.0

    # region messages

    async def handle_message(
        self, user: PortalOwner, message: MessageEventContent, event_id: EventID
    ) -> None:
        room_id = self.portal.mxid
        if not room_id:
            return
        arrived_at = time.monotonic()
        async with self._send_lock:
            await self._bridge_matrix_message(user, message, event_id, room_id, arrived_at)

    async def _bridge_matrix_message(
        self,
        user: PortalOwner,
        message: MessageEventContent,
        event_id: EventID,
        room_id: RoomID,
        arrived_at: float,
    ) -> None:
        portal = self.portal
        msgtype = getattr(message, "msgtype", None)
        failure: SendFailure | None = None
        record: DBMessage | None = None
        try:
            if await DBMessage.get_by_mxid(room_id, event_id):
                # Synapse re-sent the transaction (e.g. after a restart): already bridged.
                self.log.debug("Ignoring duplicate Matrix event %s", event_id)
                return
            if user.mxid != portal.owner:
                raise SendFailure(
                    "only the Matrix user who owns this MSN conversation can send here",
                    MessageStatusReason.NO_PERMISSION,
                )
            record = DBMessage(
                room_id=room_id,
                mxid=event_id,
                owner=portal.owner,
                conv_key=portal.conv_key,
                msn_id=None,
                sender=user.mxid,
                direction="out",
                status="pending",
                timestamp=int(time.time() * 1000),
            )
            await record.insert()
            text, fmt = await self._convert_matrix_message(user, message)
            if not text.strip():
                raise SendFailure("the message is empty", MessageStatusReason.UNSUPPORTED)
            client = user.client
            if client is None or not user.connected:
                raise SendFailure(
                    "the bridge is not connected to MSN right now",
                    MessageStatusReason.NETWORK_ERROR,
                    retriable=True,
                    kind="not_connected",
                )
            conversation = user.msn_conversation(portal.conv_key)
            if not portal.is_direct and not client.participants(conversation):
                await self._restore_group(client, conversation)
            await client.send_text(conversation, text, fmt)
        except asyncio.CancelledError:
            raise
        except SendFailure as e:
            failure = e
        except (MSNPException, OSError) as e:
            failure = describe_send_error(e, await self._contact_name())
            self.log.info("Failed to send %s to MSN: %r", event_id, e)
        except Exception as e:
            failure = describe_send_error(e, await self._contact_name())
            self.log.warning("Unexpected error sending %s to MSN", event_id, exc_info=True)
        self.stop_typing()
        if failure is None:
            metrics.message_bridged(metrics.MATRIX_TO_MSN, arrived_at)
        else:
            metrics.send_failed(metrics.MATRIX_TO_MSN, failure.kind)
        if record is not None:
            try:
                await record.set_status("failed" if failure else "delivered")
            except Exception:
                self.log.warning("Failed to update status of %s", event_id, exc_info=True)
        await send_status(portal, user, event_id, msgtype, failure)

    async def _restore_group(self, client: MSNClient, conversation: str) -> None:
        """A group room from an earlier MSN session: its stored participants (or else its
        ghosts) are the people to invite."""
        portal = self.portal
        assert portal.mxid
        passports = portal.participants
        if not passports:
            members = await portal.main_intent.get_room_members(portal.mxid)
            passports = [p for p in map(Puppet.ghost_ids.passport, members) if p]
        if not passports:
            raise SendFailure(
                "nobody from MSN is left in this group conversation",
                MessageStatusReason.UNSUPPORTED,
            )
        self.log.debug("Restoring group conversation %s with %s", conversation, passports)
        client.restore_group(conversation, passports)

    async def _contact_name(self) -> str:
        portal = self.portal
        if portal.is_direct:
            puppet = await portal.get_dm_puppet()
            if puppet is not None:
                return puppet.display_text
            return portal.conv_key
        return "the group conversation"

    async def _sender_name(self, user: PortalOwner) -> str:
        client = user.client
        if client is not None and client.friendly_name:
            return clean_line(client.friendly_name)
        room_id = self.portal.mxid
        assert room_id
        try:
            name = await self.portal.main_intent.get_room_displayname(room_id, user.mxid)
        except Exception:
            name = None
        return name or user.mxid

    async def _quoted(self, event_id: EventID) -> tuple[str | None, str | None]:
        """The body and sender name of the event being replied to (for a text quote)."""
        room_id, intent = self.portal.mxid, self.portal.main_intent
        assert room_id
        try:
            evt = await intent.get_event(room_id, event_id)
        except Exception:
            return None, None
        body = getattr(evt.content, "body", None)
        if not isinstance(body, str):
            return None, None
        body = formatter.strip_reply_fallback(body)
        puppet = await Puppet.get_by_mxid(evt.sender, create=False)
        if puppet is not None:
            return body, puppet.display_text
        try:
            name = await intent.get_room_displayname(room_id, evt.sender)
        except Exception:
            name = None
        return body, name or evt.sender

    def _media_url(self, mxc: str) -> str | None:
        if not mxc or not mxc.startswith("mxc://"):
            return None
        server_media = mxc[len("mxc://") :]
        config = self.portal.config
        base = (
            config.get("bridge.public_media_url", None)
            or config.get("homeserver.public_address", None)
            or config["homeserver.address"]
        )
        return f"{str(base).rstrip('/')}/_matrix/media/v3/download/{server_media}"

    async def _convert_matrix_message(
        self, user: PortalOwner, message: MessageEventContent
    ) -> tuple[str, Any]:
        msgtype = getattr(message, "msgtype", None)
        if isinstance(message, MediaMessageEventContent) or msgtype in _MEDIA_NAMES:
            return self._media_fallback(message), None
        if isinstance(message, LocationMessageEventContent) or msgtype == MessageType.LOCATION:
            geo = getattr(message, "geo_uri", "") or ""
            body = getattr(message, "body", "") or "a location"
            return f"{body} ({geo})" if geo else body, None
        if not isinstance(message, TextMessageEventContent):
            raise SendFailure(
                f"messages of type {msgtype or 'unknown'} cannot be sent to MSN",
                MessageStatusReason.UNSUPPORTED,
            )
        content = cast(dict[str, Any], message.serialize())
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == RelationType.REPLACE.value:
            inner = {k: v for k, v in content.items() if k != "m.relates_to"}
            content = {"m.new_content": inner, "m.relates_to": relates, **inner}
        quote = quote_sender = None
        reply_to = message.get_reply_to()
        if reply_to and not message.get_edit():
            quote, quote_sender = await self._quoted(reply_to)
        sender_name = ""
        if message.msgtype == MessageType.EMOTE:
            sender_name = await self._sender_name(user)
        if message.format != Format.HTML:
            content.pop("formatted_body", None)
            content.pop("format", None)
        return formatter.matrix_to_msn(
            content, sender_name=sender_name, quote=quote, quote_sender=quote_sender
        )

    def _media_fallback(self, message: Any) -> str:
        msgtype = getattr(message, "msgtype", None)
        what = _MEDIA_NAMES.get(msgtype, "a file")
        name = getattr(message, "filename", None) or getattr(message, "body", None) or ""
        url = self._media_url(str(getattr(message, "url", "") or ""))
        if url is None:
            if getattr(message, "file", None) is not None:
                raise SendFailure(
                    f"{what} from an encrypted room cannot be forwarded to MSN yet",
                    MessageStatusReason.UNSUPPORTED,
                )
            raise SendFailure(f"{what} without a URL", MessageStatusReason.UNSUPPORTED)
        label = f"{what}: {name}" if name else what
        caption = ""
        body = getattr(message, "body", None)
        if getattr(message, "filename", None) and body and body != message.filename:
            caption = f"\r\n{body}"
        return f"Sent {label} {url}{caption}"

    # endregion
    # region typing

    async def handle_typing(self, user: PortalOwner, typing: bool) -> None:
        if user.mxid != self.portal.owner:
            return
        if not typing:
            self.stop_typing()
            return
        if self._typing_task and not self._typing_task.done():
            self._typing_deadline = time.monotonic() + TYPING_MAX_SECONDS
            return
        self._typing_deadline = time.monotonic() + TYPING_MAX_SECONDS
        self._typing_task = background_task.create(self._typing_loop(user))

    def stop_typing(self) -> None:
        task = self._typing_task
        self._typing_task = None
        if task and not task.done() and task is not asyncio.current_task():
            task.cancel()

    async def _typing_loop(self, user: PortalOwner) -> None:
        while time.monotonic() < self._typing_deadline:
            client = user.client
            if client is None or not user.connected:
                return
            try:
                await client.send_typing(user.msn_conversation(self.portal.conv_key))
            except Exception as e:
                self.log.debug("Failed to send typing notification: %s", e)
                return
            await asyncio.sleep(TYPING_REPEAT_SECONDS)

    # endregion
