"""Linear time, checked by scaling rather than by a deadline.

The same worst-case shape at 4x the size must cost less than 10x the CPU time: linear work costs
4x (a little more once the larger input leaves the CPU caches), quadratic work 16x. Each cost is
the least CPU time of a few runs, and a ratio over the bound is measured again, up to three times,
so one unlucky measurement on a busy machine does not fail the check; a quadratic cost fails
every time.
"""

from __future__ import annotations

from collections.abc import Callable
import time

BOUND = 10.0
ATTEMPTS = 3


def best_of(fn: Callable[[], object], runs: int = 5) -> float:
    """The least CPU time of ``runs`` calls (CPU time: other processes do not count)."""
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return best


def scaling_ratio(fn: Callable[[object], object], small: object, large: object) -> float:
    """The least of up to ``ATTEMPTS`` measured cost ratios ``fn(large) / fn(small)``."""
    ratio = float("inf")
    for _ in range(ATTEMPTS):
        ratio = min(ratio, best_of(lambda: fn(large)) / max(best_of(lambda: fn(small)), 1e-6))
        if ratio < BOUND:
            break
    return ratio


def assert_linear(fn: Callable[[object], object], small: object, large: object) -> None:
    """``large`` is ``small``'s shape at 4x the size; fail if it costs quadratically more."""
    ratio = scaling_ratio(fn, small, large)
    assert ratio < BOUND, f"4x the input cost {ratio:.1f}x the time"
