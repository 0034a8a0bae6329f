"""Free TCP ports on 127.0.0.1 for the servers the tests start (Synapse, PostgreSQL, the
bridge's appservice and web servers)."""

from __future__ import annotations

import socket

__all__ = ["free_port"]

#: the ports this process handed out
_given: set[int] = set()


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago and that this process has not
    handed out before: the kernel may give the same closed port to two binds in a row, and two
    servers of one stack (Synapse and the bridge's appservice) then ask for the same port."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no ephemeral port left that was not handed out before")
