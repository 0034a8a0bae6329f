"""The bridge-side limits on what MSN contacts (and a server) can make the bridge do: the
``bridge.limits`` options, read and checked in one place.

Each limit and the policy applied when it is reached is described in the README ("Limits").
The MSN library's own limits (switchboards, payload sizes, its event queue) are ``msn.*``
options and :class:`bridge.msnp.client.ClientConfig` fields.
"""

from __future__ import annotations

from typing import Any
from dataclasses import dataclass, fields

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True)
class Limits:
    """``bridge.limits``; the defaults are the example config's."""

    #: MSN events of one user waiting for the bridge's handlers. When it is full the handler
    #: of the MSN client waits, the client's own queue fills and its connections stop reading
    #: (back-pressure); only typing notifications (queue half full) and superseded presence
    #: updates of one contact are dropped.
    event_queue: int = 200
    #: New group chat rooms that the messages of one contact may open per window; beyond, the
    #: messages of those conversations go to each sender's direct chat (nothing is dropped).
    group_rooms_per_contact: int = 5
    group_rooms_window: float = 3600.0
    #: Seconds between two display name changes of one ghost; the last name always wins.
    display_name_interval: float = 20.0
    #: Seconds between two "added you to their contact list" notices; the people who added the
    #: user meanwhile are listed together in the next one.
    added_notice_interval: float = 60.0

    @classmethod
    def from_config(cls, config: Any) -> Limits:
        """The limits of ``config`` (a :class:`bridge.config.Config`); missing keys get their
        defaults. Raises :class:`ValueError` naming the first bad key."""
        section = config["bridge.limits"] or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            value = section.get(f.name, f.default)
            kind = int if f.type in (int, "int") else float
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"bridge.limits.{f.name}: it must be a positive number")
            if value <= 0 or (kind is int and value != int(value)):
                raise ValueError(f"bridge.limits.{f.name}: it must be a positive {kind.__name__}")
            values[f.name] = kind(value)
        return cls(**values)
