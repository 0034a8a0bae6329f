"""tests/support/ports.py: a port is handed out once per process, even when the kernel gives the
same closed port to two binds in a row (Synapse and the bridge once got the same one)."""

from __future__ import annotations

from typing import Any
from types import SimpleNamespace

import pytest

from tests.support import ports


class ScriptedSocket:
    """A socket whose bind to port 0 gets the next port of a script."""

    script: list[int] = []

    def __init__(self, *_: Any) -> None:
        self.port = 0

    def __enter__(self) -> ScriptedSocket:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def bind(self, address: tuple[str, int]) -> None:
        assert address == ("127.0.0.1", 0)
        self.port = ScriptedSocket.script.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_the_same_port_is_not_handed_out_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_given", set())
    fake = SimpleNamespace(socket=ScriptedSocket, AF_INET=0, SOCK_STREAM=0)
    monkeypatch.setattr(ports, "socket", fake)  # (this module's socket only)
    ScriptedSocket.script = [50001, 50001, 50001, 50002, 50001, 50003]
    assert [ports.free_port(), ports.free_port(), ports.free_port()] == [50001, 50002, 50003]
    assert ScriptedSocket.script == []


def test_real_ports_are_free_and_distinct() -> None:
    given = [ports.free_port() for _ in range(50)]
    assert len(set(given)) == 50
    assert all(1024 < port < 65536 for port in given)
