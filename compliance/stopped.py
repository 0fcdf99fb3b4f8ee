"""Marked stopped but still running (标停未停, issue 13 item 2), judged in data time by the data-quality
scan (compliance/history.py): during a data mark whose code claims the plant or its monitor stopped
(``claims_stopped`` in compliance/marks.yaml; pending marks count, a claim is a claim until rejected), the
point's flow, or its treatment facility's electricity (HJ 212-2025 ST 44, d3xxxx), shows activity
(``marks.running``, levels and counts in RuleSettings.stopped_*). The alert opens on the series that
showed it, with the mark in its detail; rejecting or withdrawing the mark does not close it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import psycopg

from compliance import marks, repo
from compliance.repo import spans as span_repo
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_CODE

_TICK = timedelta(microseconds=1)


def activity(
    conn: psycopg.Connection, s: RuleSettings, pts: dict[int, repo.PointRow], queued: Sequence[span_repo.Span]
) -> list[tuple[repo.AlertMeta, marks.Activity]]:
    """For the queued spans of activity series at points under a stopped mark: the activity each mark's
    period shows (the stretch of the span, with the window before it so counts add up across batches)."""
    levels = {BY_CODE[c].id: v for c, v in s.stopped_activity.items() if c in BY_CODE}
    watched = [q for q in queued if q.parameter_id in levels and q.point_id in pts]
    if not watched:
        return []
    window = timedelta(seconds=s.stopped_window_s)
    lo = min(q.first_time for q in watched) - window
    hi = max(q.last_time for q in watched)
    claims = repo.mark_spans(
        conn, sorted({q.point_id for q in watched}), lo, hi, ("pending", "approved"), stopped_only=True
    )
    out = []
    for q in watched:
        for m in claims.get(q.point_id, []):
            start, end = max(m.start, q.first_time - window), min(m.end, q.last_time + _TICK)
            if start >= end:
                continue
            rows = repo.series(conn, q.point_id, q.parameter_id, start, end)
            found = marks.running(
                [(r.time, r.value, r.flag) for r in rows], levels[q.parameter_id], s.stopped_min_count, window
            )
            if found is None:
                continue
            pt = pts[q.point_id]
            detail: dict[str, object] = {"mark": m.id, "code": m.code, "level": levels[q.parameter_id]}
            detail["note"] = (
                f"{found.count} readings above {levels[q.parameter_id]} during mark {m.id} ({m.code})"
            )
            unit = BY_CODE_UNIT.get(q.parameter_id)
            meta = repo.AlertMeta(
                pt.park_id, pt.plant_id, pt.id, q.parameter_id, "status", unit, detail=detail
            )
            out.append((meta, found))
    return out


BY_CODE_UNIT = {p.id: p.unit for p in BY_CODE.values()}
