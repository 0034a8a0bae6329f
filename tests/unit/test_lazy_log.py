"""Per-ghost, per-room and per-user-helper loggers are made when first used: logging keeps every
logger it makes for good (about 0.9 KiB each), and most ghosts never log a line."""

from __future__ import annotations

import logging

import pytest

from bridge import lazy_log
from bridge.db.puppet import Puppet as DBPuppet
from bridge.ids import GhostIDs
from bridge.puppet import Puppet


def _known(name: str) -> bool:
    return name in logging.Logger.manager.loggerDict


def test_the_logger_is_made_when_first_used(caplog: pytest.LogCaptureFixture) -> None:
    parent = logging.getLogger("mau.test_lazy")
    log = lazy_log.child(parent, "quiet@example.com")
    assert not _known("mau.test_lazy.quiet@example.com")
    with caplog.at_level(logging.DEBUG, logger="mau.test_lazy"):
        log.debug("hello %s", "there")
    assert _known("mau.test_lazy.quiet@example.com")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("mau.test_lazy.quiet@example.com", "hello there")
    ]
    # the rest of a logger's interface is the real logger's
    assert log.getChild("x") is logging.getLogger("mau.test_lazy.quiet@example.com.x")
    assert log.isEnabledFor(logging.DEBUG) == parent.getChild("quiet@example.com").isEnabledFor(
        logging.DEBUG
    )


def test_a_ghost_that_never_logs_leaves_no_logger_behind(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Puppet, "ghost_ids", GhostIDs("msn_{userid}", "msn.test"), raising=False)
    quiet = Puppet(DBPuppet(passport="quiet.ghost@example.com"))
    talking = Puppet(DBPuppet(passport="talking.ghost@example.com"))
    with caplog.at_level(logging.WARNING, logger="mau.puppet"):
        talking.log.warning("Failed to update the name: %s", "no")
    assert quiet.passport == "quiet.ghost@example.com"
    assert not _known("mau.puppet.quiet.ghost@example.com")
    assert [r.name for r in caplog.records] == ["mau.puppet.talking.ghost@example.com"]
