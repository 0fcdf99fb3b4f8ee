"""All SQL of the compliance package. Functions take a connection and never commit: the caller (an
ingest batch, a job, a request) owns the transaction. Rows come back as frozen dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg

from compliance.models import AlertState, AlertView, AuditEntry, WindowResult
from ingest.models import ParkSpec, PlantSpec, PointSpec

ALERTS_CHANNEL = "outfall_alerts"  # NOTIFY payload: alert id, on every alert change
INBOX_CHANNEL = "outfall_compliance"  # NOTIFY: the inbox has rows
# Kinds whose active alert makes every reading at its key interesting to the real-time rules.
WATCHED_KINDS = ("exceedance", "offline", "instrument_fault", "over_range", "implausible")


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


def sync_park_maintenance(
    conn: psycopg.Connection, park_id: str, rows: Iterable[tuple[str, int | None, datetime, datetime, str]]
) -> None:
    """Maintenance windows declared in the park file: (plant, point id or None, start, end, reason)."""
    conn.execute("DELETE FROM maintenance_windows WHERE park_id = %s AND source = 'park_file'", (park_id,))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO maintenance_windows (park_id, plant_id, point_id, during, reason,"
            " created_by, source)"
            " VALUES (%s, %s, %s, tstzrange(%s, %s), %s, 'park file', 'park_file')",
            [(park_id, plant, point, start, end, reason) for plant, point, start, end, reason in rows],
        )


def create_maintenance(
    conn: psycopg.Connection,
    park_id: str,
    plant_id: str,
    point_code: str | None,
    start: datetime,
    end: datetime,
    reason: str,
    actor: str,
) -> int:
    row = conn.execute(
        "INSERT INTO maintenance_windows (park_id, plant_id, point_id, during, reason, created_by)"
        " SELECT %(park)s, %(plant)s, (SELECT id FROM points WHERE park_id = %(park)s AND plant_id ="
        " %(plant)s"
        "  AND code = %(point)s), tstzrange(%(s)s, %(e)s), %(reason)s, %(actor)s"
        " WHERE EXISTS (SELECT 1 FROM plants WHERE park_id = %(park)s AND id = %(plant)s) RETURNING id",
        {
            "park": park_id,
            "plant": plant_id,
            "point": point_code,
            "s": start,
            "e": end,
            "reason": reason,
            "actor": actor,
        },
    ).fetchone()
    if row is None:
        raise LookupError(f"no plant {park_id}/{plant_id}")
    return int(row[0])


def maintenance_windows(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Windows that silence each point (its own or its plant's) and overlap [start, end]."""
    rows = conn.execute(
        "SELECT p.id, lower(m.during), upper(m.during) FROM points p JOIN maintenance_windows m"
        " ON m.park_id = p.park_id AND m.plant_id = p.plant_id AND (m.point_id IS NULL OR m.point_id = p.id)"
        " WHERE p.id = ANY(%s) AND m.during && tstzrange(%s, %s, '[]')",
        (list(point_ids), start, end),
    ).fetchall()
    found: dict[int, list[tuple[datetime, datetime]]] = {}
    for pid, lo, hi in rows:
        found.setdefault(pid, []).append((lo, hi))
    return found


# --- the real-time inbox ----------------------------------------------------------------------------
_CAPTURE = (
    "INSERT INTO compliance_inbox (point_id, parameter_id, time, value, flag, late)"
    " SELECT s.point_id, s.parameter_id, s.time, s.value, s.flag, false FROM staging_readings s"
    " JOIN parameters p ON p.id = s.parameter_id"
    " LEFT JOIN compliance_limits l ON l.point_id = s.point_id AND l.parameter_id = s.parameter_id"
    "  AND l.valid @> s.time"
    " WHERE s.flag NOT IN ('N', 'S') OR s.value < p.plausible_min OR s.value > p.plausible_max"
    "  OR s.value >= l.watch_upper OR s.value < l.watch_lower"
    "  OR EXISTS (SELECT 1 FROM alerts a WHERE a.state <> 'resolved' AND a.point_id = s.point_id"
    "   AND a.parameter_id IN (s.parameter_id, 0) AND a.kind = ANY(%(watched)s))"
    " UNION ALL"
    # Half-hour buckets so that park-local hours of half-hour zones are caught too; the consumer
    # re-judges only windows that are really closed.
    " SELECT point_id, parameter_id, min(time), NULL, NULL, true FROM staging_readings"
    " WHERE time_bucket('30 minutes', time) + interval '30 minutes' + make_interval(secs =>"
    " %(grace)s) < now()"
    " GROUP BY point_id, parameter_id, time_bucket('30 minutes', time)"
)


