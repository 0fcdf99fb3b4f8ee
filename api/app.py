"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from api import routes
from api.settings import ApiSettings


def create_app(settings: ApiSettings, database_url: str, broker: tuple[str, int]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(
            database_url, min_size=1, max_size=10, open=False, kwargs={"autocommit": True}
        )
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Outfall",
        version="0.1.0",
        lifespan=lifespan,
        description="Compliance monitoring for concentrated polluting-industry parks.",
    )
    app.state.settings = settings
    app.state.broker = broker
    app.include_router(routes.router)
    app.include_router(routes.v1)
    return app
