"""The legal record's days and months on the park-local calendar, and re-judging.

A closed day is on record for every series a park's active points measure, received or not (a silent day
is a day of transmission rate 0), made of its stored hours; a month of its stored days, rewritten each
time one of its days is closed or re-judged. A park's day is judged in a few set-based reads (its hours,
its flows, its limits, the loggers' Cou totals) and one write per series, since a 57-plant park has about
seven hundred series.

Re-judging: late data (``rejudge_late``, from the real-time consumer) and anything that changes which of
a point's readings count (``rejudge_period``: a data mark set, accepted or rejected) re-judge the closed
hours concerned, then their days and months, and queue those days' park rules and report."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import repo, rules, validity, windows
from compliance.settings import RuleSettings
from ingest.core.parameters import BY_ID

HOUR, DAY, MONTH = "hour", "day", "month"
FLOW = windows.FLOW
NOT_JUDGED = "not_judged"  # months: a summary of their days, not judged against a limit
Key = tuple[int, int]  # (point, parameter)


def close_days(
    conn: psycopg.Connection, park_id: str, now: datetime, settings: RuleSettings, lookback_days: int = 3
) -> list[tuple[datetime, datetime]]:
    """Close every park-local day whose last hour is closed, and store its month; returns the days
    closed now."""
    pts = repo.points(conn, park_id=park_id)
    if not pts:
        return []
    repo.lock_closing(conn)  # as for hours (compliance/windows.py close_hours)
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    today = rules.local_day_of(now, tz)
    keys = {(k.point_id, k.parameter_id) for k in repo.series_keys(conn, park_id)}
    flow_points = {pid for pid, qid in keys if qid == FLOW}
    done = []
    for back in range(lookback_days, 0, -1):
        d0, d1 = rules.local_day_bounds(today - timedelta(days=back), tz)
        last_hour = rules.local_hour_bounds(d1 - timedelta(minutes=1), tz)[0]
        if repo.is_closed(conn, park_id, DAY, d0) or not repo.is_closed(conn, park_id, HOUR, last_hour):
            continue
        on_record = {(k.point_id, k.parameter_id) for k in repo.hour_keys(conn, park_id, d0, d1)}
        judge_days(conn, pts, keys | on_record, flow_points, d0, d1, settings)
        repo.mark_closed(conn, park_id, DAY, d0)
        done.append((d0, d1))
    store_months(conn, pts, keys, flow_points, [d0 for d0, _d1 in done], settings)
    return done


def judge_days(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    keys: Collection[Key],
    flow_points: Collection[int],
    d0: datetime,
    d1: datetime,
    settings: RuleSettings,
) -> None:
    """Judge and store one closed day of these series from their stored hours; the discharged mass of a
    pollutant from its point's flow hours (``flow_points``: the points that measure flow)."""
    pids = sorted({pid for pid, _q in keys if pid in pts})
    hours = repo.parts_of(conn, pids, HOUR, d0, d1)
    totals = windows.totals_of(conn, pids, d0, d1)
    limits = repo.limits_at(conn, pids, d0)
    items: list[windows.Judged] = []
    for pid, qid in sorted(keys):
        pt = pts.get(pid)
        if pt is None:
            continue
        code = BY_ID[qid].code
        flow_hours = None
        if pid in flow_points and validity.has_mass(code):
            flow = hours.get((pid, FLOW), [])
            flow_hours = {h.start: h.volume_m3 for h in flow if h.volume_m3 is not None}
        rule = validity.rule_for(settings, code)
        res = validity.day_record(
            hours.get((pid, qid), []), d0, d1, pt.interval_s, rule, code, flow_hours, totals.get((pid, qid))
        )
        items.append(windows.judged(pt, qid, res, limits.get((pid, qid))))
    windows.store_all_and_alert(conn, DAY, d0, items, settings)
    for it in items:  # discharge held just under the limit, from the day's stored hourly verdicts
        if it.limit is not None and it.limit.upper is not None and it.limit.lower is None:
            hours_of = repo.hour_windows(conn, it.point.id, it.parameter_id, d0, d1)
            windows.judge_near_limit(conn, it.point, it.parameter_id, it.result, hours_of, settings)


