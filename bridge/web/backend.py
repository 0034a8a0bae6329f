"""What the web front ends (provisioning API, login page) may ask of the bridge: the
:class:`Backend` protocol, implemented on the running bridge by
:class:`bridge.web.bridge_backend.BridgeBackend` (tests of the HTTP layer alone hand in their
own)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol
import re

if TYPE_CHECKING:
    from bridge.password_login import LoginOutcome

__all__ = ["Backend", "valid_user_id"]

_USER_ID = re.compile(r"^@[^:\s]+:[^\s]+$")


def valid_user_id(text: str) -> bool:
    """A syntactically valid Matrix user ID of at most 255 bytes."""
    return len(text.encode()) <= 255 and bool(_USER_ID.match(text))


class Backend(Protocol):
    """The operations; ``mxid`` is always a valid user ID the caller checked the level of."""

    bridge_name: str

    def permission(self, mxid: str) -> str:
        """The user's level: ``none``, ``relay``, ``user`` or ``admin``; ``none`` for the bot
        and the ghosts."""

    def parse_email(self, text: str) -> str | None:
        """The normalised MSN address, or None when ``text`` is not a usable one."""

    async def whoami(self, mxid: str) -> dict[str, Any]: ...

    async def login(self, mxid: str, email: str, password: str) -> LoginOutcome: ...

    async def logout(self, mxid: str) -> str:
        """Log out; returns the address. Raises :class:`WebError` when not logged in."""

    async def contacts(self, mxid: str) -> dict[str, Any]: ...

    async def open_chat(self, mxid: str, email: str) -> dict[str, Any]: ...

    async def notify(self, mxid: str, text: str) -> None:
        """A notice in the user's management room, if they have one."""
