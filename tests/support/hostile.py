"""Hostile MSN contacts for end-to-end tests, on raw sockets.

Written on :mod:`tests.msn_server.rawclient` (which never imports ``bridge.msnp``), so they do
what a misbehaving client can do, not what the bridge's own library would: open switchboard
after switchboard, invite people, write or stay silent, leave. :class:`RawAccount` is a signed-
in account; :meth:`RawAccount.answer_rings` makes it join every switchboard it is invited to
(an accomplice), and :class:`RawSwitchboard` is one conversation it opened or joined.
"""

from __future__ import annotations

from typing import Any
import asyncio
import contextlib

from tests.msn_server.rawclient import RawClient, Reply, login_twn

__all__ = ["RawAccount", "RawSwitchboard"]

TIMEOUT = 10.0


def _text_payload(text: str) -> bytes:
    return (
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        b"X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=22\r\n\r\n" + text.encode()
    )


NUDGE = b"MIME-Version: 1.0\r\nContent-Type: text/x-msnmsgr-datacast\r\n\r\nID: 1\r\n\r\n"


class RawSwitchboard:
    """One switchboard connection of a :class:`RawAccount`."""

    def __init__(self, client: RawClient, passport: str) -> None:
        self.client = client
        self.passport = passport
        self.members: set[str] = set()
        #: (sender, text) of the text messages received
        self.texts: list[tuple[str, str]] = []
        self.received = asyncio.Event()
        self._joined = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read(), name=f"raw-sb {self.passport}")

    async def _read(self) -> None:
        with contextlib.suppress(EOFError, ConnectionError, asyncio.IncompleteReadError):
            while True:
                try:
                    reply = await self.client.read(timeout=3600)
                except TimeoutError:
                    continue
                if reply.name in ("JOI", "IRO"):
                    handle = reply.tokens[1] if reply.name == "JOI" else reply.tokens[4]
                    self.members.add(handle.split(";", 1)[0].lower())
                    self._joined.set()
                elif reply.name == "BYE":
                    self.members.discard(reply.tokens[1].split(";", 1)[0].lower())
                elif reply.name == "MSG" and reply.payload is not None:
                    head, _, body = reply.payload.partition(b"\r\n\r\n")
                    if b"text/plain" in head.lower():
                        self.texts.append((reply.tokens[1], body.decode(errors="replace")))
                        self.received.set()

    async def call(self, passport: str) -> None:
        """Invite ``passport`` and wait until they joined."""
        await self.client.cmd("CAL", passport)
        async with asyncio.timeout(TIMEOUT):
            while passport.lower() not in self.members:
                self._joined.clear()
                await self._joined.wait()

    async def wait_text(self, text: str) -> None:
        """Wait until a text message ``text`` arrived."""
        async with asyncio.timeout(TIMEOUT * 2):
            while not any(t == text for _, t in self.texts):
                self.received.clear()
                await self.received.wait()

    async def send_text(self, text: str) -> None:
        await self.client.cmd("MSG", "N", payload=_text_payload(text))

    async def nudge(self) -> None:
        await self.client.cmd("MSG", "N", payload=NUDGE)

    async def leave(self) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            await self.client.write(b"OUT\r\n")
        if self._reader is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 5)
        await self.client.close()


class RawAccount:
    """A signed-in MSN account on a raw notification connection (MSNP12)."""

    def __init__(self, stack: Any, ns: RawClient, passport: str) -> None:
        self.stack = stack
        self.ns = ns
        self.passport = passport
        self.switchboards: list[RawSwitchboard] = []
        self._replies: asyncio.Queue[Reply] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_ns(), name=f"raw-ns {passport}")
        self.answering = False
        self._answers: set[asyncio.Task[None]] = set()

    @classmethod
    async def login(cls, stack: Any, passport: str, password: str) -> RawAccount:
        """Log in and go online (so that others can invite it). ``stack`` is a
        :class:`tests.support.harness.Stack`; the account is closed with its clients."""
        ns = await login_twn(stack.msn.ns_address, stack.msn.passport_url, passport, password)
        account = cls(stack, ns, passport)
        stack._closers.append(account.close)
        await ns.cmd("CHG", "NLN", "0")
        await account._reply("CHG")
        return account

    async def _read_ns(self) -> None:
        with contextlib.suppress(EOFError, ConnectionError, asyncio.IncompleteReadError):
            while True:
                try:
                    reply = await self.ns.read(timeout=3600)
                except TimeoutError:
                    continue
                if reply.name == "RNG" and self.answering:
                    task = asyncio.create_task(self._answer(reply))
                    self._answers.add(task)
                    task.add_done_callback(self._answers.discard)
                elif reply.name == "CHL":
                    continue  # the stack's server sends no challenges
                else:
                    self._replies.put_nowait(reply)

    async def _reply(self, name: str) -> Reply:
        async with asyncio.timeout(TIMEOUT):
            while True:
                reply = await self._replies.get()
                if reply.name == name:
                    return reply

    def answer_rings(self) -> None:
        """Join every switchboard this account is invited to from now on."""
        self.answering = True

    async def _answer(self, ring: Reply) -> None:
        _, session_id, address, _, cookie, *_ = ring.tokens
        client = await RawClient.connect(address)
        await client.cmd("ANS", self.passport, cookie, session_id)
        sb = RawSwitchboard(client, self.passport)
        self.switchboards.append(sb)
        sb.start_reading()

    async def open_switchboard(self) -> RawSwitchboard:
        """A new switchboard with nobody else in it yet."""
        await self.ns.cmd("XFR", "SB")
        xfr = await self._reply("XFR")
        address, cookie = xfr.tokens[3], xfr.tokens[5]
        client = await RawClient.connect(address)
        await client.cmd("USR", self.passport, cookie)
        ok = await client.read(TIMEOUT)
        assert ok.tokens[:3] == ["USR", str(client.trid), "OK"], ok.line
        sb = RawSwitchboard(client, self.passport)
        self.switchboards.append(sb)
        sb.start_reading()
        return sb

    async def group(self, *invitees: str) -> RawSwitchboard:
        """A new switchboard with ``invitees`` joined, in that order."""
        sb = await self.open_switchboard()
        for passport in invitees:
            await sb.call(passport)
        return sb

    async def set_name(self, name: str) -> None:
        """``PRP MFN``: change the friendly name (watchers get it in NLN)."""
        from urllib.parse import quote

        await self.ns.cmd("PRP", "MFN", quote(name))

    async def close(self) -> None:
        for sb in self.switchboards:
            with contextlib.suppress(Exception):
                await sb.leave()
        self._reader.cancel()
        await self.ns.close()
