"""A named read: one SQL literal, its parameters and the frozen dataclass each row becomes.

The module that owns a table (see ARCHITECTURE.md, "Who writes which table") defines every read other
packages need as a function returning a ``Query``. Its own callers, which are sync, run it with
``fetch``; the API runs the very same object on its async connection with ``fetch_async``. So the SQL
over a table is written once, in its owner's module, whichever kind of connection runs it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, LiteralString, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row

R = TypeVar("R")


@dataclass(frozen=True)
class Query(Generic[R]):
    sql: LiteralString
    params: Mapping[str, object] | Sequence[object]
    row: type[R]  # a frozen dataclass whose fields are the query's column names

    def fetch(self, conn: psycopg.Connection[Any]) -> list[R]:
        with conn.cursor(row_factory=class_row(self.row)) as cur:
            return cur.execute(self.sql, self.params).fetchall()

    def first(self, conn: psycopg.Connection[Any]) -> R | None:
        with conn.cursor(row_factory=class_row(self.row)) as cur:
            return cur.execute(self.sql, self.params).fetchone()

    async def fetch_async(self, conn: AsyncConnection[Any]) -> list[R]:
        async with conn.cursor(row_factory=class_row(self.row)) as cur:
            await cur.execute(self.sql, self.params)
            return await cur.fetchall()

    async def first_async(self, conn: AsyncConnection[Any]) -> R | None:
        async with conn.cursor(row_factory=class_row(self.row)) as cur:
            await cur.execute(self.sql, self.params)
            return await cur.fetchone()
