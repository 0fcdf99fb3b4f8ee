"""One file per plant (一企一档): ``GET /parks/{park}/plants/{plant}/file`` gathers, through the named
reads of each piece's owner, what an officer's file on a plant holds: the plant and its permits, its
points with the limits in force and their sources, its loggers, data marks, incidents, KPIs by month
and links to its reports. api/plantfile.py shapes the rows; nothing here queries a table itself."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from psycopg import AsyncConnection

from api import plantfile as pf
from api import record
from api.auth import Principal
from api.deps import ERRORS, Caller, Id, not_found, pool, require_plant, rule_settings
from api.models import LoggerQuirk, MarkView, public_alert
from compliance import rules
from compliance.models import ACTIVE_STATES
from compliance.repo import legal, periods
from compliance.repo import marks as mark_reads
from compliance.repo import reads as compliance_reads
from compliance.repo.reads import AlertFilter, AlertRecord
from ingest.core import parameters, secrets
from ingest.core import reads as ingest_reads
from ingest.hj212 import keys
from ingest.hj212 import repo as hj212_repo
from ingest.hj212.codec import QUIRKS

v1 = APIRouter(prefix="/api/v1", tags=["plant file"], responses=ERRORS)

CLOCK_WINDOW = timedelta(hours=1)  # the messages a logger's clock drift is derived from
CLOCK_MESSAGES = 120  # at most, per logger (the newest)
HOT = timedelta(days=2)  # readings newer than this are in the hot table (ingest/core/reads.py)
FAR = timedelta(days=3650)  # limit periods starting up to this far ahead are listed
MAX_MARKS, MAX_RECENT, MAX_OPEN = 500, 500, 1000
Months = Annotated[
    int,
    Query(ge=1, le=pf.MONTHS_MAX, description="park-local months covered, the current one included"),
]


@v1.get("/parks/{park}/plants/{plant}/file", response_model=pf.PlantFile)
async def plant_file(
    request: Request, caller: Caller, park: Id, plant: Id, months: Months = pf.MONTHS_DEFAULT
) -> pf.PlantFile:
    """The plant's file (一企一档) over the last `months` park-local months: the plant (names, kind,
    industry, discharge modes) and its permit entries; each point with its kind, MN, interval and
    parameters, the limits compliance resolved for them with their sources (standard and table, or
    permit with its number) and periods; each point's data logger: HJ 212 edition configured and seen,
    quirks, last seen, clock drift (derived from its messages' QN or data time against their receipt),
    SM4 key generation (never a key); data marks; open and recent incidents (alerts) with their
    outcome; KPIs by month from the legal record; links to the daily and monthly reports. Scope as the
    other plant endpoints: an operator sees only their own plant, an officer the alerts compliance put
    before officers."""
    require_plant(caller, park, plant)
    now = datetime.now(UTC)
    async with pool(request).connection() as conn:
        found = await ingest_reads.parks(park, None).first_async(conn)
        plant_row = await ingest_reads.plants(park, plant).first_async(conn)
        if found is None or plant_row is None:
            raise not_found(f"plant {park}/{plant}")
        tz = ZoneInfo(found.timezone)
        firsts = pf.month_starts(now, tz, months)
        since = rules.local_month_bounds(firsts[0], tz)[0]
        pts = await ingest_reads.points(park, plant).fetch_async(conn)
        points = await _points(conn, found, pts, since, now)
        marks = await mark_reads.marks_in_scope(
            mark_reads.MarkFilter(park, plant, start=since), MAX_MARKS + 1
        ).fetch_async(conn)
        incidents = await _incidents(conn, caller, park, plant, since)
        kpis = await _months(conn, park, plant, firsts, tz, rule_settings(request).kpi_target)
    modes = sorted({p.discharge_mode for p in pts if p.active})
    zh, en = pf.names(plant_row.name)
    base = f"/api/v1/parks/{park}/plants/{plant}/reports"
    return pf.PlantFile(
        park=pf.ParkInfo(id=found.id, name=found.name, timezone=found.timezone, industry=found.industry),
        plant=pf.PlantInfo(
            id=plant,
            name=plant_row.name,
            name_zh=zh,
            name_en=en,
            kind=plant_row.kind,
            industry=found.industry,
            discharge_modes=modes,
        ),
        as_of=now,
        since=since,
        months=months,
        permits=pf.permit_entries(found.config, plant),
        points=points,
        marks=[MarkView.model_validate(m, from_attributes=True) for m in marks[:MAX_MARKS]],
        marks_truncated=len(marks) > MAX_MARKS,
        incidents=incidents,
        kpis=kpis,
        reports=pf.ReportLinks(daily=base + "/{day}", monthly=base + "/month/{month}"),
    )


@dataclass(frozen=True)
class _LoggerRows:
    """What the owners hold about the plant's data loggers, by point id."""

    quirks: dict[int, list[ingest_reads.LoggerQuirk]]
    beats: dict[int, datetime]
    stamps: dict[int, list[ingest_reads.MessageStamp]]
    messages: dict[int, ingest_reads.LastMessage]
    latest: dict[int, datetime]
    keys: dict[str, list[secrets.Generation]]


async def _logger_rows(
    conn: AsyncConnection[Any], park: str, pts: list[ingest_reads.PointRow], since: datetime, now: datetime
) -> _LoggerRows:
    ids = [p.id for p in pts]
    quirks: dict[int, list[ingest_reads.LoggerQuirk]] = defaultdict(list)
    for q in await ingest_reads.logger_quirks(ids).fetch_async(conn):
        quirks[q.point_id].append(q)
    latest: dict[int, datetime] = {}
    for r in await ingest_reads.latest_readings(ids).fetch_async(conn):
        latest[r.point_id] = max(r.time, latest.get(r.point_id, r.time))
    names = [secrets.logger_name(park, p.plant, p.code, w) for p in pts for w in (keys.SM4, keys.SM4_NEXT)]
    held: dict[str, list[secrets.Generation]] = defaultdict(list)
    for g in await secrets.live_generations(names).fetch_async(conn):
        held[g.name].append(g)
    stamps: dict[int, list[ingest_reads.MessageStamp]] = defaultdict(list)
    query = ingest_reads.message_stamps(ids, now - CLOCK_WINDOW, now - HOT, CLOCK_MESSAGES)
    for m in await query.fetch_async(conn):
        stamps[m.point_id].append(m)
    return _LoggerRows(
        quirks=quirks,
        beats={
            b.point_id: b.last_beat for b in await ingest_reads.logger_beats(ids, since).fetch_async(conn)
        },
        stamps=stamps,
        messages={m.point_id: m for m in await ingest_reads.last_messages(ids, since).fetch_async(conn)},
        latest=latest,
        keys=held,
    )


async def _points(
    conn: AsyncConnection[Any],
    park: ingest_reads.ParkRow,
    pts: list[ingest_reads.PointRow],
    since: datetime,
    now: datetime,
) -> list[pf.PointFile]:
    periods: dict[tuple[int, int], list[compliance_reads.LimitPeriod]] = defaultdict(list)
    for lim in await compliance_reads.limit_periods([p.id for p in pts], since, now + FAR).fetch_async(conn):
        periods[(lim.point_id, lim.parameter_id)].append(lim)
    rows = await _logger_rows(conn, park.id, pts, since, now)
    out = []
    for p in pts:
        params = [
            pf.ParameterFile(
                code=c.code,
                name_zh=c.name_zh,
                name_en=c.name_en,
                unit=c.unit,
                instrument_unit=unit,
                limits=[pf.limit_view(lim, c.unit, now) for lim in periods[(p.id, pid)]],
            )
            for pid, unit in sorted(p.parameters.items())
            if (c := parameters.BY_ID.get(pid)) is not None
        ]
        out.append(
            pf.PointFile(
                id=p.code,
                name=p.name,
                kind=p.kind,
                discharge_mode=p.discharge_mode,
                standard=p.standard,
                mn=p.mn,
                interval_s=p.interval_s,
                active=p.active,
                parameters=params,
                logger=_logger(park, p, rows),
            )
        )
    return out


def _logger(park: ingest_reads.ParkRow, p: ingest_reads.PointRow, rows: _LoggerRows) -> pf.LoggerFile:
    message = rows.messages.get(p.id)
    beat = rows.beats.get(p.id)
    key = secrets.logger_name(park.id, p.plant, p.code, keys.SM4)
    pending = secrets.logger_name(park.id, p.plant, p.code, keys.SM4_NEXT)
    return pf.LoggerFile(
        mn=p.mn,
        edition=keys.edition_of(park.config, p.plant, p.code) if p.mn else None,
        edition_seen=pf.edition_seen(message),
        transport=pf.transport(message),
        last_seen=pf.latest(rows.latest.get(p.id), message.time if message else None, beat),
        last_message_at=message.received_at if message else None,
        last_heartbeat=beat,
        quirks=[
            LoggerQuirk(
                quirk=q.quirk,
                description=QUIRKS.get(q.quirk, q.quirk),
                count=q.count,
                first_seen=q.first_seen,
                last_seen=q.last_seen,
            )
            for q in rows.quirks.get(p.id, [])
        ],
        clock=pf.clock(rows.stamps.get(p.id, []), ZoneInfo(p.timezone), int(CLOCK_WINDOW.total_seconds())),
        sm4=pf.sm4_key(rows.keys.get(key, []), rows.keys.get(pending, [])),
    )


async def _incidents(
    conn: AsyncConnection[Any], caller: Principal, park: str, plant: str, since: datetime
) -> pf.Incidents:
    """Alerts as the caller may see them (an officer: those compliance put before officers)."""
    officer = caller.officer_view
    active = AlertFilter(park=park, plant=plant, states=ACTIVE_STATES, officer=officer)
    recent_f = AlertFilter(park=park, plant=plant, start=since, officer=officer)
    open_rows = await compliance_reads.alert_records(active, caller.park, caller.plant, MAX_OPEN).fetch_async(
        conn
    )
    recent = await compliance_reads.alert_records(
        recent_f, caller.park, caller.plant, MAX_RECENT + 1
    ).fetch_async(conn)
    ids = sorted({a.id for a in open_rows} | {a.id for a in recent[:MAX_RECENT]})
    withdrawn: dict[int, list[int]] = defaultdict(list)
    for w in await mark_reads.withdrawals(ids).fetch_async(conn):
        withdrawn[w.alert_id].append(w.mark_id)
    samples = {s.alert_id: s for s in await hj212_repo.samples_for_alerts(ids).fetch_async(conn)}
    closed = [a.id for a in recent[:MAX_RECENT] if a.state == "resolved"]
    closings = {c.alert_id: c for c in await periods.closings(closed).fetch_async(conn)}

    def incident(row: AlertRecord) -> pf.Incident:
        alert = public_alert(row, samples.get(row.id))
        marks = withdrawn.get(row.id, [])
        c = closings.get(row.id)
        return pf.Incident(
            outcome=pf.outcome(alert, bool(marks)),
            withdrawn_by_marks=marks,
            closed=pf.Closed(at=c.at, by=c.actor, action=c.action, note=c.note) if c else None,
            alert=alert,
        )

    return pf.Incidents(
        open=[incident(a) for a in open_rows],
        recent=[incident(a) for a in recent[:MAX_RECENT]],
        truncated=len(recent) > MAX_RECENT,
    )


async def _months(
    conn: AsyncConnection[Any], park: str, plant: str, firsts: list[date], tz: ZoneInfo, target: float
) -> list[pf.MonthFile]:
    """Each month's KPIs from the legal record's month rows (a month row covers its days closed so
    far), with the links to its reports."""
    start = rules.local_month_bounds(firsts[0], tz)[0]
    end = rules.local_month_bounds(firsts[-1], tz)[1]
    closed = [
        rules.local_day_of(c.start, tz) for c in await legal.closed(park, "day", start, end).fetch_async(conn)
    ]
    by_month: dict[datetime, list[legal.DatedWindow]] = defaultdict(list)
    for w in await legal.park_windows_between(park, plant, "month", start, end).fetch_async(conn):
        by_month[w.start].append(w)
    base = f"/api/v1/parks/{park}/plants/{plant}/reports"
    out = []
    for first in firsts:
        m0, m1, _days = rules.local_month_bounds(first, tz)
        rows = by_month.get(m0, [])
        whole, items, _warnings = record.kpi_items(rows, "point", target)
        days = [d for d in closed if (d.year, d.month) == (first.year, first.month)]
        label = f"{first:%Y-%m}"
        out.append(
            pf.MonthFile(
                month=label,
                start=m0,
                end=m1,
                days_closed=len(days),
                kpi=whole,
                points=items,
                report=f"{base}/month/{label}",
                last_daily_report=f"{base}/{max(days).isoformat()}" if days else None,
            )
        )
    return out
