"""What the API (and the command line) may do with alerts and maintenance windows. Each function runs
in the caller's transaction; officer actions lock the alert row, validate the transition with the pure
``alerts.officer_action`` and append the audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from compliance import alerts, repo
from compliance.alerts import InvalidTransition
from compliance.models import AlertView

__all__ = ["InvalidTransition", "act", "audit", "create_maintenance", "get_alert", "list_alerts"]


def list_alerts(
    conn: psycopg.Connection,
    park: str | None = None,
    plant: str | None = None,
    states: Sequence[str] | None = None,
    limit: int = 500,
) -> list[AlertView]:
    return repo.list_alerts(conn, park, plant, list(states) if states else None, limit)


def get_alert(conn: psycopg.Connection, alert_id: int) -> AlertView | None:
    return repo.get_alert(conn, alert_id)


def act(
    conn: psycopg.Connection, alert_id: int, action: str, actor: str, note: str | None = None
) -> AlertView:
    """``action`` is acknowledge | resolve | annotate. Raises LookupError for an unknown alert and
    InvalidTransition for a state change that is not allowed (e.g. acknowledging a resolved alert)."""
    state = repo.alert_state_for_update(conn, alert_id)
    if state is None:
        raise LookupError(f"no alert {alert_id}")
    entry = alerts.officer_action(state, action, actor, note)
    repo.officer_update(conn, alert_id, entry)
    if action == "resolve":
        repo.enqueue_notification(conn, alert_id, "resolved")
    repo.announce(conn, alert_id)
    view = repo.get_alert(conn, alert_id)
    assert view is not None
    return view


def audit(conn: psycopg.Connection, alert_id: int) -> list[repo.AuditRow]:
    return repo.audit_of(conn, alert_id)


def create_maintenance(
    conn: psycopg.Connection,
    park: str,
    plant: str,
    point: str | None,
    start: datetime,
    end: datetime,
    reason: str,
    actor: str,
) -> int:
    """Declare a maintenance window: the point (or the whole plant) raises no alerts for data timed
    inside it. Raises ValueError for an empty window, LookupError for an unknown plant."""
    if end <= start:
        raise ValueError("a maintenance window must end after it starts")
    if not reason.strip() or not actor.strip():
        raise ValueError("reason and actor are required")
    return repo.create_maintenance(conn, park, plant, point, start, end, reason, actor)
