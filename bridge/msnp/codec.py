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
``max_line``) breaks the stream (:class:`RemoteProtocolError`); a payload above its command's
entry in ``payload_limits`` is skipped unread — the command comes out with ``payload=None`` and
``dropped`` set to the number of bytes discarded — so that one oversized message does not end
the session.
"""

from __future__ import annotations

from .command import (
    CLIENT_PAYLOAD_COMMANDS,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_PAYLOAD,
    REDACTED,
    SERVER_PAYLOAD_COMMANDS,
    Command,
    Role,
    decode_arg,
    encode,
    encode_arg,
    loggable_args,
)
from .parser import Parser, limits

__all__ = [
    "CLIENT_PAYLOAD_COMMANDS",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_PAYLOAD",
    "REDACTED",
    "SERVER_PAYLOAD_COMMANDS",
    "Command",
    "Parser",
    "Role",
    "decode_arg",
    "encode",
    "encode_arg",
    "limits",
    "loggable_args",
]
