"""Matrix -> MSN: one portal's messages into its outgoing queue (in timeline order); typing."""

from __future__ import annotations

from typing import Any, cast
from collections.abc import Awaitable
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
from bridge.db.batch import is_duplicate
from bridge.db.message import Message as DBMessage
from bridge.db.model import next_seq
from bridge.db.outgoing import Outgoing as DBOutgoing
from bridge.offline_contacts import queue_timeout
from bridge.puppet import Puppet
from bridge.texts import SendFailure, describe_send_error, queue_full

from .interfaces import PortalOwner, PortalRoom
from .outbox import Outbox
from .outgoing_files import FileSender, p2p_target
from .send_status import send_status
from .sender import MSNSender, encode_format

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
    """Takes what the owner writes in one portal's room into the portal's outgoing queue
    (converted to MSN text, in timeline order, stored), and sends typing notifications."""

    def __init__(self, portal: PortalRoom) -> None:
        self.portal = portal
        self.log = portal.log
        # mautrix handles every Matrix event in its own task, started in timeline order. The
        # lock is taken before anything here can yield, so (being FIFO) it keeps the messages
        # of a room in that order all the way into the queue, and makes the duplicate check
        # atomic.
        self._send_lock = asyncio.Lock()
        self._typing_task: asyncio.Task[None] | None = None
        self._typing_deadline = 0.0
        self.sender = MSNSender(portal)
        self._resumed = False  # the stored queue was loaded
        queue = portal.config["bridge.send_queue"] or {}
        self.outbox = Outbox(
            self.sender,
            portal.log,
            max_size=int(queue.get("max_per_conversation", 200)),
            timeout=queue_timeout(portal.config, portal.is_direct),
        )

    # region messages

    async def handle_message(
        self, user: PortalOwner, message: MessageEventContent, event_id: EventID
    ) -> None:
        """Queue the message; it returns once the message is stored (or refused), before it is
        sent, so the homeserver's transaction can be answered once nothing can be lost."""
        room_id = self.portal.mxid
        if not room_id:
            return
        arrived_at = time.monotonic()
        async with self._send_lock:
            await self._accept(user, message, event_id, room_id, arrived_at)

    async def resume(self, user: PortalOwner) -> None:
        """Take the stored queue back after a restart (also done before the first new message
        is queued, so the older ones keep their place)."""
        async with self._send_lock:
            await self._resume(user)

    async def _resume(self, user: PortalOwner) -> None:
        if self._resumed:
            return
        self._resumed = True
        items = await DBOutgoing.for_conversation(self.portal.owner, self.portal.conv_key)
        if items:
            self.log.debug("Resuming %d stored messages to MSN", len(items))
            self.sender.owner = user
            self.outbox.resume(items)

    async def _accept(
        self,
        user: PortalOwner,
        message: MessageEventContent,
        event_id: EventID,
        room_id: RoomID,
        arrived_at: float,
    ) -> None:
        portal = self.portal
        msgtype = getattr(message, "msgtype", None)
        try:
            # An event stored before (Synapse re-sent the transaction after a restart) is
            # found when its record is stored: the record's key is the event ID.
            if user.mxid != portal.owner:
                user = await self._relay(user, message)
            await self._resume(user)
            target = p2p_target(portal, user, message)
            if target is not None and isinstance(message, MediaMessageEventContent):
                # offered over P2P in the background; its answer becomes the send status
                record = self._record(room_id, event_id, user, "pending")
                if not await self._store(record.insert(), event_id):
                    return
                deliver = FileSender(portal, user, target).deliver(
                    message, event_id, record, arrived_at, await self.sender.contact_name()
                )
                background_task.create(deliver, name=f"msn-file-out-{event_id}")
                return
            text, fmt = await self._convert_matrix_message(user, message)
            if not text.strip():
                raise SendFailure("the message is empty", MessageStatusReason.UNSUPPORTED)
            if self.outbox.full():
                raise queue_full(self.outbox.max_size)
            now = int(time.time() * 1000)
            record = self._record(room_id, event_id, user, "pending", now)
            item = DBOutgoing(
                room_id=room_id,
                event_id=event_id,
                owner=portal.owner,
                conv_key=portal.conv_key,
                seq=next_seq(),
                text=text,
                msgtype=str(msgtype) if msgtype else None,
                format=encode_format(fmt),
                queued_at=now,
            )
            if not await self._store(item.store_with(record), event_id):
                return
            self.sender.owner = user
            self.sender.arrived[event_id] = arrived_at  # for the latency metric
            await self.outbox.put(item)
            self.stop_typing()
            return
        except asyncio.CancelledError:
            raise
        except SendFailure as e:
            failure = e
        except Exception as e:
            failure = describe_send_error(e, portal.conv_key)
            self.log.warning("Unexpected error taking %s from Matrix", event_id, exc_info=True)
        metrics.send_failed(metrics.MATRIX_TO_MSN, failure.kind)
        if user.mxid == portal.owner:
            try:
                await self._record(room_id, event_id, user, "failed").insert()
            except Exception as e:
                if is_duplicate(e):
                    self.log.debug("Ignoring duplicate Matrix event %s", event_id)
                    return
                self.log.debug("Failed to record failed event %s", event_id, exc_info=True)
        await send_status(portal, user, event_id, msgtype, failure)

    async def _store(self, writing: Awaitable[None], event_id: EventID) -> bool:
        """Store a new event's rows; False if the event was stored before (a duplicate)."""
        try:
            await writing
        except Exception as e:
            if not is_duplicate(e):
                raise
            self.log.debug("Ignoring duplicate Matrix event %s", event_id)
            return False
        return True

    def _record(
        self, room_id: RoomID, event_id: EventID, user: PortalOwner, status: str, now: int = 0
    ) -> DBMessage:
        return DBMessage(
            room_id=room_id,
            mxid=event_id,
            owner=self.portal.owner,
            conv_key=self.portal.conv_key,
            msn_id=None,
            sender=user.mxid,
            direction="out",
            status=status,
            timestamp=now or int(time.time() * 1000),
        )

    async def _relay(self, sender: Any, message: MessageEventContent) -> PortalOwner:
        """Relay mode: the owner relays the others' messages (``set-relay``), named by
        ``bridge.relay.message_formats``; else the message is refused."""
        portal = self.portal
        relay = await portal.get_relay_user() if portal.has_relay else None
        if not isinstance(relay, PortalOwner) or relay.mxid != portal.owner:
            why = "only the Matrix user who owns this MSN conversation can send here"
            if portal.config["bridge.relay.enabled"]:
                why += " (unless they turn on relaying with `set-relay`)"
            raise SendFailure(why, MessageStatusReason.NO_PERMISSION)
        await portal.apply_relay_message_format(sender, message)
        return relay

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
                    f"{what} from an encrypted room reaches MSN only as a file transfer, "
                    "which this chat cannot take (a group chat, a contact whose client has no "
                    "file transfers, or a file over the bridge's limit)",
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
