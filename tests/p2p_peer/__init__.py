"""A P2P/MSNSLP-speaking MSN client for tests, written independently of ``bridge.msnp``.

``P2PPeer.login(server.ns_address, server.passport_url, email, password, picture=...)``
logs into ``tests.msn_server``; see :mod:`.peer` for what it can do.
"""

from __future__ import annotations

from .peer import DEFAULT_CAPS, WLM2009_CAPS, WLM2009_CAPS_EX, P2PPeer, ReceivedFile

__all__ = ["DEFAULT_CAPS", "WLM2009_CAPS", "WLM2009_CAPS_EX", "P2PPeer", "ReceivedFile"]
