"""Version-dependent wire formats shared by the DS, NS and SB handlers."""

from __future__ import annotations

from typing import Final
import time

from .framing import ClientCommand, LineConnection

__all__ = ["STATUSES", "cvr_reply", "negotiate_version", "syn_timestamp"]

STATUSES: Final = frozenset({"NLN", "BSY", "IDL", "BRB", "AWY", "PHN", "LUN", "HDN"})

#: A plausible CVR answer: recommended version, same, minimum, download URL, info URL.
_CVR_ANSWER: Final = (
    "7.0.0816",
    "7.0.0816",
    "6.2.0205",
    "http://127.0.0.1/download/msnmsgr.exe",
    "http://messenger.msn.com",
)


def negotiate_version(
    conn: LineConnection, command: ClientCommand, supported: frozenset[int]
) -> int | None:
    """Answer a VER command; returns the chosen version, or None (``VER trid 0`` sent)."""
    offered: list[int] = []
    for arg in command.args:
        if arg.startswith("MSNP") and arg[4:].isdigit():
            offered.append(int(arg[4:]))
    common = [v for v in offered if v in supported]
    if not common:
        conn.send("VER", command.trid, 0)
        return None
    version = max(common)
    conn.send("VER", command.trid, f"MSNP{version}", "CVR0" if "CVR0" in command.args else None)
    return version


def cvr_reply(conn: LineConnection, command: ClientCommand) -> None:
    conn.send("CVR", command.trid, *_CVR_ANSWER)


def syn_timestamp(when: float) -> str:
    """An MSNP10 list timestamp such as ``2005-04-23T18:57:44.8130000-00:00``."""
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when))
    fraction = int((when % 1) * 10_000_000)
    return f"{base}.{fraction:07d}-00:00"
