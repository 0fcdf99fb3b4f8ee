"""SQL of the compliance package: the span queue of data-time judging (gaps and flat runs), and the
stored series around each span.

The ingest transaction records, per (point, parameter) of its batch, the earliest and latest
measurement time (one set-based statement over the staging table, no per-reading work); the
data_quality job takes the queued spans and looks at the stored readings around them
(compliance/history.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import class_row

from compliance.rules import Run

_CAPTURE = (
    "INSERT INTO compliance_spans (point_id, parameter_id, first_time, last_time)"
    " SELECT point_id, parameter_id, min(time), max(time) FROM staging_readings GROUP BY 1, 2"
)


def capture(conn: psycopg.Connection) -> int:
    """Inside the ingest transaction: queue the span of each series in the batch."""
    with conn.cursor() as cur:
        cur.execute(_CAPTURE)
        return cur.rowcount


@dataclass(frozen=True)
class Span:
    point_id: int
    parameter_id: int
    first_time: datetime
    last_time: datetime


def take(conn: psycopg.Connection, limit: int, park_id: str | None = None) -> tuple[list[Span], int]:
    """Take (delete) up to ``limit`` queued spans, merged per series; also returns how many rows were
    taken. SKIP LOCKED: a second taker gets other rows instead of waiting."""
    with conn.cursor(row_factory=class_row(_TakenSpan)) as cur:
        rows = cur.execute(
            "WITH taken AS (DELETE FROM compliance_spans WHERE id IN (SELECT s.id FROM compliance_spans s"
            "  JOIN points p ON p.id = s.point_id WHERE %(park)s::text IS NULL OR p.park_id = %(park)s"
            "  ORDER BY s.id LIMIT %(n)s FOR UPDATE OF s SKIP LOCKED) RETURNING *)"
            " SELECT point_id, parameter_id, min(first_time) AS first_time, max(last_time) AS last_time,"
            " count(*) AS n FROM taken GROUP BY 1, 2 ORDER BY 1, 2",
            {"park": park_id, "n": limit},
        ).fetchall()
    spans = [Span(r.point_id, r.parameter_id, r.first_time, r.last_time) for r in rows]
    return spans, sum(r.n for r in rows)


@dataclass(frozen=True)
class _TakenSpan:
    point_id: int
    parameter_id: int
    first_time: datetime
    last_time: datetime
    n: int  # queued rows merged into this span


# Any reading counts as data for offline (as for the wall-clock sweep); the lateral probes find the
# point's readings just outside the span so a gap on either side of new data is seen.
_GAPS = (
    "WITH q AS (SELECT parameter_id AS id FROM point_parameters WHERE point_id = %(p)s),"
    " lo AS (SELECT max(l.t) AS t FROM q CROSS JOIN LATERAL (SELECT time AS t FROM readings"
    "  WHERE point_id = %(p)s AND parameter_id = q.id AND time < %(a)s AND time > %(a)s - %(look)s"
    "  ORDER BY time DESC LIMIT 1) l),"
    " hi AS (SELECT min(l.t) AS t FROM q CROSS JOIN LATERAL (SELECT time AS t FROM readings"
    "  WHERE point_id = %(p)s AND parameter_id = q.id AND time > %(b)s AND time < %(b)s + %(look)s"
    "  ORDER BY time LIMIT 1) l),"
    " ts AS (SELECT DISTINCT time FROM readings WHERE point_id = %(p)s"
    "  AND parameter_id = ANY(ARRAY(SELECT id FROM q))"
    "  AND time >= coalesce((SELECT t FROM lo), %(a)s) AND time <= coalesce((SELECT t FROM hi), %(b)s)),"
    " pairs AS (SELECT lag(time) OVER (ORDER BY time) AS prev, time FROM ts)"
    " SELECT prev, time FROM pairs WHERE time - prev > make_interval(secs => %(min)s) ORDER BY time"
)


def spaced_readings(
    conn: psycopg.Connection, point_id: int, start: datetime, end: datetime, min_gap_s: float, look_s: float
) -> list[tuple[datetime, datetime]]:
    """Consecutive reading times of a point (any parameter) around [start, end], from the last one
    before to the first one after (each searched up to ``look_s`` away), that are more than
    ``min_gap_s`` apart. Only pairs are returned, not every reading: the caller judges them."""
    rows = conn.execute(
        _GAPS,
        {"p": point_id, "a": start, "b": end, "min": min_gap_s, "look": timedelta(seconds=look_s)},
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


# Valid values only. The window reaches back to the last differing value before the span (so a run
# that began long before is seen whole) and forward to the first differing value after it (so a run
# already stored beyond the span, or its end, is seen too). Backward/forward index probes: their cost
# is the length of the run they cross, nothing for a series that varies.
_RUNS = (
    "WITH prev AS (SELECT time, value FROM readings WHERE point_id = %(p)s AND parameter_id = %(q)s"
    "  AND flag IN ('N', 'S') AND time < %(a)s AND time > %(a)s - %(look)s ORDER BY time DESC LIMIT 1),"
    " brk AS (SELECT r.time FROM readings r, prev WHERE r.point_id = %(p)s AND r.parameter_id = %(q)s"
    "  AND r.flag IN ('N', 'S') AND r.time < prev.time AND r.time > %(a)s - %(look)s"
    "  AND r.value <> prev.value ORDER BY r.time DESC LIMIT 1),"
    " last AS (SELECT time, value FROM readings WHERE point_id = %(p)s AND parameter_id = %(q)s"
    "  AND flag IN ('N', 'S') AND time >= %(a)s AND time <= %(b)s ORDER BY time DESC LIMIT 1),"
    " nxt AS (SELECT r.time FROM readings r, last WHERE r.point_id = %(p)s AND r.parameter_id = %(q)s"
    "  AND r.flag IN ('N', 'S') AND r.time > last.time AND r.time < %(b)s + %(look)s"
    "  AND r.value <> last.value ORDER BY r.time LIMIT 1),"
    " s AS (SELECT time, value, CASE WHEN value IS DISTINCT FROM lag(value) OVER (ORDER BY time)"
    "  THEN 1 ELSE 0 END AS chg FROM readings WHERE point_id = %(p)s AND parameter_id = %(q)s"
    "  AND flag IN ('N', 'S')"
    # no differing value before the span: the run reaches back to the first reading looked at
    "  AND time >= coalesce((SELECT time FROM brk), CASE WHEN EXISTS (SELECT 1 FROM prev)"
    "   THEN %(a)s - %(look)s ELSE %(a)s END)"
    "  AND time <= coalesce((SELECT time FROM nxt), CASE WHEN EXISTS (SELECT 1 FROM last)"
    "   THEN %(b)s + %(look)s ELSE %(b)s END)),"
    " g AS (SELECT time, value, sum(chg) OVER (ORDER BY time) AS run FROM s),"
    " r AS (SELECT min(time) AS start, max(time) AS last, min(value) AS value, count(*) AS n,"
    "  lead(min(time)) OVER (ORDER BY min(time)) AS next FROM g GROUP BY run)"
    # a necessary condition only, so that a varying series sends (almost) nothing back
    ' SELECT start, last AS "end", value, n AS count, next AS next_time FROM r WHERE n >= %(n)s'
    " ORDER BY start"
)


def value_runs(
    conn: psycopg.Connection,
    point_id: int,
    parameter_id: int,
    start: datetime,
    end: datetime,
    min_count: int,
    look_s: float,
) -> list[Run]:
    """Runs of identical valid values with at least ``min_count`` readings that touch [start, end]
    or continue from it (see ``_RUNS``), in time order."""
    with conn.cursor(row_factory=class_row(Run)) as cur:
        return cur.execute(
            _RUNS,
            {
                "p": point_id,
                "q": parameter_id,
                "a": start,
                "b": end,
                "n": min_count,
                "look": timedelta(seconds=look_s),
            },
        ).fetchall()
