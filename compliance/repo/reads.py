"""The named reads of compliance's tables that other packages (the API) run, as ``Query`` objects (see
ingest/core/query.py): alerts and their audit log, resolved limits, maintenance windows, judged days,
and the figures /healthz and /metrics show. Each table's one writer is the module of its subject
(``alerts.py``, ``registry.py``, ``windows.py``, ``inbox.py``); keeping the reads offered to others here
keeps those modules small. Reads that list alerts or windows take the caller's scope (park, plant;
None = all), so an object outside it is simply not found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from compliance.models import ACTIVE_STATES, AlertView
from compliance.repo.alerts import AuditRow  # the row compliance's own audit_of returns
from ingest.core.query import Query


# --- alerts -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertRecord(AlertView):
    """An alert as compliance shows it, with when it last changed and the ids its evidence is found by."""

    updated_at: datetime
    point_id: int
    parameter_id: int  # 0: the whole point (offline)


@dataclass(frozen=True)
class AlertFilter:
    park: str | None = None
    plant: str | None = None
    point: str | None = None
    parameter_id: int | None = None
    kinds: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    states: Sequence[str] | None = None
    start: datetime | None = None  # still active at or after
    end: datetime | None = None  # opened before
    before_id: int | None = None
    ids: Sequence[int] | None = None
    explanations: Sequence[str] | None = None  # pending | accepted | rejected
    # An officer's view: only alerts compliance put before officers (``officer_visible_at``,
    # compliance/routing.py) - plus, with ``reviewing``, those whose operator explained them, which
    # the officer decides on (the review queue, and the detail of one of its alerts).
    officer: bool = False
    reviewing: bool = False


def alert_records(
    f: AlertFilter, scope_park: str | None, scope_plant: str | None, limit: int
) -> Query[AlertRecord]:
    """Alerts matching the filter in the scope, newest first."""
    return Query(
        "SELECT a.id, a.park_id AS park, a.plant_id AS plant, pt.code AS point,"
        " coalesce(pa.code, '') AS parameter, a.kind, a.severity, a.state, a.basis, a.opened_at,"
        " a.first_time, a.last_time, a.created_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at,"
        ' a.resolved_by, a.peak, a.last_value AS value, a.limit_upper AS "limit", a.limit_lower,'
        " a.limit_source, a.unit, a.count, a.escalation, a.muted, a.detail, a.during_maintenance,"
        " a.officer_visible_at, a.explanation, a.updated_at, a.point_id, a.parameter_id"
        " FROM alerts a JOIN points pt ON pt.id = a.point_id"
        " LEFT JOIN parameters pa ON pa.id = a.parameter_id"
        " WHERE (%(sp)s::text IS NULL OR a.park_id = %(sp)s)"
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
        " AND (%(expl)s::text[] IS NULL OR a.explanation = ANY(%(expl)s))"
        " AND (NOT %(officer)s OR a.officer_visible_at IS NOT NULL"
        "  OR (%(reviewing)s AND a.explanation IS NOT NULL))"
        " ORDER BY a.id DESC LIMIT %(n)s",
        {
            "sp": scope_park,
            "sl": scope_plant,
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
            "expl": list(f.explanations) if f.explanations else None,
            "officer": f.officer,
            "reviewing": f.reviewing,
            "n": limit,
        },
        AlertRecord,
    )


def audit_trail(alert_id: int) -> Query[AuditRow]:
    """Every change of one alert, oldest first."""
    return Query(
        "SELECT at, actor, action, from_state, to_state, note FROM alert_audit WHERE alert_id = %s"
        " ORDER BY id",
        (alert_id,),
        AuditRow,
    )


@dataclass(frozen=True)
class AuditLogRow:
    """One change of an alert as its audit log holds it, with the change's detail."""

    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    note: str | None
    detail: dict[str, Any]


