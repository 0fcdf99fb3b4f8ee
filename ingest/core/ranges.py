"""A point's raw readings over a range, hot and archived alike, streamed: what the readings endpoint
sends for raw pages. ``readings_range()`` (SQL, migration 070) answers the same question for every other
reader (evidence, charts, re-judging) one row at a time, decoding each archived reading in SQL; a long
range is mostly archived days, and here they come as their arrays and are decoded in the process with
numpy (``archive.decode``): measured on 30 days of minute data (23 archived), the database's part went
from about 100 ms to about 10 ms, and the rows' from about 100 ms of parsing to a few.

Rows are ``(time, parameter_id, value, flag)`` with **naive UTC** times (aware ones cost more to make
than the rest of the row), in (time, parameter) order. Each key is hot or archived, never both (see
``archive``); a late reading stored hot for an archived day is merged into its day here."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

from psycopg import AsyncConnection

from ingest.core import archive, reads
from ingest.core.archive import Reading

ARCHIVE_CHUNK = 64  # archive rows (series-days) per fetch


async def raw_range(
    conn: AsyncConnection[Any],
    point_id: int,
    parameter_ids: Sequence[int],
    start: datetime,
    end: datetime,
    limit: int,
    size: int,
) -> AsyncGenerator[list[Reading], None]:
    """The readings in lists, in order; at least ``limit`` of them if there are (the caller stops
    reading when it has enough). Run it inside a transaction (server-side cursors)."""
    await conn.execute("SET LOCAL cursor_tuple_fraction = 1")
    hot_rows = reads.hot_readings(point_id, parameter_ids, start, end, limit)
    hot = _Ahead(hot_rows.stream_async(conn, size, "outfall_hot"))
    days = archive.archived_days(point_id, parameter_ids, start, end).stream_async(
        conn, ARCHIVE_CHUNK, "outfall_archive"
    )
    try:
        async for day, rows in _by_day(days):
            d0 = archive.day_start(day).replace(tzinfo=None)
            if before := await hot.until(d0):
                yield before
            late = await hot.until(d0 + timedelta(days=1))  # hot readings of an archived day
            decoded = archive.decode(rows, start, end)
            yield sorted(decoded + late, key=itemgetter(0, 1)) if late else decoded
        while rest := await hot.until(None):
            yield rest
    finally:
        await days.aclose()
        await hot.chunks.aclose()


async def _by_day(
    chunks: AsyncIterator[list[tuple[Any, ...]]],
) -> AsyncIterator[tuple[date, list[tuple[Any, ...]]]]:
    """Archive rows (ordered by day) grouped by their day."""
    day: date | None = None
    rows: list[tuple[Any, ...]] = []
    async for chunk in chunks:
        for r in chunk:
            if r[0] != day and rows:
                yield day, rows  # type: ignore[misc]  # set once rows is not empty
                rows = []
            day = r[0]
            rows.append(r)
    if rows:
        yield day, rows  # type: ignore[misc]


class _Ahead:
    """Hot rows in time order, read a chunk ahead, handed out up to a time."""

    def __init__(self, chunks: Any) -> None:
        self.chunks = chunks
        self.buf: list[Any] = []
        self.done = False

    async def until(self, t: datetime | None) -> list[Any]:
        """The rows before ``t`` (None: all that are left)."""
        out: list[Any] = []
        while True:
            if not self.buf:
                if self.done:
                    return out
                self.buf = await anext(self.chunks, [])
                self.done = not self.buf
                continue
            i = len(self.buf) if t is None else bisect_left(self.buf, t, key=itemgetter(0))
            out.extend(self.buf[:i])
            self.buf = self.buf[i:]
            if self.buf:
                return out


def utc(t: datetime) -> datetime:
    """A row's time made aware again."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)
