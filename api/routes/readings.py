"""Readings of one point: raw values with flags, or park-local hourly/daily valid means, with the limits
in force alongside; JSON or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response

from api import charts
from api.deps import ERRORS, Caller, Id, aware, not_found, pool, require_plant
from api.models import BucketMean, LimitPeriod, RawReading, ReadingsPage
from compliance.repo import legal
from compliance.repo.reads import limit_periods
from ingest.core import parameters
from ingest.core import reads as ingest_reads

v1 = APIRouter(prefix="/api/v1", tags=["readings"], responses=ERRORS)

BUCKETS = {"1h": "hour", "1d": "day"}  # the legal record's spans
DEFAULT_WINDOW = timedelta(hours=24)
MAX_WINDOW = timedelta(days=400)
CSV_EXAMPLE = (
    "time,parameter,unit,value,flag,limit_upper,limit_lower\n"
    "2026-11-29T00:00:00+00:00,cod,mg/L,42.1,N,80.0,\n"
)
CSV: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}}}


def window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = aware(end, "to") or datetime.now(UTC)
    start = aware(start, "from") or end - DEFAULT_WINDOW
    if start >= end:
        raise HTTPException(422, "from must be before to")
    if end - start > MAX_WINDOW:
        raise HTTPException(422, f"the window may span at most {MAX_WINDOW.days} days; narrow from/to")
    return start, end


def _code(parameter_id: int) -> str:
    return parameters.BY_ID[parameter_id].code


def _parameter_ids(requested: str | None, measured: dict[int, str]) -> list[int]:
    if requested is None:
        return sorted(measured)
    param = parameters.BY_ALIAS.get(requested)
    if param is None or param.id not in measured:
        known = ", ".join(sorted(parameters.BY_ID[i].code for i in measured if i in parameters.BY_ID))
        raise HTTPException(422, f"parameter {requested!r} is not measured here; this point measures {known}")
    return [param.id]


@v1.get("/parks/{park}/plants/{plant}/points/{point}/readings", response_model=ReadingsPage, responses=CSV)
async def readings(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    point: Id,
    parameter: Annotated[
        str | None, Query(description="canonical code or HJ 212-2017 code; all if omitted")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="inclusive, ISO 8601 with offset")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive, ISO 8601 with offset")] = None,
    bucket: Annotated[
        Literal["1h", "1d"] | None, Query(description="park-local hourly/daily valid means")
    ] = None,
    fmt: Annotated[
        Literal["json", "csv"], Query(alias="format", description="csv for a spreadsheet")
    ] = "json",
) -> ReadingsPage | Response:
    """Values are in the catalogue unit (see `units`). `bucket=1h|1d`: the park-local hourly or daily
    means compliance stored when it closed the hour or day (the legal record: valid values only, flags N
    and S and plausible; re-judged when late data arrives), for hours and days starting in the window
    that received data; an hour or day not closed yet has none. `valid`/`total` say how many values each
    mean stands on; `.../record` has the rest. Default window: the last 24 hours."""
    require_plant(caller, park, plant)
    start, end = window(start, end)
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        ids = _parameter_ids(parameter, row.parameters)
        units = {_code(i): parameters.BY_ID[i].unit for i in ids}
        cap = request.app.state.settings.max_raw_rows
        items: list[RawReading] | list[BucketMean]
        if bucket is None:
            rows = await ingest_reads.raw_readings(row.id, ids, start, end, cap + 1).fetch_async(conn)
            items = [
                RawReading(time=r.time, parameter=_code(r.parameter_id), value=r.value, flag=r.flag)
                for r in rows[:cap]
            ]
        else:
            query = legal.window_means(row.id, ids, BUCKETS[bucket], start, end)
            rows = []
            items = [
                BucketMean(
                    time=m.time, parameter=_code(m.parameter_id), mean=m.mean, valid=m.valid, total=m.total
                )
                for m in await query.fetch_async(conn)
            ]
        periods = await limit_periods([row.id], start, end).fetch_async(conn)
        lims = [lim for lim in periods if lim.parameter_id in ids]
    page = ReadingsPage(
        park=park,
        plant=plant,
        point=point,
        timezone=row.timezone,
        bucket=bucket,
        units=units,
        limits=[
            LimitPeriod(
                parameter=_code(lim.parameter_id),
                valid_from=lim.valid_from,
                valid_to=lim.valid_to,
                upper=lim.upper,
                lower=lim.lower,
                source=lim.source,
            )
            for lim in lims
        ],
        items=items,
        truncated=len(rows) > cap,
    )
    if fmt == "csv":
        return _csv(page)
    # Serialised once, with orjson: FastAPI would otherwise validate the (large) page again against the
    # model, which costs more than the query.
    body = orjson.dumps(page.model_dump(), option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


def _limit_at(page: ReadingsPage, code: str, t: datetime) -> LimitPeriod | None:
    for lim in page.limits:
        if (
            lim.parameter == code
            and (lim.valid_from is None or lim.valid_from <= t)
            and (lim.valid_to is None or t < lim.valid_to)
        ):
            return lim
    return None


def _csv(page: ReadingsPage) -> Response:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    raw = page.bucket is None
    w.writerow(
        [
            "time",
            "parameter",
            "unit",
            *(["value", "flag"] if raw else ["mean", "valid", "total"]),
            "limit_upper",
            "limit_lower",
        ]
    )
    for item in page.items:
        lim = _limit_at(page, item.parameter, item.time)
        cells = (
            [item.value, item.flag] if isinstance(item, RawReading) else [item.mean, item.valid, item.total]
        )
        upper, lower = (lim.upper, lim.lower) if lim else (None, None)
        w.writerow(
            [item.time.isoformat(), item.parameter, page.units.get(item.parameter), *cells, upper, lower]
        )
    name = f"{page.park}_{page.plant}_{page.point}{'_' + page.bucket if page.bucket else ''}.csv"
    return Response(
        # A byte-order mark so that spreadsheet programs read the Chinese names and units as UTF-8.
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@v1.get(
    "/parks/{park}/plants/{plant}/points/{point}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {"example": "<svg xmlns=...>...</svg>"}}}},
)
async def chart(
    request: Request,
    caller: Caller,
    park: Id,
    plant: Id,
    point: Id,
    parameter: Annotated[str, Query(description="canonical code or HJ 212-2017 code")],
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """One parameter over time as SVG: raw valid values, the stored hourly means, the limit line,
    breaches (red dots) and values with invalid flags (grey marks) — what the dashboard's point page
    shows."""
    require_plant(caller, park, plant)
    start, end = window(start, end)
    async with pool(request).connection() as conn:
        row = await ingest_reads.points(park, plant, point).first_async(conn)
        if row is None:
            raise not_found(f"point {park}/{plant}/{point}")
        ids = _parameter_ids(parameter, row.parameters)
        raw = await ingest_reads.raw_readings(row.id, ids, start, end, CHART_POINTS).fetch_async(conn)
        means = await legal.window_means(row.id, ids, BUCKETS["1h"], start, end).fetch_async(conn)
        lims = await limit_periods([row.id], end - timedelta(seconds=1), end).fetch_async(conn)
    c = parameters.BY_ID[ids[0]]
    lim = next((x for x in lims if x.parameter_id == ids[0]), None)
    svg = charts.series_chart(
        f"{c.name_zh} {c.name_en}",
        c.unit,
        [(r.time, r.value, r.flag) for r in raw],
        [(m.time, m.mean) for m in means],
        lim.upper if lim else None,
        lim.lower if lim else None,
        start,
        end,
        row.timezone,
    )
    return Response(svg, media_type="image/svg+xml")


CHART_POINTS = 20_000
