"""Hourly and daily valid means on the park-local calendar: closing windows on schedule and re-judging
them when late data arrives. A day's mean is combined exactly from its stored hours (a weighted mean of
the hourly means), so closing a day never rereads a day of raw readings."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import alerts, changes, marks, repo, rules
from compliance.models import DAILY_MEAN, HOURLY_MEAN, AlertChange, AlertState, Limit, MarkSpan, WindowResult
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_ID

HOUR, DAY = "hour", "day"


def combine(
    hours: Iterable[tuple[float | None, int]],
    start: datetime,
    end: datetime,
    interval_s: int,
    min_valid_fraction: float,
) -> WindowResult:
    """Exact mean of a day from its hours' (mean, n_valid)."""
    pairs = [(m, n) for m, n in hours if m is not None and n > 0]
    n = sum(k for _m, k in pairs)
    expected = max(1, round((end - start).total_seconds() / interval_s))
    mean = math.fsum(m * k for m, k in pairs) / n if n else None
    return WindowResult(start, end, mean, n, expected, rules.is_sufficient(n, expected, min_valid_fraction))


def _verdict(res: WindowResult, limit: Limit | None) -> str:
    if limit is None or limit.upper is None or limit.lower is not None:
        return "no_limit"  # pH ranges are judged per value; a mean pH says little
    if not res.sufficient or res.mean is None:
        return "insufficient"
    return "exceeded" if res.mean > limit.upper else "ok"


def store_and_alert(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    span: str,
    res: WindowResult,
    settings: RuleSettings,
) -> None:
    found = repo.limit_at(conn, pt.id, qid, res.start)
    limit = (
        Limit(found.upper, found.lower, BY_ID[qid].unit, found.source, None, True, found.not_detected)
        if found
        else None
    )
    verdict = _verdict(res, limit)
    previous = repo.upsert_window(conn, pt.id, qid, span, res, verdict, limit.upper if limit else None)
    if previous == verdict or limit is None or limit.upper is None:
        return
    kind = HOURLY_MEAN if span == HOUR else DAILY_MEAN
    current = repo.active_alerts(conn, [pt.id], [kind]).get((kind, pt.id, qid))
    change = window_change(current, kind, BY_ID[qid].code, res, verdict, previous, limit, settings)
    if change is None:
        return
    detail: dict[str, object] = {"window_end": res.end.isoformat(), "n_valid": res.n_valid}
    detail["n_expected"] = res.n_expected
    meta = repo.AlertMeta(
        pt.park_id,
        pt.plant_id,
        pt.id,
        qid,
        span,
        limit.unit,
        limit.upper,
        limit.lower,
        limit.source,
        None,
        detail,
    )
    changes.write_change(conn, meta, kind, change)


def window_change(
    current: AlertState | None,
    kind: str,
    code: str,
    res: WindowResult,
    verdict: str,
    previous: str | None,
    limit: Limit,
    settings: RuleSettings,
) -> AlertChange | None:
    """Pure: the alert change a window's new verdict makes, or None."""
    mean, upper = res.mean or 0.0, limit.upper or 0.0
    if verdict == "exceeded":
        sev = rules.severity(code, mean, limit, rules.policy(settings)) or "violation"
        return alerts.step_condition(current, kind, True, res.start, mean, sev)
    if verdict != "ok" or current is None:
        return None
    newest = res.start >= current.last_time
    only_window = previous == "exceeded" and current.first_time == current.last_time == res.start
    if not (newest or only_window) or mean > settings.clear_fraction * upper:
        return None  # hysteresis: a mean just under the limit does not clear
    note = "re-judged after late data" if only_window else "a later window is compliant"
    return alerts.step_condition(current, kind, False, res.start, mean, current.severity, note)


def judge_hour(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    start: datetime,
    settings: RuleSettings,
    samples: Sequence[repo.Sample] | None = None,
    spans: Sequence[MarkSpan] | None = None,
) -> None:
    """The valid mean of one park-local hour; data the marks in effect make invalid is left out
    (``marks.judged``), so a marked hour may have too few valid values to judge."""
    end = start + timedelta(hours=1)
    rows = samples if samples is not None else repo.series(conn, pt.id, qid, start, end)
    if spans is None:
        spans = repo.mark_spans(conn, [pt.id], start, end).get(pt.id, [])
    values = marks.judged([(s.time, s.value, s.flag) for s in rows], spans)
    res = rules.window_mean(values, start, end, pt.interval_s, settings.min_valid_fraction, BY_ID[qid].code)
    store_and_alert(conn, pt, qid, HOUR, res, settings)


