"""The API's routers, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from api.routes import (
    alerts,
    events,
    hj212,
    maintenance,
    marks,
    plantfile,
    readings,
    record,
    registry,
    reports,
    status,
    system,
)


def routers() -> list[APIRouter]:
    return [
        system.router,
        system.v1,
        registry.v1,
        status.v1,
        readings.v1,
        alerts.v1,
        events.v1,
        maintenance.v1,
        marks.v1,
        reports.v1,
        record.v1,
        plantfile.v1,
        hj212.v1,
    ]
