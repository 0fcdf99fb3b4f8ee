"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from api import routes
from api.events import Broadcaster
from api.guard import Guard
from api.routes import dashboard
from api.settings import ApiSettings
from compliance.settings import EvidenceSettings, MarkSettings, RuleSettings, RuntimeSettings

log = logging.getLogger(__name__)

DESCRIPTION = """Compliance monitoring for concentrated polluting-industry parks.

Every endpoint under `/api/v1` needs `Authorization: Bearer <token>`; `outfall token create --role
admin|officer|operator [--park P] [--plant P]` prints one. Objects outside the token's scope answer 404,
exactly like objects that do not exist. Errors are JSON `{"detail": "..."}` saying what to fix.
Times are UTC on the wire (ISO 8601); hours and days are the park's local calendar."""


def create_app(settings: ApiSettings, database_url: str, broker: tuple[str, int]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            database_url,
            min_size=2,
            max_size=settings.pool_max,
            open=False,
            kwargs={"autocommit": True},
            # A connection the server dropped (a restart, a failover) is replaced before it is lent,
            # so the first request after a database restart is answered, not failed.
            check=AsyncConnectionPool.check_connection,
        )
        sync_pool = ConnectionPool(
            database_url,
            min_size=0,
            max_size=4,
            open=False,
            kwargs={"autocommit": True},
            check=ConnectionPool.check_connection,
        )
        await pool.open(wait=False)
        sync_pool.open(wait=False)
        broadcaster = Broadcaster(database_url)
        broadcaster.start()
        app.state.pool, app.state.sync_pool, app.state.broadcaster = pool, sync_pool, broadcaster
        # The engine's own rule settings (OUTFALL_COMPLIANCE_*): status shows a value as the engine
        # judges it, and a point the API shows offline is one the engine alerts on.
        app.state.rules = RuleSettings()
        app.state.marks = MarkSettings()  # evidence files' limits
        app.state.evidence = EvidenceSettings()  # OUTFALL_EVIDENCE_*: an alert's evidence bundle
        try:
            yield
        finally:
            await broadcaster.stop()
            sync_pool.close()
            await pool.close()

    # /docs is our own page (api/routes/dashboard.py): FastAPI's loads Swagger UI from a CDN.
    app = FastAPI(
        title="Outfall",
        version="0.2.0",
        lifespan=lifespan,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = RuntimeSettings()  # job periods, for /healthz
    app.state.broker = broker
    app.state.token_cache = {}
    for router in routes.routers():
        app.include_router(router)
    dashboard.mount(app, settings.docs_assets)
    _handlers(app)
    app.add_middleware(Guard, settings=settings)
    return app


def _handlers(app: FastAPI) -> None:
    """Every failure becomes a JSON answer that says what to fix; no input yields a 500."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid request"
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(psycopg.DataError)
    async def _data(_request: Request, exc: psycopg.DataError) -> JSONResponse:
        # Values PostgreSQL cannot hold (a date beyond its range, ...) that validation let through.
        return JSONResponse(
            {"detail": f"a value is out of range: {exc.diag.message_primary}"}, status_code=422
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, exc: OverflowError) -> JSONResponse:
        return JSONResponse({"detail": f"a value is out of range: {exc}"}, status_code=422)

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse({"detail": "the database is unavailable; retry shortly"}, status_code=503)
