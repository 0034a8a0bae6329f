"""What a bridged message's database write costs the bridge on PostgreSQL: CPU per write.

Run with ``python bench/db_writes.py [--writes 3000] [--repeat 3] [--json FILE]``. It starts a
throwaway PostgreSQL (tests/support/pg.py), creates the bridge's schema and stores rows of the
``incoming`` table (what :class:`bridge.inbox.Inbox` keeps for every received message) one
after the other, as a bridged message does, through:

* ``floor``: asyncpg on one connection it holds, the statement alone;
* ``mautrix db.execute``: a connection taken from the pool and given back per write (what
  ``Outgoing.set_progress`` and a two-statement ``write_together`` did at stop 18);
* ``pool + transaction (stop 18)``: what ``write_together`` did for one statement: a connection
  from the pool, ``BEGIN``, the statement, ``COMMIT``;
* ``write_together (now)``: the kept connection of :mod:`bridge.db.batch`;

once with one statement (``Inbox.keep``) and once with two (a message's record and the removal
of what it was made from: ``write_together``'s ``WITH``). The pool is set up as the bridge sets
it (no reset query on release, :mod:`bridge.db.pg_pool`). It prints the bridge-side CPU per
write (user and system time of the thread, best of ``--repeat`` rounds) and its ratio to the
floor; the database server's own work is not in it.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
import argparse
import asyncio
import itertools
import json
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mautrix.util.async_db import Database

from bridge import db as bridge_db
from bridge.credentials import CredentialCipher, generate_key
from bridge.db import batch, pg_pool
from bridge.db.batch import Statement, write_together
from bridge.db.incoming import Incoming
from bridge.db.user import User as DBUser
from tests.support.pg import PostgresServer

OWNER = "@bench:msn.test"
Write = Callable[[Database, Sequence[Statement]], Awaitable[None]]


def _combined(statements: Sequence[Statement]) -> Statement:
    return batch._one_statement(statements) if len(statements) > 1 else statements[0]


async def mautrix_execute(db: Database, statements: Sequence[Statement]) -> None:
    query, args = _combined(statements)
    await db.execute(query, *args)


async def pool_transaction(db: Database, statements: Sequence[Statement]) -> None:
    if len(statements) > 1:
        await mautrix_execute(db, statements)  # (stop 18 sent two or more as one WITH)
        return
    conn: Any
    async with db.acquire() as conn, conn.transaction():
        for query, args in statements:
            await conn.execute(query, *args)


def _row(seq: int) -> Statement:
    return Incoming(owner=OWNER, seq=seq, kind="TextMessageReceived", data="{}").insert_statement()


async def _rounds(
    db: Database, write: Write, per_write: int, n: int, repeat: int, seqs: itertools.count[int]
) -> float:
    """Best CPU per write (ms) over ``repeat`` rounds of ``n`` writes of new rows."""
    best = float("inf")
    for _ in range(repeat):
        writes = [[_row(next(seqs)) for _ in range(per_write)] for _ in range(n)]
        started = time.thread_time()
        for statements in writes:
            await write(db, statements)
        best = min(best, (time.thread_time() - started) / n)
        await db.execute("DELETE FROM incoming")
    return best * 1000


async def run(writes: int, repeat: int) -> list[dict[str, Any]]:
    pg = PostgresServer()
    await asyncio.to_thread(pg.start)
    try:
        url = await asyncio.to_thread(pg.create_database)
        db = Database.create(url, upgrade_table=bridge_db.upgrade_table)
        pg_pool.skip_reset_query(db)
        await db.start()
        bridge_db.init(db, CredentialCipher(generate_key()))
        await DBUser(mxid=OWNER).insert()
        seqs = itertools.count(1)
        results: list[dict[str, Any]] = []
        try:
            for statements_per_write in (1, 2):
                held = await db.pool.acquire()  # type: ignore[attr-defined]

                async def floor(
                    _db: Database, statements: Sequence[Statement], conn: Any = held
                ) -> None:
                    query, args = _combined(statements)
                    await conn.execute(query, *args)

                paths: list[tuple[str, Write]] = [
                    ("floor: asyncpg, one held connection", floor),
                    ("mautrix db.execute", mautrix_execute),
                    ("pool + transaction (stop 18)", pool_transaction),
                    ("write_together (now)", write_together),
                ]
                try:
                    for name, write in paths:
                        ms = await _rounds(db, write, statements_per_write, writes, repeat, seqs)
                        results.append(
                            {"path": name, "statements": statements_per_write, "ms": ms}
                        )
                finally:
                    await db.pool.release(held)  # type: ignore[attr-defined]
                    await batch.release(db)
        finally:
            await batch.release(db)
            await db.stop()
    finally:
        await asyncio.to_thread(pg.stop)
    return results


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=3000, help="writes per round")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    results = await run(args.writes, args.repeat)
    print(
        f"PostgreSQL writes of a bridged message, {args.writes} per round, bridge-side CPU "
        f"(best of {args.repeat} rounds)"
    )
    print(f"{'path':38} {'statements':>10} {'ms/write':>9} {'x floor':>8}")
    for statements in (1, 2):
        rows = [r for r in results if r["statements"] == statements]
        floor = rows[0]["ms"]
        for r in rows:
            print(f"{r['path']:38} {statements:>10} {r['ms']:9.3f} {r['ms'] / floor:7.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
