"""Python's garbage collector tuned for thousands of MSN sessions in one process.

With Python's defaults a bridge with 10,000 sessions spends a quarter of its login CPU in the
collector and stalls the event loop for up to 1.7 s per full collection, scanning millions of
long-lived objects that are still alive (``bench/scale.py``, README "Scaling"). Two remedies,
both set under ``bridge.gc``:

* ``threshold``: the generation-0 threshold during bursts of logins (Python: 700, which is
  kept between bursts, see below) and, with it, fewer full collections
  (generation thresholds ``threshold``, :data:`GEN1_THRESHOLD`, 100: a generation-1 collection
  comes after fewer young ones than Python's 10, so each scans fewer survivors; README
  "Scaling" has the passes measured at 10, 5 and 3);
* ``freeze_every``: after that many logins, a young collection and :func:`gc.freeze`: what the
  sessions made so far moves out of the collector's sight, so a full collection scans only what
  is newer. Objects that die later are still freed by reference counting; what a frozen session
  leaves in reference cycles when it ends is collected once ``freeze_every`` sessions, or a
  quarter of the frozen ones if that is more, ended (one full collection then, with everything
  unfrozen, and a freeze again: as in Python's own rule for full collections, a collection of
  the whole heap comes only after garbage in proportion to it, so a server that drops 10,000
  sessions at once causes 3 or 4 of them, not 20). The last logins of
  a burst (fewer than ``freeze_every``) are frozen once no login came for
  :data:`SETTLE_SECONDS`, so an idle bridge's collections scan nothing of the sessions.

During a burst of logins (from a login until the burst's last logins are frozen), what survives
a young collection is frozen right after it (:meth:`GCPolicy.after_collection`, a
:data:`gc.callbacks` entry; :func:`gc.freeze` only joins two lists). A login storm's survivors
are mostly the new sessions, which live on: without this each was scanned again by the next
generation-1 collection, which then held what three young collections left (at 10,000 users the
longest collections of a storm, 59-94 ms, and half the collector's time). What became garbage
in a reference cycle after it survived waits for the next collection of ended sessions, as
what a freeze every ``freeze_every`` logins holds always did. Between bursts collections are
Python's (a bridge passing messages for months keeps no garbage frozen), with Python's own
generation-0 threshold (:data:`IDLE_THRESHOLD`). Nothing young is frozen then, and Python
counts a generation's size as allocations minus deallocations: while old objects die as new
ones replace them (a presence, a re-armed timer), the young generations fill without their
collection coming nearer. A generation-1 collection then scans what three young ones left,
whose objects refer into a heap of a gigabyte at 10,000 sessions, where the collector's read
of each object referred to is a cache miss (about 0.2 µs per reference there, a fifth of that
with 300 sessions). With the login threshold such a pass took 161 ms once while 10,000
sessions were idle (``bench/gc_idle.py`` measures both thresholds). The generation-2
threshold rises in proportion, so that full collections, which scan everything made since
the last freeze (382 ms once, idle after a start with Synapse's backlog in flight), come no
sooner than with the login threshold.

0 for either keeps Python's behaviour. At shutdown (:meth:`GCPolicy.stopping`) nothing is
collected any more: the process is about to end, and a full collection per ``freeze_every``
ended sessions would only hold up the stop.
"""

from __future__ import annotations

from typing import Final
import asyncio
import gc
import logging
import time

__all__ = ["DEFAULT_FREEZE_EVERY", "DEFAULT_THRESHOLD", "IDLE_THRESHOLD", "GCPolicy", "policy"]

log = logging.getLogger("mau.gc")

DEFAULT_THRESHOLD: Final = 10000
DEFAULT_FREEZE_EVERY: Final = 500
#: Generation-0 threshold between bursts of logins (Python's; at most the configured one).
IDLE_THRESHOLD: Final = 700
#: Generation-1 threshold: young collections between two of generation 1 (Python: 10).
GEN1_THRESHOLD: Final = 3
#: Generation-2 threshold with the burst's generation-0 threshold (Python's: 100).
GEN2_THRESHOLD: Final = 100
#: Seconds without a login after which the logins since the last freeze are frozen too.
SETTLE_SECONDS: Final = 10.0


