"""A named read: one SQL literal, its parameters and the frozen dataclass each row becomes.

The module that owns a table (see ARCHITECTURE.md, "Who writes which table") defines every read other
packages need as a function returning a ``Query``. Its own callers, which are sync, run it with
``fetch``; the API runs the very same object on its async connection with ``fetch_async``. So the SQL
over a table is written once, in its owner's module, whichever kind of connection runs it."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, LiteralString, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import BaseRowFactory, RowMaker

R = TypeVar("R")


def dataclass_row(cls: type[R]) -> BaseRowFactory[R]:
    """Rows as ``cls``, like psycopg's ``class_row``, but built positionally once the cursor's column
    names are checked against the fields, in order: half the cost per row of building by keyword, which
    counts on the API's hot paths (a day of minute readings is 1440 rows)."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def factory(cursor: Any) -> RowMaker[R]:  # a sync or async cursor
        got = tuple(c.name for c in cursor.description or ())
        if got != names:
            raise TypeError(f"{cls.__name__} has fields {names}; the query returns {got}")

        def make(values: Sequence[Any]) -> R:
            return cls(*values)

        return make

    return factory


@dataclass(frozen=True)
class Query(Generic[R]):
    sql: LiteralString
    params: Mapping[str, object] | Sequence[object]
    row: type[R]  # a frozen dataclass whose fields are the query's columns, in order

    def fetch(self, conn: psycopg.Connection[Any]) -> list[R]:
        with conn.cursor(row_factory=dataclass_row(self.row)) as cur:
            return cur.execute(self.sql, self.params).fetchall()

    def first(self, conn: psycopg.Connection[Any]) -> R | None:
        with conn.cursor(row_factory=dataclass_row(self.row)) as cur:
            return cur.execute(self.sql, self.params).fetchone()

    async def fetch_async(self, conn: AsyncConnection[Any]) -> list[R]:
        async with conn.cursor(row_factory=dataclass_row(self.row)) as cur:
            await cur.execute(self.sql, self.params)
            return await cur.fetchall()

    async def first_async(self, conn: AsyncConnection[Any]) -> R | None:
        async with conn.cursor(row_factory=dataclass_row(self.row)) as cur:
            await cur.execute(self.sql, self.params)
            return await cur.fetchone()

    async def stream_async(
        self, conn: AsyncConnection[Any], size: int, name: str = "outfall_stream"
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """The rows in lists of at most ``size`` from a server-side cursor, so a large result is never
        held whole, here or in the client's buffer; run it inside a transaction. Rows come as plain
        tuples in the order of the row class's fields (checked): a streamed result is usually long
        enough for the objects' cost to count. ``name``: the cursor's, unique among those open at once."""
        # The whole result is read: plan for it, not for its first tenth (a cursor's default), which
        # prefers index orders that skip the sort and scan far more rows.
        await conn.execute("SET LOCAL cursor_tuple_fraction = 1")
        async with conn.cursor(name=name, row_factory=_checked_tuples(self.row)) as cur:
            await cur.execute(self.sql, self.params)
            while rows := await cur.fetchmany(size):
                yield rows


def _checked_tuples(cls: type[Any]) -> BaseRowFactory[tuple[Any, ...]]:
    names = tuple(f.name for f in fields(cls))

    def factory(cursor: Any) -> RowMaker[tuple[Any, ...]]:
        got = tuple(c.name for c in cursor.description or ())
        if got != names:
            raise TypeError(f"{cls.__name__} has fields {names}; the query returns {got}")
        return tuple

    return factory
