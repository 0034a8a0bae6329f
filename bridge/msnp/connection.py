"""The one place that owns sockets: a TCP connection speaking MSNP.

A :class:`Connection` is the asyncio protocol of its socket: what arrives feeds a
:class:`~.codec.Parser` and every command goes either to the transaction waiting for it
(matched by transaction id and reply name) or to the ``on_command`` callback. Callbacks are
plain functions run as the bytes arrive: they must not wait for transactions themselves (spawn
a task for that). While the client's read gate is closed, or after :data:`SLICE` of handling,
the socket is not read and the commands already parsed wait (back-pressure, and a fair share
of the event loop). No task runs for an idle connection.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Callable, Collection, Mapping
import asyncio
import errno
import logging
import time

from .burst import Tally
from .codec import Command, Parser, Role, encode
from .errors import (
    ConnectionClosed,
    MSNPError,
    ProtocolError,
    RemoteProtocolError,
    TransactionTimeout,
)
from .flag import Flag
from .flow import ReadGate
from .values import DisconnectReason

__all__ = ["TRACE", "Connection", "parse_address"]

#: Log level of the wire log (below DEBUG).
TRACE: Final = 5
#: The read loop lets other tasks run after handling commands for this long (seconds): a
#: 64 KB read of small commands must not hold the event loop for tens of milliseconds.
SLICE: Final = 0.005
logging.addLevelName(TRACE, "TRACE")

log = logging.getLogger("msnp.connection")
wire_log = logging.getLogger("msnp.wire")

CommandHandler = Callable[[Command], None]
CloseHandler = Callable[[DisconnectReason, str], None]


def parse_address(address: str, default_port: int = 1863) -> tuple[str, int]:
    """``host:port`` -> (host, port); a missing port means ``default_port``."""
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, str(default_port)
    host = host.strip("[]")
    # servers hand out addresses in XFR/RNG: anything a socket cannot take is a protocol error
    # (an out-of-range port would raise OverflowError, a NUL ValueError, deep in asyncio)
    if (
        not host
        or not host.isprintable()
        or " " in host
        or not (port.isascii() and port.isdigit() and 0 < int(port) <= 65535)
    ):
        raise RemoteProtocolError(f"bad server address {address!r}")
    return host, int(port)


def _redact(command: Command) -> str:
    """Render a command for the wire log (its repr leaves secrets out: see
    :func:`~.codec.loggable_args`)."""
    return repr(command)


class Connection(asyncio.Protocol):
    """One MSNP TCP connection with transaction handling."""

    __slots__ = (
        "_close_detail", "_closed", "_closed_event", "_drained", "_gone", "_lost", "_paused",
        "_pending", "_resume", "_transport", "_trid", "close_reason", "gate", "name",
        "on_close", "on_command", "parser", "peer", "peer_ip", "stage", "tally",
        "transaction_timeout",
    )  # fmt: skip

    def __init__(
        self,
        name: str,
        *,
        on_command: CommandHandler | None = None,
        on_close: CloseHandler | None = None,
        transaction_timeout: float = 20.0,
        max_line: int | None = None,
        max_payload: int | None = None,
        payload_limits: Mapping[str, int] | None = None,
        gate: ReadGate | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.name = name
        self.on_command = on_command
        self.on_close = on_close
        self.transaction_timeout = transaction_timeout
        kwargs: dict[str, int] = {}
        if max_line is not None:
            kwargs["max_line"] = max_line
        if max_payload is not None:
            kwargs["max_payload"] = max_payload
        self.parser = Parser(Role.CLIENT, payload_limits=payload_limits, **kwargs)
        #: commands are read from the socket only while this gate is open (back-pressure)
        self.gate = gate
        self.tally = tally if tally is not None else Tally(log)
        #: What the session is doing; reported in :class:`ConnectionClosed`.
        self.stage = "connect"
        self.peer = ""
        #: the address the socket reached (IP), once connected
        self.peer_ip = ""
        self._transport: asyncio.Transport | None = None
        self._lost: tuple[DisconnectReason, str] | None = None  # the socket is gone: why
        self._gone: asyncio.Future[None] | None = None  # done once the socket is gone
        self._paused = False  # we stopped reading (commands wait in the parser)
        self._resume: asyncio.Handle | asyncio.Task[None] | None = None  # ... until this runs
        self._drained: Flag | None = None  # while the socket's write buffer is full
        self._trid = 0
        self._pending: dict[int, tuple[asyncio.Future[Command], frozenset[str], str]] = {}
        self._closed = False
        self._close_detail = ""
        self.close_reason: DisconnectReason | None = None
        self._closed_event: Flag | None = None  # made when someone waits

    @property
    def version(self) -> int | None:
        return self.parser.version

    @version.setter
    def version(self, value: int | None) -> None:
        self.parser.version = value

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self, host: str, port: int, timeout: float) -> None:
        """Connect; raises :class:`OSError` (incl. ``TimeoutError``) when unreachable."""
        self.peer = f"{host}:{port}"
        loop = asyncio.get_running_loop()
        try:
            try:
                await asyncio.wait_for(loop.create_connection(lambda: self, host, port), timeout)
            except BaseException:
                # a socket made just before the timeout closes without calling on_close: this
                # connection never opened
                self._closed = True
                raise
        except TimeoutError as e:
            raise TimeoutError(f"connecting to {self.peer} timed out after {timeout} s") from e
        except OSError as e:
            raise OSError(e.errno, f"cannot connect to {self.peer}: {e.strerror or e}") from e
        except (OverflowError, ValueError) as e:  # port out of range, NUL in the host name
            raise OSError(errno.EINVAL, f"cannot connect to {self.peer}: {e}") from e
        log.debug("%s connected to %s", self.name, self.peer)

    # region the protocol's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple) and peername:
            self.peer_ip = str(peername[0])

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
        except ProtocolError as e:
            self._protocol_error(e)
            return
        if self._resume is None:
            self._handle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if exc is None:
            self._lost = (DisconnectReason.CONNECTION_LOST, "connection closed by the server")
        else:
            self._lost = (DisconnectReason.CONNECTION_LOST, f"connection lost: {exc}")
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)
        self.resume_writing()  # (the writers waiting find the connection gone)
        if self._resume is None:  # else what was read is handled first, then it closes
            self._shutdown(*self._lost)

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = Flag()

    def resume_writing(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None:
            drained.set()

    # endregion

    def next_trid(self) -> int:
        self._trid += 1
        return self._trid

    async def send(self, command: Command) -> None:
        """Write one command (raises :class:`ConnectionClosed` once closed)."""
        data = encode(command)
        transport = self._transport
        if self._closed or transport is None or transport.is_closing():
            detail = self._close_detail or (self._lost[1] if self._lost else "not connected")
            raise ConnectionClosed(self.stage, detail)
        if wire_log.isEnabledFor(TRACE):
            wire_log.log(TRACE, "%s %s >> %s", self.name, self.peer, _redact(command))
        transport.write(data)
        while self._drained is not None:  # (the socket's buffer is full: wait until it drains)
            await self._drained.wait()
        if self._transport is None:  # the socket went away while its buffer drained
            detail = self._lost[1] if self._lost is not None else self._close_detail
            raise ConnectionClosed(self.stage, f"write failed: {detail}")

    async def transaction(
        self,
        name: str,
        args: tuple[str, ...] = (),
        payload: bytes | None = None,
        *,
        expect: Collection[str] | None = None,
        timeout: float | None = None,
    ) -> Command:
        """Send ``name trid args`` and return the reply with that trid.

        ``expect`` lists the reply names accepted (default: ``name``); other commands that
        happen to carry the same trid (``ILN`` after ``CHG``, ``IRO`` before ``ANS``) go to
        ``on_command``. A numeric reply raises :class:`MSNPError`.
        """
        trid = self.next_trid()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Command] = loop.create_future()
        self._pending[trid] = (future, frozenset(expect or (name,)), name)
        try:
            await self.send(Command(name, trid, args, payload))
            wait = self.transaction_timeout if timeout is None else timeout
            try:
                if self.gate is None:
                    return await asyncio.wait_for(future, wait)
                with self.gate.awaiting_reply():
                    return await asyncio.wait_for(future, wait)
            except TimeoutError as e:
                raise TransactionTimeout(
                    f"no reply to {name} from {self.name} within {wait:g} s"
                ) from e
        finally:
            self._pending.pop(trid, None)

    async def settle(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the replies to the transactions in flight."""
        futures = [future for future, _, _ in self._pending.values()]
        if futures:
            await asyncio.wait(futures, timeout=timeout)

    def awaits(self, trid: int | None, name: str) -> bool:
        """Whether a ``name`` transaction with ``trid`` is still waiting for its reply."""
        pending = self._pending.get(trid) if trid is not None else None
        return pending is not None and pending[2] == name

    def _dispatch(self, command: Command) -> None:
        if command.trid is not None and command.trid in self._pending:
            future, expect, sent = self._pending[command.trid]
            code = command.error_code
            if code is not None or command.name in expect:
                del self._pending[command.trid]
                if not future.done():
                    if code is not None:
                        future.set_exception(MSNPError(code, command=sent))
                    else:
                        future.set_result(command)
                return
        if self.on_command is not None:
            try:
                self.on_command(command)
            except Exception:
                log.exception("%s: error handling %r", self.name, command)

    def _handle(self) -> None:
        """Hand out the commands parsed so far: until none is left (then read on), the gate
        closes or :data:`SLICE` is over (then stop reading, and go on once it opens, or after
        the other callbacks ready to run)."""
        self._resume = None
        gate = self.gate
        slice_end = time.monotonic() + SLICE
        try:
            while not self._closed:
                if gate is not None and not gate.is_open:
                    self._hold(asyncio.ensure_future(gate.wait()))
                    return
                if time.monotonic() > slice_end:
                    self._hold(asyncio.get_running_loop().call_soon(self._handle))
                    return
                command = self.parser.next_command()
                if command is None:
                    break
                if wire_log.isEnabledFor(TRACE):
                    wire_log.log(TRACE, "%s %s << %s", self.name, self.peer, _redact(command))
                if command.dropped:
                    self.tally.hit(
                        "payloads_dropped",
                        "%s %s: dropped a %d-byte %s payload (over its size limit)",
                        self.name,
                        self.peer,
                        command.dropped,
                        command.name,
                    )
                    continue
                self._dispatch(command)
        except ProtocolError as e:
            self._protocol_error(e)
            return
        if self._lost is not None:
            self._shutdown(*self._lost)
        elif self._paused and not self._closed and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def _hold(self, resume: asyncio.Handle | asyncio.Task[None]) -> None:
        """Stop reading until ``resume`` (a callback or the gate's opening) goes on."""
        if isinstance(resume, asyncio.Task):
            resume.add_done_callback(lambda _: self._handle() if not self._closed else None)
        self._resume = resume
        if not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def _protocol_error(self, error: ProtocolError) -> None:
        detail = f"protocol error: {error}"
        log.warning("%s %s: %s", self.name, self.peer, detail)
        self._shutdown(DisconnectReason.PROTOCOL_ERROR, detail)

    def _shutdown(self, reason: DisconnectReason, detail: str) -> None:
        if self._closed:
            return
        self._closed = True
        self.close_reason = reason
        self._close_detail = detail
        log.debug("%s %s closed (%s): %s", self.name, self.peer, reason.value, detail)
        if self._resume is not None:
            self._resume.cancel()
            self._resume = None
        if self._transport is not None:
            self._transport.close()  # (what was written goes out first)
        for future, _, _ in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionClosed(self.stage, detail))
        self._pending.clear()
        if self._closed_event is not None:
            self._closed_event.set()
        if self.on_close is not None:
            try:
                self.on_close(reason, detail)
            except Exception:
                log.exception("%s: error in close handler", self.name)

    def abort(self, reason: DisconnectReason, detail: str) -> None:
        """Close without waiting (usable from callbacks)."""
        self._shutdown(reason, detail)

    async def close(
        self, reason: DisconnectReason = DisconnectReason.CLIENT, detail: str = "closed by us"
    ) -> None:
        self._shutdown(reason, detail)
        if self._transport is not None:  # (the socket is not gone yet)
            if self._gone is None:
                self._gone = asyncio.get_running_loop().create_future()
            try:
                # shielded: a timeout (or a cancelled caller) must not cancel the one future
                # another caller of close() may be waiting on too
                await asyncio.wait_for(asyncio.shield(self._gone), 2)
            except TimeoutError:
                pass

    async def wait_closed(self) -> None:
        if self._closed:
            return
        if self._closed_event is None:
            self._closed_event = Flag()
        await self._closed_event.wait()
