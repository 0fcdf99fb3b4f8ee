"""Plant status (per point and parameter) and the park overview (one line per plant)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from psycopg import AsyncConnection

from api import repo, status
from api.deps import ERRORS, Caller, Id, not_found, pool, require_park, require_plant
from api.models import CentralPlant, ParameterStatus, ParkOverview, PlantStatus, PlantSummary, PointStatus
from api.routes.alerts import alert_model
from ingest import parameters

v1 = APIRouter(prefix="/api/v1", tags=["status"], responses=ERRORS)
FLOW = parameters.BY_CODE["flow"].id


@v1.get("/parks/{park}/plants/{plant}/status", response_model=PlantStatus)
async def plant_status(request: Request, caller: Caller, park: Id, plant: Id) -> PlantStatus:
    """Per point: online or offline and last seen; per parameter: the latest value with its flag, the
    limit in force, the ratio to it and a level; the plant's open alerts and today's valid-data rate
    (valid values / expected values since park-local midnight)."""
    require_plant(caller, park, plant)
    now = datetime.now(UTC)
    async with pool(request).connection() as conn:
        plants = await repo.plants(conn, park, plant)
        if not plants:
            raise not_found(f"plant {park}/{plant}")
        pts = [p for p in await repo.points(conn, park, plant) if p.active]
        ids = [p.id for p in pts]
        tz = pts[0].timezone if pts else "Asia/Shanghai"
        day0, _ = status.local_day(now, tz)
        latest = {(r[0], r[1]): r for r in await repo.latest_values(conn, ids)}
        counts = {(r[0], r[1]): r for r in await repo.counts_since(conn, ids, day0)}
        lims = {(x.point_id, x.parameter_id): x for x in await repo.limits(conn, ids, now, now + _TICK)}
        alerts = await repo.alerts(
            conn, repo.AlertFilter(park=park, plant=plant, states=OPEN), None, None, 500
        )
    by_point: dict[int, list[str]] = defaultdict(list)
    for a in alerts:
        by_point[a[28]].append(a[6])
    valid_total = expected_total = 0
    points = []
    for p in pts:
        params = []
        for pid in sorted(p.parameters):
            got, lim, cnt = latest.get((p.id, pid)), lims.get((p.id, pid)), counts.get((p.id, pid))
            expected = status.expected_count(day0, now, p.interval_s)
            valid = cnt[3] if cnt else 0
            valid_total, expected_total = valid_total + valid, expected_total + expected
            params.append(_parameter(pid, got, lim, status.valid_rate(valid, expected)))
        seen = max((latest[(p.id, q)][2] for q in p.parameters if (p.id, q) in latest), default=None)
        points.append(
            PointStatus(
                point=p.code,
                name=p.name,
                kind=p.kind,
                online=status.is_online(now, seen, p.interval_s, request.app.state.offline_k),
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
        name=plants[0][1],
        kind=plants[0][2],
        timezone=tz,
        as_of=now,
        points=points,
        open_alerts=[alert_model(a) for a in alerts],
        valid_rate_today=status.valid_rate(valid_total, expected_total),
    )


OPEN = ("open", "acknowledged")
_TICK = timedelta(seconds=1)


def _parameter(
    pid: int, got: tuple[Any, ...] | None, lim: repo.LimitRow | None, rate: float | None
) -> ParameterStatus:
    c = parameters.BY_ID[pid]
    value, flag, t = (got[3], got[4], got[2]) if got else (None, None, None)
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
        level=status.level(value, flag, upper, lower),  # type: ignore[arg-type]
        valid_rate_today=rate,
    )


@v1.get("/parks/{park}/status", response_model=ParkOverview)
async def park_overview(request: Request, caller: Caller, park: Id) -> ParkOverview:
    """One line per plant the caller may see: points online, last seen, open alerts and the worst open
    severity; the central plant's inflow, outflow and reuse ratio today (park-local day)."""
    require_park(caller, park)
    now = datetime.now(UTC)
    async with pool(request).connection() as conn:
        found = await repo.parks(conn, park, caller.plant)
        if not found:
            raise not_found(f"park {park}")
        plants = await repo.plants(conn, park, caller.plant)
        pts = [p for p in await repo.points(conn, park, caller.plant) if p.active]
        seen: dict[int, datetime] = {}
        for pid, _q, t, _v, _f in await repo.latest_values(conn, [p.id for p in pts]):
            seen[pid] = max(t, seen.get(pid, t))
        summary = await repo.open_alert_summary(conn, park, caller.plant)
        central = await _central(conn, pts, found[0][4], now, found[0][2])
    sev: dict[str, list[str]] = defaultdict(list)
    count: dict[str, int] = defaultdict(int)
    for plant_id, _pt, severity, n in summary:
        sev[plant_id].append(severity)
        count[plant_id] += n
    lines = []
    for plant_id, name, kind, _n in plants:
        mine = [p for p in pts if p.plant == plant_id]
        last = max((seen[p.id] for p in mine if p.id in seen), default=None)
        online = sum(
            1
            for p in mine
            if status.is_online(now, seen.get(p.id), p.interval_s, request.app.state.offline_k)
        )
        lines.append(
            PlantSummary(
                plant=plant_id,
                name=name,
                kind=kind,
                points=len(mine),
                online=online,
                last_seen=last,
                open_alerts=count[plant_id],
                worst_severity=status.worst(sev[plant_id]),
            )
        )
    return ParkOverview(
        park=park, name=found[0][1], timezone=found[0][2], as_of=now, plants=lines, central=central
    )


async def _central(
    conn: AsyncConnection, pts: list[repo.PointRow], config: dict[str, Any], now: datetime, tz: str
) -> CentralPlant | None:
    kinds = {p.kind: p for p in pts if p.kind in ("central_inlet", "central_outlet", "reuse_outlet")}
    if not kinds:
        return None
    day0, _ = status.local_day(now, tz)
    means = await repo.day_flow_means(conn, [p.id for p in kinds.values()], FLOW, day0, now)

    def flow(kind: str) -> float | None:
        p = kinds.get(kind)
        return means.get(p.id) if p else None

    target = config.get("reuse_target")
    return CentralPlant(
        plant=next(iter(kinds.values())).plant,
        inflow=flow("central_inlet"),
        outflow=flow("central_outlet"),
        reuse=flow("reuse_outlet"),
        reuse_ratio=status.reuse_ratio(flow("reuse_outlet"), flow("central_outlet")),
        reuse_target=float(target) if isinstance(target, int | float) else None,
    )
