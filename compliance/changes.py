"""The one place alert changes are written, for every rule (real-time engine, closed windows, data-time
history, scheduled jobs): the alert row, its audit entries, the notification outbox, the NOTIFY, and
the inhibition of concentration alerts while an offline or instrument-fault alert is open.

The caller owns the transaction, so an alert change, its audit entry and its notification commit
together or not at all. Who sees a new alert first is compliance/routing.py's decision, recorded here
as the alert is inserted.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import psycopg

from compliance import repo, routing
from compliance.models import CONCENTRATION_KINDS, INHIBITING_KINDS, AlertChange, AuditEntry
from ingest.hj212 import repo as hj212_repo

ENGINE = "compliance"  # the actor of every change compliance makes by itself
# A sample is worth keeping only close to the breach: a logger offline for longer gets none.
SAMPLE_TTL_S = 600.0


def write_change(
    conn: psycopg.Connection, meta: repo.AlertMeta, kind: str, change: AlertChange
) -> int | None:
    """Persist one alert change with its audit entries, outbox rows and NOTIFY; returns the alert id
    (None when nothing was written)."""
    a = change.alert
    if change.action == "none" or a is None:
        return None
    if a.id == 0:  # new (possibly opened and resolved within one batch)
        alert_id, events = _insert(conn, meta, kind, change)
    else:
        alert_id, events = a.id, change.events
        if change.action == "resolve":
            before = repo.resolve_alert(conn, a, change.resolved_at or a.last_time, ENGINE)
            if before is None:
                return None
            repo.append_audit(conn, alert_id, _ended(a.state, before, change.note))
        else:
            repo.update_alert(conn, a)
            if "escalated" in events:
                entry = AuditEntry("escalate", ENGINE, a.state, a.state, f"severity {a.severity}")
                repo.append_audit(conn, alert_id, entry)
    if _violation_opened(kind, change):
        _retain_sample(conn, meta, alert_id)
    if kind in INHIBITING_KINDS and change.action in ("open", "resolve"):
        repo.sync_inhibition(conn, meta.point_id, sorted(INHIBITING_KINDS), sorted(CONCENTRATION_KINDS))
    for event in events:
        repo.enqueue_notification(conn, alert_id, event)
    if events:
        repo.announce(conn, alert_id)
    return alert_id


def _violation_opened(kind: str, change: AlertChange) -> bool:
    """A concentration alert that opens as a violation, or is escalated to one from a warning."""
    a = change.alert
    if kind not in CONCENTRATION_KINDS or a is None or a.severity == "warning":
        return False
    return "opened" in change.events or "escalated" in change.events


def _retain_sample(conn: psycopg.Connection, meta: repo.AlertMeta, alert_id: int) -> None:
    """Tell the point's sampler to keep a bottle (HJ 212 CN 3015) as evidence, in the transaction of
    the alert: the gateway delivers it while the logger is connected. Once per alert."""
    if hj212_repo.samples_for_alerts([alert_id]).fetch(conn):
        return
    ttl = timedelta(seconds=SAMPLE_TTL_S)
    hj212_repo.enqueue_sample(conn, meta.point_id, meta.parameter_id, alert_id, ttl)


def _insert(
    conn: psycopg.Connection, meta: repo.AlertMeta, kind: str, change: AlertChange
) -> tuple[int, tuple[str, ...]]:
    """A new alert, or a merge into the one another writer opened first (then not "opened" again)."""
    a = change.alert
    assert a is not None
    resolved_at = change.resolved_at if change.action == "resolve" else None
    visible = routing.officer_visible_on_open(kind)
    alert_id, inserted = repo.insert_alert(conn, meta, replace(a, kind=kind), resolved_at, visible)
    if inserted:
        detail: dict[str, object] = {"value": a.peak, "limit": meta.limit_upper, "source": meta.limit_source}
        note = None if visible else routing.OPERATOR_FIRST
        repo.append_audit(conn, alert_id, AuditEntry("open", ENGINE, None, "open", note, detail))
    events = change.events if inserted else tuple(e for e in change.events if e != "opened")
    if resolved_at is not None:
        repo.append_audit(conn, alert_id, _ended(a.state, "open", change.note))
    return alert_id, events


def _ended(state: str, before: str, note: str | None) -> AuditEntry:
    """The audit entry of a condition that cleared by the data (``cleared``: still with the officer)."""
    return AuditEntry("clear" if state == "cleared" else "resolve", ENGINE, before, state, note)


def refer(conn: psycopg.Connection, alert_id: int, state: str, reason: str) -> bool:
    """Put an alert that was the plant's operator's only before officers (compliance/routing.py
    decided it): recorded on the alert, audited, notified to everyone; False when it already was."""
    if not repo.refer(conn, alert_id):
        return False
    repo.append_audit(conn, alert_id, AuditEntry("refer", ENGINE, state, state, reason))
    repo.enqueue_notification(conn, alert_id, "referred")
    repo.announce(conn, alert_id)
    return True
