"""Health, Prometheus metrics and "who am I"."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from psycopg_pool import PoolTimeout

from api import health, metrics, repo
from api.deps import ERRORS, Caller, pool
from api.models import Health, Me

router = APIRouter()
v1 = APIRouter(prefix="/api/v1", responses={401: ERRORS[401]})


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["system"])
async def healthz(request: Request) -> JSONResponse:
    """Liveness of the database and the broker; no token needed."""
    db = "ok"
    try:
        async with pool(request).connection(timeout=2) as conn:
            await repo.ping(conn)
    except (psycopg.Error, PoolTimeout, TimeoutError, OSError) as exc:
        db = f"unavailable: {type(exc).__name__}"
    host, port = request.app.state.broker
    broker = "ok" if await health.broker_ok(host, port) else "unavailable"
    ok = db == "ok" and broker == "ok"
    body = Health(status="ok" if ok else "degraded", database=db, broker=broker)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["system"],
    responses={200: {"content": {"text/plain": {"example": "outfall_ingest_readings_total 1.2e+06\n"}}}},
)
async def prometheus(request: Request) -> PlainTextResponse:
    """Prometheus text format: ingest counters (rate() of readings_total is the ingest rate), ingest and
    rules lag, rejects, open alerts by severity, scheduled job runs. Aggregates only, no park or plant
    names, so it needs no token (bind the API to a private address or put a proxy in front)."""
    async with pool(request).connection() as conn:
        snapshot = await repo.metrics_snapshot(conn)
    return PlainTextResponse(metrics.render(snapshot), media_type="text/plain; version=0.0.4")


@v1.get("/me", response_model=Me, tags=["system"])
async def me(caller: Caller) -> Me:
    """The caller's role and scope, and what it may change."""
    return Me(
        role=caller.role,
        name=caller.name,
        park=caller.park,
        plant=caller.plant,
        may_change_alerts=caller.may_change_alerts,
        may_declare_maintenance=caller.may_declare_maintenance,
        may_change_registry=caller.may_change_registry,
    )