def capture_batch(conn: psycopg.Connection, late_grace_s: float) -> int:
    """Inside the ingest transaction: queue the batch's readings the real-time rules must see. One
    set-based statement over the staging table; a NOTIFY (sent at commit) wakes the consumer."""
    with conn.cursor() as cur:
        cur.execute(_CAPTURE, {"watched": list(WATCHED_KINDS), "grace": late_grace_s})
        queued = cur.rowcount
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


def take_inbox(conn: psycopg.Connection, limit: int) -> list[InboxRow]:
    """Take (delete) up to ``limit`` queued rows with the limit in force at each reading's time.
    SKIP LOCKED lets a second consumer take other rows instead of waiting."""
    rows = conn.execute(
        "WITH taken AS (DELETE FROM compliance_inbox WHERE id IN (SELECT id FROM compliance_inbox"
        "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING *)"
        " SELECT t.point_id, t.parameter_id, t.time, t.value, t.flag, t.late, t.queued_at,"
        "  l.upper, l.lower, coalesce(l.not_detected, false), l.source FROM taken t"
        " LEFT JOIN compliance_limits l ON l.point_id = t.point_id AND l.parameter_id = t.parameter_id"
        "  AND l.valid @> t.time ORDER BY t.time",
        (limit,),
    ).fetchall()
    return [InboxRow(*r) for r in rows]


def points(
    conn: psycopg.Connection, ids: Sequence[int] | None = None, park_id: str | None = None
) -> dict[int, PointRow]:
    rows = conn.execute(
        "SELECT p.id, p.park_id, p.plant_id, p.code, p.kind, p.interval_s, k.timezone FROM points p"
        " JOIN parks k ON k.id = p.park_id WHERE p.active AND (%(ids)s::int[] IS NULL OR p.id = ANY(%(ids)s))"
        " AND (%(park)s::text IS NULL OR p.park_id = %(park)s)",
        {"ids": list(ids) if ids is not None else None, "park": park_id},
    ).fetchall()
    return {r[0]: PointRow(*r) for r in rows}


def fault_run_start(
    conn: psycopg.Connection, point_id: int, parameter_id: int, t: datetime
) -> datetime | None:
    """Start of the run of invalid readings that ends at ``t``: the first reading after the last valid
    one (searching back at most 7 days)."""
    row = conn.execute(
        "SELECT min(time) FROM readings WHERE point_id = %(p)s AND parameter_id = %(q)s AND time <= %(t)s"
        " AND time > greatest(%(t)s - interval '7 days', coalesce((SELECT max(time) FROM readings"
        "  WHERE point_id = %(p)s AND parameter_id = %(q)s AND time <= %(t)s AND flag IN ('N', 'S')"
        "  AND time > %(t)s - interval '7 days'), '-infinity'))",
        {"p": point_id, "q": parameter_id, "t": t},
    ).fetchone()
    return row[0] if row else None


def series(
    conn: psycopg.Connection, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[tuple[datetime, float, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT time, value, flag::text FROM readings WHERE point_id = %s AND parameter_id = %s"
            " AND time >= %s AND time < %s ORDER BY time",
            (point_id, parameter_id, start, end),
        )
    ]


def recent_keys(
    conn: psycopg.Connection, start: datetime, end: datetime, park_id: str | None
) -> list[tuple[int, int]]:
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT DISTINCT r.point_id, r.parameter_id FROM readings r JOIN points p ON p.id = r.point_id"
            " WHERE r.time >= %s AND r.time < %s AND (%s::text IS NULL OR p.park_id = %s)",
            (start, end, park_id, park_id),
        )
    ]


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


def limit_at(
    conn: psycopg.Connection, point_id: int, parameter_id: int, t: datetime
) -> tuple[float | None, float | None, bool, str] | None:
    row = conn.execute(
        "SELECT upper, lower, not_detected, source FROM compliance_limits WHERE point_id = %s"
        " AND parameter_id = %s AND valid @> %s::timestamptz",
        (point_id, parameter_id, t),
    ).fetchone()
    return (row[0], row[1], row[2], row[3]) if row else None


