"""The cache of Matrix users on a real database: anyone may write to the bridge bot, but only
users with a permission level are stored and kept in memory."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from mautrix.types import UserID
from mautrix.util.async_db import Database
import pytest

from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.puppet import Puppet
from bridge.user import User

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Config:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    config["homeserver.domain"] = "hs.test"
    config["bridge.permissions"] = {"*": "none", "hs.test": "user"}
    monkeypatch.setattr(User, "config", config, raising=False)
    az = SimpleNamespace(intent=None, bot_mxid="@bot:hs.test")
    monkeypatch.setattr(User, "az", az, raising=False)
    monkeypatch.setattr(User, "by_mxid", {})
    monkeypatch.setattr(Puppet, "ghost_ids", config.ghost_ids, raising=False)
    return config


async def test_users_without_permission_leave_nothing_behind(db: Database, config: Config) -> None:
    for i in range(300):
        stranger = await User.get_by_mxid(UserID(f"@spam{i}:elsewhere.test"))
        assert stranger is not None and not stranger.relay_whitelisted  # refused, not ignored
    assert User.by_mxid == {}
    assert await db.fetchval('SELECT COUNT(*) FROM "user"') == 0

    joe = await User.get_by_mxid(UserID("@joe:hs.test"))
    assert joe is not None and joe.is_whitelisted
    assert await User.get_by_mxid(UserID("@joe:hs.test")) is joe
    assert list(User.by_mxid) == ["@joe:hs.test"]
    assert await DBUser.get_by_mxid("@joe:hs.test") is not None


async def test_a_change_whose_save_failed_stays_unsaved(
    db: Database, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a login asks before it writes the user's row: a change is unsaved until a save of
    it succeeded (a failed one leaves it for the next login), a save clears it."""
    joe = await User.get_by_mxid(UserID("@joe:hs.test"))
    assert joe is not None and not joe.unsaved()
    joe.row.protocol = 18
    assert joe.unsaved()
    real = DBUser.update

    async def failing(self: DBUser) -> None:
        raise OSError("database gone")

    monkeypatch.setattr(DBUser, "update", failing)
    with pytest.raises(OSError):
        await joe.save()
    assert joe.unsaved()
    monkeypatch.setattr(DBUser, "update", real)
    await joe.save()
    assert not joe.unsaved()
    assert await db.fetchval('SELECT protocol FROM "user" WHERE mxid=$1', "@joe:hs.test") == 18
    joe.row.protocol = 18  # the same value again: nothing to write
    assert not joe.unsaved()
