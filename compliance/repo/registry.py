"""SQL of the compliance package: Registry, resolved limits, the maintenance policy and the maintenance
windows of park files (data marks of the code "maintenance"; the marks themselves: repo/marks.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from compliance.models import MaintenanceBounds, MarkSpan
from compliance.repo.marks import mark_spans
from ingest.core.models import ParkSpec, PlantSpec, PointSpec


# --- registry and limits ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PointRow:
    id: int
    park_id: str
    plant_id: str
    code: str
    kind: str
    interval_s: int
    timezone: str


def park_specs(conn: psycopg.Connection, park_id: str | None = None) -> list[tuple[ParkSpec, dict[str, int]]]:
    """Rebuild park specs from the registry; returns each with a map 'plant/point' -> point id."""
    parks = conn.execute(
        "SELECT id, name, timezone, industry, config FROM parks WHERE %(p)s::text IS NULL OR id = %(p)s",
        {"p": park_id},
    ).fetchall()
    out = []
    for pid, name, tz, industry, config in parks:
        rows = conn.execute(
            "SELECT pl.id, pl.name, pl.kind, pt.id, pt.code, pt.name, pt.kind, pt.discharge_mode,"
            " pt.interval_s, pt.standard, pt.mn,"
            " coalesce(jsonb_object_agg(pa.code, pp.unit) FILTER (WHERE pa.code IS NOT NULL), '{}')"
            " FROM plants pl JOIN points pt ON pt.park_id = pl.park_id AND pt.plant_id = pl.id AND pt.active"
            " LEFT JOIN point_parameters pp ON pp.point_id = pt.id LEFT JOIN parameters pa ON pa.id"
            " = pp.parameter_id"
            " WHERE pl.park_id = %s GROUP BY pl.id, pl.name, pl.kind, pt.id ORDER BY pl.id, pt.code",
            (pid,),
        ).fetchall()
        plants: dict[str, tuple[str, str, list[PointSpec]]] = {}
        ids: dict[str, int] = {}
        for r in rows:
            point = PointSpec(
                r[4], r[5], r[6], r[7], r[8], dict(r[11]), r[10], r[9] or config.get("standard")
            )
            plants.setdefault(r[0], (r[1], r[2], []))[2].append(point)
            ids[f"{r[0]}/{r[4]}"] = r[3]
        specs = tuple(PlantSpec(k, v[0], v[1], tuple(v[2])) for k, v in plants.items())  # type: ignore[arg-type]
        out.append((ParkSpec(pid, name, tz, industry, specs, dict(config)), ids))
    return out


def parks_loaded_at(conn: psycopg.Connection) -> dict[str, datetime]:
    return {r[0]: r[1] for r in conn.execute("SELECT id, loaded_at FROM parks")}


def replace_limits(conn: psycopg.Connection, park_id: str, rows: Sequence[tuple[object, ...]]) -> None:
    """rows: (point_id, parameter_id, Range, upper, lower, watch_upper, watch_lower, not_detected,
    confirmed, source)."""
    conn.execute(
        "DELETE FROM compliance_limits WHERE point_id IN (SELECT id FROM points WHERE park_id = %s)",
        (park_id,),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO compliance_limits (point_id, parameter_id, valid, upper, lower, watch_upper,"
            " watch_lower, not_detected, confirmed, source) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            rows,
        )


def maintenance_policy(conn: psycopg.Connection) -> tuple[datetime, MaintenanceBounds]:
    """The transaction's now() and the bounds the database's trigger judges windows by."""
    row = conn.execute(
        "SELECT now(), max_length, max_backdate, max_lead, approval_over FROM maintenance_policy"
    ).fetchone()
    assert row is not None, "maintenance_policy has its row from migration 030"
    return row[0], MaintenanceBounds(row[1], row[2], row[3], row[4])


def set_maintenance_policy(conn: psycopg.Connection, b: MaintenanceBounds) -> None:
    conn.execute(
        "UPDATE maintenance_policy SET max_length = %s, max_backdate = %s, max_lead = %s,"
        " approval_over = %s, updated_at = now()",
        (b.max_length, b.max_backdate, b.max_lead, b.approval_over),
    )


ParkFileWindow = tuple[
    str, int | None, datetime, datetime, str
]  # plant, point id or None, start, end, reason


def sync_park_maintenance(
    conn: psycopg.Connection, park_id: str, rows: Iterable[ParkFileWindow]
) -> list[tuple[ParkFileWindow, str]]:
    """Maintenance windows declared in the park file. Windows already stored stay as they are (the
    bounds judge a window when it is first written, so a window loaded yesterday is not refused today
    as backdated); those gone from the file are deleted; new ones the database refuses (out of bounds)
    are returned with the reason, and the others stored."""
    wanted = set(rows)
    stored = conn.execute(
        "SELECT id, plant_id, point_id, lower(during), upper(during), reason FROM data_marks"
        " WHERE park_id = %s AND source = 'park_file' AND code = 'maintenance'",
        (park_id,),
    ).fetchall()
    have = {tuple(r[1:]): r[0] for r in stored}
    gone = [wid for key, wid in have.items() if key not in wanted]
    conn.execute("DELETE FROM data_marks WHERE id = ANY(%s)", (gone,))
    refused = []
    for key in sorted(wanted - set(have), key=str):
        try:
            with conn.transaction():  # a savepoint: one refused window leaves the others stored
                conn.execute(
                    "INSERT INTO data_marks (park_id, plant_id, point_id, code, during, reason,"
                    " created_by, source, decided_by)"
                    " VALUES (%s, %s, %s, 'maintenance', tstzrange(%s, %s), %s, 'park file', 'park_file',"
                    " 'park file')",
                    (park_id, *key),
                )
        except psycopg.errors.CheckViolation as exc:
            refused.append((key, exc.diag.message_primary or str(exc)))
    return refused


def maintenance_windows(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[MarkSpan]]:
    """The data marks in effect at these points over [start, end] (maintenance windows are marks of the
    code "maintenance"; compliance/repo/marks.py)."""
    return mark_spans(conn, point_ids, start, end)
