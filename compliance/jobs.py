"""The scheduled jobs, as an explicit table. Each job is a function of (connection, context, now,
park) that runs in one transaction owned by the caller (the scheduler or `outfall compliance run`).
Every job is idempotent and catches up after a restart: closing uses the compliance_closed table, the
sweeps look at the current state, notification delivery works off the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg.types.range import Range

from compliance import (
    alerts,
    changes,
    days,
    history,
    limits,
    marks,
    notify,
    repo,
    routing,
    rules,
    storage,
    windows,
)
from compliance.models import (
    MASS_BALANCE,
    OFFLINE,
    RATE_OF_CHANGE,
    REUSE_RATIO,
    WHOLE_POINT,
    AlertState,
    AuditEntry,
)
from compliance.settings import RobotSettings, RuleSettings, RuntimeSettings, SmtpSettings, WebhookSettings
from ingest.core import parameters, reads
from ingest.core import repo as ingest_repo
from ingest.core.secrets import SecretSettings
from ingest.core.settings import HistorySettings, IntakeSettings, SM4RotationSettings
from ingest.hj212 import rotation

log = logging.getLogger(__name__)
FLOW = parameters.BY_CODE["flow"].id


@dataclass(frozen=True)
class Context:
    rules: RuleSettings
    runtime: RuntimeSettings
    webhook: WebhookSettings
    smtp: SmtpSettings
    intake: IntakeSettings = field(default_factory=IntakeSettings)  # dead-letter retention
    store: SecretSettings = field(default_factory=SecretSettings)  # opens receivers' sealed secrets
    history: HistorySettings = field(default_factory=HistorySettings)  # compaction and retention
    sm4: SM4RotationSettings = field(default_factory=SM4RotationSettings)  # HJ 212-2025 key rotation
    robots: RobotSettings = field(default_factory=RobotSettings)  # chat robots' rate limits


JobFn = Callable[[psycopg.Connection, Context, datetime, str | None], str]


@dataclass(frozen=True)
class Job:
    name: str
    trigger: str  # "interval" or "cron"
    schedule: dict[str, int | str]  # APScheduler trigger arguments
    description: str
    fn: JobFn
    # False: ``run`` wraps ``fn`` in one transaction. True: ``fn`` gets an autocommit connection and
    # opens its own short transactions (a job that waits on the network between database steps).
    owns_transactions: bool = False


def refresh_limits(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Resolve every point's limits (standards + permits) into compliance_limits; sync maintenance
    windows declared in the park files (one the bounds refuse is logged and left out: it never stops
    the limits of the other parks)."""
    return _refresh_limits(conn, ctx, park, strict=False)


def resolve_loaded_park(conn: psycopg.Connection, ctx: Context, park: str) -> str:
    """The limits and maintenance windows of a park file just loaded (`outfall park load`). Raises
    ValueError when the bounds refuse one of its maintenance windows: the load fails, nothing stored."""
    return _refresh_limits(conn, ctx, park, strict=True)


def _refresh_limits(conn: psycopg.Connection, ctx: Context, park: str | None, strict: bool) -> str:
    count = 0
    for spec, ids in repo.park_specs(conn, park):
        rows: list[tuple[object, ...]] = []
        for plant, point, res in limits.resolve_park(spec):
            pid, qid = ids[f"{plant.id}/{point.id}"], parameters.BY_CODE[res.parameter].id
            for seg in res.segments:
                lim = seg.limit
                watch_upper = None
                if lim.upper is not None:
                    two_sided = lim.lower is not None or lim.not_detected or lim.upper <= 0
                    watch_upper = lim.upper if two_sided else ctx.rules.warn_fraction * lim.upper
                    if lim.upper <= 0:
                        watch_upper = lim.upper + 1e-12  # any detection of a not-detected substance
                rng = Range(seg.valid_from, seg.valid_to, "[)")
                rows.append(
                    (
                        pid,
                        qid,
                        rng,
                        lim.upper,
                        lim.lower,
                        watch_upper,
                        lim.lower,
                        lim.not_detected,
                        lim.confirmed,
                        lim.source,
                    )
                )
        repo.replace_limits(conn, spec.id, rows)
        refused = repo.sync_park_maintenance(conn, spec.id, _maintenance_rows(spec.config, ids))
        for (plant_id, _point, start, end, _reason), why in refused:
            span = f"{start.isoformat()}/{end.isoformat()}"
            problem = f"park {spec.id}: maintenance window {plant_id} {span}: {why}"
            if strict:
                raise ValueError(problem)
            log.warning("%s (left out)", problem)
        count += len(rows)
    return f"{count} limit periods"


