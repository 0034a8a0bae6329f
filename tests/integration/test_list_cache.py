"""The kept contact-list version (bridge.list_cache) on a real database (SQLite and PostgreSQL):
kept and read back for MSNP8-12 logins, gone after an MSNP13+ login, and an MSNP13+ login after
another costs no statement at all, also in a new process."""

from __future__ import annotations

from typing import Any

from mautrix.util.async_db import Database
import pytest

from bridge import list_cache
from bridge.db.user import User as DBUser
from bridge.msnp.events import ListSynced

OWNER, PASSPORT = "@alice:hs.test", "alice@example.com"


def synced(version: str) -> ListSynced:
    return ListSynced(contacts={}, groups={}, version=version)


def count_statements(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent through ``db`` from now on."""
    sent: list[str] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        real = getattr(db, name)

        async def counted(query: str, *args: Any, _real: Any = real, **kw: Any) -> Any:
            sent.append(query)
            return await _real(query, *args, **kw)

        monkeypatch.setattr(db, name, counted)
    return sent


async def test_an_msnp13_login_after_another_costs_no_statement(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(list_cache, "_none_kept", set(), raising=False)  # (a fresh process)
    row = DBUser(mxid=OWNER, passport=PASSPORT, protocol=12)
    await row.insert()
    await list_cache.remember(OWNER, 12, synced("5"), True, None)
    kept = await list_cache.load(row, PASSPORT)
    assert kept is not None and kept.version == "5"

    # the same account logs in at MSNP18: its list has no version, the kept one goes
    await list_cache.remember(OWNER, 18, synced(""), None, None)
    row.protocol = 18
    assert (
        await list_cache.load(DBUser(mxid=OWNER, passport=PASSPORT, protocol=12), PASSPORT) is None
    )

    # a restart, MSNP18 again: nothing to read, nothing to delete
    monkeypatch.setattr(list_cache, "_none_kept", set(), raising=False)
    sent = count_statements(db, monkeypatch)
    assert await list_cache.load(row, PASSPORT) is None
    await list_cache.remember(OWNER, 18, synced(""), None, None)
    assert sent == []

    # MSNP12 again (msn.protocol_max lowered): the whole list comes, its version is kept
    await list_cache.remember(OWNER, 12, synced("7"), True, None)
    row.protocol = 12
    kept = await list_cache.load(row, PASSPORT)
    assert kept is not None and kept.version == "7" and len(sent) > 0
    # and the next MSNP18 login deletes it again (it is not known absent any more)
    await list_cache.remember(OWNER, 18, synced(""), None, None)
    assert await list_cache.load(row, PASSPORT) is None


async def test_a_version_left_by_an_interrupted_msnp13_login_is_never_used(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row says MSNP18 but a version is still stored (the bridge stopped before the
    list came): it is not read, and the next MSNP8-12 login replaces it."""
    monkeypatch.setattr(list_cache, "_none_kept", set(), raising=False)
    row = DBUser(mxid=OWNER, passport=PASSPORT, protocol=12)
    await row.insert()
    await list_cache.remember(OWNER, 12, synced("5"), True, None)
    row.protocol = 18
    assert await list_cache.load(row, PASSPORT) is None  # (the whole list is fetched)
    await list_cache.remember(OWNER, 12, synced("9"), False, None)
    row.protocol = 12
    kept = await list_cache.load(row, PASSPORT)
    assert kept is not None and (kept.version, kept.allow_unlisted) == ("9", False)
