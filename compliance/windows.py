"""The legal record on the park-local calendar: closing hours, days and months on schedule, storing each
with what it stands on (compliance_windows; the rules are validity.py's), alerting on hourly and daily
means over their limits, and re-judging them when late data arrives (``rejudge_late``) or when something
changes which readings count (``rejudge_period``, for data marks). A day is made of its stored hours and
a month of its stored days, so closing them never rereads raw readings."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import alerts, changes, repo, rules, validity
from compliance.models import DAILY_MEAN, HOURLY_MEAN, AlertChange, AlertState, Limit, WindowResult
from compliance.settings import RuleSettings
from ingest.core import reads
from ingest.core.parameters import BY_CODE, BY_ID

HOUR, DAY, MONTH = "hour", "day", "month"
FLOW = BY_CODE["flow"].id
NOT_JUDGED = "not_judged"  # months: a summary of the days, not judged against a limit


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


@dataclass(frozen=True)
class HourData:
    """What an hour of a series is judged on: its readings, the times its point's flow was 0 (used when
    ``zero_flow_invalid`` is on) and the logger's Cou total over it."""

    samples: Sequence[repo.Sample]
    zero_flow: Collection[datetime] = ()
    cou: float | None = None


def judge_hour(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    start: datetime,
    settings: RuleSettings,
    data: HourData | None = None,
) -> None:
    """Judge and store one closed hour of a series (what it is judged on is read unless given)."""
    end = start + timedelta(hours=1)
    code = BY_ID[qid].code
    rule = validity.rule_for(settings, code)
    if data is None:
        zero = _zero_flow(conn, pt.id, start, end) if rule.zero_flow_invalid and qid != FLOW else set()
        cou = _totals(conn, [pt.id], start, end).get((pt.id, qid))
        data = HourData(repo.series(conn, pt.id, qid, start, end), zero, cou)
    values = [(s.time, s.value, s.flag) for s in data.samples]
    res = validity.hour_record(values, start, end, pt.interval_s, rule, code, data.zero_flow)
    store_and_alert(conn, pt, qid, HOUR, replace(res, cou=data.cou), settings)


def _zero_flow(conn: psycopg.Connection, point_id: int, start: datetime, end: datetime) -> set[datetime]:
    return {s.time for s in repo.series(conn, point_id, FLOW, start, end) if _stopped(s.value, s.flag)}


def _stopped(value: float, flag: str) -> bool:
    return value == 0 and rules.is_valid(flag)


def _totals(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime
) -> dict[tuple[int, int], float]:
    """The loggers' HJ 212 Cou totals over [start, end) (ingest's logger_statistics)."""
    rows = reads.logger_totals(point_ids, start, end).fetch(conn)
    return {(r.point_id, r.parameter_id): r.cou for r in rows}


def judge_day(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    start: datetime,
    end: datetime,
    settings: RuleSettings,
    has_flow: bool,
    cou: float | None,
) -> None:
    """Judge and store one closed day of a series from its stored hours (and its point's flow hours,
    for the discharged mass), then the month it is in."""
    code = BY_ID[qid].code
    rule = validity.rule_for(settings, code)
    hours = repo.parts(conn, pt.id, qid, HOUR, start, end)
    flow_hours = None
    if has_flow and validity.has_mass(code):
        flow = repo.parts(conn, pt.id, FLOW, HOUR, start, end)
        flow_hours = {h.start: h.volume_m3 for h in flow if h.volume_m3 is not None}
    res = validity.day_record(hours, start, end, pt.interval_s, rule, code, flow_hours, cou)
    store_and_alert(conn, pt, qid, DAY, res, settings)
    judge_month(conn, pt, qid, start, settings, has_flow)


def judge_month(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    day_start: datetime,
    settings: RuleSettings,
    has_flow: bool,
) -> None:
    """Store the park-local month containing a day, from its days closed so far."""
    tz = ZoneInfo(pt.timezone)
    m0, m1, n_days = rules.local_month_bounds(rules.local_day_of(day_start, tz), tz)
    code = BY_ID[qid].code
    rule = validity.rule_for(settings, code)
    days = repo.parts(conn, pt.id, qid, DAY, m0, m1)
    flow_days = None
    if has_flow and rule.mean == "flow_weighted" and validity.has_mass(code):
        flow = repo.parts(conn, pt.id, FLOW, DAY, m0, m1)
        flow_days = {d.start: d.volume_m3 for d in flow if d.volume_m3 is not None}
    res = validity.month_record(days, m0, m1, n_days, rule, code, flow_days)
    repo.upsert_window(conn, pt.id, qid, MONTH, res, NOT_JUDGED, None)


def rejudge_late(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    late: set[tuple[int, int, datetime]],
    settings: RuleSettings,
) -> None:
    """Late data: re-judge each closed hour it falls in, then its day and month if that day is closed
    too, and queue that day's park rules and report."""
    hours: set[tuple[int, int, datetime]] = set()
    for pid, qid, t in late:
        hours.add((pid, qid, rules.local_hour_bounds(t, ZoneInfo(pts[pid].timezone))[0]))
    _rejudge(conn, pts, hours, settings)


