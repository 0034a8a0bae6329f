"""One log line per burst of a repeated event (refused rings, dropped payloads, ...).

A hostile peer can make the same thing happen thousands of times a second; logging each would
be a flood of its own. :class:`BurstLog` logs the first occurrence, counts the rest until the
event has been quiet for ``quiet`` seconds, and mentions that count with the next line it logs
(the next burst's first, or a reminder every ``repeat`` seconds while a burst goes on).
"""

from __future__ import annotations

from typing import Any
from collections import Counter
import logging
import time

__all__ = ["BurstLog", "Tally"]


class BurstLog:
    def __init__(
        self,
        logger: logging.Logger,
        message: str,
        *,
        level: int = logging.WARNING,
        quiet: float = 10.0,
        repeat: float = 60.0,
    ) -> None:
        self.logger = logger
        self.message = message
        self.level = level
        self.quiet = quiet
        self.repeat = repeat
        self._last = float("-inf")
        self._logged = float("-inf")
        self._suppressed = 0

    def hit(self, *args: Any) -> None:
        """Record one occurrence; logs ``message % args`` when it starts a burst."""
        now = time.monotonic()
        in_burst = now - self._last < self.quiet
        self._last = now
        if in_burst and now - self._logged < self.repeat:
            self._suppressed += 1
            return
        self._logged = now
        if self._suppressed:
            self.logger.log(
                self.level,
                self.message + " (and %d more not logged before this one)",
                *args,
                self._suppressed,
            )
            self._suppressed = 0
        else:
            self.logger.log(self.level, self.message, *args)


class Tally:
    """Counters of what one client refused or dropped, each kind with its own burst log."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.counts: Counter[str] = Counter()
        self._logs: dict[str, BurstLog] = {}

    def hit(self, key: str, message: str, *args: Any, level: int = logging.WARNING) -> None:
        """Count one ``key``; log ``message % args`` once per burst of that key."""
        self.counts[key] += 1
        burst = self._logs.get(key)
        if burst is None:
            burst = self._logs[key] = BurstLog(self.logger, message, level=level)
        burst.hit(*args)
