"""A Matrix user's permission flags come from ``bridge.permissions`` through the config's one
lookup: exact user ID, then its server, then ``"*"``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from bridge.config import Config, base_config_path
from bridge.db.user import User as DBUser
from bridge.user import User

EXAMPLE = Path(__file__).resolve().parents[2] / "example-config.yaml"


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Config:
    config = Config(str(EXAMPLE), "", base_config_path())
    config.load()
    config["bridge.permissions"] = {
        "*": "relay",
        "hs.test": "user",
        "@boss:hs.test": "admin",
        "@banned:hs.test": "none",
    }
    monkeypatch.setattr(User, "config", config, raising=False)
    monkeypatch.setattr(User, "az", SimpleNamespace(intent=None), raising=False)
    return config


@pytest.mark.parametrize(
    ("mxid", "relay", "whitelisted", "admin", "level"),
    [
        ("@boss:hs.test", True, True, True, "admin"),
        ("@joe:hs.test", True, True, False, "user"),
        ("@eve:other.test", True, False, False, "relay"),
        ("@banned:hs.test", False, False, False, "none"),
    ],
)
async def test_user_flags_follow_the_configured_level(
    config: Config, mxid: str, relay: bool, whitelisted: bool, admin: bool, level: str
) -> None:
    user = User(DBUser(mxid=mxid))
    assert (user.relay_whitelisted, user.is_whitelisted, user.is_admin) == (
        relay,
        whitelisted,
        admin,
    )
    assert user.permission_level == level


async def test_a_level_the_config_rejects_grants_nothing(config: Config) -> None:
    # "block" was once understood by the user's own lookup; the config only knows
    # none/relay/user/admin, and anything else counts as "none"
    config["bridge.permissions"] = {"hs.test": "block", "*": "user"}
    user = User(DBUser(mxid="@joe:hs.test"))
    assert not (user.relay_whitelisted or user.is_whitelisted or user.is_admin)
    assert user.permission_level == "none"
