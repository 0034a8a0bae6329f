"""bridge.presence_limiter.PresenceLimiter on a virtual clock: rate, order, coalescing,
retries, re-sending and stopping, with exact times and no real waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator
import itertools

import pytest

from bridge.presence_limiter import MAX_ATTEMPTS, PresenceLimiter
from tests.support.clock import VirtualClock

Limiters = list[PresenceLimiter[str, str]]


class Recorder:
    """The send callback: records (key, value, virtual time), can be slow or fail."""

    def __init__(self, clock: VirtualClock, delay: float = 0.0) -> None:
        self.clock = clock
        self.sent: list[tuple[str, str, float]] = []
        self.delay = delay
        self.fail: dict[str, int] = {}  # key -> how many more sends of it fail
        self.failures = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, key: str, value: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await self.clock.sleep(self.delay)
            if self.fail.get(key, 0) > 0:
                self.fail[key] -= 1
                self.failures += 1
                raise RuntimeError(f"homeserver said no to {key}")
            self.sent.append((key, value, self.clock.now()))
        finally:
            self.in_flight -= 1

    def values(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v, _ in self.sent]

    def times(self, key: str) -> list[float]:
        return [t for k, _, t in self.sent if k == key]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def limiters() -> AsyncIterator[Limiters]:
    made: Limiters = []
    yield made
    for limiter in made:
        limiter.stop()


def make(made: Limiters, rec: Recorder, **kwargs: object) -> PresenceLimiter[str, str]:
    limiter: PresenceLimiter[str, str] = PresenceLimiter(rec, clock=rec.clock, **kwargs)  # type: ignore[arg-type]
    made.append(limiter)
    return limiter


async def test_rate_is_bounded_and_order_kept(clock: VirtualClock, limiters: Limiters) -> None:
    rec = Recorder(clock)
    limiter = make(limiters, rec, max_per_second=128)
    for i in range(40):
        limiter.update(f"ghost{i:02d}", "online")
    await clock.run_until(lambda: len(rec.sent) == 40)
    assert rec.values() == [(f"ghost{i:02d}", "online") for i in range(40)]
    # one send every 1/128 s, the first at once
    assert [t for _, _, t in rec.sent] == [i / 128 for i in range(40)]
    assert rec.max_in_flight == 1


async def test_repeated_updates_are_coalesced_to_the_latest(
    clock: VirtualClock, limiters: Limiters
) -> None:
    rec = Recorder(clock)
    limiter = make(limiters, rec, max_per_second=64)
    limiter.update("a", "online")  # sent right away
    await clock.settle()
    for i in range(10):
        limiter.update("b", f"b{i}")
        limiter.update("c", f"c{i}")
        limiter.update("a", f"a{i}")
    await clock.run_until(lambda: len(rec.sent) == 4)
    await clock.advance(1)
    # "a" keeps its place behind b and c for the second round; only the latest values
    assert rec.values() == [("a", "online"), ("b", "b9"), ("c", "c9"), ("a", "a9")]
    assert limiter.last_sent("a") == "a9"


async def test_update_during_send_is_not_lost(clock: VirtualClock, limiters: Limiters) -> None:
    rec = Recorder(clock, delay=0.0625)
    limiter = make(limiters, rec, max_per_second=1024)
    limiter.update("a", "online")
    await clock.advance(0.03125)  # "online" is being sent now
    assert rec.in_flight == 1
    limiter.update("a", "unavailable")
    limiter.update("a", "offline")
    await clock.run_until(lambda: len(rec.sent) == 2)
    await clock.advance(1)
    assert rec.values() == [("a", "online"), ("a", "offline")]
    assert rec.times("a") == [0.0625, 0.0625 + 0.0625]
    assert limiter.last_sent("a") == "offline"


async def test_the_value_being_sent_is_not_queued_again(
    clock: VirtualClock, limiters: Limiters
) -> None:
    # Several users list the same contact: their sessions report its presence one after the
    # other while the first report is on its way to the homeserver.
    rec = Recorder(clock, delay=0.0625)
    limiter = make(limiters, rec, max_per_second=1024)
    limiter.update("a", "online")
    await clock.advance(0.03125)  # "online" is being sent now
    assert rec.in_flight == 1
    limiter.update("a", "online")
    limiter.update("a", "away")
    limiter.update("a", "online")  # the latest wish is the value under way
    await clock.advance(1)
    assert rec.values() == [("a", "online")]
    assert limiter.last_sent("a") == "online"


async def test_a_value_that_changed_back_while_queued_is_not_sent_again(
    clock: VirtualClock, limiters: Limiters
) -> None:
    # One user's session sees the contact offline for a moment (it is still connecting) while
    # the others report them online: the queued value ends where the sent one was.
    rec = Recorder(clock)
    limiter = make(limiters, rec, max_per_second=4, resend_interval=20)
    limiter.update("a", "online")
    limiter.update("b", "online")
    await clock.advance(0.5)  # "a" and "b" sent
    limiter.update("a", "offline")
    limiter.update("c", "online")
    limiter.update("a", "online")  # back to what was sent, before it was sent
    await clock.advance(5)
    assert rec.values() == [("a", "online"), ("b", "online"), ("c", "online")]
    limiter.update("a", "away")  # a real change still goes out
    await clock.advance(1)
    assert rec.values()[-1] == ("a", "away")
    await clock.advance(25)  # and the re-sends of unchanged values still happen
    assert rec.values().count(("b", "online")) == 2


async def test_failed_send_is_retried_then_given_up(
    clock: VirtualClock, limiters: Limiters
) -> None:
    rec = Recorder(clock)
    rec.fail = {"a": 1, "b": MAX_ATTEMPTS}
    limiter = make(limiters, rec, max_per_second=1024)
    limiter.update("a", "online")
    limiter.update("b", "online")
    limiter.update("c", "online")
    await clock.run_until(lambda: rec.failures == 1 + MAX_ATTEMPTS and len(rec.sent) == 2)
    await clock.advance(1)
    assert rec.values() == [("c", "online"), ("a", "online")]
    assert rec.failures == 1 + MAX_ATTEMPTS
    assert limiter.last_sent("b") is None
    # a later update of the given-up key goes through
    limiter.update("b", "unavailable")
    await clock.run_until(lambda: len(rec.sent) == 3)
    assert rec.values()[-1] == ("b", "unavailable")


async def test_active_values_are_resent_periodically(
    clock: VirtualClock, limiters: Limiters
) -> None:
    rec = Recorder(clock)
    limiter = make(
        limiters,
        rec,
        max_per_second=1024,
        resend_interval=0.25,
        is_active=lambda value: value != "offline",
    )
    limiter.update("on", "online")
    limiter.update("off", "offline")
    await clock.advance(0.75)
    limiter.update("on", "unavailable")
    await clock.advance(0.5)
    # checked every 0.25 / 4 s; a value is re-sent once its last send is 0.25 s old; the new
    # value waits its turn behind the re-send at 0.75 (one send per 1/1024 s)
    assert [v for k, v in rec.values() if k == "on"] == ["online"] * 4 + ["unavailable"] * 2
    assert rec.times("on") == [0, 0.25, 0.5, 0.75, 0.75 + 1 / 1024, 1.0625]
    assert [v for k, v in rec.values() if k == "off"] == ["offline"]
    gaps = [b - a for a, b in itertools.pairwise(rec.times("on")[:4])]
    assert gaps == [0.25, 0.25, 0.25]  # not re-sent more often than asked


async def test_stop_cancels_the_worker(clock: VirtualClock, limiters: Limiters) -> None:
    rec = Recorder(clock)
    limiter = make(limiters, rec, max_per_second=2)
    limiter.update("a", "1")
    limiter.update("b", "2")
    await clock.advance(0.25)
    limiter.stop()
    await clock.advance(1)
    assert rec.values() == [("a", "1")]  # "b" stays queued while stopped ...
    limiter.start()
    await clock.run_until(lambda: len(rec.sent) == 2)
    assert rec.values() == [("a", "1"), ("b", "2")]  # ... and is sent when started again
    assert rec.times("b") == [1.25]
