"""MSN -> Matrix files: a contact's P2P (or MSN 4-5 MSNFTP) file offer is accepted and streamed
into a Matrix upload, or declined with a notice when it is larger than the bridge accepts.

The offer is answered at once and the data is moved in the background, so the conversation's
other messages are not held up. The file never sits whole in memory: the P2P data arrives in
chunks of about a kilobyte, is gathered into pieces of :data:`UPLOAD_PIECE` bytes and streamed to
the homeserver's media repository with the announced size as its ``Content-Length``. Its MIME
type (and so ``m.image``/``m.video``/``m.audio``/``m.file``) is read from its first bytes. In an
encrypted room it is encrypted on its way (:mod:`.encrypted_media`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import AsyncIterator

from mautrix.types import FileInfo, MediaMessageEventContent, MessageType
from mautrix.util import background_task

from bridge.media_types import SNIFF_BYTES, message_type, sniff
from bridge.msnp.errors import P2PError, PeerUnreachable
from bridge.msnp.events import FileOffered, OtherMessageReceived
from bridge.msnp.msnftp import MSNFTP_GUID, invitation_fields
from bridge.msnp.msnftp_transfer import MsnftpIncoming, MsnftpOffer
from bridge.msnp.p2p_files import IncomingFile

from .encrypted_media import upload

if TYPE_CHECKING:
    from .from_msn import MSNToMatrix
    from .interfaces import PortalOwner

__all__ = ["UPLOAD_PIECE", "handle_file_offer", "handle_msnftp_invitation", "human_size"]

#: The Application-GUID of MSNFTP file transfers (``text/x-msmsgsinvite``, MSN Messenger 4-5).

#: Bytes gathered before they are handed to the upload.
UPLOAD_PIECE: Final = 64 * 1024


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


async def handle_file_offer(from_msn: MSNToMatrix, user: PortalOwner, evt: FileOffered) -> None:
    """Accept (and stream in the background) or decline ``evt.offer``."""
    offer = evt.offer
    portal = from_msn.portal
    limit = int(portal.config["bridge.p2p.max_incoming_file"])
    if not offer.open:
        return  # withdrawn (or expired) while it waited in the queue
    if isinstance(offer, MsnftpOffer) and not portal.config["bridge.p2p.msnftp"]:
        offer.decline()
        await from_msn.send_notice(
            user,
            evt.sender,
            f'Offered the file "{offer.filename}" ({human_size(offer.size)}) with the file '
            "transfer of MSN Messenger 4-5, which connects to their computer directly; the "
            "bridge is set not to (bridge.p2p.msnftp), so it was declined.",
        )
        return
    if offer.size > limit:
        offer.decline()
        portal.log.info("Declined %s's file of %d bytes (over %d)", evt.sender, offer.size, limit)
        await from_msn.send_notice(
            user,
            evt.sender,
            f'Offered the file "{offer.filename}" ({human_size(offer.size)}), which is larger '
            f"than the bridge accepts ({human_size(limit)}): declined.",
        )
        return
    if not await from_msn.room_ready(user):
        offer.decline()
        return
    incoming = offer.accept()
    background_task.create(
        _receive(from_msn, user, evt.sender, incoming), name=f"msn-file-{offer.call_id}"
    )


async def _receive(
    from_msn: MSNToMatrix, user: PortalOwner, sender: str, incoming: IncomingFile | MsnftpIncoming
) -> None:
    portal = from_msn.portal
    name, size = incoming.offer.filename, incoming.size
    puppet = await from_msn.sender_puppet(sender)
    if puppet is None:
        incoming.cancel()
        return
    try:
        head = await _head(incoming)
        mime = sniff(head, name)
        intent = puppet.default_mxid_intent  # the ghost (never a double puppet)
        # an encrypted room: encrypted on its way (bridge.portal.encrypted_media)
        mxc, file = await upload(
            intent, _pieces(head, incoming), size=size, mime=mime, filename=name,
            encrypted=portal.encrypted,
        )  # fmt: skip
    except PeerUnreachable as e:
        portal.log.info("The file %r from %s did not arrive: %s", name, sender, e)
        await from_msn.send_notice(
            user,
            sender,
            f'Offered the file "{name}" ({human_size(size)}), but the bridge could not reach '
            "the sender's computer (MSN Messenger 4-5 sends files directly), so it did not "
            "arrive. Sent from MSN Messenger 6 or later, it would come over the server.",
        )
        return
    except P2PError as e:
        portal.log.info("The file %r from %s did not arrive: %s", name, sender, e)
        await from_msn.send_notice(
            user, sender, f'The file "{name}" did not arrive: the transfer was interrupted.'
        )
        return
    except Exception:
        incoming.cancel()
        portal.log.exception("Failed to upload the file %r from %s", name, sender)
        await from_msn.send_notice(
            user, sender, f'Sent the file "{name}", which the bridge could not upload to Matrix.'
        )
        return
    msgtype: MessageType = message_type(mime)
    content = MediaMessageEventContent(
        msgtype=msgtype, body=name, url=mxc, file=file, info=FileInfo(mimetype=mime, size=size)
    )
    await from_msn.send_as(user, puppet, content, sender)


async def _head(incoming: IncomingFile | MsnftpIncoming) -> bytes:
    """At least the first :data:`SNIFF_BYTES` bytes (fewer only if the file is shorter)."""
    head = bytearray()
    while len(head) < SNIFF_BYTES:
        try:
            head += await incoming.__anext__()
        except StopAsyncIteration:
            break
    return bytes(head)


async def _pieces(head: bytes, incoming: IncomingFile | MsnftpIncoming) -> AsyncIterator[bytes]:
    piece = bytearray(head)
    async for chunk in incoming:
        piece += chunk
        if len(piece) >= UPLOAD_PIECE:
            yield bytes(piece)
            piece.clear()
    if piece:
        yield bytes(piece)


async def handle_msnftp_invitation(
    from_msn: MSNToMatrix, user: PortalOwner, evt: OtherMessageReceived
) -> bool:
    """An MSN Messenger 4-5 file invitation the library could not take up (no valid cookie, so
    it cannot even be answered; readable ones arrive as :class:`FileOffered`): a notice names
    it. Returns whether ``evt`` was such an invitation (other invitation messages: False)."""
    fields = invitation_fields(evt.body)
    if fields.get("application-guid", "").upper() != MSNFTP_GUID:
        return False
    if fields.get("invitation-command", "").upper() != "INVITE":
        return True  # the sender's own CANCEL (or an ACCEPT): nothing to show
    name = fields.get("application-file", "")[:255] or "a file"
    size = fields.get("application-filesize", "")
    what = f'"{name}" ({human_size(int(size))})' if size.isdigit() else f'"{name}"'
    await from_msn.send_notice(
        user,
        evt.sender,
        f"Offered the file {what} with the file transfer of MSN Messenger 4-5, in an "
        "invitation the bridge could not read, so it did not arrive. "
        "Sent from MSN Messenger 6 or later (or another client with P2P), it arrives here.",
    )
    return True