def rejudge_period(
    conn: psycopg.Connection, point_id: int, start: datetime, end: datetime, settings: RuleSettings
) -> int:
    """Re-judge every closed hour of a point on record in [start, end) from its stored readings, then
    their days and months, and queue the park rules and reports of those days. Call it, in the
    transaction that makes the change, whenever which of a point's readings count changes (a data mark
    set, accepted or rejected). Returns the number of hours re-judged."""
    pts = repo.points(conn, ids=[point_id])
    if point_id not in pts:
        return 0
    tz = pts[point_id].timezone
    first = rules.local_hour_bounds(start, ZoneInfo(tz))[0]
    hours = set(repo.hours_on_record(conn, point_id, first, end))
    hours |= set(repo.reading_hours(conn, point_id, tz, first, end))
    return _rejudge(conn, pts, {(point_id, q, t) for q, t in hours}, settings)


def _rejudge(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    hours: set[tuple[int, int, datetime]],
    settings: RuleSettings,
) -> int:
    closed: dict[tuple[str, str, datetime], bool] = {}  # one lookup per park and window, not per key

    def is_closed(park_id: str, span: str, start: datetime) -> bool:
        key = (park_id, span, start)
        if key not in closed:
            closed[key] = repo.is_closed(conn, park_id, span, start)
        return closed[key]

    params = {pid: repo.point_parameters(conn, pid) for pid in {k[0] for k in hours}}
    if settings.zero_flow_invalid:  # flow decides which values of the other parameters count
        hours |= {(p, q, t) for p, qid, t in hours if qid == FLOW for q in params[p]}
    days: set[tuple[int, int, datetime, datetime]] = set()
    judged = 0
    for pid, qid, start in sorted(hours):
        pt = pts[pid]
        if not is_closed(pt.park_id, HOUR, start):
            continue  # the scheduled close will judge it with everything in it
        judge_hour(conn, pt, qid, start, settings)
        judged += 1
        tz = ZoneInfo(pt.timezone)
        d0, d1 = rules.local_day_bounds(rules.local_day_of(start, tz), tz)
        if is_closed(pt.park_id, DAY, d0):
            days.add((pid, qid, d0, d1))
    # a day's flow makes the discharged mass of every pollutant of its point
    days |= {(p, q, d0, d1) for p, qid, d0, d1 in days if qid == FLOW for q in params[p]}
    for pid, qid, d0, d1 in sorted(days):
        cou = _totals(conn, [pid], d0, d1).get((pid, qid))
        judge_day(conn, pts[pid], qid, d0, d1, settings, FLOW in params[pid], cou)
    # the park rules (reuse ratio, mass balance) and the daily report of those days change too: the
    # close_windows job makes them again (it owns the park rules; queued, so no import of jobs here)
    for park_id, d0, d1 in sorted({(pts[pid].park_id, d0, d1) for pid, _q, d0, d1 in days}):
        repo.queue_park_day(conn, park_id, d0, d1)
    return judged


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
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    horizon = now - timedelta(seconds=settings.late_grace_s)
    start = rules.local_hour_bounds(now - lookback, tz)[0]
    closed = 0
    while start + timedelta(hours=1) <= horizon:
        if not repo.is_closed(conn, park_id, HOUR, start):
            _close_hour(conn, pts, start, settings)
            repo.mark_closed(conn, park_id, HOUR, start)
            closed += 1
        start += timedelta(hours=1)
    return closed


def _close_hour(
    conn: psycopg.Connection, pts: dict[int, repo.PointRow], start: datetime, settings: RuleSettings
) -> None:
    end = start + timedelta(hours=1)
    park_id = next(iter(pts.values())).park_id
    by_key: dict[tuple[int, int], list[repo.Sample]] = defaultdict(list)
    stopped: dict[int, set[datetime]] = defaultdict(set)
    for r in repo.park_series(conn, park_id, start, end):
        by_key[(r.point_id, r.parameter_id)].append(repo.Sample(r.time, r.value, r.flag))
        if r.parameter_id == FLOW and _stopped(r.value, r.flag):
            stopped[r.point_id].add(r.time)
    totals = _totals(conn, list(pts), start, end) if by_key else {}
    for (pid, qid), rows in by_key.items():
        if pid in pts:
            data = HourData(rows, stopped[pid], totals.get((pid, qid)))
            judge_hour(conn, pts[pid], qid, start, settings, data)


def close_days(
    conn: psycopg.Connection, park_id: str, now: datetime, settings: RuleSettings, lookback_days: int = 3
) -> list[tuple[datetime, datetime]]:
    """Close every park-local day whose last hour is closed: a day on record for every series the park's
    points measure, received or not, and its month; returns the days closed now."""
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
        _close_day(conn, pts, d0, d1, settings)
        repo.mark_closed(conn, park_id, DAY, d0)
        done.append((d0, d1))
    return done


def _close_day(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    d0: datetime,
    d1: datetime,
    settings: RuleSettings,
) -> None:
    park_id = next(iter(pts.values())).park_id
    keys = {(k.point_id, k.parameter_id) for k in repo.series_keys(conn, park_id)}
    keys |= {(k.point_id, k.parameter_id) for k in repo.hour_keys(conn, park_id, d0, d1)}
    with_flow = {pid for pid, qid in keys if qid == FLOW}
    totals = _totals(conn, list(pts), d0, d1)
    for pid, qid in sorted(keys):
        if pid in pts:
            judge_day(conn, pts[pid], qid, d0, d1, settings, pid in with_flow, totals.get((pid, qid)))
