"""Cold readings made small, and history kept for its legal period: the SQL of ``readings_archive``
(migration 070) and of the retention of ingest's time series. The compliance leader's jobs call it
(``compliance/storage.py``); ingest's writer calls ``check_archived`` in every batch.

On the Apache-only TimescaleDB build (Debian's) a UTC day of readings older than the compaction age
becomes one ``readings_archive`` row per series: times as microsecond deltas, values as exact scaled
integers (or the doubles themselves), flags, receipt times to the second and sources, as arrays that
PostgreSQL compresses with lz4. ``readings_range()`` (SQL) serves hot and archived readings as one
table. With the Timescale licence TimescaleDB compresses the hypertable itself and the archive stays
empty.

Safety. A key is in ``readings`` or in the archive, never both, and no reading is lost, through one
protocol between the writers and the compaction (see the migration): readings before the guard time
may be compacted at any moment, so a batch holding any takes the shared archive lock and drops
(or sets aside, when the value differs) those whose key is archived; the compaction raises the guard
first, which waits for every batch that read the old guard, and compacts each day in one transaction
under the exclusive lock: archive rows written and hot rows deleted together, or neither. A late
reading for a compacted day is stored hot and merged into its day's archive row by the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import psycopg

from ingest.core.query import Query

ARCHIVE_LOCK = 7_212_070  # advisory lock: writers of old readings (shared) and the compaction


def licensed(conn: psycopg.Connection) -> bool:
    """TimescaleDB with the Timescale licence: compression and policies exist."""
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return bool(row and row[0] == "timescale")


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


# --- the readers' side ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchivedDay:
    """One archive row as stored (the arrays undecoded): see ``decode``."""

    day: date
    parameter_id: int
    time_deltas: list[int]
    scale: int | None
    values_i2: list[int] | None
    values_i4: list[int] | None
    values_f8: list[float] | None
    flags: list[str]


def archived_days(
    point_id: int, parameter_ids: Sequence[int], start: datetime, end: datetime
) -> Query[ArchivedDay]:
    """The archive rows of a point's UTC days that meet [start, end), by day and parameter."""
    return Query(
        "SELECT day, parameter_id, time_deltas, scale, values_i2, values_i4, values_f8,"
        " flags::text[] AS flags FROM readings_archive WHERE point_id = %s AND parameter_id = ANY(%s)"
        " AND day >= (%s AT TIME ZONE 'UTC')::date AND day <= (%s AT TIME ZONE 'UTC')::date"
        " ORDER BY day, parameter_id",
        (point_id, list(parameter_ids), start, end),
        ArchivedDay,
    )


Reading = tuple[datetime, int, float, str]  # time (naive, UTC), parameter_id, value, flag


def decode(rows: Sequence[tuple[Any, ...]], start: datetime, end: datetime) -> list[Reading]:
    """One UTC day's archive rows (``archived_days``' columns, any parameters) as readings in [start,
    end), in (time, parameter) order, with naive UTC times (made in C, at a fraction of the cost of
    aware ones: a 30-day page is 43,200 of them). The same values as ``readings_archive_values()``
    (migration 070) by the same arithmetic: times the day's start plus the running sum of the deltas,
    scaled integers divided by 10^scale in doubles."""
    times, params, values, flags = [], [], [], []
    for day, pid, deltas, scale, i2, i4, f8, fl in rows:
        times.append(np.cumsum(np.asarray(deltas, dtype=np.int64)) + _epoch_us(day_start(day)))
        if scale is None:
            values.append(np.asarray(f8, dtype=np.float64))
        else:
            values.append(np.asarray(i2 if i2 is not None else i4, dtype=np.float64) / 10.0**scale)
        params.append(np.full(len(deltas), pid, dtype=np.int64))
        flags.extend(fl)
    t, p, v = np.concatenate(times), np.concatenate(params), np.concatenate(values)
    order = np.lexsort((p, t))  # by time, then parameter
    order = order[(t[order] >= _epoch_us(start)) & (t[order] < _epoch_us(end))]
    stamps = t[order].astype("datetime64[us]").tolist()
    fl = np.asarray(flags, dtype=object)[order].tolist()
    return list(zip(stamps, p[order].tolist(), v[order].tolist(), fl, strict=True))


