"""Health, Prometheus metrics and "who am I"."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from psycopg import AsyncConnection
from psycopg_pool import PoolTimeout

from api import health, metrics, repo
from api.deps import ERRORS, Caller, pool
from api.models import Health, Me
from compliance import jobs
from compliance.repo import reads as compliance_reads
from ingest.core import reads as ingest_reads

router = APIRouter()
v1 = APIRouter(prefix="/api/v1", responses={401: ERRORS[401]})


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}}, tags=["system"])
async def healthz(request: Request) -> JSONResponse:
    """Every component, no token needed: the database, the broker, each process's heartbeat (ingest
    workers, HJ 212 gateways, compliance leader and standbys), the real-time rules' backlog and each
    scheduled job against its period. 503 with the problems listed when anything is wrong."""
    body = Health(status="ok", database="ok", broker="ok")
    try:
        async with pool(request).connection(timeout=2) as conn:
            await repo.ping(conn)
            beats = await ingest_reads.heartbeats().fetch_async(conn)
            backlog = await compliance_reads.backlog().first_async(conn)
            assert backlog is not None  # an aggregate: always one row
            body.inbox_backlog, body.inbox_oldest_s = backlog.queued, backlog.oldest_s
            ages = {j.name: j.age_s for j in await compliance_reads.job_success_ages().fetch_async(conn)}
        runtime = request.app.state.runtime
        runs = [health.JobRun(j.name, jobs.period_s(j, runtime), ages.get(j.name)) for j in jobs.JOBS]
        verdict = health.assess(beats, body.inbox_backlog, body.inbox_oldest_s, runs)
        body.problems, body.components, body.jobs = verdict.problems, verdict.components, verdict.jobs
    except (psycopg.Error, PoolTimeout, TimeoutError, OSError) as exc:
        body.database = f"unavailable: {type(exc).__name__}"
        body.problems.append(f"database: {body.database}")
    host, port = request.app.state.broker
    if not await health.broker_ok(host, port):
        body.broker = "unavailable"
        body.problems.append("broker: unavailable")
    body.status = "degraded" if body.problems else "ok"
    return JSONResponse(body.model_dump(), status_code=503 if body.problems else 200)


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
        snapshot = await _snapshot(conn)
    return PlainTextResponse(metrics.render(snapshot), media_type="text/plain; version=0.0.4")


async def _snapshot(conn: AsyncConnection) -> metrics.Snapshot:
    totals = await ingest_reads.ingest_totals().first_async(conn)
    backlog = await compliance_reads.backlog().first_async(conn)
    pending = await compliance_reads.pending_deliveries().first_async(conn)
    assert totals is not None and backlog is not None and pending is not None  # aggregates: one row each
    return metrics.Snapshot(
        ingest=totals,
        backlog=backlog,
        alerts=await compliance_reads.active_alert_totals().fetch_async(conn),
        jobs=await compliance_reads.job_run_times().fetch_async(conn),
        pending=pending,
        beats=await ingest_reads.heartbeats().fetch_async(conn),
    )


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
