"""Applies the pure rules to loaded data and writes the outcome: the real-time inbox consumer and the
one place alert changes are written (alert row, audit log, outbox, NOTIFY) for every rule.

The caller owns the transaction. Every function here runs inside it, so an alert change, its audit
entry and its notification commit together or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg

from compliance import alerts, repo, rules, windows
from compliance.models import (
    CONCENTRATION_KINDS,
    EXCEEDANCE,
    IMPLAUSIBLE,
    INHIBITING_KINDS,
    INSTRUMENT_FAULT,
    INTEGRITY,
    OFFLINE,
    OVER_RANGE,
    WHOLE_POINT,
    AlertChange,
    AlertState,
    AuditEntry,
    Limit,
    Severity,
)
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_ID

log = logging.getLogger(__name__)
ENGINE = "compliance"
_EPS = timedelta(microseconds=1)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


def policy(settings: RuleSettings) -> rules.Policy:
    return rules.Policy(settings.warn_fraction, settings.clear_fraction, settings.clear_hold_s)


def write_change(
    conn: psycopg.Connection, meta: repo.AlertMeta, kind: str, change: AlertChange
) -> int | None:
    """Persist one alert change with its audit entries, outbox rows and NOTIFY."""
    a = change.alert
    if change.action == "none" or a is None:
        return None
    if a.id == 0:  # new (possibly opened and resolved within one batch)
        resolved_at = change.resolved_at if change.action == "resolve" else None
        alert_id, inserted = repo.insert_alert(conn, meta, replace(a, kind=kind), resolved_at)
        if inserted:
            detail: dict[str, object] = {
                "value": a.peak,
                "limit": meta.limit_upper,
                "source": meta.limit_source,
            }
            repo.append_audit(conn, alert_id, AuditEntry("open", ENGINE, None, "open", None, detail))
        events = change.events if inserted else tuple(e for e in change.events if e != "opened")
        if resolved_at is not None:
            repo.append_audit(conn, alert_id, _ended(a.state, "open", change.note))
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
                repo.append_audit(
                    conn, alert_id, AuditEntry("escalate", ENGINE, a.state, a.state, f"severity {a.severity}")
                )
    if kind in INHIBITING_KINDS and change.action in ("open", "resolve"):
        repo.sync_inhibition(conn, meta.point_id, sorted(INHIBITING_KINDS), sorted(CONCENTRATION_KINDS))
    for event in events:
        repo.enqueue_notification(conn, alert_id, event)
    if events:
        repo.announce(conn, alert_id)
    return alert_id


def _ended(state: str, before: str, note: str | None) -> AuditEntry:
    """The audit entry of a condition that cleared by the data (``cleared``: still with the officer)."""
    return AuditEntry("clear" if state == "cleared" else "resolve", ENGINE, before, state, note)


def _meta(
    pt: repo.PointRow, parameter_id: int, basis: str, limit: Limit | None, muted: str | None
) -> repo.AlertMeta:
    unit = BY_ID[parameter_id].unit if parameter_id else None
    return repo.AlertMeta(
        pt.park_id,
        pt.plant_id,
        pt.id,
        parameter_id,
        basis,
        unit,
        limit.upper if limit else None,
        limit.lower if limit else None,
        limit.source if limit else None,
        muted,
    )


def _silenced(t: datetime, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(lo <= t < hi for lo, hi in spans)


def process_inbox(conn: psycopg.Connection, rows: Sequence[repo.InboxRow], settings: RuleSettings) -> None:
    """The real-time rules over one chunk of inbox rows (taken in this transaction)."""
    if not rows:
        return
    point_ids = sorted({r.point_id for r in rows})
    pts = repo.points(conn, point_ids)
    maint = repo.maintenance_windows(conn, point_ids, min(r.time for r in rows), max(r.time for r in rows))
    active = repo.active_alerts(conn, point_ids)
    inhibited = {pid for (kind, pid, _q) in active if kind in INHIBITING_KINDS}
    by_key: dict[tuple[int, int], list[repo.InboxRow]] = defaultdict(list)
    late: set[tuple[int, int, datetime]] = set()
    for r in rows:
        if r.point_id not in pts:
            continue  # point deactivated since
        if r.conflict:
            _integrity(conn, pts[r.point_id], r, active)
        elif r.late:
            late.add((r.point_id, r.parameter_id, r.time))
        elif not _silenced(r.time, maint.get(r.point_id, ())):
            by_key[(r.point_id, r.parameter_id)].append(r)
    for (pid, qid), key_rows in by_key.items():
        _evaluate_key(conn, pts[pid], qid, key_rows, active, pid in inhibited, settings)
    for pid in {pid for pid, _q in by_key}:
        offline = active.get((OFFLINE, pid, WHOLE_POINT))
        if offline is not None:  # data returned: offline clears at once, never stuck
            latest = max(r.time for (p, _q), rs in by_key.items() if p == pid for r in rs)
            change = alerts.step_condition(
                offline, OFFLINE, False, latest, None, "violation", "data returned"
            )
            write_change(conn, _meta(pts[pid], WHOLE_POINT, "status", None, None), OFFLINE, change)
    if late:
        windows.rejudge_late(conn, pts, late, settings)


def _integrity(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    r: repo.InboxRow,
    active: dict[tuple[str, int, int], AlertState],
) -> None:
    """A second, different value for a stored reading: the stored one stands (ingest kept both in the
    dead letters); the officer sees an integrity alert that only an officer closes."""
    current = active.get((INTEGRITY, pt.id, r.parameter_id))
    change = alerts.step_condition(current, INTEGRITY, True, r.time, r.value, "violation")
    detail: dict[str, object] = {"time": r.time.isoformat(), "stored": r.stored_value, "received": r.value}
    meta = replace(_meta(pt, r.parameter_id, "status", None, None), detail=detail)
    alert_id = write_change(conn, meta, INTEGRITY, change)
    if change.alert is not None and alert_id is not None:
        active[(INTEGRITY, pt.id, r.parameter_id)] = replace(change.alert, id=alert_id)


def _evaluate_key(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    rows: list[repo.InboxRow],
    active: dict[tuple[str, int, int], AlertState],
    inhibited: bool,
    settings: RuleSettings,
) -> None:
    code = BY_ID[qid].code
    valid = [r for r in rows if r.flag in ("N", "S") and r.value is not None]
    plausible = [r for r in valid if rules.is_plausible(code, r.value or 0.0)]
    _exceedance(conn, pt, qid, plausible, active, inhibited, settings)
    suspect = [r for r in valid if r not in plausible]
    last_plausible = max((r.time for r in plausible), default=None)
    last_valid = max((r.time for r in valid), default=None)
    _condition(conn, pt, qid, IMPLAUSIBLE, suspect, last_plausible, active, "warning", "plausible value")
    status = [r for r in rows if r.flag is not None and r.flag in rules.status_flags(code)]
    if status:
        latest = max(status, key=lambda r: r.time)
        start = repo.fault_run_start(conn, pt.id, qid, latest.time) or latest.time
        held = rules.fault_held(start, latest.time, settings.fault_hold_s)
        _condition(conn, pt, qid, INSTRUMENT_FAULT, [latest] if held else [], None, active, "violation", "")
    _condition(conn, pt, qid, INSTRUMENT_FAULT, [], last_valid, active, "violation", "valid data returned")
    over = [r for r in rows if r.flag == "T" and code in rules.HEAVY_METALS]
    sev: Severity = "violation"
    if over and over[-1].upper is not None and over[-1].value is not None:
        limit = Limit(over[-1].upper, over[-1].lower, "")
        found = rules.severity(code, max(r.value or 0.0 for r in over), limit, policy(settings))
        sev = "critical" if found == "critical" else "violation"
    _condition(conn, pt, qid, OVER_RANGE, over, last_valid, active, sev, "valid data returned")


def _exceedance(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    rows: list[repo.InboxRow],
    active: dict[tuple[str, int, int], AlertState],
    inhibited: bool,
    settings: RuleSettings,
) -> None:
    by_limit: dict[tuple[float | None, float | None, bool, str | None], list[repo.InboxRow]] = defaultdict(
        list
    )
    for r in rows:
        if r.upper is not None or r.lower is not None:
            by_limit[(r.upper, r.lower, r.not_detected, r.limit_source)].append(r)
    for (upper, lower, nd, source), group in by_limit.items():
        limit = Limit(upper, lower, BY_ID[qid].unit, source, None, True, nd)
        samples = [(r.time, r.value or 0.0) for r in group]
        muted = "inhibited" if inhibited else None
        _fold(conn, pt, qid, samples, limit, active, muted, settings)
        if (EXCEEDANCE, pt.id, qid) in active:
            # Readings under the warning level committed in the same batch as the breach (or while the
            # alert was being opened) never reached the inbox: read them so the clear level and hold
            # time are judged on every value. Re-reading a value is harmless: clearing is idempotent.
            code, pol = BY_ID[qid].code, policy(settings)
            quiet = [
                (t, v)
                for t, v, f in repo.series(conn, pt.id, qid, max(t for t, _v in samples) + _EPS, _FAR)
                if rules.is_valid(f)
                and rules.is_plausible(code, v)
                and rules.severity(code, v, limit, pol) is None
            ]
            if quiet:
                _fold(conn, pt, qid, quiet, limit, active, muted, settings)


def _fold(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    samples: list[tuple[datetime, float]],
    limit: Limit,
    active: dict[tuple[str, int, int], AlertState],
    muted: str | None,
    settings: RuleSettings,
) -> None:
    current = active.get((EXCEEDANCE, pt.id, qid))
    for change in alerts.fold_values(current, EXCEEDANCE, BY_ID[qid].code, samples, limit, policy(settings)):
        alert_id = write_change(conn, _meta(pt, qid, "instant", limit, muted), EXCEEDANCE, change)
        if change.action == "resolve":
            active.pop((EXCEEDANCE, pt.id, qid), None)
        elif change.alert is not None and alert_id is not None:
            active[(EXCEEDANCE, pt.id, qid)] = replace(change.alert, id=alert_id)


def _condition(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    kind: str,
    hits: Sequence[repo.InboxRow],
    cleared_at: datetime | None,
    active: dict[tuple[str, int, int], AlertState],
    sev: Severity,
    note: str,
) -> None:
    """Open/grow on hits; resolve when there are no hits and the condition was seen gone at
    ``cleared_at``."""
    current = active.get((kind, pt.id, qid))
    if hits:
        for r in sorted(hits, key=lambda r: r.time):
            change = alerts.step_condition(current, kind, True, r.time, r.value, sev)
            alert_id = write_change(conn, _meta(pt, qid, "status", None, None), kind, change)
            if change.alert is not None and alert_id is not None:
                current = replace(change.alert, id=alert_id)
        if current is not None:
            active[(kind, pt.id, qid)] = current
            # same race as for exceedances: a clearing reading may have come in the breach's batch
            cleared_at = _first_clearing(conn, pt.id, qid, kind, max(r.time for r in hits))
    if cleared_at is not None and current is not None:
        change = alerts.step_condition(
            current, kind, False, max(cleared_at, current.last_time), None, sev, note
        )
        write_change(conn, _meta(pt, qid, "status", None, None), kind, change)
        active.pop((kind, pt.id, qid), None)


__all__ = ["CONCENTRATION_KINDS", "process_inbox", "write_change"]


def _first_clearing(
    conn: psycopg.Connection, pid: int, qid: int, kind: str, after: datetime
) -> datetime | None:
    """The first reading after ``after`` that ends a status condition (valid; plausible for
    implausible), or None. Instrument-fault runs end on a valid value too."""
    code = BY_ID[qid].code
    for t, v, f in repo.series(conn, pid, qid, after + _EPS, _FAR):
        if rules.is_valid(f) and (kind != IMPLAUSIBLE or rules.is_plausible(code, v)):
            return t
    return None
