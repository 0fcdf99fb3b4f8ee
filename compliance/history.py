"""Gaps and flat runs judged in data time, when the data arrives: a replayed or back-filled day with a
40-minute dropout or a 2-hour stuck pH is judged like live data.

Each ingest batch queues the span of each series it stored (compliance/repo/spans.py). The
data_quality job takes the queue and looks at the stored series around each span:
- a gap between two readings of a point longer than offline_k x its interval is an offline episode,
  with the gap as its evidence window (last reading before, first reading after);
- a run of the same valid value for flatline_s over flatline_min_count readings is a flatline
  (constant values), a run of exact zeros for zero_s over zero_min_count readings is zero values
  (rules.constant_run_kind), with the run as its evidence window; it resolves when the data shows the
  value changed;
- flow or treatment-facility electricity showing activity during a mark that claims the plant stopped
  is "marked stopped but still running" (compliance/stopped.py).
A gap or a run that data marks in effect explain (``marks.covered``) is not an episode.
An episode already recorded (a re-scan, a re-sent history, the wall-clock sweep's offline alert) is the
same alert: its window is widened, never doubled. The wall-clock offline sweep stays, for data that
never comes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import alerts, changes, marks, repo, rules, stopped
from compliance.models import (
    ACTIVE_STATES,
    OFFLINE,
    STOPPED_RUNNING,
    WHOLE_POINT,
    AlertChange,
    AlertState,
    AuditEntry,
    Severity,
)
from compliance.repo import spans
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_ID
from ingest.hj212 import repo as hj212_repo

log = logging.getLogger(__name__)
LOOK_S = 7 * 86_400.0  # how far from a span to look for the neighbouring readings
TAKE = 50_000  # queued span rows per chunk (each batch queues one per series it touched)


@dataclass(frozen=True)
class Episode:
    """A condition seen in data time: its evidence window, and when the data shows it over."""

    start: datetime
    end: datetime
    value: float | None
    count: int
    over_at: datetime | None


def episode_change(
    alert: AlertState | None, kind: str, ep: Episode, sev: Severity, note: str, may_resolve: bool
) -> AlertChange:
    """Pure: the change that makes ``alert`` (None: a new alert) carry the episode as its evidence
    window, resolved with ``note`` when the data shows the episode over."""
    if alert is None:
        opened = alerts.step_condition(None, kind, True, ep.start, ep.value, sev)
        assert opened.alert is not None
        new = replace(opened.alert, last_time=ep.end, count=ep.count)
        if ep.over_at is None:
            return replace(opened, alert=new)
        done = replace(new, state=alerts.closed_state(sev))  # a violation stays with the officer
        return AlertChange("resolve", done, ("opened", "resolved"), resolved_at=ep.over_at, note=note)
    wider = replace(
        alert,
        first_time=min(alert.first_time, ep.start),
        last_time=max(alert.last_time, ep.end),
        count=max(alert.count, ep.count),
        last_value=ep.value if ep.value is not None else alert.last_value,
    )
    if may_resolve and alert.state in ACTIVE_STATES and ep.over_at is not None:
        done = replace(wider, state=alerts.closed_state(wider.severity))
        return AlertChange("resolve", done, ("resolved",), resolved_at=ep.over_at, note=note)
    return AlertChange("none" if wider == alert else "update", wider)


def scan(conn: psycopg.Connection, settings: RuleSettings, park: str | None) -> tuple[int, int]:
    """Judge the queued spans, a chunk at a time until the queue is empty; returns the number of
    (offline, flatline) alerts recorded or widened."""
    gaps = flats = 0
    while True:
        queued, taken = spans.take(conn, TAKE, park)
        g, f = _judge(conn, settings, queued)
        gaps, flats = gaps + g, flats + f
        if taken < TAKE:
            return gaps, flats


def _judge(conn: psycopg.Connection, settings: RuleSettings, queued: list[spans.Span]) -> tuple[int, int]:
    if not queued:
        return 0, 0
    repo.share_marks(conn)  # the marks read below stay as they are until this chunk commits
    pts = repo.points(conn, sorted({s.point_id for s in queued}))
    per_point: dict[int, tuple[datetime, datetime]] = {}
    for s in queued:
        lo, hi = per_point.get(s.point_id, (s.first_time, s.last_time))
        per_point[s.point_id] = (min(lo, s.first_time), max(hi, s.last_time))
    gaps = sum(_gaps(conn, pts[p], a, b, settings) for p, (a, b) in per_point.items() if p in pts)
    flats = sum(_flat_runs(conn, pts[s.point_id], s, settings) for s in queued if s.point_id in pts)
    for meta, act in stopped.activity(conn, settings, pts, queued):
        ep = Episode(act.start, act.end, act.peak, act.count, None)
        _record(conn, meta, STOPPED_RUNNING, ep, "violation", "", False)
    return gaps, flats


def _gaps(conn: psycopg.Connection, pt: repo.PointRow, a: datetime, b: datetime, s: RuleSettings) -> int:
    pairs = spans.spaced_readings(conn, pt.id, a, b, pt.interval_s, LOOK_S)
    written = 0
    for t0, t1 in rules.offline_gaps(pairs, pt.interval_s, s.offline_k):
        if any(m.invalidates for m in repo.mark_spans(conn, [pt.id], t0, t1).get(pt.id, [])):
            continue  # a data mark in effect (a maintenance window, a stop) explains the silence
        gap_s = (t1 - t0).total_seconds()
        note = f"data returned after a {gap_s / 60:.0f}-minute gap in the data"
        detail: dict[str, object] = {"gap_s": gap_s, "found_in": "data time"}
        meta = repo.AlertMeta(pt.park_id, pt.plant_id, pt.id, WHOLE_POINT, "status", detail=detail)
        if s.history_pull:
            _pull_history(conn, pt, t0, t1)
        # an open offline alert is the wall-clock sweep's: data returning resolves it (engine.py)
        written += _record(conn, meta, OFFLINE, Episode(t0, t1, None, 1, t1), "violation", note, False)
    return written


def history_pulls(t0: datetime, t1: datetime, zone: ZoneInfo) -> list[tuple[str, dict[str, str]]]:
    """Pure: the history requests that cover a gap between two readings (UTC), in park-local time:
    the minute records (2051) always, the hourly ones (2061) when a whole hour is missing, the daily
    ones (2031) when a whole day is."""
    begin, end = (t.astimezone(zone).replace(tzinfo=None) for t in (t0, t1))
    fmt = "%Y%m%d%H%M%S"
    pulls = [("2051", {"BeginTime": f"{begin:{fmt}}", "EndTime": f"{end:{fmt}}"})]
    if end - begin >= timedelta(hours=1):
        pulls.append(("2061", {"BeginTime": f"{begin:%Y%m%d%H}0000", "EndTime": f"{end:%Y%m%d%H}0000"}))
    if end - begin >= timedelta(days=1):
        pulls.append(("2031", {"BeginTime": f"{begin:%Y%m%d}000000", "EndTime": f"{end:%Y%m%d}000000"}))
    return pulls


def _pull_history(conn: psycopg.Connection, pt: repo.PointRow, t0: datetime, t1: datetime) -> None:
    """Ask the point's logger to back-fill the gap (through the HJ 212 command queue; once per gap)."""
    for cn, params in history_pulls(t0, t1, ZoneInfo(pt.timezone)):
        hj212_repo.enqueue_once(conn, pt.id, cn, params, "history", changes.ENGINE)


