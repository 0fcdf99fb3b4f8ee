"""SQL of the compliance package: The real-time inbox and the reading series the rules look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import class_row

from compliance.repo.channels import INBOX_CHANNEL, WATCHED_KINDS
from compliance.repo.registry import PointRow

# --- the real-time inbox ----------------------------------------------------------------------------
_CAPTURE = (
    "INSERT INTO compliance_inbox (point_id, parameter_id, time, value, flag, late)"
    " SELECT s.point_id, s.parameter_id, s.time, s.value, s.flag, false FROM staging_readings s"
    " JOIN parameters p ON p.id = s.parameter_id"
    " LEFT JOIN compliance_limits l ON l.point_id = s.point_id AND l.parameter_id = s.parameter_id"
    "  AND l.valid @> s.time"
    " WHERE s.flag NOT IN ('N', 'S') OR s.value < p.plausible_min OR s.value > p.plausible_max"
    "  OR s.value >= l.watch_upper OR s.value < l.watch_lower"
    "  OR EXISTS (SELECT 1 FROM alerts a WHERE a.state IN ('open', 'acknowledged')"
    "   AND a.point_id = s.point_id AND a.parameter_id IN (s.parameter_id, 0) AND a.kind = ANY(%(watched)s))"
    " UNION ALL"
    # Half-hour buckets so that park-local hours of half-hour zones are caught too; the consumer
    # re-judges only windows that are really closed.
    " SELECT point_id, parameter_id, min(time), NULL, NULL, true FROM staging_readings"
    " WHERE time_bucket('30 minutes', time) + interval '30 minutes' + make_interval(secs =>"
    " %(grace)s) < now()"
    " GROUP BY point_id, parameter_id, time_bucket('30 minutes', time)"
)


_CAPTURE_CONFLICTS = (
    "INSERT INTO compliance_inbox (point_id, parameter_id, time, value, flag, late, conflict, stored_value)"
    " SELECT point_id, parameter_id, time, value, flag, false, true, stored_value FROM staging_conflicts"
)


def capture_batch(conn: psycopg.Connection, late_grace_s: float, conflicts: int) -> int:
    """Inside the ingest transaction: queue the batch's readings the real-time rules must see. One
    set-based statement over the staging table, which holds only the readings this batch inserted
    (ingest set the re-sent ones aside), and one over the second values of stored keys when there are
    any; a NOTIFY (sent at commit) wakes the consumer."""
    with conn.cursor() as cur:
        cur.execute(_CAPTURE, {"watched": list(WATCHED_KINDS), "grace": late_grace_s})
        queued = cur.rowcount
        if conflicts:
            cur.execute(_CAPTURE_CONFLICTS)
            queued += cur.rowcount
        if queued > 0:
            cur.execute("SELECT pg_notify(%s, '')", (INBOX_CHANNEL,))
    return queued


@dataclass(frozen=True)
class InboxRow:
    point_id: int
    parameter_id: int
    time: datetime
    value: float | None
    flag: str | None
    late: bool
    queued_at: datetime
    upper: float | None
    lower: float | None
    not_detected: bool
    limit_source: str | None
    conflict: bool = False  # a second value for a stored reading's key
    stored_value: float | None = None


def take_inbox(conn: psycopg.Connection, limit: int) -> list[InboxRow]:
    """Take (delete) up to ``limit`` queued rows with the limit in force at each reading's time.
    SKIP LOCKED lets a second consumer take other rows instead of waiting."""
    with conn.cursor(row_factory=class_row(InboxRow)) as cur:
        return cur.execute(
            "WITH taken AS (DELETE FROM compliance_inbox WHERE id IN (SELECT id FROM compliance_inbox"
            "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *)"
            " SELECT t.point_id, t.parameter_id, t.time, t.value, t.flag, t.late, t.queued_at,"
            "  l.upper, l.lower, coalesce(l.not_detected, false) AS not_detected, l.source AS limit_source,"
            "  t.conflict, t.stored_value"
            " FROM taken t"
            " LEFT JOIN compliance_limits l ON l.point_id = t.point_id AND l.parameter_id = t.parameter_id"
            "  AND l.valid @> t.time ORDER BY t.time",
            (limit,),
        ).fetchall()


def set_aside(conn: psycopg.Connection, rows: Sequence[InboxRow], reason: str) -> None:
    """Keep inbox rows the rules could not judge, with the reason (they are already taken)."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_set_aside (point_id, parameter_id, time, value, flag, late, reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(r.point_id, r.parameter_id, r.time, r.value, r.flag, r.late, reason) for r in rows],
        )


def points(
    conn: psycopg.Connection, ids: Sequence[int] | None = None, park_id: str | None = None
) -> dict[int, PointRow]:
    with conn.cursor(row_factory=class_row(PointRow)) as cur:
        rows = cur.execute(
            "SELECT p.id, p.park_id, p.plant_id, p.code, p.kind, p.interval_s, k.timezone FROM points p"
            " JOIN parks k ON k.id = p.park_id WHERE p.active"
            " AND (%(ids)s::int[] IS NULL OR p.id = ANY(%(ids)s))"
            " AND (%(park)s::text IS NULL OR p.park_id = %(park)s)",
            {"ids": list(ids) if ids is not None else None, "park": park_id},
        ).fetchall()
    return {r.id: r for r in rows}


