"""Helpers for the MSN client integration tests (tests/test_client_*.py)."""

from __future__ import annotations

from typing import Any, TypeVar
from collections.abc import Callable
import asyncio

from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.events import Event
from tests.msn_server import MSNServer

E = TypeVar("E", bound=Event)

PASSWORDS = {
    "alice@example.com": "alice123",
    "bob@example.com": "bob123",
    "carol@example.com": "carol123",
    "dave@example.com": "dave123",
}


class Recorder:
    """Collects a client's events and waits for matching ones."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    async def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E], **attrs: Any) -> list[E]:
        return [
            e
            for e in self.events
            if isinstance(e, kind) and all(getattr(e, k) == v for k, v in attrs.items())
        ]

    async def wait(
        self,
        kind: type[E],
        predicate: Callable[[E], bool] | None = None,
        *,
        timeout: float = 5.0,
        **attrs: Any,
    ) -> E:
        """The first recorded (or future) event of ``kind`` matching ``attrs``/``predicate``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for event in self.of(kind, **attrs):
                if predicate is None or predicate(event):
                    return event
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind.__name__} {attrs} within {timeout} s; got {self.events[-8:]!r}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    def clear(self) -> None:
        self.events.clear()


def client_config(server: MSNServer, protocol: int, /, **overrides: Any) -> ClientConfig:
    """A client config for ``server`` with short timeouts (tests must be fast)."""
    values: dict[str, Any] = {
        "server": server.server_address,
        "protocols": (protocol,),
        "passport_url": server.passport_url,
        "connect_timeout": 5.0,
        "transaction_timeout": 5.0,
        "switchboard_join_timeout": 5.0,
        "ack_timeout": 5.0,
        "keepalive_interval": 30.0,
        "keepalive_timeout": 10.0,
        # the MSNP2-7 tests log in with MD5 on purpose: enable it for them, and only them
        "allow_md5_login": protocol < 8,
    }
    values.update(overrides)
    return ClientConfig(**values)


async def logged_in(
    server: MSNServer, email: str, protocol: int, /, **overrides: Any
) -> tuple[MSNClient, Recorder]:
    recorder = Recorder()
    client = MSNClient(client_config(server, protocol, **overrides), recorder)
    await client.login(email, PASSWORDS[email])
    return client, recorder


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