def audit_log(alert_id: int) -> Query[AuditLogRow]:
    """Every change of one alert with its detail, oldest first (an evidence bundle's trail)."""
    return Query(
        "SELECT id, at, actor, action, from_state, to_state, note, detail FROM alert_audit"
        " WHERE alert_id = %s ORDER BY id",
        (alert_id,),
        AuditLogRow,
    )


@dataclass(frozen=True)
class SeverityCount:
    plant: str
    point_id: int
    severity: str
    count: int


def active_alert_counts(
    park: str, plant: str | None, officer: bool = False, states: Sequence[str] = ACTIVE_STATES
) -> Query[SeverityCount]:
    """Alerts in ``states`` (default: active, the domain's ``ACTIVE_STATES``; ``INCIDENT_STATES`` for
    everything still needing an officer), counted per plant, point and severity; for an officer, only
    those before officers (as ``AlertFilter.officer``)."""
    return Query(
        "SELECT plant_id AS plant, point_id, severity, count(*) FROM alerts WHERE state = ANY(%(states)s)"
        " AND park_id = %(park)s AND (%(plant)s::text IS NULL OR plant_id = %(plant)s)"
        " AND (NOT %(officer)s OR officer_visible_at IS NOT NULL)"
        " GROUP BY plant_id, point_id, severity",
        {"park": park, "plant": plant, "states": list(states), "officer": officer},
        SeverityCount,
    )


# --- limits and maintenance windows -----------------------------------------------------------------
@dataclass(frozen=True)
class LimitPeriod:
    """A limit in force over a period, as compliance resolved it from standards and permits."""

    point_id: int
    parameter_id: int
    valid_from: datetime | None
    valid_to: datetime | None
    upper: float | None
    lower: float | None
    source: str
    not_detected: bool


def limit_periods(point_ids: Sequence[int], start: datetime, end: datetime) -> Query[LimitPeriod]:
    """Limit periods at these points overlapping [start, end)."""
    return Query(
        "SELECT point_id, parameter_id, lower(valid) AS valid_from, upper(valid) AS valid_to, upper, lower,"
        " source, not_detected FROM compliance_limits WHERE point_id = ANY(%s) AND valid && tstzrange(%s, %s)"
        " ORDER BY point_id, parameter_id, lower(valid) NULLS FIRST",
        (list(point_ids), start, end),
        LimitPeriod,
    )


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    park: str
    plant: str
    point: str | None  # None: the whole plant
    start: datetime
    end: datetime | None
    reason: str
    created_by: str
    source: str
    created_at: datetime
    status: str  # pending (silences nothing until approved) | approved | rejected
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None


_MAINTENANCE = (
    "SELECT m.id, m.park_id AS park, m.plant_id AS plant, p.code AS point, lower(m.during) AS start,"
    ' upper(m.during) AS "end", m.reason, m.created_by, m.source, m.created_at, m.status, m.decided_by,'
    " m.decided_at, m.decision_note"
    " FROM maintenance_windows m LEFT JOIN points p ON p.id = m.point_id"
)


def maintenance_in_scope(
    park: str | None, plant: str | None, active_at: datetime | None, limit: int
) -> Query[MaintenanceWindow]:
    """Windows in a scope (None = all), optionally only those covering an instant, newest first."""
    return Query(
        _MAINTENANCE + " WHERE (%(sp)s::text IS NULL OR m.park_id = %(sp)s)"
        " AND (%(sl)s::text IS NULL OR m.plant_id = %(sl)s) AND"
        " (%(at)s::timestamptz IS NULL OR m.during @> %(at)s::timestamptz) ORDER BY m.id DESC LIMIT %(n)s",
        {"sp": park, "sl": plant, "at": active_at, "n": limit},
        MaintenanceWindow,
    )


def maintenance_by_id(window_id: int) -> Query[MaintenanceWindow]:
    return Query(_MAINTENANCE + " WHERE m.id = %(id)s", {"id": window_id}, MaintenanceWindow)