@dataclass(frozen=True)
class KeyTime:
    """A (point, parameter) series and a time in it: the key of a set-based read."""

    point_id: int
    parameter_id: int
    time: datetime


def _unnest(keys: Sequence[KeyTime]) -> tuple[list[int], list[int], list[datetime]]:
    return [k.point_id for k in keys], [k.parameter_id for k in keys], [k.time for k in keys]


@dataclass(frozen=True)
class FaultStart:
    point_id: int
    parameter_id: int
    start: datetime | None


def fault_run_starts(conn: psycopg.Connection, ends: Sequence[KeyTime]) -> dict[tuple[int, int], datetime]:
    """For each series, the start of the run of invalid readings that ends at its time: the first
    reading after the last valid one (searching back at most 7 days). One statement for all keys."""
    with conn.cursor(row_factory=class_row(FaultStart)) as cur:
        rows = cur.execute(
            "SELECT k.p AS point_id, k.q AS parameter_id, (SELECT min(time) FROM readings WHERE"
            "  point_id = k.p AND parameter_id = k.q AND time <= k.t AND time > greatest(k.t - interval"
            "  '7 days', coalesce((SELECT max(time) FROM readings WHERE point_id = k.p AND parameter_id"
            "  = k.q AND time <= k.t AND flag IN ('N', 'S') AND time > k.t - interval '7 days'),"
            "  '-infinity'))) AS start"
            " FROM unnest(%s::int[], %s::int[], %s::timestamptz[]) AS k(p, q, t)",
            _unnest(ends),
        ).fetchall()
    return {(r.point_id, r.parameter_id): r.start for r in rows if r.start is not None}


@dataclass(frozen=True)
class Sample:
    """A stored reading of a series."""

    time: datetime
    value: float
    flag: str


@dataclass(frozen=True)
class KeySample:
    point_id: int
    parameter_id: int
    time: datetime
    value: float
    flag: str


def series_after(conn: psycopg.Connection, starts: Sequence[KeyTime]) -> dict[tuple[int, int], list[Sample]]:
    """For each series, its stored readings after its time, in time order. One statement for all keys
    (an index range scan per key)."""
    found: dict[tuple[int, int], list[Sample]] = {(k.point_id, k.parameter_id): [] for k in starts}
    with conn.cursor(row_factory=class_row(KeySample)) as cur:
        cur.execute(
            "SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag::text AS flag"
            " FROM unnest(%s::int[], %s::int[], %s::timestamptz[]) AS k(p, q, t)"
            " JOIN readings r ON r.point_id = k.p AND r.parameter_id = k.q AND r.time > k.t"
            " ORDER BY r.point_id, r.parameter_id, r.time",
            _unnest(starts),
        )
        for r in cur:
            found[(r.point_id, r.parameter_id)].append(Sample(r.time, r.value, r.flag))
    return found


def series(
    conn: psycopg.Connection, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[Sample]:
    """A series' readings in [start, end), stored or archived: late data re-judges an hour whose other
    readings may be compacted already."""
    with conn.cursor(row_factory=class_row(Sample)) as cur:
        return cur.execute(
            "SELECT time, value, flag::text AS flag"
            " FROM readings_range(ARRAY[%s]::integer[], ARRAY[%s]::smallint[], %s, %s) ORDER BY time",
            (point_id, parameter_id, start, end),
        ).fetchall()


def last_seen(conn: psycopg.Connection, point_ids: Sequence[int], since: datetime) -> dict[int, datetime]:
    """Latest measurement time per point: one backward index probe per (point, parameter), so the
    sweep costs the same whatever the data rate."""
    rows = conn.execute(
        "SELECT pp.point_id, max(l.t) FROM point_parameters pp CROSS JOIN LATERAL (SELECT r.time AS t"
        " FROM readings r WHERE r.point_id = pp.point_id AND r.parameter_id = pp.parameter_id"
        " AND r.time >= %s ORDER BY r.time DESC LIMIT 1) l WHERE pp.point_id = ANY(%s) GROUP BY pp.point_id",
        (since, list(point_ids)),
    ).fetchall()
    return {r[0]: r[1] for r in rows}


@dataclass(frozen=True)
class LimitRow:
    """The resolved limit of a series at one time."""

    upper: float | None
    lower: float | None
    not_detected: bool
    source: str


def limits_at(
    conn: psycopg.Connection, point_ids: Sequence[int], t: datetime
) -> dict[tuple[int, int], LimitRow]:
    """The limits in force at ``t`` of every series of these points, in one query."""
    rows = conn.execute(
        "SELECT point_id, parameter_id, upper, lower, not_detected, source FROM compliance_limits"
        " WHERE point_id = ANY(%s) AND valid @> %s::timestamptz",
        (list(point_ids), t),
    ).fetchall()
    return {(pid, qid): LimitRow(*rest) for pid, qid, *rest in rows}


def limit_at(conn: psycopg.Connection, point_id: int, parameter_id: int, t: datetime) -> LimitRow | None:
    with conn.cursor(row_factory=class_row(LimitRow)) as cur:
        return cur.execute(
            "SELECT upper, lower, not_detected, source FROM compliance_limits WHERE point_id = %s"
            " AND parameter_id = %s AND valid @> %s::timestamptz",
            (point_id, parameter_id, t),
        ).fetchone()
