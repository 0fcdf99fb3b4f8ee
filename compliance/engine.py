"""The real-time inbox consumer: applies the pure rules to one chunk of inbox rows and writes the
outcome through compliance.changes.

A chunk is judged in three steps: what the decisions need beyond the inbox rows is read set-based
before the loop (the stored readings after each key's first inbox row, the start of each key's run of
invalid readings), the rules decide per key from that, and each change is written as it is decided
(a new alert's id is needed by the next change of the same key). The caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import psycopg

from compliance import alerts, days, marks, repo, rules
from compliance.changes import write_change
from compliance.models import (
    EXCEEDANCE,
    IMPLAUSIBLE,
    INHIBITING_KINDS,
    INSTRUMENT_FAULT,
    INTEGRITY,
    NEGATIVE_VALUE,
    OFFLINE,
    OVER_RANGE,
    WHOLE_POINT,
    AlertState,
    Limit,
    MarkSpan,
    Severity,
)
from compliance.rules import policy
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_ID

log = logging.getLogger(__name__)
Key = tuple[int, int]  # (point id, parameter id)
Active = dict[tuple[str, int, int], AlertState]


@dataclass(frozen=True)
class Chunk:
    """One chunk's transaction and everything its decisions read, loaded before the loop."""

    conn: psycopg.Connection
    settings: RuleSettings
    active: Active  # updated as changes are written
    inhibited: frozenset[int]  # points with an offline or instrument-fault alert open
    later: dict[Key, list[repo.Sample]]  # stored readings after each key's first inbox row
    fault_starts: dict[Key, datetime]  # start of the invalid run ending at each key's last status row
    maint: dict[int, list[MarkSpan]]  # data marks in effect per point (maintenance windows among them)


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


def _silenced(r: repo.InboxRow, spans: Sequence[MarkSpan], pol: rules.Policy) -> bool:
    """A reading a data mark in effect makes invalid (a maintenance window among them) is not judged,
    unless it is a critical breach: criticals are never silenced (they open an alert marked with the
    mark, see ``_fold``). The check is ``marks.excluded``, as on every judging path."""
    if marks.covering(r.time, spans) is None:
        return False
    if r.flag not in ("N", "S") or r.value is None or r.upper is None:
        return True
    code = BY_ID[r.parameter_id].code
    if not rules.is_plausible(code, r.value):
        return True
    limit = Limit(r.upper, r.lower, "", r.limit_source, None, True, r.not_detected)
    return marks.excluded(r.time, spans, rules.severity(code, r.value, limit, pol)) is not None


def _status_rows(qid: int, rows: Sequence[repo.InboxRow]) -> list[repo.InboxRow]:
    flags = rules.status_flags(BY_ID[qid].code)
    return [r for r in rows if r.flag is not None and r.flag in flags]


def process_inbox(conn: psycopg.Connection, rows: Sequence[repo.InboxRow], settings: RuleSettings) -> None:
    """The real-time rules over one chunk of inbox rows (taken in this transaction)."""
    if not rows:
        return
    if any(r.late for r in rows):
        repo.share_closing(conn)  # a closing in progress commits first: its hours are then closed
    repo.share_marks(conn)  # marks read below stay as they are until this chunk commits
    point_ids = sorted({r.point_id for r in rows})
    pts = repo.points(conn, point_ids)
    maint = repo.mark_spans(conn, point_ids, min(r.time for r in rows), max(r.time for r in rows))
    pol = policy(settings)
    active = repo.active_alerts(conn, point_ids)
    by_key: dict[Key, list[repo.InboxRow]] = defaultdict(list)
    late: set[tuple[int, int, datetime]] = set()
    for r in rows:
        if r.point_id not in pts:
            continue  # point deactivated since
        if r.conflict:
            _integrity(conn, pts[r.point_id], r, active)
        elif r.late:
            late.add((r.point_id, r.parameter_id, r.time))
        elif not _silenced(r, maint.get(r.point_id, ()), pol):
            by_key[(r.point_id, r.parameter_id)].append(r)
    chunk = _load(conn, settings, active, by_key, maint)
    for (pid, qid), key_rows in by_key.items():
        _evaluate_key(chunk, pts[pid], qid, key_rows)
    _data_returned(chunk, pts, by_key)
    if late:
        days.rejudge_late(conn, pts, late, settings)


