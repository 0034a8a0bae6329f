"""Matrix-side event handling: typing, receipts, leaves, invites and permission refusals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mautrix.bridge import BaseMatrixHandler
from mautrix.bridge.matrix import UnencryptedMessageError
from mautrix.errors import DecryptionError, IntentError, MatrixConnectionError
from mautrix.types import (
    BeeperMessageStatusEventContent,
    Event,
    EventID,
    EventType,
    Membership,
    MemberStateEventContent,
    MessageEvent,
    MessageStatus,
    MessageStatusReason,
    MessageType,
    PresenceEvent,
    ReceiptEvent,
    RelatesTo,
    RelationType,
    RoomID,
    SingleReceiptEventContent,
    StateEvent,
    TextMessageEventContent,
    TypingEvent,
    UserID,
)
from mautrix.util.message_send_checkpoint import MessageSendCheckpointStep

from bridge import log_redaction, matrix_presence, texts
from bridge.commands import CommandProcessor
from bridge.config import Config
from bridge.portal import Portal
from bridge.portal.group_start import take_over_room
from bridge.portal.other_events import handle_other_event
from bridge.user import User

if TYPE_CHECKING:
    from mautrix.bridge import Bridge

__all__ = ["MatrixHandler"]


class MatrixHandler(BaseMatrixHandler):
    """Handles what mautrix does not: permission refusals, leaves, typing and presence."""

    config: Config

    def __init__(self, bridge: Bridge, **kwargs: Any) -> None:
        assert isinstance(bridge.config, Config)
        ghost_ids = bridge.config.ghost_ids
        self.user_id_prefix, self.user_id_suffix = ghost_ids.mxid_prefix, ghost_ids.mxid_suffix
        if "command_processor" not in kwargs:
            kwargs["command_processor"] = CommandProcessor(bridge=bridge)
        super().__init__(bridge=bridge, **kwargs)
        self._typing: dict[RoomID, set[UserID]] = {}
        if self.e2ee is not None:
            # imported only here: it needs python-olm (the e2be extra), which mautrix checked
            from bridge import encryption

            encryption.install(self.e2ee, bridge.db, bridge.get_portal)

    async def init_encryption(self) -> None:
        """mautrix's, then the bot's messages in encrypted rooms go encrypted (the bot's
        intent exists once the appservice has started)."""
        await super().init_encryption()
        if self.e2ee is not None:
            from bridge import encryption  # (python-olm, as above)

            encryption.encrypt_bot_messages(self.az.intent, self.e2ee)

    async def wait_for_connection(self) -> None:
        """The start-up checks against the homeserver, with errors that say what to fix
        (``MSNBridge.wait_for_homeserver``; mautrix's own checks for any other program)."""
        wait = getattr(self.bridge, "wait_for_homeserver", None)
        if wait is None:
            await super().wait_for_connection()
        else:
            await wait()

    # region permissions

    async def handle_message(self, evt: MessageEvent, was_encrypted: bool = False) -> None:
        """Refuse commands from users without bridge permission with a notice (not silence)."""
        log_redaction.note_event(evt)  # before mautrix logs the content (TRACE)
        user = await User.get_by_mxid(evt.sender)
        if user is not None and not user.is_whitelisted:
            portal = await Portal.get_by_mxid(evt.room_id)
            if portal is None:
                is_command, _ = self.is_command(evt.content)
                has_two, bot_in_room = await self._is_direct_chat(evt.room_id)
                if is_command or (has_two and bot_in_room):
                    await self._refuse(evt.room_id)
                    return
        await super().handle_message(evt, was_encrypted=was_encrypted)

    async def allow_bridging_message(  # type: ignore[override]  # mautrix: a staticmethod
        self, user: Any, portal: Any
    ) -> bool:
        """Anyone allowed to relay reaches the portal, which relays or refuses them with a
        failed send status (mautrix would drop the message silently)."""
        return bool(user.relay_whitelisted)

    async def _send_mss(
        self,
        evt: Any,
        status: MessageStatus,
        reason: MessageStatusReason | None = None,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        """mautrix sends the status of a command as the bridge bot, which is not in DM portals:
        there it is sent by the portal's own intent (the ghost) instead."""
        portal = await Portal.get_by_mxid(evt.room_id)
        if portal is None or not portal.mxid:
            try:
                await super()._send_mss(evt, status, reason, error, message)
            except MatrixConnectionError as e:
                # e.g. the bridge is stopping and its HTTP session is already closed
                self.log.warning("Could not send the status of %s: %s", evt.event_id, e)
            except IntentError as e:
                # the bot is not in the room and may not join it (e.g. `unbridge` just made
                # a DM portal an ordinary room)
                self.log.debug("Could not send the status of %s: %s", evt.event_id, e)
            return
        if not self.config.get("bridge.message_status_events", False):
            return
        content = BeeperMessageStatusEventContent(
            network="",
            relates_to=RelatesTo(rel_type=RelationType.REFERENCE, event_id=evt.event_id),
            status=status,
            reason=reason,
            error=error,
            message=message,
        )
        try:
            await portal.main_intent.send_message_event(
                evt.room_id, EventType.BEEPER_MESSAGE_STATUS, content
            )
        except IntentError as e:
            # the portal's intent is no longer in the room and may not join it (the room
            # was left or the ghost removed): there is nobody to show the status to
            self.log.debug("Could not send the status of %s: %s", evt.event_id, e)
        except Exception:
            self.log.debug("Failed to send the command status in %s", evt.room_id, exc_info=True)

    async def _send_crypto_status_error(
        self,
        evt: Any,
        err: DecryptionError | None = None,
        retry_num: int = 0,
        is_final: bool = True,
        edit: EventID | None = None,
        wait_for: int | None = None,
    ) -> EventID | None:
        """A Matrix event the bridge cannot decrypt (or may not accept unencrypted): in a
        portal, the notice goes through the portal (encrypted like everything the bridge says
        there, from the same sender as the other delivery notices) and the event gets a failed
        message status (pending while the bridge still waits for the keys). Elsewhere (the
        chat with the bot) mautrix's own notice."""
        portal = await Portal.get_by_mxid(evt.room_id)
        if portal is None or not portal.mxid:
            return await super()._send_crypto_status_error(
                evt, err, retry_num, is_final, edit, wait_for
            )
        reason = str(getattr(err, "human_message", None) or err or "unknown error")
        self._send_message_checkpoint(
            evt, MessageSendCheckpointStep.DECRYPTED, reason, is_final, retry_num
        )
        event_id: EventID | None = None
        if self.config.get("bridge.delivery_error_notices", True):
            if self.e2ee is None:
                text = texts.ENCRYPTION_NOT_ALLOWED
            elif isinstance(err, UnencryptedMessageError):
                text = texts.ENCRYPTION_REQUIRED
            else:
                text = texts.not_decrypted(reason, None if is_final else wait_for)
            content = TextMessageEventContent(msgtype=MessageType.NOTICE, body=text)
            if edit:
                content.set_edit(edit)
            try:
                event_id = await portal.send_message(portal.main_intent, content)
            except Exception:
                portal.log.warning("Failed to send the decryption error notice", exc_info=True)
        await self._send_mss(
            evt,
            status=MessageStatus.RETRIABLE if is_final else MessageStatus.PENDING,
            reason=MessageStatusReason.UNDECRYPTABLE,
            error=str(err) if err else None,
            message=reason,
        )
        return event_id

    async def _refuse(self, room_id: RoomID) -> None:
        try:
            await self.az.intent.send_notice(
                room_id,
                "You are not allowed to use this bridge. Ask the bridge administrator to give "
                "your Matrix account the `user` level in `bridge.permissions`.",
            )
        except Exception:
            self.log.debug("Failed to send permission refusal to %s", room_id, exc_info=True)

    # endregion
    # region invites and the management room

    async def send_welcome_message(self, room_id: RoomID, inviter: Any) -> None:
        await super().send_welcome_message(room_id, inviter)
        has_two, bot_in_room = await self._is_direct_chat(room_id)
        if has_two and bot_in_room and isinstance(inviter, User) and not inviter.management_room:
            await inviter.set_management_room(room_id)

    async def handle_puppet_group_invite(
        self,
        room_id: RoomID,
        puppet: Any,
        invited_by: Any,
        evt: StateEvent,
        members: list[UserID],
    ) -> None:
        """The user made a room with contacts' ghosts: it becomes a group conversation
        (:mod:`bridge.portal.group_start`), with the bridge bot in it."""
        intent = puppet.default_mxid_intent
        if not isinstance(invited_by, User) or not invited_by.connected:
            await intent.leave_room(room_id, reason="Log in to MSN to start group chats.")
            return
        everyone = await intent.get_room_members(room_id, (Membership.JOIN, Membership.INVITE))
        if self.az.bot_mxid not in everyone:
            try:
                await intent.invite_user(room_id, self.az.bot_mxid)
                await self.az.intent.join_room(room_id)
            except Exception:
                self.log.warning("The bridge bot could not join %s", room_id, exc_info=True)
        await take_over_room(invited_by, room_id, everyone)

    # endregion
    # region events other than messages

    async def handle_event(self, evt: Event) -> None:
        """Reactions, redactions and the rest, from a portal's owner: an MSN text or a failed
        send status (:mod:`bridge.portal.other_events`)."""
        room_id = getattr(evt, "room_id", None)
        portal = await Portal.get_by_mxid(room_id) if room_id else None
        if portal is None or getattr(evt, "sender", None) != portal.owner:
            return
        user = await User.get_by_mxid(portal.owner, create=False)
        if user is not None:
            await handle_other_event(portal, user, evt)

    # endregion
    # region membership

    async def handle_leave(self, room_id: RoomID, user_id: UserID, event_id: EventID) -> None:
        portal = await Portal.get_by_mxid(room_id)
        if portal is None:
            await self._management_room_left(room_id, user_id)
            return
        user = await User.get_by_mxid(user_id, create=False) if user_id == portal.owner else None
        await portal.handle_matrix_leave(user_id, user)

    async def handle_kick(
        self, room_id: RoomID, user_id: UserID, kicked_by: UserID, reason: str, event_id: EventID
    ) -> None:
        # Kicking the owner out of their own portal counts as leaving it.
        await self.handle_leave(room_id, user_id, event_id)

    async def handle_ban(
        self, room_id: RoomID, user_id: UserID, banned_by: UserID, reason: str, event_id: EventID
    ) -> None:
        await self.handle_leave(room_id, user_id, event_id)

    async def _management_room_left(self, room_id: RoomID, user_id: UserID) -> None:
        """The bot or its user left a management room: stop sending notices there (the next
        room where the user talks to the bot becomes the management room)."""
        if user_id == self.az.bot_mxid:
            owners = [u for u in User.by_mxid.values() if u.management_room == room_id]
        else:
            user = await User.get_by_mxid(user_id, create=False)
            owners = [user] if user is not None and user.management_room == room_id else []
        for user in owners:
            self.log.info("%s's management room %s was left, forgetting it", user.mxid, room_id)
            user.row.management_room = None
            await user.save()
        if owners and user_id != self.az.bot_mxid:
            try:
                await self.az.intent.leave_room(room_id)
            except Exception as e:
                self.log.debug("Failed to leave the old management room %s: %s", room_id, e)

    # endregion
    # region ephemeral events

    async def handle_ephemeral_event(
        self, evt: ReceiptEvent | PresenceEvent | TypingEvent
    ) -> None:
        if isinstance(evt, TypingEvent):
            await self.handle_typing(evt.room_id, list(evt.content.user_ids))
        elif isinstance(evt, PresenceEvent):
            await self.handle_presence(evt)
        else:
            await super().handle_ephemeral_event(evt)

    async def handle_typing(self, room_id: RoomID, now_typing: list[UserID]) -> None:
        portal = await Portal.get_by_mxid(room_id)
        if portal is None:
            return
        previous = self._typing.get(room_id, set())
        current = {uid for uid in now_typing if not self.bridge.is_bridge_ghost(uid)}
        if current:
            self._typing[room_id] = current
        else:  # nobody typing: no entry (one per room would stay forever)
            self._typing.pop(room_id, None)
        for user_id in current ^ previous:
            if user_id != portal.owner:
                continue
            user = await User.get_by_mxid(user_id, create=False)
            if user is not None:
                await portal.from_matrix.handle_typing(user, user_id in current)

    async def handle_member_info_change(
        self,
        room_id: RoomID,
        user_id: UserID,
        content: MemberStateEventContent,
        prev_content: MemberStateEventContent,
        event_id: EventID,
    ) -> None:
        """A bridge user's new Matrix avatar becomes their MSN display picture (and their new
        display name their MSN name, if ``bridge.matrix_presence.display_name``)."""
        user = await User.get_by_mxid(user_id, create=False)
        if user is None:
            return
        if content.displayname != prev_content.displayname:
            await matrix_presence.on_name(user)
        if content.avatar_url != prev_content.avatar_url:
            await user.routes.own_avatar_changed()

    async def handle_presence(self, evt: PresenceEvent) -> None:
        # Mirrored only if bridge.matrix_presence.status (and no `status` was chosen).
        self.log.trace("Matrix presence of %s: %s", evt.sender, evt.content.presence)
        user = User.by_mxid.get(evt.sender)  # (loaded: only users with a login matter)
        if user is not None:
            await matrix_presence.on_presence(user, evt.content.presence)

    async def handle_read_receipt(
        self,
        user: Any,
        portal: Any,
        event_id: EventID,
        data: SingleReceiptEventContent,
    ) -> None:
        # MSN has no read receipts.
        pass

    # endregion
