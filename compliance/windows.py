"""The legal record's hours on the park-local calendar: closing them on schedule and storing each with
what it stands on (compliance_windows; the rules are validity.py's), and alerting on hourly and daily
means over their limits (``store_and_alert``). Days and months, and re-judging closed windows, are
days.py's."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg

from compliance import alerts, changes, marks, repo, rules, validity
from compliance.models import (
    DAILY_MEAN,
    HOURLY_MEAN,
    NEAR_LIMIT,
    AlertChange,
    AlertState,
    Limit,
    MarkSpan,
    WindowResult,
)
from compliance.settings import RuleSettings
from ingest.core import reads
from ingest.core.parameters import BY_CODE, BY_ID

HOUR, DAY = "hour", "day"
FLOW = BY_CODE["flow"].id


def _verdict(res: WindowResult, limit: Limit | None) -> str:
    if limit is None or limit.upper is None or limit.lower is not None:
        return "no_limit"  # pH ranges are judged per value; a mean pH says little
    if not res.sufficient or res.mean is None:
        return "insufficient"
    return "exceeded" if res.mean > limit.upper else "ok"


@dataclass(frozen=True)
class Judged:
    """A window of a series with its verdict against the limit in force at its start."""

    point: repo.PointRow
    parameter_id: int
    result: WindowResult
    limit: Limit | None
    verdict: str


def judged(pt: repo.PointRow, qid: int, res: WindowResult, found: repo.LimitRow | None) -> Judged:
    """Pure: a window's verdict against ``found``, the limit in force at its start."""
    limit = (
        Limit(found.upper, found.lower, BY_ID[qid].unit, found.source, None, True, found.not_detected)
        if found
        else None
    )
    return Judged(pt, qid, res, limit, _verdict(res, limit))


def store_and_alert(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    span: str,
    res: WindowResult,
    settings: RuleSettings,
    found: repo.LimitRow | None,
) -> None:
    """Store a judged hour or day with its verdict against ``found`` (the limit in force at its start),
    and open, update or resolve its mean alert when the verdict changed."""
    j = judged(pt, qid, res, found)
    upper = j.limit.upper if j.limit else None
    previous = repo.upsert_window(conn, pt.id, qid, span, res, j.verdict, upper)
    alert_on(conn, j, span, previous, settings)


def store_all_and_alert(
    conn: psycopg.Connection, span: str, start: datetime, items: Sequence[Judged], settings: RuleSettings
) -> None:
    """``store_and_alert`` for many series' windows of one span and start, in one batch."""
    pids = sorted({j.point.id for j in items})
    previous = repo.verdicts(conn, pids, span, start)
    repo.store_windows(
        conn,
        span,
        [
            (j.point.id, j.parameter_id, j.result, j.verdict, j.limit.upper if j.limit else None)
            for j in items
        ],
    )
    for j in items:
        alert_on(conn, j, span, previous.get((j.point.id, j.parameter_id)), settings)


def alert_on(
    conn: psycopg.Connection, j: Judged, span: str, previous: str | None, settings: RuleSettings
) -> None:
    """Open, update or resolve a window's mean alert when its verdict changed from ``previous``."""
    limit, verdict, res, pt, qid = j.limit, j.verdict, j.result, j.point, j.parameter_id
    if previous == verdict or limit is None or limit.upper is None or verdict not in ("exceeded", "ok"):
        return  # (window_change makes nothing of another verdict)
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
    marks: Sequence[MarkSpan] = ()  # the data marks in effect at its point


def judge_hour(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    start: datetime,
    settings: RuleSettings,
    data: HourData | None = None,
    found: repo.LimitRow | None = None,
    limit_known: bool = False,
) -> None:
    """Judge and store one closed hour of a series (what it is judged on, and its limit, are read unless
    given). Data the marks in effect make invalid is left out (``marks.judged``), so a marked hour may
    have too few valid values to judge."""
    end = start + timedelta(hours=1)
    code = BY_ID[qid].code
    rule = validity.rule_for(settings, code)
    if data is None:
        zero = _zero_flow(conn, pt.id, start, end) if rule.zero_flow_invalid and qid != FLOW else set()
        cou = totals_of(conn, [pt.id], start, end).get((pt.id, qid))
        spans = repo.mark_spans(conn, [pt.id], start, end).get(pt.id, [])
        data = HourData(repo.series(conn, pt.id, qid, start, end), zero, cou, spans)
    values = marks.judged([(s.time, s.value, s.flag) for s in data.samples], data.marks)
    res = validity.hour_record(values, start, end, pt.interval_s, rule, code, data.zero_flow)
    if not limit_known:
        found = repo.limit_at(conn, pt.id, qid, start)
    store_and_alert(conn, pt, qid, HOUR, replace(res, cou=data.cou), settings, found)


