"""What a login reads of the kept address book (bridge.endpoint_state): a small one is read on
the event loop, a large one in a worker thread, either way the same cache."""

from __future__ import annotations

from dataclasses import replace
import asyncio

from mautrix.util.async_db import Database
import pytest

from bridge import endpoint_state
from bridge.db.user import User as DBUser
from bridge.msnp.ab_login import THREAD_PARSE_BYTES, AbCache
from bridge.msnp.ab_store import dump_cache, load_cache
from bridge.msnp.addressbook import AbContact
from tests.unit.test_ab_store import BOOK, MEMBERS


async def test_a_small_kept_book_is_read_on_the_loop_and_a_large_one_in_a_thread(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded: list[object] = []
    real = asyncio.to_thread

    async def to_thread(func: object, /, *args: object) -> object:
        threaded.append(func)
        return await real(func, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(endpoint_state.asyncio, "to_thread", to_thread)
    small = AbCache(BOOK, MEMBERS)
    many = tuple(AbContact(f"c{i}", f"user{i}@example.com", display_name="x" * 200)
                 for i in range(THREAD_PARSE_BYTES // 200))  # fmt: skip
    large = AbCache(replace(BOOK, contacts=many), MEMBERS)
    assert len(dump_cache(small)) < THREAD_PARSE_BYTES <= len(dump_cache(large))
    for mxid, cache, in_thread in (("@s:hs", small, False), ("@l:hs", large, True)):
        row = DBUser(mxid=mxid, passport="a@example.com", protocol=18)
        await row.insert()
        await row.write_ab_cache(dump_cache(cache))
        threaded.clear()
        kept = (await endpoint_state.stored(row, "a@example.com"))["ab_cache"]
        assert kept is not None and kept == load_cache(dump_cache(cache))
        assert bool(threaded) is in_thread
    # another account's, or one last seen at MSNP12: not read at all
    assert not endpoint_state.reads_cache(row, "b@example.com")
    assert not endpoint_state.reads_cache(replace(row, protocol=12), "a@example.com")
