"""Server-side MSNP framing: read client commands from a stream, write server lines.

This is deliberately independent of :mod:`bridge.msnp` so that the test server cannot share
a bug with the client library it tests. Every client command carries a transaction id except
``PNG`` and ``OUT``; the payload commands (``MSG``, ``QRY``, ``UUX``, ...) end with the byte
length of the payload that follows the line.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from urllib.parse import quote, unquote
import asyncio
import functools
import logging

__all__ = [
    "CLIENT_PAYLOAD_COMMANDS",
    "ClientCommand",
    "FramingError",
    "LineConnection",
    "decode_name",
    "encode_name",
]

CLIENT_PAYLOAD_COMMANDS: Final = frozenset(
    {"MSG", "QRY", "UUX", "ADL", "RML", "FQY", "UUN", "UUM", "PUT", "SDG"}
)
_NO_TRID: Final = frozenset({"PNG", "OUT"})

log = logging.getLogger("msn_server")


class FramingError(Exception):
    """The client sent something that cannot be framed; the connection must be closed."""


@dataclass(frozen=True, slots=True)
class ClientCommand:
    name: str
    trid: int | None
    args: tuple[str, ...]
    payload: bytes | None = None

    def arg(self, index: int, default: str = "") -> str:
        return self.args[index] if -len(self.args) <= index < len(self.args) else default


@functools.lru_cache(maxsize=1 << 16)
def encode_name(value: str) -> str:
    """URL-encode a friendly name or group name for the wire (cached: the same names are
    sent over and over in lists and presence)."""
    return quote(value, safe="!#$&'()*+,-./:;=?@[]^_`{|}~")


def decode_name(value: str) -> str:
    return unquote(value, errors="replace") if "%" in value else value


def parse_line(raw: bytes) -> tuple[str, int | None, list[str], int | None]:
    """Split a client line into (name, trid, args, payload length or None)."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    tokens = [t for t in text.split(" ") if t]
    if not tokens:
        raise FramingError("empty command line")
    name = tokens[0]
    if not (1 <= len(name) <= 3 and name.isascii() and name.isalnum()):
        raise FramingError(f"malformed command line {text[:80]!r}")
    rest = tokens[1:]
    length: int | None = None
    if name in CLIENT_PAYLOAD_COMMANDS and rest and rest[-1].isdigit():
        token = rest.pop()
        if len(token) > 9:
            raise FramingError(f"absurd payload length in {name}")
        length = int(token)
    elif name in {"MSG", "QRY", "UUX"}:
        raise FramingError(f"{name} without a payload length")
    trid: int | None = None
    if name not in _NO_TRID and rest and rest[0].isdigit() and len(rest[0]) <= 10:
        trid = int(rest.pop(0))
    return name, trid, rest, length


class LineConnection:
    """A stream pair speaking MSNP lines, with logging of every line in and out."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        label: str,
        max_line: int = 16 * 1024,
        max_payload: int = 1024 * 1024,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.label = label
        self.max_line = max_line
        self.max_payload = max_payload
        peer = writer.get_extra_info("peername")
        self.peer: tuple[str, int] = (peer[0], peer[1]) if peer else ("127.0.0.1", 0)
        self.closed = False
        #: lines written in this turn of the event loop, sent together by :meth:`flush`
        self._pending: list[bytes] = []

    async def read_command(self) -> ClientCommand | None:
        """The next client command, or None at end of stream."""
        while True:
            try:
                raw = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                return None
            except asyncio.LimitOverrunError as e:
                raise FramingError("line too long") from e
            except (ConnectionError, OSError):
                return None
            if len(raw) > self.max_line + 2:
                raise FramingError("line too long")
            if raw.strip():
                break
        name, trid, args, length = parse_line(raw)
        payload: bytes | None = None
        if length is not None:
            if length > self.max_payload:
                raise FramingError(f"payload of {length} bytes is too large")
            try:
                payload = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                return None
        command = ClientCommand(name, trid, tuple(args), payload)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <<< %s", self.label, _describe(raw, payload, incoming=True))
        return command

    def send(self, *parts: object, payload: bytes | None = None) -> None:
        """Send one line built from ``parts`` (None parts are skipped)."""
        tokens = [str(p) for p in parts if p is not None]
        if payload is not None:
            tokens.append(str(len(payload)))
        line = (" ".join(tokens) + "\r\n").encode("utf-8")
        self.send_raw(line + (payload or b""), described=(line, payload))

    def send_raw(
        self, data: bytes, *, described: tuple[bytes, bytes | None] | None = None
    ) -> None:
        if self.closed or self.writer.is_closing():
            return
        if log.isEnabledFor(logging.DEBUG):
            text = _describe(*described) if described else repr(data[:200])
            log.debug("%s >>> %s", self.label, text)
        if not self._pending:
            asyncio.get_running_loop().call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        """Write the buffered lines in one go (one system call instead of one per line)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if self.closed or self.writer.is_closing():
            return
        try:
            self.writer.write(data)
        except (ConnectionError, OSError, RuntimeError):
            self.closed = True

    async def drain(self) -> None:
        self.flush()
        try:
            await self.writer.drain()
        except (ConnectionError, OSError, RuntimeError):
            self.closed = True

    async def close(self) -> None:
        if self.closed and self.writer.is_closing():
            return
        self.flush()
        self.closed = True
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (ConnectionError, OSError, RuntimeError, TimeoutError):
            pass

    def abort(self) -> None:
        """Close abruptly (no FIN handshake from our side), as a dying server would. What was
        written before is sent first (a real server's writes reach the socket at once; only
        our batching of one loop turn's lines delays them)."""
        self.flush()
        self.closed = True
        self._pending.clear()
        transport = self.writer.transport
        if transport is not None:
            transport.abort()


_SECRET_USR: Final = frozenset({("TWN", "S"), ("MD5", "S")})


def _describe(line: bytes, payload: bytes | None, *, incoming: bool = False) -> str:
    """A log-safe rendering: tickets, password hashes and MSPAuth are hidden."""
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    tokens = text.split(" ")
    if (
        incoming
        and len(tokens) >= 5
        and tokens[0] == "USR"
        and (tokens[2], tokens[3]) in (_SECRET_USR)
    ):
        text = " ".join([*tokens[:4], "<secret>"])
    if payload is None:
        return text
    if b"MSPAuth" in payload:
        return f"{text} <profile, {len(payload)} bytes>"
    shown = payload[:200].decode("utf-8", errors="replace")
    more = "..." if len(payload) > 200 else ""
    return f"{text} | {shown!r}{more}"
