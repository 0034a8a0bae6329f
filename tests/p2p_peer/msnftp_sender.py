"""An MSN Messenger 4-5 style file sender (MSNFTP) for tests, written without ``bridge.msnp``.

It invites over a switchboard of a :class:`~.peer.P2PPeer` (``text/x-msmsgsinvite``), waits for
the receiver's ACCEPT, listens on 127.0.0.1 and names that address (or another one, to test an
unreachable sender) in its own ACCEPT, then serves the file::

    <- VER MSNFTP          -> VER MSNFTP
    <- USR <email> <auth>  -> FIL <size>
    <- TFR                 -> blocks (0, length low, length high, data) ...
    <- BYE <code>
"""

from __future__ import annotations

from dataclasses import dataclass, field
import asyncio
import secrets

from .peer import P2PPeer

__all__ = ["MsnftpResult", "send_msnftp"]

GUID = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
BLOCK = 2045


@dataclass
class MsnftpResult:
    #: "done" (BYE after every byte), "declined"/"cancelled" (the receiver's CANCEL, with
    #: ``cancel_code``), "broken" (the connection ended before BYE), "timeout"
    outcome: str
    cancel_code: str = ""
    usr: list[str] = field(default_factory=list)
    bye: str = ""


def _invitation(lines: list[str]) -> bytes:
    head = "MIME-Version: 1.0\r\nContent-Type: text/x-msmsgsinvite; charset=UTF-8\r\n\r\n"
    return (head + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


def _fields(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in body.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


async def _answer(peer: P2PPeer, cookie: str, timeout: float) -> dict[str, str]:
    """The receiver's answer to ``cookie`` (other messages are put back afterwards)."""
    skipped = []
    try:
        while True:
            item = await asyncio.wait_for(peer.messages.get(), timeout)
            fields = _fields(item[2])
            if fields.get("invitation-cookie") == cookie:
                return fields
            skipped.append(item)
    finally:
        for item in skipped:
            peer.messages.put_nowait(item)


async def send_msnftp(
    peer: P2PPeer,
    to: str,
    name: str,
    data: bytes,
    *,
    announce: str | None = None,
    stall_after: int | None = None,
    timeout: float = 30,
) -> MsnftpResult:
    """Offer ``data`` as ``name`` to ``to``; serve it on 127.0.0.1 if accepted.

    ``announce``: the ``IP-Address:Port`` named in our ACCEPT instead of the listening socket's
    (a test of an unreachable sender); ``stall_after``: stop sending after that many bytes and
    keep the connection open."""
    sb = await peer.wait_switchboard_with(to)
    cookie = str(secrets.randbelow(2**31 - 2) + 1)
    auth = str(secrets.randbelow(2**31 - 2) + 1)
    invite = _invitation([
        "Application-Name: File Transfer", f"Application-GUID: {GUID}",
        "Invitation-Command: INVITE", f"Invitation-Cookie: {cookie}",
        f"Application-File: {name}", f"Application-FileSize: {len(data)}", "Connectivity: N",
    ])  # fmt: skip
    assert await sb.send(invite, "N")
    try:
        answer = await _answer(peer, cookie, timeout)
    except TimeoutError:
        return MsnftpResult("timeout")
    if answer.get("invitation-command") != "ACCEPT":
        return MsnftpResult("declined", answer.get("cancel-code", ""))
    result = MsnftpResult("broken")
    finished = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if (await reader.readline()).split()[:2] != [b"VER", b"MSNFTP"]:
                return
            writer.write(b"VER MSNFTP\r\n")
            result.usr = (await reader.readline()).decode().split()
            if result.usr[:1] != ["USR"] or result.usr[2:] != [auth]:
                return
            writer.write(f"FIL {len(data)}\r\n".encode())
            if (await reader.readline()).strip() != b"TFR":
                return
            for start in range(0, len(data), BLOCK):
                if stall_after is not None and start >= stall_after:
                    await reader.read()  # until the receiver gives up
                    return
                block = data[start : start + BLOCK]
                writer.write(bytes((0, len(block) & 0xFF, len(block) >> 8)) + block)
                await writer.drain()
            result.bye = (await reader.readline()).decode().strip()
            if result.bye.startswith("BYE"):
                result.outcome = "done"
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            finished.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ip, _, named_port = (announce or f"127.0.0.1:{port}").partition(":")
    accept = _invitation([
        "Invitation-Command: ACCEPT", f"Invitation-Cookie: {cookie}", f"IP-Address: {ip}",
        f"Port: {named_port}", f"AuthCookie: {auth}", "Launch-Application: FALSE",
        "Request-Data: IP-Address:",
    ])  # fmt: skip
    try:
        assert await sb.send(accept, "N")
        # the file is served, or the receiver cancels (it could not or would not connect)
        cancel = asyncio.create_task(_answer(peer, cookie, timeout))
        served = asyncio.create_task(finished.wait())
        try:
            await asyncio.wait({cancel, served}, timeout=timeout, return_when="FIRST_COMPLETED")
            if finished.is_set() and result.outcome == "done":
                return result
            if finished.is_set():  # the connection broke off: a CANCEL may follow
                await asyncio.wait({cancel}, timeout=timeout)
        finally:
            served.cancel()
            cancel.cancel()
        if cancel.done() and not cancel.cancelled() and cancel.exception() is None:
            return MsnftpResult("cancelled", cancel.result().get("cancel-code", ""), result.usr)
        return result if finished.is_set() else MsnftpResult("timeout")
    finally:
        server.close()
