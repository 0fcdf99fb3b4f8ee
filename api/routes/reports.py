"""Daily compliance reports of a park or one plant: JSON, CSV, or a printable HTML page with charts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from psycopg import AsyncConnection

from api import charts, reports, status
from api.deps import ERRORS, Caller, Id, not_found, pool, require_park, require_plant, rule_settings
from api.routes.status import central_flows
from compliance.models import CONCENTRATION_KINDS, EXCEEDANCE, SEVERITY_RANK
from compliance.repo import legal
from compliance.repo.reads import alerts_opened, day_judgements, limit_periods, stored_report
from compliance.settings import RuleSettings
from ingest.core import parameters
from ingest.core import reads as ingest_reads
from ingest.core.reads import day_statistics

v1 = APIRouter(prefix="/api/v1", tags=["reports"], responses=ERRORS)
# A breach is a concentration alert (instant value, hourly or daily mean) at violation or above; a
# warning (approaching the limit) is not one.
BREACH_KINDS = sorted(CONCENTRATION_KINDS)
BREACH_SEVERITIES = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK["violation"]]
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
    settings = rule_settings(request)
    async with pool(request).connection() as conn:
        found = await ingest_reads.parks(park, plant).fetch_async(conn)
        if not found or (plant and not await ingest_reads.plants(park, plant).fetch_async(conn)):
            raise not_found(f"plant {park}/{plant}" if plant else f"park {park}")
        k = found[0]
        d0 = datetime.combine(day, time(), ZoneInfo(k.timezone))
        d1 = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(k.timezone))
        pts = [p for p in await ingest_reads.points(park, plant).fetch_async(conn) if p.active]
        judging = day_judgements(park, plant, d0, d1, BREACH_KINDS, BREACH_SEVERITIES, EXCEEDANCE)
        judged = await judging.fetch_async(conn)
        stats = await day_statistics([p.id for p in pts], d0, d1).fetch_async(conn)
        df = reports.frame(pts, stats, judged, (d1 - d0).total_seconds())
        lims = await limit_periods([p.id for p in pts], d0, d0 + timedelta(seconds=1)).fetch_async(conn)
        df = reports.with_limits(df, lims, settings.min_valid_fraction)
        opened = await alerts_opened(park, plant, d0, d1).fetch_async(conn)
        reuse = await _reuse(conn, pts, k, day, d0, d1, settings)
        svgs = await _charts(conn, pts, df, d0, d1, k.timezone) if fmt == "html" and one_plant else []
    body = {
        "park": park,
        "park_name": k.name,
        "plant": plant,
        "day": day.isoformat(),
        "timezone": k.timezone,
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
    conn: AsyncConnection,
    pts: list[ingest_reads.PointRow],
    park: ingest_reads.ParkRow,
    day: date,
    d0: datetime,
    d1: datetime,
    settings: RuleSettings,
) -> dict[str, Any] | None:
    """The central plant's flows and reuse ratio. Once compliance has closed the day its stored figures
    are the report's (``judged``: true); before that, the running figure by compliance's rule."""
    kinds = {p.kind for p in pts}
    if not {"central_outlet", "reuse_outlet"} <= kinds:
        return None
    end = min(d1, datetime.now(UTC))
    flows = await central_flows(conn, pts, d0, end) if end > d0 else {}
    found = await stored_report(park.id, day).first_async(conn)
    stored = found.body if found else {}
    target = park.config.get("reuse_target", settings.reuse_target)
    out: dict[str, Any] = {
        "reuse_flow": _total(flows.get("reuse_outlet")),
        "outflow": _total(flows.get("central_outlet")),
        "ratio": status.reuse_ratio(
            flows.get("reuse_outlet", []), flows.get("central_outlet", []), (end - d0).total_seconds()
        ),
        "target": float(target) if isinstance(target, int | float) else None,
        "judged": "reuse_ratio" in stored,
        "mass_balance_gap": stored.get("mass_balance_gap"),
    }
    if "reuse_ratio" in stored:
        out["ratio"], out["target"] = stored["reuse_ratio"], stored.get("reuse_target", out["target"])
    return out


def _total(means: list[float | None] | None) -> float | None:
    return None if not means or None in means else sum(m or 0.0 for m in means)


async def _charts(
    conn: AsyncConnection, pts: list[ingest_reads.PointRow], df: Any, d0: datetime, d1: datetime, tz: str
) -> list[str]:
    means = await legal.hours_in([p.id for p in pts], d0, d1).fetch_async(conn)  # the stored hours
    out = []
    for p in pts:
        for pid in sorted(p.parameters):
            c = parameters.BY_ID.get(pid)
            if c is None:
                continue
            series = [(m.start, m.mean) for m in means if m.point_id == p.id and m.parameter_id == pid]
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
