"""The dispatch server (DS): negotiates, then refers the client to the NS with ``XFR NS``."""

from __future__ import annotations

from typing import TYPE_CHECKING
import logging

from .framing import FramingError, LineConnection
from .protocol import cvr_reply, negotiate_version

if TYPE_CHECKING:
    from .server import MSNServer

__all__ = ["handle_dispatch"]

log = logging.getLogger("msn_server")


async def handle_dispatch(server: MSNServer, conn: LineConnection) -> None:
    version: int | None = None
    try:
        while not conn.closed:
            try:
                command = await conn.read_command()
            except FramingError as e:
                log.info("DS: closing, %s", e)
                return
            if command is None:
                return
            if command.name == "VER" and version is None:
                version = negotiate_version(conn, command, server.config.protocol_set)
                if version is None:
                    return
            elif version is None:
                return
            elif command.name == "CVR":
                cvr_reply(conn, command)
            elif command.name == "INF" and version < 8:
                conn.send("INF", command.trid, "MD5")
            elif command.name == "USR" and command.arg(1) == "I":
                conn.send("XFR", command.trid, "NS", server.ns_address, 0, server.ds_address)
                return
            else:
                return
            await conn.drain()
    finally:
        await conn.drain()
        await conn.close()