def _zero_flow(conn: psycopg.Connection, point_id: int, start: datetime, end: datetime) -> set[datetime]:
    return {s.time for s in repo.series(conn, point_id, FLOW, start, end) if stopped(s.value, s.flag)}


def judged_hours(hours: Iterable[repo.HourMean]) -> list[tuple[float, float]]:
    """(valid mean, upper limit) of the hours whose sufficient mean was judged against an upper limit."""
    return [
        (h.mean, h.limit_upper)
        for h in hours
        if h.verdict in ("ok", "exceeded") and h.mean is not None and h.limit_upper is not None
    ]


def judge_near_limit(
    conn: psycopg.Connection,
    pt: repo.PointRow,
    qid: int,
    res: WindowResult,
    hours: Sequence[repo.HourMean],
    settings: RuleSettings,
) -> None:
    """Discharge held just under the limit (贴限排放) over the closed day, from its hourly valid means."""
    judged = judged_hours(hours)
    s = settings
    day = rules.near_limit_day(judged, s.near_limit_fraction, s.near_limit_share, s.near_limit_min_hours)
    current = repo.active_alerts(conn, [pt.id], [NEAR_LIMIT]).get((NEAR_LIMIT, pt.id, qid))
    change = near_limit_change(current, res.start, day.held, res.mean)
    if change is None:
        return
    detail: dict[str, object] = {"day_start": res.start.isoformat(), "hours_near": day.near}
    detail |= {"hours_judged": day.judged, "fraction": s.near_limit_fraction, "share": s.near_limit_share}
    upper = judged[-1][1] if judged else None
    meta = repo.AlertMeta(pt.park_id, pt.plant_id, pt.id, qid, DAY, BY_ID[qid].unit, upper, detail=detail)
    changes.write_change(conn, meta, NEAR_LIMIT, change)


def near_limit_change(
    current: AlertState | None, day_start: datetime, held: bool, mean: float | None
) -> AlertChange | None:
    """Pure: the change a day's near-limit verdict makes. A held day opens the alert or adds itself to
    it (once: a re-judged day already in it changes nothing); a day not held ends it when it is the
    newest day the alert knows of."""
    if held:
        if current is not None and current.first_time <= day_start <= current.last_time:
            return None
        return alerts.step_condition(current, NEAR_LIMIT, True, day_start, mean, "warning")
    if current is None or day_start < current.last_time:
        return None
    note = "a later day was not held near the limit" if day_start > current.last_time else "re-judged"
    return alerts.step_condition(current, NEAR_LIMIT, False, day_start, mean, "warning", note)


def stopped(value: float, flag: str) -> bool:
    return value == 0 and rules.is_valid(flag)


def totals_of(
    conn: psycopg.Connection, point_ids: Sequence[int], start: datetime, end: datetime
) -> dict[tuple[int, int], float]:
    """The loggers' HJ 212 Cou totals over [start, end) (ingest's logger_statistics)."""
    rows = reads.logger_totals(point_ids, start, end).fetch(conn)
    return {(r.point_id, r.parameter_id): r.cou for r in rows}


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
    repo.lock_closing(conn)  # late data for these hours waits until they are stored (see the lock)
    repo.share_marks(conn)  # the marks read below stay as they are until the hours are stored
    tz = ZoneInfo(next(iter(pts.values())).timezone)
    horizon = now - timedelta(seconds=settings.late_grace_s)
    start = rules.local_hour_bounds(now - lookback, tz)[0]
    done = repo.closed_since(conn, park_id, HOUR, start)
    closed = 0
    while start + timedelta(hours=1) <= horizon:
        if start not in done:
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
    at_zero: dict[int, set[datetime]] = defaultdict(set)
    for r in repo.park_series(conn, park_id, start, end):
        by_key[(r.point_id, r.parameter_id)].append(repo.Sample(r.time, r.value, r.flag))
        if r.parameter_id == FLOW and stopped(r.value, r.flag):
            at_zero[r.point_id].add(r.time)
    if not by_key:
        return
    totals = totals_of(conn, list(pts), start, end)
    limits = repo.limits_at(conn, list(pts), start)
    marked = repo.mark_spans(conn, list(pts), start, end)
    for (pid, qid), rows in by_key.items():
        if pid in pts:
            data = HourData(rows, at_zero[pid], totals.get((pid, qid)), marked.get(pid, []))
            judge_hour(conn, pts[pid], qid, start, settings, data, limits.get((pid, qid)), True)
