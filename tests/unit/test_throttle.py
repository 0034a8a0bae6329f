"""bridge.throttle.LatestWins on a virtual clock: a thousand changes a minute reach the other
side a few times, the first at once, the last one always."""

from __future__ import annotations

import itertools

from bridge.throttle import LatestWins
from tests.support.clock import VirtualClock


class Applied:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.values: list[tuple[float, str]] = []
        self.fail_next = 0

    async def __call__(self, value: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("homeserver said no")
        self.values.append((self.clock.now(), value))


async def test_a_thousand_changes_a_minute_cost_a_few_and_the_last_wins() -> None:
    clock = VirtualClock()
    applied = Applied(clock)
    names = LatestWins(applied, 20.0, clock)
    assert await names.set("name 0") is True  # the first change is applied at once
    for i in range(1, 1000):
        await clock.advance(0.06)  # 1,000 changes in one minute
        await names.set(f"name {i}")
    await clock.advance(60)
    times = [t for t, _ in applied.values]
    assert len(applied.values) <= 4, applied.values
    assert applied.values[-1][1] == "name 999"
    assert all(b - a >= 20.0 for a, b in itertools.pairwise(times))
    assert names.superseded >= 990 and not names.holding


async def test_a_quiet_value_is_applied_at_once_and_a_failure_is_reported() -> None:
    clock = VirtualClock()
    applied = Applied(clock)
    errors: list[BaseException] = []
    names = LatestWins(applied, 20.0, clock, on_error=errors.append)
    await names.set("a")
    await clock.advance(25)
    assert await names.set("b") is True  # nothing for a whole interval: at once
    applied.fail_next = 1
    assert await names.set("c") is False
    await clock.advance(20)
    assert len(errors) == 1 and applied.values[-1][1] == "b"
    assert await names.set("d") is False  # the failed attempt counted as a change
    await clock.advance(20)
    assert applied.values[-1] == (65.0, "d")
