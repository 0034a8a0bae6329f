"""The MSN-object flows over P2P: fetching a contact's object, serving one of ours.

Fetch (we invite)::

    INVITE (EUF-GUID {A4268EEC-...}, AppID 1, Context = base64 of the descriptor + NUL)
    <- 200 OK
    <- data preparation: 4 zero bytes on the session, flags 0        -> ACK
    <- the data, flags 0x20, in chunks                               -> ACK
    BYE ->

Serving is the same from the other side. :func:`fetch` checks size and SHA1D before it
returns; both flows are bounded in time by the caller.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
import asyncio
import logging

from . import slp
from .errors import P2PError, P2PProtocolError, TransferFailed
from .msnobject import MSNObject, parse_msnobject, sha1d_of
from .p2p import AppID, P2PFlags
from .p2p_transfer import P2PLimits, Session
from .p2p_transport import DataComplete, DataReceived, SessionAborted

__all__ = ["ObjectProvider", "answer_fetch", "fetch", "object_from_context", "serve"]

log = logging.getLogger("msnp.p2p")

#: (the object a contact asks for, the contact) -> its data, or None to decline
ObjectProvider = Callable[[MSNObject, str], Awaitable[bytes | None]]


def _is_payload(flags: int, total_size: int) -> bool:
    """Object data, as opposed to the 4-byte data-preparation message before it."""
    return bool(flags & (P2PFlags.MSN_OBJECT_DATA | P2PFlags.FILE_DATA)) or total_size != 4


def object_from_context(context: bytes) -> MSNObject:
    """The descriptor in an MSN-object INVITE's Context (raises P2PProtocolError)."""
    return parse_msnobject(context.rstrip(b"\0").decode("utf-8", errors="replace"))


async def fetch(session: Session, obj: MSNObject, max_size: int, stall_timeout: float) -> bytes:
    """Ask for ``obj``, collect its data (at most ``max_size`` bytes), check, say BYE."""
    peer = session.peer
    peer.transport.open_session(session.session_id, max_size)
    invite = slp.build_request(
        "INVITE", peer.passport, peer.own_passport, call_id=session.call_id,
        fields=(
            ("EUF-GUID", slp.EUF_GUID_MSNOBJ), ("SessionID", str(session.session_id)),
            ("AppID", str(int(AppID.MSN_OBJECT))),
            ("Context", slp.encode_context(obj.xml.encode() + b"\0")),
        ),
    )  # fmt: skip
    await session.send_message(invite)
    await session.wait_ok(stall_timeout)
    data = bytearray()
    data_id: int | None = None
    while True:
        item = await session.inbox.next(stall_timeout)
        if isinstance(item, DataReceived) and _is_payload(item.flags, item.total_size):
            if data_id is None:
                data_id = item.identifier
            if item.identifier == data_id:
                data += item.data
        elif isinstance(item, DataComplete) and item.identifier == data_id:
            break
        elif isinstance(item, SessionAborted):
            raise TransferFailed(f"object transfer aborted: {item.reason}")
        elif isinstance(item, slp.SLPMessage) and item.method == "BYE":
            raise TransferFailed(f"{peer.passport} ended the session before sending the object")
    session.bye()
    result = bytes(data)
    if obj.size and len(result) != obj.size:
        raise TransferFailed(f"{peer.passport} sent {len(result)} bytes, not {obj.size}")
    if sha1d_of((result,)) != obj.sha1d:
        raise TransferFailed(f"{peer.passport} sent data that does not match the object's SHA1D")
    return result


async def serve(
    session: Session, invite: slp.SLPMessage, data: bytes, stall_timeout: float
) -> None:
    """Answer a fetch of ours: 200 OK, data preparation, the data; wait for the ACKs."""
    peer = session.peer
    peer.answer(invite, 200, "OK", session.session_id)
    prep = await session.send_message(
        bytes(4), session_id=session.session_id, app_id=AppID.MSN_OBJECT
    )
    await session.wait_ack(prep, stall_timeout)
    stream = peer.transport.stream(
        session.session_id, len(data), flags=P2PFlags.MSN_OBJECT_DATA, app_id=AppID.MSN_OBJECT
    )
    inflight: deque[asyncio.Task[None]] = deque()
    try:
        await session.stream_out(stream.frame(data), inflight)
        await session.drain(inflight)
    finally:
        for task in inflight:
            task.cancel()
    await session.wait_ack(stream.identifier, stall_timeout)


async def answer_fetch(
    session: Session,
    invite: slp.SLPMessage,
    context: bytes,
    provider: ObjectProvider | None,
    limits: P2PLimits,
    stats: dict[str, int],
) -> None:
    """A contact asks for one of our objects: serve what ``provider`` gives, or decline."""
    peer = session.peer
    try:
        data = await _provided(provider, context, peer.passport, limits.max_object_size)
        if data is None:
            stats["declined"] += 1
            peer.answer(invite, 603, "Decline", session.session_id)
            return
        async with asyncio.timeout(limits.object_timeout):
            await serve(session, invite, data, limits.stall_timeout)
        stats["objects_served"] += 1
    except (P2PError, TimeoutError) as e:
        log.info("P2P: serving an object to %s failed: %s", peer.passport, e)
    finally:
        session.end()


async def _provided(
    provider: ObjectProvider | None, context: bytes, passport: str, max_size: int
) -> bytes | None:
    if provider is None:
        return None
    try:
        obj = object_from_context(context)
    except P2PProtocolError as e:
        log.info("P2P: %s asked for a malformed object: %s", passport, e)
        return None
    try:
        data = await provider(obj, passport)
    except Exception:
        log.exception("P2P: the object provider failed")
        return None
    if not data or len(data) > max_size:
        return None
    return data