def store_months(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    keys: Collection[Key],
    flow_points: Collection[int],
    day_starts: Iterable[datetime],
    settings: RuleSettings,
) -> None:
    """Store the park-local months of these days for these series, from their days closed so far."""
    if not pts:
        return
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    months = {rules.local_month_bounds(rules.local_day_of(d, tz), tz) for d in day_starts}
    pids = sorted({pid for pid, _q in keys if pid in pts})
    for m0, m1, n_days in sorted(months):
        days = repo.parts_of(conn, pids, DAY, m0, m1)
        rows = []
        for pid, qid in sorted(keys):
            if pid not in pts:
                continue
            code = BY_ID[qid].code
            rule = validity.rule_for(settings, code)
            flow_days = None
            if pid in flow_points and rule.mean == "flow_weighted" and validity.has_mass(code):
                flow_days = {d.start: d.volume_m3 for d in days.get((pid, FLOW), []) if d.volume_m3}
            found = days.get((pid, qid), [])
            rows.append((pid, qid, validity.month_record(found, m0, m1, n_days, rule, code, flow_days)))
        repo.store_windows(conn, MONTH, [(p, q, w, NOT_JUDGED, None) for p, q, w in rows])


# --- re-judging -------------------------------------------------------------------------------------
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
    rejudge(conn, pts, hours, settings)


def rejudge_period(
    conn: psycopg.Connection, point_id: int, start: datetime, end: datetime, settings: RuleSettings
) -> int:
    """Re-judge every closed hour of a point in [start, end) that is on record or has readings, from its
    stored readings, then their days and months, and queue the park rules and reports of those days.
    Call it in the transaction that makes the change whenever which of a point's readings count
    changes (a data mark set, accepted or rejected). Returns the number of hours re-judged."""
    pts = repo.points(conn, ids=[point_id])
    if point_id not in pts:
        return 0
    tz = pts[point_id].timezone
    first = rules.local_hour_bounds(start, ZoneInfo(tz))[0]
    hours = set(repo.hours_on_record(conn, point_id, first, end))
    hours |= set(repo.reading_hours(conn, point_id, tz, first, end))
    return rejudge(conn, pts, {(point_id, q, t) for q, t in hours}, settings)


def rejudge(
    conn: psycopg.Connection,
    pts: dict[int, repo.PointRow],
    hours: set[tuple[int, int, datetime]],
    settings: RuleSettings,
) -> int:
    """Re-judge these closed hours (point, parameter, hour start), then the closed days they are in and
    those days' months; returns the number of hours re-judged."""
    closed: dict[tuple[str, str, datetime], bool] = {}  # one lookup per park and window, not per key

    def is_closed(park_id: str, span: str, start: datetime) -> bool:
        key = (park_id, span, start)
        if key not in closed:
            closed[key] = repo.is_closed(conn, park_id, span, start)
        return closed[key]

    params = {pid: repo.point_parameters(conn, pid) for pid in {k[0] for k in hours}}
    if settings.zero_flow_invalid:  # flow decides which values of the other parameters count
        hours |= {(p, q, t) for p, qid, t in hours if qid == FLOW for q in params[p]}
    days: dict[tuple[str, datetime, datetime], set[Key]] = defaultdict(set)
    judged = 0
    for pid, qid, start in sorted(hours):
        pt = pts[pid]
        if not is_closed(pt.park_id, HOUR, start):
            continue  # the scheduled close will judge it with everything in it
        windows.judge_hour(conn, pt, qid, start, settings)
        judged += 1
        tz = ZoneInfo(pt.timezone)
        d0, d1 = rules.local_day_bounds(rules.local_day_of(start, tz), tz)
        if is_closed(pt.park_id, DAY, d0):
            # a day's flow makes the discharged mass of every pollutant of its point
            days[(pt.park_id, d0, d1)] |= {(pid, q) for q in params[pid]} if qid == FLOW else {(pid, qid)}
    flow_points = {pid for pid, ps in params.items() if FLOW in ps}
    for (park_id, d0, d1), keys in sorted(days.items()):
        mine = {pid: pt for pid, pt in pts.items() if pt.park_id == park_id}
        judge_days(conn, mine, keys, flow_points, d0, d1, settings)
        store_months(conn, mine, keys, flow_points, [d0], settings)
        # the park rules (reuse ratio, mass balance) and the daily report of the day change too: the
        # close_windows job makes them again (it owns the park rules; queued, so no import of jobs here)
        repo.queue_park_day(conn, park_id, d0, d1)
    return judged