# --- alerts -----------------------------------------------------------------------------------------
_ALERT_COLS = "id, kind, severity, state, peak, last_value, count, first_time, last_time, clear_since"


@dataclass(frozen=True)
class AlertMeta:
    """What an alert row needs besides its evolving state."""

    park_id: str
    plant_id: str
    point_id: int
    parameter_id: int
    basis: str
    unit: str | None = None
    limit_upper: float | None = None
    limit_lower: float | None = None
    limit_source: str | None = None
    muted: str | None = None
    detail: dict[str, object] | None = None


def active_alerts(
    conn: psycopg.Connection, point_ids: Sequence[int], kinds: Sequence[str] | None = None
) -> dict[tuple[str, int, int], AlertState]:
    """Active alerts at these points, locked for this transaction (officer actions wait for us)."""
    rows = conn.execute(
        "SELECT id, kind, severity, state, peak, last_value, count, first_time, last_time, clear_since,"
        " point_id, parameter_id FROM alerts WHERE state <> 'resolved'"
        " AND point_id = ANY(%s) AND (%s::text[] IS NULL OR kind = ANY(%s)) ORDER BY id FOR UPDATE",
        (list(point_ids), kinds, kinds),
    ).fetchall()
    return {(r[1], r[10], r[11]): AlertState(*r[:10]) for r in rows}


