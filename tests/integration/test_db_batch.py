"""bridge.db.batch.write_together on the real database (SQLite and PostgreSQL): a caller's
statements are stored together or not at all, and callers writing at the same moment (on SQLite
one trip for all of them) do not share each other's failures."""

from __future__ import annotations

import asyncio

from mautrix.util.async_db import Database
import pytest

from bridge.db.batch import is_duplicate, write_together
from bridge.db.incoming import Incoming
from bridge.db.user import User as DBUser

pytestmark = pytest.mark.timeout(60)

OWNER = "@alice:hs"


def row(seq: int, data: str = "{}") -> Incoming:
    return Incoming(owner=OWNER, seq=seq, kind="TextMessageReceived", data=data)


async def stored() -> dict[int, str]:
    return {r.seq: r.data for r in await Incoming.all_in_order()}


async def test_a_callers_statements_are_stored_together_or_not_at_all(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    await write_together(db, [row(1).insert_statement(), row(2).insert_statement()])
    assert await stored() == {1: "{}", 2: "{}"}
    # the second statement fails (the key exists): the first one is not stored either
    with pytest.raises(Exception) as failed:
        await write_together(db, [row(3).insert_statement(), row(1).insert_statement()])
    assert is_duplicate(failed.value)
    assert await stored() == {1: "{}", 2: "{}"}
    await write_together(db, [row(1).delete_statement(), row(4, "new").insert_statement()])
    assert await stored() == {2: "{}", 4: "new"}


async def test_callers_at_the_same_moment_keep_their_own_outcome(db: Database) -> None:
    await DBUser(mxid=OWNER).insert()
    await write_together(db, [row(0).insert_statement()])
    writes = [
        write_together(db, [row(seq).insert_statement(), row(seq + 100).insert_statement()])
        for seq in range(1, 21)
    ]
    # one caller among them fails half-way (a duplicate of row 0)
    writes.insert(10, write_together(db, [row(50).insert_statement(), row(0).insert_statement()]))
    results = await asyncio.gather(*writes, return_exceptions=True)
    failures = [r for r in results if r is not None]
    assert len(failures) == 1 and results[10] is failures[0]
    assert isinstance(failures[0], Exception) and is_duplicate(failures[0])
    expected = {0, *range(1, 21), *range(101, 121)}
    assert set(await stored()) == expected  # 50 (the failed caller's first row) is not there
