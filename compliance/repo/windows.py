"""SQL of the compliance package: the legal record (compliance_windows: judged hours, days and months),
closed hours and days, reports, retention and the job log. Others read the record through the named
reads of compliance/repo/legal.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from compliance.models import WindowResult
from compliance.repo.inbox import KeySample
from compliance.validity import Part


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
    """Store a judged window with everything the legal record keeps of it; returns the verdict it had
    before (None if new)."""
    row = conn.execute(
        "WITH old AS (SELECT verdict FROM compliance_windows WHERE point_id = %(p)s AND parameter_id = %(q)s"
        "  AND span = %(s)s AND start_at = %(a)s)"
        " , up AS (INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean,"
        "  n_valid, n_expected, sufficient, verdict, limit_upper, n_total, min, max, flags, rule, parts,"
        "  parts_valid, volume_m3, mass_kg, mass_method, cou) VALUES (%(p)s, %(q)s, %(s)s, %(a)s, %(b)s,"
        "  %(m)s, %(n)s, %(e)s, %(ok)s, %(v)s, %(u)s, %(t)s, %(lo)s, %(hi)s, %(f)s, %(r)s, %(np)s, %(vp)s,"
        "  %(vol)s, %(kg)s, %(how)s, %(cou)s)"
        "  ON CONFLICT (point_id, parameter_id, span, start_at) DO UPDATE"
        "  SET mean = EXCLUDED.mean, n_valid = EXCLUDED.n_valid, n_expected = EXCLUDED.n_expected,"
        "  sufficient = EXCLUDED.sufficient, verdict = EXCLUDED.verdict, limit_upper = EXCLUDED.limit_upper,"
        "  n_total = EXCLUDED.n_total, min = EXCLUDED.min, max = EXCLUDED.max, flags = EXCLUDED.flags,"
        "  rule = EXCLUDED.rule, parts = EXCLUDED.parts, parts_valid = EXCLUDED.parts_valid,"
        "  volume_m3 = EXCLUDED.volume_m3, mass_kg = EXCLUDED.mass_kg, mass_method = EXCLUDED.mass_method,"
        "  cou = EXCLUDED.cou, judged_at = now())"
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
            "t": w.n_total,
            "lo": w.min,
            "hi": w.max,
            "f": Jsonb(w.flags),
            "r": w.rule,
            "np": w.parts,
            "vp": w.parts_valid,
            "vol": w.volume_m3,
            "kg": w.mass_kg,
            "how": w.mass_method,
            "cou": w.cou,
        },
    ).fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class KeyedPart:
    point_id: int
    parameter_id: int
    part: Part


def parts_of(
    conn: psycopg.Connection, point_ids: Sequence[int], span: str, start: datetime, end: datetime
) -> dict[tuple[int, int], list[Part]]:
    """The stored hours (or days) of these points starting in [start, end), per series, in time order:
    what their days (or months) are made of, in one query."""
    rows = conn.execute(
        "SELECT point_id, parameter_id, start_at, mean, min, max, n_valid, n_total, n_expected, sufficient,"
        " flags, volume_m3, mass_kg, mass_method, cou FROM compliance_windows WHERE point_id = ANY(%s)"
        " AND span = %s AND start_at >= %s AND start_at < %s ORDER BY start_at",
        (list(point_ids), span, start, end),
    ).fetchall()
    out: dict[tuple[int, int], list[Part]] = {}
    for pid, qid, *cols in rows:
        out.setdefault((pid, qid), []).append(Part(*cols))
    return out


def verdicts(
    conn: psycopg.Connection, point_ids: Sequence[int], span: str, start: datetime
) -> dict[tuple[int, int], str]:
    """The stored verdicts of these points' windows of one span and start."""
    rows = conn.execute(
        "SELECT point_id, parameter_id, verdict FROM compliance_windows WHERE point_id = ANY(%s)"
        " AND span = %s AND start_at = %s",
        (list(point_ids), span, start),
    ).fetchall()
    return {(pid, qid): str(v) for pid, qid, v in rows}