def insert_alert(
    conn: psycopg.Connection, meta: AlertMeta, a: AlertState, resolved_at: datetime | None
) -> tuple[int, bool]:
    """Insert (or, if another writer got there first, merge into) the active alert of this key.
    Returns (id, inserted)."""
    row = conn.execute(
        "INSERT INTO alerts (kind, park_id, plant_id, point_id, parameter_id, severity, state,"
        " basis, opened_at,"
        " first_time, last_time, peak, last_value, limit_upper, limit_lower, limit_source, unit, count,"
        " clear_since, muted, detail, resolved_at, resolved_by)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
        " ON CONFLICT (kind, point_id, parameter_id) WHERE state <> 'resolved' DO UPDATE SET"
        " count = alerts.count + EXCLUDED.count, peak = greatest(alerts.peak, EXCLUDED.peak),"
        " last_value = EXCLUDED.last_value, first_time = least(alerts.first_time, EXCLUDED.first_time),"
        " last_time = greatest(alerts.last_time, EXCLUDED.last_time), updated_at = clock_timestamp(),"
        " severity = CASE WHEN array_position(%s::text[], EXCLUDED.severity)"
        "  > array_position(%s::text[], alerts.severity) THEN EXCLUDED.severity ELSE alerts.severity END"
        " RETURNING id, xmax = 0",
        (
            a.kind,
            meta.park_id,
            meta.plant_id,
            meta.point_id,
            meta.parameter_id,
            a.severity,
            a.state,
            meta.basis,
            a.first_time,
            a.first_time,
            a.last_time,
            a.peak,
            a.last_value,
            meta.limit_upper,
            meta.limit_lower,
            meta.limit_source,
            meta.unit,
            a.count,
            a.clear_since,
            meta.muted,
            orjson.dumps(meta.detail or {}).decode(),
            resolved_at,
            "compliance" if resolved_at else None,
            _SEVERITIES,
            _SEVERITIES,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


_SEVERITIES = ["warning", "violation", "critical"]


def update_alert(conn: psycopg.Connection, a: AlertState, muted: str | None = None) -> None:
    conn.execute(
        "UPDATE alerts SET severity = %s, peak = %s, last_value = %s, count = %s, first_time = %s,"
        " last_time = %s, clear_since = %s, muted = coalesce(%s, muted), updated_at = clock_timestamp()"
        " WHERE id = %s",
        (a.severity, a.peak, a.last_value, a.count, a.first_time, a.last_time, a.clear_since, muted, a.id),
    )


def resolve_alert(conn: psycopg.Connection, a: AlertState, at: datetime, actor: str) -> bool:
    cur = conn.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = %s, resolved_by = %s, clear_since = %s,"
        " last_value = %s, updated_at = clock_timestamp() WHERE id = %s AND state <> 'resolved'",
        (at, actor, a.clear_since, a.last_value, a.id),
    )
    return cur.rowcount == 1


def append_audit(conn: psycopg.Connection, alert_id: int, e: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO alert_audit (alert_id, actor, action, from_state, to_state, note, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (alert_id, e.actor, e.action, e.from_state, e.to_state, e.note, orjson.dumps(e.detail).decode()),
    )


def enqueue_notification(conn: psycopg.Connection, alert_id: int, event: str) -> None:
    """The transactional outbox: this row commits (or not) together with the alert change."""
    conn.execute(
        "INSERT INTO notify_outbox (alert_id, event, park_id, plant_id, severity)"
        " SELECT id, %s, park_id, plant_id, severity FROM alerts WHERE id = %s AND muted IS NULL",
        (event, alert_id),
    )
    conn.execute("UPDATE alerts SET last_notified_at = clock_timestamp() WHERE id = %s", (alert_id,))


def announce(conn: psycopg.Connection, alert_id: int) -> None:
    conn.execute("SELECT pg_notify(%s, %s)", (ALERTS_CHANNEL, str(alert_id)))


def officer_update(conn: psycopg.Connection, alert_id: int, e: AuditEntry) -> None:
    if e.action == "acknowledge":
        conn.execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_at = clock_timestamp(),"
            " acknowledged_by = %s, updated_at = clock_timestamp() WHERE id = %s",
            (e.actor, alert_id),
        )
    elif e.action == "resolve":
        conn.execute(
            "UPDATE alerts SET state = 'resolved', resolved_at = clock_timestamp(), resolved_by = %s,"
            " updated_at = clock_timestamp() WHERE id = %s",
            (e.actor, alert_id),
        )
    append_audit(conn, alert_id, e)


def alert_state_for_update(conn: psycopg.Connection, alert_id: int) -> str | None:
    row = conn.execute("SELECT state FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
    return str(row[0]) if row else None


_LIST = (
    "SELECT a.id, a.park_id, a.plant_id, pt.code, coalesce(pa.code, ''), a.kind, a.severity, a.state,"
    " a.basis, a.opened_at, a.first_time, a.last_time, a.created_at, a.acknowledged_at, a.acknowledged_by,"
    " a.resolved_at, a.resolved_by, a.peak, a.last_value, a.limit_upper, a.limit_lower, a.limit_source,"
    " a.unit, a.count, a.escalation, a.muted, a.detail"
    " FROM alerts a JOIN points pt ON pt.id = a.point_id LEFT JOIN parameters pa ON pa.id = a.parameter_id"
)


def list_alerts(
    conn: psycopg.Connection,
    park_id: str | None = None,
    plant_id: str | None = None,
    states: Sequence[str] | None = None,
    limit: int = 500,
) -> list[AlertView]:
    return [
        AlertView(*r)
        for r in conn.execute(
            _LIST + " WHERE (%(park)s::text IS NULL OR a.park_id = %(park)s)"
            " AND (%(plant)s::text IS NULL OR a.plant_id = %(plant)s)"
            " AND (%(states)s::text[] IS NULL OR a.state = ANY(%(states)s)) ORDER BY a.id DESC LIMIT %(n)s",
            {"park": park_id, "plant": plant_id, "states": states, "n": limit},
        )
    ]


def get_alert(conn: psycopg.Connection, alert_id: int) -> AlertView | None:
    row = conn.execute(_LIST + " WHERE a.id = %s", (alert_id,)).fetchone()
    return AlertView(*row) if row else None


def get_alerts(conn: psycopg.Connection, ids: Sequence[int]) -> list[AlertView]:
    return [AlertView(*r) for r in conn.execute(_LIST + " WHERE a.id = ANY(%s) ORDER BY a.id", (list(ids),))]


# --- notification outbox ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboxRow:
    id: int
    alert_id: int
    event: str
    park_id: str
    plant_id: str
    severity: str


def pending_outbox(conn: psycopg.Connection, created_before: datetime) -> list[OutboxRow]:
    """Outbox rows of every plant whose oldest pending row is older than the grouping window."""
    return [
        OutboxRow(*r)
        for r in conn.execute(
            "SELECT id, alert_id, event, park_id, plant_id, severity FROM notify_outbox o"
            " WHERE grouped_at IS NULL AND EXISTS (SELECT 1 FROM notify_outbox f WHERE f.grouped_at IS NULL"
            "  AND f.park_id = o.park_id AND f.plant_id = o.plant_id AND f.created_at <= %s)"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            (created_before,),
        )
    ]


def mark_grouped(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("UPDATE notify_outbox SET grouped_at = clock_timestamp() WHERE id = ANY(%s)", (list(ids),))


def park_config(conn: psycopg.Connection, park_id: str) -> dict[str, object]:
    row = conn.execute("SELECT config FROM parks WHERE id = %s", (park_id,)).fetchone()
    return dict(row[0]) if row else {}


def insert_delivery(
    conn: psycopg.Connection,
    sub: str,
    channel: str,
    target: str,
    park_id: str,
    plant_id: str,
    outbox_ids: Sequence[int],
    payload: dict[str, object],
) -> None:
    conn.execute(
        "INSERT INTO notify_deliveries (subscription, channel, target, park_id, plant_id,"
        " outbox_ids, payload)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (sub, channel, target, park_id, plant_id, list(outbox_ids), orjson.dumps(payload).decode()),
    )


@dataclass(frozen=True)
class Delivery:
    id: int
    channel: str
    target: str
    payload: dict[str, object]
    attempts: int


def due_deliveries(conn: psycopg.Connection, now: datetime, limit: int = 50) -> list[Delivery]:
    return [
        Delivery(*r)
        for r in conn.execute(
            "SELECT id, channel, target, payload, attempts FROM notify_deliveries WHERE delivered_at IS NULL"
            " AND next_attempt_at <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
            (now, limit),
        )
    ]


def delivery_done(conn: psycopg.Connection, delivery_id: int) -> None:
    conn.execute(
        "UPDATE notify_deliveries SET delivered_at = clock_timestamp(), attempts = attempts + 1,"
        " last_error = NULL WHERE id = %s",
        (delivery_id,),
    )


def delivery_failed(conn: psycopg.Connection, delivery_id: int, retry_at: datetime, error: str) -> None:
    conn.execute(
        "UPDATE notify_deliveries SET attempts = attempts + 1, next_attempt_at = %s, last_error = %s"
        " WHERE id = %s",
        (retry_at, error[:500], delivery_id),
    )


def audit_of(conn: psycopg.Connection, alert_id: int) -> list[tuple[object, ...]]:
    return [
        tuple(r)
        for r in conn.execute(
            "SELECT at, actor, action, from_state, to_state, note FROM alert_audit WHERE alert_id ="
            " %s ORDER BY id",
            (alert_id,),
        )
    ]


def overdue_alerts(conn: psycopg.Connection, opened_before: datetime) -> list[tuple[int, int]]:
    """Open (unacknowledged) violations and criticals not escalated since ``opened_before``."""
    return [
        (r[0], r[1])
        for r in conn.execute(
            "SELECT id, escalation FROM alerts WHERE state = 'open' AND severity <> 'warning' AND"
            " muted IS NULL"
            " AND coalesce(escalated_at, created_at) < %s FOR UPDATE SKIP LOCKED",
            (opened_before,),
        )
    ]


def mark_escalated(conn: psycopg.Connection, alert_id: int, level: int, at: datetime) -> None:
    conn.execute("UPDATE alerts SET escalation = %s, escalated_at = %s WHERE id = %s", (level, at, alert_id))


def critical_to_repeat(conn: psycopg.Connection, notified_before: datetime) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM alerts WHERE state <> 'resolved' AND severity = 'critical' AND muted IS NULL"
            " AND coalesce(last_notified_at, created_at) < %s FOR UPDATE SKIP LOCKED",
            (notified_before,),
        )
    ]


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
        "UPDATE compliance_job_runs SET finished_at = clock_timestamp(), ok = %s, detail = %s WHERE"
        " name = %s",
        (ok, detail, name),
    )


def job_runs(conn: psycopg.Connection) -> dict[str, tuple[object, ...]]:
    return {
        r[0]: tuple(r[1:])
        for r in conn.execute("SELECT name, started_at, finished_at, ok, detail FROM compliance_job_runs")
    }
