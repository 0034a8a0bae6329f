"""Matrix -> MSN files: a file sent in a direct chat is offered to the contact over P2P and
streamed from the homeserver to the switchboard; the contact accepting, declining or not
answering becomes the event's send status.

The file is downloaded with the appservice's credentials (authenticated media, Synapse's
default) in pieces and never held whole; an encrypted attachment (``file``) is decrypted and
hash-checked on the way (:mod:`.encrypted_media`). A contact whose client has no P2P (no ``MSNC``
version in its capabilities), a group conversation or a file over
``bridge.p2p.max_outgoing_file`` gets the link instead (:meth:`MatrixToMSN._media_fallback`;
an encrypted file, which a link cannot carry, fails with a status saying why).
The transfer runs in the background: the room's next messages do not wait for the contact to
accept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import AsyncIterable
import time

from mautrix.types import (
    EventID,
    MediaMessageEventContent,
    MessageEventContent,
    MessageStatusReason as Reason,
)

from bridge import metrics
from bridge.msnp.capabilities import supports_p2p
from bridge.msnp.errors import TransferDeclined, TransferFailed, TransferTimeout
from bridge.texts import SendFailure, describe_send_error

from .encrypted_media import AttachmentError, check, decrypted
from .send_status import send_status

if TYPE_CHECKING:
    from bridge.db.message import Message as DBMessage

    from .interfaces import PortalOwner, PortalRoom

__all__ = ["DOWNLOAD_PIECE", "FileSender", "p2p_target"]

#: Bytes read from the homeserver at a time.
DOWNLOAD_PIECE: Final = 64 * 1024


def p2p_target(portal: PortalRoom, user: PortalOwner, message: MessageEventContent) -> str | None:
    """The contact to offer ``message``'s file to over P2P, or None: send a link."""
    if not portal.is_direct or not isinstance(message, MediaMessageEventContent):
        return None
    if not message.url and (message.file is None or not message.file.url):
        return None
    client = user.client
    contact = client.contacts.get(portal.conv_key.lower()) if client is not None else None
    if contact is None or not supports_p2p(contact.capabilities):
        return None
    size = message.info.size if message.info is not None else None
    if size is not None and size > int(portal.config["bridge.p2p.max_outgoing_file"]):
        return None
    return contact.passport


class FileSender:
    """Offers one Matrix file to one contact and reports how it went."""

    def __init__(self, portal: PortalRoom, user: PortalOwner, passport: str) -> None:
        self.portal = portal
        self.user = user
        self.passport = passport

    async def deliver(
        self,
        message: MediaMessageEventContent,
        event_id: EventID,
        record: DBMessage,
        arrived_at: float,
        contact: str,
    ) -> None:
        """Send the file; set the stored status and send the Matrix status (and notice)."""
        failure: SendFailure | None = None
        try:
            await self._send(message, contact)
        except SendFailure as e:
            failure = e
        except TransferDeclined:
            failure = SendFailure(
                f"{contact} declined the file", Reason.NETWORK_ERROR, kind="not_delivered"
            )
        except TransferTimeout:
            failure = SendFailure(
                f"{contact} did not accept the file in time", Reason.NETWORK_ERROR, kind="timeout"
            )
        except TransferFailed as e:
            failure = SendFailure(
                f"the file transfer to {contact} was interrupted ({e})", Reason.NETWORK_ERROR
            )
        except Exception as e:
            failure = describe_send_error(e, contact)
            self.portal.log.info("Failed to send the file %s to MSN: %r", event_id, e)
        if failure is None:
            metrics.message_bridged(metrics.MATRIX_TO_MSN, arrived_at)
        else:
            metrics.send_failed(metrics.MATRIX_TO_MSN, failure.kind)
        try:
            await record.set_status("failed" if failure else "delivered")
        except Exception:
            self.portal.log.warning("Failed to update status of %s", event_id, exc_info=True)
        await send_status(self.portal, self.user, event_id, message.msgtype, failure)

    async def _send(self, message: MediaMessageEventContent, contact: str) -> None:
        client = self.user.client
        if client is None or not self.user.connected:
            raise SendFailure(
                "the bridge is not connected to MSN right now",
                Reason.NETWORK_ERROR,
                retriable=True,
                kind="not_connected",
            )
        encrypted = message.file
        if encrypted is not None:
            try:
                check(encrypted)
            except AttachmentError as e:
                reason = f"the encrypted file cannot be read: {e}"
                raise SendFailure(reason, Reason.UNSUPPORTED) from None
        source = encrypted.url if encrypted is not None else message.url
        api = self.portal.main_intent.api
        url = api.get_download_url(str(source), authenticated=True)
        params = {"allow_redirect": "true"}
        if api.as_user_id:
            params["user_id"] = api.as_user_id
        headers = {"Authorization": f"Bearer {api.token}"}
        name = message.body or "file"
        if isinstance(message.filename, str) and message.filename:
            name = message.filename
        started = time.monotonic()
        async with api.session.get(url, params=params, headers=headers) as response:
            if response.status != 200:
                raise SendFailure(
                    f"the homeserver did not hand out the file (HTTP {response.status})",
                    Reason.GENERIC_ERROR,
                )
            size = response.content_length
            limit = int(self.portal.config["bridge.p2p.max_outgoing_file"])
            if not size or size > limit:
                raise SendFailure(
                    (
                        f"the file is larger than the bridge sends ({limit} bytes)"
                        if size
                        else "the homeserver did not say how large the file is"
                    ),
                    Reason.UNSUPPORTED,
                )
            chunks: AsyncIterable[bytes] = response.content.iter_chunked(DOWNLOAD_PIECE)
            if encrypted is not None:
                chunks = decrypted(chunks, encrypted)
            try:
                await client.p2p.send_file(self.passport, name, size, chunks)
            except AttachmentError as e:  # the transfer was cancelled before its last piece
                raise SendFailure(
                    f"the encrypted file was not sent: {e}", Reason.GENERIC_ERROR
                ) from None
        self.portal.log.debug(
            "Sent %s (%d bytes) to %s in %.1f s", name, size, contact, time.monotonic() - started
        )
