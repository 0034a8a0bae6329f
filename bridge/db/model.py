"""A small dataclass-to-SQL base shared by every table model.

A model is a ``@dataclass`` that subclasses :class:`Model` and names its table and primary key::

    @dataclass
    class Contact(Model, table="contact", primary_key=("owner", "passport")):
        owner: str
        passport: str
        lists: int = 0

The dataclass fields are the columns (write each one once, here). From them the base builds the
SELECT / INSERT / UPDATE / DELETE statements with ``$n`` placeholders, which
:mod:`mautrix.util.async_db` runs on both asyncpg (PostgreSQL) and aiosqlite (SQLite; the
placeholders are rewritten there).

A field declared with ``field(metadata={"column": False})`` is runtime state, not a column.
Fields annotated ``bool`` are converted back from SQLite's 0/1 integers when rows are read.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self
from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import Enum
import time

from mautrix.util.async_db import Database

__all__ = ["Model", "next_seq", "quote"]

_last_seq = 0


def next_seq() -> int:
    """A number above every one returned before, in this process and (being the time in
    microseconds when possible) in earlier ones: it orders queued rows."""
    global _last_seq
    _last_seq = max(_last_seq + 1, time.time_ns() // 1000)
    return _last_seq


def quote(identifier: str) -> str:
    """Quote an SQL identifier (``user`` is a reserved word in PostgreSQL)."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Statements:
    columns: tuple[str, ...]
    bool_columns: frozenset[str]
    select: str
    insert: str
    update: str | None
    delete: str
    pk_where: str


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    if isinstance(annotation, str):
        parts = {part.strip() for part in annotation.split("|")}
        return "bool" in parts
    return False


def _build(cls: type[Model]) -> _Statements:
    cols = tuple(f.name for f in fields(cls) if f.metadata.get("column", True))  # type: ignore[arg-type]
    bools = frozenset(
        f.name for f in fields(cls) if f.name in cols and _is_bool(f.type)  # type: ignore[arg-type]
    )
    pk = cls._primary_key
    missing = set(pk) - set(cols)
    if missing:
        raise TypeError(f"{cls.__name__}: primary key fields {sorted(missing)} are not columns")
    table = quote(cls._table)
    non_pk = [c for c in cols if c not in pk]
    col_list = ", ".join(quote(c) for c in cols)
    placeholders = ", ".join(f"${i}" for i in range(1, len(cols) + 1))
    pk_where = " AND ".join(f"{quote(c)}=${i}" for i, c in enumerate(pk, start=1))
    update = None
    if non_pk:
        sets = ", ".join(f"{quote(c)}=${i}" for i, c in enumerate(non_pk, start=1))
        where = " AND ".join(f"{quote(c)}=${i}" for i, c in enumerate(pk, start=len(non_pk) + 1))
        update = f"UPDATE {table} SET {sets} WHERE {where}"
    return _Statements(
        columns=cols,
        bool_columns=bools,
        select=f"SELECT {col_list} FROM {table}",
        insert=f"INSERT INTO {table} ({col_list}) VALUES ({placeholders})",
        update=update,
        delete=f"DELETE FROM {table} WHERE {pk_where}",
        pk_where=pk_where,
    )


