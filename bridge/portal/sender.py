"""Writing one portal's queued Matrix messages to MSN: the conversation is opened first (a
failure there means nothing was written, so the message waits), then each part of the message
is written once and acknowledged; the outcome goes back to Matrix as a send status.

This is the :class:`~bridge.portal.outbox.Delivery` of the portal's outgoing queue.
"""

from __future__ import annotations

from dataclasses import asdict, fields
import json

from mautrix.types import EventID, MessageStatusReason, MessageType, RoomID

from bridge import metrics, texts
from bridge.db.outgoing import Outgoing
from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ConnectionClosed, MSNPException, TransactionTimeout
from bridge.msnp.events import MessageFormat
from bridge.msnp.flag import Flag
from bridge.msnp.message import build_text, split_text
from bridge.msnp.values import Lists, Status
from bridge.offline_contacts import offline_notice
from bridge.puppet import Puppet
from bridge.texts import SendFailure

from .interfaces import PortalOwner, PortalRoom
from .outbox import Condition, RetryLater
from .send_status import send_status

__all__ = ["MSNSender", "decode_format", "encode_format", "text_parts"]

_FORMAT_FIELDS = frozenset(f.name for f in fields(MessageFormat))


def encode_format(fmt: MessageFormat | None) -> str | None:
    return json.dumps(asdict(fmt)) if fmt is not None else None


def decode_format(value: str | None) -> MessageFormat | None:
    if not value:
        return None
    data = json.loads(value)
    return MessageFormat(**{k: v for k, v in data.items() if k in _FORMAT_FIELDS})


def text_parts(text: str, fmt: MessageFormat | None) -> list[str]:
    """``text`` cut where the MSN library cuts it into messages: each part is sent as one
    message, so the progress of a long message can be stored part by part."""
    head = len(build_text("", fmt))
    return [payload[head:].decode("utf-8") for payload in split_text(text, fmt)]


class MSNSender:
    """Sends the queued messages of one portal on its owner's MSN session."""

    def __init__(self, portal: PortalRoom) -> None:
        self.portal = portal
        self.log = portal.log
        #: the portal's owner, known once they wrote in the room (or the queue was resumed)
        self.owner: PortalOwner | None = None
        #: when each message queued by this process arrived from Matrix (monotonic)
        self.arrived: dict[str, float] = {}
        self._never = Flag()

    def condition(self) -> Condition:
        if self.owner is None:
            return self._never
        return self.owner.send_condition(self.portal.conv_key)

    async def deliver(self, item: Outgoing) -> None:
        user = self.owner
        client = user.client if user is not None else None
        if user is None or client is None or not user.connected:
            raise RetryLater("the bridge is not connected to MSN")
        conv_key = user.msn_conversation(self.portal.conv_key)
        fmt = decode_format(item.format)
        parts = text_parts(item.text, fmt)
        if item.parts_sent < len(parts):
            await self._open(client, conv_key)
        for index in range(item.parts_sent, len(parts)):
            await item.set_progress("sending", index)
            try:
                await client.send_text(conv_key, parts[index], fmt)
            except ConnectionClosed as e:
                if e.stage != "session":
                    raise texts.sent_uncertain(e) from e
                # refused before anything was written (the session ended meanwhile)
                await item.set_progress("queued", index)
                raise RetryLater("the connection to MSN was lost") from e
            except (OSError, TransactionTimeout) as e:
                raise texts.sent_uncertain(e) from e
            except MSNPException as e:
                # NAK or an error reply: MSN says it was not delivered
                await item.set_progress("queued", index)
                raise await self._refused(e) from e
            if index + 1 < len(parts):
                await item.set_progress("queued", index + 1)
            else:
                # the last part: the queue removes the row next (Outgoing.finish), with the
                # message's outcome, in one write
                item.state, item.parts_sent = "queued", index + 1

    async def _open(self, client: MSNClient, conv_key: str) -> None:
        """Open the conversation (re-invite a group's people); nothing is written yet."""
        try:
            if not self.portal.is_direct and not client.participants(conv_key):
                await self._restore_group(client, conv_key)
            reopened = not self.portal.is_direct and conv_key not in client.conversations()
            await client.open_conversation(conv_key)
            if reopened:
                await self._tell_unreached(client, conv_key)
        except TransactionTimeout as e:  # (a TimeoutError, so an OSError: first)
            raise SendFailure(
                f"{await self.contact_name()} did not join the conversation in time",
                MessageStatusReason.NETWORK_ERROR,
            ) from e
        except (ConnectionClosed, OSError) as e:
            raise RetryLater(f"the conversation could not be opened ({e})") from e
        except MSNPException as e:
            raise await self._refused(e) from e

    async def _refused(self, error: MSNPException) -> Exception:
        """What MSN refusing the message means: it waits if the contact is offline and the
        user wants it kept for them (:mod:`bridge.offline_contacts`), else it failed."""
        name = await self.contact_name()
        owner, passport = self.owner, self.portal.conv_key
        if owner is not None and self.portal.is_direct:
            contact = owner.contacts.get(passport)
            reported = bool(contact and contact.lists & Lists.FORWARD)
            seen_online = bool(contact and contact.status is not Status.OFFLINE)
            if owner.offline_contacts.hold(passport, error, reported, seen_online):
                return RetryLater(f"{name} is offline")
        return texts.describe_send_error(error, name)

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

    async def _tell_unreached(self, client: MSNClient, conversation: str) -> None:
        """After the group conversation was opened again: say who did not come (offline, or
        refused the call)."""
        joined = {p.lower() for p in client.participants(conversation)}
        missing = [p for p in self.portal.participants if p not in joined]
        if missing:
            names = ", ".join(missing)
            await self.portal.send_portal_notice(
                f"Could not reach {names}: they are offline or did not answer. The message went "
                "to the others."
            )

    async def contact_name(self) -> str:
        portal = self.portal
        if portal.is_direct:
            puppet = await portal.get_dm_puppet()
            return puppet.display_text if puppet is not None else portal.conv_key
        return "the group conversation"

    # region reporting

    async def report(self, item: Outgoing, failure: SendFailure | None) -> None:
        arrived_at = self.arrived.pop(item.event_id, None)
        if failure is not None:
            self.log.info("Message %s not delivered: %s", item.event_id, failure.message)
            metrics.send_failed(metrics.MATRIX_TO_MSN, failure.kind)
        else:
            metrics.message_bridged(metrics.MATRIX_TO_MSN, arrived_at)
        # (the message's stored status was set when the queue let go of it)
        await send_status(self.portal, self.owner, EventID(item.event_id), _msgtype(item), failure)

    async def report_pending(self, item: Outgoing) -> None:
        owner = self.owner
        if owner is not None and owner.offline_contacts.tell_once(self.portal.conv_key):
            await self.portal.send_portal_notice(
                offline_notice(await self.contact_name(), owner.offline_contacts.timeout)
            )
        if self.portal.mxid == RoomID(item.room_id):
            await send_status(
                self.portal, self.owner, EventID(item.event_id), _msgtype(item), pending=True
            )

    # endregion


def _msgtype(item: Outgoing) -> MessageType | None:
    try:
        return MessageType(item.msgtype) if item.msgtype else None
    except ValueError:
        return None
