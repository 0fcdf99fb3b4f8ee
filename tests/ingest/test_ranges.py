"""The readings endpoint's raw range (ingest/core/ranges.py: hot rows and archived days decoded in the
process) gives exactly what readings_range() gives (SQL, the other readers' path): every value, flag and
time, in (time, parameter) order, across archived and hot days, with late hot readings inside archived
days, several parameters, a range that starts and ends inside days, and a limit."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.core import archive, ranges
from ingest.core import reads as ingest_reads
from tests.ingest.test_archive import point_ids

_days = itertools.count()
VALUES = st.one_of(
    st.integers(-(10**6), 10**6).flatmap(lambda k: st.sampled_from([k, k / 10, k / 1000, k / 10**6])),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
)
# (day 0-2, minute, parameter, value, flag, archived first?)
ROWS = st.lists(
    st.tuples(
        st.integers(0, 2), st.integers(0, 1439), st.sampled_from([1, 9, 27]), VALUES,
        st.sampled_from("NNNSFMDT"), st.booleans(),
    ),
    min_size=1,
    max_size=150,
    unique_by=lambda r: r[:3],
)  # fmt: skip


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, cut=st.tuples(st.integers(0, 1500), st.integers(0, 1500)), limit=st.integers(1, 200))
def test_the_streamed_range_is_readings_range(db, services, make_park, rows, cut, limit):
    pid = point_ids(db, _park(make_park))["shop-01/total"]
    first = date(2020, 1, 1) + timedelta(days=3 * next(_days))

    def key(d: int, m: int) -> datetime:
        return archive.day_start(first + timedelta(days=d)) + timedelta(minutes=m)

    def insert(part: list[tuple]) -> None:
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (point_id, parameter_id, time, value, flag, source)"
                " VALUES (%s, %s, %s, %s, %s, 'test')",
                [(pid, q, key(d, m), v, f) for d, m, q, v, f, _ in part],
            )

    insert([r for r in rows if r[5]])
    with psycopg.connect(services.database_url) as conn:
        for d in (0, 1):  # day 2 stays hot; late readings of days 0 and 1 arrive after compaction
            with conn.transaction():
                archive.compact_day(conn, first + timedelta(days=d), [pid])
    insert([r for r in rows if not r[5]])
    start, end = key(0, cut[0]), key(2, cut[1])

    expected = ingest_reads.raw_readings(pid, [1, 9, 27], start, end, limit).fetch(db)
    got = asyncio.run(_streamed(services.database_url, pid, start, end, limit))
    assert [(r.time, r.parameter_id, r.value, r.flag) for r in expected] == got[:limit]
    assert len(got) >= min(limit, len(expected))


async def _streamed(url: str, pid: int, start: datetime, end: datetime, limit: int) -> list[tuple]:
    out: list[tuple] = []
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.transaction():
        chunks = ranges.raw_range(conn, pid, [1, 9, 27], start, end, limit, 7)
        async for chunk in chunks:
            out.extend((ranges.utc(t), q, v, f) for t, q, v, f in chunk)
            if len(out) > limit:
                break
        await chunks.aclose()
    return out


_parks: dict[int, str] = {}


def _park(make_park) -> str:
    key = id(make_park)
    if key not in _parks:
        _parks.clear()
        _parks[key] = make_park().id
    return _parks[key]


def test_times_come_back_aware_in_utc():
    assert ranges.utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
