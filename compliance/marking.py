"""What a mark's change does to judgement, in the caller's transaction (compliance/service.py calls it
with the marks lock held exclusively: repo.lock_marks).

- A mark takes effect (made, or accepted while pending): the alerts at its points whose data it makes
  invalid (``marks.covered``: the marks in effect cover the alert's whole evidence) are withdrawn, each
  with an audit entry naming the mark; the closed hours, days and months of its period are judged again
  in the same transaction (``days.rejudge_period``), so the legal record leaves the marked data out.
- A mark loses effect (rejected by an officer, or withdrawn by the plant): the alerts it withdrew come
  back (unless another mark in effect still covers them), its closed hours, days and months are judged
  again (``days.rejudge_period``), and its readings are queued for the real-time engine again, so
  breaches the mark kept from ever opening an alert are raised now.
- A mark that claims the plant stopped queues its period's flow and treatment-facility electricity for
  the data-time scan, which raises "marked stopped but still running" (compliance/stopped.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

from compliance import days, marks, repo
from compliance.changes import ENGINE
from compliance.models import CONCENTRATION_KINDS, INHIBITING_KINDS, AuditEntry
from compliance.repo import marks as mrepo
from compliance.settings import RuleSettings
from ingest.core import parameters

log = logging.getLogger(__name__)
LOOK_BACK = timedelta(days=1)  # a day-mean alert's evidence starts up to a day before its data ends


def took_effect(
    conn: psycopg.Connection, m: mrepo.MarkRow, now: datetime, settings: RuleSettings | None = None
) -> int:
    """Withdraw the alerts whose data the mark (with the other marks in effect) makes invalid; judge the
    period's closed windows again. Returns how many alerts were withdrawn."""
    pts = mrepo.covered_points(conn, m)
    if not pts:
        return 0
    spans = mrepo.mark_spans(conn, pts, m.start - LOOK_BACK, m.end)
    note = f"data marked {m.code} by {m.created_by} (mark {m.id}): not judged"
    withdrawn = 0
    for c in mrepo.withdraw_candidates(conn, pts, m.start, m.end, sorted(marks.WITHDRAWABLE)):
        a, b = marks.alert_span(c.kind, c.first_time, c.last_time)
        mine = spans.get(c.point_id, [])
        if not marks.withdrawable(c.kind, c.severity) or not marks.covered(a, b, mine):
            continue
        ids = sorted({s.id for s in mine if s.invalidates and s.start <= b and s.end > a})
        mrepo.withdraw_alert(conn, c.id, ids, c.state)
        entry = AuditEntry("withdraw", ENGINE, c.state, "resolved", note, {"marks": ids})
        repo.append_audit(conn, c.id, entry)
        repo.enqueue_notification(conn, c.id, "withdrawn")
        repo.announce(conn, c.id)
        if c.kind in INHIBITING_KINDS:
            repo.sync_inhibition(conn, c.point_id, sorted(INHIBITING_KINDS), sorted(CONCENTRATION_KINDS))
        withdrawn += 1
    if m.start < now:
        _rejudge(conn, pts, m.start, min(m.end, now), settings)
    log.info("mark %d (%s) took effect: %d alerts withdrawn", m.id, m.code, withdrawn)
    return withdrawn


def lost_effect(
    conn: psycopg.Connection,
    m: mrepo.MarkRow,
    why: str,
    actor: str,
    now: datetime,
    settings: RuleSettings | None = None,
) -> tuple[int, int]:
    """Reinstate the alerts the mark withdrew that no other mark in effect covers; judge its period's
    closed windows again and queue its readings for the engine. Returns (alerts reinstated, readings
    queued)."""
    pts = mrepo.covered_points(conn, m)
    if not pts:
        return 0, 0
    remaining = mrepo.mark_spans(conn, pts, m.start - LOOK_BACK, m.end)
    note = f"mark {m.id} ({m.code}) {why} by {actor}: its data is judged again"
    skip: list[mrepo.Skip] = []
    back = 0
    for w in mrepo.withdrawn_by(conn, m.id):
        a, b = marks.alert_span(w.kind, w.first_time, w.last_time)
        if marks.covered(a, b, remaining.get(w.point_id, [])):
            continue  # another mark in effect still explains it
        state = marks.reinstated_state(w.from_state, w.twin_active)
        mrepo.reinstate_alert(conn, w.id, state)
        repo.append_audit(
            conn, w.id, AuditEntry("reinstate", ENGINE, "resolved", state, note, {"mark": m.id})
        )
        repo.enqueue_notification(conn, w.id, "reinstated")
        repo.announce(conn, w.id)
        if w.kind in INHIBITING_KINDS and state in ("open", "acknowledged"):
            repo.sync_inhibition(conn, w.point_id, sorted(INHIBITING_KINDS), sorted(CONCENTRATION_KINDS))
        skip.append((w.point_id, w.parameter_id, w.first_time, w.last_time))
        back += 1
    queued = 0
    if m.start < now:
        end = min(m.end, now)
        queued = mrepo.requeue_readings(conn, pts, m.start, end, skip)
        _rejudge(conn, pts, m.start, end, settings)
    log.info(
        "mark %d (%s) %s: %d alerts reinstated, %d readings judged again", m.id, m.code, why, back, queued
    )
    return back, queued


def _rejudge(
    conn: psycopg.Connection, pts: list[int], start: datetime, end: datetime, settings: RuleSettings | None
) -> None:
    """The legal record's closed hours, days and months of the period, judged again with the marks as
    they are now. Without settings, the engine's own (OUTFALL_COMPLIANCE_*, as the API's app.state.rules):
    a re-judged window is judged as the engine judges it."""
    rule = settings if settings is not None else RuleSettings()
    for pid in pts:
        days.rejudge_period(conn, pid, start, end, rule)


def check_stopped(conn: psycopg.Connection, m: mrepo.MarkRow, now: datetime) -> None:
    """A mark claiming the plant stopped, made (partly) afterwards: queue its period's activity series
    (flow, treatment-facility electricity) for the data-time scan."""
    if not m.claims_stopped or m.start >= now:
        return
    pts = mrepo.covered_points(conn, m)
    ids = [p.id for p in parameters.CATALOGUE if marks.is_activity(p.code, p.hj212_2017)]
    mrepo.queue_spans(conn, pts, ids, m.start, min(m.end, now))
