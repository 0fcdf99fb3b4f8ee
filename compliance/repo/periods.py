"""Named reads for the period reports (api/reports.py; see ingest/core/query.py): the alerts of a period
with their outcome, and the park-level figures compliance stored for each closed day. The tables' writers
are ``alerts.py`` (alerts, alert_audit) and ``windows.py`` (compliance_reports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ingest.core.query import Query


@dataclass(frozen=True)
class Incident:
    """An alert active in a period, with how it ended (so far)."""

    id: int
    plant: str
    point: str
    parameter: str  # "" for whole-point alerts (offline)
    kind: str
    severity: str
    state: str  # open | acknowledged | resolved
    opened_at: datetime
    first_time: datetime
    last_time: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    peak: float | None
    limit: float | None
    unit: str | None
    count: int
    note: str | None  # the note of its latest change that carried one (resolution, explanation)
    withdrawn_by_mark: bool  # a data mark in effect withdrew it: its data is not judged


def incidents(park: str, plant: str | None, start: datetime, end: datetime, limit: int) -> Query[Incident]:
    """Alerts of a park (or one plant) active at some time in [start, end): opened before its end and
    with evidence at or after its start, oldest first."""
    return Query(
        "SELECT a.id, a.plant_id AS plant, pt.code AS point, coalesce(pa.code, '') AS parameter, a.kind,"
        " a.severity, a.state, a.opened_at, a.first_time, a.last_time, a.acknowledged_at,"
        ' a.acknowledged_by, a.resolved_at, a.resolved_by, a.peak, a.limit_upper AS "limit", a.unit,'
        " a.count, (SELECT au.note FROM alert_audit au WHERE au.alert_id = a.id AND au.note IS NOT NULL"
        "  ORDER BY au.id DESC LIMIT 1) AS note,"
        " EXISTS (SELECT 1 FROM data_mark_alerts wd WHERE wd.alert_id = a.id AND wd.reinstated_at IS NULL)"
        "  AS withdrawn_by_mark"
        " FROM alerts a JOIN points pt ON pt.id = a.point_id"
        " LEFT JOIN parameters pa ON pa.id = a.parameter_id"
        " WHERE a.park_id = %(park)s AND (%(plant)s::text IS NULL OR a.plant_id = %(plant)s)"
        " AND a.opened_at < %(end)s"
        " AND greatest(a.last_time, coalesce(a.resolved_at, 'infinity')) >= %(start)s"
        " ORDER BY a.opened_at, a.id LIMIT %(n)s",
        {"park": park, "plant": plant, "start": start, "end": end, "n": limit},
        Incident,
    )


@dataclass(frozen=True)
class Closing:
    """Who closed an alert, when, and with which note (its latest change to resolved)."""

    alert_id: int
    at: datetime
    actor: str
    action: str  # resolve (an officer, or the operator of a status alert) | withdraw (a data mark)
    note: str | None


def closings(alert_ids: Sequence[int]) -> Query[Closing]:
    """The latest change to resolved of each of the alerts (none for an alert never closed)."""
    return Query(
        "SELECT DISTINCT ON (alert_id) alert_id, at, actor, action, note FROM alert_audit"
        " WHERE alert_id = ANY(%(ids)s) AND to_state = 'resolved' ORDER BY alert_id, id DESC",
        {"ids": list(alert_ids)},
        Closing,
    )


@dataclass(frozen=True)
class DayReport:
    day: date  # park-local
    body: dict[str, Any]  # reuse_ratio, reuse_target, mass_balance_gap where compliance judged them


def stored_reports(park: str, first: date, last: date) -> Query[DayReport]:
    """What compliance stored when it closed each of a park's days in [first, last]."""
    return Query(
        "SELECT day, body FROM compliance_reports WHERE park_id = %s AND day BETWEEN %s AND %s ORDER BY day",
        (park, first, last),
        DayReport,
    )
