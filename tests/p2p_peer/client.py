"""The test peer's MSN connections: its notification session and its switchboards.

Built on :mod:`tests.msn_server.rawclient` (raw lines, no ``bridge.msnp``). The NS reader
answers ``RNG`` invitations by joining the switchboard and records contacts' presence with
their capability numbers and MSN objects; a switchboard reader hands ``MSG`` payloads to a
callback and matches ``ACK``/``NAK`` to the messages sent. MSNP12 (TWN) or MSNP18 (SSO, a
machine GUID, ``caps:extended`` capabilities, ``1:email`` handles, ``email;{guid}`` endpoints
on switchboards).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, unquote
import asyncio
import logging

from tests.msn_server.rawclient import RawClient, Reply, login_sso, login_twn

__all__ = ["Presence", "RawNS", "RawSB"]

log = logging.getLogger("p2p_peer")

MessageCallback = Callable[["RawSB", str, bytes], None]


class Presence:
    """What ILN/NLN said about a contact."""

    def __init__(self, status: str, caps: int, msnobj: str, caps_ex: int = 0) -> None:
        self.status = status
        self.caps = caps
        self.msnobj = msnobj
        self.caps_ex = caps_ex


def _caps(token: str) -> int:
    return int(token.split(":")[0]) if token.split(":")[0].isdigit() else 0


def _caps_ex(token: str) -> int:
    parts = token.split(":")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _email(handle: str) -> str:
    """``1:bob@x`` (MSNP18) or ``bob@x`` -> ``bob@x``."""
    return handle.split(":", 1)[1] if handle[:1].isdigit() and ":" in handle else handle


class RawSB:
    """One switchboard connection of the peer."""

    def __init__(self, client: RawClient, me: str, on_message: MessageCallback) -> None:
        self.client = client
        self.me = me
        self.on_message = on_message
        #: lower-case address -> capabilities shown in IRO/JOI (MSNP12)
        self.members: dict[str, int] = {}
        #: MSNP16+: lower-case e-mail -> (endpoint "{guid}", extended capabilities) from JOI/IRO
        self.endpoints: dict[str, tuple[str, int]] = {}
        self.joined = asyncio.Event()
        self.closed = asyncio.Event()
        self._acks: dict[int, asyncio.Future[bool]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while True:
                reply = await self.client.read(timeout=3600)
                self._handle(reply)
        except (EOFError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self.closed.set()
            for future in self._acks.values():
                if not future.done():
                    future.set_result(False)

    def _handle(self, reply: Reply) -> None:
        t = reply.tokens
        if t[0] == "MSG" and reply.payload is not None:
            self.on_message(self, t[1], reply.payload)
        elif t[0] in ("ACK", "NAK") and len(t) > 1 and t[1].isdigit():
            future = self._acks.pop(int(t[1]), None)
            if future is not None and not future.done():
                future.set_result(t[0] == "ACK")
        elif t[0] == "JOI":
            self._member(t[1], t[3] if len(t) > 3 else "0")
        elif t[0] == "IRO":
            self._member(t[4], t[6] if len(t) > 6 else "0")
        elif t[0] == "BYE":
            self.members.pop(t[1].lower(), None)

    def _member(self, address: str, caps: str) -> None:
        email, _, guid = address.lower().partition(";")
        if guid:
            self.endpoints[email] = (guid, _caps_ex(caps))
        self.members[address.lower()] = _caps(caps)
        self.joined.set()

    async def send(self, payload: bytes, mode: str = "D", timeout: float = 30) -> bool:
        """Send ``MSG trid mode``; for A/D wait for ACK (True) or NAK/close (False)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        trid = self.client.trid + 1
        if mode in ("A", "D"):
            self._acks[trid] = future
        await self.client.cmd("MSG", mode, payload=payload)
        if mode not in ("A", "D"):
            return True
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.client.close()


