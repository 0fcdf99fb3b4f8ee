"""What the API (and the command line) may do with alerts and maintenance windows. Each function runs
in the caller's transaction; officer actions lock the alert row, validate the transition with the pure
``alerts.officer_action`` (explanations of abnormal data: ``routing.explain`` / ``routing.decide``) and
append the audit entry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from compliance import alerts, changes, repo, routing, rules
from compliance.alerts import InvalidTransition
from compliance.models import AlertView
from compliance.repo.reads import MaintenanceWindow, maintenance_by_id

__all__ = [
    "InvalidTransition",
    "MaintenanceRefused",
    "act",
    "audit",
    "create_maintenance",
    "decide_explanation",
    "decide_maintenance",
    "explain",
    "get_alert",
    "list_alerts",
    "maintenance_window",
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


class MaintenanceRefused(ValueError):
    """A window outside the bounds (compliance.rules.maintenance_refusal), refused by us or by the
    database's trigger."""


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
    """Declare a maintenance window: the point (or the whole plant) raises no non-critical alerts for
    data timed inside it. A window longer than the approval threshold is stored pending and silences
    nothing until an officer approves it. Returns the window as stored, read back in this transaction
    (what the caller answers with is what was committed). Raises MaintenanceRefused outside the bounds,
    ValueError for a missing reason, LookupError for an unknown plant."""
    if not reason.strip() or not actor.strip():
        raise ValueError("reason and actor are required")
    now, bounds = repo.maintenance_policy(conn)
    refusal = rules.maintenance_refusal(start, end, now, bounds)
    if refusal is not None:
        raise MaintenanceRefused(refusal)
    status = "pending" if rules.needs_approval(start, end, bounds) else "approved"
    try:
        with conn.transaction():  # a savepoint: the trigger's refusal leaves the caller's transaction usable
            new = repo.create_maintenance(conn, park, plant, point, (start, end), reason, actor, status)
    except psycopg.errors.CheckViolation as exc:
        raise MaintenanceRefused(exc.diag.message_primary or str(exc)) from None
    return _window(conn, new)


def decide_maintenance(
    conn: psycopg.Connection, window_id: int, approve: bool, actor: str, note: str | None = None
) -> MaintenanceWindow:
    """An officer approves or rejects a pending window. Raises LookupError for an unknown window,
    InvalidTransition for one already decided, MaintenanceRefused when the database refuses it (the
    window is longer than the bounds allow now)."""
    status = repo.maintenance_status_for_update(conn, window_id)
    if status is None:
        raise LookupError(f"no maintenance window {window_id}")
    if status != "pending":
        raise InvalidTransition(f"maintenance window {window_id} is {status}, not pending")
    try:
        with conn.transaction():
            repo.decide_maintenance(conn, window_id, "approved" if approve else "rejected", actor, note)
    except psycopg.errors.CheckViolation as exc:
        raise MaintenanceRefused(exc.diag.message_primary or str(exc)) from None
    return _window(conn, window_id)


def maintenance_window(conn: psycopg.Connection, window_id: int) -> MaintenanceWindow | None:
    return maintenance_by_id(window_id).first(conn)


def _window(conn: psycopg.Connection, window_id: int) -> MaintenanceWindow:
    found = maintenance_window(conn, window_id)
    assert found is not None, "written in this transaction"
    return found