def store_windows(
    conn: psycopg.Connection,
    span: str,
    rows: Sequence[tuple[int, int, WindowResult, str, float | None]],
) -> None:
    """Store many judged windows (point, parameter, window, verdict, upper limit) in one batch."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_windows (point_id, parameter_id, span, start_at, end_at, mean, n_valid,"
            " n_expected, sufficient, verdict, limit_upper, n_total, min, max, flags, rule, parts,"
            " parts_valid, volume_m3, mass_kg, mass_method, cou) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
            " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (point_id, parameter_id, span, start_at) DO UPDATE"
            " SET end_at = EXCLUDED.end_at, mean = EXCLUDED.mean, n_valid = EXCLUDED.n_valid,"
            " n_expected = EXCLUDED.n_expected, sufficient = EXCLUDED.sufficient, verdict = EXCLUDED.verdict,"
            " limit_upper = EXCLUDED.limit_upper, n_total = EXCLUDED.n_total, min = EXCLUDED.min,"
            " max = EXCLUDED.max, flags = EXCLUDED.flags, rule = EXCLUDED.rule, parts = EXCLUDED.parts,"
            " parts_valid = EXCLUDED.parts_valid, volume_m3 = EXCLUDED.volume_m3, mass_kg = EXCLUDED.mass_kg,"
            " mass_method = EXCLUDED.mass_method, cou = EXCLUDED.cou, judged_at = now()",
            [_cells(pid, qid, span, w, verdict, upper) for pid, qid, w, verdict, upper in rows],
        )


def _cells(
    pid: int, qid: int, span: str, w: WindowResult, verdict: str, upper: float | None
) -> tuple[object, ...]:
    return (
        pid, qid, span, w.start, w.end, w.mean, w.n_valid, w.n_expected, w.sufficient, verdict, upper,
        w.n_total, w.min, w.max, Jsonb(w.flags), w.rule, w.parts, w.parts_valid, w.volume_m3, w.mass_kg,
        w.mass_method, w.cou,
    )  # fmt: skip


@dataclass(frozen=True)
class HourMean:
    mean: float | None
    n_valid: int
    verdict: str  # ok | exceeded (a sufficient mean against an upper limit) | insufficient | no_limit
    limit_upper: float | None


def hour_windows(
    conn: psycopg.Connection, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[HourMean]:
    with conn.cursor(row_factory=class_row(HourMean)) as cur:
        return cur.execute(
            "SELECT mean, n_valid, verdict, limit_upper FROM compliance_windows WHERE point_id = %s"
            " AND parameter_id = %s"
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


def series_keys(conn: psycopg.Connection, park_id: str) -> list[SeriesKey]:
    """Every (point, parameter) a park's active points measure: each gets a day on the record, received
    or not (a silent day is a day of transmission rate 0)."""
    with conn.cursor(row_factory=class_row(SeriesKey)) as cur:
        return cur.execute(
            "SELECT pp.point_id, pp.parameter_id FROM point_parameters pp JOIN points p ON p.id = pp.point_id"
            " WHERE p.park_id = %s AND p.active ORDER BY 1, 2",
            (park_id,),
        ).fetchall()


def point_parameters(conn: psycopg.Connection, point_id: int) -> list[int]:
    rows = conn.execute(
        "SELECT parameter_id FROM point_parameters WHERE point_id = %s ORDER BY 1", (point_id,)
    ).fetchall()
    return [int(r[0]) for r in rows]


def hours_on_record(
    conn: psycopg.Connection, point_id: int, start: datetime, end: datetime
) -> list[tuple[int, datetime]]:
    """(parameter, hour start) of a point's stored hours starting in [start, end)."""
    rows = conn.execute(
        "SELECT parameter_id, start_at FROM compliance_windows WHERE point_id = %s AND span = 'hour'"
        " AND start_at >= %s AND start_at < %s",
        (point_id, start, end),
    ).fetchall()
    return [(int(q), t) for q, t in rows]


def reading_hours(
    conn: psycopg.Connection, point_id: int, timezone: str, start: datetime, end: datetime
) -> list[tuple[int, datetime]]:
    """(parameter, park-local hour start) of every hour with a reading of a point in [start, end), stored
    or archived (a data mark may reach back past the compaction age)."""
    rows = conn.execute(
        "SELECT DISTINCT parameter_id, time_bucket('1 hour', time, %s::text)"
        " FROM readings_range(ARRAY[%s]::integer[], NULL, %s, %s)",
        (timezone, point_id, start, end),
    ).fetchall()
    return [(int(q), t) for q, t in rows]


def park_series(conn: psycopg.Connection, park_id: str, start: datetime, end: datetime) -> list[KeySample]:
    with conn.cursor(row_factory=class_row(KeySample)) as cur:
        return cur.execute(
            "SELECT r.point_id, r.parameter_id, r.time, r.value, r.flag::text AS flag FROM readings r"
            " JOIN points p ON p.id = r.point_id WHERE p.park_id = %s AND r.time >= %s AND r.time < %s",
            (park_id, start, end),
        ).fetchall()


# Closing windows and re-judging late data are ordered by this advisory lock: closing holds it for its
# transaction, the real-time consumer shared while it looks whether a late reading's hour is closed. Else
# a reading committed after closing read its hour, whose marker the consumer took before closing
# committed, would be judged by neither (the consumer leaves open hours to closing). Taken before the
# marks lock (compliance/repo/marks.py) on both paths.
CLOSING_LOCK = 7_212_046


def lock_closing(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLOSING_LOCK,))


def share_closing(conn: psycopg.Connection) -> None:
    conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (CLOSING_LOCK,))


def is_closed(conn: psycopg.Connection, park_id: str, span: str, start: datetime) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM compliance_closed WHERE park_id = %s AND span = %s AND start_at = %s",
            (park_id, span, start),
        ).fetchone()
        is not None
    )


def closed_since(conn: psycopg.Connection, park_id: str, span: str, start: datetime) -> set[datetime]:
    """The park's closed hours (or days) starting at or after ``start``: one query where closing asks
    about each hour of its lookback."""
    rows = conn.execute(
        "SELECT start_at FROM compliance_closed WHERE park_id = %s AND span = %s AND start_at >= %s",
        (park_id, span, start),
    ).fetchall()
    return {r[0] for r in rows}


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
            " WHERE p.park_id = %s AND w.span IN ('hour', 'day') AND w.start_at >= %s AND w.start_at < %s"
            " GROUP BY 1, 2 ORDER BY 1, 2",
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
