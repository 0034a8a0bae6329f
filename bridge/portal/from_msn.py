"""MSN -> Matrix: messages, typing, nudges and membership arriving from a switchboard."""

from __future__ import annotations

import time
import uuid

from mautrix.appservice import IntentAPI
from mautrix.errors import IntentError, MForbidden
from mautrix.types import (
    JSON,
    EventID,
    ImageInfo,
    MediaMessageEventContent,
    MessageEventContent,
    MessageType,
    TextMessageEventContent,
)

from bridge import double_puppet, formatter, metrics, texts
from bridge.db.batch import write_together
from bridge.db.message import Message as DBMessage
from bridge.emoticons import Emoticons, datacast_notice, decode_ink, inline
from bridge.inbox import handled_row
from bridge.msnp.events import (
    NudgeReceived,
    OfflineMessageReceived,
    OtherMessageReceived,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.puppet import Puppet

from .encrypted_media import upload
from .ghost_join import join_with_reason
from .incoming_files import handle_msnftp_invitation
from .interfaces import PortalOwner, PortalRoom

__all__ = ["TYPING_TIMEOUT_MS", "MSNToMatrix", "is_silent"]

#: MSN clients repeat the typing notification every few seconds while typing.
TYPING_TIMEOUT_MS = 5000

#: Readable names for content types an MSN client may send that the bridge does not convert.
_CONTENT_TYPE_NAMES = {
    "text/x-msmsgsinvite": "a file transfer or activity invitation",
    "application/x-msnmsgrp2p": "a file, picture or emoticon transfer (MSNSLP)",
    "text/x-mms-emoticon": "custom emoticon definitions",
    "text/x-mms-animemoticon": "animated emoticon definitions",
    "text/x-msnmsgr-datacast": "a datacast (wink, voice clip or similar)",
    "text/x-clientcaps": "client capability information",
    "application/x-ms-ink": "handwriting (ink in ISF)",
    "image/gif": "handwriting (ink)",
    "text/x-keepalive": "a keep-alive",
}
#: Content types that carry nothing for a person to read; not worth a notice (nor a room).
_SILENT_CONTENT_TYPES = frozenset({"text/x-clientcaps", "text/x-keepalive"})


def is_silent(evt: object) -> bool:
    """Whether a message event carries nothing to show (client capabilities, keep-alives):
    it is not bridged, and so never makes a room."""
    if not isinstance(evt, OtherMessageReceived):
        return False
    return _content_type(evt) in _SILENT_CONTENT_TYPES


def _same(passport: str, other: str | None) -> bool:
    return bool(other) and passport.lower() == (other or "").lower()


def _content_type(evt: OtherMessageReceived) -> str:
    return (evt.content_type or "").split(";", 1)[0].strip().lower()


class MSNToMatrix:
    """Puts what arrives from MSN in one portal's room, as the contacts' ghosts."""

    def __init__(self, portal: PortalRoom) -> None:
        self.portal = portal

    async def _sender_puppet(self, passport: str) -> Puppet | None:
        puppet = await Puppet.get_by_passport(passport)
        if puppet is not None and not self.portal.is_direct:
            await self.portal.ensure_ghost_joined(passport)
        return puppet

    async def _record_incoming(self, event_id: EventID, sender: str) -> None:
        portal = self.portal
        if not portal.mxid:
            return
        msg = DBMessage(
            room_id=portal.mxid,
            mxid=event_id,
            owner=portal.owner,
            conv_key=portal.conv_key,
            msn_id=f"in:{uuid.uuid4().hex}",
            sender=sender,
            direction="in",
            status="delivered",
            timestamp=int(time.time() * 1000),
        )
        handled = handled_row()  # the stored MSN message it came from goes in the same write
        statements = [msg.insert_statement()]
        if handled is not None:
            statements.append(handled.row.delete_statement())
        try:
            await write_together(DBMessage.db, statements)
        except Exception:
            portal.log.warning("Failed to record incoming message %s", event_id, exc_info=True)
        else:
            if handled is not None:
                handled.removed = True

    async def _room_ready(self, user: PortalOwner) -> bool:
        """Make sure the room exists for a message; a failure counts as a lost message."""
        if await self.portal.ensure_room(user):
            return True
        metrics.send_failed(metrics.MSN_TO_MATRIX, "matrix_error")
        return False

    async def _send_from(
        self,
        user: PortalOwner,
        puppet: Puppet,
        content: MessageEventContent,
        sender: str,
        timestamp: int | None = None,
    ) -> EventID | None:
        """Send as the contact's ghost. If the room is dead (the ghost left or was kicked, the
        room was shut down), the portal gets a fresh room and the message is sent there."""
        portal = self.portal
        for attempt in (1, 2):
            # the contact's ghost (never the Matrix account of another bridge user who
            # double-puppets that MSN address: it is not in this user's rooms)
            intent: IntentAPI = puppet.default_mxid_intent
            try:
                event_id = await portal.send_message(intent, content, timestamp=timestamp)
            except (IntentError, MForbidden) as e:
                if attempt == 2:
                    portal.log.warning("Failed to send message from %s to Matrix: %s", sender, e)
                    metrics.send_failed(metrics.MSN_TO_MATRIX, "matrix_error")
                    return None
                portal.log.info(
                    "Cannot send to %s any more (%s): opening a new room", portal.mxid, e
                )
                await portal.cleanup_and_forget("The MSN conversation moved to a new room")
                if not await self._room_ready(user):
                    return None
                if not portal.is_direct:
                    await portal.ensure_ghost_joined(sender)
                continue
            except Exception:
                portal.log.exception("Failed to send message from %s to Matrix", sender)
                metrics.send_failed(metrics.MSN_TO_MATRIX, "error")
                return None
            metrics.message_bridged(metrics.MSN_TO_MATRIX, metrics.arrival())
            await self._record_incoming(event_id, sender)
            return event_id
        return None

    async def _deliver(
        self,
        user: PortalOwner,
        sender: str,
        content: MessageEventContent,
        sender_name: str = "",
    ) -> EventID | None:
        """Post ``content`` from ``sender``: as the contact's ghost, or through
        :meth:`post_as_user` when the sender is the user (what they sent from another MSN
        client, which the server echoes to the bridge at MSNP16+)."""
        if _same(sender, user.passport):
            return await self.post_as_user(user, content)
        puppet = await self._sender_puppet(sender)
        if puppet is None:
            return None
        if sender_name:
            await puppet.update_info(sender_name)
        return await self._send_from(user, puppet, content, sender)

    # region what the user did on MSN outside Matrix

    async def post_as_user(
        self, user: PortalOwner, content: MessageEventContent
    ) -> EventID | None:
        """The one way to show what the user wrote on MSN outside Matrix (from their own
        Messenger, echoed to the bridge's endpoint at MSNP16+): with double puppeting as
        their real Matrix account, otherwise as a notice "You wrote from Messenger: …"."""
        portal = self.portal
        if not await self._room_ready(user):
            return None
        assert portal.mxid is not None
        intent = await double_puppet.intent_of(user)
        if intent is not None:
            try:
                await intent.ensure_joined(portal.mxid)
                # sent as the user: mautrix marks it as the bridge's (the source key), so
                # the bridge does not send it back to MSN when the homeserver passes it on
                event_id = await portal.send_message(intent, content)
            except Exception as e:
                portal.log.warning("Could not post as %s (%s): posting a notice", user.mxid, e)
            else:
                metrics.message_bridged(metrics.MSN_TO_MATRIX, metrics.arrival())
                await self._record_incoming(event_id, user.passport or "")
                return event_id
        notice = TextMessageEventContent(
            msgtype=MessageType.NOTICE, body=texts.wrote_elsewhere(content.body or "")
        )
        try:
            event_id = await portal.send_message(portal.main_intent, notice)
        except Exception:
            portal.log.warning("Failed to post what %s wrote elsewhere", user.mxid, exc_info=True)
            metrics.send_failed(metrics.MSN_TO_MATRIX, "matrix_error")
            return None
        metrics.message_bridged(metrics.MSN_TO_MATRIX, metrics.arrival())
        await self._record_incoming(event_id, user.passport or "")
        return event_id

    async def leave_as_user(self, user: PortalOwner) -> None:
        """The user left this group conversation on MSN: with double puppeting their Matrix
        account leaves the room, otherwise the bridge removes them with a reason; the portal
        is forgotten either way (a later message of these people opens a new room)."""
        portal = self.portal
        room_id = portal.mxid
        if not room_id or portal.is_direct:
            return
        intent = await double_puppet.intent_of(user)
        try:
            if intent is not None:
                await intent.leave_room(room_id, reason=texts.LEFT_ON_MSN)
            else:
                await portal.main_intent.kick_user(room_id, user.mxid, texts.LEFT_ON_MSN)
        except Exception as e:
            portal.log.warning("Could not take %s out of the room: %s", user.mxid, e)
        await portal.cleanup_and_forget(texts.LEFT_ON_MSN)

    # endregion

    # region what other MSN -> Matrix handlers (bridge.portal.incoming_files) use

    async def room_ready(self, user: PortalOwner) -> bool:
        return await self._room_ready(user)

    async def sender_puppet(self, passport: str) -> Puppet | None:
        return await self._sender_puppet(passport)

    async def send_as(
        self, user: PortalOwner, puppet: Puppet, content: MessageEventContent, sender: str
    ) -> EventID | None:
        return await self._send_from(user, puppet, content, sender)

    async def send_notice(self, user: PortalOwner, sender: str, text: str) -> EventID | None:
        """A notice from ``sender``'s ghost (the room is made if needed)."""
        if not await self._room_ready(user):
            return None
        content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=text)
        return await self._deliver(user, sender, content)

    # endregion

    async def handle_text(
        self, user: PortalOwner, evt: TextMessageReceived, emoticons: Emoticons | None = None
    ) -> EventID | None:
        if not await self._room_ready(user):
            return None
        raw = formatter.msn_to_matrix(evt.text, evt.format)
        # inline pictures are plain mxc:// URIs (there is no encrypted form for them): in an
        # encrypted room they would reach the homeserver in clear, so emoticons stay text
        if (
            emoticons is not None
            and not self.portal.encrypted
            and not _same(evt.sender, user.passport)
        ):
            puppet = await self._sender_puppet(evt.sender)
            if puppet is not None:
                raw = inline(raw, await emoticons.images_for(evt, puppet.default_mxid_intent))
        content = TextMessageEventContent.deserialize(JSON(raw))
        return await self._deliver(user, evt.sender, content, evt.sender_name)

    async def handle_offline(
        self, user: PortalOwner, evt: OfflineMessageReceived
    ) -> EventID | None:
        """An offline message (MSNP13+), dated when the server received it."""
        if not await self._room_ready(user):
            return None
        puppet = await self._sender_puppet(evt.sender)
        if puppet is None:
            return None
        content = TextMessageEventContent(msgtype=MessageType.TEXT, body=evt.text)
        # the server's time, never later than now (a wrong clock must not date it ahead)
        when = int(min(evt.sent, time.time()) * 1000) if evt.sent is not None else None
        return await self._send_from(user, puppet, content, evt.sender, when)

    async def handle_typing(self, user: PortalOwner, evt: TypingReceived) -> None:
        room_id = self.portal.mxid
        if not room_id:
            return
        puppet = await Puppet.get_by_passport(evt.sender, create=False)
        if puppet is None or _same(evt.sender, user.passport):
            return
        try:
            await puppet.default_mxid_intent.set_typing(room_id, timeout=TYPING_TIMEOUT_MS)
        except Exception:
            self.portal.log.debug("Failed to set typing for %s", evt.sender, exc_info=True)

    async def handle_nudge(self, user: PortalOwner, evt: NudgeReceived) -> EventID | None:
        if not await self._room_ready(user):
            return None
        to_you = self.portal.is_direct and not _same(evt.sender, user.passport)
        text = "sent you a nudge" if to_you else "sent a nudge"
        content = TextMessageEventContent(msgtype=MessageType.EMOTE, body=text)
        return await self._deliver(user, evt.sender, content)

    async def handle_other(self, user: PortalOwner, evt: OtherMessageReceived) -> EventID | None:
        ctype = _content_type(evt)
        if ctype in _SILENT_CONTENT_TYPES:
            return None
        if not await self._room_ready(user):
            return None
        if ctype == "text/x-msmsgsinvite" and await handle_msnftp_invitation(self, user, evt):
            return None
        ink = decode_ink(evt) if ctype == "image/gif" else None
        if ink is not None:
            puppet = await self._sender_puppet(evt.sender)
            if puppet is None:
                return None
            mxc, file = await upload(
                puppet.default_mxid_intent,
                ink,
                size=len(ink),
                mime="image/gif",
                filename="ink.gif",
                encrypted=self.portal.encrypted,
            )
            media = MediaMessageEventContent(
                msgtype=MessageType.IMAGE, body="ink.gif", url=mxc, file=file,
                info=ImageInfo(mimetype="image/gif", size=len(ink)),
            )  # fmt: skip
            return await self._deliver(user, evt.sender, media)
        body = datacast_notice(evt) if ctype == "text/x-msnmsgr-datacast" else None
        if body is None:
            what = _CONTENT_TYPE_NAMES.get(ctype)
            desc = f"{what} ({ctype})" if what else f"a message of type {ctype or 'unknown'}"
            body = f"Sent {desc}, which the bridge cannot show in Matrix."
        content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=body)
        return await self._deliver(user, evt.sender, content)

    async def handle_joined(self, user: PortalOwner, evt: SwitchboardJoined) -> None:
        """A participant joined a multi-party switchboard whose room exists: the ghosts of the
        participants join it (a room is made only by a message; a stranger's ghost joins when
        they write)."""
        portal = self.portal
        if not portal.mxid:
            return
        own = (user.passport or "").lower()
        for passport in dict.fromkeys(p.lower() for p in (*evt.participants, evt.passport)):
            if passport != own:
                await join_with_reason(portal, passport, create=user.may_have_ghost(passport))

    async def handle_left(self, user: PortalOwner, evt: SwitchboardLeft) -> None:
        room_id = self.portal.mxid
        if not room_id or evt.idle_timeout:
            return
        if _same(evt.passport, user.passport):
            # the user themselves left (from another MSN client: MSNP16+ reports it)
            await self.leave_as_user(user)
            return
        puppet = await Puppet.get_by_passport(evt.passport, create=False)
        if puppet is None:
            return
        try:
            await puppet.default_mxid_intent.leave_room(room_id, reason="Left the MSN chat")
        except Exception:
            self.portal.log.debug("Ghost of %s failed to leave", evt.passport, exc_info=True)
