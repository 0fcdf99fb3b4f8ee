"""What the API (and the command line) may do with alerts, data marks and maintenance windows (marks of
the code "maintenance"). Each function runs in the caller's transaction; officer actions lock the alert
row, validate the transition with the pure ``alerts.officer_action`` (explanations of abnormal data:
``routing.explain`` / ``routing.decide``) and append the audit entry. Mark changes hold the marks lock
and re-judge through compliance/marking.py; the marks' own functions are in compliance/markservice.py
and re-exported here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from compliance import alerts, changes, repo, routing
from compliance.alerts import InvalidTransition
from compliance.markservice import (
    EvidenceRefused,
    MarkLocked,
    MarkRefused,
    UnknownCode,
    add_evidence,
    create_mark,
    decide_mark,
    withdraw_mark,
)
from compliance.models import AlertView
from compliance.repo.reads import MaintenanceWindow, maintenance_by_id

__all__ = [
    "EvidenceRefused",
    "InvalidTransition",
    "MaintenanceRefused",
    "MarkLocked",
    "MarkRefused",
    "UnknownCode",
    "act",
    "add_evidence",
    "audit",
    "create_maintenance",
    "create_mark",
    "decide_explanation",
    "decide_maintenance",
    "decide_mark",
    "explain",
    "get_alert",
    "list_alerts",
    "maintenance_window",
    "withdraw_mark",
]


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


def explain(conn: psycopg.Connection, alert_id: int, actor: str, note: str) -> AlertView:
    """The plant's operator explains an abnormal-data alert (a note of kind explanation): it waits for
    an officer's decision, and meanwhile the alert is not referred for being unexplained. Raises
    LookupError, or InvalidTransition (not abnormal data; an explanation already pending or accepted)."""
    a = repo.routed_for_update(conn, alert_id)
    if a is None:
        raise LookupError(f"no alert {alert_id}")
    entry = routing.explain(a.kind, a.state, a.explanation, actor, note)
    repo.set_explanation(conn, alert_id, "pending")
    repo.append_audit(conn, alert_id, entry)
    repo.announce(conn, alert_id)
    return _view(conn, alert_id)


def decide_explanation(
    conn: psycopg.Connection, alert_id: int, accept: bool, actor: str, note: str | None = None
) -> AlertView:
    """An officer accepts or rejects the pending explanation. A rejected one puts the alert before
    officers at once (routing.REJECTED). Raises LookupError, or InvalidTransition (none pending)."""
    a = repo.routed_for_update(conn, alert_id)
    if a is None:
        raise LookupError(f"no alert {alert_id}")
    entry = routing.decide(a.state, a.explanation, accept, actor, note)
    repo.set_explanation(conn, alert_id, "accepted" if accept else "rejected")
    repo.append_audit(conn, alert_id, entry)
    if not accept:
        changes.refer(conn, alert_id, a.state, routing.REJECTED)
    repo.announce(conn, alert_id)
    return _view(conn, alert_id)


def _view(conn: psycopg.Connection, alert_id: int) -> AlertView:
    view = repo.get_alert(conn, alert_id)
    assert view is not None, "locked in this transaction"
    return view


def audit(conn: psycopg.Connection, alert_id: int) -> list[repo.AuditRow]:
    return repo.audit_of(conn, alert_id)


MaintenanceRefused = MarkRefused  # a window outside the bounds (compliance.rules.maintenance_refusal)


def create_maintenance(
    conn: psycopg.Connection,
    park: str,
    plant: str,
    point: str | None,
    start: datetime,
    end: datetime,
    reason: str,
    actor: str,
) -> MaintenanceWindow:
    """Declare a maintenance window, a data mark of the code "maintenance": the point (or the whole
    plant) raises no non-critical alerts for data timed inside it. A window longer than the approval
    threshold is stored pending and silences nothing until an officer approves it. Returns the window as
    stored, read back in this transaction. Raises MaintenanceRefused outside the bounds, ValueError for a
    missing reason, LookupError for an unknown plant."""
    made = create_mark(conn, park, plant, point, "maintenance", start, end, reason, actor)
    return _window(conn, made.id)


def decide_maintenance(
    conn: psycopg.Connection, window_id: int, approve: bool, actor: str, note: str | None = None
) -> MaintenanceWindow:
    """An officer approves or rejects a window (pending, or in effect and not reviewed yet). Raises
    LookupError for an unknown window, InvalidTransition for one already decided, MaintenanceRefused when
    the database refuses it (the window is longer than the bounds allow now)."""
    if maintenance_window(conn, window_id) is None:
        raise LookupError(f"no maintenance window {window_id}")
    decide_mark(conn, window_id, approve, actor, note)
    return _window(conn, window_id)


def maintenance_window(conn: psycopg.Connection, window_id: int) -> MaintenanceWindow | None:
    return maintenance_by_id(window_id).first(conn)


def _window(conn: psycopg.Connection, window_id: int) -> MaintenanceWindow:
    found = maintenance_window(conn, window_id)
    assert found is not None, "written in this transaction"
    return found
