"""Login counters of the test server: logins in progress (and the most seen), rates, CPU.

A login is "in progress" on an NS connection from the moment the client names its account
(``USR trid <method> I <email>``) until the NS answers ``USR ... OK``, refuses it (911) or the
connection closes. That span includes the Passport / SSO token request the client makes in
between; any client-side concurrency limit around logins covers it, so ``in_progress_max``
above the client's limit proves the limit was exceeded (the DS referral before it is not
counted: the DS closes the connection as soon as it has written ``XFR``).
"""

from __future__ import annotations

from typing import Any, Final
from collections import OrderedDict
import resource
import time

__all__ = ["LoginStats"]

#: per-second login counts kept for the peak rate (one hour)
_RATE_WINDOW: Final = 3600
#: server-side login durations kept for the percentiles
_MAX_DURATIONS: Final = 100_000


class LoginStats:
    def __init__(self) -> None:
        self.started_at = time.time()
        self.reset()

    def reset(self) -> None:
        """Start a new measurement (the logins now in progress stay counted)."""
        current = getattr(self, "in_progress", 0)
        self.in_progress: int = current
        self.in_progress_max: int = current
        self.logins = 0
        self.failures = 0
        self.first_login: float | None = None
        self.last_login: float | None = None
        self._per_second: OrderedDict[int, int] = OrderedDict()
        self._durations: list[float] = []
        self._cpu_at_reset = time.process_time()
        self._reset_at = time.time()

    # events -----------------------------------------------------------------------------
    def begin(self) -> float:
        """A connection named its account; returns the start time to give to :meth:`end`."""
        self.in_progress += 1
        if self.in_progress > self.in_progress_max:
            self.in_progress_max = self.in_progress
        return time.monotonic()

    def end(self, started: float, *, ok: bool | None) -> None:
        """The login that began at ``started`` is over: ok, refused (False) or handed on /
        abandoned (None)."""
        self.in_progress -= 1
        if ok is None:
            return
        if not ok:
            self.failures += 1
            return
        now = time.time()
        self.logins += 1
        if self.first_login is None:
            self.first_login = now
        self.last_login = now
        second = int(now)
        self._per_second[second] = self._per_second.get(second, 0) + 1
        while len(self._per_second) > _RATE_WINDOW:
            self._per_second.popitem(last=False)
        if len(self._durations) < _MAX_DURATIONS:
            self._durations.append(time.monotonic() - started)

    # reading ----------------------------------------------------------------------------
    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """Everything as JSON-ready values (``extra`` is merged in)."""
        span = (
            (self.last_login - self.first_login)
            if self.first_login is not None and self.last_login is not None
            else 0.0
        )
        durations = sorted(self._durations)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result: dict[str, Any] = {
            "logins": self.logins,
            "login_failures": self.failures,
            "logins_in_progress": self.in_progress,
            "logins_in_progress_max": self.in_progress_max,
            "logins_per_second": round(self.logins / span, 2) if span > 0 else None,
            "logins_per_second_peak": max(self._per_second.values(), default=0),
            "first_login": self.first_login,
            "last_login": self.last_login,
            "login_seconds_p50": _percentile(durations, 0.50),
            "login_seconds_p99": _percentile(durations, 0.99),
            "login_seconds_max": durations[-1] if durations else None,
            "cpu_seconds": round(time.process_time() - self._cpu_at_reset, 4),
            "cpu_seconds_total": round(usage.ru_utime + usage.ru_stime, 4),
            "max_rss_kib": usage.ru_maxrss,
            "since_reset_seconds": round(time.time() - self._reset_at, 3),
            "uptime_seconds": round(time.time() - self.started_at, 3),
        }
        result.update(extra)
        return result


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 6)
