"""An MSN client for tests that speaks P2P/MSNSLP from its own implementation.

It logs into ``tests.msn_server`` (MSNP12, or MSNP18 like Windows Live Messenger 2009),
advertises capabilities and a display picture, joins switchboards it is invited to, and:

* serves its display picture and custom emoticons (``fetches`` counts requests per SHA1D);
* sends files (``send_file``) and receives them (``file_policy``: accept, decline, ignore);
* fetches other clients' MSN objects (``fetch_object``);
* sends custom emoticons (``text/x-mms-emoticon``) and multi-packet messages.

At MSNP18 it frames P2P as v2 (:mod:`.wire_v2`, ``P2P-Dest: email;{guid}``) with a contact
whose endpoint advertises P2P v2 in its extended capabilities (``caps_ex`` & 0x20) when it does
too, and as v1 (``P2P-Dest: email``) otherwise, as Messenger 2009 does;
``sent_versions``/``received_versions`` count the packets of each.

Written independently of ``bridge.msnp``; see :mod:`.wire` for the formats.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from urllib.parse import quote
import asyncio
import base64
import logging
import secrets

from . import wire, wire_v2
from .client import RawNS, RawSB

__all__ = ["DEFAULT_CAPS", "WLM2009_CAPS", "WLM2009_CAPS_EX", "P2PPeer", "ReceivedFile"]

log = logging.getLogger("p2p_peer")

#: MSNC4 (Messenger 7.0) | multi-packet | ink as GIF
DEFAULT_CAPS = 0x40000000 | 0x20 | 0x4
#: what Windows Live Messenger 2009 (MSNC10) sends at MSNP18: basic, extended (RTC video, P2P v2)
WLM2009_CAPS, WLM2009_CAPS_EX = 2788999228, 0x30


@dataclass
class ReceivedFile:
    sender: str
    name: str
    size: int
    data: bytes


@dataclass
class _Call:
    kind: str  # "file-in", "file-out", "object-in", "serve"
    sid: int
    call_id: str
    other: str
    sb: RawSB
    invite: wire.Slp | None = None
    size: int = 0
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    answer: asyncio.Future[wire.Slp] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    bye: asyncio.Event = field(default_factory=asyncio.Event)


class P2PPeer:
    def __init__(self, email: str) -> None:
        self.email = email
        self.ns: RawNS | None = None
        #: SHA1D -> data of the objects we serve (display picture, emoticons)
        self.objects: dict[str, bytes] = {}
        self.picture_msnobj: str | None = None
        self.fetches: Counter[str] = Counter()
        self.decline_objects = False
        self.file_policy = "accept"
        self.offers: list[tuple[str, str, int]] = []
        self.received: asyncio.Queue[ReceivedFile] = asyncio.Queue()
        self.cancelled_incoming = 0
        self.messages: asyncio.Queue[tuple[str, dict[str, str], bytes]] = asyncio.Queue()
        self.direct_answers: list[wire.Slp] = []
        self._ident = secrets.randbelow(2**30) + 10
        self._acks: dict[int, asyncio.Future[None]] = {}
        self._partial: dict[tuple[int, int], bytearray] = {}
        self._calls: dict[str, _Call] = {}
        self._by_sid: dict[int, _Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.caps_ex = 0
        #: P2P packets sent / received per framing version (1, 2)
        self.sent_versions: Counter[int] = Counter()
        self.received_versions: Counter[int] = Counter()
        self._seq = secrets.randbelow(2**30)
        self._package = 0
        self._synced: set[str] = set()
        self._partial_v2: dict[tuple[int, int], bytearray] = {}

    # ------------------------------------------------------------------ login

    @classmethod
    async def login(
        cls,
        ns_address: str,
        passport_url: str,
        email: str,
        password: str,
        *,
        picture: bytes | None = None,
        caps: int = DEFAULT_CAPS,
        version: int = 12,
        http_base: str = "",
        caps_ex: int = 0,
        contacts: tuple[str, ...] = (),
    ) -> P2PPeer:
        """Log in; at ``version`` 16+ with SSO over ``http_base``, a machine GUID of its own,
        ``caps:caps_ex`` and the initial list ``contacts``."""
        peer = cls(email)
        peer.caps_ex = caps_ex
        if picture is not None:
            peer.picture_msnobj = wire.make_msnobj(email, picture, 3)
            peer.objects[wire.sha1_b64(picture)] = picture
        peer.ns = await RawNS.login(
            ns_address, passport_url, email, password, caps, peer.picture_msnobj,
            peer._on_message, version=version, http_base=http_base, guid=wire.guid(),
            caps_ex=caps_ex, contacts=contacts,
        )  # fmt: skip
        return peer

    async def set_picture(self, picture: bytes, caps: int = DEFAULT_CAPS) -> str:
        """Show a new display picture (``CHG`` with its MSN object); returns the descriptor."""
        assert self.ns is not None
        self.picture_msnobj = wire.make_msnobj(self.email, picture, 3)
        self.objects[wire.sha1_b64(picture)] = picture
        token = f"{caps}:{self.caps_ex}" if self.ns.version >= 16 else caps
        await self.ns.client.cmd("CHG", "NLN", token, quote(self.picture_msnobj, safe=""))
        return self.picture_msnobj

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.ns is not None:
            await self.ns.close()

    def switchboard_with(self, email: str) -> RawSB | None:
        assert self.ns is not None
        for sb in reversed(self.ns.switchboards):
            if email.lower() in sb.members and not sb.closed.is_set():
                return sb
        return None

    async def wait_switchboard_with(self, email: str, timeout: float = 10) -> RawSB:
        assert self.ns is not None
        await self.ns.wait_for(lambda: self.switchboard_with(email) is not None, timeout)
        sb = self.switchboard_with(email)
        assert sb is not None
        return sb

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("p2p peer task failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ sending

    def _next_ident(self) -> int:
        self._ident += 1
        return self._ident

    def version_with(self, sb: RawSB, other: str) -> int:
        """2 when we and ``other``'s endpoint on ``sb`` both offer P2P v2, else 1."""
        if self.ns is None or self.ns.version < 16 or not self.caps_ex & wire_v2.EXT_P2PV2:
            return 1
        endpoint = sb.endpoints.get(other.lower())
        return 2 if endpoint is not None and endpoint[1] & wire_v2.EXT_P2PV2 else 1

    async def _send_message(
        self, sb: RawSB, to: str, sid: int, data: bytes, flags: int = 0, app: int = 0
    ) -> int:
        """Send one P2P message in chunks (each MSG waits for the switchboard's ACK); returns
        what its acknowledgement will name (for :meth:`_wait_ack`)."""
        if self.version_with(sb, to) == 2:
            return await self._send_v2(sb, to, sid, data, flags, app)
        self.sent_versions[1] += 1
        ident, unique = self._next_ident(), secrets.randbelow(2**31) + 1
        self._acks[ident] = asyncio.get_running_loop().create_future()
        for offset in range(0, len(data), wire.CHUNK):
            piece = data[offset : offset + wire.CHUNK]
            frame = wire.pack_frame(
                to, sid, ident, offset, len(data), piece, flags, unique, app=app
            )
            if not await sb.send(frame, "D"):
                raise ConnectionError("the switchboard did not deliver a P2P chunk")
        return ident

    async def _send_v2(
        self, sb: RawSB, to: str, sid: int, data: bytes, flags: int, app: int
    ) -> int:
        assert self.ns is not None
        guid, _ = sb.endpoints[to.lower()]
        dest = f"{to};{guid}"
        kind = {wire.FLAG_OBJECT_DATA: wire_v2.TF_OBJECT, wire.FLAG_FILE_DATA: wire_v2.TF_FILE}
        tf = kind.get(flags, 0)
        self._package = (self._package + 1) & 0xFFFF
        pieces = [data[i : i + wire.CHUNK] for i in range(0, len(data), wire.CHUNK)] or [b""]
        done = 0
        acked = 0
        for index, piece in enumerate(pieces):
            done += len(piece)
            last = index == len(pieces) - 1
            syn = dest.lower() not in self._synced
            self._synced.add(dest.lower())
            op = (wire_v2.OP_SYN if syn else 0) | (wire_v2.OP_RAK if last else 0)
            seq = self._seq
            self._seq = (seq + 20 + len(piece)) & 0xFFFFFFFF  # data header (20) + payload
            if last:
                acked = self._seq
                self._acks[acked] = asyncio.get_running_loop().create_future()
            frame = wire_v2.pack_v2(
                dest, self.ns.handle, op, seq, syn_info=syn, package=self._package, sid=sid,
                tf=tf | (wire_v2.TF_FIRST if index == 0 else 0), remaining=len(data) - done,
                data=piece, app=app,
            )  # fmt: skip
            self.sent_versions[2] += 1
            if not await sb.send(frame, "D"):
                raise ConnectionError("the switchboard did not deliver a P2P v2 packet")
        return acked

    async def _wait_ack(self, ident: int, timeout: float = 30) -> None:
        future = self._acks.setdefault(ident, asyncio.get_running_loop().create_future())
        await asyncio.wait_for(future, timeout)

    async def _send_slp(self, sb: RawSB, to: str, text: bytes) -> None:
        await self._send_message(sb, to, 0, text)

    def _reply(self, call: _Call, invite: wire.Slp, status: str, lines: list[str], ctype: str = wire.REQ_BODY) -> bytes:  # fmt: skip
        return wire.slp_text(
            f"MSNSLP/1.0 {status}", call.other, self.email, invite.branch, invite.cseq + 1,
            invite.call_id, ctype, lines,
        )  # fmt: skip

    def _bye(self, call: _Call) -> bytes:
        return wire.slp_text(
            f"BYE MSNMSGR:{call.other} MSNSLP/1.0", call.other, self.email, wire.guid(), 0,
            call.call_id, wire.CLOSE_BODY, [],
        )  # fmt: skip

    def _new_call(
        self, kind: str, other: str, sb: RawSB, sid: int = 0, call_id: str = ""
    ) -> _Call:
        call = _Call(kind, sid or secrets.randbelow(2**31) + 1, call_id or wire.guid(), other, sb)
        call.answer = asyncio.get_running_loop().create_future()
        self._calls[call.call_id] = call
        self._by_sid[call.sid] = call
        return call

    def _drop_call(self, call: _Call) -> None:
        self._calls.pop(call.call_id, None)
        self._by_sid.pop(call.sid, None)

    # ------------------------------------------------------------------ receiving

    def _on_message(self, sb: RawSB, sender: str, payload: bytes) -> None:
        headers, body = wire.split_mime(payload)
        if headers.get("content-type", "").split(";")[0].strip() != wire.P2P_TYPE:
            self.messages.put_nowait((sender, headers, body))
            return
        if ";" in headers.get("p2p-dest", ""):
            self._on_v2(sb, sender, payload)
            return
        frame = wire.unpack_frame(payload)
        if frame is None or frame.dest.lower() != self.email.lower():
            return
        self.received_versions[1] += 1
        if frame.flags & wire.FLAG_ACK:
            future = self._acks.pop(frame.ack_id, None)
            if future is not None and not future.done():
                future.set_result(None)
            return
        call = self._by_sid.get(frame.sid) if frame.sid else None
        if call is not None and call.kind == "file-in":
            # file data goes straight into the call's buffer
            if frame.offset != len(call.data):
                log.warning(
                    "p2p peer: file chunk at %d, expected %d", frame.offset, len(call.data)
                )
                return
            call.data += frame.data
            if len(call.data) < frame.total:
                return
            complete = b""
        else:
            key = (frame.sid, frame.ident)
            buf = self._partial.setdefault(key, bytearray())
            if frame.offset != len(buf):
                log.warning("p2p peer: out-of-order chunk from %s", sender)
                del self._partial[key]
                return
            buf += frame.data
            if len(buf) < frame.total:
                return
            del self._partial[key]
            complete = bytes(buf)
        self._spawn(self._ack(sb, sender, frame))
        self._complete(sb, sender, frame, complete)

    def _on_v2(self, sb: RawSB, sender: str, payload: bytes) -> None:
        v2 = wire_v2.unpack_v2(payload)
        assert self.ns is not None
        if v2 is None or v2.dest.lower() != self.ns.handle.lower():
            return  # malformed, or for another endpoint
        self.received_versions[2] += 1
        if v2.ack_of is not None:
            future = self._acks.pop(v2.ack_of, None)
            if future is not None and not future.done():
                future.set_result(None)
        if v2.op & wire_v2.OP_RAK:
            ack = wire_v2.pack_v2(
                v2.src, self.ns.handle, v2.op & wire_v2.OP_SYN, self._seq,
                ack=(v2.seq + v2.size) & 0xFFFFFFFF, syn_info=bool(v2.op & wire_v2.OP_SYN),
                with_data_header=False,
            )  # fmt: skip
            self._spawn(sb.send(ack, "D"))  # type: ignore[arg-type]
        if not v2.size:
            return
        call = self._by_sid.get(v2.sid) if v2.sid else None
        kind = v2.tf & ~wire_v2.TF_FIRST
        flags = {wire_v2.TF_OBJECT: wire.FLAG_OBJECT_DATA, wire_v2.TF_FILE: wire.FLAG_FILE_DATA}
        frame = wire.Frame(
            v2.dest, v2.sid, v2.package, 0, 0, len(v2.data), flags.get(kind, 0), 0, 0, 0,
            v2.data, v2.app,
        )  # fmt: skip
        if call is not None and call.kind == "file-in":
            call.data += v2.data
            if not v2.remaining:
                frame.total = len(call.data)
                self._complete(sb, sender, frame, b"")
            return
        key = (v2.sid, v2.package)
        if v2.tf & wire_v2.TF_FIRST:
            self._partial_v2[key] = bytearray()
        buf = self._partial_v2.get(key)
        if buf is None:
            return
        buf += v2.data
        if v2.remaining:
            return
        del self._partial_v2[key]
        frame.total = len(buf)
        self._complete(sb, sender, frame, bytes(buf))

    async def _ack(self, sb: RawSB, sender: str, frame: wire.Frame) -> None:
        await sb.send(wire.ack_for(sender, frame, self._next_ident()), "D")

    def _complete(self, sb: RawSB, sender: str, frame: wire.Frame, data: bytes) -> None:
        if frame.sid == 0:
            self._on_slp(sb, sender, wire.parse_slp(data))
            return
        call = self._by_sid.get(frame.sid)
        if call is None:
            return
        if call.kind == "file-in":
            self.received.put_nowait(ReceivedFile(sender, call.name, call.size, bytes(call.data)))
            self._spawn(self._send_slp(sb, sender, self._bye(call)))
            self._drop_call(call)
        elif call.kind == "object-in" and frame.flags & wire.FLAG_OBJECT_DATA:
            call.data = bytearray(data)
            call.done.set()

    def _on_slp(self, sb: RawSB, sender: str, msg: wire.Slp) -> None:
        if msg.addr("To").lower().split(";")[0] != self.email.lower():
            return
        call = self._calls.get(msg.call_id)
        if msg.method == "INVITE" and msg.headers.get("content-type") == wire.TRANS_REQ:
            return  # never sent to us in these tests
        if msg.method == "INVITE" and call is None:
            self._on_invite(sb, sender, msg)
        elif msg.method == "BYE" and call is not None:
            call.bye.set()
            if call.kind == "file-in" and len(call.data) < call.size:
                self.cancelled_incoming += 1
            if call.kind != "file-out":
                self._drop_call(call)
        elif not msg.method and call is not None and call.answer is not None:
            if msg.headers.get("content-type") == "application/x-msnmsgr-transrespbody":
                self.direct_answers.append(msg)
            elif not call.answer.done():
                call.answer.set_result(msg)

    def _on_invite(self, sb: RawSB, sender: str, msg: wire.Slp) -> None:
        guid, sid = msg.body.get("EUF-GUID", "").upper(), int(msg.body.get("SessionID", "0"))
        context = base64.b64decode(msg.body.get("Context", ""))
        if guid == wire.GUID_OBJECT:
            call = self._new_call("serve", sender, sb, sid, msg.call_id)
            xml = context.rstrip(b"\0").decode()
            self._spawn(self._serve(call, msg, wire.msnobj_attr(xml, "SHA1D")))
        elif guid == wire.GUID_FILE:
            name, size = wire.read_file_context(context)
            self.offers.append((sender, name, size))
            call = self._new_call("file-in", sender, sb, sid, msg.call_id)
            call.name, call.size, call.invite = name, size, msg
            if self.file_policy == "accept":
                self._spawn(
                    self._send_slp(
                        sb, sender, self._reply(call, msg, "200 OK", [f"SessionID: {sid}"])
                    )
                )
            elif self.file_policy == "decline":
                self._drop_call(call)
                self._spawn(
                    self._send_slp(
                        sb, sender, self._reply(call, msg, "603 Decline", [f"SessionID: {sid}"])
                    )
                )

    async def _serve(self, call: _Call, invite: wire.Slp, sha1d: str) -> None:
        data = self.objects.get(sha1d)
        sid_line = [f"SessionID: {call.sid}"]
        if data is None or self.decline_objects:
            self._drop_call(call)
            await self._send_slp(
                call.sb, call.other, self._reply(call, invite, "603 Decline", sid_line)
            )
            return
        self.fetches[sha1d] += 1
        await self._send_slp(call.sb, call.other, self._reply(call, invite, "200 OK", sid_line))
        prep = await self._send_message(
            call.sb, call.other, call.sid, b"\0\0\0\0", 0, wire.APP_OBJECT
        )
        await self._wait_ack(prep)
        ident = await self._send_message(
            call.sb, call.other, call.sid, data, wire.FLAG_OBJECT_DATA, wire.APP_OBJECT
        )
        await self._wait_ack(ident)
        await asyncio.wait_for(call.bye.wait(), 30)

    # ------------------------------------------------------------------ API

    async def send_file(
        self, to: str, name: str, data: bytes, *, probe_direct: bool = False, timeout: float = 30
    ) -> str:
        """Offer and send a file: "done", "declined", "timeout" or "cancelled"."""
        sb = await self.wait_switchboard_with(to)
        call = self._new_call("file-out", to, sb)
        invite = wire.slp_text(
            f"INVITE MSNMSGR:{to} MSNSLP/1.0", to, self.email, wire.guid(), 0, call.call_id,
            wire.REQ_BODY,
            [f"EUF-GUID: {wire.GUID_FILE}", f"SessionID: {call.sid}", "AppID: 2",
             "Context: " + base64.b64encode(wire.file_context(name, len(data))).decode()],
        )  # fmt: skip
        await self._send_slp(sb, to, invite)
        assert call.answer is not None
        try:
            answer = await asyncio.wait_for(asyncio.shield(call.answer), timeout)
        except TimeoutError:
            await self._send_slp(sb, to, self._bye(call))
            self._drop_call(call)
            return "timeout"
        if answer.status != 200:
            self._drop_call(call)
            return "declined"
        if probe_direct:
            call.answer = asyncio.get_running_loop().create_future()
            probe = wire.slp_text(
                f"INVITE MSNMSGR:{to} MSNSLP/1.0", to, self.email, wire.guid(), 0, call.call_id,
                wire.TRANS_REQ,
                ["Bridges: TCPv1", "NetID: 0", "Conn-Type: Firewall", "UPnPNat: false",
                 "ICF: false", f"Nonce: {wire.guid()}"],
            )  # fmt: skip
            await self._send_slp(sb, to, probe)
            await asyncio.wait_for(self._until(lambda: bool(self.direct_answers)), timeout)
        if self.version_with(sb, to) == 2:
            ident = await self._send_message(
                sb, to, call.sid, data, wire.FLAG_FILE_DATA, wire.APP_FILE
            )
            return await self._finish_sending(call, ident, timeout)
        ident = self._next_ident()
        unique = secrets.randbelow(2**31) + 1
        self._acks[ident] = asyncio.get_running_loop().create_future()
        self.sent_versions[1] += 1
        for offset in range(0, len(data), wire.CHUNK):
            if call.bye.is_set():
                self._drop_call(call)
                return "cancelled"
            piece = data[offset : offset + wire.CHUNK]
            frame = wire.pack_frame(
                to, call.sid, ident, offset, len(data), piece, wire.FLAG_FILE_DATA, unique,
                app=wire.APP_FILE,
            )  # fmt: skip
            if not await sb.send(frame, "D"):
                return "cancelled"
        return await self._finish_sending(call, ident, timeout)

    async def _finish_sending(self, call: _Call, ident: int, timeout: float) -> str:
        try:
            await self._wait_ack(ident, timeout)
            await asyncio.wait_for(call.bye.wait(), timeout)  # the receiver says BYE
        except TimeoutError:
            return "cancelled" if call.bye.is_set() else "timeout"
        finally:
            self._drop_call(call)
        return "done"

    async def _until(self, predicate: object) -> None:
        assert callable(predicate)
        while not predicate():
            await asyncio.sleep(0.01)

    async def fetch_object(self, other: str, msnobj: str, timeout: float = 30) -> bytes | None:
        """Fetch another client's MSN object; None when declined."""
        sb = await self.wait_switchboard_with(other)
        call = self._new_call("object-in", other, sb)
        context = base64.b64encode(msnobj.encode() + b"\0").decode()
        invite = wire.slp_text(
            f"INVITE MSNMSGR:{other} MSNSLP/1.0", other, self.email, wire.guid(), 0, call.call_id,
            wire.REQ_BODY,
            [f"EUF-GUID: {wire.GUID_OBJECT}", f"SessionID: {call.sid}", "AppID: 1",
             f"Context: {context}"],
        )  # fmt: skip
        await self._send_slp(sb, other, invite)
        assert call.answer is not None
        answer = await asyncio.wait_for(call.answer, timeout)
        if answer.status != 200:
            self._drop_call(call)
            return None
        await asyncio.wait_for(call.done.wait(), timeout)
        await self._send_slp(sb, other, self._bye(call))
        self._drop_call(call)
        return bytes(call.data)

    async def send_text(self, to: str, text: str) -> None:
        sb = await self.wait_switchboard_with(to)
        payload = (
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            b"X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\n" + text.encode()
        )
        assert await sb.send(payload, "A")

    async def send_emoticons(
        self, to: str, text: str, emoticons: dict[str, bytes]
    ) -> dict[str, str]:
        """Announce custom emoticons (served on request), then the text using them."""
        sb = await self.wait_switchboard_with(to)
        body = ""
        descriptors = {}
        for shortcut, data in emoticons.items():
            xml = wire.make_msnobj(self.email, data, 2, location=f"{len(descriptors)}.gif")
            self.objects[wire.sha1_b64(data)] = data
            descriptors[shortcut] = xml
            body += f"{shortcut}\t{xml}\t"
        payload = b"MIME-Version: 1.0\r\nContent-Type: text/x-mms-emoticon\r\n\r\n" + body.encode()
        assert await sb.send(payload, "N")
        await self.send_text(to, text)
        return descriptors

    async def send_multipacket(self, to: str, text: str, parts: int) -> str:
        """``text`` split over ``parts`` MSGs with Message-ID/Chunks/Chunk; returns the id."""
        sb = await self.wait_switchboard_with(to)
        data = text.encode()
        step = -(-len(data) // parts)
        pieces = [data[i : i + step] for i in range(0, len(data), step)]
        message_id = wire.guid()
        first = (
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            "X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n"
            f"Message-ID: {message_id}\r\nChunks: {len(pieces)}\r\n\r\n"
        ).encode()
        assert await sb.send(first + pieces[0], "A")
        for index, piece in enumerate(pieces[1:], 1):
            head = f"Message-ID: {message_id}\r\nChunk: {index}\r\n\r\n".encode()
            assert await sb.send(head + piece, "A")
        return message_id
