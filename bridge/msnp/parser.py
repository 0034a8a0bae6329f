"""The incremental MSNP parser: bytes in, :class:`~.command.Command` objects out, with bounded
buffers (see :mod:`.codec` for the wire format and the size caps)."""

from __future__ import annotations

from typing import Final
from collections.abc import Iterator, Mapping
from types import MappingProxyType
import functools

from .command import (
    _MANDATORY_PAYLOAD,
    _SERVER_NO_TRID,
    _SERVER_NO_TRID_FROM_8,
    CLIENT_PAYLOAD_COMMANDS,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_PAYLOAD,
    SERVER_PAYLOAD_COMMANDS,
    Command,
    Role,
)
from .errors import RemoteProtocolError

__all__ = ["Parser", "limits"]


# Per-name flags of the parser's table (one dict lookup per line tells it everything).
_PAYLOAD: Final = 1  # carries a payload when the last token is a length
_MANDATORY: Final = 2  # ... and may not leave the length out
_NO_TRID: Final = 4  # never carries a transaction id
_NO_TRID_FROM_8: Final = 8  # carries none from MSNP8 on
#: Names known up front skip the name check (any other valid name works too), as do error codes.
# fmt: off
_COMMON_NAMES: Final = frozenset(
    {"VER", "CVR", "INF", "USR", "XFR", "SYN", "GTC", "BLP", "PRP", "LSG", "LST", "BPR", "CHG",
     "ILN", "NLN", "FLN", "UBX", "UUX", "REA", "ADD", "ADC", "ADG", "REM", "RMG", "REG", "CHL",
     "QRY", "QNG", "PNG", "RNG", "NOT", "OUT", "MSG", "CAL", "JOI", "IRO", "ANS", "ACK", "NAK",
     "BYE", "SBS", "GCF", "UBN", "UBM", "UUN", "ADL", "RML", "FQY", "IPG", "NFY", "SDG", "SDC",
     "PAG", "PUT", "URL", "SND", "UUM", "RFS", "FND"}
)
# fmt: on


def _table(role: Role) -> dict[str, int]:
    client = role is Role.CLIENT  # parses what servers send
    payload = SERVER_PAYLOAD_COMMANDS if client else CLIENT_PAYLOAD_COMMANDS
    no_trid = _SERVER_NO_TRID if client else frozenset()
    no_trid_8 = _SERVER_NO_TRID_FROM_8 if client else frozenset()
    return {
        name: (_PAYLOAD if name in payload else 0)
        | (_MANDATORY if name in payload and name in _MANDATORY_PAYLOAD else 0)
        | (_NO_TRID if name in no_trid else 0)
        | (_NO_TRID_FROM_8 if name in no_trid_8 else 0)
        for name in _COMMON_NAMES
        | payload
        | no_trid
        | no_trid_8
        | {f"{n:03}" for n in range(1000)}
    }


_TABLES: Final = {role: _table(role) for role in Role}
#: What ``bytes.strip()`` removes: an all-white line is skipped.
_ASCII_WHITE: Final = " \t\n\r\x0b\x0c"

_NO_LIMITS: Final[Mapping[str, int]] = MappingProxyType({})


@functools.lru_cache(maxsize=256)
def limits(**per_command: int) -> Mapping[str, int]:
    """A read-only ``payload_limits`` mapping, one object for all parsers with these limits."""
    return MappingProxyType(per_command)


#: Builds a command from a ready tuple, without the keyword handling of ``Command(...)``.
_tuple_new = tuple.__new__


