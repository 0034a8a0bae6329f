"""What the notification server's own commands say: ``RNG`` rings, ``OUT`` reasons, ``XFR`` replies.

Pure functions over :class:`~.command.Command` (the list's commands are :mod:`.list_commands`'),
and the arguments of the ``CHG`` we send; :mod:`.notification` acts on what they return.
"""

from __future__ import annotations

import logging

from .capabilities import OWN_EXTENDED
from .codec import Command, decode_arg, encode_arg
from .connection import parse_address
from .errors import RemoteProtocolError
from .login import FIRST_MPOP_VERSION
from .values import DisconnectReason, Ring, Status

__all__ = ["chg_args", "parse_ring", "sign_out_reason", "switchboard_transfer"]

log = logging.getLogger("msnp.ns")


def parse_ring(cmd: Command) -> Ring | None:
    """``RNG sessid host:port CKI cookie passport name``; None (logged) when malformed."""
    if len(cmd.args) < 5:
        log.warning("malformed RNG %r", cmd)
        return None
    try:
        host, port = parse_address(cmd.args[1])
    except RemoteProtocolError:
        log.warning("bad switchboard address in %r", cmd)
        return None
    return Ring(
        cmd.args[0],
        host,
        port,
        cmd.args[3],
        cmd.args[4],
        decode_arg(cmd.arg(5, cmd.args[4])),
    )


def sign_out_reason(code: str) -> tuple[DisconnectReason, str]:
    """Why the server signed us out with ``OUT code`` (upper-cased), and how to say it."""
    if code == "OTH":
        return DisconnectReason.OTHER_LOCATION, "logged in from another location"
    if code == "SSD":
        return DisconnectReason.SERVER_SHUTDOWN, "the server is shutting down"
    return DisconnectReason.CONNECTION_LOST, f"signed out by the server ({code or 'OUT'})"


def chg_args(
    status: Status, version: int, capabilities: int, picture: str | None
) -> tuple[str, ...]:
    """The arguments of ``CHG``: the status, the capabilities (MSNP8+), our MSN object."""
    args: tuple[str, ...] = (status.value,)
    if version >= FIRST_MPOP_VERSION:
        # no P2P v2 in the extended part: contacts on Messenger 2009 use v1 with us
        args = (status.value, f"{capabilities}:{OWN_EXTENDED}")
    elif version >= 8:
        args = (status.value, str(capabilities))
    if picture:
        args = (*args, encode_arg(picture))
    return args


def switchboard_transfer(reply: Command) -> tuple[str, int, str]:
    """(host, port, cookie) from the reply to ``XFR SB``."""
    if reply.arg(0) != "SB" or len(reply.args) < 4:
        raise RemoteProtocolError(f"unexpected XFR reply {reply!r}")
    host, port = parse_address(reply.args[1])
    return host, port, reply.args[3]
