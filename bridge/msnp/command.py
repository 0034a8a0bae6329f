"""MSNP commands: the immutable :class:`Command`, its trid and payload rules, and :func:`encode`.

Also who sends which payload and transaction id, argument encoding, and what of a command may
be logged. Parsing is in :mod:`.parser`; :mod:`.codec` is the public face of both.
"""

from __future__ import annotations

from typing import Final, NamedTuple
from enum import Enum
from urllib.parse import quote, unquote

from .errors import LocalProtocolError

__all__ = [
    "CLIENT_PAYLOAD_COMMANDS",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "REDACTED",
    "SERVER_PAYLOAD_COMMANDS",
    "Command",
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


class Command(NamedTuple):
    """One MSNP command (an immutable named tuple). ``args`` never contains the payload length."""

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
