"""The switchboard server (SB): conversations between two or more participants."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from dataclasses import dataclass, field
import asyncio
import logging
import secrets
import time

from .framing import ClientCommand, FramingError, LineConnection, encode_name
from .state import Account

if TYPE_CHECKING:
    from .notification import NotificationConnection
    from .server import MSNServer

__all__ = ["DeliveredMessage", "SwitchboardConnection", "SwitchboardSession"]

log = logging.getLogger("msn_server")


@dataclass(frozen=True, slots=True)
class DeliveredMessage:
    """One ``MSG`` a client sent on a switchboard, as the server handled it."""

    session_id: str
    sender: str
    recipients: tuple[str, ...]
    ack_mode: str
    payload: bytes
    delivered: bool
    timestamp: float = field(default_factory=time.time)

    @property
    def body(self) -> bytes:
        """The part after the MIME headers."""
        return self.payload.split(b"\r\n\r\n", 1)[-1]

    @property
    def content_type(self) -> str:
        return _content_type(self.payload)


class SwitchboardSession:
    """A conversation: its participants, keyed by lower-case e-mail address."""

    def __init__(self, server: MSNServer, session_id: str, creator: str) -> None:
        self.server = server
        self.id = session_id
        self.creator = creator
        self.participants: dict[str, SwitchboardConnection] = {}
        self.history: list[str] = []  # every e-mail address that ever joined
        self.last_activity = time.monotonic()
        self.closed = False
        self._idle_task: asyncio.Task[None] | None = None

    @property
    def emails(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.account.email for c in self.participants.values()))

    def has_account(self, key: str) -> bool:
        return any(c.account.key == key for c in self.participants.values())

    def join(self, conn: SwitchboardConnection) -> None:
        self.participants[conn.participant_key] = conn
        self.history.append(conn.account.email)
        self.touch()
        if self._idle_task is None:
            self._idle_task = asyncio.create_task(self._idle_watch())

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    async def leave(self, conn: SwitchboardConnection, *, idle: bool = False) -> None:
        if self.participants.get(conn.participant_key) is not conn:
            return
        del self.participants[conn.participant_key]
        last = not self.has_account(conn.account.key)
        for other in self.participants.values():
            other.send_bye(conn, last=last, idle=idle)
        if not self.participants:
            self.close_session()

    def close_session(self) -> None:
        self.closed = True
        self.server.sb_sessions.pop(self.id, None)
        if self._idle_task is not None and self._idle_task is not asyncio.current_task():
            self._idle_task.cancel()

    async def _idle_watch(self) -> None:
        timeout = self.server.config.sb_idle_timeout
        while not self.closed:
            remaining = self.last_activity + timeout - time.monotonic()
            if remaining > 0:
                await asyncio.sleep(remaining)
                continue
            log.info("SB %s: idle for %.1f s, closing", self.id, timeout)
            members = list(self.participants.values())
            for conn in members:
                others = [m for m in members if m is not conn] or [conn]
                for other in others:
                    conn.send("BYE", other.account.email, 1)
            self.participants.clear()
            self.close_session()
            for conn in members:
                await conn.close()
            return


class SwitchboardConnection:
    """One client connection to the SB."""

    def __init__(self, server: MSNServer, conn: LineConnection) -> None:
        self.server = server
        self.conn = conn
        self._account: Account | None = None
        self.session: SwitchboardSession | None = None
        self.version = 0  # the protocol of the NS connection it came from
        self.machine_guid: str | None = None  # MSNP16+: the endpoint it stands for
        self.ns: NotificationConnection | None = None

    @property
    def participant_key(self) -> str:
        """How the session knows this participant: ``email`` or ``email;{guid}``."""
        key = self.account.key
        return f"{key};{self.machine_guid.lower()}" if self.machine_guid else key

    @property
    def handle(self) -> str:
        """``email`` or ``email;{guid}`` as the others see it (MSNP16+ endpoints)."""
        return (
            f"{self.account.email};{self.machine_guid}"
            if self.machine_guid
            else self.account.email
        )

    def shown_to(self, viewer: SwitchboardConnection) -> str:
        return self.handle if viewer.version >= 16 else self.account.email

    def send_bye(self, gone: SwitchboardConnection, *, last: bool, idle: bool) -> None:
        """``BYE``: per endpoint at MSNP16+ (then the bare address after its last one)."""
        if self.version >= 16 and gone.machine_guid:
            self.send("BYE", gone.handle, 1 if idle else None)
            if last and gone.account.key != self.account.key:
                self.send("BYE", gone.account.email, 1 if idle else None)
        elif last:
            self.send("BYE", gone.account.email, 1 if idle else None)

    def send_joi(self, joiner: SwitchboardConnection, *, first: bool) -> None:
        """``JOI``: per endpoint at MSNP16+ (then the bare address for a new user)."""
        caps = self._caps_of(joiner)
        name = encode_name(joiner.account.name)
        if self.version >= 16 and joiner.machine_guid:
            self.send("JOI", joiner.handle, name, caps)
            if first and joiner.account.key != self.account.key:
                self.send("JOI", joiner.account.email, name, caps)
        elif first:
            self.send("JOI", joiner.account.email, name, caps)

    @property
    def account(self) -> Account:
        assert self._account is not None
        return self._account

    def send(self, *parts: object, payload: bytes | None = None) -> None:
        self.conn.send(*parts, payload=payload)

    async def close(self) -> None:
        await self.conn.drain()
        await self.conn.close()

    async def run(self) -> None:
        try:
            while not self.conn.closed:
                try:
                    command = await self.conn.read_command()
                except FramingError as e:
                    log.info("SB: closing, %s", e)
                    break
                if command is None:
                    break
                if not await self.dispatch(command):
                    break
                await self.conn.drain()
        finally:
            session = self.session
            if session is not None and self._account is not None:
                await session.leave(self)
            await self.conn.close()

    async def dispatch(self, command: ClientCommand) -> bool:
        """Handle one command; False means: close this connection."""
        if self.session is None:
            if command.name == "USR":
                return self._usr(command)
            if command.name == "ANS":
                return self._ans(command)
            return False
        if command.name == "CAL":
            self._cal(command)
            return True
        if command.name == "MSG":
            return self._msg(command)
        if command.name == "OUT":
            return False
        if command.trid is not None:
            self.send(200, command.trid)
            return True
        return False

    def _authenticate(self, command: ClientCommand, session_id: str | None) -> Account | None:
        handle, cookie = command.arg(0), command.arg(1)
        email, _, guid = handle.partition(";")
        ticket = self.server.sb_cookies.pop(cookie, None)
        ns = ticket.endpoint if ticket is not None else None
        if (
            ticket is None
            or ticket.account.key != email.lower()
            or ticket.session_id != session_id
            or ticket.expires < time.monotonic()
            or (guid and (ns is None or (ns.machine_guid or "").lower() != guid.lower()))
        ):
            self.send(911, command.trid)
            return None
        self._account = ticket.account
        if ns is not None:
            self.ns = ns
            self.version = ns.v
            self.machine_guid = ns.machine_guid if ns.v >= 16 else None
        else:
            viewer = self.server.ns_session(email)
            self.version = viewer.v if viewer is not None else 0
        self.server.sb_connections.add(self)
        return ticket.account

    def _usr(self, command: ClientCommand) -> bool:
        account = self._authenticate(command, None)
        if account is None:
            return False
        self.session = self.server.new_sb_session(account)
        self.session.join(self)
        shown = command.arg(0) if self.version >= 16 else account.email
        self.send("USR", command.trid, "OK", shown, encode_name(account.name))
        return True

    def _ans(self, command: ClientCommand) -> bool:
        session_id = command.arg(2)
        session = self.server.sb_sessions.get(session_id)
        account = self._authenticate(command, session_id)
        if account is None:
            return False
        if session is None or session.closed:
            self.send(911, command.trid)
            return False
        if self.machine_guid and self.participant_key in session.participants:
            self.send(911, command.trid)  # this endpoint is there already
            return False
        others = list(session.participants.values())
        first = not session.has_account(account.key)
        roster = self._roster(others)
        for i, (handle, other) in enumerate(roster, 1):
            self.send(
                "IRO", command.trid, i, len(roster), handle, encode_name(other.account.name),
                self._caps_of(other),
            )  # fmt: skip
        self.send("ANS", command.trid, "OK")
        for other in others:
            other.send_joi(self, first=first)
        self.session = session
        session.join(self)
        return True

    def _roster(
        self, others: list[SwitchboardConnection]
    ) -> list[tuple[str, SwitchboardConnection]]:
        """The IRO lines: one per participant below MSNP16; at 16+ one per endpoint, then the
        bare address of each other user."""
        users: dict[str, list[SwitchboardConnection]] = {}
        for other in others:
            users.setdefault(other.account.key, []).append(other)
        lines: list[tuple[str, SwitchboardConnection]] = []
        for key, conns in users.items():
            if self.version >= 16:
                lines += [(c.handle, c) for c in conns if c.machine_guid]
                if key == self.account.key and any(c.machine_guid for c in conns):
                    continue
            lines.append((conns[0].account.email, conns[0]))
        return lines

    def _caps_of(self, other: SwitchboardConnection) -> str | None:
        """Capabilities shown in IRO/JOI, which carry them from MSNP12 on."""
        if self.version < 12:
            return None
        ns = other.ns or self.server.ns_session(other.account.email)
        caps = (ns.capabilities if ns else None) or "0"
        if self.version >= 16:
            return f"{caps}:{(ns.caps_ex if ns else None) or '0'}"
        return caps

    def _cal(self, command: ClientCommand) -> None:
        session = self.session
        assert session is not None
        email = command.arg(0)
        key = email.lower()
        if key == self.account.key and self.version >= 16:
            self._cal_self(command)
            return
        if key in session.participants:
            self.send(215, command.trid)
            return
        target = self.server.directory.get(email)
        ns = self.server.ns_session(email)
        if (
            target is None
            or ns is None
            or ns.status is None
            or ns.visible_status is None
            or not target.allows(self.account.email)
        ):
            self.send(217, command.trid)
            return
        endpoints = self._ringable(key)
        if not endpoints:
            self.send(215, command.trid)  # every endpoint of the user is here already
            return
        self.send("CAL", command.trid, "RINGING", session.id)
        for endpoint in endpoints:
            cookie = self.server.issue_sb_cookie(target, session.id, endpoint)
            endpoint.ring(session.id, cookie, self.account)

    def _ringable(self, key: str) -> list[NotificationConnection]:
        """The signed-in endpoints of an account that are not in the session yet."""
        session = self.session
        assert session is not None
        result = []
        for endpoint in self.server.endpoints.get(key, []):
            if endpoint.closing or endpoint.status is None or endpoint is self.ns:
                continue
            guid = endpoint.machine_guid if endpoint.v >= 16 else None
            if (f"{key};{guid.lower()}" if guid else key) not in session.participants:
                result.append(endpoint)
        return result

    def _cal_self(self, command: ClientCommand) -> None:
        """MSNP16+: a client calls its own address to bring its other endpoints in (Windows
        Live Messenger 2009 does so first). With none to ring, the caller gets a JOI of
        itself, as Escargot answers."""
        session = self.session
        assert session is not None
        endpoints = [e for e in self._ringable(self.account.key) if e.v >= 16]
        self.send("CAL", command.trid, "RINGING", session.id)
        if not endpoints:
            self.send(
                "JOI", self.account.email, encode_name(self.account.name), self._caps_of(self)
            )
            return
        for endpoint in endpoints:
            cookie = self.server.issue_sb_cookie(self.account, session.id, endpoint)
            endpoint.ring(session.id, cookie, self.account)

    def _msg(self, command: ClientCommand) -> bool:
        session = self.session
        assert session is not None
        payload = command.payload or b""
        mode = command.arg(0)
        if mode not in ("U", "N", "A", "D"):
            return False
        if len(payload) > self.server.config.max_sb_body:
            size = len(payload)
            log.info("SB %s: %s sent %d bytes, closing", session.id, self.account.email, size)
            return False
        if mode != "D" and _content_type(payload).split(";")[0].strip().lower() == P2P_TYPE:
            # like Escargot: P2P data must be sent with acknowledgement mode D
            log.info(
                "SB %s: %s sent P2P with mode %s, closing", session.id, self.account.email, mode
            )
            return False
        session.touch()
        # a participant whose connection is gone (dropped, not yet noticed by its read loop)
        # cannot receive: the message is not delivered to it
        recipients = [
            c for c in session.participants.values() if c is not self and not c.conn.closed
        ]
        failing = self.account.key in self.server.nak_senders
        delivered = bool(recipients) and not failing
        if delivered:
            for other in recipients:
                other.send("MSG", self.account.email, encode_name(self.account.name),
                           payload=payload)  # fmt: skip
        if self.server.config.record_messages:
            self.server.messages.append(
                DeliveredMessage(
                    session.id,
                    self.account.email,
                    tuple(c.account.email for c in recipients),
                    mode,
                    payload,
                    delivered,
                )
            )
        escargot = self.server.config.escargot_mode
        if mode in ("A", "D"):
            self.send("ACK" if delivered or (escargot and not failing) else "NAK", command.trid)
        elif mode == "N" and not delivered and not escargot:
            self.send("NAK", command.trid)
        return True


def new_session_id() -> str:
    return str(secrets.randbelow(9 * 10**8) + 10**8)


P2P_TYPE: Final = "application/x-msnmsgrp2p"


def _content_type(payload: bytes) -> str:
    for line in payload.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-type":
            return value.strip().decode("utf-8", errors="replace")
    return ""