class GCPolicy:
    """Counts logins and ended sessions and freezes / collects as described above."""

    __slots__ = (
        "ended",
        "freeze_every",
        "freezes",
        "frozen",
        "idle_threshold",
        "last_login",
        "logins",
        "promotions",
        "releases",
        "settle",
        "settle_seconds",
        "shutting_down",
        "threshold",
    )

    def __init__(self) -> None:
        self.threshold = 0
        self.idle_threshold = IDLE_THRESHOLD
        self.freeze_every = 0
        self.logins = 0  # since the last freeze
        self.ended = 0  # sessions ended since the last release
        self.frozen = 0  # sessions frozen (logins frozen, less the sessions ended, at a release)
        self.freezes = 0
        self.promotions = 0  # young collections whose survivors were frozen (in bursts)
        self.releases = 0
        self.shutting_down = False
        self.last_login = 0.0
        self.settle_seconds = SETTLE_SECONDS
        self.settle: asyncio.TimerHandle | None = None

    def configure(self, threshold: int, freeze_every: int) -> None:
        self.threshold = max(0, threshold)
        self.freeze_every = max(0, freeze_every)
        if self.threshold:
            # (without bursts, which freezing makes, one threshold for all times)
            self._set_threshold(self.in_burst or not self.freeze_every)
        log.debug("GC thresholds %s, freeze every %d logins", gc.get_threshold(), freeze_every)

    def logged_in(self) -> None:
        """A session is online: every ``freeze_every`` of them, freeze what is alive; the burst
        of logins it is part of lasts until none came for ``settle_seconds``."""
        if not self.freeze_every:
            return
        self.logins += 1
        self.last_login = time.monotonic()
        if self.logins >= self.freeze_every:
            self._freeze()
        if self.settle is None and not self.shutting_down:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # (no loop, no timer to end a burst: none begins)
            self.settle = loop.call_later(self.settle_seconds, self._settled)
            if not self.in_burst:
                gc.callbacks.append(self.after_collection)
                self._set_threshold(True)

    def _settled(self) -> None:
        """No login for a while: freeze what the last ones made and end the burst (or look
        again later)."""
        self.settle = None
        if self.shutting_down:
            return
        quiet = time.monotonic() - self.last_login
        if quiet < self.settle_seconds:
            loop = asyncio.get_running_loop()
            self.settle = loop.call_later(self.settle_seconds - quiet, self._settled)
            return
        if self.logins:
            self._freeze()
        self._burst_over()

    def after_collection(self, phase: str, info: dict[str, int]) -> None:
        """(In a burst, from :data:`gc.callbacks`.) A young collection ended: freeze what it
        left, so no later collection scans it again."""
        if phase != "stop" or info["generation"] == 2:
            return
        if time.monotonic() - self.last_login > 2 * self.settle_seconds:
            return  # (the loop whose timer ends the burst is gone: a test's, say)
        gc.freeze()
        self.promotions += 1

    @property
    def in_burst(self) -> bool:
        """Whether a burst of logins is on: its collection callback is installed."""
        return self.after_collection in gc.callbacks

    def _burst_over(self) -> None:
        if self.in_burst:
            gc.callbacks.remove(self.after_collection)
            self._set_threshold(False)

    def _set_threshold(self, burst: bool) -> None:
        """The burst's generation-0 threshold or the lower one between bursts (module doc)."""
        if not self.threshold:
            return  # Python's
        young = self.threshold if burst else min(self.threshold, self.idle_threshold)
        # full collections as rare in allocations as with the burst's threshold: they scan
        # everything made since the last freeze, a lower young threshold must not bring them on
        gc.set_threshold(young, GEN1_THRESHOLD, -(-GEN2_THRESHOLD * self.threshold // young))

    def _freeze(self) -> None:
        self.frozen += self.logins
        self.logins = 0
        gc.collect(1)  # the young generations only: fast
        gc.freeze()
        self.freezes += 1

    def session_ended(self) -> None:
        """A session ended: once enough did (see the module doc), collect what frozen ones left
        behind."""
        # (not gc.get_freeze_count(): it walks every frozen object, at each ended session)
        if not self.freeze_every or self.shutting_down or not self.freezes:
            return
        self.ended += 1
        if self.ended >= max(self.freeze_every, self.frozen // 4):
            self.frozen = max(0, self.frozen - self.ended) + self.logins  # frozen again below
            self.logins = 0
            self.ended = 0
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.releases += 1
            log.info(
                "Collected what ended sessions left: %.0f ms",
                (time.perf_counter() - started) * 1000,
            )

    def stopping(self) -> None:
        """The bridge stops: ended sessions are not collected after (see the module doc)."""
        self.shutting_down = True
        self._burst_over()
        if self.settle is not None:
            self.settle.cancel()
            self.settle = None


#: The bridge's policy (configured at start-up from the config).
policy: Final = GCPolicy()
