"""Daily compliance reports of a park or one plant: JSON, CSV, or a printable HTML page with charts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from psycopg import AsyncConnection

from api import charts, repo, reports, status
from api.deps import ERRORS, Caller, Id, not_found, pool, require_park, require_plant
from ingest import parameters

v1 = APIRouter(prefix="/api/v1", tags=["reports"], responses=ERRORS)
FLOW = parameters.BY_CODE["flow"].id
Format = Annotated[Literal["json", "csv", "html"], Query(alias="format")]
CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report (see `format`)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/csv": {"example": ",".join(reports.COLUMNS) + "\n"},
            "text/html": {"example": "<!doctype html>..."},
        },
    }
}
EARLIEST = date(2000, 1, 1)


@v1.get("/parks/{park}/reports/{day}", responses=CONTENT, response_model=None)
async def park_report(
    request: Request, caller: Caller, park: Id, day: date, fmt: Format = "json"
) -> Response:
    """The park's daily report for a park-local calendar day (plants outside the caller's scope left out):
    valid daily means against limits, exceedance counts and minutes, valid-data and transmission rates per
    point and parameter, alerts opened, the reuse ratio."""
    require_park(caller, park)
    return await _report(request, park, caller.plant, day, fmt)


@v1.get("/parks/{park}/plants/{plant}/reports/{day}", responses=CONTENT, response_model=None)
async def plant_report(
    request: Request, caller: Caller, park: Id, plant: Id, day: date, fmt: Format = "json"
) -> Response:
    """One plant's daily report, with an hourly chart per point and parameter in the HTML version."""
    require_plant(caller, park, plant)
    return await _report(request, park, plant, day, fmt, one_plant=True)


async def _report(
    request: Request, park: str, plant: str | None, day: date, fmt: str, one_plant: bool = False
) -> Response:
    if not EARLIEST <= day <= datetime.now(UTC).date() + timedelta(days=1):
        raise HTTPException(422, f"day must be between {EARLIEST} and tomorrow")
    async with pool(request).connection() as conn:
        found = await repo.parks(conn, park, plant)
        if not found or (plant and not await repo.plants(conn, park, plant)):
            raise not_found(f"plant {park}/{plant}" if plant else f"park {park}")
        _id, name, tz, _ind, config, _at, _n = found[0]
        d0 = datetime.combine(day, time(), ZoneInfo(tz))
        d1 = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(tz))
        pts = [p for p in await repo.points(conn, park, plant) if p.active]
        df = reports.frame(
            pts, await repo.day_statistics(conn, park, plant, d0, d1), (d1 - d0).total_seconds()
        )
        df = reports.with_limits(
            df, await repo.limits(conn, [p.id for p in pts], d0, d0 + timedelta(seconds=1))
        )
        opened = await repo.alerts_opened(conn, park, plant, d0, d1)
        reuse = await _reuse(conn, pts, config, d0, d1)
        svgs = await _charts(conn, pts, df, d0, d1, tz) if fmt == "html" and one_plant else []
    body = {
        "park": park,
        "park_name": name,
        "plant": plant,
        "day": day.isoformat(),
        "timezone": tz,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": reports.summary(df, opened),
        "reuse": reuse,
        "rows": reports.records(df),
    }
    filename = f"{park}{'_' + plant if plant else ''}_{day.isoformat()}"
    if fmt == "csv":
        disposition = {"Content-Disposition": f'attachment; filename="{filename}.csv"'}
        return Response(reports.to_csv(df), media_type="text/csv; charset=utf-8", headers=disposition)
    if fmt == "html":
        if not one_plant:
            svgs = [
                charts.bar_chart("日均值/限值 Daily mean / limit (worst per plant)", reports.park_bars(df))
            ]
        return HTMLResponse(reports.html(body, svgs))
    return JSONResponse(body)


async def _reuse(
    conn: AsyncConnection, pts: list[repo.PointRow], config: dict[str, Any], d0: datetime, d1: datetime
) -> dict[str, Any] | None:
    kinds = {p.kind: p for p in pts if p.kind in ("central_outlet", "reuse_outlet")}
    if len(kinds) < 2:
        return None
    means = await repo.day_flow_means(conn, [p.id for p in kinds.values()], FLOW, d0, d1)
    reuse, outflow = means.get(kinds["reuse_outlet"].id), means.get(kinds["central_outlet"].id)
    target = config.get("reuse_target")
    return {
        "reuse_flow": reuse,
        "outflow": outflow,
        "ratio": status.reuse_ratio(reuse, outflow),
        "target": float(target) if isinstance(target, int | float) else None,
    }


async def _charts(
    conn: AsyncConnection, pts: list[repo.PointRow], df: Any, d0: datetime, d1: datetime, tz: str
) -> list[str]:
    means = await repo.hourly_means(conn, [p.id for p in pts], d0, d1, tz)
    out = []
    for p in pts:
        for pid in sorted(p.parameters):
            c = parameters.BY_ID.get(pid)
            if c is None:
                continue
            series = [(t, m) for q, r, t, m in means if q == p.id and r == pid]
            row = df[(df.point_id == p.id) & (df.parameter_id == pid)]
            upper = row.limit_upper.iloc[0] if len(row) and row.limit_upper.iloc[0] is not None else None
            lower = row.limit_lower.iloc[0] if len(row) and row.limit_lower.iloc[0] is not None else None
            title = f"{p.code} · {c.name_zh} {c.name_en} · 小时均值 hourly means"
            raw = [(t, m, "N") for t, m in series if m is not None]
            out.append(charts.series_chart(title, c.unit, raw, series, _num(upper), _num(lower), d0, d1, tz))
    return out


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f