def _load(
    conn: psycopg.Connection,
    settings: RuleSettings,
    active: Active,
    by_key: dict[Key, list[repo.InboxRow]],
    maint: dict[int, list[MarkSpan]],
) -> Chunk:
    """Read, for all keys at once, what the decisions of the chunk need besides its rows."""
    firsts = [repo.KeyTime(p, q, min(r.time for r in rs)) for (p, q), rs in by_key.items()]
    ends = [
        repo.KeyTime(p, q, max(r.time for r in status))
        for (p, q), rs in by_key.items()
        if (status := _status_rows(q, rs))
    ]
    return Chunk(
        conn,
        settings,
        active,
        frozenset(pid for (kind, pid, _q) in active if kind in INHIBITING_KINDS),
        repo.series_after(conn, firsts) if firsts else {},
        repo.fault_run_starts(conn, ends) if ends else {},
        maint,
    )


def _data_returned(c: Chunk, pts: dict[int, repo.PointRow], by_key: dict[Key, list[repo.InboxRow]]) -> None:
    """Data returned: an open offline alert clears at once, never stuck."""
    for pid in {pid for pid, _q in by_key}:
        offline = c.active.get((OFFLINE, pid, WHOLE_POINT))
        if offline is not None:
            latest = max(r.time for (p, _q), rs in by_key.items() if p == pid for r in rs)
            change = alerts.step_condition(
                offline, OFFLINE, False, latest, None, "violation", "data returned"
            )
            write_change(c.conn, _meta(pts[pid], WHOLE_POINT, "status", None, None), OFFLINE, change)


def _integrity(conn: psycopg.Connection, pt: repo.PointRow, r: repo.InboxRow, active: Active) -> None:
    """A second, different value for a stored reading: the stored one stands (ingest kept both in the
    dead letters); the officer sees an integrity alert that only an officer closes."""
    current = active.get((INTEGRITY, pt.id, r.parameter_id))
    change = alerts.step_condition(current, INTEGRITY, True, r.time, r.value, "violation")
    detail: dict[str, object] = {"time": r.time.isoformat(), "stored": r.stored_value, "received": r.value}
    meta = replace(_meta(pt, r.parameter_id, "status", None, None), detail=detail)
    alert_id = write_change(conn, meta, INTEGRITY, change)
    if change.alert is not None and alert_id is not None:
        active[(INTEGRITY, pt.id, r.parameter_id)] = replace(change.alert, id=alert_id)


def _evaluate_key(c: Chunk, pt: repo.PointRow, qid: int, rows: list[repo.InboxRow]) -> None:
    code = BY_ID[qid].code
    valid = [r for r in rows if r.flag in ("N", "S") and r.value is not None]
    plausible = [r for r in valid if rules.is_plausible(code, r.value or 0.0)]
    _exceedance(c, pt, qid, plausible)
    # a value below zero is the negative-value rule's; any other value outside the plausible range
    # the implausible rule's (one owner each); neither is ever judged against a limit
    negative = [r for r in valid if rules.is_negative(code, r.value or 0.0)]
    suspect = [r for r in valid if r not in plausible and r not in negative]
    last_plausible = max((r.time for r in plausible), default=None)
    last_valid = max((r.time for r in valid), default=None)
    last_not_negative = max((r.time for r in valid if r not in negative), default=None)
    _condition(c, pt, qid, IMPLAUSIBLE, suspect, last_plausible, "warning", "plausible value")
    _condition(
        c, pt, qid, NEGATIVE_VALUE, negative, last_not_negative, "warning", "value back at or above zero"
    )
    status = _status_rows(qid, rows)
    if status:
        latest = max(status, key=lambda r: r.time)
        start = c.fault_starts.get((pt.id, qid), latest.time)
        held = rules.fault_held(start, latest.time, c.settings.fault_hold_s)
        _condition(c, pt, qid, INSTRUMENT_FAULT, [latest] if held else [], None, "violation", "")
    _condition(c, pt, qid, INSTRUMENT_FAULT, [], last_valid, "violation", "valid data returned")
    over = [r for r in rows if r.flag == "T" and code in rules.HEAVY_METALS]
    sev: Severity = "violation"
    if over and over[-1].upper is not None and over[-1].value is not None:
        limit = Limit(over[-1].upper, over[-1].lower, "")
        found = rules.severity(code, max(r.value or 0.0 for r in over), limit, policy(c.settings))
        sev = "critical" if found == "critical" else "violation"
    _condition(c, pt, qid, OVER_RANGE, over, last_valid, sev, "valid data returned")


