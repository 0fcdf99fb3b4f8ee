"""All SQL of the API package. Reads take an async connection; writes (tokens, registry changes, audit)
take a sync connection because they share a transaction with compliance's functions, which are sync.
Every read that returns registry objects or alerts takes the caller's scope (park, plant; None = all),
so an out-of-scope object is simply not found."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection
from psycopg.rows import class_row

from api.models import Alert
from compliance.models import ACTIVE_STATES

Row = tuple[Any, ...]


def scope(park: str | None, plant: str | None) -> dict[str, str | None]:
    return {"sp": park, "sl": plant}


# --- tokens -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    role: str
    park: str | None
    plant: str | None
    prefix: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def insert_token(
    conn: psycopg.Connection,
    name: str,
    role: str,
    park: str | None,
    plant: str | None,
    digest: bytes,
    prefix: str,
    actor: str,
) -> int:
    row = conn.execute(
        "INSERT INTO api_tokens (name, role, park_id, plant_id, hash, prefix, created_by)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (name, role, park, plant, digest, prefix, actor),
    ).fetchone()
    assert row is not None
    return int(row[0])


def list_tokens(conn: psycopg.Connection, include_revoked: bool) -> list[TokenRow]:
    rows = conn.execute(
        "SELECT id, name, role, park_id, plant_id, prefix, created_at, created_by, revoked_at"
        " FROM api_tokens WHERE %s OR revoked_at IS NULL ORDER BY id",
        (include_revoked,),
    ).fetchall()
    return [TokenRow(*r) for r in rows]


def revoke_token(conn: psycopg.Connection, token_id: int) -> TokenRow | None:
    row = conn.execute(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
        " RETURNING id, name, role, park_id, plant_id, prefix, created_at, created_by, revoked_at",
        (token_id,),
    ).fetchone()
    return TokenRow(*row) if row else None


async def token_by_hash(conn: AsyncConnection, digest: bytes) -> TokenRow | None:
    cur = await conn.execute(
        "SELECT id, name, role, park_id, plant_id, prefix, created_at, created_by, revoked_at"
        " FROM api_tokens WHERE hash = %s AND revoked_at IS NULL",
        (digest,),
    )
    row = await cur.fetchone()
    return TokenRow(*row) if row else None


def plant_exists(conn: psycopg.Connection, park: str, plant: str | None) -> bool:
    row = conn.execute(
        "SELECT 1 FROM parks k WHERE k.id = %(park)s AND (%(plant)s::text IS NULL OR EXISTS"
        " (SELECT 1 FROM plants WHERE park_id = %(park)s AND id = %(plant)s))",
        {"park": park, "plant": plant},
    ).fetchone()
    return row is not None


# --- audit --------------------------------------------------------------------------------------------
def audit(
    conn: psycopg.Connection,
    actor: str,
    action: str,
    obj: str,
    park: str | None = None,
    plant: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO api_audit (actor, action, park_id, plant_id, object, detail) VALUES (%s,%s,%s,%s,%s,%s)",
        (actor, action, park, plant, obj, orjson.dumps(detail or {}, default=str).decode()),
    )


async def audit_entries(
    conn: AsyncConnection, park: str | None, plant: str | None, admin: bool, limit: int, before: int | None
) -> list[Row]:
    # Entries without a park (token changes) are the admin's alone.
    cur = await conn.execute(
        "SELECT id, at, actor, action, park_id, plant_id, object, detail FROM api_audit"
        " WHERE (%(sp)s::text IS NULL OR park_id = %(sp)s) AND (%(sl)s::text IS NULL OR plant_id = %(sl)s)"
        " AND (%(admin)s OR park_id IS NOT NULL)"
        " AND (%(before)s::bigint IS NULL OR id < %(before)s) ORDER BY id DESC LIMIT %(n)s",
        {**scope(park, plant), "admin": admin, "before": before, "n": limit},
    )
    return await cur.fetchall()


# --- registry -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParkRow:
    id: str
    name: str
    timezone: str
    industry: str
    config: dict[str, Any]
    loaded_at: datetime
    plants: int


async def parks(conn: AsyncConnection, park: str | None, plant: str | None) -> list[ParkRow]:
    cur = conn.cursor(row_factory=class_row(ParkRow))
    await cur.execute(
        "SELECT k.id, k.name, k.timezone, k.industry, k.config, k.loaded_at,"
        " (SELECT count(*) FROM plants pl WHERE pl.park_id = k.id AND"
        "  (%(sl)s::text IS NULL OR pl.id = %(sl)s)) AS plants"
        " FROM parks k WHERE (%(sp)s::text IS NULL OR k.id = %(sp)s) ORDER BY k.id",
        scope(park, plant),
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class PlantRow:
    id: str
    name: str
    kind: str
    points: int


async def plants(conn: AsyncConnection, park: str, plant: str | None) -> list[PlantRow]:
    cur = conn.cursor(row_factory=class_row(PlantRow))
    await cur.execute(
        "SELECT pl.id, pl.name, pl.kind, count(pt.id) FILTER (WHERE pt.active) AS points FROM plants pl"
        " LEFT JOIN points pt ON pt.park_id = pl.park_id AND pt.plant_id = pl.id"
        " WHERE pl.park_id = %(park)s AND (%(sl)s::text IS NULL OR pl.id = %(sl)s)"
        " GROUP BY pl.id, pl.name, pl.kind ORDER BY pl.id",
        {"park": park, "sl": plant},
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class PointRow:
    id: int
    park: str
    plant: str
    code: str
    name: str
    kind: str
    discharge_mode: str
    standard: str | None
    mn: str | None
    interval_s: int
    active: bool
    timezone: str
    parameters: dict[int, str]  # parameter id -> instrument unit


async def points(
    conn: AsyncConnection, park: str, plant: str | None = None, code: str | None = None
) -> list[PointRow]:
    cur = await conn.execute(
        "SELECT p.id, p.park_id, p.plant_id, p.code, p.name, p.kind, p.discharge_mode, p.standard, p.mn,"
        " p.interval_s, p.active, k.timezone,"
        " coalesce(jsonb_object_agg(pp.parameter_id, pp.unit) FILTER (WHERE pp.point_id IS NOT NULL), '{}')"
        " FROM points p JOIN parks k ON k.id = p.park_id LEFT JOIN point_parameters pp ON pp.point_id = p.id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND (%(code)s::text IS NULL OR p.code = %(code)s)"
        " GROUP BY p.id, k.timezone ORDER BY p.plant_id, p.code",
        {"park": park, "plant": plant, "code": code},
    )
    return [_point(r) for r in await cur.fetchall()]


def _point(r: Row) -> PointRow:
    return PointRow(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        r[9],
        r[10],
        r[11],
        {int(k): v for k, v in r[12].items()},
    )


async def find_point(conn: AsyncConnection, park: str, plant: str, code: str) -> PointRow | None:
    found = await points(conn, park, plant, code)
    return found[0] if found else None


def update_park(conn: psycopg.Connection, park: str, name: str) -> bool:
    return conn.execute("UPDATE parks SET name = %s WHERE id = %s", (name, park)).rowcount == 1


def update_plant(conn: psycopg.Connection, park: str, plant: str, name: str) -> bool:
    cur = conn.execute("UPDATE plants SET name = %s WHERE park_id = %s AND id = %s", (name, park, plant))
    return cur.rowcount == 1


def update_point(
    conn: psycopg.Connection, park: str, plant: str, code: str, changes: dict[str, object]
) -> bool:
    cur = conn.execute(
        "UPDATE points SET name = coalesce(%(name)s, name),"
        " interval_s = coalesce(%(interval_s)s, interval_s), active = coalesce(%(active)s, active)"
        " WHERE park_id = %(park)s AND plant_id = %(plant)s AND code = %(code)s",
        {
            "name": changes.get("name"),
            "interval_s": changes.get("interval_s"),
            "active": changes.get("active"),
            "park": park,
            "plant": plant,
            "code": code,
        },
    )
    return cur.rowcount == 1


# --- readings and limits ------------------------------------------------------------------------------
async def raw_readings(
    conn: AsyncConnection, point_id: int, parameter_ids: list[int], start: datetime, end: datetime, limit: int
) -> list[tuple[datetime, int, float, str]]:
    cur = await conn.execute(
        "SELECT time, parameter_id, value, flag::text FROM readings"
        " WHERE point_id = %s AND parameter_id = ANY(%s) AND time >= %s AND time < %s"
        " ORDER BY time, parameter_id LIMIT %s",
        (point_id, parameter_ids, start, end, limit),
    )
    return await cur.fetchall()


async def bucket_means(
    conn: AsyncConnection,
    point_id: int,
    parameter_ids: list[int],
    start: datetime,
    end: datetime,
    bucket: str,
    timezone: str,
) -> list[tuple[datetime, int, float | None, int, int]]:
    # time_bucket with a time zone puts hour and day boundaries on the park's local calendar.
    cur = await conn.execute(
        "SELECT time_bucket(%s::interval, time, %s) AS b, parameter_id,"
        " avg(value) FILTER (WHERE flag IN ('N', 'S')), count(*) FILTER (WHERE flag IN ('N', 'S')), count(*)"
        " FROM readings WHERE point_id = %s AND parameter_id = ANY(%s) AND time >= %s AND time < %s"
        " GROUP BY b, parameter_id ORDER BY b, parameter_id",
        (bucket, timezone, point_id, parameter_ids, start, end),
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class LimitRow:
    point_id: int
    parameter_id: int
    valid_from: datetime | None
    valid_to: datetime | None
    upper: float | None
    lower: float | None
    source: str
    not_detected: bool


async def limits(
    conn: AsyncConnection, point_ids: Sequence[int], start: datetime, end: datetime
) -> list[LimitRow]:
    """Limit periods (resolved by compliance from standards and permits) overlapping [start, end)."""
    cur = conn.cursor(row_factory=class_row(LimitRow))
    await cur.execute(
        "SELECT point_id, parameter_id, lower(valid) AS valid_from, upper(valid) AS valid_to, upper, lower,"
        " source, not_detected FROM compliance_limits WHERE point_id = ANY(%s) AND valid && tstzrange(%s, %s)"
        " ORDER BY point_id, parameter_id, lower(valid) NULLS FIRST",
        (list(point_ids), start, end),
    )
    return await cur.fetchall()


# --- status -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LatestRow:
    point_id: int
    parameter_id: int
    time: datetime
    value: float
    flag: str


async def latest_values(conn: AsyncConnection, point_ids: Sequence[int]) -> list[LatestRow]:
    """The newest reading of every (point, parameter) in the last two days. The bound lets TimescaleDB
    skip all but the newest chunks; an instrument silent for longer shows as never seen."""
    cur = conn.cursor(row_factory=class_row(LatestRow))
    await cur.execute(
        "SELECT pp.point_id, pp.parameter_id, r.time, r.value, r.flag::text AS flag FROM point_parameters pp"
        " CROSS JOIN LATERAL (SELECT time, value, flag FROM readings r WHERE r.point_id = pp.point_id"
        "  AND r.parameter_id = pp.parameter_id AND r.time > now() - interval '2 days'"
        "  ORDER BY r.time DESC LIMIT 1) r"
        " WHERE pp.point_id = ANY(%s)",
        (list(point_ids),),
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class CountRow:
    point_id: int
    parameter_id: int
    received: int
    valid: int


async def counts_since(conn: AsyncConnection, point_ids: Sequence[int], since: datetime) -> list[CountRow]:
    """Received and valid (N, S) values per (point, parameter) since a park-local midnight."""
    cur = conn.cursor(row_factory=class_row(CountRow))
    await cur.execute(
        "SELECT point_id, parameter_id, count(*) AS received,"
        " count(*) FILTER (WHERE flag IN ('N', 'S')) AS valid"
        " FROM readings WHERE point_id = ANY(%s) AND time >= %s GROUP BY point_id, parameter_id",
        (list(point_ids), since),
    )
    return await cur.fetchall()


async def series(
    conn: AsyncConnection, point_ids: Sequence[int], parameter_id: int, start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, float, str]]]:
    """(time, value, flag) per point for one parameter: the samples compliance's window mean takes."""
    cur = await conn.execute(
        "SELECT point_id, time, value, flag::text FROM readings"
        " WHERE point_id = ANY(%s) AND parameter_id = %s AND time >= %s AND time < %s ORDER BY time",
        (list(point_ids), parameter_id, start, end),
    )
    out: dict[int, list[tuple[datetime, float, str]]] = {}
    for pid, t, v, f in await cur.fetchall():
        out.setdefault(pid, []).append((t, v, f))
    return out


