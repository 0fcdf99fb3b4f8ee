"""SQL of the compliance package: Alerts, their audit log and the notification outbox (the deliveries
made from it are compliance/repo/deliveries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import psycopg
from psycopg.rows import args_row, class_row

from compliance import routing
from compliance.models import SEVERITY_RANK, AlertState, AlertView, AuditEntry
from compliance.repo.channels import ALERTS_CHANNEL

# --- alerts -----------------------------------------------------------------------------------------


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
    during_maintenance: int | None = None  # the approved window a critical breach opened it in


def active_alerts(
    conn: psycopg.Connection, point_ids: Sequence[int], kinds: Sequence[str] | None = None
) -> dict[tuple[str, int, int], AlertState]:
    """Active alerts at these points, locked for this transaction (officer actions wait for us)."""
    with conn.cursor(row_factory=args_row(_keyed)) as cur:
        rows = cur.execute(
            "SELECT point_id, parameter_id, id, kind, severity, state, peak, last_value, count, first_time,"
            " last_time, clear_since FROM alerts WHERE state IN ('open', 'acknowledged')"
            " AND point_id = ANY(%s) AND (%s::text[] IS NULL OR kind = ANY(%s)) ORDER BY id FOR UPDATE",
            (list(point_ids), kinds, kinds),
        ).fetchall()
    return {(a.kind, point_id, parameter_id): a for point_id, parameter_id, a in rows}


def _keyed(point_id: int, parameter_id: int, *state: Any) -> tuple[int, int, AlertState]:
    """A row of the key, then the alert's columns in AlertState's order."""
    return point_id, parameter_id, AlertState(*state)


def alerts_overlapping(
    conn: psycopg.Connection, kind: str, point_id: int, parameter_id: int, start: datetime, end: datetime
) -> list[AlertState]:
    """Alerts of this key in any state whose evidence window overlaps (start, end), locked: an episode
    found again in data time (a re-scan, a re-sent history) is the same alert, never a twin."""
    with conn.cursor(row_factory=class_row(AlertState)) as cur:
        return cur.execute(
            "SELECT id, kind, severity, state, peak, last_value, count, first_time, last_time, clear_since"
            " FROM alerts WHERE kind = %s AND point_id = %s AND parameter_id = %s"
            " AND first_time < %s AND last_time > %s ORDER BY first_time FOR UPDATE",
            (kind, point_id, parameter_id, end, start),
        ).fetchall()


def insert_alert(
    conn: psycopg.Connection,
    meta: AlertMeta,
    a: AlertState,
    resolved_at: datetime | None,
    officer_visible: bool = True,
) -> tuple[int, bool]:
    """Insert (or, if another writer got there first, merge into) the active alert of this key.
    ``officer_visible``: before officers from its opening (compliance/routing.py decides). Returns
    (id, inserted)."""
    row = conn.execute(
        "INSERT INTO alerts (kind, park_id, plant_id, point_id, parameter_id, severity, state,"
        " basis, opened_at,"
        " first_time, last_time, peak, last_value, limit_upper, limit_lower, limit_source, unit, count,"
        " clear_since, muted, detail, resolved_at, resolved_by, cleared_at, during_maintenance,"
        " officer_visible_at)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,"
        " CASE WHEN %s THEN clock_timestamp() END)"
        " ON CONFLICT (kind, point_id, parameter_id) WHERE state IN ('open', 'acknowledged') DO UPDATE SET"
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
            resolved_at if a.state == "resolved" else None,
            "compliance" if resolved_at and a.state == "resolved" else None,
            resolved_at if a.state == "cleared" else None,
            meta.during_maintenance,
            officer_visible,
            _SEVERITIES,
            _SEVERITIES,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])


# lowest first: a merge keeps the higher severity (the ranking is compliance.models')
_SEVERITIES = sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__)


def update_alert(conn: psycopg.Connection, a: AlertState, muted: str | None = None) -> None:
    conn.execute(
        "UPDATE alerts SET severity = %s, peak = %s, last_value = %s, count = %s, first_time = %s,"
        " last_time = %s, clear_since = %s, muted = coalesce(%s, muted), updated_at = clock_timestamp()"
        " WHERE id = %s",
        (a.severity, a.peak, a.last_value, a.count, a.first_time, a.last_time, a.clear_since, muted, a.id),
    )


def resolve_alert(conn: psycopg.Connection, a: AlertState, at: datetime, actor: str) -> str | None:
    """End an active alert whose condition cleared: ``a.state`` is ``cleared`` (it stays in the
    officer's queue) or ``resolved``. Returns the state it had, or None when it was not active."""
    row = conn.execute(
        "UPDATE alerts a SET state = %(state)s, clear_since = %(since)s, last_value = %(value)s,"
        " cleared_at = CASE WHEN %(state)s = 'cleared' THEN %(at)s::timestamptz END,"
        " resolved_at = CASE WHEN %(state)s = 'resolved' THEN %(at)s::timestamptz END,"
        " resolved_by = CASE WHEN %(state)s = 'resolved' THEN %(actor)s END,"
        " updated_at = clock_timestamp() FROM (SELECT state FROM alerts WHERE id = %(id)s) b"
        " WHERE a.id = %(id)s AND a.state IN ('open', 'acknowledged') RETURNING b.state",
        {"state": a.state, "since": a.clear_since, "value": a.last_value, "at": at, "actor": actor}
        | {"id": a.id},
    ).fetchone()
    return str(row[0]) if row else None


def append_audit(conn: psycopg.Connection, alert_id: int, e: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO alert_audit (alert_id, actor, action, from_state, to_state, note, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (alert_id, e.actor, e.action, e.from_state, e.to_state, e.note, orjson.dumps(e.detail).decode()),
    )


def enqueue_notification(conn: psycopg.Connection, alert_id: int, event: str) -> None:
    """The transactional outbox: this row commits (or not) together with the alert change. A muted
    alert's change is withheld, and the audit log says so: when the mute ends while the alert is still
    active, ``sync_inhibition`` notifies it then (once)."""
    row = conn.execute("SELECT muted, officer_visible_at FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if row is None:
        return
    if row[0] is not None:
        note = f"{event} not notified: muted ({row[0]})"
        append_audit(conn, alert_id, AuditEntry(WITHHELD, "compliance", None, None, note, {"event": event}))
        return
    conn.execute(
        "INSERT INTO notify_outbox (alert_id, event, park_id, plant_id, severity, audience)"
        " SELECT id, %s, park_id, plant_id, severity, %s FROM alerts WHERE id = %s",
        (event, routing.audience(row[1]), alert_id),
    )
    conn.execute("UPDATE alerts SET last_notified_at = clock_timestamp() WHERE id = %s", (alert_id,))


WITHHELD = "notification_withheld"  # audit action: a change of a muted alert, not sent


def announce(conn: psycopg.Connection, alert_id: int) -> None:
    conn.execute("SELECT pg_notify(%s, %s)", (ALERTS_CHANNEL, str(alert_id)))


def officer_update(conn: psycopg.Connection, alert_id: int, e: AuditEntry) -> None:
    if e.action == "acknowledge":
        conn.execute(
            "UPDATE alerts SET state = %s, acknowledged_at = clock_timestamp(),"
            " acknowledged_by = %s, updated_at = clock_timestamp() WHERE id = %s",
            (e.to_state, e.actor, alert_id),
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
    "SELECT a.id, a.park_id AS park, a.plant_id AS plant, pt.code AS point,"
    " coalesce(pa.code, '') AS parameter, a.kind, a.severity, a.state, a.basis, a.opened_at, a.first_time,"
    " a.last_time, a.created_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by,"
    " a.peak, a.last_value AS value, a.limit_upper AS limit, a.limit_lower, a.limit_source, a.unit,"
    " a.count, a.escalation, a.muted, a.detail, a.during_maintenance, a.officer_visible_at, a.explanation"
    " FROM alerts a JOIN points pt ON pt.id = a.point_id LEFT JOIN parameters pa ON pa.id = a.parameter_id"
)


def list_alerts(
    conn: psycopg.Connection,
    park_id: str | None = None,
    plant_id: str | None = None,
    states: Sequence[str] | None = None,
    limit: int = 500,
) -> list[AlertView]:
    with conn.cursor(row_factory=class_row(AlertView)) as cur:
        return cur.execute(
            _LIST + " WHERE (%(park)s::text IS NULL OR a.park_id = %(park)s)"
            " AND (%(plant)s::text IS NULL OR a.plant_id = %(plant)s)"
            " AND (%(states)s::text[] IS NULL OR a.state = ANY(%(states)s)) ORDER BY a.id DESC LIMIT %(n)s",
            {"park": park_id, "plant": plant_id, "states": states, "n": limit},
        ).fetchall()


def get_alert(conn: psycopg.Connection, alert_id: int) -> AlertView | None:
    with conn.cursor(row_factory=class_row(AlertView)) as cur:
        return cur.execute(_LIST + " WHERE a.id = %s", (alert_id,)).fetchone()


def get_alerts(conn: psycopg.Connection, ids: Sequence[int]) -> list[AlertView]:
    with conn.cursor(row_factory=class_row(AlertView)) as cur:
        return cur.execute(_LIST + " WHERE a.id = ANY(%s) ORDER BY a.id", (list(ids),)).fetchall()


# --- notification outbox ----------------------------------------------------------------------------
@dataclass(frozen=True)
class OutboxRow:
    id: int
    alert_id: int
    event: str
    park_id: str
    plant_id: str
    severity: str
    audience: str  # everyone | operator (compliance/routing.py)


def pending_outbox(conn: psycopg.Connection, created_before: datetime) -> list[OutboxRow]:
    """Outbox rows of every plant whose oldest pending row is older than the grouping window."""
    with conn.cursor(row_factory=class_row(OutboxRow)) as cur:
        return cur.execute(
            "SELECT id, alert_id, event, park_id, plant_id, severity, audience FROM notify_outbox o"
            " WHERE grouped_at IS NULL AND EXISTS (SELECT 1 FROM notify_outbox f WHERE f.grouped_at IS NULL"
            "  AND f.park_id = o.park_id AND f.plant_id = o.plant_id AND f.created_at <= %s)"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            (created_before,),
        ).fetchall()


def mark_grouped(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("UPDATE notify_outbox SET grouped_at = clock_timestamp() WHERE id = ANY(%s)", (list(ids),))


def park_config(conn: psycopg.Connection, park_id: str) -> dict[str, object]:
    row = conn.execute("SELECT config FROM parks WHERE id = %s", (park_id,)).fetchone()
    return dict(row[0]) if row else {}


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None


def audit_of(conn: psycopg.Connection, alert_id: int) -> list[AuditRow]:
    with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        return cur.execute(
            "SELECT at, actor, action, from_state, to_state, note FROM alert_audit WHERE alert_id = %s"
            " ORDER BY id",
            (alert_id,),
        ).fetchall()


@dataclass(frozen=True)
class Overdue:
    id: int
    escalation: int


def overdue_alerts(conn: psycopg.Connection, opened_before: datetime) -> list[Overdue]:
    """Open (unacknowledged) violations and criticals before officers, not escalated since
    ``opened_before`` (counted from when officers first saw them)."""
    with conn.cursor(row_factory=class_row(Overdue)) as cur:
        return cur.execute(
            "SELECT id, escalation FROM alerts WHERE state = 'open' AND severity <> 'warning' AND"
            " muted IS NULL AND coalesce(escalated_at, officer_visible_at) < %s FOR UPDATE SKIP LOCKED",
            (opened_before,),
        ).fetchall()


def mark_escalated(conn: psycopg.Connection, alert_id: int, level: int, at: datetime) -> None:
    conn.execute("UPDATE alerts SET escalation = %s, escalated_at = %s WHERE id = %s", (level, at, alert_id))


def critical_to_repeat(conn: psycopg.Connection, notified_before: datetime) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM alerts WHERE state IN ('open', 'acknowledged') AND severity = 'critical'"
            " AND muted IS NULL AND officer_visible_at IS NOT NULL"
            " AND coalesce(last_notified_at, created_at) < %s FOR UPDATE SKIP LOCKED",
            (notified_before,),
        )
    ]


def sync_inhibition(
    conn: psycopg.Connection, point_id: int, inhibiting: Sequence[str], inhibited: Sequence[str]
) -> None:
    """Mute the point's open concentration alerts while an offline or instrument-fault alert is open
    there, and unmute them when none is (Alertmanager's inhibition, applied to alerts already open too).
    Other mute reasons are left alone. Each mute and unmute is audited; an alert whose notification was
    withheld while muted and that is still active when the mute ends is notified now, once."""
    changed = conn.execute(
        "WITH cur AS (SELECT id, muted FROM alerts WHERE point_id = %(point)s"
        "  AND state IN ('open', 'acknowledged') AND kind = ANY(%(inhibited)s)"
        "  AND (muted IS NULL OR muted = 'inhibited') FOR UPDATE),"
        " upd AS (UPDATE alerts a SET muted = CASE WHEN EXISTS (SELECT 1 FROM alerts s"
        "  WHERE s.point_id = a.point_id AND s.state IN ('open', 'acknowledged')"
        "  AND s.kind = ANY(%(inhibiting)s))"
        "  THEN 'inhibited' END, updated_at = clock_timestamp() FROM cur WHERE a.id = cur.id"
        "  RETURNING a.id, a.state, a.muted, cur.muted AS was, a.last_notified_at)"
        " SELECT upd.id, upd.state, upd.muted, EXISTS (SELECT 1 FROM alert_audit w WHERE w.alert_id = upd.id"
        "  AND w.action = %(withheld)s AND w.at > coalesce(upd.last_notified_at, '-infinity'))"
        " FROM upd WHERE upd.muted IS DISTINCT FROM upd.was ORDER BY upd.id",
        {
            "point": point_id,
            "inhibiting": list(inhibiting),
            "inhibited": list(inhibited),
            "withheld": WITHHELD,
        },
    ).fetchall()
    for alert_id, state, muted, missed in changed:
        if muted is not None:
            note = "muted: an offline or instrument-fault alert is open at the point"
            append_audit(conn, alert_id, AuditEntry("mute", "compliance", state, state, note))
            continue
        note = "unmuted: no offline or instrument-fault alert open at the point any more" + (
            "; still active, so notified now (its notification was withheld while muted)" if missed else ""
        )
        append_audit(conn, alert_id, AuditEntry("unmute", "compliance", state, state, note))
        if missed:
            enqueue_notification(conn, alert_id, "unmuted")


# --- abnormal data: the operator's explanation and the referral to officers (compliance/routing.py) --
@dataclass(frozen=True)
class Routed:
    """What the routing decisions of one alert need, read locked."""

    id: int
    kind: str
    state: str
    created_at: datetime
    officer_visible_at: datetime | None
    explanation: str | None


_ROUTED = "SELECT id, kind, state, created_at, officer_visible_at, explanation FROM alerts"


def routed_for_update(conn: psycopg.Connection, alert_id: int) -> Routed | None:
    with conn.cursor(row_factory=class_row(Routed)) as cur:
        return cur.execute(_ROUTED + " WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()


def operator_only(conn: psycopg.Connection, created_before: datetime, park_id: str | None) -> list[Routed]:
    """Alerts not yet before officers opened before ``created_before`` (of one park, or all), locked
    (a second sweep, or an explanation being posted, waits or skips them)."""
    with conn.cursor(row_factory=class_row(Routed)) as cur:
        return cur.execute(
            _ROUTED + " WHERE officer_visible_at IS NULL AND created_at < %s"
            " AND (%s::text IS NULL OR park_id = %s) ORDER BY id FOR UPDATE SKIP LOCKED",
            (created_before, park_id, park_id),
        ).fetchall()


def set_explanation(conn: psycopg.Connection, alert_id: int, explanation: str) -> None:
    conn.execute(
        "UPDATE alerts SET explanation = %s, updated_at = clock_timestamp() WHERE id = %s",
        (explanation, alert_id),
    )


def refer(conn: psycopg.Connection, alert_id: int) -> bool:
    """Put an alert before officers (once); False when it already was."""
    row = conn.execute(
        "UPDATE alerts SET officer_visible_at = clock_timestamp(), updated_at = clock_timestamp()"
        " WHERE id = %s AND officer_visible_at IS NULL RETURNING id",
        (alert_id,),
    ).fetchone()
    return row is not None
