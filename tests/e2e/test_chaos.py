"""The chaos test, short: messages both ways over several conversations while the MSN server
drops the user's notification and switchboard connections and the bridge restarts; nothing is
lost, nothing arrives twice, the order holds (``bench/chaos.py`` is the 1,000-message run)."""

from __future__ import annotations

import pytest

from tests.support.chaos import ChaosPlan, describe, run_chaos
from tests.support.harness import Stack

pytestmark = pytest.mark.timeout(600)


async def test_chaos_short(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    plan = ChaosPlan(
        messages_each_way=80, conversations=3, ns_drops=1, sb_drops=1, bridge_restarts=1, seed=6
    )
    result = await run_chaos(stack, plan)
    report = describe(result)
    print(report)
    assert sum("drop" in f and "skipped" not in f for f in result.faults) == 2, report
    assert "bridge restart" in result.faults, report
    for direction in (result.to_msn, result.to_matrix):
        assert direction.sent == plan.messages_each_way, report
        assert direction.lost == 0, report
        assert direction.duplicated == 0, report
        assert direction.out_of_order == 0, report
    # A failure the user is told about is only allowed where the bridge cannot know: a
    # message written when its switchboard was dropped, at most one per conversation and drop.
    assert result.to_msn.reported_failed <= plan.sb_drops * plan.conversations, report
    assert result.to_matrix.reported_failed == 0, report
    errors = stack.bridge.errors_since(log_mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)