class Parser:
    """Incremental MSNP parser with bounded buffers.

    ``feed()`` appends bytes; ``next_command()`` returns the next complete command or
    ``None``. After a :class:`RemoteProtocolError` the parser refuses further input: the stream
    is out of sync and the connection should be closed.

    Speed (``bench/codec.py``): the buffer is the fed ``bytes`` object itself (a short cut-off
    tail is joined to the next feed; only a long one, a large payload arriving piecemeal, grows
    a ``bytearray`` in place, so no byte is copied more than a few times), lines are cut from
    one latin-1 ``str`` of it (an ASCII line needs no decoding of its own) and one dict lookup
    per line gives the name's trid and payload rules. A line cut by a read is searched for its
    end only in the bytes that arrive later. Nothing parsed is kept: an idle parser holds
    nothing.
    """

    __slots__ = (
        "_buf", "_error", "_gen", "_pending", "_pos", "_scanned", "_skip", "_table", "_text",
        "max_line", "max_payload", "payload_limits", "role", "version",
    )  # fmt: skip

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
        #: (used as given: share one read-only mapping among parsers, see :func:`limits`)
        self.payload_limits: Mapping[str, int] = payload_limits or _NO_LIMITS
        self._skip = 0  # payload bytes still to be skipped unread
        self._gen: Iterator[Command] | None = None  # the one next_command() is using
        self._buf: bytes | bytearray = b""
        self._pos = 0  # start of what is not parsed yet
        self._scanned = 0  # the line starting at _pos has no newline before this index
        self._pending: tuple[str, int | None, tuple[str, ...], int] | None = None
        self._error: RemoteProtocolError | None = None
        self._text: str | None = None  # _buf decoded as latin-1, made when needed
        self._table = _TABLES[role]

    @property
    def buffered(self) -> int:
        """Bytes fed but not yet returned as commands."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            # re-raising the same instance would keep growing its traceback (and the frames it
            # references) on every call: start it afresh each time
            raise self._error.with_traceback(None)
        buf = self._buf
        pos = self._pos
        rest = len(buf) - pos
        self._text = None
        if self._skip and rest <= 0:
            skipped = min(self._skip, len(data))
            self._skip -= skipped
            data = data[skipped:]
        if rest <= 0:
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = self._scanned = 0
        elif rest <= len(data):
            # a short tail (a line cut by the read): one new bytes object costs at most twice
            # what was fed, and slices of bytes are cheaper than slices of a bytearray
            self._buf = b"".join((memoryview(buf)[pos:], data))
            self._pos = 0
            self._scanned -= pos
        elif type(buf) is bytearray:
            # a long tail (a large payload arriving piecemeal): append in place
            if pos:
                del buf[:pos]  # cheap: a bytearray drops its head by moving its start
                self._pos = 0
                self._scanned -= pos
            buf += data
        else:
            grown = bytearray(memoryview(buf)[pos:])
            grown += data
            self._buf = grown
            self._pos = 0
            self._scanned -= pos

    def _fail(self, message: str) -> RemoteProtocolError:
        self._error = RemoteProtocolError(message)
        self._buf = b""
        self._text = None
        self._pos = self._scanned = 0
        self._pending = None
        self._skip = 0
        return self._error

    def next_command(self) -> Command | None:
        # one generator serves call after call until it runs dry (see _parse)
        gen = self._gen
        if gen is None:
            gen = self._gen = self._parse()
        try:
            command = next(gen, None)
        except BaseException:
            self._gen = None
            raise
        if command is None:
            self._gen = None
        return command

    def __iter__(self) -> Iterator[Command]:
        return self._parse()

    def _parse(self) -> Iterator[Command]:
        """Yield complete commands until more data is needed (``next_command`` takes one)."""
        if self._error is not None:
            raise self._error.with_traceback(None)
        pos = self._pos
        if self._scanned > pos and self._buf.find(b"\n", self._scanned) < 0:
            # still inside the line that was cut last time: look at the new bytes only
            self._line_end(pos, -1)
            return
        table = self._table
        max_line = self.max_line
        max_payload = self.max_payload
        limits = self.payload_limits
        while True:
            buf = self._buf
            pos = self._pos
            if self._skip:
                skipped = min(self._skip, len(buf) - pos)
                self._skip -= skipped
                pos += skipped
                if self._skip:
                    self._wait(pos)
                    return
                self._pos = pos
            if self._pending is not None:
                name, trid, args, length = self._pending
                end = pos + length
                if len(buf) < end:
                    return
                self._pending = None
                self._pos = end
                yield _tuple_new(Command, (name, trid, args, bytes(buf[pos:end]), 0))
                continue
            if type(buf) is not bytes:
                # a long tail has become complete: parse from bytes (their slices are bytes)
                self._buf = buf = bytes(buf[pos:])
                self._scanned -= pos
                self._pos = pos = 0
            text = self._text
            if text is None:
                # one latin-1 str of the whole buffer, cut into lines: ASCII lines (nearly all)
                # need no decoding of their own
                text = self._text = buf.decode("latin-1")
            while True:
                newline = text.find("\n", pos)
                if newline < 0 or newline - pos > max_line:
                    newline = self._line_end(pos, newline)
                    if newline < 0:
                        return
                # (an empty line has no "\r" of its own: at the buffer's start, text[-1] would be
                # its last byte)
                if newline > pos and text[newline - 1] == "\r":
                    line = text[pos : newline - 1]
                else:
                    line = text[pos:newline]
                if not line.isascii():
                    try:
                        line = buf[pos : pos + len(line)].decode()
                    except UnicodeDecodeError:
                        pass  # latin-1 it is
                pos = newline + 1
                tokens = line.split(" ")
                name = tokens[0]
                try:
                    flags = table[name]
                except KeyError:
                    if not line.strip(_ASCII_WHITE):
                        continue  # a blank line carries nothing; skip it
                    if not name or len(name) > 3 or not name.isascii() or not name.isalnum():
                        raise self._fail(f"malformed command line {line[:80]!r}") from None
                    flags = 0
                if "" in tokens:
                    tokens = [t for t in tokens if t]  # repeated or trailing spaces
                if flags == _NO_TRID:
                    # the commonest lines (a server's presence pushes): every token an argument
                    self._pos = pos
                    yield _tuple_new(Command, (name, None, tuple(tokens[1:]), None, 0))
                    if self._pos != pos:
                        break  # fed or read meanwhile (both move _pos): look at the state again
                    continue
                length = -1
                if flags & _PAYLOAD:
                    # "QRY 10" from the server and "ADL 5 OK" have no payload: the last token
                    # decides
                    last = tokens[-1]
                    if len(tokens) > 1 and last.isdigit() and last.isascii():
                        if len(last) > 12 or (length := int(last)) > max_payload:
                            raise self._bad_length(name, last)
                        del tokens[-1]
                    elif flags & _MANDATORY:
                        raise self._fail(f"{name} without a payload length: {line[:80]!r}")
                if (
                    flags & _NO_TRID
                    or len(tokens) < 2
                    or len(first := tokens[1]) > 10
                    or not first.isdigit()
                    or not first.isascii()
                    # LST/LSG lost their trid at MSNP8 (the first argument may be a group id)
                    or (flags & _NO_TRID_FROM_8 and (self.version or 0) >= 8)
                ):
                    trid = None
                    args = tuple(tokens[1:])
                else:
                    trid = int(first)
                    args = tuple(tokens[2:])
                if length < 0:
                    payload = None
                elif limits and (limit := limits.get(name)) is not None and length > limit:
                    self._skip = length  # skipped unread (above), reported as dropped
                    self._pos = pos
                    yield _tuple_new(Command, (name, trid, args, None, length))
                    break
                else:
                    end = pos + length
                    if end > len(buf):
                        self._pending = (name, trid, args, length)
                        self._wait(pos)
                        return
                    payload = buf[pos:end]
                    pos = end
                self._pos = pos
                yield _tuple_new(Command, (name, trid, args, payload, 0))
                if self._pos != pos:
                    break  # fed or read meanwhile (both move _pos): look at the state again

    def _bad_length(self, name: str, token: str) -> RemoteProtocolError:
        if len(token) > 12:
            return self._fail(f"{name} announces an absurd payload length {token[:20]}")
        limit = self.max_payload
        return self._fail(f"{name} announces a {int(token)}-byte payload (limit {limit})")

    def _line_end(self, pos: int, newline: int) -> int:
        """After a line of more than ``max_line`` bytes, or none: the newline of a line of
        ``max_line`` bytes and a CR, or -1 (wait for more), or a RemoteProtocolError."""
        buf = self._buf
        if newline == pos + self.max_line + 1 and buf[newline - 1] == 13:
            return newline
        if newline >= 0 or len(buf) - pos > self.max_line + 1:
            raise self._fail(f"line longer than {self.max_line} bytes")
        self._scanned = len(buf)
        self._wait(pos)
        return -1

    def _wait(self, pos: int) -> None:
        """Nothing complete is left: keep only the unparsed tail."""
        buf = self._buf
        if pos >= len(buf):
            self._buf = b""
            self._pos = self._scanned = 0
            self._text = None
        elif pos and type(buf) is bytes:
            self._buf = buf[pos:]
            self._pos = 0
            self._scanned -= pos
            self._text = None
        else:
            self._pos = pos
