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
* ``write_together (now)``: the kept connection of :mod:`bridge.db.batch`, over TCP (as in the
  tests and the benchmarks) and over the server's Unix socket (README "Scaling");

once with one statement (``Inbox.keep``) and once with two (a message's record and the removal
of what it was made from: ``write_together``'s ``WITH``). The pool is set up as the bridge sets
it (no reset query on release, :mod:`bridge.db.pg_pool`). It prints the bridge-side CPU per
write (user and system time of the thread, best of ``--repeat`` rounds) and its ratio to the
floor; the database server's own work is not in it. With ``--gap MS`` the writes come that far
apart, as a conversation's messages do, so that the server sleeps between them: waking it is
part of what a write costs the sender.
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
    db: Database,
    write: Write,
    per_write: int,
    n: int,
    repeat: int,
    seqs: itertools.count[int],
    gap: float,
) -> float:
    """Best CPU per write (ms) over ``repeat`` rounds of ``n`` writes of new rows, ``gap``
    seconds apart (0: back to back)."""
    best = float("inf")
    for _ in range(repeat):
        writes = [[_row(next(seqs)) for _ in range(per_write)] for _ in range(n)]
        spent = 0.0
        for statements in writes:
            if gap:
                await asyncio.sleep(gap)
            started = time.thread_time()
            await write(db, statements)
            spent += time.thread_time() - started
        best = min(best, spent / n)
        await db.execute("DELETE FROM incoming")
    return best * 1000


async def _database(url: str) -> Database:
    db = Database.create(url, upgrade_table=bridge_db.upgrade_table)
    pg_pool.skip_reset_query(db)
    await db.start()
    return db


async def run(writes: int, repeat: int, gap: float) -> list[dict[str, Any]]:
    pg = PostgresServer()
    await asyncio.to_thread(pg.start)
    try:
        url = await asyncio.to_thread(pg.create_database)
        db = await _database(url)
        # the same database over the server's Unix socket (pg.root is its socket directory)
        name = url.rsplit("/", 1)[1]
        unix = await _database(f"postgres://postgres@/{name}?host={pg.root}&port={pg.port}")
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

                paths: list[tuple[str, Database, Write]] = [
                    ("floor: asyncpg, one held connection", db, floor),
                    ("mautrix db.execute", db, mautrix_execute),
                    ("pool + transaction (stop 18)", db, pool_transaction),
                    ("write_together (now)", db, write_together),
                    ("write_together, Unix socket", unix, write_together),
                ]
                try:
                    for name, on, write in paths:
                        ms = await _rounds(
                            on, write, statements_per_write, writes, repeat, seqs, gap
                        )
                        results.append(
                            {"path": name, "statements": statements_per_write, "ms": ms}
                        )
                finally:
                    await db.pool.release(held)  # type: ignore[attr-defined]
        finally:
            for database in (db, unix):
                await batch.release(database)
                await database.stop()
    finally:
        await asyncio.to_thread(pg.stop)
    return results


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=3000, help="writes per round")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gap", type=float, default=0.0, help="ms between writes (0: back to back)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args()
    results = await run(args.writes, args.repeat, args.gap / 1000)
    spacing = f"{args.gap:g} ms apart" if args.gap else "back to back"
    print(
        f"PostgreSQL writes of a bridged message, {args.writes} per round ({spacing}), "
        f"bridge-side CPU (best of {args.repeat} rounds)"
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
