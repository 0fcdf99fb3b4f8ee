"""Plant status (per point and parameter) and the park overview (one line per plant). Values are shown
as compliance's rules take them; nothing here judges on its own."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from psycopg import AsyncConnection

from api import status
from api.deps import ERRORS, Caller, Id, not_found, pool, require_park, require_plant, rule_settings
from api.models import (
    CentralPlant,
    ParameterStatus,
    ParkOverview,
    PlantStatus,
    PlantSummary,
    PointStatus,
    public_alert,
)
from compliance import engine, rules, validity
from compliance.models import ACTIVE_STATES, INCIDENT_STATES, Limit
from compliance.repo import legal
from compliance.repo.reads import AlertFilter, LimitPeriod, active_alert_counts, alert_records, limit_periods
from ingest.core import parameters
from ingest.core import reads as ingest_reads
from ingest.core.reads import LatestReading, latest_readings

v1 = APIRouter(prefix="/api/v1", tags=["status"], responses=ERRORS)
FLOW = parameters.BY_CODE["flow"].id
OPEN = ACTIVE_STATES
_TICK = timedelta(seconds=1)


@v1.get("/parks/{park}/plants/{plant}/status", response_model=PlantStatus)
async def plant_status(request: Request, caller: Caller, park: Id, plant: Id) -> PlantStatus:
    """Per point: online or offline and last seen; per parameter: the latest value with its flag, the
    limit in force, the ratio to it and its level as compliance judges it (invalid, implausible,
    no_limit, ok, warning, violation, critical); the plant's open alerts and today's valid-data rate
    (valid values / expected values from park-local midnight to the end of the last hour compliance has
    closed, from the legal record; null before the day's first hour closes)."""
    require_plant(caller, park, plant)
    now = datetime.now(UTC)
    settings = rule_settings(request)
    async with pool(request).connection() as conn:
        plants = await ingest_reads.plants(park, plant).fetch_async(conn)
        if not plants:
            raise not_found(f"plant {park}/{plant}")
        pts = [p for p in await ingest_reads.points(park, plant).fetch_async(conn) if p.active]
        ids = [p.id for p in pts]
        tz = pts[0].timezone if pts else "Asia/Shanghai"
        day0, _ = status.local_day(now, tz)
        latest = {(r.point_id, r.parameter_id): r for r in await latest_readings(ids).fetch_async(conn)}
        valid_today: dict[tuple[int, int], int] = defaultdict(int)
        for h in await legal.hours_in(ids, day0, now).fetch_async(conn):
            valid_today[(h.point_id, h.parameter_id)] += h.n_valid
        until = await _closed_until(conn, park, day0, now)
        in_force = await limit_periods(ids, now, now + _TICK).fetch_async(conn)
        lims = {(x.point_id, x.parameter_id): x for x in in_force}
        f = AlertFilter(park=park, plant=plant, states=OPEN, officer=caller.officer_view)
        query = alert_records(f, None, None, 500)
        alerts = await query.fetch_async(conn)
    by_point: dict[int, list[str]] = defaultdict(list)
    for a in alerts:
        by_point[a.point_id].append(a.severity)
    policy = engine.policy(settings)
    valid_total = expected_total = 0
    points = []
    for p in pts:
        params = []
        for pid in sorted(p.parameters):
            got, lim = latest.get((p.id, pid)), lims.get((p.id, pid))
            expected = status.expected_count(day0, until, p.interval_s)
            valid = valid_today[(p.id, pid)]
            valid_total, expected_total = valid_total + valid, expected_total + expected
            params.append(_parameter(pid, got, lim, status.valid_rate(valid, expected), policy))
        seen = max((latest[(p.id, q)].time for q in p.parameters if (p.id, q) in latest), default=None)
        points.append(
            PointStatus(
                point=p.code,
                name=p.name,
                kind=p.kind,
                online=status.is_online(now, seen, p.interval_s, settings.offline_k),
                last_seen=seen,
                interval_s=p.interval_s,
                parameters=params,
                open_alerts=len(by_point[p.id]),
                worst_severity=status.worst(by_point[p.id]),
            )
        )
    return PlantStatus(
        park=park,
        plant=plant,
        name=plants[0].name,
        kind=plants[0].kind,
        timezone=tz,
        as_of=now,
        points=points,
        open_alerts=[public_alert(a) for a in alerts],
        valid_rate_today=status.valid_rate(valid_total, expected_total),
    )


async def _closed_until(conn: AsyncConnection, park: str, day0: datetime, now: datetime) -> datetime:
    """The end of the park's last hour closed today (``day0`` when none is)."""
    hours = await legal.closed(park, "hour", day0, now).fetch_async(conn)
    return hours[-1].start + timedelta(hours=1) if hours else day0


def _limit(lim: LimitPeriod | None, unit: str) -> Limit | None:
    """The stored limit as the compliance domain type the rules take."""
    if lim is None:
        return None
    return Limit(lim.upper, lim.lower, unit, lim.source, None, True, lim.not_detected)


def _parameter(
    pid: int,
    got: LatestReading | None,
    lim: LimitPeriod | None,
    rate: float | None,
    policy: rules.Policy,
) -> ParameterStatus:
    c = parameters.BY_ID[pid]
    value, flag, t = (got.value, got.flag, got.time) if got else (None, None, None)
    upper, lower = (lim.upper, lim.lower) if lim else (None, None)
    return ParameterStatus(
        parameter=c.code,
        unit=c.unit,
        time=t,
        value=value,
        flag=flag,
        limit_upper=upper,
        limit_lower=lower,
        ratio=status.ratio(value, upper),
        level=status.level(pid, value, flag, _limit(lim, c.unit), policy),
        valid_rate_today=rate,
    )


@v1.get("/parks/{park}/status", response_model=ParkOverview)
async def park_overview(request: Request, caller: Caller, park: Id) -> ParkOverview:
    """One line per plant the caller may see: points online, last seen, its incidents (`open_alerts`:
    alerts still needing an officer: open, acknowledged, or cleared by the data but not closed) and
    their worst severity, and its place on the site plan (`position`, when the park file gives one);
    the central plant's inflow, outflow and reuse ratio so far today (park-local day): the mean flows
    of the hours compliance has closed today, from the legal record."""
    require_park(caller, park)
    now = datetime.now(UTC)
    settings = rule_settings(request)
    async with pool(request).connection() as conn:
        found = await ingest_reads.parks(park, caller.plant).fetch_async(conn)
        if not found:
            raise not_found(f"park {park}")
        plants = await ingest_reads.plants(park, caller.plant).fetch_async(conn)
        pts = [p for p in await ingest_reads.points(park, caller.plant).fetch_async(conn) if p.active]
        seen: dict[int, datetime] = {}
        for r in await latest_readings([p.id for p in pts]).fetch_async(conn):
            seen[r.point_id] = max(r.time, seen.get(r.point_id, r.time))
        summary = await active_alert_counts(
            park, caller.plant, caller.officer_view, INCIDENT_STATES
        ).fetch_async(conn)
        central = await _central(conn, pts, found[0].config, now, found[0].timezone)
    sev: dict[str, list[str]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    for s in summary:
        sev[s.plant].append(s.severity)
        count[s.plant] += s.count
    lines = []
    for pl in plants:
        mine = [p for p in pts if p.plant == pl.id]
        last = max((seen[p.id] for p in mine if p.id in seen), default=None)
        online = sum(
            1 for p in mine if status.is_online(now, seen.get(p.id), p.interval_s, settings.offline_k)
        )
        lines.append(
            PlantSummary(
                plant=pl.id,
                name=pl.name,
                kind=pl.kind,
                points=len(mine),
                online=online,
                last_seen=last,
                open_alerts=count[pl.id],
                worst_severity=status.worst(sev[pl.id]),
                position=None if pl.site_x is None or pl.site_y is None else (pl.site_x, pl.site_y),
            )
        )
    return ParkOverview(
        park=park, name=found[0].name, timezone=found[0].timezone, as_of=now, plants=lines, central=central
    )


CENTRAL_KINDS = ("central_inlet", "central_outlet", "reuse_outlet")


async def _central(
    conn: AsyncConnection,
    pts: list[ingest_reads.PointRow],
    config: dict[str, Any],
    now: datetime,
    tz: str,
) -> CentralPlant | None:
    central = [p for p in pts if p.kind in CENTRAL_KINDS]
    if not central:
        return None
    day0, _ = status.local_day(now, tz)
    flows = await central_flows(conn, central, day0, now)

    def total(kind: str) -> float | None:
        means = flows.get(kind)
        return None if not means or None in means else sum(m or 0.0 for m in means)

    target = config.get("reuse_target")
    return CentralPlant(
        plant=central[0].plant,
        inflow=total("central_inlet"),
        outflow=total("central_outlet"),
        reuse=total("reuse_outlet"),
        reuse_ratio=status.reuse_ratio(
            flows.get("reuse_outlet", []), flows.get("central_outlet", []), (now - day0).total_seconds()
        ),
        reuse_target=float(target) if isinstance(target, int | float) else None,
    )


async def central_flows(
    conn: AsyncConnection,
    pts: list[ingest_reads.PointRow],
    start: datetime,
    end: datetime,
) -> dict[str, list[float | None]]:
    """Mean flow (L/s) of each central-plant point over the closed hours starting in [start, end), by
    kind: compliance's mean of the stored valid hourly means (validity.running_mean)."""
    central = [p for p in pts if p.kind in CENTRAL_KINDS and FLOW in p.parameters]
    by_point: dict[int, list[tuple[float | None, bool]]] = defaultdict(list)
    for h in await legal.hours_in([p.id for p in central], start, end).fetch_async(conn):
        if h.parameter_id == FLOW:
            by_point[h.point_id].append((h.mean, h.sufficient))
    out: dict[str, list[float | None]] = defaultdict(list)
    for p in central:
        out[p.kind].append(validity.running_mean(by_point.get(p.id, [])))
    return out