# --- judged days -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayJudgement:
    """What compliance decided about one (point, parameter) on one park-local day."""

    point_id: int
    parameter_id: int
    exceeded: bool  # a breach alert over the day, or a stored hour/day window judged exceeded
    exceedances: int  # values compliance counted in its instant-breach alerts over the day
    day_verdict: str | None  # the stored day window's verdict, once compliance closed the day


def day_judgements(
    park: str,
    plant: str | None,
    start: datetime,
    end: datetime,
    breach_kinds: Sequence[str],
    breach_severities: Sequence[str],
    instant_kind: str,
) -> Query[DayJudgement]:
    """Compliance's alerts whose evidence lies in [start, end) (but those a data mark withdrew: their data
    is not judged), and its stored windows starting in it."""
    return Query(
        "WITH pts AS (SELECT id FROM points WHERE park_id = %(park)s"
        "  AND (%(plant)s::text IS NULL OR plant_id = %(plant)s)),"
        " al AS (SELECT point_id, parameter_id, sum(count) FILTER (WHERE kind = %(instant)s) AS n"
        "  FROM alerts WHERE point_id IN (SELECT id FROM pts) AND kind = ANY(%(kinds)s)"
        "  AND severity = ANY(%(sevs)s) AND first_time < %(d1)s AND last_time >= %(d0)s"
        "  AND NOT EXISTS (SELECT 1 FROM data_mark_alerts wd WHERE wd.alert_id = alerts.id"
        "   AND wd.reinstated_at IS NULL) GROUP BY 1, 2),"
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
        DayJudgement,
    )


# --- /healthz and /metrics -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobSuccess:
    name: str
    age_s: float | None  # since the job last succeeded; None: never


def job_success_ages() -> Query[JobSuccess]:
    return Query(
        "SELECT name, extract(epoch FROM now() - last_ok_at)::float8 AS age_s FROM compliance_job_runs",
        (),
        JobSuccess,
    )


@dataclass(frozen=True)
class JobRunTimes:
    """Times as exact Unix seconds (numeric): a float shown in Prometheus text would be rounded."""

    name: str
    started_s: Decimal | None  # the last start
    finished_s: Decimal | None  # the last finish; None while running
    ok: bool | None  # the last run's outcome
    last_ok_s: Decimal | None  # the last success


def job_run_times() -> Query[JobRunTimes]:
    return Query(
        "SELECT name, extract(epoch FROM started_at) AS started_s,"
        " extract(epoch FROM finished_at) AS finished_s, ok,"
        " extract(epoch FROM last_ok_at) AS last_ok_s FROM compliance_job_runs ORDER BY name",
        (),
        JobRunTimes,
    )


@dataclass(frozen=True)
class Backlog:
    queued: int  # readings waiting for the real-time rules
    oldest_s: float  # how long the oldest has waited; 0 when none
    set_aside: int  # rows the rules could not judge, kept with their reason


def backlog() -> Query[Backlog]:
    return Query(
        "SELECT count(*) AS queued,"
        " coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8 AS oldest_s,"
        " (SELECT count(*) FROM compliance_set_aside) AS set_aside FROM compliance_inbox",
        (),
        Backlog,
    )


@dataclass(frozen=True)
class StateCount:
    severity: str
    state: str
    count: int


def active_alert_totals() -> Query[StateCount]:
    """Active alerts of every park, counted per severity and state."""
    return Query(
        "SELECT severity, state, count(*) FROM alerts WHERE state = ANY(%s) GROUP BY 1, 2",
        (list(ACTIVE_STATES),),
        StateCount,
    )


@dataclass(frozen=True)
class Pending:
    deliveries: int


def pending_deliveries() -> Query[Pending]:
    """Notification deliveries not yet delivered."""
    return Query(
        "SELECT count(*) AS deliveries FROM notify_deliveries"
        " WHERE delivered_at IS NULL AND superseded_at IS NULL",
        (),
        Pending,
    )