def _maintenance_rows(
    config: dict[str, object], ids: dict[str, int]
) -> list[tuple[str, int | None, datetime, datetime, str]]:
    entries = config.get("maintenance") or []
    out = []
    for e in entries if isinstance(entries, list) else []:
        start, end = datetime.fromisoformat(str(e["from"])), datetime.fromisoformat(str(e["to"]))
        point = ids.get(f"{e['plant']}/{e['point']}") if e.get("point") else None
        out.append((str(e["plant"]), point, start, end, str(e.get("reason", "declared in the park file"))))
    return out


def _alive(conn: psycopg.Connection, point_ids: list[int], since: datetime) -> dict[int, datetime]:
    """When each point was last heard of: its latest reading, or a later HJ 212-2025 heartbeat (CN 9015,
    ingest's ``logger_heartbeats``), since a logger with nothing to report is still online."""
    seen = repo.last_seen(conn, point_ids, since)
    for beat in reads.logger_beats(point_ids, since).fetch(conn):
        if beat.point_id not in seen or beat.last_beat > seen[beat.point_id]:
            seen[beat.point_id] = beat.last_beat
    return seen


def offline_sweep(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    pts = repo.points(conn, park_id=park)
    seen = _alive(conn, list(pts), now - timedelta(days=2))
    active = repo.active_alerts(conn, list(pts), [OFFLINE])
    marked = repo.mark_spans(conn, list(pts), now, now)
    opened = 0
    for pid, pt in pts.items():
        current = active.get((OFFLINE, pid, WHOLE_POINT))
        down = rules.is_offline(now, seen.get(pid), pt.interval_s, ctx.rules.offline_k)
        if down and marks.excluded(now, marked.get(pid, [])) is not None:
            continue  # a data mark in effect (a maintenance window, a stop) explains the silence
        last = seen.get(pid)
        change = alerts.step_condition(current, OFFLINE, down, now, None, "violation", "data returned")
        if current is not None and down:
            continue  # still offline: nothing new to record
        meta = repo.AlertMeta(
            pt.park_id,
            pt.plant_id,
            pid,
            WHOLE_POINT,
            "status",
            detail={"last_seen": last.isoformat() if last else None},
        )
        if changes.write_change(conn, meta, OFFLINE, change) and change.action == "open":
            opened += 1
    return f"{len(pts)} points, {opened} went offline"


def data_quality(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Gaps and flat runs in data time, over what ingest queued since the last run (history.py);
    rate of change over the last 15 minutes of valid values."""
    s = ctx.rules
    gaps, flats = history.scan(conn, s, park)
    start = now - timedelta(minutes=15)
    found = 0
    for park_id in [park] if park else list(repo.parks_loaded_at(conn)):
        pts = repo.points(conn, park_id=park_id)
        series: dict[tuple[int, int], list[tuple[datetime, float]]] = {}
        marked = repo.mark_spans(conn, list(pts), start, now)
        for r in repo.park_series(conn, park_id, start, now):
            if (
                rules.is_valid(r.flag)
                and r.point_id in pts
                and not marks.excluded(r.time, marked.get(r.point_id, []))
            ):
                series.setdefault((r.point_id, r.parameter_id), []).append((r.time, r.value))
        active = repo.active_alerts(conn, list(pts), [RATE_OF_CHANGE])
        for (pid, qid), values in series.items():
            pt = pts[pid]
            lim = repo.limit_at(conn, pid, qid, now)
            if lim is None or lim.upper is None or lim.upper <= 0:
                continue
            span = (lim.upper - lim.lower) if lim.lower is not None else lim.upper
            jump = rules.rate_of_change(values, s.rate_max_step_fraction * span, 3 * pt.interval_s)
            found += _condition(
                conn, active, pt, qid, RATE_OF_CHANGE, jump is not None, now, jump[1] if jump else None
            )
    return f"{gaps} offline gaps and {flats} flat runs in data time, {found} rate-of-change alerts opened"


def _condition(
    conn: psycopg.Connection,
    active: dict[tuple[str, int, int], AlertState],
    pt: repo.PointRow,
    qid: int,
    kind: str,
    hit: bool,
    now: datetime,
    value: float | None,
) -> int:
    current = active.get((kind, pt.id, qid))
    if hit and current is not None:
        return 0  # still going: one alert, no repeated growth per sweep
    change = alerts.step_condition(current, kind, hit, now, value, "warning", "pattern gone")
    changes.write_change(conn, repo.AlertMeta(pt.park_id, pt.plant_id, pt.id, qid, "status"), kind, change)
    return 1 if change.action == "open" else 0


def close_windows(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Close park-local hours and days; on each closed day run the park rules and the daily report."""
    hours = closed_days = 0
    for park_id in [park] if park else list(repo.parks_loaded_at(conn)):
        hours += windows.close_hours(conn, park_id, now, ctx.rules)
        for d0, d1 in days.close_days(conn, park_id, now, ctx.rules):
            closed_days += 1
            park_day(conn, ctx, park_id, d0, d1)
    # closed days whose windows were re-judged (days.rejudge): park rules and report again
    redone = repo.take_park_days(conn, park)
    for day in sorted(redone, key=lambda d: (d.park_id, d.day_start)):
        park_day(conn, ctx, day.park_id, day.day_start, day.day_end)
    return f"{hours} hours, {closed_days} days closed, {len(redone)} days re-judged after late data"


def park_day(conn: psycopg.Connection, ctx: Context, park_id: str, d0: datetime, d1: datetime) -> None:
    """Reuse ratio and mass balance for one closed day, then the daily report."""
    specs = repo.park_specs(conn, park_id)
    config = specs[0][0].config if specs else {}
    vols = _day_volumes(conn, park_id, d0, d1)
    pts = repo.points(conn, park_id=park_id)
    report: dict[str, object] = {"day_start": d0.isoformat()}
    reuse, outlet = vols.get("reuse_outlet", []), vols.get("central_outlet", [])
    ratio = rules.park_reuse_ratio([v for _p, v in reuse], [v for _p, v in outlet])
    if ratio is not None:
        target = float(config.get("reuse_target", ctx.rules.reuse_target))  # type: ignore[arg-type]
        report["reuse_ratio"], report["reuse_target"] = ratio, target
        _park_alert(conn, pts[reuse[0][0]], REUSE_RATIO, ratio < target, d0, ratio, target)
    plants, inlet = vols.get("total_outlet", []), vols.get("central_inlet", [])
    if plants and inlet and all(v is not None for _p, v in plants + inlet):
        gap = rules.mass_balance_gap(sum(v or 0 for _p, v in plants), sum(v or 0 for _p, v in inlet))
        tol = float(config.get("mass_balance_tolerance", ctx.rules.mass_balance_tolerance))  # type: ignore[arg-type]
        report["mass_balance_gap"] = gap
        if gap is not None:
            _park_alert(conn, pts[inlet[0][0]], MASS_BALANCE, abs(gap) > tol, d0, gap, tol)
    report["windows"] = [
        [w.span, w.verdict, str(w.count)] for w in repo.windows_of_day(conn, park_id, d0, d1)
    ]
    tz = ZoneInfo(specs[0][0].timezone) if specs else UTC
    repo.save_report(conn, park_id, rules.local_day_of(d0, tz), report)  # type: ignore[arg-type]


def _day_volumes(
    conn: psycopg.Connection, park_id: str, d0: datetime, d1: datetime
) -> dict[str, list[tuple[int, float | None]]]:
    """Each point's volume over the closed day by point kind (None where the day's flow is not known)."""
    seconds = (d1 - d0).total_seconds()
    vols: dict[str, list[tuple[int, float | None]]] = {}
    for f in repo.day_flows(conn, park_id, d0, FLOW):
        volume = rules.volume_m3(f.mean, seconds) if f.sufficient and f.mean is not None else None
        vols.setdefault(f.kind, []).append((f.point_id, volume))
    return vols


def _park_alert(
    conn: psycopg.Connection, pt: repo.PointRow, kind: str, hit: bool, t: datetime, value: float, limit: float
) -> None:
    current = repo.active_alerts(conn, [pt.id], [kind]).get((kind, pt.id, FLOW))
    sev = "violation" if kind == REUSE_RATIO else "warning"
    change = alerts.step_condition(current, kind, hit, t, value, sev, "daily figure back within target")  # type: ignore[arg-type]
    meta = repo.AlertMeta(pt.park_id, pt.plant_id, pt.id, FLOW, "day", None, limit)
    changes.write_change(conn, meta, kind, change)


def escalate(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Unacknowledged violations escalate; open critical alerts are notified again (repeat)."""
    overdue = repo.overdue_alerts(conn, now - timedelta(seconds=ctx.rules.escalate_after_s))
    for o in overdue:
        repo.mark_escalated(conn, o.id, o.escalation + 1, now)
        note = f"not acknowledged in time: escalation level {o.escalation + 1}"
        repo.append_audit(conn, o.id, AuditEntry("escalate", changes.ENGINE, "open", "open", note))
        repo.enqueue_notification(conn, o.id, "escalated")
    repeats = repo.critical_to_repeat(conn, now - timedelta(seconds=ctx.rules.critical_repeat_s))
    for alert_id in repeats:
        repo.enqueue_notification(conn, alert_id, "repeat")
    return f"{len(overdue)} escalated, {len(repeats)} repeated"


def refer_abnormal(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Abnormal-data alerts still unexplained past the setting go before officers (routing.py)."""
    after = timedelta(seconds=ctx.rules.abnormal_refer_after_s)
    referred = 0
    for a in repo.operator_only(conn, now - after, park):
        if routing.referral_due(a.created_at, a.explanation, a.officer_visible_at, now, after):
            referred += changes.refer(conn, a.id, a.state, routing.UNEXPLAINED)
    return f"{referred} abnormal-data alerts referred to officers"


def deliver(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Owns its transactions: group, claim, send with none open, record each outcome."""
    t = notify.deliver(conn, now, ctx.runtime.notify_group_s, ctx.webhook, ctx.smtp, ctx.store, ctx.robots)
    repo.prune_robot_sends(conn, now - timedelta(hours=1))  # longer than any robot's rate window
    return f"{t.grouped} messages grouped, {t.sent} sent, {t.failed} failed"


def dead_letter_retention(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Delete dead letters whose last item is older than the retention. The table is ingest's (its
    owner's function does the delete); the leader runs it because it is the one process that always
    runs exactly once and whose jobs /healthz watches."""
    cutoff = now - timedelta(days=ctx.intake.dead_letter_retention_days)
    return f"{ingest_repo.prune_dead_letters(conn, cutoff)} dead letters deleted"


def sm4_rotation(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """HJ 212-2025: start the SM4 key rotations that are due (a pending key and its CN 1014 in the
    command queue; the gateway sends it and settles the rotation on the logger's answer). The tables
    are ingest's (``ingest/hj212/rotation.py`` writes them); the leader runs it because the schedule
    must run exactly once, as ``dead_letter_retention`` does."""
    started = rotation.run_due(conn, ctx.sm4, now, park)
    return f"{len(started)} key rotations started"


def raw_message_retention(conn: psycopg.Connection, ctx: Context, now: datetime, park: str | None) -> str:
    """Drop the raw messages (ingest's table, by its owner's function) whose data time is older than
    the retention, whole chunks at a time; run by the leader like ``dead_letter_retention``."""
    cutoff = now - timedelta(days=ctx.intake.raw_message_retention_days)
    return f"{ingest_repo.drop_raw_messages(conn, cutoff)} chunks of raw messages dropped"


JOBS: tuple[Job, ...] = (
    Job(
        "refresh_limits",
        "interval",
        {"seconds": 60},
        "resolve limits and maintenance from the park files",
        refresh_limits,
    ),
    Job(
        "close_windows",
        "cron",
        {"minute": "*", "second": 30},
        "close park-local hours/days; reuse ratio, mass balance, daily report",
        close_windows,
    ),
    Job(
        "offline_sweep",
        "interval",
        {"seconds": 30},
        "offline points (no data for k x interval)",
        offline_sweep,
    ),
    Job(
        "data_quality",
        "interval",
        {"seconds": 30},
        "offline gaps and flat runs in data time (span queue); rate of change",
        data_quality,
    ),
    Job(
        "escalate",
        "interval",
        {"minutes": 1},
        "escalate unacknowledged violations; repeat criticals",
        escalate,
    ),
    Job(
        "refer_abnormal",
        "interval",
        {"seconds": 30},
        "refer abnormal-data alerts unexplained past the setting to officers",
        refer_abnormal,
    ),
    Job(
        "deliver",
        "interval",
        {"seconds": 5},
        "group the outbox per plant and deliver webhooks, e-mail and chat robots",
        deliver,
        owns_transactions=True,
    ),
    Job(
        "compact_readings",
        "interval",
        {"minutes": 60},
        "compact readings older than OUTFALL_HISTORY_COMPACT_AFTER_DAYS (archive, or the licensed"
        " build's compression policy); merge late readings into their archived days",
        storage.compact_readings,
        owns_transactions=True,
    ),
    Job(
        "retention",
        "cron",
        {"hour": 3, "minute": 17},
        "delete history past its period (OUTFALL_HISTORY_*): archived readings of closed days, logger"
        " statistics, event-stream rows, delivered notifications",
        storage.retention,
    ),
    Job(
        "dead_letter_retention",
        "interval",
        {"minutes": 60},
        "delete dead letters older than OUTFALL_INGEST_DEAD_LETTER_RETENTION_DAYS",
        dead_letter_retention,
    ),
    Job(
        "sm4_rotation",
        "interval",
        {"minutes": 10},
        "HJ 212-2025: rotate SM4 keys older than OUTFALL_HJ212_SM4_ROTATE_DAYS through CN 1014",
        sm4_rotation,
    ),
    Job(
        "raw_message_retention",
        "interval",
        {"minutes": 60},
        "drop raw messages older than OUTFALL_INGEST_RAW_MESSAGE_RETENTION_DAYS (5 years)",
        raw_message_retention,
    ),
)
BY_NAME = {j.name: j for j in JOBS}


def trigger_of(job: Job, runtime: RuntimeSettings) -> str:
    """The job's trigger: a job given a period (``job_periods``) runs on that interval, a cron job too
    (the end-to-end tests close windows every few seconds instead of each minute)."""
    return "interval" if job.name in runtime.job_periods else job.trigger


def schedule_of(job: Job, runtime: RuntimeSettings) -> dict[str, int | str | float]:
    """The job's trigger arguments; its period may be set (``job_periods``)."""
    period = runtime.job_periods.get(job.name)
    if period is not None:
        return {"seconds": period}
    return dict(job.schedule)


def period_s(job: Job, runtime: RuntimeSettings) -> float:
    """How often the job runs, in seconds (cron jobs: their longest gap), for health checks."""
    sched = schedule_of(job, runtime)
    if trigger_of(job, runtime) == "interval":
        return float(sched.get("seconds", 0)) + 60 * float(sched.get("minutes", 0))
    return 86_400.0 if "hour" in sched else 60.0


def run(conninfo: str, ctx: Context, name: str, now: datetime | None = None, park: str | None = None) -> str:
    """Run one job in its own transaction (or, for a job that owns its transactions, with none open)
    and record the run."""
    job = BY_NAME[name]
    when = now or datetime.now(UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            repo.job_started(conn, name, when)
        try:
            if job.owns_transactions:
                detail = job.fn(conn, ctx, when, park)
            else:
                with conn.transaction():
                    detail = job.fn(conn, ctx, when, park)
        except Exception as exc:
            with conn.transaction():
                repo.job_finished(conn, name, False, f"{type(exc).__name__}: {exc}")
            raise
        with conn.transaction():
            repo.job_finished(conn, name, True, detail)
    return detail