def _epoch_us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- the writers' side -----------------------------------------------------------------------------
# FOR SHARE: the compaction's UPDATE of the guard waits for this transaction, so a batch that saw the
# old guard has committed before anything under the new one is compacted.
_HOLDS_OLD = (
    "SELECT EXISTS (SELECT 1 FROM staging_readings"
    " WHERE time < (SELECT guard FROM readings_archive_guard FOR SHARE))"
)
# Staged readings whose key is archived are not new: they leave the staging table; those whose value or
# flag differs are set aside with the archived one (the stored reading stands, as for a hot one).
_ARCHIVED_TWINS = (
    "WITH keys AS (SELECT DISTINCT point_id, parameter_id, (time AT TIME ZONE 'UTC')::date AS day"
    "  FROM staging_readings WHERE time < (SELECT guard FROM readings_archive_guard)),"
    " arch AS (SELECT a.point_id, a.parameter_id, u.time, u.value, u.flag, u.received_at, u.source"
    "  FROM keys k JOIN readings_archive a USING (point_id, parameter_id, day)"
    "  CROSS JOIN LATERAL readings_archive_rows(a) u),"
    " gone AS (DELETE FROM staging_readings s USING arch r WHERE r.point_id = s.point_id"
    "  AND r.parameter_id = s.parameter_id AND r.time = s.time"
    "  RETURNING s.point_id, s.parameter_id, s.time, s.value, s.flag, s.source, r.value AS stored_value,"
    "  r.flag AS stored_flag, r.source AS stored_source, r.received_at AS stored_at)"
    " INSERT INTO staging_conflicts SELECT * FROM gone"
    " WHERE value IS DISTINCT FROM stored_value OR flag <> stored_flag"
)


def check_archived(conn: psycopg.Connection) -> None:
    """Inside a batch, after its readings are staged and before they are inserted: when the batch holds
    readings old enough to be compacted, take the shared archive lock and remove from the staging table
    those whose key is archived (see the module's docstring). A live batch costs one scan of the
    staging table."""
    row = conn.execute(_HOLDS_OLD).fetchone()
    if row and row[0]:
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (ARCHIVE_LOCK,))
        conn.execute(_ARCHIVED_TWINS)


# --- compaction (Apache build) ----------------------------------------------------------------------
def raise_guard(conn: psycopg.Connection, to: datetime) -> None:
    """Readings before ``to`` may be compacted from now on. Commit before compacting under it: the
    update waits for every batch that read the old guard."""
    conn.execute("UPDATE readings_archive_guard SET guard = %s WHERE guard < %s", (to, to))


def days_to_compact(conn: psycopg.Connection, before: date) -> list[date]:
    """The UTC days before ``before`` that still have hot readings (from the hypertable's one-day
    chunks: no scan of the readings)."""
    rows = conn.execute(
        "SELECT DISTINCT d::date FROM timescaledb_information.chunks c"
        " CROSS JOIN LATERAL generate_series((c.range_start AT TIME ZONE 'UTC')::date,"
        "  (c.range_end AT TIME ZONE 'UTC')::date - 1, interval '1 day') d"
        " WHERE c.hypertable_name = 'readings' AND c.range_start < %s ORDER BY 1",
        (day_start(before),),
    ).fetchall()
    return [r[0] for r in rows if r[0] < before]