def _exceedance(c: Chunk, pt: repo.PointRow, qid: int, rows: list[repo.InboxRow]) -> None:
    by_limit: dict[tuple[float | None, float | None, bool, str | None], list[repo.InboxRow]] = defaultdict(
        list
    )
    for r in rows:
        if r.upper is not None or r.lower is not None:
            by_limit[(r.upper, r.lower, r.not_detected, r.limit_source)].append(r)
    muted = "inhibited" if pt.id in c.inhibited else None
    for (upper, lower, nd, source), group in by_limit.items():
        limit = Limit(upper, lower, BY_ID[qid].unit, source, None, True, nd)
        samples = [(r.time, r.value or 0.0) for r in group]
        _fold(c, pt, qid, samples, limit, muted)
        if (EXCEEDANCE, pt.id, qid) in c.active:
            # Readings under the warning level committed in the same batch as the breach (or while the
            # alert was being opened) never reached the inbox: they were loaded with the chunk, so the
            # clear level and hold time are judged on every value. Re-reading a value is harmless:
            # clearing is idempotent.
            after = max(t for t, _v in samples)
            quiet = quiet_after(c.later.get((pt.id, qid), []), after, BY_ID[qid].code, limit, c.settings)
            if quiet:
                _fold(c, pt, qid, quiet, limit, muted)


def quiet_after(
    later: Sequence[repo.Sample], after: datetime, code: str, limit: Limit, settings: RuleSettings
) -> list[tuple[datetime, float]]:
    """Pure: the valid, plausible readings after ``after`` that are under the warning level."""
    pol = policy(settings)
    return [
        (s.time, s.value)
        for s in later
        if s.time > after
        and rules.is_valid(s.flag)
        and rules.is_plausible(code, s.value)
        and rules.severity(code, s.value, limit, pol) is None
    ]


def first_clearing(later: Sequence[repo.Sample], after: datetime, kind: str, code: str) -> datetime | None:
    """Pure: the first reading after ``after`` that ends a status condition (valid; plausible for
    implausible, not below zero for negative values), or None. Instrument-fault runs end on a valid
    value too."""
    for s in later:
        if (
            s.time > after
            and rules.is_valid(s.flag)
            and (kind != IMPLAUSIBLE or rules.is_plausible(code, s.value))
            and (kind != NEGATIVE_VALUE or not rules.is_negative(code, s.value))
        ):
            return s.time
    return None


def _fold(
    c: Chunk,
    pt: repo.PointRow,
    qid: int,
    samples: list[tuple[datetime, float]],
    limit: Limit,
    muted: str | None,
) -> None:
    key = (EXCEEDANCE, pt.id, qid)
    changes = alerts.fold_values(
        c.active.get(key), EXCEEDANCE, BY_ID[qid].code, samples, limit, policy(c.settings)
    )
    meta = _meta(pt, qid, "instant", limit, muted)
    for change in changes:
        if change.alert is not None and change.alert.id == 0:  # a new alert: opened under a mark?
            window = marks.covering(change.alert.first_time, c.maint.get(pt.id, ()))
            meta = replace(meta, during_maintenance=window.id if window else None)
        alert_id = write_change(c.conn, meta, EXCEEDANCE, change)
        if change.action == "resolve":
            c.active.pop(key, None)
        elif change.alert is not None and alert_id is not None:
            c.active[key] = replace(change.alert, id=alert_id)


def _condition(
    c: Chunk,
    pt: repo.PointRow,
    qid: int,
    kind: str,
    hits: Sequence[repo.InboxRow],
    cleared_at: datetime | None,
    sev: Severity,
    note: str,
) -> None:
    """Open/grow on hits; resolve when there are no hits and the condition was seen gone at
    ``cleared_at``."""
    meta = _meta(pt, qid, "status", None, None)
    current = c.active.get((kind, pt.id, qid))
    if hits:
        for r in sorted(hits, key=lambda r: r.time):
            change = alerts.step_condition(current, kind, True, r.time, r.value, sev)
            alert_id = write_change(c.conn, meta, kind, change)
            if change.alert is not None and alert_id is not None:
                current = replace(change.alert, id=alert_id)
        if current is not None:
            c.active[(kind, pt.id, qid)] = current
            # same race as for exceedances: a clearing reading may have come in the breach's batch
            later = c.later.get((pt.id, qid), [])
            cleared_at = first_clearing(later, max(r.time for r in hits), kind, BY_ID[qid].code)
    if cleared_at is not None and current is not None:
        change = alerts.step_condition(
            current, kind, False, max(cleared_at, current.last_time), None, sev, note
        )
        write_change(c.conn, meta, kind, change)
        c.active.pop((kind, pt.id, qid), None)


__all__ = ["policy", "process_inbox"]
