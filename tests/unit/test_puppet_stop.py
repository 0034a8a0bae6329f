"""At shutdown a ghost's name that waits for its interval (bridge.limits.display_name_interval)
is dropped, not sent to a homeserver session and a database that are closing."""

from __future__ import annotations

import asyncio

import pytest

from bridge.db.puppet import Puppet as DBPuppet
from bridge.ids import GhostIDs
from bridge.puppet import Puppet


async def test_a_held_name_is_dropped_at_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Puppet, "ghost_ids", GhostIDs("msn_{userid}", "msn.test"), raising=False)
    monkeypatch.setattr(Puppet, "name_interval", 3600.0)
    monkeypatch.setattr(Puppet, "by_passport", {})
    applied: list[str | None] = []

    async def update_info(self: Puppet, name: str | None, force: bool) -> bool:
        applied.append(name)  # (stands in for the homeserver request and the row's save)
        self.row.friendly_name, self.row.name_set = name, True
        return True

    monkeypatch.setattr(Puppet, "_update_info", update_info)
    renamer = Puppet(DBPuppet(passport="renamer@example.com"))
    quiet = Puppet(DBPuppet(passport="quiet@example.com"))
    Puppet.by_passport.update({p.passport: p for p in (renamer, quiet)})

    assert await renamer.update_info("First") is True  # applied at once
    assert await renamer.update_info("Second") is False  # held for the interval
    held = renamer._names._task
    assert held is not None and renamer._names.holding

    Puppet.stop_all()
    with pytest.raises(asyncio.CancelledError):
        await held
    assert applied == ["First"] and not renamer._names.holding
    assert renamer.row.friendly_name == "First"  # the next start applies the newer name