def judge_day(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    start: datetime,
    end: datetime,
    settings: RuleSettings,
) -> None:
    hours = repo.hour_windows(conn, pt.id, qid, start, end)
    res = combine(
        ((h.mean, h.n_valid) for h in hours), start, end, pt.interval_s, settings.min_valid_fraction
    )
    store_and_alert(conn, pt, qid, DAY, res, settings)


def rejudge_late(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    late: set[tuple[int, int, datetime]],
    settings: RuleSettings,
) -> None:
    """Late data: re-judge each closed hour it falls in, then its day if that is closed too, and queue
    that day's park rules and report."""
    hours: set[tuple[int, int, datetime]] = set()
    for pid, qid, t in late:
        hours.add((pid, qid, rules.local_hour_bounds(t, ZoneInfo(pts[pid].timezone))[0]))
    days: set[tuple[int, int, datetime, datetime]] = set()
    closed: dict[tuple[str, str, datetime], bool] = {}  # one lookup per park and window, not per key

    def is_closed(park_id: str, span: str, start: datetime) -> bool:
        key = (park_id, span, start)
        if key not in closed:
            closed[key] = repo.is_closed(conn, park_id, span, start)
        return closed[key]

    for pid, qid, start in sorted(hours):
        pt = pts[pid]
        if not is_closed(pt.park_id, HOUR, start):
            continue  # the scheduled close will judge it with everything in it
        judge_hour(conn, pt, qid, start, settings)
        tz = ZoneInfo(pt.timezone)
        d0, d1 = rules.local_day_bounds(rules.local_day_of(start, tz), tz)
        if is_closed(pt.park_id, DAY, d0):
            days.add((pid, qid, d0, d1))
    for pid, qid, d0, d1 in sorted(days):
        judge_day(conn, pts[pid], qid, d0, d1, settings)
    # the park rules (reuse ratio, mass balance) and the daily report of those days change too: the
    # close_windows job makes them again (it owns the park rules; queued, so no import of jobs here)
    for park_id, d0, d1 in sorted({(pts[pid].park_id, d0, d1) for pid, _q, d0, d1 in days}):
        repo.queue_park_day(conn, park_id, d0, d1)


def close_hours(
    conn: psycopg.Connection,
    park_id: str,
    now: datetime,
    settings: RuleSettings,
    lookback: timedelta = timedelta(hours=48),
) -> int:
    """Close every park-local hour that ended at least the grace period ago and is not closed yet."""
    pts = repo.points(conn, park_id=park_id)
    if not pts:
        return 0
    repo.share_marks(conn)  # the marks read below stay as they are until the hours are stored
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    horizon = now - timedelta(seconds=settings.late_grace_s)
    start = rules.local_hour_bounds(now - lookback, tz)[0]
    closed = 0
    while start + timedelta(hours=1) <= horizon:
        if not repo.is_closed(conn, park_id, HOUR, start):
            by_key: dict[tuple[int, int], list[repo.Sample]] = defaultdict(list)
            for r in repo.park_series(conn, park_id, start, start + timedelta(hours=1)):
                by_key[(r.point_id, r.parameter_id)].append(repo.Sample(r.time, r.value, r.flag))
            marked = repo.mark_spans(conn, list(pts), start, start + timedelta(hours=1))
            for (pid, qid), rows in by_key.items():
                if pid in pts:
                    judge_hour(conn, pts[pid], qid, start, settings, rows, marked.get(pid, []))
            repo.mark_closed(conn, park_id, HOUR, start)
            closed += 1
        start += timedelta(hours=1)
    return closed


def close_days(
    conn: psycopg.Connection, park_id: str, now: datetime, settings: RuleSettings, lookback_days: int = 3
) -> list[tuple[datetime, datetime]]:
    """Close every park-local day whose last hour is closed; returns the days closed now."""
    pts = repo.points(conn, park_id=park_id)
    if not pts:
        return []
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    today = rules.local_day_of(now, tz)
    done = []
    for back in range(lookback_days, 0, -1):
        d0, d1 = rules.local_day_bounds(today - timedelta(days=back), tz)
        last_hour = rules.local_hour_bounds(d1 - timedelta(minutes=1), tz)[0]
        if repo.is_closed(conn, park_id, DAY, d0) or not repo.is_closed(conn, park_id, HOUR, last_hour):
            continue
        for key in repo.hour_keys(conn, park_id, d0, d1):
            if key.point_id in pts:
                judge_day(conn, pts[key.point_id], key.parameter_id, d0, d1, settings)
        repo.mark_closed(conn, park_id, DAY, d0)
        done.append((d0, d1))
    return done
