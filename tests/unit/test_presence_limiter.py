"""bridge.presence_limiter.PresenceLimiter with real asyncio time: rate, order, coalescing, resending."""

from __future__ import annotations

from collections.abc import AsyncIterator
import asyncio
import itertools
import time

import pytest

from bridge.presence_limiter import MAX_ATTEMPTS, PresenceLimiter

pytestmark = pytest.mark.timeout(30)

Limiters = list[PresenceLimiter[str, str]]


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str, float]] = []
        self.delay = delay
        self.fail: dict[str, int] = {}  # key -> how many more sends of it fail
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, key: str, value: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.fail.get(key, 0) > 0:
                self.fail[key] -= 1
                raise RuntimeError(f"homeserver said no to {key}")
            self.sent.append((key, value, time.monotonic()))
        finally:
            self.in_flight -= 1

    def values(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v, _ in self.sent]


@pytest.fixture
async def limiters() -> AsyncIterator[Limiters]:
    made: Limiters = []
    yield made
    for limiter in made:
        limiter.stop()


def make(made: Limiters, rec: Recorder, **kwargs: object) -> PresenceLimiter[str, str]:
    limiter: PresenceLimiter[str, str] = PresenceLimiter(rec, **kwargs)  # type: ignore[arg-type]
    made.append(limiter)
    return limiter


async def test_rate_is_bounded_and_order_kept(limiters: Limiters) -> None:
    rec = Recorder()
    limiter = make(limiters, rec, max_per_second=100)
    started = time.monotonic()
    for i in range(40):
        limiter.update(f"ghost{i:02d}", "online")
    await asyncio.wait_for(limiter.drained(), 5)
    elapsed = time.monotonic() - started
    assert rec.values() == [(f"ghost{i:02d}", "online") for i in range(40)]
    # 40 sends at <= 100/s: at least 39 gaps of 10 ms
    assert elapsed >= 0.39 - 0.02
    gaps = [b[2] - a[2] for a, b in itertools.pairwise(rec.sent)]
    assert min(gaps) >= 0.01 - 0.003
    assert rec.max_in_flight == 1
    assert limiter.sent_count == 40


async def test_repeated_updates_are_coalesced_to_the_latest(limiters: Limiters) -> None:
    rec = Recorder()
    limiter = make(limiters, rec, max_per_second=50)
    limiter.update("a", "online")  # sent right away
    await asyncio.sleep(0)
    for i in range(10):
        limiter.update("b", f"b{i}")
        limiter.update("c", f"c{i}")
        limiter.update("a", f"a{i}")
    await asyncio.wait_for(limiter.drained(), 5)
    # "a" keeps its place behind b and c for the second round; only the latest values
    assert rec.values() == [("a", "online"), ("b", "b9"), ("c", "c9"), ("a", "a9")]
    assert limiter.last_sent("a") == "a9"
    assert limiter.pending == 0


async def test_update_during_send_is_not_lost(limiters: Limiters) -> None:
    rec = Recorder(delay=0.05)
    limiter = make(limiters, rec, max_per_second=1000)
    limiter.update("a", "online")
    await asyncio.sleep(0.02)  # "online" is being sent now
    limiter.update("a", "unavailable")
    limiter.update("a", "offline")
    await asyncio.wait_for(limiter.drained(), 5)
    assert rec.values() == [("a", "online"), ("a", "offline")]
    assert limiter.last_sent("a") == "offline"


async def test_failed_send_is_retried_then_given_up(limiters: Limiters) -> None:
    rec = Recorder()
    rec.fail = {"a": 1, "b": MAX_ATTEMPTS}
    limiter = make(limiters, rec, max_per_second=1000)
    limiter.update("a", "online")
    limiter.update("b", "online")
    limiter.update("c", "online")
    await asyncio.wait_for(limiter.drained(), 5)
    assert rec.values() == [("c", "online"), ("a", "online")]
    assert limiter.failed_count == 1 + MAX_ATTEMPTS
    assert limiter.last_sent("b") is None
    # a later update of the given-up key goes through
    limiter.update("b", "unavailable")
    await asyncio.wait_for(limiter.drained(), 5)
    assert rec.values()[-1] == ("b", "unavailable")


async def test_active_values_are_resent_periodically(limiters: Limiters) -> None:
    rec = Recorder()
    limiter = make(
        limiters,
        rec,
        max_per_second=1000,
        resend_interval=0.2,
        is_active=lambda value: value != "offline",
    )
    limiter.update("on", "online")
    limiter.update("off", "offline")
    limiter.update("gone", "online")
    await asyncio.wait_for(limiter.drained(), 5)
    limiter.forget("gone")
    await asyncio.sleep(0.75)
    limiter.update("on", "unavailable")
    await asyncio.sleep(0.5)
    values = rec.values()
    sends = [v for k, v in values if k == "on"]
    assert sends[0] == "online"
    assert sends.count("online") >= 3  # re-sent about every 0.2 s
    assert sends.count("unavailable") >= 2  # the new value is what gets re-sent
    assert "online" not in sends[sends.index("unavailable") :]
    assert [v for k, v in values if k == "off"] == ["offline"]
    assert [v for k, v in values if k == "gone"] == ["online"]
    times = [t for k, _, t in rec.sent if k == "on"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.15 for gap in gaps[:2])  # not re-sent more often than asked


async def test_stop_cancels_the_worker(limiters: Limiters) -> None:
    rec = Recorder()
    limiter = make(limiters, rec, max_per_second=2)
    limiter.update("a", "1")
    limiter.update("b", "2")
    await asyncio.sleep(0.1)
    limiter.stop()
    await asyncio.sleep(0.7)
    assert rec.values() == [("a", "1")]
    assert limiter.pending == 1  # kept, sent when started again
    limiter.start()
    await asyncio.wait_for(limiter.drained(), 5)
    assert rec.values() == [("a", "1"), ("b", "2")]
