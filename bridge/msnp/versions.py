"""Which MSNP versions a client offers in ``VER`` and which answer it accepts.

MSNP2-7 log in with MD5: the server's salt and ``md5(salt + password)`` cross the wire, so
anyone who sees the connection can test password guesses offline. They are offered, and a
server's choice of them accepted, only with ``allow_md5_login``; otherwise
:class:`MD5LoginRefused` says why the login stopped.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Sequence

from .errors import MD5LoginRefused, ProtocolRefused

__all__ = ["FIRST_TWEENER_VERSION", "chosen_version", "offered_versions"]

#: The first version that logs in through Passport (TWN) instead of MD5.
FIRST_TWEENER_VERSION: Final = 8


def _md5_refusal(detail: str) -> MD5LoginRefused:
    return MD5LoginRefused(
        f"{detail}: MSNP2-7 log in with MD5, which lets anyone who sees the connection test "
        "password guesses offline; MD5 logins are not allowed (allow_md5_login)"
    )


def offered_versions(configured: Sequence[int], allow_md5: bool) -> tuple[int, ...]:
    """The versions to offer; raises :class:`MD5LoginRefused` when that leaves none."""
    offered = tuple(v for v in configured if allow_md5 or v >= FIRST_TWEENER_VERSION)
    if not offered:
        raise _md5_refusal("only MSNP2-7 are configured")
    return offered


def chosen_version(
    reply_args: Sequence[str], offered: Sequence[int], configured: Sequence[int], allow_md5: bool
) -> int:
    """The version a ``VER`` reply chose; raises :class:`ProtocolRefused` (or its
    :class:`MD5LoginRefused`) when it is none we offered."""
    names = [a for a in reply_args if a.upper().startswith("MSNP")]
    if not names:
        detail = "the server supports none of the offered protocol versions " + (
            f"({', '.join(f'MSNP{v}' for v in offered)})"
        )
        if len(offered) < len(configured):
            raise _md5_refusal(detail + "; MSNP2-7 were not offered")
        raise ProtocolRefused(detail)
    number = names[0][4:]
    version = int(number) if number.isascii() and number.isdigit() and len(number) < 4 else -1
    if 0 <= version < FIRST_TWEENER_VERSION and not allow_md5:
        raise _md5_refusal(f"the server chose {names[0]}")
    if version not in offered:
        raise ProtocolRefused(f"the server chose {names[0]}, which we did not offer")
    return version
