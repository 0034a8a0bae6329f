"""The e2e harness's ``Stack.command``: a command Synapse never handed to the bridge is sent
once more; one the bridge saw and did not answer fails the test."""

from __future__ import annotations

from typing import Any
from types import SimpleNamespace
import re

import pytest

from tests.support.harness import Stack
from tests.support.synapse import WaitTimeout


class FakeUser:
    """Answers the command's ``answered``-th sending (1-based), never the others."""

    def __init__(self, answered: int) -> None:
        self.sent: list[str] = []
        self.answered = answered

    def mark(self, room: str) -> int:
        return len(self.sent)

    async def send_text(self, room: str, text: str) -> str:
        self.sent.append(text)
        return f"$event{len(self.sent)}"

    async def wait_for_message(self, room: str, pattern: re.Pattern[str], **kw: Any) -> dict:
        if len(self.sent) != self.answered:
            raise WaitTimeout("no reply")
        return {"content": {"body": "Online"}}


def stack(log: str) -> Any:
    return SimpleNamespace(bot_mxid="@bot:hs", bridge=SimpleNamespace(log_text=lambda: log))


async def test_a_command_the_bridge_never_received_is_sent_once_more() -> None:
    user = FakeUser(answered=2)
    reply = await Stack.command(stack(""), user, "!m", "status online", "Online")  # type: ignore[arg-type]
    assert reply["content"]["body"] == "Online" and user.sent == ["status online"] * 2


async def test_a_command_the_bridge_saw_and_did_not_answer_fails() -> None:
    user = FakeUser(answered=2)
    with pytest.raises(WaitTimeout):
        await Stack.command(stack("Received Matrix event $event1 from"), user, "!m", "x", "y")  # type: ignore[arg-type]
    assert user.sent == ["x"]


async def test_no_third_try() -> None:
    user = FakeUser(answered=3)
    with pytest.raises(WaitTimeout):
        await Stack.command(stack(""), user, "!m", "x", "y")  # type: ignore[arg-type]
    assert user.sent == ["x", "x"]
