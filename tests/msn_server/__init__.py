"""A protocol-faithful MSN Messenger server (MSNP2-18) for tests, demos and benchmarks.

Independent of :mod:`bridge.msnp` on purpose: it must catch the client's bugs, not share them.
"""

from __future__ import annotations

from .circles import Circle
from .oim import OfflineMessage
from .server import MSNServer, SBCookie, ServerConfig
from .state import AL, BL, FL, PL, RL, Account, Group, ListFlag
from .switchboard import DeliveredMessage, SwitchboardSession

__all__ = [
    "AL",
    "BL",
    "FL",
    "PL",
    "RL",
    "Account",
    "Circle",
    "DeliveredMessage",
    "Group",
    "ListFlag",
    "MSNServer",
    "OfflineMessage",
    "SBCookie",
    "ServerConfig",
    "SwitchboardSession",
]
