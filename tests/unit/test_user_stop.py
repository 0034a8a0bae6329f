"""A user's stop (bridge shutdown) cancels what their login started in the background: once
the appservice has stopped, that work could only fail (the homeserver connection is closed)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
import asyncio

import pytest

from bridge import double_puppet, matrix_presence
from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.msnp.events import LoggedIn
from bridge.user import User

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"


async def test_stop_cancels_the_work_a_login_started(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    monkeypatch.setattr(User, "config", config, raising=False)
    monkeypatch.setattr(User, "az", SimpleNamespace(intent=None), raising=False)
    started: list[str] = []
    cancelled: list[str] = []
    all_cancelled = asyncio.Event()

    def waiting(name: str):  # type: ignore[no-untyped-def]
        async def work(*_: object) -> None:
            started.append(name)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(name)
                if len(cancelled) == 2:
                    all_cancelled.set()
                raise

        return work

    monkeypatch.setattr(double_puppet, "enable", waiting("double puppet"))
    monkeypatch.setattr(matrix_presence, "after_login", waiting("presence"))
    user = User(DBUser(mxid="@joe:hs.test"))
    await user.routes._on_logged_in(LoggedIn("joe@example.com", "Joe", 12, {}))
    while len(started) < 2:
        await asyncio.sleep(0)
    await user.stop()
    await asyncio.wait_for(all_cancelled.wait(), 5)
    assert sorted(cancelled) == ["double puppet", "presence"]
