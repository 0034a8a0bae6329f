"""Cost of the bridge's metrics: what recording adds per bridged message, and what a scrape costs.

Run with ``python bench/metrics.py [--messages N] [--users N] [--repeat N]``. It prints:

* per message, the recording calls a bridged message makes (``message_bridged`` with its latency
  observation), and a failed one (``send_failed``), in nanoseconds, against a baseline measured in
  the same run: a call to a Python function that does nothing (what recording costs at least,
  and what it costs without prometheus_client, where mautrix's no-op stand-ins take its place);
* one scrape (``generate_latest`` of the default registry with the bridge's series, mautrix's
  and the process collector), with ``--users`` logged-in users feeding the session gauges, against
  the same scrape with no users, in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
import argparse
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prometheus_client import REGISTRY, generate_latest

from bridge import metrics


def _noop(direction: str, received_at: float | None = None) -> None:
    return None


def per_call_ns(fn: object, count: int, repeat: int, *args: object) -> float:
    """Best of ``repeat`` runs of ``count`` calls, in nanoseconds per call."""
    call = fn  # local for speed
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for _ in range(count):
            call(*args)  # type: ignore[operator]
        best = min(best, (time.perf_counter_ns() - started) / count)
    return best


def scrape_ms(repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        generate_latest(REGISTRY)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    now = time.monotonic()

    base = per_call_ns(_noop, args.messages, args.repeat, metrics.MATRIX_TO_MSN, now)
    bridged = per_call_ns(
        metrics.message_bridged, args.messages, args.repeat, metrics.MATRIX_TO_MSN, now
    )
    failed = per_call_ns(
        metrics.send_failed, args.messages, args.repeat, "msn_to_matrix", "offline"
    )
    print(f"recording, per message ({args.messages} calls, best of {args.repeat}):")
    print(f"  baseline (empty function call)      {base:8.0f} ns")
    print(f"  message_bridged (+latency observe)  {bridged:8.0f} ns  ({bridged / base:5.1f}x)")
    print(f"  send_failed                         {failed:8.0f} ns  ({failed / base:5.1f}x)")

    metrics.track_sessions(lambda: [])
    empty = scrape_ms(args.repeat)
    sessions = [(i % 3 != 0, i % 4) for i in range(args.users)]
    metrics.track_sessions(lambda: sessions)
    loaded = scrape_ms(args.repeat)
    print(f"scrape (generate_latest, best of {args.repeat}):")
    print(f"  baseline, no users                  {empty:8.2f} ms")
    print(
        f"  {args.users} logged-in users              {loaded:8.2f} ms  ({loaded / empty:5.2f}x)"
    )


if __name__ == "__main__":
    main()