@dataclass(frozen=True)
class SeverityCount:
    plant: str
    point_id: int
    severity: str
    count: int


async def open_alert_summary(conn: AsyncConnection, park: str, plant: str | None) -> list[SeverityCount]:
    """Active alerts (the domain's ``ACTIVE_STATES``), counted per plant, point and severity."""
    cur = conn.cursor(row_factory=class_row(SeverityCount))
    await cur.execute(
        "SELECT plant_id AS plant, point_id, severity, count(*) FROM alerts WHERE state = ANY(%(states)s)"
        " AND park_id = %(park)s AND (%(plant)s::text IS NULL OR plant_id = %(plant)s)"
        " GROUP BY plant_id, point_id, severity",
        {"park": park, "plant": plant, "states": list(ACTIVE_STATES)},
    )
    return await cur.fetchall()


# --- alerts (read side; changes go through compliance.service) -----------------------------------------
_ALERT = (
    "SELECT a.id, a.park_id AS park, a.plant_id AS plant, pt.code AS point,"
    " coalesce(pa.code, '') AS parameter, a.kind, a.severity, a.state, a.basis, a.opened_at, a.first_time,"
    " a.last_time, a.created_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.peak,"
    ' a.last_value AS value, a.limit_upper AS "limit", a.limit_lower, a.limit_source, a.unit, a.count,'
    " a.escalation, a.muted, a.detail, a.updated_at, a.point_id, a.parameter_id"
    " FROM alerts a JOIN points pt ON pt.id = a.point_id LEFT JOIN parameters pa ON pa.id = a.parameter_id"
)


