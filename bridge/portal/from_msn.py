"""MSN -> Matrix: messages, typing, nudges and membership arriving from a switchboard."""

from __future__ import annotations

import time
import uuid

from mautrix.appservice import IntentAPI
from mautrix.errors import IntentError, MForbidden
from mautrix.types import JSON, EventID, MessageType, TextMessageEventContent

from bridge import formatter, metrics
from bridge.db.message import Message as DBMessage
from bridge.msnp.events import (
    NudgeReceived,
    OtherMessageReceived,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.puppet import Puppet

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
        try:
            await msg.insert()
        except Exception:
            portal.log.warning("Failed to record incoming message %s", event_id, exc_info=True)

    async def _room_ready(self, user: PortalOwner) -> bool:
        """Make sure the room exists for a message; a failure counts as a lost message."""
        if await self.portal.ensure_room(user):
            return True
        metrics.send_failed(metrics.MSN_TO_MATRIX, "matrix_error")
        return False

    async def _send_from(
        self, user: PortalOwner, puppet: Puppet, content: TextMessageEventContent, sender: str
    ) -> EventID | None:
        """Send as the contact's ghost. If the room is dead (the ghost left or was kicked, the
        room was shut down), the portal gets a fresh room and the message is sent there."""
        portal = self.portal
        for attempt in (1, 2):
            intent: IntentAPI = puppet.intent if portal.is_direct else puppet.default_mxid_intent
            try:
                event_id = await portal.send_message(intent, content)
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

    async def handle_text(self, user: PortalOwner, evt: TextMessageReceived) -> EventID | None:
        if not await self._room_ready(user):
            return None
        puppet = await self._sender_puppet(evt.sender)
        if puppet is None:
            return None
        if evt.sender_name:
            await puppet.update_info(evt.sender_name)
        raw = formatter.msn_to_matrix(evt.text, evt.format)
        content = TextMessageEventContent.deserialize(JSON(raw))
        return await self._send_from(user, puppet, content, evt.sender)

    async def handle_typing(self, user: PortalOwner, evt: TypingReceived) -> None:
        room_id = self.portal.mxid
        if not room_id:
            return
        puppet = await Puppet.get_by_passport(evt.sender, create=False)
        if puppet is None:
            return
        try:
            await puppet.intent.set_typing(room_id, timeout=TYPING_TIMEOUT_MS)
        except Exception:
            self.portal.log.debug("Failed to set typing for %s", evt.sender, exc_info=True)

    async def handle_nudge(self, user: PortalOwner, evt: NudgeReceived) -> EventID | None:
        if not await self._room_ready(user):
            return None
        puppet = await self._sender_puppet(evt.sender)
        if puppet is None:
            return None
        text = "sent you a nudge" if self.portal.is_direct else "sent a nudge"
        content = TextMessageEventContent(msgtype=MessageType.EMOTE, body=text)
        return await self._send_from(user, puppet, content, evt.sender)

    async def handle_other(self, user: PortalOwner, evt: OtherMessageReceived) -> EventID | None:
        ctype = _content_type(evt)
        if ctype in _SILENT_CONTENT_TYPES:
            return None
        if not await self._room_ready(user):
            return None
        puppet = await self._sender_puppet(evt.sender)
        if puppet is None:
            return None
        what = _CONTENT_TYPE_NAMES.get(ctype)
        desc = f"{what} ({ctype})" if what else f"a message of type {ctype or 'unknown'}"
        content = TextMessageEventContent(
            msgtype=MessageType.NOTICE,
            body=f"Sent {desc}, which the bridge cannot show in Matrix.",
        )
        return await self._send_from(user, puppet, content, evt.sender)

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
                await portal.ensure_ghost_joined(passport, create=user.may_have_ghost(passport))

    async def handle_left(self, user: PortalOwner, evt: SwitchboardLeft) -> None:
        room_id = self.portal.mxid
        if not room_id or evt.idle_timeout or evt.passport == user.passport:
            return
        puppet = await Puppet.get_by_passport(evt.passport, create=False)
        if puppet is None:
            return
        try:
            await puppet.default_mxid_intent.leave_room(room_id)
        except Exception:
            self.portal.log.debug("Ghost of %s failed to leave", evt.passport, exc_info=True)
