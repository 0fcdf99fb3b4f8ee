"""HTTP routes under /api/v1 (and /healthz)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool

from api import health, repo
from api.models import BucketMean, Health, RawReading, ReadingsPage
from ingest import parameters

router = APIRouter()
v1 = APIRouter(prefix="/api/v1")

BUCKETS = {"1h": "1 hour", "1d": "1 day"}
DEFAULT_WINDOW = timedelta(hours=24)


def _pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def healthz(request: Request) -> JSONResponse:
    db = "ok"
    try:
        async with _pool(request).connection(timeout=2) as conn:
            await repo.ping(conn)
    except (psycopg.Error, TimeoutError, OSError) as exc:
        db = f"unavailable: {type(exc).__name__}"
    host, port = request.app.state.broker
    broker = "ok" if await health.broker_ok(host, port) else "unavailable"
    ok = db == "ok" and broker == "ok"
    body = Health(status="ok" if ok else "degraded", database=db, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a UTC offset, e.g. 2026-11-29T08:00:00+08:00")
    return value


@v1.get("/parks/{park}/plants/{plant}/points/{point}/readings", response_model=ReadingsPage)
async def readings(
    request: Request,
    park: str,
    plant: str,
    point: str,
    parameter: Annotated[
        str | None, Query(description="canonical code or HJ 212-2017 code; all if omitted")
    ] = None,
    start: Annotated[
        datetime | None, Query(alias="from", description="inclusive, ISO 8601 with offset")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="exclusive, ISO 8601 with offset")] = None,
    bucket: Annotated[Literal["1h", "1d"] | None, Query(description="park-local hourly/daily means")] = None,
) -> ReadingsPage:
    end = _aware(end, "to") or datetime.now(UTC)
    start = _aware(start, "from") or end - DEFAULT_WINDOW
    if start >= end:
        raise HTTPException(422, "from must be before to")
    async with _pool(request).connection() as conn:
        row = await repo.find_point(conn, park, plant, point)
        if row is None:
            raise HTTPException(404, f"point {park}/{plant}/{point} not found")
        measured = await repo.point_parameter_units(conn, row.id)
        if parameter is None:
            ids = sorted(measured)
        else:
            param = parameters.BY_ALIAS.get(parameter)
            if param is None or param.id not in measured:
                known = ", ".join(sorted(parameters.BY_ID[i].code for i in measured))
                raise HTTPException(
                    422, f"parameter {parameter!r} is not measured here; this point measures {known}"
                )
            ids = [param.id]
        units = {parameters.BY_ID[i].code: u for i, u in measured.items() if i in ids}
        items: list[RawReading] | list[BucketMean]
        if bucket is None:
            limit = request.app.state.settings.max_raw_rows
            rows = await repo.raw_readings(conn, row.id, ids, start, end, limit)
            items = [RawReading(time=t, parameter=_code(p), value=v, flag=f) for t, p, v, f in rows]
        else:
            means = await repo.bucket_means(conn, row.id, ids, start, end, BUCKETS[bucket], row.timezone)
            items = [
                BucketMean(time=t, parameter=_code(p), mean=m, valid=n, total=c) for t, p, m, n, c in means
            ]
    return ReadingsPage(
        park=park, plant=plant, point=point, timezone=row.timezone, bucket=bucket, units=units, items=items
    )


def _code(parameter_id: int) -> str:
    return parameters.BY_ID[parameter_id].code
