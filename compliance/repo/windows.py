"""SQL of the compliance package: Closed hours and days, reports, retention and the job log."""

from __future__ import annotations

from datetime import datetime

import orjson
import psycopg

from compliance.models import WindowResult


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


def hour_windows(
    conn: psycopg.Connection, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[tuple[float | None, int]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT mean, n_valid FROM compliance_windows WHERE point_id = %s AND parameter_id = %s"
            " AND span = 'hour' AND start_at >= %s AND start_at < %s",
            (point_id, parameter_id, start, end),
        )
    ]


def hour_keys(
    conn: psycopg.Connection, park_id: str, start: datetime, end: datetime
) -> list[tuple[int, int]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT DISTINCT w.point_id, w.parameter_id FROM compliance_windows w JOIN points p ON"
            " p.id = w.point_id"
            " WHERE p.park_id = %s AND w.span = 'hour' AND w.start_at >= %s AND w.start_at < %s",
            (park_id, start, end),
        )
    ]


def park_series(
    conn: psycopg.Connection, park_id: str, start: datetime, end: datetime
) -> list[tuple[int, int, datetime, float, str]]:
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in conn.execute(
            "SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag::text FROM readings r"
            " JOIN points p ON p.id = r.point_id WHERE p.park_id = %s AND r.time >= %s AND r.time < %s",
            (park_id, start, end),
        )
    ]


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


def windows_of_day(
    conn: psycopg.Connection, park_id: str, start: datetime, end: datetime
) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT w.span, w.verdict, count(*) FROM compliance_windows w JOIN points p ON p.id = w.point_id"
            " WHERE p.park_id = %s AND w.start_at >= %s AND w.start_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
            (park_id, start, end),
        )
    ]


def save_report(conn: psycopg.Connection, park_id: str, day: object, body: dict[str, object]) -> None:
    conn.execute(
        "INSERT INTO compliance_reports (park_id, day, body) VALUES (%s, %s, %s) ON CONFLICT (park_id, day)"
        " DO UPDATE SET body = EXCLUDED.body, made_at = now()",
        (park_id, day, orjson.dumps(body).decode()),
    )


def day_flows(
    conn: psycopg.Connection, park_id: str, day_start: datetime, flow_id: int
) -> list[tuple[int, str, float | None, bool]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT p.id, p.kind, w.mean, w.sufficient FROM points p LEFT JOIN compliance_windows w"
            " ON w.point_id = p.id AND w.parameter_id = %s AND w.span = 'day' AND w.start_at = %s"
            " JOIN point_parameters pp ON pp.point_id = p.id AND pp.parameter_id = %s"
            " WHERE p.park_id = %s AND p.active",
            (flow_id, day_start, flow_id, park_id),
        )
    ]


def timescale_licensed(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return bool(row and row[0] == "timescale")


def purge_delivered(conn: psycopg.Connection, before: datetime) -> int:
    return conn.execute("DELETE FROM notify_deliveries WHERE delivered_at < %s", (before,)).rowcount


def drop_old_chunks(conn: psycopg.Connection, older_than_days: int) -> int:
    rows = conn.execute(
        "SELECT drop_chunks('readings', older_than => now() - make_interval(days => %s))", (older_than_days,)
    ).fetchall()
    return len(rows)


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


def job_runs(conn: psycopg.Connection) -> dict[str, tuple[object, ...]]:
    return {
        r[0]: tuple(r[1:])
        for r in conn.execute("SELECT name, started_at, finished_at, ok, detail FROM compliance_job_runs")
    }