class RawNS:
    """The peer's notification session (MSNP12 by default, or MSNP18)."""

    def __init__(
        self,
        client: RawClient,
        me: str,
        on_message: MessageCallback,
        version: int = 12,
        guid: str = "",
    ) -> None:
        self.client = client
        self.me = me
        self.version = version
        #: our machine GUID at MSNP16+ ("{...}", lower case)
        self.guid = guid.lower()
        self.on_message = on_message
        self.presence: dict[str, Presence] = {}
        self.presence_changed = asyncio.Event()
        self.switchboards: list[RawSB] = []
        self.new_switchboard = asyncio.Event()
        self._xfr: dict[int, asyncio.Future[Reply]] = {}
        self._task: asyncio.Task[None] | None = None
        self._joins: set[asyncio.Task[None]] = set()

    @classmethod
    async def login(
        cls,
        ns_address: str,
        passport_url: str,
        email: str,
        password: str,
        caps: int,
        msnobj: str | None,
        on_message: MessageCallback,
        *,
        version: int = 12,
        http_base: str = "",
        guid: str = "",
        caps_ex: int = 0,
        contacts: tuple[str, ...] = (),
    ) -> RawNS:
        if version < 16:
            client = await login_twn(ns_address, passport_url, email, password, version=12)
            ns = cls(client, email, on_message)
            caps_token = str(caps)
        else:
            client, _ = await login_sso(
                ns_address, http_base, email, password, version, machine_guid=guid
            )
            ns = cls(client, email, on_message, version, guid)
            caps_token = f"{caps}:{caps_ex}"
            if contacts:  # the initial list: forward and allow lists (l="3"), Passport members
                domains: dict[str, str] = {}
                for contact in contacts:
                    user, _, domain = contact.partition("@")
                    domains[domain] = domains.get(domain, "") + f'<c n="{user}" l="3" t="1" />'
                body = "".join(f'<d n="{d}">{cs}</d>' for d, cs in domains.items())
                t = await client.cmd("ADL", payload=f'<ml l="1">{body}</ml>'.encode())
                await client.expect(f"ADL {t}")
        args: list[object] = ["NLN", caps_token]
        if msnobj:
            args.append(quote(msnobj, safe=""))
        await client.cmd("CHG", *args)
        await client.expect("CHG")
        ns._task = asyncio.create_task(ns._read())
        return ns

    async def _read(self) -> None:
        try:
            while True:
                self._handle(await self.client.read(timeout=3600))
        except (EOFError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass

    def _handle(self, reply: Reply) -> None:
        t = reply.tokens
        if t[0] == "ILN" and len(t) >= 6:
            self._presence(t[2], t[3], t[5], t[6] if len(t) > 6 else "")
        elif t[0] == "NLN" and len(t) >= 5:
            self._presence(t[1], _email(t[2]), t[4], t[5] if len(t) > 5 else "")
        elif t[0] == "FLN":
            self.presence.pop(_email(t[1]).lower(), None)
            self.presence_changed.set()
        elif t[0] == "XFR" and t[1].isdigit():
            future = self._xfr.pop(int(t[1]), None)
            if future is not None and not future.done():
                future.set_result(reply)
        elif t[0] == "RNG":
            task = asyncio.create_task(self._answer(t[1], t[2], t[4]))
            self._joins.add(task)
            task.add_done_callback(self._joins.discard)

    def _presence(self, status: str, email: str, caps: str, msnobj: str) -> None:
        self.presence[email.lower()] = Presence(
            status, _caps(caps), unquote(msnobj), _caps_ex(caps)
        )
        self.presence_changed.set()

    async def _answer(self, session_id: str, address: str, cookie: str) -> None:
        client = await RawClient.connect(address)
        sb = RawSB(client, self.me, self.on_message)
        await client.cmd("ANS", self.handle, cookie, session_id)
        while True:
            reply = await client.read()
            sb._handle(reply)
            if reply.name == "ANS":
                break
        sb.start()
        self.switchboards.append(sb)
        self.new_switchboard.set()

    async def open_switchboard(self, email: str, timeout: float = 10) -> RawSB:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._xfr[self.client.trid + 1] = future
        await self.client.cmd("XFR", "SB")
        reply = await asyncio.wait_for(future, timeout)
        client = await RawClient.connect(reply.tokens[3])
        await client.cmd("USR", self.handle, reply.tokens[5])
        await client.expect("USR")
        sb = RawSB(client, self.me, self.on_message)
        sb.start()
        await client.cmd("CAL", email)
        await asyncio.wait_for(sb.joined.wait(), timeout)
        self.switchboards.append(sb)
        return sb

    @property
    def handle(self) -> str:
        """How the peer names itself on switchboards: ``email;{guid}`` at MSNP16+."""
        return f"{self.me};{self.guid}" if self.version >= 16 and self.guid else self.me

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        async def loop() -> None:
            while not predicate():
                self.presence_changed.clear()
                self.new_switchboard.clear()
                waiters = [
                    asyncio.create_task(self.presence_changed.wait()),
                    asyncio.create_task(self.new_switchboard.wait()),
                ]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()

        await asyncio.wait_for(loop(), timeout)

    async def close(self) -> None:
        for sb in self.switchboards:
            await sb.close()
        for task in [self._task, *self._joins]:
            if task is not None:
                task.cancel()
        await self.client.close()
