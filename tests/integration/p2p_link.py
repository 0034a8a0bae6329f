"""The library side of P2P integration tests: a raw switchboard connection driving a P2PManager.

Until the switchboard itself hooks the manager (the integration stage), this stands in for
it with a few lines of raw MSNP over :mod:`tests.msn_server.rawclient`: ``MSG D`` for
``send_p2p`` (waiting for ``ACK``), and a reader that feeds P2P messages to the manager and
queues the others.
"""

from __future__ import annotations

from urllib.parse import quote
import asyncio

from bridge.msnp.errors import DeliveryFailed
from bridge.msnp.message import Message, parse_message
from bridge.msnp.p2p import is_p2p
from bridge.msnp.p2p_session import P2PManager
from tests.msn_server.rawclient import RawClient, Reply, login_twn

__all__ = ["LibrarySide", "RawP2PLink"]


class RawP2PLink:
    """One switchboard connection; implements :class:`~bridge.msnp.p2p_session.P2PLink`."""

    def __init__(self, client: RawClient, manager: P2PManager) -> None:
        self.client = client
        self.manager = manager
        self.messages: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
        self.members: dict[str, str] = {}
        self.joined = asyncio.Event()
        self.sent = 0
        self._acks: dict[int, asyncio.Future[bool]] = {}
        self._task = asyncio.create_task(self._read())

    async def send_p2p(self, payload: bytes) -> None:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._acks[self.client.trid + 1] = future
        await self.client.cmd("MSG", "D", payload=payload)
        self.sent += 1
        if not await asyncio.wait_for(future, 30):
            raise DeliveryFailed("NAK or switchboard closed")

    async def send_plain(self, payload: bytes, mode: str = "N") -> None:
        await self.client.cmd("MSG", mode, payload=payload)

    async def _read(self) -> None:
        try:
            while True:
                self._handle(await self.client.read(timeout=3600))
        except (EOFError, ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            for future in self._acks.values():
                if not future.done():
                    future.set_result(False)
            self.manager.link_closed(self)

    def _handle(self, reply: Reply) -> None:
        tokens = reply.tokens
        if tokens[0] == "MSG" and reply.payload is not None:
            message = parse_message(reply.payload)
            if is_p2p(message):
                self.manager.feed(self, tokens[1], message)
            else:
                self.messages.put_nowait((tokens[1], message))
        elif tokens[0] in ("ACK", "NAK") and tokens[1].isdigit():
            future = self._acks.pop(int(tokens[1]), None)
            if future is not None and not future.done():
                future.set_result(tokens[0] == "ACK")
        elif tokens[0] == "JOI":
            self.members[tokens[1].lower()] = tokens[3] if len(tokens) > 3 else ""
            self.joined.set()

    async def close(self) -> None:
        self._task.cancel()
        await self.client.close()


class LibrarySide:
    """The bridge user's MSN session, reduced to what P2P tests need."""

    def __init__(self, ns: RawClient, email: str, iln: list[Reply]) -> None:
        self.ns = ns
        self.email = email
        #: the ILN lines received right after the first CHG
        self.iln = iln
        self.links: list[RawP2PLink] = []

    @classmethod
    async def login(
        cls,
        ns_address: str,
        passport_url: str,
        email: str,
        password: str,
        caps: int,
        msnobj: str | None = None,
        expect_online: int = 0,
    ) -> LibrarySide:
        ns = await login_twn(ns_address, passport_url, email, password, version=12)
        args: list[object] = ["NLN", caps] + ([quote(msnobj, safe="")] if msnobj else [])
        await ns.cmd("CHG", *args)
        await ns.expect("CHG")
        iln = [await ns.expect("ILN") for _ in range(expect_online)]
        return cls(ns, email, iln)

    async def open_switchboard(self, peer: str, manager: P2PManager) -> RawP2PLink:
        trid = await self.ns.cmd("XFR", "SB")
        reply = await self.ns.expect(f"XFR {trid}")
        client = await RawClient.connect(reply.tokens[3])
        await client.cmd("USR", self.email, reply.tokens[5])
        await client.expect("USR")
        link = RawP2PLink(client, manager)
        await client.cmd("CAL", peer)
        await asyncio.wait_for(link.joined.wait(), 10)
        self.links.append(link)
        return link

    async def close(self) -> None:
        for link in self.links:
            await link.close()
        await self.ns.close()