@dataclass(frozen=True)
class AlertRow(Alert):
    """An alert with the ids the routes need to load its evidence (not part of the API schema)."""

    point_id: int
    parameter_id: int

    def public(self) -> Alert:
        return Alert(**{f.name: getattr(self, f.name) for f in fields(Alert)})


@dataclass(frozen=True)
class AlertFilter:
    park: str | None = None
    plant: str | None = None
    point: str | None = None
    parameter_id: int | None = None
    kinds: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    states: Sequence[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    before_id: int | None = None
    ids: Sequence[int] | None = None


async def alerts(
    conn: AsyncConnection, f: AlertFilter, scope_park: str | None, scope_plant: str | None, limit: int
) -> list[AlertRow]:
    cur = conn.cursor(row_factory=class_row(AlertRow))
    await cur.execute(
        _ALERT + " WHERE (%(sp)s::text IS NULL OR a.park_id = %(sp)s)"
        " AND (%(sl)s::text IS NULL OR a.plant_id = %(sl)s) AND (%(park)s::text IS NULL OR"
        " a.park_id = %(park)s) AND (%(plant)s::text IS NULL OR a.plant_id = %(plant)s)"
        " AND (%(point)s::text IS NULL OR pt.code = %(point)s)"
        " AND (%(param)s::int IS NULL OR a.parameter_id = %(param)s)"
        " AND (%(kinds)s::text[] IS NULL OR a.kind = ANY(%(kinds)s))"
        " AND (%(sevs)s::text[] IS NULL OR a.severity = ANY(%(sevs)s))"
        " AND (%(states)s::text[] IS NULL OR a.state = ANY(%(states)s))"
        " AND (%(start)s::timestamptz IS NULL OR a.last_time >= %(start)s)"
        " AND (%(end)s::timestamptz IS NULL OR a.opened_at < %(end)s)"
        " AND (%(before)s::bigint IS NULL OR a.id < %(before)s)"
        " AND (%(ids)s::bigint[] IS NULL OR a.id = ANY(%(ids)s))"
        " ORDER BY a.id DESC LIMIT %(n)s",
        {
            **scope(scope_park, scope_plant),
            "park": f.park,
            "plant": f.plant,
            "point": f.point,
            "param": f.parameter_id,
            "kinds": list(f.kinds) if f.kinds else None,
            "sevs": list(f.severities) if f.severities else None,
            "states": list(f.states) if f.states else None,
            "start": f.start,
            "end": f.end,
            "before": f.before_id,
            "ids": list(f.ids) if f.ids is not None else None,
            "n": limit,
        },
    )
    return await cur.fetchall()


async def alert_audit(conn: AsyncConnection, alert_id: int) -> list[Row]:
    cur = await conn.execute(
        "SELECT at, actor, action, from_state, to_state, note FROM alert_audit WHERE alert_id = %s"
        " ORDER BY id",
        (alert_id,),
    )
    return await cur.fetchall()


# --- maintenance windows ------------------------------------------------------------------------------
async def maintenance(
    conn: AsyncConnection, park: str | None, plant: str | None, active_at: datetime | None, limit: int
) -> list[Row]:
    cur = await conn.execute(
        "SELECT m.id, m.park_id, m.plant_id, p.code, lower(m.during), upper(m.during), m.reason,"
        " m.created_by, m.source, m.created_at FROM maintenance_windows m"
        " LEFT JOIN points p ON p.id = m.point_id"
        " WHERE (%(sp)s::text IS NULL OR m.park_id = %(sp)s)"
        " AND (%(sl)s::text IS NULL OR m.plant_id = %(sl)s) AND"
        " (%(at)s::timestamptz IS NULL OR m.during @> %(at)s::timestamptz) ORDER BY m.id DESC LIMIT %(n)s",
        {**scope(park, plant), "at": active_at, "n": limit},
    )
    return await cur.fetchall()


# --- events -------------------------------------------------------------------------------------------
async def events_after(
    conn: AsyncConnection, txid: int, event_id: int, park: str | None, plant: str | None, limit: int
) -> list[tuple[int, int, str, str, str, str, int | None]]:
    """Events after the cursor (txid, id) in commit-safe order: only rows of transactions older than every
    transaction still running, a prefix that can no longer grow."""
    cur = await conn.execute(
        "SELECT txid::text::bigint, id, kind, action, park_id, plant_id, alert_id FROM api_events"
        " WHERE (txid, id) > (%(tx)s::text::xid8, %(id)s) AND txid < pg_snapshot_xmin(pg_current_snapshot())"
        " AND (%(sp)s::text IS NULL OR park_id = %(sp)s) AND (%(sl)s::text IS NULL OR plant_id = %(sl)s)"
        " ORDER BY txid, id LIMIT %(n)s",
        {**scope(park, plant), "tx": txid, "id": event_id, "n": limit},
    )
    return await cur.fetchall()


async def event_horizon(conn: AsyncConnection) -> int:
    """The oldest transaction still running: every event from now on has a txid at least this."""
    cur = await conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


# --- metrics ------------------------------------------------------------------------------------------
async def metrics_snapshot(conn: AsyncConnection) -> dict[str, list[Row]]:
    queries = {
        "ingest": "SELECT coalesce(sum(messages), 0), coalesce(sum(readings), 0),"
        " coalesce(sum(duplicates), 0), coalesce(sum(rejects), 0),"
        " extract(epoch FROM now() - max(updated_at)) FROM ingest_counters",
        "dead_letters": "SELECT count(*) FROM dead_letters",
        "inbox": "SELECT count(*), coalesce(extract(epoch FROM now() - min(queued_at)), 0)"
        " FROM compliance_inbox",
        "alerts": "SELECT severity, state, count(*) FROM alerts"
        " WHERE state IN ('open', 'acknowledged') GROUP BY 1, 2",
        "jobs": "SELECT name, extract(epoch FROM started_at), extract(epoch FROM finished_at), ok,"
        " extract(epoch FROM last_ok_at) FROM compliance_job_runs",
        "outbox": "SELECT count(*) FROM notify_deliveries WHERE delivered_at IS NULL",
        "set_aside": "SELECT count(*) FROM compliance_set_aside",
        "components": "SELECT name, kind, extract(epoch FROM now() - beat_at),"
        " coalesce((detail->>'leader')::boolean, false), coalesce((detail->>'consumer')::boolean, false)"
        " FROM component_heartbeats",
    }
    out: dict[str, list[Row]] = {}
    for key, sql in queries.items():
        cur = await conn.execute(sql)
        out[key] = await cur.fetchall()
    return out


async def ping(conn: AsyncConnection) -> None:
    await conn.execute("SELECT 1")


async def heartbeats(conn: AsyncConnection) -> list[tuple[str, str, float, float, dict[str, Any]]]:
    """(name, kind, seconds since the last beat, seconds since start, detail) of every process."""
    cur = await conn.execute(
        "SELECT name, kind, extract(epoch FROM now() - beat_at)::float8,"
        " extract(epoch FROM now() - started_at)::float8, detail FROM component_heartbeats"
        " ORDER BY kind, name"
    )
    return await cur.fetchall()


async def inbox_backlog(conn: AsyncConnection) -> tuple[int, float]:
    cur = await conn.execute(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8"
        " FROM compliance_inbox"
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


async def job_success_ages(conn: AsyncConnection) -> dict[str, float | None]:
    cur = await conn.execute(
        "SELECT name, extract(epoch FROM now() - last_ok_at)::float8 FROM compliance_job_runs"
    )
    return {str(name): age for name, age in await cur.fetchall()}


# --- daily reports ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayStatistics:
    point_id: int
    parameter_id: int
    received: int
    valid: int
    mean: float | None  # of valid (N, S) values
    max: float | None


async def day_statistics(
    conn: AsyncConnection, park: str, plant: str | None, start: datetime, end: datetime
) -> list[DayStatistics]:
    """Per (point, parameter) over one park-local day: values received and valid, valid mean and max."""
    cur = conn.cursor(row_factory=class_row(DayStatistics))
    await cur.execute(
        "SELECT r.point_id, r.parameter_id, count(*) AS received,"
        " count(*) FILTER (WHERE r.flag IN ('N', 'S')) AS valid,"
        " avg(r.value) FILTER (WHERE r.flag IN ('N', 'S')) AS mean,"
        " max(r.value) FILTER (WHERE r.flag IN ('N', 'S')) AS max"
        " FROM readings r JOIN points p ON p.id = r.point_id"
        " WHERE p.park_id = %(park)s AND (%(plant)s::text IS NULL OR p.plant_id = %(plant)s)"
        " AND r.time >= %(d0)s AND r.time < %(d1)s GROUP BY r.point_id, r.parameter_id",
        {"park": park, "plant": plant, "d0": start, "d1": end},
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class DayJudgement:
    """What compliance decided about one (point, parameter) on one park-local day."""

    point_id: int
    parameter_id: int
    exceeded: bool  # a breach alert over the day, or a stored hour/day window judged exceeded
    exceedances: int  # values compliance counted in its instant-breach alerts over the day
    day_verdict: str | None  # the stored day window's verdict, once compliance closed the day


async def day_judgements(
    conn: AsyncConnection,
    park: str,
    plant: str | None,
    start: datetime,
    end: datetime,
    breach_kinds: Sequence[str],
    breach_severities: Sequence[str],
    instant_kind: str,
) -> list[DayJudgement]:
    """Compliance's alerts whose evidence lies in the day, and its stored windows of the day."""
    cur = conn.cursor(row_factory=class_row(DayJudgement))
    await cur.execute(
        "WITH pts AS (SELECT id FROM points WHERE park_id = %(park)s"
        "  AND (%(plant)s::text IS NULL OR plant_id = %(plant)s)),"
        " al AS (SELECT point_id, parameter_id, sum(count) FILTER (WHERE kind = %(instant)s) AS n"
        "  FROM alerts WHERE point_id IN (SELECT id FROM pts) AND kind = ANY(%(kinds)s)"
        "  AND severity = ANY(%(sevs)s) AND first_time < %(d1)s AND last_time >= %(d0)s GROUP BY 1, 2),"
        " w AS (SELECT point_id, parameter_id, bool_or(verdict = 'exceeded') AS exceeded,"
        "  min(verdict) FILTER (WHERE span = 'day' AND start_at = %(d0)s) AS day_verdict"
        "  FROM compliance_windows WHERE point_id IN (SELECT id FROM pts)"
        "  AND start_at >= %(d0)s AND start_at < %(d1)s GROUP BY 1, 2)"
        " SELECT coalesce(al.point_id, w.point_id) AS point_id,"
        " coalesce(al.parameter_id, w.parameter_id) AS parameter_id,"
        " al.point_id IS NOT NULL OR coalesce(w.exceeded, false) AS exceeded,"
        " coalesce(al.n, 0)::int AS exceedances, w.day_verdict"
        " FROM al FULL JOIN w ON w.point_id = al.point_id AND w.parameter_id = al.parameter_id",
        {
            "park": park,
            "plant": plant,
            "d0": start,
            "d1": end,
            "kinds": list(breach_kinds),
            "sevs": list(breach_severities),
            "instant": instant_kind,
        },
    )
    return await cur.fetchall()


async def stored_report(conn: AsyncConnection, park: str, day: date) -> dict[str, Any] | None:
    """The park-level figures compliance stored when it closed the day (reuse ratio, mass balance)."""
    cur = await conn.execute(
        "SELECT body FROM compliance_reports WHERE park_id = %s AND day = %s", (park, day)
    )
    row = await cur.fetchone()
    return dict(row[0]) if row else None


async def hourly_means(
    conn: AsyncConnection, point_ids: Sequence[int], start: datetime, end: datetime, timezone: str
) -> list[tuple[int, int, datetime, float | None]]:
    cur = await conn.execute(
        "SELECT point_id, parameter_id, time_bucket('1 hour', time, %s) AS b,"
        " avg(value) FILTER (WHERE flag IN ('N', 'S')) FROM readings"
        " WHERE point_id = ANY(%s) AND time >= %s AND time < %s GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (timezone, list(point_ids), start, end),
    )
    return await cur.fetchall()


@dataclass(frozen=True)
class OpenedAlert:
    plant: str
    point_id: int
    parameter_id: int
    kind: str
    severity: str


async def alerts_opened(
    conn: AsyncConnection, park: str, plant: str | None, start: datetime, end: datetime
) -> list[OpenedAlert]:
    """Alerts opened during the day."""
    cur = conn.cursor(row_factory=class_row(OpenedAlert))
    await cur.execute(
        "SELECT plant_id AS plant, point_id, parameter_id, kind, severity FROM alerts"
        " WHERE park_id = %(park)s"
        " AND (%(plant)s::text IS NULL OR plant_id = %(plant)s)"
        " AND opened_at >= %(d0)s AND opened_at < %(d1)s",
        {"park": park, "plant": plant, "d0": start, "d1": end},
    )
    return await cur.fetchall()
