"""SQL of the compliance package: Closed hours and days, reports, retention and the job log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
from psycopg.rows import class_row

from compliance.models import WindowResult
from compliance.repo.inbox import KeySample


# --- closed windows ---------------------------------------------------------------------------------
def upsert_window(
    conn: psycopg.Connection,
    point_id: int,
    parameter_id: int,
    span: str,
    w: WindowResult,
    verdict: str,
    upper: float | None,
) -> str | None:
    """Store a judged window; returns the verdict it had before (None if new)."""
    row = conn.execute(
        "WITH old AS (SELECT verdict FROM compliance_windows WHERE point_id = %(p)s AND parameter_id = %(q)s"
        "  AND span = %(s)s AND start_at = %(a)s)"
        " , up AS (INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean,"
        "  n_valid, n_expected, sufficient, verdict, limit_upper) VALUES (%(p)s,%(q)s,%(s)s,%(a)s,%(b)s,"
        "  %(m)s,%(n)s,%(e)s,%(ok)s,%(v)s,%(u)s) ON CONFLICT (point_id, parameter_id, span,"
        " start_at) DO UPDATE"
        "  SET mean = EXCLUDED.mean, n_valid = EXCLUDED.n_valid, n_expected = EXCLUDED.n_expected,"
        "  sufficient = EXCLUDED.sufficient, verdict = EXCLUDED.verdict, limit_upper = EXCLUDED.limit_upper,"
        "  judged_at = now())"
        " SELECT verdict FROM old",
        {
            "p": point_id,
            "q": parameter_id,
            "s": span,
            "a": w.start,
            "b": w.end,
            "m": w.mean,
            "n": w.n_valid,
            "e": w.n_expected,
            "ok": w.sufficient,
            "v": verdict,
            "u": upper,
        },
    ).fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class HourMean:
    mean: float | None
    n_valid: int


def hour_windows(
    conn: psycopg.Connection, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[HourMean]:
    with conn.cursor(row_factory=class_row(HourMean)) as cur:
        return cur.execute(
            "SELECT mean, n_valid FROM compliance_windows WHERE point_id = %s AND parameter_id = %s"
            " AND span = 'hour' AND start_at >= %s AND start_at < %s",
            (point_id, parameter_id, start, end),
        ).fetchall()


@dataclass(frozen=True)
class SeriesKey:
    point_id: int
    parameter_id: int


def hour_keys(conn: psycopg.Connection, park_id: str, start: datetime, end: datetime) -> list[SeriesKey]:
    with conn.cursor(row_factory=class_row(SeriesKey)) as cur:
        return cur.execute(
            "SELECT DISTINCT w.point_id, w.parameter_id FROM compliance_windows w JOIN points p ON"
            " p.id = w.point_id"
            " WHERE p.park_id = %s AND w.span = 'hour' AND w.start_at >= %s AND w.start_at < %s",
            (park_id, start, end),
        ).fetchall()


def park_series(conn: psycopg.Connection, park_id: str, start: datetime, end: datetime) -> list[KeySample]:
    with conn.cursor(row_factory=class_row(KeySample)) as cur:
        return cur.execute(
            "SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag::text AS flag FROM readings r"
            " JOIN points p ON p.id = r.point_id WHERE p.park_id = %s AND r.time >= %s AND r.time < %s",
            (park_id, start, end),
        ).fetchall()


def is_closed(conn: psycopg.Connection, park_id: str, span: str, start: datetime) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM compliance_closed WHERE park_id = %s AND span = %s AND start_at = %s",
            (park_id, span, start),
        ).fetchone()
        is not None
    )


def mark_closed(conn: psycopg.Connection, park_id: str, span: str, start: datetime) -> None:
    conn.execute(
        "INSERT INTO compliance_closed (park_id, span, start_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        (park_id, span, start),
    )


def queue_park_day(conn: psycopg.Connection, park_id: str, start: datetime, end: datetime) -> None:
    """Late data changed a closed day of this park: its park rules and report are made again."""
    conn.execute(
        "INSERT INTO compliance_park_days_due (park_id, day_start, day_end) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (park_id, start, end),
    )


@dataclass(frozen=True)
class ParkDay:
    park_id: str
    day_start: datetime
    day_end: datetime


def take_park_days(conn: psycopg.Connection, park_id: str | None) -> list[ParkDay]:
    with conn.cursor(row_factory=class_row(ParkDay)) as cur:
        return cur.execute(
            "DELETE FROM compliance_park_days_due WHERE %(p)s::text IS NULL OR park_id = %(p)s"
            " RETURNING park_id, day_start, day_end",
            {"p": park_id},
        ).fetchall()


@dataclass(frozen=True)
class VerdictCount:
    span: str
    verdict: str
    count: int


def windows_of_day(
    conn: psycopg.Connection, park_id: str, start: datetime, end: datetime
) -> list[VerdictCount]:
    with conn.cursor(row_factory=class_row(VerdictCount)) as cur:
        return cur.execute(
            "SELECT w.span, w.verdict, count(*) AS count FROM compliance_windows w"
            " JOIN points p ON p.id = w.point_id"
            " WHERE p.park_id = %s AND w.start_at >= %s AND w.start_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
            (park_id, start, end),
        ).fetchall()


def save_report(conn: psycopg.Connection, park_id: str, day: object, body: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO compliance_reports (park_id, day, body) VALUES (%s, %s, %s) ON CONFLICT (park_id, day)"
        " DO UPDATE SET body = EXCLUDED.body, made_at = now()",
        (park_id, day, orjson.dumps(body).decode()),
    )


@dataclass(frozen=True)
class DayFlow:
    """A point's mean flow over a closed day (None, and not sufficient, when the day has no window)."""

    point_id: int
    kind: str
    mean: float | None
    sufficient: bool | None


def day_flows(conn: psycopg.Connection, park_id: str, day_start: datetime, flow_id: int) -> list[DayFlow]:
    with conn.cursor(row_factory=class_row(DayFlow)) as cur:
        return cur.execute(
            "SELECT p.id AS point_id, p.kind, w.mean, w.sufficient FROM points p"
            " LEFT JOIN compliance_windows w"
            " ON w.point_id = p.id AND w.parameter_id = %s AND w.span = 'day' AND w.start_at = %s"
            " JOIN point_parameters pp ON pp.point_id = p.id AND pp.parameter_id = %s"
            " WHERE p.park_id = %s AND p.active",
            (flow_id, day_start, flow_id, park_id),
        ).fetchall()


def job_started(conn: psycopg.Connection, name: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO compliance_job_runs (name, started_at) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE"
        " SET started_at = EXCLUDED.started_at, finished_at = NULL, ok = NULL, detail = NULL",
        (name, at),
    )


def job_finished(conn: psycopg.Connection, name: str, ok: bool, detail: str) -> None:
    conn.execute(
        "UPDATE compliance_job_runs SET finished_at = clock_timestamp(), ok = %(ok)s, detail = %(detail)s,"
        " last_ok_at = CASE WHEN %(ok)s THEN clock_timestamp() ELSE last_ok_at END WHERE name = %(name)s",
        {"ok": ok, "detail": detail, "name": name},
    )


@dataclass(frozen=True)
class JobRun:
    name: str
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None
    detail: str | None


def job_runs(conn: psycopg.Connection) -> dict[str, JobRun]:
    with conn.cursor(row_factory=class_row(JobRun)) as cur:
        cur.execute("SELECT name, started_at, finished_at, ok, detail FROM compliance_job_runs")
        return {r.name: r for r in cur}
