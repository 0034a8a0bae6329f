"""Switchboard (SB) sessions: one conversation with one or more participants."""

from __future__ import annotations

from typing import Final, Protocol
import asyncio
import logging
import time

from .burst import Tally
from .codec import Command, decode_arg, limits
from .config import ClientConfig
from .connection import Connection
from .errors import (
    ConnectionClosed,
    DeliveryFailed,
    MSNPError,
    RemoteProtocolError,
    TransactionTimeout,
)
from .flag import Flag
from .flow import ReadGate
from .message import MAX_MSG_PAYLOAD, Message, build_nudge, build_typing, parse_message, split_text
from .values import DisconnectReason, MessageFormat

__all__ = ["Switchboard", "SwitchboardListener"]

log = logging.getLogger("msnp.sb")

#: Participants kept per switchboard (MSN servers allowed far fewer); later JOIs are ignored.
MAX_MEMBERS: Final = 64


class SwitchboardListener(Protocol):
    def sb_joined(self, sb: Switchboard, passport: str, friendly_name: str) -> None: ...

    def sb_left(self, sb: Switchboard, passport: str, idle_timeout: bool) -> None: ...

    def sb_message(
        self, sb: Switchboard, sender: str, sender_name: str, message: Message
    ) -> None: ...

    def sb_closed(self, sb: Switchboard) -> None: ...