class Model:
    """Base for the table models; see the module documentation."""

    db: ClassVar[Database]
    _table: ClassVar[str]
    _primary_key: ClassVar[tuple[str, ...]]

    def __init_subclass__(
        cls, *, table: str | None = None, primary_key: tuple[str, ...] | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if table is not None:
            cls._table = table
        if primary_key is not None:
            cls._primary_key = tuple(primary_key)

    # region statements and (de)serialisation

    @classmethod
    def _sql(cls) -> _Statements:
        # Built on first use: the @dataclass decorator runs after __init_subclass__.
        stmts = cls.__dict__.get("_statements")
        if stmts is None:
            stmts = _build(cls)
            cls._statements = stmts  # type: ignore[attr-defined]
        return stmts

    def _encode(self, column: str, value: Any) -> Any:
        """Convert one attribute value for the database. Subclasses may extend this."""
        if isinstance(value, Enum):
            return value.value
        return value

    def _values(self) -> list[Any]:
        return [self._encode(c, getattr(self, c)) for c in self._sql().columns]

    def column_values(self) -> tuple[Any, ...]:
        """Every stored attribute as it is in memory (not encoded): equal before and after a
        change exactly when there is nothing new to write."""
        return tuple(getattr(self, c) for c in self._sql().columns)

    def _pk_values(self) -> list[Any]:
        return [self._encode(c, getattr(self, c)) for c in self._primary_key]

    @classmethod
    def _decode(cls, row: Any) -> dict[str, Any]:
        stmts = cls._sql()
        data: dict[str, Any] = {}
        for col in stmts.columns:
            value = row[col]
            if value is not None and col in stmts.bool_columns:
                value = bool(value)
            data[col] = value
        return data

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """Build a model from a database row (asyncpg ``Record`` or ``sqlite3.Row``)."""
        return cls(**cls._decode(row))

    # endregion
    # region queries for subclasses

    @classmethod
    async def _get_one(cls, where: str, *args: Any) -> Self | None:
        row = await cls.db.fetchrow(f"{cls._sql().select} WHERE {where}", *args)
        return cls.from_row(row) if row is not None else None

    @classmethod
    async def _get_all(
        cls, where: str | None = None, *args: Any, order_by: str = ""
    ) -> list[Self]:
        query = cls._sql().select
        if where:
            query += f" WHERE {where}"
        if order_by:
            query += f" ORDER BY {order_by}"
        rows = await cls.db.fetch(query, *args)
        return [cls.from_row(row) for row in rows]

    @classmethod
    async def of_owners(
        cls, owners: Sequence[str], column: str = "owner"
    ) -> dict[str, list[Self]]:
        """The rows of each of ``owners`` (by the value of ``column``; owners without rows are
        left out), in one statement: what each would have read alone, read for all at once."""
        if not owners:
            return {}
        places = ", ".join(f"${i}" for i in range(1, len(owners) + 1))
        rows = await cls.db.fetch(
            f"{cls._sql().select} WHERE {quote(column)} IN ({places})", *owners
        )
        found: dict[str, list[Self]] = {}
        for row in rows:
            model = cls.from_row(row)
            found.setdefault(getattr(model, column), []).append(model)
        return found

    @classmethod
    async def get(cls, *pk: Any) -> Self | None:
        """Fetch one row by its full primary key (values in primary-key order)."""
        if len(pk) != len(cls._primary_key):
            raise TypeError(f"{cls.__name__}.get() needs {len(cls._primary_key)} key values")
        return await cls._get_one(cls._sql().pk_where, *pk)

    # endregion
    # region writes

    async def insert(self) -> None:
        """INSERT this row; fails if the primary key already exists."""
        await self.db.execute(self._sql().insert, *self._values())

    def insert_statement(self) -> tuple[str, list[Any]]:
        """What :meth:`insert` runs, for :func:`bridge.db.batch.write_together`."""
        return self._sql().insert, self._values()

    def delete_statement(self) -> tuple[str, list[Any]]:
        """What :meth:`delete` runs, for :func:`bridge.db.batch.write_together`."""
        return self._sql().delete, self._pk_values()

    async def update(self) -> None:
        """UPDATE every non-key column of the row with this primary key."""
        stmts = self._sql()
        if stmts.update is None:
            return
        non_pk = [c for c in stmts.columns if c not in self._primary_key]
        values = [self._encode(c, getattr(self, c)) for c in non_pk]
        await self.db.execute(stmts.update, *values, *self._pk_values())

    async def delete(self) -> None:
        """DELETE the row with this primary key."""
        await self.db.execute(self._sql().delete, *self._pk_values())

    # endregion
