"""The legal record: KPIs and discharged mass of a closed park-local day or month (park, plant, point),
and a point's stored hourly, daily and monthly windows. Everything here is read from what compliance
stored when it closed the windows (compliance/repo/legal.py); nothing is recomputed from raw readings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from psycopg import AsyncConnection

from api import record, reports
from api.deps import ERRORS, Caller, Id, aware, not_found, pool, require_park, require_plant, rule_settings
from api.record import KpiPage, MassPage, PeriodInfo, RecordPage
from compliance.repo import legal
from ingest.core import parameters
from ingest.core import reads as ingest_reads

v1 = APIRouter(prefix="/api/v1", tags=["legal record"], responses=ERRORS)

DayQ = Annotated[date | None, Query(description="a park-local day, YYYY-MM-DD")]
MonthQ = Annotated[str | None, Query(description="a park-local month, YYYY-MM")]
MAX_ROWS = 20_000
MAX_SPAN = {"hour": timedelta(days=400), "day": timedelta(days=3700), "month": timedelta(days=3700)}
DEFAULT_SPAN = {"hour": timedelta(days=1), "day": timedelta(days=31), "month": timedelta(days=366)}


async def _period(conn: AsyncConnection, park: str, day: date | None, month: str | None) -> PeriodInfo:
    """The day or month asked for, on the park's calendar, and how much of it compliance has closed."""
    if (day is None) == (month is None):
        raise HTTPException(422, "give exactly one of day=YYYY-MM-DD and month=YYYY-MM")
    found = await ingest_reads.parks(park, None).fetch_async(conn)
    if not found:
        raise not_found(f"park {park}")
    kind: Literal["day", "month"] = "day" if day is not None else "month"
    label = day.isoformat() if day is not None else str(month)
    try:  # one reading of a period for the record and the reports (api/reports.py)
        asked = reports.period(kind, label, found[0].timezone, datetime.now(UTC).date())
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    days = len(await legal.closed(park, "day", asked.start, asked.end).fetch_async(conn))
    return PeriodInfo(
        kind=kind,
        label=label,
        start=asked.start,
        end=asked.end,
        timezone=asked.timezone,
        closed=days > 0,
        days_closed=days,
    )


async def _kpis(
    request: Request,
    park: str,
    scope: str | None,
    level: Literal["plant", "point", "parameter"],
    point: str | None,
    day: date | None,
    month: str | None,
) -> KpiPage:
    """``scope``: the plant the rows are of (None: all); ``level``: what the items are."""
    target = rule_settings(request).kpi_target
    async with pool(request).connection() as conn:
        period = await _period(conn, park, day, month)
        rows = await legal.park_windows(park, scope, period.kind, period.start).fetch_async(conn)
    if point is not None:
        rows = [r for r in rows if r.point == point]
        if not rows and not await _point_exists(request, park, scope, point):
            raise not_found(f"point {park}/{scope}/{point}")
    whole, items, warnings = record.kpi_items(rows, level, target)
    plant = scope if level != "plant" else None
    return KpiPage(
        park=park, plant=plant, point=point, period=period, kpi=whole, items=items, warnings=warnings
    )


async def _point_exists(request: Request, park: str, plant: str | None, point: str) -> bool:
    async with pool(request).connection() as conn:
        return bool(await ingest_reads.points(park, plant, point).fetch_async(conn))


@v1.get("/parks/{park}/kpis", response_model=KpiPage)
async def park_kpis(
    request: Request, caller: Caller, park: Id, day: DayQ = None, month: MonthQ = None
) -> KpiPage:
    """Transmission rate (received / expected values, expected from each point's interval), validity
    rate (valid / received) and effective transmission rate (their product) of the park over a closed
    park-local day or month, and of each plant in the caller's scope; a warning for each below the
    target (`OUTFALL_COMPLIANCE_KPI_TARGET`, 90 %). A month covers its days closed so far
    (`period.days_closed`); a day not closed yet has no figures."""
    require_park(caller, park)
    return await _kpis(request, park, caller.plant, "plant", None, day, month)


