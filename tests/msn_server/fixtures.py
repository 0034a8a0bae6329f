"""Reusable helpers for tests: a running server with the demo accounts.

Usage::

    from tests.msn_server.fixtures import running_server

    async def test_x() -> None:
        async with running_server(escargot_mode=True) as server:
            ...
"""

from __future__ import annotations

from typing import Final
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .server import MSNServer, ServerConfig

__all__ = ["DEMO_ACCOUNTS", "add_demo_accounts", "running_server"]

#: (email, password, friendly name), as in the Escargot peer's README
DEMO_ACCOUNTS: Final = (
    ("alice@example.com", "alice123", "Alice"),
    ("bob@example.com", "bob123", "Bob"),
    ("carol@example.com", "carol123", "Carol"),
    ("dave@example.com", "dave123", "Dave"),
)


def add_demo_accounts(server: MSNServer) -> None:
    """alice<->bob (group "Friends" on both sides), alice<->carol, bob<->carol; dave alone."""
    for email, password, name in DEMO_ACCOUNTS:
        server.add_account(email, password, name)
    server.make_mutual("alice@example.com", "bob@example.com", group="Friends")
    server.make_mutual("alice@example.com", "carol@example.com")
    server.make_mutual("bob@example.com", "carol@example.com")


@asynccontextmanager
async def running_server(
    config: ServerConfig | None = None, *, demo: bool = True, **kwargs: object
) -> AsyncIterator[MSNServer]:
    """Start a server on 127.0.0.1 (ephemeral ports), with the demo accounts by default."""
    if config is None:
        config = ServerConfig(**kwargs)  # type: ignore[arg-type]
    elif kwargs:
        raise TypeError("pass either a ServerConfig or keyword arguments")
    server = MSNServer(config)
    if demo:
        add_demo_accounts(server)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