class Switchboard:
    """One switchboard connection. ``key`` is the conversation key the client assigned."""

    __slots__ = (
        "_changed", "_closed_reported", "_had_members", "answering", "busy", "config", "conn",
        "inviter", "key", "last_active", "listener", "login_name", "members", "own_passport",
        "retired", "session_id", "tally",
    )  # fmt: skip

    def __init__(
        self,
        config: ClientConfig,
        own_passport: str,
        listener: SwitchboardListener,
        key: str,
        *,
        gate: ReadGate | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.config = config
        self.tally = tally if tally is not None else Tally(log)
        #: how USR/ANS name us (``own_passport``): at MSNP16+ ``passport;{machine guid}``
        self.login_name = own_passport
        self.own_passport = own_passport.partition(";")[0]
        self.listener = listener
        self.key = key
        #: lower-cased passport -> (passport, friendly name), without ourselves
        self.members: dict[str, tuple[str, str]] = {}
        self.session_id = ""
        #: set by the client while answering an invitation, and who invited us
        self.answering = False
        self.inviter = ""
        #: sends in progress (the client closes a replaced switchboard once this is 0)
        self.busy = 0
        #: replaced by a newer switchboard with the same contact: close when not busy
        self.retired = False
        self.last_active = time.monotonic()
        self._changed = Flag()
        self._had_members = False
        self._closed_reported = False
        self.conn = Connection(
            "SB",
            on_command=self._on_command,
            on_close=self._on_close,
            transaction_timeout=config.transaction_timeout,
            max_line=config.max_line,
            max_payload=config.max_payload,
            payload_limits=limits(MSG=config.max_switchboard_payload),
            gate=gate,
            tally=self.tally,
        )

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def participants(self) -> tuple[str, ...]:
        return tuple(sorted(p for p, _ in self.members.values()))

    @property
    def rung_by_own_endpoint(self) -> bool:
        """Another endpoint of ours (MSNP16+) rang us in and no contact is here yet."""
        return not self.members and self.inviter.lower() == self.own_passport.lower()

    async def connect_outgoing(self, host: str, port: int, cookie: str) -> None:
        """Connect to a switchboard handed out by ``XFR SB`` and authenticate (``USR``)."""
        await self.conn.open(host, port, self.config.connect_timeout)
        self.conn.stage = "SB USR"
        try:
            reply = await self.conn.transaction("USR", (self.login_name, cookie))
            if reply.arg(0) != "OK":
                raise RemoteProtocolError(f"unexpected switchboard USR reply {reply!r}")
            self.conn.stage = "SB"
        except BaseException:
            await self.conn.close()
            raise

    async def connect_incoming(self, host: str, port: int, cookie: str, session_id: str) -> None:
        """Answer an invitation (``RNG``): ``ANS``; the ``IRO`` lines list who is there."""
        self.session_id = session_id
        await self.conn.open(host, port, self.config.connect_timeout)
        self.conn.stage = "SB ANS"
        try:
            await self.conn.transaction("ANS", (self.login_name, cookie, session_id))
            self.conn.stage = "SB"
        except BaseException:
            await self.conn.close()
            raise

    async def call(self, passport: str) -> None:
        """Invite ``passport`` (``CAL``) and wait until they join.

        Raises :class:`MSNPError` (217: offline) or :class:`TransactionTimeout`.
        """
        key = passport.lower()
        if key in self.members:
            return
        try:
            reply = await self.conn.transaction("CAL", (passport,))
            if reply.arg(1):
                self.session_id = reply.arg(1)
        except MSNPError as e:
            if e.code == 215 and key in self.members:
                return
            raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.switchboard_join_timeout
        while key not in self.members:
            if self.conn.closed:
                raise ConnectionClosed("CAL", f"the switchboard closed before {passport} joined")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TransactionTimeout(
                    f"{passport} did not join within {self.config.switchboard_join_timeout:g} s"
                )
            self._changed.clear()
            try:
                if self.conn.gate is None:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                else:
                    with self.conn.gate.awaiting_reply():  # the JOI must be read
                        await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def send_payload(self, payload: bytes, ack: str = "A") -> None:
        """Send one MSG; with ``A``/``D`` wait for ``ACK`` (``NAK`` -> DeliveryFailed)."""
        if len(payload) > MAX_MSG_PAYLOAD:
            raise ValueError(
                f"a {len(payload)}-byte MSG payload exceeds the {MAX_MSG_PAYLOAD}-byte limit"
            )
        if ack not in ("A", "D"):
            await self.conn.send(Command("MSG", self.conn.next_trid(), (ack,), payload))
            return
        reply = await self.conn.transaction(
            "MSG", (ack,), payload, expect=("ACK", "NAK"), timeout=self.config.ack_timeout
        )
        if reply.name == "NAK":
            raise DeliveryFailed("the switchboard could not deliver the message (NAK)")

    async def send_p2p(self, payload: bytes) -> None:
        """One P2P ``MSG`` (mode ``D``, as servers require for P2P); returns on its ``ACK``."""
        await self.send_payload(payload, "D")

    async def send_text(self, text: str, fmt: MessageFormat | None = None) -> None:
        for payload in split_text(text, fmt):
            await self.send_payload(payload, "A")

    async def send_typing(self) -> None:
        await self.send_payload(build_typing(self.own_passport), "U")

    async def send_nudge(self) -> None:
        await self.send_payload(build_nudge(), "N")

    async def leave(self) -> None:
        """``OUT``, then read until the server closes (at most 2 s): a message it delivered
        to us before it saw the ``OUT`` is still received."""
        if not self.conn.closed:
            try:
                await asyncio.wait_for(self.conn.send(Command("OUT")), 2)
                await asyncio.wait_for(self.conn.wait_closed(), 2)
            except (ConnectionClosed, TimeoutError):
                pass
        await self.conn.close(DisconnectReason.CLIENT, "left the conversation")

    # ------------------------------------------------------------ incoming

    def _on_command(self, cmd: Command) -> None:
        if cmd.name == "MSG":
            if len(cmd.args) >= 1:
                name = decode_arg(cmd.arg(1, cmd.args[0]))
                self.listener.sb_message(
                    self, cmd.args[0], name, parse_message(cmd.payload or b"")
                )
        elif cmd.name == "IRO":
            # IRO trid i n passport name [caps]: who was there when we answered; only while
            # our ANS waits for its reply (a stray IRO later would add a phantom participant)
            if len(cmd.args) >= 4 and self.conn.awaits(cmd.trid, "ANS"):
                self._join(cmd.args[2], decode_arg(cmd.args[3]))
        elif cmd.name == "JOI":
            if cmd.args:
                self._join(cmd.args[0], decode_arg(cmd.arg(1, cmd.args[0])))
        elif cmd.name == "BYE":
            # MSNP16+: "BYE email;{guid}" per endpoint, then "BYE email" after the last one
            if cmd.args and ";" not in cmd.args[0]:
                self._bye(cmd.args[0], cmd.arg(1) == "1")
        elif cmd.is_error:
            log.warning("switchboard error %s (trid %s)", cmd.name, cmd.trid)
        else:
            log.debug("unhandled SB command %r", cmd)

    def _join(self, passport: str, name: str) -> None:
        passport = passport.split(";", 1)[0]
        if passport.lower() == self.own_passport.lower():
            return
        if passport.lower() not in self.members and len(self.members) >= MAX_MEMBERS:
            self.tally.hit(
                "members_not_kept",
                "switchboard %s: more than %d participants, %s ignored",
                self.key,
                MAX_MEMBERS,
                passport,
            )
            return
        self.members[passport.lower()] = (passport, name)
        self._had_members = True
        self._changed.set()
        self.listener.sb_joined(self, passport, name)

    def _bye(self, passport: str, idle: bool) -> None:
        passport = passport.split(";", 1)[0]
        entry = self.members.pop(passport.lower(), None)
        self._changed.set()
        if entry is not None:
            self.listener.sb_left(self, entry[0], idle)
        if not self.members and self._had_members:
            self.conn.abort(DisconnectReason.CLIENT, "everybody left")

    def _on_close(self, reason: DisconnectReason, detail: str) -> None:
        self._changed.set()
        if not self._closed_reported:
            self._closed_reported = True
            log.debug("switchboard %s closed: %s", self.key, detail)
            self.listener.sb_closed(self)