@v1.get("/parks/{park}/plants/{plant}/kpis", response_model=KpiPage)
async def plant_kpis(
    request: Request, caller: Caller, park: Id, plant: Id, day: DayQ = None, month: MonthQ = None
) -> KpiPage:
    """The plant's KPIs over a closed day or month, and each of its points'."""
    require_plant(caller, park, plant)
    return await _kpis(request, park, plant, "point", None, day, month)


@v1.get("/parks/{park}/plants/{plant}/points/{point}/kpis", response_model=KpiPage)
async def point_kpis(
    request: Request, caller: Caller, park: Id, plant: Id, point: Id, day: DayQ = None, month: MonthQ = None
) -> KpiPage:
    """The point's KPIs over a closed day or month, and each parameter's."""
    require_plant(caller, park, plant)
    return await _kpis(request, park, plant, "parameter", point, day, month)


async def _mass(
    request: Request, park: str, plant: str | None, day: date | None, month: str | None
) -> MassPage:
    async with pool(request).connection() as conn:
        period = await _period(conn, park, day, month)
        rows = await legal.park_windows(park, plant, period.kind, period.start).fetch_async(conn)
    return MassPage(park=park, period=period, plants=record.plant_masses(rows))


@v1.get("/parks/{park}/mass", response_model=MassPage)
async def park_mass(
    request: Request, caller: Caller, park: Id, day: DayQ = None, month: MonthQ = None
) -> MassPage:
    """Discharged mass (kg) over a closed park-local day or month, per plant in the caller's scope and
    per point: flow × concentration over the hours valid for both (or the logger's HJ 212 Cou where a
    point has no flow meter), with the method stated; each plant's discharge counts its final outlets
    (or its workshop outlets for what only they measure). No park total: the plants discharge into the
    central plant, whose outlet is the park's discharge."""
    require_park(caller, park)
    return await _mass(request, park, caller.plant, day, month)


@v1.get("/parks/{park}/plants/{plant}/mass", response_model=MassPage)
async def plant_mass(
    request: Request, caller: Caller, park: Id, plant: Id, day: DayQ = None, month: MonthQ = None
) -> MassPage:
    """One plant's discharged mass over a closed day or month, per point and in total."""
    require_plant(caller, park, plant)
    return await _mass(request, park, plant, day, month)


@v1.get("/parks/{park}/plants/{plant}/points/{point}/record", response_model=RecordPage)
async def point_record(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    point: Id,
    span: Annotated[Literal["hour", "day", "month"], Query(description="window length")] = "day",
    parameter: Annotated[
        str | None, Query(description="canonical or HJ 212-2017 code; all if omitted")
    ] = None,
    start: Annotated[datetime | None, Query(alias="from", description="windows starting at or after")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="windows starting before")] = None,
) -> RecordPage:
    """The point's stored windows (the legal record): per parameter and park-local hour, day or month,
    the mean of the valid values with its extremes, values valid / received / expected, the flags seen,
    whether it is a valid mean by the rule stored with it (`rule`, `parts_valid` of `parts`), the
    verdict against the limit, and for days and months the volume (flow), discharged mass with its
    method, and the logger's HJ 212 Cou total."""
    require_plant(caller, park, plant)
    end = aware(end, "to") or datetime.now(UTC)
    start = aware(start, "from") or end - DEFAULT_SPAN[span]
    if start >= end:
        raise HTTPException(422, "from must be before to")
    if end - start > MAX_SPAN[span]:
        raise HTTPException(422, f"{span} windows may span at most {MAX_SPAN[span].days} days")
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        ids = sorted(row.parameters)
        if parameter is not None:
            param = parameters.BY_ALIAS.get(parameter)
            if param is None or param.id not in row.parameters:
                raise HTTPException(422, f"parameter {parameter!r} is not measured at this point")
            ids = [param.id]
        rows = await legal.record(row.id, ids, span, start, end, MAX_ROWS + 1).fetch_async(conn)
    units = {parameters.BY_ID[i].code: parameters.BY_ID[i].unit for i in ids if i in parameters.BY_ID}
    return RecordPage(
        park=park,
        plant=plant,
        point=point,
        timezone=row.timezone,
        span=span,
        units=units,
        items=record.record_items(rows[:MAX_ROWS]),
        truncated=len(rows) > MAX_ROWS,
    )