# One statement per UTC day: the day's hot readings (of some points, or all) and the archived readings
# of the same series-days (late data merges into its day's row; should a key be in both, the archived
# reading stands), encoded per series. Scale: the decimal places of the shortest text of each value
# (extra_float_digits 1 gives the shortest exact form), the most in the series; a value in exponent
# form, more than 9 places, or -0 (a scaled integer has no negative zero) keeps the series in doubles.
# ``exact`` re-checks every scaled value.
_COMPACT = """
WITH hot AS (
    SELECT point_id, parameter_id, time, value, flag, received_at, source, 1 AS pri FROM readings
    WHERE time >= %(d0)s AND time < %(d1)s AND (%(pts)s::integer[] IS NULL OR point_id = ANY(%(pts)s))
), series AS (
    SELECT DISTINCT point_id, parameter_id FROM hot
), old AS (
    SELECT a.point_id, a.parameter_id, u.time, u.value, u.flag, u.received_at, u.source, 0 AS pri
    FROM series s JOIN readings_archive a ON a.point_id = s.point_id AND a.parameter_id = s.parameter_id
     AND a.day = %(day)s CROSS JOIN LATERAL readings_archive_rows(a) u
), src AS (
    SELECT DISTINCT ON (point_id, parameter_id, time) * FROM (SELECT * FROM old UNION ALL SELECT * FROM hot) x
    ORDER BY point_id, parameter_id, time, pri
), d AS (
    SELECT point_id, parameter_id, time, value, flag, source, pri,
      (extract(epoch FROM time - coalesce(lag(time) OVER w, %(d0)s)) * 1000000)::bigint AS dt,
      (floor(extract(epoch FROM received_at)) - coalesce(lag(floor(extract(epoch FROM received_at))) OVER w,
        extract(epoch FROM %(d0)s)))::integer AS rd,
      CASE WHEN value::text ~ '^-?[0-9]+(\\.[0-9]+)?$' AND value::text <> '-0'
        THEN length(split_part(value::text, '.', 2)) END AS places
    FROM src WINDOW w AS (PARTITION BY point_id, parameter_id ORDER BY time)
), g AS (
    SELECT point_id, parameter_id, max(abs(value)) AS top,
      array_agg(DISTINCT source ORDER BY source) AS sources,
      CASE WHEN count(places) = count(*) AND max(places) <= 9 THEN max(places) END AS scale
    FROM d GROUP BY 1, 2
), k AS (
    SELECT point_id, parameter_id, scale, sources,
      CASE WHEN scale IS NULL THEN 'f8' WHEN round(top * 10 ^ scale) <= 32767 THEN 'i2'
           WHEN round(top * 10 ^ scale) <= 2147483647 THEN 'i4' ELSE 'f8' END AS kind
    FROM g
), rows AS (
    SELECT d.point_id, d.parameter_id, count(*) AS n, count(*) FILTER (WHERE d.pri = 1) AS moved,
      array_agg(d.dt ORDER BY d.time) AS time_deltas,
      CASE WHEN k.kind = 'f8' THEN NULL ELSE k.scale END AS scale,
      array_agg(round(d.value * 10 ^ k.scale)::smallint ORDER BY d.time) FILTER (WHERE k.kind = 'i2') AS i2,
      array_agg(round(d.value * 10 ^ k.scale)::integer ORDER BY d.time) FILTER (WHERE k.kind = 'i4') AS i4,
      array_agg(d.value ORDER BY d.time) FILTER (WHERE k.kind = 'f8') AS f8,
      array_agg(d.flag ORDER BY d.time) AS flags,
      array_agg(d.rd ORDER BY d.time) AS received_deltas,
      k.sources,
      array_agg(array_position(k.sources, d.source)::smallint ORDER BY d.time)
        FILTER (WHERE cardinality(k.sources) > 1) AS source_index,
      bool_and(k.kind = 'f8' OR round(d.value * 10 ^ k.scale) / 10 ^ k.scale = d.value) AS exact
    FROM d JOIN k USING (point_id, parameter_id)
    GROUP BY d.point_id, d.parameter_id, k.kind, k.scale, k.sources
), ins AS (
    INSERT INTO readings_archive AS a (point_id, parameter_id, day, n, time_deltas, scale, values_i2,
      values_i4, values_f8, flags, received_deltas, sources, source_index)
    SELECT point_id, parameter_id, %(day)s, n, time_deltas, scale, i2, i4, f8, flags, received_deltas,
      sources, source_index FROM rows
    ON CONFLICT (point_id, parameter_id, day) DO UPDATE SET n = EXCLUDED.n,
      time_deltas = EXCLUDED.time_deltas, scale = EXCLUDED.scale, values_i2 = EXCLUDED.values_i2,
      values_i4 = EXCLUDED.values_i4, values_f8 = EXCLUDED.values_f8, flags = EXCLUDED.flags,
      received_deltas = EXCLUDED.received_deltas, sources = EXCLUDED.sources,
      source_index = EXCLUDED.source_index, compacted_at = now()
    RETURNING a.point_id, a.parameter_id
)
SELECT count(*), coalesce(sum(r.moved), 0)::bigint, coalesce(bool_and(r.exact), true)
FROM ins JOIN rows r USING (point_id, parameter_id)
"""


@dataclass(frozen=True)
class Compacted:
    day: date
    series: int  # archive rows written
    readings: int  # hot readings moved into them


class NotExact(RuntimeError):
    """An archive row would not give back a value exactly: the day is left as it was."""


