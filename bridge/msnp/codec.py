"""Sans-IO MSNP codec: bytes in, frozen :class:`Command` objects out, and back.

Nothing here touches a socket or an event loop. A :class:`Parser` only buffers what it is
fed (``feed``) and hands out complete commands (``next_command``, ``None`` meaning "need
more data"); :func:`encode` turns a command into the bytes to send.

Wire format: ``NAME [trid] arg arg ...\\r\\n``. Payload commands (``MSG``, ``UBX``, ...)
carry their payload's byte length as the last argument and the payload follows the line.
In a :class:`Command` that length is not kept in ``args``: ``payload`` holds the bytes and
:func:`encode` appends the length again. Errors are commands whose name is three digits.

Whether the first argument is a transaction id depends on who sent the line and, for a
few list commands, on the protocol version; the parser therefore knows its ``role`` (the
side it parses *for*) and can be told the negotiated ``version``.

Sizes are capped twice: a payload announced above ``max_payload`` (or a line above
``max_line``) breaks the stream (:class:`ProtocolError`); a payload above its command's entry
in ``payload_limits`` is skipped unread — the command comes out with ``payload=None`` and
``dropped`` set to the number of bytes discarded — so that one oversized message does not end
the session.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, unquote

from .errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "REDACTED",
    "Command",
    "Parser",
    "Role",
    "decode_arg",
    "encode",
    "encode_arg",
    "loggable_args",
]

DEFAULT_MAX_LINE: Final = 16 * 1024
DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024


class Role(Enum):
    """Which side a :class:`Parser` works for: a CLIENT parses what servers send."""

    CLIENT = "client"
    SERVER = "server"


#: Commands that carry a payload, by the side that *sends* them.
SERVER_PAYLOAD_COMMANDS: Final = frozenset(
    {"MSG", "NOT", "IPG", "UBX", "GCF", "UBN", "UBM", "ADL", "RML", "FQY", "UUX", "SDG", "NFY"}
)
CLIENT_PAYLOAD_COMMANDS: Final = frozenset(
    {"MSG", "QRY", "UUX", "ADL", "RML", "FQY", "UUN", "PAG", "SDC", "SDG", "PUT"}
)

#: Payload commands whose length may not be left out (the others have payload-less replies,
#: e.g. ``ADL 5 OK``).
_MANDATORY_PAYLOAD: Final = frozenset({"MSG", "NOT", "IPG", "UBX", "UBN", "UBM", "QRY", "UUN"})

#: Server-sent commands that never carry a transaction id.
# fmt: off
_SERVER_NO_TRID: Final = frozenset(
    {"NLN", "FLN", "UBX", "JOI", "BYE", "OUT", "QNG", "BPR", "NOT", "RNG", "UBN", "UBM", "MSG",
     "IPG", "NFY", "SDG"}
)
# fmt: on
#: Server-sent list commands that lost their transaction id at MSNP8.
_SERVER_NO_TRID_FROM_8: Final = frozenset({"LST", "LSG"})


def _is_uint(token: str) -> bool:
    return token.isascii() and token.isdigit()


@dataclass(frozen=True, slots=True)
class Command:
    """One MSNP command. ``args`` never contains the payload length."""

    name: str
    trid: int | None = None
    args: tuple[str, ...] = ()
    payload: bytes | None = None
    #: payload bytes skipped unread because they exceeded the command's size limit
    dropped: int = 0

    @property
    def is_error(self) -> bool:
        return len(self.name) == 3 and _is_uint(self.name)

    @property
    def error_code(self) -> int | None:
        return int(self.name) if self.is_error else None

    def arg(self, index: int, default: str = "") -> str:
        """``args[index]``, or ``default`` when the server sent fewer arguments."""
        return self.args[index] if -len(self.args) <= index < len(self.args) else default

    def __repr__(self) -> str:
        # The trid is marked so that "ACK trid=4" and "QNG 4" (an argument) look different.
        # Secrets are left out, so that no log line or error message can carry one.
        parts = [self.name]
        if self.trid is not None:
            parts.append(f"trid={self.trid}")
        parts.extend(loggable_args(self))
        if self.payload is not None:
            parts.append(f"+{len(self.payload)} bytes")
        if self.dropped:
            parts.append(f"({self.dropped} bytes dropped)")
        return f"<Command {' '.join(parts)}>"


#: Authentication methods whose ``USR method S|A secret...`` carries a hash or a ticket.
_AUTH_METHODS: Final = frozenset({"MD5", "TWN", "SSO", "SHA"})
REDACTED: Final = "<redacted>"


def loggable_args(command: Command) -> tuple[str, ...]:
    """``command.args`` without secrets: the password hash, Passport ticket and MBI answer of
    ``USR``, switchboard cookies (``USR``/``ANS`` on a switchboard, ``XFR``/``RNG`` after
    ``CKI``). Payloads are never shown in full anyway."""
    args = list(command.args)
    if command.name == "USR" and len(args) >= 2 and args[0] != "OK":
        if args[0].upper() in _AUTH_METHODS:
            if args[1] in ("S", "A") and len(args) > 2:
                args[2:] = [REDACTED]
        else:
            args[1] = REDACTED  # USR trid passport cookie (switchboard)
    elif command.name == "ANS" and len(args) >= 2:
        args[1] = REDACTED  # ANS trid passport cookie session-id
    elif command.name in ("XFR", "RNG") and "CKI" in args:
        i = args.index("CKI")
        if i + 1 < len(args):
            args[i + 1] = REDACTED
    return tuple(args)


def encode_arg(value: str) -> str:
    """URL-encode an argument (spaces, ``%`` and non-ASCII) the way MSN clients do."""
    return quote(value, safe="!#$&'()*+,-./:;=?@[]^_`{|}~")


def decode_arg(value: str) -> str:
    """Undo :func:`encode_arg`; malformed escapes are left as they are."""
    return unquote(value, errors="replace") if "%" in value else value


def _check_token(token: str, what: str) -> None:
    if not token or any(c in token for c in " \r\n\t\0"):
        raise LocalProtocolError(f"{what} {token!r} cannot be sent: empty or has white space")


def encode(command: Command) -> bytes:
    """Serialize a command; payload commands get their byte length appended."""
    name = command.name
    if not (1 <= len(name) <= 3 and name.isascii() and name.isalnum()):
        raise LocalProtocolError(f"invalid command name {name!r}")
    parts = [name]
    if command.trid is not None:
        if command.trid < 0:
            raise LocalProtocolError(f"negative transaction id {command.trid}")
        parts.append(str(command.trid))
    for arg in command.args:
        _check_token(arg, "argument")
        parts.append(arg)
    if command.payload is not None:
        parts.append(str(len(command.payload)))
    try:
        line = " ".join(parts).encode("ascii")
    except UnicodeEncodeError as e:
        raise LocalProtocolError(f"non-ASCII argument in {name}: URL-encode it first") from e
    if command.payload is None:
        return line + b"\r\n"
    return line + b"\r\n" + command.payload


def _decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Parser:
    """Incremental MSNP parser with bounded buffers.

    ``feed()`` appends bytes; ``next_command()`` returns the next complete command or
    ``None``. After a :class:`ProtocolError` the parser refuses further input: the stream
    is out of sync and the connection should be closed.
    """

    def __init__(
        self,
        role: Role = Role.CLIENT,
        *,
        version: int | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        payload_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.role = role
        self.version = version
        self.max_line = max_line
        self.max_payload = max_payload
        #: per-command caps below ``max_payload``: larger payloads are skipped, not buffered
        self.payload_limits: Mapping[str, int] = dict(payload_limits or {})
        self._skip = 0
        self._buf = bytearray()
        self._pending: tuple[str, int | None, tuple[str, ...], int] | None = None
        self._error: RemoteProtocolError | None = None
        self._payload_commands = (
            SERVER_PAYLOAD_COMMANDS if role is Role.CLIENT else CLIENT_PAYLOAD_COMMANDS
        )

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned as commands."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            # re-raising the same instance would keep growing its traceback (and the frames it
            # references) on every call: start it afresh each time
            raise self._error.with_traceback(None)
        if self._skip and not self._buf:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        self._buf += data

    def __iter__(self) -> Iterator[Command]:
        while (command := self.next_command()) is not None:
            yield command

    def _fail(self, message: str) -> RemoteProtocolError:
        self._error = RemoteProtocolError(message)
        self._buf.clear()
        self._pending = None
        self._skip = 0
        return self._error

    def next_command(self) -> Command | None:
        if self._error is not None:
            raise self._error.with_traceback(None)
        if self._skip:
            skipped = min(self._skip, len(self._buf))
            del self._buf[:skipped]
            self._skip -= skipped
            if self._skip:
                return None
        while self._pending is None:
            end = self._buf.find(b"\n", 0, self.max_line + 2)
            if end < 0:
                if len(self._buf) > self.max_line + 1:
                    raise self._fail(f"line longer than {self.max_line} bytes")
                return None
            raw = bytes(self._buf[:end])
            del self._buf[: end + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self.max_line:
                raise self._fail(f"line longer than {self.max_line} bytes")
            if not raw.strip():
                continue  # a blank line carries nothing; skip it
            command = self._parse_line(raw)
            if command is not None:
                return command
        assert self._pending is not None
        name, trid, args, length = self._pending
        if len(self._buf) < length:
            return None
        payload = bytes(self._buf[:length])
        del self._buf[:length]
        self._pending = None
        return Command(name, trid, args, payload)

    def _has_trid(self, name: str, tokens: list[str]) -> bool:
        if not tokens or not _is_uint(tokens[0]) or len(tokens[0]) > 10:
            return False
        if self.role is Role.SERVER:
            return True
        if name in _SERVER_NO_TRID:
            return False
        # LST/LSG lost their trid at MSNP8 (the first argument may then be a numeric group id)
        return not (name in _SERVER_NO_TRID_FROM_8 and (self.version or 0) >= 8)

    def _parse_line(self, raw: bytes) -> Command | None:
        """Parse a header line; return the command, or None when a payload must follow."""
        text = _decode_line(raw)
        tokens = text.split(" ")
        name = tokens[0]
        if not name or len(name) > 3 or not name.isascii() or not name.isalnum():
            raise self._fail(f"malformed command line {text[:80]!r}")
        rest = [t for t in tokens[1:] if t]
        # "QRY 10" from the server and "ADL 5 OK" have no payload; the last token decides.
        is_payload = name in self._payload_commands and not (rest and not _is_uint(rest[-1]))
        if is_payload and rest:
            length_token = rest.pop()
            if len(length_token) > 12:
                raise self._fail(f"{name} announces an absurd payload length {length_token[:20]}")
            length = int(length_token)
            if length > self.max_payload:
                raise self._fail(
                    f"{name} announces a {length}-byte payload (limit {self.max_payload})"
                )
        elif name in self._payload_commands and name in _MANDATORY_PAYLOAD:
            raise self._fail(f"{name} without a payload length: {text[:80]!r}")
        else:
            is_payload = False
            length = 0
        trid: int | None = None
        if self._has_trid(name, rest):
            trid = int(rest.pop(0))
        if is_payload:
            limit = self.payload_limits.get(name)
            if limit is not None and length > limit:
                self._skip = length
                return Command(name, trid, tuple(rest), None, dropped=length)
            self._pending = (name, trid, tuple(rest), length)
            return None
        return Command(name, trid, tuple(rest))
