"""MSNFTP, the file transfer of MSN Messenger 4-5, sans-IO: the invitation messages and the
receiving side of the direct TCP conversation with the sender's computer.

The invitation travels over the switchboard as ``text/x-msmsgsinvite``::

    sender   INVITE  (Application-GUID {5D3E02AB-...}, Invitation-Cookie, Application-File/-FileSize)
    us       ACCEPT  (Request-Data: IP-Address:)        or CANCEL (Cancel-Code: REJECT)
    sender   ACCEPT  (IP-Address, Port, AuthCookie)     or CANCEL

We then connect to ``IP-Address:Port`` and, as the receiver::

    -> VER MSNFTP         <- VER MSNFTP
    -> USR <email> <authcookie>
    <- FIL <size>         -> TFR
    <- blocks: 0x00, 2-byte little-endian length (at most 2045), data ... until <size> bytes
    -> BYE 16777989

A block whose first byte is not 0 is the sender cancelling.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass

from .errors import TransferFailed

__all__ = [
    "CONTENT_TYPE",
    "MAX_BLOCK",
    "MSNFTP_GUID",
    "Invitation",
    "MsnftpReceiver",
    "build_accept",
    "build_cancel",
    "invitation_fields",
    "parse_invitation",
]

CONTENT_TYPE: Final = "text/x-msmsgsinvite"
MSNFTP_GUID: Final = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
#: the largest data block a sender may send
MAX_BLOCK: Final = 2045
#: what the receiver says once it has every byte
BYE_COMPLETE: Final = b"BYE 16777989\r\n"
#: an invitation body longer than this is not read
MAX_INVITATION: Final = 4096
#: a control line longer than this ends the transfer
MAX_LINE: Final = 512


@dataclass(frozen=True, slots=True)
class Invitation:
    """One ``text/x-msmsgsinvite`` message, its fields keyed in lower case."""

    command: str  # INVITE, ACCEPT, CANCEL (upper case)
    cookie: str
    fields: dict[str, str]

    @property
    def is_file_transfer(self) -> bool:
        return self.fields.get("application-guid", "").upper() == MSNFTP_GUID

    @property
    def filename(self) -> str:
        name = self.fields.get("application-file", "")[:255]
        return name.replace("/", "_").replace("\\", "_").replace("\x00", "") or "file"

    @property
    def size(self) -> int | None:
        size = self.fields.get("application-filesize", "")
        return int(size) if size.isascii() and size.isdigit() and len(size) <= 12 else None

    @property
    def address(self) -> tuple[str, int, str] | None:
        """The sender's ``(IP-Address, Port, AuthCookie)`` in its ACCEPT (None if incomplete)."""
        ip, port = self.fields.get("ip-address", ""), self.fields.get("port", "")
        auth = self.fields.get("authcookie", "")
        if not ip or not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
            return None
        if not (auth.isascii() and auth.isdigit() and len(auth) <= 10):
            return None
        return ip, int(port), auth