def _flat_runs(conn: psycopg.Connection, pt: repo.PointRow, span: spans.Span, s: RuleSettings) -> int:
    """Runs of one value (constant values, zero values: ``rules.constant_run_kind``)."""
    runs = spans.value_runs(
        conn, pt.id, span.parameter_id, span.first_time, span.last_time, rules.min_run_count(s), LOOK_S
    )
    meta = repo.AlertMeta(pt.park_id, pt.plant_id, pt.id, span.parameter_id, "status")
    code = BY_ID[span.parameter_id].code
    written = 0
    for run in runs:
        kind = rules.constant_run_kind(run, code, s)
        if kind is not None:
            if marks.covered(
                run.start, run.end, repo.mark_spans(conn, [pt.id], run.start, run.end).get(pt.id, [])
            ):
                continue  # marked invalid: not judged
            ep = Episode(run.start, run.end, run.value, run.count, run.next_time)
            written += _record(conn, meta, kind, ep, "warning", "the value changed", True)
    return written


def _record(
    conn: psycopg.Connection,
    meta: repo.AlertMeta,
    kind: str,
    ep: Episode,
    sev: Severity,
    note: str,
    may_resolve: bool,
) -> int:
    """Write the episode: into the alert that already covers it, or as a new alert."""
    pid, qid = meta.point_id, meta.parameter_id
    same = repo.alerts_overlapping(conn, kind, pid, qid, ep.start, ep.end)
    current = next((a for a in same if a.state in ACTIVE_STATES), same[0] if same else None)
    if current is None and may_resolve and ep.over_at is None:
        active = repo.active_alerts(conn, [pid], [kind]).get((kind, pid, qid))
        if active is not None and active.last_time <= ep.start:
            # a later episode while an earlier one is still open: the earlier one is over
            over = alerts.step_condition(active, kind, False, active.last_time, None, sev, note)
            changes.write_change(conn, meta, kind, over)
    change = episode_change(current, kind, ep, sev, note, may_resolve)
    if change.action == "none" or change.alert is None:
        return 0
    if current is not None:
        a = change.alert
        repo.update_alert(conn, a)  # the window first: resolving keeps the stored one
        if current.state not in ACTIVE_STATES or a.first_time != current.first_time:  # not a run's growth
            window = f"evidence window {a.first_time.isoformat()} .. {a.last_time.isoformat()} (data time)"
            entry = AuditEntry("evidence", changes.ENGINE, current.state, current.state, window)
            repo.append_audit(conn, current.id, entry)
    if change.action != "update":
        changes.write_change(conn, meta, kind, change)
    return 1