def compact_day(conn: psycopg.Connection, day: date, point_ids: Sequence[int] | None = None) -> Compacted:
    """Move one UTC day of hot readings (of ``point_ids``, or all) into the archive, merging into the
    day's archive rows. Run it in its own transaction: it takes the exclusive archive lock, and writes
    the archive rows and deletes the hot ones together. Idempotent: a day without hot readings is left
    alone. Raises ``NotExact`` (the caller rolls back) if any value would not come back exactly."""
    d0, d1 = day_start(day), day_start(day + timedelta(days=1))
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (ARCHIVE_LOCK,))
    conn.execute("SET LOCAL extra_float_digits = 1")
    conn.execute("SET LOCAL work_mem = '64MB'")
    pts = list(point_ids) if point_ids is not None else None
    row = conn.execute(_COMPACT, {"d0": d0, "d1": d1, "day": day, "pts": pts}).fetchone()
    series, moved, exact = (row[0], row[1], row[2]) if row else (0, 0, True)
    if not exact:
        raise NotExact(f"readings of {day} would not come back exactly from the archive")
    if pts is None:
        # Every reading of the day is archived now: the day's chunk goes whole (no dead rows to vacuum).
        sql = "SELECT drop_chunks('readings', older_than => %s, newer_than => %s)"
        if conn.execute(sql, (d1, d0)).fetchall():
            return Compacted(day, int(series), int(moved))
    conn.execute(
        "DELETE FROM readings WHERE time >= %(d0)s AND time < %(d1)s"
        " AND (%(pts)s::integer[] IS NULL OR point_id = ANY(%(pts)s))",
        {"d0": d0, "d1": d1, "pts": pts},
    )
    return Compacted(day, int(series), int(moved))


# --- compression (Timescale licence) -----------------------------------------------------------------
def keep_compression_policy(conn: psycopg.Connection, after: timedelta) -> bool:
    """Make TimescaleDB's compression policy on ``readings`` compress chunks older than ``after``
    (segmented by point and parameter, migration 003); True when the policy was changed."""
    row = conn.execute(
        "SELECT (config->>'compress_after')::interval = %s::interval FROM timescaledb_information.jobs"
        " WHERE hypertable_name = 'readings' AND proc_name = 'policy_compression'",
        (after,),
    ).fetchone()
    if row and row[0]:
        return False
    conn.execute("SELECT remove_compression_policy('readings', if_exists => true)")
    conn.execute("SELECT add_compression_policy('readings', compress_after => %s::interval)", (after,))
    return True


# --- retention ---------------------------------------------------------------------------------------
def drop_archived(conn: psycopg.Connection, point_ids: Sequence[int], before: date) -> int:
    """Delete the archive rows of these points for UTC days before ``before``; how many."""
    cur = conn.execute(
        "DELETE FROM readings_archive WHERE point_id = ANY(%s) AND day < %s", (list(point_ids), before)
    )
    return cur.rowcount


def drop_compressed_chunks(conn: psycopg.Connection, before: datetime) -> int:
    """Timescale licence: drop the chunks of ``readings`` that end before ``before`` and are compressed
    (a chunk not compressed yet waits for the policy)."""
    rows = conn.execute(
        "SELECT drop_chunks('readings', older_than => c.range_end, newer_than => c.range_start)"
        " FROM timescaledb_information.chunks c WHERE c.hypertable_name = 'readings'"
        " AND c.is_compressed AND c.range_end <= %s",
        (before,),
    ).fetchall()
    return len(rows)


def oldest_day(conn: psycopg.Connection, point_ids: Sequence[int], hot: bool) -> date | None:
    """The UTC day of the oldest reading of these points in the archive, and in the hypertable too when
    ``hot`` (None: no readings)."""
    row = conn.execute(
        "SELECT least((SELECT min(day) FROM readings_archive WHERE point_id = ANY(%(ids)s)),"
        " CASE WHEN %(hot)s THEN (SELECT (min(time) AT TIME ZONE 'UTC')::date FROM readings"
        "  WHERE point_id = ANY(%(ids)s)) END)",
        {"ids": list(point_ids), "hot": hot},
    ).fetchone()
    return row[0] if row else None


def drop_statistics(conn: psycopg.Connection, before: datetime) -> int:
    """The loggers' own records, their equipment status and sample checks before ``before``: whole
    chunks of the first two (hypertables of 30 days), rows of the third; how many chunks and rows."""
    dropped = 0
    for table in ("logger_statistics", "equipment_status"):
        rows = conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", (table, before)).fetchall()
        dropped += len(rows)
    dropped += conn.execute("DELETE FROM sample_checks WHERE time < %s", (before,)).rowcount
    return dropped


# --- sizes (the benchmark, /metrics) -------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    hot_readings: int
    hot_bytes: int  # heap, indexes and TOAST of every chunk
    archived_readings: int
    archived_bytes: int  # heap, index and TOAST of readings_archive


def sizes(conn: psycopg.Connection) -> Sizes:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM readings), hypertable_size('readings'),"
        " (SELECT coalesce(sum(n), 0) FROM readings_archive), pg_total_relation_size('readings_archive')"
    ).fetchone()
    assert row is not None
    return Sizes(int(row[0]), int(row[1] or 0), int(row[2]), int(row[3]))