def invitation_fields(body: bytes) -> dict[str, str]:
    """The ``Name: value`` lines of an invitation message body (names in lower case; the
    first of each counts; only the first :data:`MAX_INVITATION` bytes are read)."""
    fields: dict[str, str] = {}
    for line in body[:MAX_INVITATION].decode("utf-8", errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields.setdefault(name.strip().lower(), value.strip())
    return fields


def parse_invitation(body: bytes) -> Invitation | None:
    """The invitation in a message body (None unless it has a command and a valid cookie)."""
    fields = invitation_fields(body)
    cookie = fields.get("invitation-cookie", "")
    command = fields.get("invitation-command", "").upper()
    if not command or not _valid_cookie(cookie):
        return None
    return Invitation(command, cookie, fields)


def _valid_cookie(cookie: str) -> bool:
    return cookie.isascii() and cookie.isdigit() and len(cookie) <= 10


def _payload(lines: str) -> bytes:
    return (
        "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
        + lines
        + "\r\n"
    ).encode()


def build_accept(cookie: str) -> bytes:
    """Our ACCEPT of a file: we ask the sender for its address (we connect to it)."""
    if not _valid_cookie(cookie):
        raise ValueError(f"not an invitation cookie: {cookie[:20]!r}")
    return _payload(
        f"Invitation-Command: ACCEPT\r\nInvitation-Cookie: {cookie}\r\n"
        "Launch-Application: FALSE\r\nRequest-Data: IP-Address:\r\n"
    )


def build_cancel(cookie: str, code: str = "REJECT") -> bytes:
    """``Invitation-Command: CANCEL`` (REJECT: declined; FTTIMEOUT/FAIL: it broke off)."""
    if not _valid_cookie(cookie):
        raise ValueError(f"not an invitation cookie: {cookie[:20]!r}")
    if not code.isalpha():
        raise ValueError("bad cancel code")
    return _payload(
        f"Invitation-Command: CANCEL\r\nInvitation-Cookie: {cookie}\r\nCancel-Code: {code}\r\n"
    )


class MsnftpReceiver:
    """The receiver's half of one MSNFTP connection: :meth:`start` and :meth:`feed` return the
    bytes to send; :meth:`feed` also returns the file data that arrived (in order).

    ``max_size`` bounds the ``FIL`` the sender may announce; ``expected`` (the invitation's
    size, if known) must match it. Raises :class:`TransferFailed` on anything unexpected.
    """

    def __init__(self, email: str, auth_cookie: str, max_size: int, expected: int | None) -> None:
        if any(c in email for c in " \r\n") or not _valid_cookie(auth_cookie):
            raise ValueError("bad email or auth cookie")
        self._email = email
        self._auth = auth_cookie
        self._max = max_size
        self._expected = expected
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already read (dropped once per feed: linear time)
        self._state = "ver"  # ver -> fil -> data -> done
        self._block_left = 0
        self.size = 0
        self.received = 0

    @property
    def done(self) -> bool:
        return self._state == "done"

    def start(self) -> bytes:
        return b"VER MSNFTP\r\n"

    def feed(self, data: bytes) -> tuple[bytes, list[bytes]]:
        """``(bytes to send, data chunks)`` for what the sender sent."""
        if self._state == "done":
            if data:
                raise TransferFailed("the sender sent more than the file")
            return b"", []
        self._buf += data
        out = bytearray()
        chunks: list[bytes] = []
        try:
            self._run(out, chunks)
        finally:
            del self._buf[: self._pos]
            self._pos = 0
        if self._state == "done" and self._buf:
            raise TransferFailed("the sender sent more than the file")
        # one piece per read however small the sender's blocks
        return bytes(out), [b"".join(chunks)] if len(chunks) > 1 else chunks

    def _run(self, out: bytearray, chunks: list[bytes]) -> None:
        while self._pos < len(self._buf) and self._state != "done":
            if self._state in ("ver", "fil"):
                line = self._line()
                if line is None:
                    break
                out += self._on_line(line)
            else:
                chunk = self._data()
                if chunk is None:
                    break
                if chunk:
                    chunks.append(chunk)
                if self.received >= self.size:
                    self._state = "done"
                    out += BYE_COMPLETE

    def _line(self) -> str | None:
        end = self._buf.find(b"\r\n", self._pos, self._pos + MAX_LINE + 2)
        if end < 0:
            if len(self._buf) - self._pos > MAX_LINE:
                raise TransferFailed("the sender sent an overlong line")
            return None
        line = bytes(self._buf[self._pos : end]).decode("ascii", errors="replace")
        self._pos = end + 2
        return line

    def _on_line(self, line: str) -> bytes:
        parts = line.split()
        if self._state == "ver":
            if parts[:1] != ["VER"] or "MSNFTP" not in parts[1:]:
                raise TransferFailed(f"the sender does not speak MSNFTP: {line[:40]!r}")
            self._state = "fil"
            return f"USR {self._email} {self._auth}\r\n".encode()
        if parts[:1] == ["CCL"]:
            raise TransferFailed("the sender cancelled the transfer")
        if len(parts) != 2 or parts[0] != "FIL" or not parts[1].isdigit() or len(parts[1]) > 12:
            raise TransferFailed(f"expected FIL, got {line[:40]!r}")
        size = int(parts[1])
        if size > self._max:
            raise TransferFailed(f"the sender announced {size} bytes, over the limit")
        if self._expected is not None and size != self._expected:
            raise TransferFailed(f"the sender announced {size} bytes, not {self._expected}")
        self.size = size
        self._state = "data" if size else "done"
        return b"TFR\r\n" if size else b"TFR\r\n" + BYE_COMPLETE

    def _data(self) -> bytes | None:
        """The next piece of data (b"" after a block header); None when more bytes are needed."""
        if self._block_left == 0:
            pos = self._pos
            if len(self._buf) - pos < 3:
                return None
            flag, length = self._buf[pos], self._buf[pos + 1] | (self._buf[pos + 2] << 8)
            self._pos += 3
            if flag != 0:
                raise TransferFailed("the sender cancelled the transfer")
            if length > MAX_BLOCK or self.received + length > self.size:
                raise TransferFailed("the sender sent a bad data block")
            self._block_left = length
            return b""
        take = bytes(self._buf[self._pos : self._pos + self._block_left])
        self._pos += len(take)
        self._block_left -= len(take)
        self.received += len(take)
        return take
